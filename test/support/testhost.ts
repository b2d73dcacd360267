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
 *   `reboot` (clean shutdown + boot of the same root filesystem), `stop` (idempotent).
 * - `startGitServer(host, reposDir, {port})`: `git daemon --export-all --base-path=reposDir`
 *   listening on the gateway (default port 9418); `url("example.com.git")`.
 * - `startPebble(host, {domains})`: Pebble (Debian's /usr/bin/pebble) on gateway:14000 (ACME) and
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
import { ChildProcess, execFile, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
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
  /** Stop the host and delete it, with every helper recorded for it. Idempotent. */
  stop(): Promise<void>;
}

export interface GitServer {
  port: number;
  /** git://<gateway>[:port]/ */
  baseUrl: string;
  /** URL of a repository under reposDir, e.g. url("example.com.git"). */
  url(repo: string): string;
  stop(): Promise<void>;
}

export interface PebbleServer {
  /** ACME directory URL, https://<gateway>:14000/dir */
  directoryUrl: string;
  /** PEM of the CA that signed Pebble's listener certificate (trust it via REQUESTS_CA_BUNDLE). */
  caBundlePem: string;
  /** The same, as a file on this machine. */
  caBundlePath: string;
  /** The names that Pebble resolves to the host. */
  domains: string[];
  /** Pebble's current root CA certificate (PEM), which signs the issued chains. */
  rootPem(): Promise<string>;
  /** Pebble's current intermediate certificate (PEM). */
  intermediatePem(): Promise<string>;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Boot a fresh test host (see the module doc). */
export async function startTestHost(index: number, name = `th${index}`): Promise<TestHost> {
  assertRoot();
  let state: HostState;
  try {
    // First use on a machine builds the root filesystem (~1.5 min) before booting. Our PID makes
    // up.sh start a watchdog that tears the host down if this process dies without stop().
    state = JSON.parse(await runScript("up.sh", [String(index), name, String(process.pid)], 15 * 60_000)) as HostState;
  } catch (e) {
    throw new Error(`could not start test host ${name} (index ${index}): ${(e as Error).message}`);
  }

  const sshArgs = () => [
    "-F", "none",
    "-i", state.privateKeyPath,
    "-o", "IdentitiesOnly=yes",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${state.knownHostsPath}`,
    "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=15",
    "-o", "LogLevel=ERROR",
  ];

  const exec = (cmd: string, opts: ExecOptions = {}): Promise<ExecResult> =>
    new Promise((resolve, reject) => {
      const child = spawn("ssh", [...sshArgs(), `${state.user}@${state.ip}`, cmd], { stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGTERM");
      }, opts.timeoutMs ?? 15 * 60_000);
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
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await runScript("down.sh", [state.name], 5 * 60_000);
    },
  };
  try {
    await waitForBoot();
  } catch (e) {
    await host.stop().catch(() => undefined);
    throw e;
  }
  return host;
}

// ------------------------------------------------------------------------------------------------
// Helper processes (git daemon, DNS responder, Pebble)

interface Helper {
  child: ChildProcess;
  pidFile: string;
  logPath: string;
  stop(): Promise<void>;
}

/** Spawn a helper whose output goes to a log file in the host's run dir; its PID is recorded there. */
function spawnHelper(
  host: TestHost,
  id: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdoutPipe?: boolean } = {},
): Helper {
  const logPath = path.join(host.runDir, `${id}.log`);
  const pidFile = path.join(host.runDir, "pids", `${id}.pid`);
  const logFd = fs.openSync(logPath, "a");
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", opts.stdoutPipe ? "pipe" : logFd, logFd],
  });
  fs.closeSync(logFd);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });
  fs.writeFileSync(pidFile, `${child.pid}\n`);
  child.unref();
  let exited = child.exitCode !== null;
  child.on("exit", () => {
    exited = true;
  });
  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
      if (!exited) child.kill("SIGKILL");
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    }
    fs.rmSync(pidFile, { force: true });
  };
  return { child, pidFile, logPath, stop };
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function tcpReady(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 1000 });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function waitFor(what: string, helper: Helper, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (helper.child.exitCode !== null || helper.child.signalCode !== null) break;
    if (await check()) return;
    await sleep(100);
  }
  await helper.stop();
  throw new Error(`${what} did not start. Log ${helper.logPath}:\n${tail(helper.logPath)}`);
}

/** Serve the bare repositories in `reposDir` over git:// on the host's gateway address. */
export async function startGitServer(host: TestHost, reposDir: string, opts: { port?: number } = {}): Promise<GitServer> {
  const port = opts.port ?? 9418;
  const execPath = spawnSync("git", ["--exec-path"], { encoding: "utf8" }).stdout.trim();
  const daemon = path.join(execPath, "git-daemon");
  if (!execPath || !fs.existsSync(daemon)) throw new Error("git-daemon not found (apt-get install git)");
  const id = `git-daemon-${port}`;
  // Run git-daemon itself (not `git daemon`, which would be a wrapper process around it).
  const helper = spawnHelper(host, id, daemon, [
    "--export-all",
    `--base-path=${path.resolve(reposDir)}`,
    `--listen=${host.gateway}`,
    `--port=${port}`,
    "--reuseaddr",
    "--verbose",
    // Names the run dir on the command line: down.sh ends only processes whose command line does.
    `--pid-file=${path.join(host.runDir, "pids", `${id}.pid`)}`,
  ]);
  await waitFor(`git daemon on ${host.gateway}:${port}`, helper, () => tcpReady(host.gateway, port));
  const baseUrl = port === 9418 ? `git://${host.gateway}/` : `git://${host.gateway}:${port}/`;
  return { port, baseUrl, url: (repo: string) => baseUrl + repo.replace(/^\/+/, ""), stop: helper.stop };
}

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout: GET ${url}`)));
    req.on("error", reject);
  });
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr || r.error?.message}`);
}

/**
 * Start Pebble for a host: ACME on https://<gateway>:14000/dir, real http-01 validation against
 * the host's port 80, with `domains` resolving to the host for Pebble only.
 */
export async function startPebble(
  host: TestHost,
  opts: { domains?: string[]; acmePort?: number; managementPort?: number } = {},
): Promise<PebbleServer> {
  const domains = opts.domains ?? DEFAULT_TEST_DOMAINS;
  const acmePort = opts.acmePort ?? 14000;
  const mgmtPort = opts.managementPort ?? 15000;
  const dir = path.join(host.runDir, "pebble");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  // A small CA for Pebble's own HTTPS listener (Debian's pebble ships no certificate).
  openssl(
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=django-deploy test Pebble listener CA",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    dir,
  );
  openssl(
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", "listener.key", "-out", "listener.csr", "-subj", "/CN=pebble"],
    dir,
  );
  fs.writeFileSync(
    path.join(dir, "listener.ext"),
    [
      `subjectAltName=IP:${host.gateway},DNS:localhost,IP:127.0.0.1`,
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid:always",
      "",
    ].join("\n"),
  );
  openssl(
    ["x509", "-req", "-in", "listener.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", "listener.pem", "-days", "30", "-extfile", "listener.ext"],
    dir,
  );
  const caBundlePath = path.join(dir, "ca.pem");
  const caBundlePem = fs.readFileSync(caBundlePath, "utf8");
  const configPath = path.join(dir, "pebble.json");
  fs.writeFileSync(
    configPath,
    JSON.stringify(
      {
        pebble: {
          listenAddress: `${host.gateway}:${acmePort}`,
          managementListenAddress: `${host.gateway}:${mgmtPort}`,
          certificate: path.join(dir, "listener.pem"),
          privateKey: path.join(dir, "listener.key"),
          httpPort: 80,
          tlsPort: 443,
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
        },
      },
      null,
      2,
    ),
  );

  // DNS for Pebble's validation: the test domains -> the host.
  const dns = spawnHelper(
    host,
    "pebble-dns",
    process.execPath,
    [path.join(TESTHOST_SCRIPTS, "dns-responder.js"), "--listen", "127.0.0.1", "--marker", host.runDir,
      ...domains.map((d) => `${d}=${host.ip}`)],
    { stdoutPipe: true },
  );
  let dnsPort: number;
  try {
    dnsPort = await new Promise<number>((resolve, reject) => {
      let buf = "";
      const timer = setTimeout(() => reject(new Error("DNS responder did not report its port")), 10_000);
      dns.child.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        const m = /\{"port":(\d+)\}/.exec(buf);
        if (m) {
          clearTimeout(timer);
          dns.child.stdout!.destroy();
          resolve(Number(m[1]));
        }
      });
      dns.child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`DNS responder exited (${code}): ${tail(dns.logPath)}`));
      });
    });
  } catch (e) {
    await dns.stop();
    throw e;
  }

  const pebble = spawnHelper(host, "pebble", "pebble", ["-config", configPath, "-dnsserver", `127.0.0.1:${dnsPort}`], {
    cwd: dir,
    // Real validation (no PEBBLE_VA_ALWAYS_VALID); no random sleeps before validating, no random
    // "badNonce" rejections: a test must not be flaky on purpose.
    env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
  });
  const directoryUrl = `https://${host.gateway}:${acmePort}/dir`;
  const mgmt = `https://${host.gateway}:${mgmtPort}`;
  const stop = async () => {
    await pebble.stop();
    await dns.stop();
  };
  try {
    await waitFor(`Pebble on ${host.gateway}:${acmePort}`, pebble, async () => {
      try {
        return (await httpsGet(directoryUrl, caBundlePem)).status === 200;
      } catch {
        return false;
      }
    });
  } catch (e) {
    await dns.stop();
    throw e;
  }
  const getPem = async (what: string) => {
    const r = await httpsGet(`${mgmt}/${what}/0`, caBundlePem);
    if (r.status !== 200) throw new Error(`Pebble ${what}/0: HTTP ${r.status}`);
    return r.body;
  };
  return {
    directoryUrl,
    caBundlePem,
    caBundlePath,
    domains,
    rootPem: () => getPem("roots"),
    intermediatePem: () => getPem("intermediates"),
    stop,
  };
}
