/**
 * The sandbox's state file: the saved resources between runs, like a Pulumi checkpoint but plain
 * JSON. It holds secret inputs in clear (the runner needs them to compare and re-run): it is written
 * with mode 0600 and belongs in a gitignored directory.
 */
import * as fs from "fs";
import * as path from "path";
import type { SavedResource } from "./planner";

export interface SandboxState {
  nextSeq: number;
  resources: SavedResource[];
}

export function loadState(file: string): SandboxState {
  if (!fs.existsSync(file)) return { nextSeq: 1, resources: [] };
  return JSON.parse(fs.readFileSync(file, "utf8")) as SandboxState;
}

/** Atomic replace: a run killed while writing leaves the previous state. */
export function saveState(file: string, state: SandboxState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}
