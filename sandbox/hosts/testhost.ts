/**
 * Local real test hosts for the integration tests: a fresh Debian 12 machine that looks like a new
 * EC2 instance from Debian's AMI (user `admin`, key-only SSH, passwordless sudo, systemd as PID 1,
 * apt reaching the same mirror as this machine), plus the servers a deployment talks to: a git
 * daemon serving the sample repositories and a Pebble ACME CA doing real http-01 validation.
 *
 * Needs root and Debian packages: debootstrap systemd-container nftables zstd iproute2 util-linux
 * openssh-client git pebble openssl (and node to run it). See scripts/testhost/*.sh.
 *
 * ```ts
 * const host = await startTestHost(1);            // 10.200.1.2, this side 10.200.1.1 ("th1")
 * const git = await startGitServer(host, reposDir); // git://10.200.1.1/<repo>
 * const acme = await startPebble(host);            // example.com + www.example.com -> host.ip
 * await host.run("sudo apt-get update");            // throws on a non-zero exit
 * const r = await host.exec("systemctl is-active nginx"); // {code, stdout, stderr}
 * await host.reboot();                              // same disk, IP and keys; helpers keep running
 * await acme.stop(); await git.stop(); await host.stop();
 * ```
 *
 * API
 * - `startTestHost(index, name = "th<index>")`: boots `scripts/testhost/up.sh index name`. `index`
 *   (1..254) picks the subnet 10.200.<index>.0/24: the host is .2, this machine .1 (`gateway`).
 *   Hosts side by side need different indexes and names. Throws (never skips) if it cannot start.
 * - `TestHost`: connection facts (`ip`, `user`, `privateKey` PEM text and `privateKeyPath`,
 *   `publicKey`, `hostKey` = the host's "ssh-ed25519 AAAA…" key, `knownHostsPath`), `exec` (never
 *   throws on a non-zero exit), `run` (throws), `writeFile` (via sudo), `sshArgs`, `waitForBoot`,
 *   `reboot` (clean shutdown + boot of the same root filesystem), `powerOff({hard})` / `powerOn`
 *   (a stopped instance: disk kept, its subnet dropped on this machine meanwhile), `stop` (idempotent).
 *   Hosts with different indexes reach each other by IP, source address kept (as in one VPC).
 * - `startGitServer(host, reposDir, {port})` (in host-services.ts): `git daemon --export-all --base-path=reposDir`
 *   listening on the gateway (default port 9418); `url("example.com.git")`.
 * - `startPebble(host, {domains})` (in host-services.ts): Pebble (Debian's /usr/bin/pebble) on gateway:14000 (ACME) and
 *   :15000 (management), with a listener certificate from a CA made here (`caBundlePem`, which
 *   certbot on the host must trust: REQUESTS_CA_BUNDLE). Default domains `example.com` and
 *   `www.example.com`. Name resolution: Pebble runs with `-dnsserver` pointing at a tiny DNS
 *   responder (scripts/testhost/dns-responder.js) that answers those names with the host's IP, so
 *   nothing on this machine (/etc/hosts) changes and two hosts can both use example.com. Only
 *   Pebble sees these names: from this machine use the IP with a Host header / curl --resolve.
 *   `rootPem()` / `intermediatePem()` fetch Pebble's current issuing chain (new at every start).
 *
 * Clean-up: every `start*` returns a `stop()`; call them in `afterAll`/`finally`. Safety net: each
 * host has a watchdog (scripts/testhost/watchdog.sh) that runs down.sh within a second or so when
 * the process that started the host is gone without stopping it (failed, killed or interrupted test
 * run); down.sh also ends the helpers, whose PIDs are recorded in the host's run directory.
 * By hand: `sudo scripts/testhost/down.sh NAME` or `down.sh --all`.
 */
import { execFile, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const TESTHOST_SCRIPTS = path.join(REPO_ROOT, "scripts", "testhost");

/** The domains Pebble resolves to the host unless told otherwise. */
export const DEFAULT_TEST_DOMAINS = ["example.com", "www.example.com"];

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's standard input (which is closed either way). */
  stdin?: string;
  /** Kill ssh after this many ms (default 15 minutes); the result then has code 124. */
  timeoutMs?: number;
}

