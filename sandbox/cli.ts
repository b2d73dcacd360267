/**
 * `npm run sandbox -- <command>`: the everyday loop on this machine, no cloud account (needs root:
 * systemd-nspawn, network namespaces). The local site lives in .sandbox/ (DJANGO_DEPLOY_SANDBOX_DIR)
 * and keeps running between commands.
 *
 *   up [--set KEY=VALUE …]   boot the local host, git server and ACME server if they are not running,
 *                            apply the program with the sample project's settings plus the overrides
 *                            (KEY without the django-deploy: prefix; VALUE is JSON when it parses as
 *                            JSON, else a string), printing each step as it starts and finishes.
 *                            Exits non-zero when the apply fails.
 *   preview [--set …]        what `up` would run, running nothing.
 *   rollback [--set …]       up with repoRef set to the release that was live before the current one
 *                            (the state's previousCommit): a kept release, so only the switch runs.
 *   restore [NAME --yes]     the site's backups (database: host), or restore one (what
 *                            `npm run restore` does for a stack, here over the sandbox's SSH).
 *   status [--json]          where the site is: {"ip", "user", "privateKeyPath", "knownHostsPath",
 *                            "reposDir", "domain"}; exits 1 when no site is running.
 *   down                     stop and remove the host, the servers and .sandbox/.
 *   (no command)             a throwaway site: up, print, wait for Ctrl-C, then down.
 */
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { LocalSite, attachLocalSite, recordedHostName, startLocalSite } from "./local-site";
import { ApplyResult, StepEvent, apply, preview } from "./runner";
import { TESTHOST_SCRIPTS } from "./hosts/testhost";
import { loadState } from "./state";
import { settingsOf } from "./site-state";
import { layoutOf } from "../components/layout";

const REPO = path.resolve(__dirname, "..");
const WORK_DIR = process.env.DJANGO_DEPLOY_SANDBOX_DIR ?? path.join(REPO, ".sandbox");
/** The local host's name and network index; tests run their own beside a developer's (DJANGO_DEPLOY_SANDBOX_HOST=name:index). */
const [hostName, hostIndex] = (process.env.DJANGO_DEPLOY_SANDBOX_HOST ?? "sandbox:60").split(":");
const HOST = { index: Number(hostIndex), name: hostName };

export class UsageError extends Error {}

/** `--set KEY=VALUE` pairs → overrides (KEY unprefixed; VALUE decoded as JSON when it is JSON). */
export function parseSets(args: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const pair = arg === "--set" ? args[++i] : arg.startsWith("--set=") ? arg.slice("--set=".length) : undefined;
    if (pair === undefined) throw new UsageError(`unknown argument ${arg} (expected --set KEY=VALUE)`);
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set ${pair}: expected KEY=VALUE`);
    const key = pair.slice(0, eq).replace(/^django-deploy:/, "");
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // not JSON: the string itself
    }
    out[key] = value;
  }
  return out;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function printStep(e: StepEvent): void {
  if (e.phase === "start") console.log(`  …    ${e.op.padEnd(7)} ${e.name}`);
  else console.log(`  ${e.ok ? "ok  " : "FAIL"} ${e.op.padEnd(7)} ${e.name.padEnd(22)} ${seconds(e.ms)}`);
}

function reach(site: LocalSite): string {
  const ip = site.host.ip;
  return [
    `The site answers on ${ip} for www.example.com:`,
    `  curl -k --resolve www.example.com:443:${ip} https://www.example.com/          # homepage`,
    `  curl -k --resolve www.example.com:443:${ip} https://www.example.com/version`,
    `  ssh -i ${site.host.privateKeyPath} -o UserKnownHostsFile=${site.host.knownHostsPath} ${site.host.user}@${ip}`,
    `(-k: the certificate comes from the local Pebble CA.) State and log: ${site.workDir}`,
  ].join("\n");
}

/** The running site, or a new persistent one. */
async function ensureSite(): Promise<LocalSite> {
  const running = await attachLocalSite(WORK_DIR);
  if (running) return running;
  // A half-dead site (host gone, or a server gone): clean up what is left, then start afresh.
  const stale = recordedHostName(WORK_DIR);
  if (stale) spawnSync("bash", [path.join(TESTHOST_SCRIPTS, "down.sh"), stale], { stdio: "inherit" });
  fs.rmSync(path.join(WORK_DIR, "state.json"), { force: true });
  console.log("Booting a fresh local Debian 12 host (the first run builds its root filesystem: a minute or two)…");
  return startLocalSite({ ...HOST, workDir: WORK_DIR, persistent: true });
}

async function up(args: string[]): Promise<number> {
  const overrides = parseSets(args);
  const site = await ensureSite();
  console.log(
    `Applying to ${site.host.ip}${Object.keys(overrides).length ? ` with ${JSON.stringify(overrides)}` : ""} (log: ${site.run().logPath})`,
  );
  const r = await apply(site.run(overrides), { onStep: printStep });
  return report(site, r);
}

function report(site: LocalSite, r: ApplyResult): number {
  console.log(`${r.executed.length} remote step(s), ${seconds(r.totalMs)}.`);
  if (r.error) {
    console.error(`\nThe apply failed:\n${r.error}`);
    return 1;
  }
  console.log(reach(site));
  return 0;
}

