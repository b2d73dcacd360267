/**
 * Child process of sandbox/runner.ts: `child.ts <apply|preview|destroy> <run.json> <result.json>`.
 * Plays the Pulumi engine for one operation: the SDK runs the program under `setMocks`; each
 * registration is checked against what the sandbox emulates and planned (planner.ts) against the
 * saved state (state.ts); a command that must run runs for real over SSH (ssh.ts). Progress goes to
 * the parent over IPC. See runner.ts for the semantics.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { COMMAND, Op, PlanOptions, RANDOM_PASSWORD, SavedResource, planCommand, planDeletes, randomPassword, unsupported } from "./planner";
import { captureRegistrations, Capture, requestKey } from "./registrations";
import { Conn, runCommand } from "./ssh";
import { loadState, saveState } from "./state";
import type { ApplyResult, PreviewStep, StackRun, StepEvent } from "./runner";

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // the SDK's unknownValue: computed in a preview

const [mode, runFile, resultFile] = process.argv.slice(2);
const run = JSON.parse(fs.readFileSync(runFile, "utf8")) as Required<Pick<StackRun, "project" | "programPath" | "statePath">> & StackRun;
const state = loadState(run.statePath);
const executed: ApplyResult["executed"] = [];
const steps: PreviewStep[] = [];
const errors: string[] = [];
const programErrors: string[] = [];
const registered = new Set<string>();
let capture: Capture | undefined;
let failed = false;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const log = (line: string) => {
  if (run.logPath) fs.appendFileSync(run.logPath, line + "\n");
};
const emit = (e: StepEvent) => process.send?.(e);
const save = () => saveState(run.statePath, state);

/** Unwraps secrets (remembering where they were); sorted keys, no null/undefined: the canonical form. */
function canonical(v: unknown, at: string, secrets: string[]): unknown {
  if (pulumi.isUnknown(v)) return UNKNOWN;
  if (v === null || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  if (o[SIG] === SECRET) {
    secrets.push(at);
    return canonical(o.value, at, secrets);
  }
  if (Array.isArray(v)) return v.map((x: unknown, i) => canonical(x, `${at}[${i}]`, secrets));
  if (pulumi.asset.Asset.isInstance(v) || pulumi.asset.Archive.isInstance(v)) throw new Error("sandbox: assets are not emulated");
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) if (o[k] != null) out[k] = canonical(o[k], at ? `${at}.${k}` : k, secrets);
  return out;
}

/** Runs one command, recording it; a failure is logged, recorded and stops every later step (like `pulumi up`). */
async function runStep(
  name: string,
  op: Exclude<Op, "same">,
  inputs: Record<string, unknown>,
): Promise<{ stdout: string; stderr: string }> {
  if (failed) throw Object.assign(new Error(`sandbox: ${op} of ${name} skipped: an earlier step failed`), { reported: true });
  const t0 = Date.now();
  emit({ phase: "start", name, op });
  const logging = typeof inputs.logging === "string" ? inputs.logging : "stdoutAndStderr";
  const fault = run.fault?.cutResource === name ? run.fault : undefined;
  try {
    const r = await runCommand(inputs.connection as Conn, {
      cmd: inputs.create as string,
      stdin: typeof inputs.stdin === "string" && inputs.stdin !== "" ? inputs.stdin : undefined,
      log: (l) => log(`${COMMAND} (${name}): ${l}`),
      logStdout: logging === "stdout" || logging === "stdoutAndStderr",
      logStderr: logging === "stderr" || logging === "stdoutAndStderr",
      cutAfterMs: fault?.afterMs,
      cutOnOutput: fault?.onOutput,
    });
    executed.push({ name, type: COMMAND, op, ms: Date.now() - t0, ok: true });
    emit({ phase: "finish", name, op, ms: Date.now() - t0, ok: true });
    return r;
  } catch (e) {
    executed.push({ name, type: COMMAND, op, ms: Date.now() - t0, ok: false });
    emit({ phase: "finish", name, op, ms: Date.now() - t0, ok: false });
    failed = true;
    errors.push(`${COMMAND} (${name}): ${op} failed: ${message(e)}`);
    log(`error: ${errors[errors.length - 1]}`);
    throw Object.assign(e as Error, { reported: true });
  }
}

async function register(args: pulumi.runtime.MockResourceArgs): Promise<{ id: string; state: Record<string, unknown> }> {
  const { type, name } = args;
  const key = requestKey(type, name);
  const request = capture?.requests.get(key);
  if (!request) throw new Error(`sandbox: no registration request recorded for ${key}`);
  if (registered.has(key)) throw new Error(`sandbox: duplicate resource ${key}`);
  registered.add(key);
  const secretPaths: string[] = [];
  const inputs = canonical(args.inputs, "", secretPaths) as Record<string, unknown>;
  const options: PlanOptions = request.options;
  const refused = unsupported(type, request.custom, inputs, options);
  if (refused.length > 0) throw new Error(`sandbox: ${key}: ${refused.join("; ")}`);
  if (!request.custom) return { id: "", state: args.inputs as Record<string, unknown> };

  const old = state.resources.find((r) => r.type === type && r.name === name);
  if (type === RANDOM_PASSWORD) return registerPassword(args, old, inputs, secretPaths);
  const planned = planCommand(old, inputs);
  const { changed } = planned;
  const op: Op = planned.op !== "create" && run.replace?.includes(name) ? "replace" : planned.op;
  const next: SavedResource = {
    type,
    name,
    id: old?.id ?? "",
    seq: old?.seq ?? 0,
    inputs,
    secretPaths,
    stdout: old?.stdout ?? "",
    stderr: old?.stderr ?? "",
  };
  if (mode === "preview") steps.push({ name, type, op, diffKeys: changed });
  else if (op !== "same") {
    log(`${type} (${name}): ${op}${changed.length ? ` (changed: ${changed.join(", ")})` : ""}`);
    Object.assign(next, await runStep(name, op, inputs));
    if (op !== "update") Object.assign(next, { id: `${name}-${crypto.randomBytes(4).toString("hex")}`, seq: state.nextSeq++ });
    state.resources = [...state.resources.filter((r) => r !== old), next];
    save();
  }
  // Like pulumi-go-provider in a preview: the outputs of a changed resource are computed (applies on them wait).
  const computed = mode === "preview" && op !== "same";
  const out: Record<string, unknown> = {
    ...(args.inputs as Record<string, unknown>),
    stdout: computed ? UNKNOWN : next.stdout,
    stderr: computed ? UNKNOWN : next.stderr,
  };
  for (const k of request.options.additionalSecretOutputs) if (out[k] !== undefined) out[k] = { [SIG]: SECRET, value: out[k] };
  return { id: next.id, state: out };
}

