/**
 * Child process of sandbox/runner.ts: `child.ts <apply|preview|destroy> <run.json> <result.json>`.
 * Plays the Pulumi engine for one operation: the SDK runs under `setMocks`, and the mock's `newResource` diffs each
 * `command:remote:Command` / `command:remote:CopyToRemote` against the saved state and runs the step for real
 * (sandbox/ssh.ts). See runner.ts for what is and is not emulated.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { copyToRemote, runCommand, Conn, Source } from "./ssh";
import type { ApplyResult, PreviewStep, StackRun } from "./runner";

type Op = ApplyResult["executed"][number]["op"];
interface Entry {
  type: string;
  name: string;
  id: string;
  seq: number;
  inputs: Record<string, any>;
  secretPaths: string[];
  stdout?: string;
  stderr?: string;
  retain?: boolean;
  pendingDelete?: boolean;
}
interface Opts {
  aso: string[];
  ignore: string[];
  replaceOn: string[];
  dbr: boolean;
  retain: boolean;
}

const SIG = "4dabf18193072939515e22adb298388d",
  SECRET = "1b47061264138c4ac30d75fd1eb44270";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // the SDK's unknownValue: computed in a preview
const CMD = "command:remote:Command",
  COPY = "command:remote:CopyToRemote";
const [mode, runFile, resultFile] = process.argv.slice(2);
const run: Required<Pick<StackRun, "project" | "programPath">> & StackRun = JSON.parse(fs.readFileSync(runFile, "utf8"));
const state: { nextSeq: number; resources: Entry[] } = fs.existsSync(run.statePath)
  ? JSON.parse(fs.readFileSync(run.statePath, "utf8"))
  : { nextSeq: 1, resources: [] };
const executed: ApplyResult["executed"] = [],
  steps: PreviewStep[] = [],
  errors: string[] = [],
  programErrors: string[] = [];
const registered = new Set<string>(),
  requests = new Map<string, Opts>();
let failed = false;

const key = (type: string, name: string) => `${type}::${name}`;
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const log = (line: string) => {
  if (run.logPath) fs.appendFileSync(run.logPath, line + "\n");
};
const sha = (b: string | Buffer) => crypto.createHash("sha256").update(b).digest("hex");
const hashPath = (p: string): string =>
  !fs.statSync(p).isDirectory()
    ? sha(fs.readFileSync(p))
    : sha(
        fs
          .readdirSync(p)
          .sort()
          .map((n) => `${n}\0${hashPath(path.join(p, n))}`)
          .join("\n"),
      );
function save() {
  fs.mkdirSync(path.dirname(run.statePath), { recursive: true });
  fs.writeFileSync(run.statePath + ".tmp", JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(run.statePath + ".tmp", run.statePath);
}

/** Unwraps secrets (remembering where they were) and assets; sorted keys, no null/undefined: a canonical form. */
async function plain(v: any, at: string, secrets: string[]): Promise<any> {
  if (pulumi.isUnknown(v)) return UNKNOWN;
  if (v === null || typeof v !== "object") return v;
  if (v[SIG] === SECRET) return (secrets.push(at), plain(v.value, at, secrets));
  if (pulumi.asset.Asset.isInstance(v) || pulumi.asset.Archive.isInstance(v)) {
    const [p, text] = [await (v as any).path, await (v as any).text];
    if (text !== undefined) return { kind: "string", text, hash: sha(text) };
    if (p === undefined) throw new Error("sandbox: only FileAsset, StringAsset and FileArchive are supported");
    return { kind: pulumi.asset.Asset.isInstance(v) ? "file" : "archive", path: p, hash: hashPath(p) };
  }
  if (Array.isArray(v)) return Promise.all(v.map((x, i) => plain(x, `${at}[${i}]`, secrets)));
  const o: Record<string, any> = {};
  for (const k of Object.keys(v).sort()) if (v[k] != null) o[k] = await plain(v[k], at ? `${at}.${k}` : k, secrets);
  return o;
}

/** Runs one step, recording it; a failure is logged, recorded and stops all later steps (like `pulumi up`). */
async function step<T>(type: string, name: string, op: Op, fn: () => Promise<T>): Promise<T> {
  if (failed) throw Object.assign(new Error(`sandbox: ${op} of ${name} skipped: an earlier step failed`), { reported: true });
  const t0 = Date.now();
  try {
    const r = await fn();
    executed.push({ name, type, op, ms: Date.now() - t0, ok: true });
    return r;
  } catch (e) {
    executed.push({ name, type, op, ms: Date.now() - t0, ok: false });
    failed = true;
    errors.push(`${type} (${name}): ${op} failed: ${message(e)}`);
    log(`error: ${errors[errors.length - 1]}`);
    throw Object.assign(e as Error, { reported: true });
  }
}

