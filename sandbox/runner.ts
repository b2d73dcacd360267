/**
 * Sandbox runner: runs the real Pulumi program (default <repo>/index.ts) without the Pulumi CLI,
 * engine or plugins, under `pulumi.runtime.setMocks`, while EXECUTING its `command:remote:Command`
 * resources for real over SSH with pulumi-command 1.2.1's semantics, and keeping a JSON state file
 * between runs. Each apply/preview/destroy runs in a child node process (sandbox/child.ts) because
 * the Pulumi runtime is process-global.
 *
 * What it emulates (engine + provider), for exactly what the program uses:
 * - Per resource (key: type + logical name) against the state: absent → create; a change in
 *   `triggers` → replace; any other input change → update; no change → nothing runs. Create,
 *   replace and update all run `create` (the program sets no `update` or `delete` command).
 *   `replace` (like `pulumi up --replace`) forces named resources to be replaced.
 * - Secrets arrive wrapped; they are unwrapped to run and compare, their paths are kept in the state
 *   file (a local artifact holding the values in clear: keep it in a gitignored dir), and never
 *   printed. `additionalSecretOutputs` marks outputs secret.
 * - A failed step is not saved (a failed create runs again next time, a failed update keeps the old
 *   state, as the engine keeps a resource's previous state when pulumi-command's command fails); its
 *   dependents are never registered, and, like `pulumi up` without --continue-on-error, no later
 *   step starts. The state is written after every step.
 * - After a successful program, resources no longer registered are dropped; `destroy` drops them
 *   all. Neither runs anything remote (no step has a remote delete), so neither needs the host.
 * - Preview runs nothing remote; stdout/stderr of resources to be created or changed are unknown, as
 *   pulumi-go-provider marks them, so applies on them do not run.
 * - `fault`: while the named resource's command runs, the SSH connection is destroyed after
 *   `afterMs`, or as soon as it prints `onOutput` (the remote process is not killed, as in a real
 *   cut: without a pty it runs on until it writes to the closed channel).
 * - Anything else — another resource type (AWS, …), an input or option the program does not use,
 *   an invoke — fails the run with a message naming it: nothing is emulated half-way.
 * NOT emulated either: refresh/import (drift is invisible, as with the real provider), the engine's
 * diff display, Pulumi's secret encryption, the checkpoint format. Independent steps run at the
 * same time, as the engine runs them. Registrations started more than ~50 ms after all others settled
 * (e.g. after a timer in an apply) are not waited for.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface StackRun {
  project?: string;
  stack: string;
  config: Record<string, string>;
  secretKeys: string[];
  statePath: string;
  programPath?: string;
  logPath?: string;
  fault?: { cutResource: string; afterMs?: number; onOutput?: string };
  /** Resources to replace even without a change (`pulumi up --replace`). */
  replace?: string[];
  /** Render from another copy of files/ (tests that need a broken template); the program never does. */
  filesDir?: string;
}

export type StepOp = "create" | "update" | "replace";

export interface ApplyResult {
  outputs: Record<string, unknown>;
  error?: string;
  totalMs: number;
  executed: Array<{ name: string; type: string; op: StepOp; ms: number; ok: boolean }>;
}

export interface PreviewStep {
  name: string;
  type: string;
  op: StepOp | "delete" | "same";
  diffKeys: string[];
}

/** Progress of an apply, as it happens: a step starts, a step finishes. */
export type StepEvent =
  { phase: "start"; name: string; op: string } | { phase: "finish"; name: string; op: string; ms: number; ok: boolean };

export interface RunHooks {
  onStep?: (e: StepEvent) => void;
}

const REPO = path.resolve(__dirname, "..");

export const apply = (run: StackRun, hooks: RunHooks = {}): Promise<ApplyResult> =>
  child("apply", run, hooks).then(({ steps: _, ...r }) => r);
export const destroy = (run: StackRun): Promise<ApplyResult> => child("destroy", run).then(({ steps: _, ...r }) => r);
export const preview = (run: StackRun): Promise<{ steps: PreviewStep[]; error?: string }> =>
  child("preview", run).then(({ steps, error }) => ({ steps, error }));

async function child(mode: string, run: StackRun, hooks: RunHooks = {}): Promise<ApplyResult & { steps: PreviewStep[] }> {
  const t0 = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-run-"));
  const [runFile, resultFile] = [path.join(dir, "run.json"), path.join(dir, "result.json")];
  const programPath = path.resolve(run.programPath ?? path.join(REPO, "index.ts"));
  const full = {
    ...run,
    project: run.project ?? "django-deploy",
    programPath,
    statePath: path.resolve(run.statePath),
    logPath: run.logPath && path.resolve(run.logPath),
  };
  fs.writeFileSync(runFile, JSON.stringify(full), { mode: 0o600 }); // holds config secrets: private dir, removed below
  try {
    const args = ["-r", require.resolve("ts-node/register"), ...(run.filesDir ? ["-r", path.join(__dirname, "files-dir.ts")] : [])];
    const proc = spawn(process.execPath, [...args, path.join(__dirname, "child.ts"), mode, runFile, resultFile], {
      cwd: path.dirname(programPath),
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: {
        ...process.env,
        TS_NODE_TRANSPILE_ONLY: "1",
        TS_NODE_PROJECT: path.join(REPO, "tsconfig.json"),
        ...(run.filesDir ? { DJANGO_DEPLOY_SANDBOX_FILES_DIR: path.resolve(run.filesDir) } : {}),
      },
    });
    let tail = "";
    const out = (d: Buffer) => {
      if (full.logPath) fs.appendFileSync(full.logPath, d);
      tail = (tail + d.toString()).slice(-4000);
    };
    proc.stdout?.on("data", out);
    proc.stderr?.on("data", out);
    proc.on("message", (m) => hooks.onStep?.(m as StepEvent));
    const code = await new Promise<number | null>((r) => proc.on("close", r));
    if (!fs.existsSync(resultFile)) throw new Error(`sandbox child exited with ${code} and no result:\n${tail}`);
    const result = JSON.parse(fs.readFileSync(resultFile, "utf8")) as ApplyResult & { steps: PreviewStep[] };
    return { ...result, totalMs: Date.now() - t0 };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