/** A RandomPassword: generated here (nothing remote), kept in the state until an input changes; its result is secret. */
function registerPassword(
  args: pulumi.runtime.MockResourceArgs,
  old: SavedResource | undefined,
  inputs: Record<string, unknown>,
  secretPaths: string[],
): { id: string; state: Record<string, unknown> } {
  const { op } = planCommand(old, inputs, RANDOM_PASSWORD);
  let saved = old;
  if (op !== "same") {
    if (mode === "preview") {
      steps.push({ name: args.name, type: args.type, op, diffKeys: [] });
      return { id: "", state: { ...(args.inputs as Record<string, unknown>), result: { [SIG]: SECRET, value: UNKNOWN } } };
    }
    const result = randomPassword(inputs.length as number, (n) => crypto.randomBytes(n));
    saved = {
      type: args.type,
      name: args.name,
      id: args.name,
      seq: state.nextSeq++,
      inputs,
      secretPaths,
      stdout: "",
      stderr: "",
      outputs: { result },
    };
    state.resources = [...state.resources.filter((r) => r !== old), saved];
    log(`${args.type} (${args.name}): ${op}`);
    save();
  } else if (mode === "preview") steps.push({ name: args.name, type: args.type, op, diffKeys: [] });
  const result = typeof saved?.outputs?.result === "string" ? saved.outputs.result : "";
  return { id: saved?.id ?? args.name, state: { ...(args.inputs as Record<string, unknown>), result: { [SIG]: SECRET, value: result } } };
}

/** The mock's newResource: errors not already reported by a step (an unsupported input, say) are reported here. */
const newResource = (args: pulumi.runtime.MockResourceArgs) =>
  register(args).catch((e: Error & { reported?: boolean }) => {
    if (!e.reported) {
      errors.push(`${args.type} (${args.name}): ${message(e)}`);
      failed = true;
    }
    throw e;
  });

/** Stack outputs as the engine receives them (serialized): secrets become `{ secret: true, value }`. */
const outputsOf = (v: unknown): unknown => {
  if (v === null || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  if (o[SIG] === SECRET) return { secret: true, value: outputsOf(o.value) };
  return Array.isArray(v) ? v.map(outputsOf) : Object.fromEntries(Object.entries(o).map(([k, x]) => [k, outputsOf(x)]));
};

/** Wait for every registration: each chains a keep-alive into settings.rpcDone; wait until the chain stays unchanged. */
async function settle(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- an SDK internal without typings
  const store = (require("@pulumi/pulumi/runtime/state") as { getStore(): { settings: { rpcDone: Promise<unknown> } } }).getStore();
  for (let before: unknown; before !== store.settings.rpcDone; await new Promise((r) => setTimeout(r, 50))) {
    before = store.settings.rpcDone;
    await before;
  }
}

async function runProgram(): Promise<Record<string, unknown>> {
  await pulumi.runtime.setMocks(
    { newResource, call: (a) => Promise.reject(new Error(`sandbox: invoke ${a.token} is not emulated`)) },
    run.project,
    run.stack,
    mode === "preview",
  );
  capture = captureRegistrations(pulumi);
  pulumi.runtime.setAllConfig(run.config, run.secretKeys);
  try {
    await pulumi.runtime.runInPulumiStack(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program is loaded like the CLI loads it
      const m = require(path.resolve(run.programPath)) as unknown;
      return Promise.resolve(m instanceof Function ? (m as () => unknown)() : m) as Promise<Record<string, unknown>>;
    });
  } catch (e) {
    programErrors.push(message(e));
  }
  await settle();
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    getRegisteredResources(): Map<string, { urn: string; state?: { toJavaScript?(): unknown } }>;
  };
  const stack = [...monitor.getRegisteredResources().values()].find((r) => r.urn.includes("::pulumi:pulumi:Stack::"));
  return outputsOf(stack?.state?.toJavaScript?.() ?? {}) as Record<string, unknown>;
}

async function main() {
  const t0 = Date.now();
  process.on("unhandledRejection", (e) => programErrors.push(message(e)));
  process.on("uncaughtException", (e) => programErrors.push(message(e)));
  let outputs: Record<string, unknown> = {};
  if (mode === "destroy") {
    // No step has a remote delete: destroying forgets every resource and needs no host.
    state.resources = [];
  } else {
    outputs = await runProgram();
    const gone = planDeletes(state.resources, registered);
    if (mode === "preview") gone.forEach((r) => steps.push({ name: r.name, type: r.type, op: "delete", diffKeys: [] }));
    else if (!failed && programErrors.length === 0) state.resources = state.resources.filter((r) => !gone.includes(r));
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
