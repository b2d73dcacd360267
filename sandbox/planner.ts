/**
 * The sandbox's engine decisions, as pure functions: given a resource's saved state and its new
 * registration, what operation `pulumi up` would run; which saved resources a finished program no
 * longer registers; and which inputs or options the sandbox does not emulate (it refuses them,
 * loudly, instead of pretending). Tested without any sshd (test/sandbox/planner.test.ts).
 *
 * Emulated: `command:remote:Command` with the inputs the program sets (connection, create, stdin,
 * triggers, logging, addPreviousOutputInEnv: false) and the connection fields it sets; component
 * resources; the options parent, dependsOn and additionalSecretOutputs. A change in `triggers`
 * replaces the resource (pulumi-command's schema marks it replaceOnChanges), any other input change
 * updates it — both run `create`, as the provider does without an `update` command — and no change
 * runs nothing.
 */

export const COMMAND = "command:remote:Command";
/** @pulumi/random's password: emulated as the provider does it (generated once, kept until an input changes). */
export const RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword";

/** A saved resource: what the state file remembers between runs (secrets in clear: keep it private). */
export interface SavedResource {
  type: string;
  name: string;
  id: string;
  /** Creation order (a replaced resource gets a new one), for deletes in reverse order. */
  seq: number;
  /** Inputs in canonical form: secrets unwrapped, keys sorted, no null/undefined. */
  inputs: Record<string, unknown>;
  /** Paths of the inputs that arrived as secrets. */
  secretPaths: string[];
  stdout: string;
  stderr: string;
  /** Outputs of a resource that is not a command (a RandomPassword's result: a secret, in clear here). */
  outputs?: Record<string, unknown>;
}

/** The inputs of a RandomPassword the sandbox generates faithfully (character classes on, no special characters). */
const RANDOM_PASSWORD_INPUTS = ["length", "special", "upper", "lower", "numeric", "keepers"];

/** A RandomPassword's result: `length` letters and digits from the OS's random source. */
export function randomPassword(length: number, bytes: (n: number) => Buffer): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let out = "";
  while (out.length < length) for (const b of bytes(64)) if (b < 248 && out.length < length) out += alphabet[b % 62];
  return out;
}

/** The registration options the sandbox reads (sandbox/registrations.ts captures them). */
export interface PlanOptions {
  protect: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  deleteBeforeReplace: boolean;
  retainOnDelete: boolean;
  unsupported: string[];
}

export type Op = "create" | "update" | "replace" | "same";

const COMMAND_INPUTS = ["connection", "create", "stdin", "triggers", "logging", "addPreviousOutputInEnv"];
const CONNECTION_FIELDS = ["host", "port", "user", "privateKey", "hostKey", "dialErrorLimit", "perDialTimeout"];
const LOGGING = ["stdout", "stderr", "stdoutAndStderr", "none"];

/**
 * Why the sandbox cannot run this registration faithfully, one reason per line; empty when it can.
 * `custom` is false for component resources, which have no state of their own.
 */
export function unsupported(type: string, custom: boolean, inputs: Record<string, unknown>, options: PlanOptions): string[] {
  const why: string[] = [];
  const optionNames: [keyof PlanOptions, boolean][] = [
    ["protect", options.protect],
    ["ignoreChanges", options.ignoreChanges.length > 0],
    // @pulumi/command sets replaceOnChanges: ["triggers[*]"] on every Command itself (the replace below).
    ["replaceOnChanges", options.replaceOnChanges.some((p) => p !== "triggers[*]")],
    ["deleteBeforeReplace", options.deleteBeforeReplace],
    ["retainOnDelete", options.retainOnDelete],
  ];
  for (const [name, set] of optionNames) if (set) why.push(`the resource option ${name} is not emulated`);
  for (const name of options.unsupported) why.push(`the resource option ${name} is not emulated`);
  if (!custom) return why;
  if (type === RANDOM_PASSWORD) {
    for (const k of Object.keys(inputs)) if (!RANDOM_PASSWORD_INPUTS.includes(k)) why.push(`the RandomPassword input ${k} is not emulated`);
    if (inputs.special !== false) why.push("a RandomPassword with special characters is not emulated (set special: false)");
    if (typeof inputs.length !== "number") why.push("a RandomPassword needs a length");
    return why;
  }
  if (type !== COMMAND) {
    return [...why, `${type} is not emulated: the sandbox runs remote commands against an existing host (set host)`];
  }
  for (const k of Object.keys(inputs)) if (!COMMAND_INPUTS.includes(k)) why.push(`the input ${k} is not emulated`);
  if (typeof inputs.create !== "string") why.push("a command without a `create` string is not emulated");
  if (inputs.addPreviousOutputInEnv !== false) why.push("addPreviousOutputInEnv must be false (PULUMI_COMMAND_STDOUT is not emulated)");
  if (inputs.logging !== undefined && !LOGGING.includes(inputs.logging as string))
    why.push(`logging ${JSON.stringify(inputs.logging)} is unknown`);
  const conn = (inputs.connection ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(conn)) if (!CONNECTION_FIELDS.includes(k)) why.push(`the connection field ${k} is not emulated`);
  if (typeof conn.privateKey !== "string") why.push("a connection without privateKey is not emulated (private-key authentication only)");
  return why;
}

/** The keys whose values differ between two canonical input objects. */
export function changedKeys(old: Record<string, unknown>, news: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(old), ...Object.keys(news)])].filter((k) => JSON.stringify(old[k]) !== JSON.stringify(news[k])).sort();
}

/** What `pulumi up` runs for a command whose state is `old` (undefined: never created) given its new inputs. */
export function planCommand(
  old: SavedResource | undefined,
  inputs: Record<string, unknown>,
  type = COMMAND,
): { op: Op; changed: string[] } {
  if (!old) return { op: "create", changed: [] };
  const changed = changedKeys(old.inputs, inputs);
  if (changed.length === 0) return { op: "same", changed };
  // Every input of a RandomPassword forces a new one (the provider's replaceOnChanges).
  if (type === RANDOM_PASSWORD) return { op: "replace", changed };
  return { op: changed.includes("triggers") ? "replace" : "update", changed };
}

/** Saved resources a finished program did not register, in the order to delete them (newest first). */
export function planDeletes(saved: SavedResource[], registered: ReadonlySet<string>): SavedResource[] {
  return saved.filter((r) => !registered.has(`${r.type}::${r.name}`)).sort((a, b) => b.seq - a.seq);
}
