/**
 * Sandbox runner: runs the real Pulumi program (default <repo>/index.ts) without the Pulumi CLI, engine or
 * plugins, under `pulumi.runtime.setMocks`, while EXECUTING `command:remote:Command` and
 * `command:remote:CopyToRemote` for real over SSH with pulumi-command 1.2.1 semantics, and keeping a JSON state
 * file between runs. Each apply/preview/destroy runs in a child node process (sandbox/child.ts) because the
 * Pulumi runtime is process-global.
 *
 * What it emulates (engine + provider):
 * - Steps, decided per resource (key: type + logical name) against the state: absent → create; a change in
 *   `triggers` (or any `replaceOnChanges` property) → replace, create-before-delete (the old `delete` runs in the
 *   delete phase after the program, like the engine's DeleteReplaced; `deleteBeforeReplace` is honoured); any
 *   other input change → `update` (or `create` when no `update`); no change → nothing runs. `ignoreChanges`
 *   (top-level names) and `retainOnDelete` are honoured. Connection defaults are applied by @pulumi/command itself.
 * - Secrets arrive wrapped; they are unwrapped to run and compare, their paths are kept in the state file (a local
 *   test artifact holding the values in clear; keep it under a gitignored dir), and never printed by the sandbox.
 *   `additionalSecretOutputs` (read from the registration request) marks outputs secret.
 * - A failed step is not saved (a failed create runs again next time, a failed update keeps the old state), its
 *   dependents are never registered (the SDK rejects their dependency URNs), and, like `pulumi up` without
 *   --continue-on-error, no later step starts; no delete phase then. The state is written after every step.
 * - After a successful program: resources no longer registered, and replaced ones, are deleted in reverse order of
 *   creation. Pending deletes left by a failed run are run first on the next apply. `destroy` deletes every entry in
 *   reverse creation order (without running the program) and stops at the first failure (e.g. unreachable host).
 * - The log file (logPath) stands for Pulumi's event stream: command output per `logging`, dial retries, error
 *   messages (which, like the provider's, include the whole command and its output), and the program's console.
 * - `executed` lists the steps that ran something remote (a command or a copy), with durations; a no-op apply: [].
 * - Preview runs nothing remote; stdout/stderr of resources to be created or changed are unknown, as
 *   pulumi-go-provider marks them, so applies on them do not run (resources created inside them are not seen).
 * - `fault`: while the named resource's command runs, the SSH connection is destroyed after `afterMs` (the remote
 *   process is not killed, as in a real cut: without a pty it runs on until it writes to the closed channel).
 * NOT emulated: refresh/import/read (drift is invisible, as with the real provider), the engine's diff display
 * and detailed diffs beyond top-level keys, dependency-ordered deletes (reverse creation order instead), parallel
 * delete, protect, custom timeouts, transforms/hooks, providers/plugins, invokes (they throw), `proxy` connections,
 * AssetArchive/remote assets, other resource types (they get a fake id and their inputs as state, never stored),
 * Pulumi's secret encryption, the checkpoint format. Registrations started more than ~50 ms after all others
 * settled (e.g. after a timer in an apply) are not waited for.
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
  fault?: { cutResource: string; afterMs: number };
}
export interface ApplyResult {
  outputs: Record<string, unknown>;
  error?: string;
  totalMs: number;
  executed: Array<{ name: string; type: string; op: "create" | "update" | "replace" | "delete"; ms: number; ok: boolean }>;
}
export interface PreviewStep {
  name: string;
  type: string;
  op: "create" | "update" | "replace" | "delete" | "same";
  diffKeys: string[];
}

const REPO = path.resolve(__dirname, "..");

export const apply = (run: StackRun): Promise<ApplyResult> => child("apply", run).then(({ steps: _, ...r }) => r);
export const destroy = (run: StackRun): Promise<ApplyResult> => child("destroy", run).then(({ steps: _, ...r }) => r);
export const preview = (run: StackRun): Promise<{ steps: PreviewStep[]; error?: string }> =>
  child("preview", run).then(({ steps, error }) => ({ steps, error }));

async function child(mode: string, run: StackRun): Promise<ApplyResult & { steps: PreviewStep[] }> {
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
    const proc = spawn(
      process.execPath,
      ["-r", require.resolve("ts-node/register"), path.join(__dirname, "child.ts"), mode, runFile, resultFile],
      {
        cwd: path.dirname(programPath),
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "1", TS_NODE_PROJECT: path.join(REPO, "tsconfig.json") },
      },
    );
    let tail = "";
    const out = (d: Buffer) => {
      if (full.logPath) fs.appendFileSync(full.logPath, d);
      tail = (tail + d.toString()).slice(-4000);
    };
    proc.stdout.on("data", out);
    proc.stderr.on("data", out);
    const code = await new Promise<number | null>((r) => proc.on("close", r));
    if (!fs.existsSync(resultFile)) throw new Error(`sandbox child exited with ${code} and no result:\n${tail}`);
    const result = JSON.parse(fs.readFileSync(resultFile, "utf8"));
    return { ...result, totalMs: Date.now() - t0 };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
