/**
 * Renders the templates in files/ with Eta. Templates get `it.s` (the public settings, behind a
 * guard that refuses any other key: no secret can be read there), `it.p` (the layout) and quoting
 * helpers: `it.sh` (a bash word that reads back as exactly the value) and `it.py` (a Python string
 * literal). Partials live in files/partials/ (`include("partials/…", data)`). Output is byte-exact:
 * no HTML escaping, no automatic trimming.
 */
import * as path from "path";
import { Eta } from "eta";
import { PUBLIC_SETTING_KEYS, Settings } from "./config";

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

/** Always single-quoted (for assignments shellcheck would otherwise read as arithmetic, e.g. x=a-1). */
export function shq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A Python string literal (JSON strings are valid Python literals for the characters we allow). */
export function py(value: string): string {
  return JSON.stringify(value);
}

/** Thrown when a template reads a setting that is not public (a secret, or a typo). */
export class TemplateSettingError extends Error {}

/** Property reads that JavaScript itself makes (string conversion, JSON, promises) are answered normally. */
const INTRINSIC = new Set(["toJSON", "then", "constructor", "valueOf", "toString"]);

/**
 * The settings as templates see them: reading any key that is not a public setting throws, so a
 * template that tries `it.s.appEnv` or `it.s.sshPrivateKey` fails to render instead of printing
 * "undefined" (or, worse, a secret that slipped into the object).
 */
export function publicSettings(s: Settings): Settings {
  const allowed = new Set(PUBLIC_SETTING_KEYS);
  return new Proxy(s, {
    get(target, key, receiver) {
      if (typeof key === "string" && !allowed.has(key) && !INTRINSIC.has(key)) {
        throw new TemplateSettingError(`a template read it.s.${key}: not a public setting (secrets never reach templates)`);
      }
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

export function render(template: string, data: object): string {
  return eta.render(`${template}.eta`, { sh, shq, py, ...data });
}