/** The overrides that roll the site in a state file back: repoRef = the previous release's commit. */
export function rollbackOverrides(statePath: string): Record<string, unknown> {
  const state = loadState(statePath);
  const out = state.resources.find((r) => r.name === "app-switch")?.stdout ?? "";
  const line = out.trim().split("\n").pop() ?? "";
  let previous = "";
  try {
    previous = (JSON.parse(line) as { previousCommit?: string }).previousCommit ?? "";
  } catch {
    // no switch output: nothing was deployed
  }
  if (!/^[0-9a-f]{40}$/.test(previous)) throw new UsageError("there is no previous release to roll back to");
  return { repoRef: previous };
}

async function rollback(args: string[]): Promise<number> {
  const site = await attachLocalSite(WORK_DIR);
  if (!site) throw new UsageError("no local site is running: npm run sandbox -- up");
  const overrides = { ...parseSets(args), ...rollbackOverrides(site.run().statePath) };
  console.log(`Rolling back to ${String(overrides.repoRef)}`);
  return report(site, await apply(site.run(overrides), { onStep: printStep }));
}

async function previewCmd(args: string[]): Promise<number> {
  const site = await attachLocalSite(WORK_DIR);
  if (!site) throw new UsageError("no local site is running: npm run sandbox -- up");
  const r = await preview(site.run(parseSets(args)));
  for (const s of r.steps)
    if (s.op !== "same") console.log(`${s.op.padEnd(8)} ${s.name}${s.diffKeys.length ? ` [${s.diffKeys.join(", ")}]` : ""}`);
  if (r.error) console.error(`error: ${r.error}`);
  return r.error ? 1 : 0;
}

/** A backup's name, as the backup command makes it: <UTC time>-<commit>-<reason>. */
export const BACKUP_NAME = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}-[a-z][a-z-]{0,30}$/;

/** `restore`: the restore command on the host lists the backups, or restores one (only with --yes). */
async function restore(args: string[]): Promise<number> {
  const name = args.find((a) => !a.startsWith("-"));
  const unknown = args.filter((a) => a.startsWith("-") && a !== "--yes");
  if (unknown.length > 0 || args.filter((a) => !a.startsWith("-")).length > 1) throw new UsageError("usage: restore [NAME --yes]");
  if (name && !args.includes("--yes"))
    throw new UsageError(`refusing to restore ${name} without --yes: a restore replaces the site's database and media`);
  if (name && !BACKUP_NAME.test(name)) throw new UsageError(`${name} is not a backup name (restore without a name lists them)`);
  const site = await attachLocalSite(WORK_DIR);
  if (!site) throw new UsageError("no local site is running: npm run sandbox -- up");
  const command = layoutOf(settingsOf(site)).restoreCommand;
  const r = await site.host.exec(name ? `sudo -n ${command} ${name} --yes` : `sudo -n ${command} --list`);
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

async function status(args: string[]): Promise<number> {
  const site = await attachLocalSite(WORK_DIR);
  if (!site) {
    console.error("no local site is running (npm run sandbox -- up starts one)");
    return 1;
  }
  const info = {
    ip: site.host.ip,
    user: site.host.user,
    privateKeyPath: site.host.privateKeyPath,
    knownHostsPath: site.host.knownHostsPath,
    reposDir: site.repos.dir,
    domain: String(site.settings.domain),
  };
  if (args.includes("--json")) console.log(JSON.stringify(info));
  else for (const [k, v] of Object.entries(info)) console.log(`${k.padEnd(15)} ${v}`);
  return 0;
}

async function down(): Promise<number> {
  const site = await attachLocalSite(WORK_DIR);
  if (site) await site.stop();
  const stale = recordedHostName(WORK_DIR);
  if (stale) spawnSync("bash", [path.join(TESTHOST_SCRIPTS, "down.sh"), stale], { stdio: "inherit" });
  fs.rmSync(WORK_DIR, { recursive: true, force: true });
  console.log("The local site is gone.");
  return 0;
}

/** `npm run sandbox` without a command: a throwaway site until Ctrl-C. */
async function throwaway(): Promise<number> {
  console.log("Booting a fresh local Debian 12 host (the first run builds its root filesystem: a minute or two)…");
  const site = await startLocalSite({ index: 61, name: "sandbox-tmp" });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nStopping the host, the git daemon and Pebble…");
    await site.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
  const code = report(site, await apply(site.run(), { onStep: printStep }));
  if (code !== 0) {
    await stop();
    return code;
  }
  console.log("Press Ctrl-C to stop and remove everything.");
  // A pending promise alone does not keep Node running: hold the event loop open until Ctrl-C.
  setInterval(() => undefined, 1 << 30);
  return new Promise<number>(() => undefined);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
      return throwaway();
    case "up":
      return up(rest);
    case "preview":
      return previewCmd(rest);
    case "rollback":
      return rollback(rest);
    case "status":
      return status(rest);
    case "restore":
      return restore(rest);
    case "down":
      return down();
    default:
      throw new UsageError(`unknown command ${cmd}: use up, preview, rollback, restore, status, down (or nothing)`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}