export interface TestHost {
  name: string;
  index: number;
  /** The host's address, 10.200.<index>.2. */
  ip: string;
  /** This machine's address on the host's network, 10.200.<index>.1 (git daemon, Pebble). */
  gateway: string;
  user: string;
  port: number;
  /** OpenSSH private key text (ed25519) authorized for `user`. */
  privateKey: string;
  privateKeyPath: string;
  /** "ssh-ed25519 AAAA… comment" */
  publicKey: string;
  /** The host's own SSH host key, "ssh-ed25519 AAAA…" (fresh for every host). */
  hostKey: string;
  /** known_hosts file with `hostKey` for `ip`. */
  knownHostsPath: string;
  /** The host's run directory (root filesystem, console log, state). */
  runDir: string;
  /** systemd-nspawn's console output (boot messages). */
  logPath: string;
  /** ssh options (without destination) that log in as `user` with strict host key checking. */
  sshArgs(): string[];
  /** Run a shell command as `user` over ssh. Never throws for a non-zero exit. */
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Like exec, but throws (with the output) unless the exit code is 0. Resolves to stdout. */
  run(cmd: string, opts?: ExecOptions): Promise<string>;
  /** Write a file on the host as root (parent directories created). */
  writeFile(remotePath: string, content: string, opts?: { mode?: string; owner?: string }): Promise<void>;
  /** Wait for `systemctl is-system-running --wait`; resolves to "running" or "degraded". */
  waitForBoot(timeoutMs?: number): Promise<string>;
  /** Clean shutdown and boot again from the same disk (same IP and keys); waits for boot. */
  reboot(): Promise<void>;
  /**
   * Power off, keeping the disk (a stopped instance): clean shutdown, or `hard` = pull the plug
   * (SIGKILL to the container's init, no unit stopped). Connections to it then time out.
   */
  powerOff(opts?: { hard?: boolean }): Promise<void>;
  /** Boot the powered-off host again from the same disk (same IP and keys); waits for boot. */
  powerOn(): Promise<void>;
  /** Stop the host and delete it, with every helper recorded for it. Idempotent. */
  stop(): Promise<void>;
}

interface HostState {
  name: string;
  index: number;
  ip: string;
  gateway: string;
  user: string;
  pid: number;
  runDir: string;
  privateKeyPath: string;
  publicKeyPath: string;
  knownHostsPath: string;
  hostKey: string;
  logPath: string;
}

/** Quote a string for a POSIX shell. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// ------------------------------------------------------------------------------------------------

function runScript(script: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [path.join(TESTHOST_SCRIPTS, script), ...args],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: "SIGTERM" },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`scripts/testhost/${script} ${args.join(" ")} failed (${err.message.split("\n")[0]}):\n${stderr}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

function assertRoot(): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new Error("test hosts need root (systemd-nspawn, veth, nft): run the tests as root");
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where a host's run directory is (scripts/testhost/lib.sh: TESTHOST_CACHE_DIR or <repo>/.cache/testhost). */
export function hostRunDir(name: string): string {
  return path.join(process.env.TESTHOST_CACHE_DIR ?? path.join(REPO_ROOT, ".cache", "testhost"), "run", name);
}

export interface StartOptions {
  /**
   * Keep the host running after this process exits (the sandbox's `up`): no watchdog. By default a
   * watchdog tears the host down when this process is gone without calling stop().
   */
  persistent?: boolean;
}

/** Boot a fresh test host (see the module doc). */
export async function startTestHost(index: number, name = `th${index}`, opts: StartOptions = {}): Promise<TestHost> {
  assertRoot();
  let state: HostState;
  try {
    // First use on a machine builds the root filesystem (~1.5 min) before booting. Our PID makes
    // up.sh start a watchdog that tears the host down if this process dies without stop().
    const owner = opts.persistent ? [] : [String(process.pid)];
    state = JSON.parse(await runScript("up.sh", [String(index), name, ...owner], 15 * 60_000)) as HostState;
  } catch (e) {
    throw new Error(`could not start test host ${name} (index ${index}): ${(e as Error).message}`);
  }
  const host = hostFromState(state);
  try {
    await host.waitForBoot();
  } catch (e) {
    await host.stop().catch(() => undefined);
    throw e;
  }
  return host;
}