function runIn(e: Pick<Entry, "type" | "name" | "inputs" | "stdout" | "stderr">, cmd: string, prev: boolean) {
  const i = e.inputs,
    logging = i.logging ?? "stdoutAndStderr";
  const optionalEnv: Record<string, string> = {};
  if (prev && i.addPreviousOutputInEnv !== false) {
    if (e.stdout) optionalEnv.PULUMI_COMMAND_STDOUT = e.stdout;
    if (e.stderr) optionalEnv.PULUMI_COMMAND_STDERR = e.stderr;
  }
  return runCommand(i.connection as Conn, {
    cmd,
    stdin: i.stdin || undefined,
    env: i.environment,
    optionalEnv,
    log: (l) => log(`${e.type} (${e.name}): ${l}`),
    logStdout: ["stdout", "stdoutAndStderr"].includes(logging),
    logStderr: ["stderr", "stdoutAndStderr"].includes(logging),
    cutAfterMs: run.fault?.cutResource === e.name ? run.fault.afterMs : undefined,
  });
}

async function remove(e: Entry, op: Op = "delete") {
  if (e.type === CMD && e.inputs.delete && !e.retain) await step(e.type, e.name, op, () => runIn(e, e.inputs.delete, true));
  state.resources = state.resources.filter((r) => r !== e);
  save();
}

async function deletePhase(entries: Entry[]) {
  for (const e of [...entries].sort((a, b) => b.seq - a.seq)) await remove(e);
}

/** The mock's newResource: errors not already reported by a step (e.g. a missing asset file) are reported here. */
const newResource = (args: pulumi.runtime.MockResourceArgs) =>
  register(args).catch((e: Error & { reported?: boolean }) => {
    if (!e.reported) (errors.push(`${args.type} (${args.name}): ${message(e)}`), (failed = true));
    throw e;
  });

async function register(args: pulumi.runtime.MockResourceArgs): Promise<{ id: string; state: any }> {
  const { type, name, inputs } = args;
  if (type !== CMD && type !== COPY) return { id: args.custom ? `${name}-id` : "", state: inputs };
  if (registered.has(key(type, name))) throw new Error(`sandbox: duplicate resource ${key(type, name)}`);
  registered.add(key(type, name));
  const o = requests.get(key(type, name)) ?? { aso: [], ignore: [], replaceOn: ["triggers"], dbr: false, retain: false };
  const secretPaths: string[] = [];
  const news = await plain(inputs, "", secretPaths);
  const old = state.resources.find((r) => r.type === type && r.name === name && !r.pendingDelete);
  for (const k of old ? o.ignore : [])
    if (old!.inputs[k] === undefined) delete news[k];
    else news[k] = old!.inputs[k];
  const diffKeys = !old
    ? []
    : [...new Set([...Object.keys(old.inputs), ...Object.keys(news)])].filter(
        (k) => JSON.stringify(old.inputs[k]) !== JSON.stringify(news[k]),
      );
  const op = !old ? "create" : diffKeys.some((k) => o.replaceOn.includes(k)) ? "replace" : diffKeys.length ? "update" : "same";
  const next: Entry = {
    type,
    name,
    id: old?.id ?? "",
    seq: old?.seq ?? 0,
    inputs: news,
    secretPaths,
    stdout: old?.stdout,
    stderr: old?.stderr,
  };
  if (o.retain) next.retain = true;
  if (mode === "preview") steps.push({ name, type, op, diffKeys });
  else if (op !== "same") {
    log(`${type} (${name}): ${op}${diffKeys.length ? ` (changed: ${diffKeys.join(", ")})` : ""}`);
    const host = news.connection as Conn,
      src = news.source as Source & { hash: string };
    const copy = () => step(type, name, op, () => copyToRemote(host, src, news.remotePath, (l) => log(`${type} (${name}): ${l}`)));
    if (op === "replace" && o.dbr) await remove(old!, "delete");
    if (op !== "update") {
      const cmd = news.create as string | undefined;
      Object.assign(next, { stdout: "", stderr: "", id: name + crypto.randomBytes(4).toString("hex") });
      if (type === CMD && cmd) Object.assign(next, await step(type, name, op, () => runIn(next, cmd, false)));
      if (type === COPY) await copy();
    } else if (type === CMD && (news.update ?? news.create)) {
      Object.assign(next, await step(type, name, op, () => runIn(next, news.update ?? news.create, true)));
    } else if (type === COPY && (src.hash !== old!.inputs.source.hash || news.remotePath !== old!.inputs.remotePath)) await copy();
    if (old && op === "replace" && !o.dbr) old.pendingDelete = true;
    if (op !== "update") next.seq = state.nextSeq++;
    state.resources = [...state.resources.filter((r) => r !== old || r.pendingDelete), next];
    save();
  }
  // Like pulumi-go-provider's infer in a preview: outputs of a changed resource are computed (apply callbacks wait).
  const computed = mode === "preview" && op !== "same";
  const out: Record<string, any> = {
    ...inputs,
    stdout: computed ? UNKNOWN : (next.stdout ?? ""),
    stderr: computed ? UNKNOWN : (next.stderr ?? ""),
  };
  for (const k of o.aso) if (out[k] !== undefined && out[k]?.[SIG] !== SECRET) out[k] = { [SIG]: SECRET, value: out[k] };
  return { id: next.id, state: out };
}

