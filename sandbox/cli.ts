/**
 * CLI for the sandbox runner (see runner.ts for what it emulates):
 *   ts-node sandbox/cli.ts <up|preview|destroy> --stack-file <Pulumi.<stack>.yaml> --state <state.json>
 *                          [--program <index.ts>] [--log <file>] [--stack <name>] [--project <name>]
 * Stack file (a sandbox-only variant of Pulumi.<stack>.yaml; the stack name defaults to the <stack> of the file name):
 *   config:
 *     django-deploy:domain: example.org          # strings as is, numbers/booleans stringified
 *     django-deploy:workers: { web: 3 }          # objects/arrays are JSON-encoded, as Pulumi passes them
 *     django-deploy:dbPassword: { secret: "x" }  # a secret value (Pulumi's encrypted `secure:` is NOT supported)
 *   secretKeys: [django-deploy:sshKey]           # optional: more keys to treat as secret
 * Prints the executed steps with timings and the stack outputs, secret outputs masked as "[secret]".
 * Exit code 1 when the operation reports an error.
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { apply, destroy, preview, StackRun } from "./runner";

export function readStackFile(file: string): Pick<StackRun, "config" | "secretKeys"> {
  const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown>; secretKeys?: string[] };
  const config: Record<string, string> = {},
    secretKeys = [...(doc.secretKeys ?? [])];
  for (const [k, v] of Object.entries(doc.config ?? {})) {
    let value = v;
    if (v && typeof v === "object" && "secure" in v) throw new Error(`${k}: "secure:" values are not supported, use { secret: ... }`);
    if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).join() === "secret") {
      secretKeys.push(k);
      value = (v as { secret: unknown }).secret;
    }
    config[k] = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  return { config, secretKeys };
}

const mask = (v: unknown): unknown =>
  v === null || typeof v !== "object"
    ? v
    : (v as { secret?: unknown }).secret === true && "value" in v
      ? "[secret]"
      : Array.isArray(v)
        ? v.map(mask)
        : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x)]));

async function main(argv: string[]) {
  const [cmd, ...rest] = argv;
  const opt = (name: string) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const stackFile = opt("stack-file"),
    statePath = opt("state");
  if (!["up", "preview", "destroy"].includes(cmd) || !stackFile || !statePath) {
    throw new Error(
      "usage: cli.ts <up|preview|destroy> --stack-file <file> --state <path> [--program p] [--log f] [--stack s] [--project p]",
    );
  }
  const stack =
    opt("stack") ??
    path
      .basename(stackFile)
      .replace(/^Pulumi\./, "")
      .replace(/\.ya?ml$/, "");
  const run: StackRun = {
    ...readStackFile(stackFile),
    stack,
    statePath,
    project: opt("project"),
    programPath: opt("program"),
    logPath: opt("log"),
  };
  if (cmd === "preview") {
    const r = await preview(run);
    for (const s of r.steps) console.log(`${s.op.padEnd(8)} ${s.type} ${s.name}${s.diffKeys.length ? ` [${s.diffKeys.join(", ")}]` : ""}`);
    if (r.error) console.log(`error: ${r.error}`);
    return r.error ? 1 : 0;
  }
  const r = await (cmd === "up" ? apply : destroy)(run);
  for (const s of r.executed) console.log(`${s.ok ? "ok  " : "FAIL"} ${s.op.padEnd(8)} ${s.type} ${s.name} ${s.ms} ms`);
  console.log(`${r.executed.length} remote step(s), ${r.totalMs} ms total`);
  if (cmd === "up") console.log(`outputs: ${JSON.stringify(mask(r.outputs), null, 2)}`);
  if (r.error) console.log(`error: ${r.error}`);
  return r.error ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(2);
    },
  );
}