/** A host started earlier (by this or another process) that is still running, or undefined. */
export async function attachTestHost(name: string): Promise<TestHost | undefined> {
  const file = path.join(hostRunDir(name), "state.json");
  if (!fs.existsSync(file)) return undefined;
  const host = hostFromState(JSON.parse(fs.readFileSync(file, "utf8")) as HostState);
  const alive = await host.exec("true", { timeoutMs: 15_000 }).catch(() => undefined);
  return alive?.code === 0 ? host : undefined;
}

function hostFromState(state: HostState): TestHost {
  const sshArgs = () => [
    "-F",
    "none",
    "-i",
    state.privateKeyPath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${state.knownHostsPath}`,
    "-o",
    "ConnectTimeout=10",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "LogLevel=ERROR",
  ];

  const exec = (cmd: string, opts: ExecOptions = {}): Promise<ExecResult> =>
    new Promise((resolve, reject) => {
      const child = spawn("ssh", [...sshArgs(), `${state.user}@${state.ip}`, cmd], { stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(
        () => {
          timedOut = true;
          child.kill("SIGTERM");
        },
        opts.timeoutMs ?? 15 * 60_000,
      );
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.on("data", (d: Buffer) => err.push(d));
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({
          code: timedOut ? 124 : (code ?? (signal ? 128 : 255)),
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8") + (timedOut ? `\n[timed out after ${opts.timeoutMs} ms]` : ""),
        });
      });
      child.stdin.on("error", () => undefined); // the remote side may exit without reading
      child.stdin.end(opts.stdin ?? "");
    });

  const run = async (cmd: string, opts?: ExecOptions): Promise<string> => {
    const r = await exec(cmd, opts);
    if (r.code !== 0) {
      throw new Error(`on ${state.name}: \`${cmd}\` exited ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
    }
    return r.stdout;
  };

  const waitForBoot = async (timeoutMs = 120_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const r = await exec("systemctl is-system-running --wait", { timeoutMs: Math.max(1000, deadline - Date.now()) });
      last = r.stdout.trim() || r.stderr.trim();
      if (last === "running" || last === "degraded") return last;
      await sleep(500);
    }
    throw new Error(`${state.name}: system not up after ${timeoutMs} ms (last state: ${last})`);
  };

  let stopped = false;
  const host: TestHost = {
    name: state.name,
    index: state.index,
    ip: state.ip,
    gateway: state.gateway,
    user: state.user,
    port: 22,
    privateKey: fs.readFileSync(state.privateKeyPath, "utf8"),
    privateKeyPath: state.privateKeyPath,
    publicKey: fs.readFileSync(state.publicKeyPath, "utf8").trim(),
    hostKey: state.hostKey,
    knownHostsPath: state.knownHostsPath,
    runDir: state.runDir,
    logPath: state.logPath,
    sshArgs,
    exec,
    run,
    writeFile: async (remotePath, content, opts = {}) => {
      const p = shq(remotePath);
      await run(
        `sudo install -d -m 0755 "$(dirname ${p})" && sudo tee ${p} >/dev/null && sudo chmod ${shq(opts.mode ?? "0644")} ${p}` +
          (opts.owner ? ` && sudo chown ${shq(opts.owner)} ${p}` : ""),
        { stdin: content },
      );
    },
    waitForBoot,
    reboot: async () => {
      if (stopped) throw new Error(`${state.name} is stopped`);
      const next = JSON.parse(await runScript("restart.sh", [state.name], 5 * 60_000)) as HostState;
      state.pid = next.pid;
      await waitForBoot();
    },
    powerOff: async (opts = {}) => {
      if (stopped) throw new Error(`${state.name} is stopped`);
      await runScript("power.sh", [state.name, "off", ...(opts.hard ? ["--hard"] : [])], 2 * 60_000);
    },
    powerOn: async () => {
      if (stopped) throw new Error(`${state.name} is stopped`);
      const next = JSON.parse(await runScript("power.sh", [state.name, "on"], 5 * 60_000)) as HostState;
      state.pid = next.pid;
      await waitForBoot();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await runScript("down.sh", [state.name], 5 * 60_000);
    },
  };
  return host;
}