/** Stack outputs as the engine receives them (serialized): secrets become `{ secret: true, value }`. */
const outputsOf = (v: any): any =>
  v === null || typeof v !== "object"
    ? v
    : v[SIG] === SECRET
      ? { secret: true, value: outputsOf(v.value) }
      : Array.isArray(v)
        ? v.map(outputsOf)
        : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, outputsOf(x)]));

async function main() {
  const t0 = Date.now();
  process.on("unhandledRejection", (e) => programErrors.push(message(e)));
  process.on("uncaughtException", (e) => programErrors.push(message(e)));
  let outputs: Record<string, unknown> = {};
  if (mode === "destroy") await deletePhase(state.resources).catch(() => undefined);
  else {
    await pulumi.runtime.setMocks(
      {
        newResource,
        call: (a) => {
          throw new Error(`sandbox: invoke ${a.token} is not supported`);
        },
      },
      run.project,
      run.stack,
      mode === "preview",
    );
    pulumi.runtime.setAllConfig(run.config, run.secretKeys);
    const monitor: any = pulumi.runtime.getMonitor();
    const register = monitor.registerResource.bind(monitor),
      top = (p: string) => p.split(/[.[]/)[0];
    monitor.registerResource = (req: any, cb: unknown) => {
      requests.set(key(req.getType(), req.getName()), {
        aso: req.getAdditionalsecretoutputsList(),
        ignore: req.getIgnorechangesList().map(top),
        replaceOn: req.getReplaceonchangesList().map(top),
        dbr: req.getDeletebeforereplace(),
        retain: req.getRetainondelete(),
      });
      return register(req, cb);
    };
    if (mode === "apply") await deletePhase(state.resources.filter((r) => r.pendingDelete)).catch(() => undefined);
    try {
      await pulumi.runtime.runInPulumiStack(async () => {
        const m = require(path.resolve(run.programPath));
        return m instanceof Function ? m() : m;
      });
    } catch (e) {
      programErrors.push(message(e));
    }
    // Wait for every registration. Each one chains a keep-alive into settings.rpcDone (rpcKeepAlive). The SDK's
    // waitForRPCs re-reads that chain only when it settles, so it misses a registration started from an apply
    // just after (seen with `x.stdout.apply(() => new Command(..))`): wait until the chain stays unchanged.
    const store = require("@pulumi/pulumi/runtime/state").getStore();
    for (let before: unknown; before !== store.settings.rpcDone; await new Promise((r) => setTimeout(r, 50))) {
      before = store.settings.rpcDone;
      await before;
    }
    const stack = [...monitor.getRegisteredResources().values()].find((r: any) => r.urn.includes("::pulumi:pulumi:Stack::"));
    outputs = outputsOf(stack?.state?.toJavaScript?.() ?? {});
    const gone = state.resources.filter((r) => r.pendingDelete || !registered.has(key(r.type, r.name)));
    if (mode === "preview") gone.forEach((r) => steps.push({ name: r.name, type: r.type, op: "delete", diffKeys: [] }));
    else if (!failed && programErrors.length === 0) await deletePhase(gone).catch(() => undefined);
  }
  if (mode !== "preview") save();
  // Resource errors are reported by newResource; the SDK's echoes of them (and of skips) are dropped here.
  const other = programErrors.filter((m) => !/failed to register new resource|skipped: an earlier step failed/.test(m));
  const error = [...new Set([...errors, ...other])].join("\n") || undefined;
  const result: ApplyResult & { steps: PreviewStep[] } = { outputs, executed, steps, error, totalMs: Date.now() - t0 };
  fs.writeFileSync(resultFile, JSON.stringify(result), { mode: 0o600 });
  process.exit(0);
}

main().catch((e) => {
  fs.writeFileSync(resultFile, JSON.stringify({ outputs: {}, executed, steps, error: `sandbox: ${message(e)}`, totalMs: 0 }));
  process.exit(1);
});
