/**
 * Renders the templates in files/ with Eta. Templates get `it.s` (settings), `it.p` (layout) and
 * quoting helpers: `it.sh` (a bash word that reads back as exactly the value) and `it.py` (a Python
 * string literal). Output is byte-exact: no HTML escaping, no automatic trimming.
 */
import * as path from "path";
import { Eta } from "eta";

export const FILES_DIR = path.join(__dirname, "..", "files");

const etaFor = (dir: string) => new Eta({ views: dir, autoEscape: false, autoTrim: false, cache: true, defaultExtension: ".eta" });
let eta = etaFor(FILES_DIR);

/**
 * Render from another copy of the templates (`npm run render -- --files-dir`, tests); no argument
 * goes back to files/. The Pulumi program never calls this: a deployment always renders files/.
 */
export function useFilesDir(dir: string = FILES_DIR): void {
  eta = etaFor(path.resolve(dir));
}

/** Quote a value as one bash word: single quotes, with each ' written as '\''. */
export function sh(value: string): string {
  // A leading "=" stays quoted: `export A==x` is valid bash, but shellcheck reports it as an error (SC1097).
  if (/^[A-Za-z0-9_@%+:,./-][A-Za-z0-9_@%+=:,./-]*$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A Python string literal (JSON strings are valid Python literals for the characters we allow). */
export function py(value: string): string {
  return JSON.stringify(value);
}

export function render(template: string, data: Record<string, unknown>): string {
  return eta.render(`${template}.eta`, { sh, py, ...data });
}
