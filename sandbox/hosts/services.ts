/**
 * Servers a deployment talks to, run on this machine beside a test host (see testhost.ts): a git
 * daemon serving the sample repositories and Pebble, a local ACME CA doing real http-01 validation
 * through its own DNS responder. Each start* returns a stop(); helpers' PIDs are recorded in the
 * host's run directory, so down.sh ends them with the host.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { DEFAULT_TEST_DOMAINS, TESTHOST_SCRIPTS, TestHost, sleep } from "./testhost";

export interface GitServer {
  port: number;
  /** git://<gateway>[:port]/ */
  baseUrl: string;
  /** URL of a repository under reposDir, e.g. url("example.com.git"). */
  url(repo: string): string;
  stop(): Promise<void>;
}

export interface PebbleServer {
  /** How to find it again (attachPebble). */
  info: PebbleInfo;
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
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdoutPipe?: boolean; persistent?: boolean } = {},
): Helper {
  const logPath = path.join(host.runDir, `${id}.log`);
  const pidFile = path.join(host.runDir, "pids", `${id}.pid`);
  const logFd = fs.openSync(logPath, "a");
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", opts.stdoutPipe ? "pipe" : logFd, logFd],
    // A persistent helper (the sandbox's `up`) lives in its own process group: it outlives this
    // process and a Ctrl-C in its terminal. down.sh ends it with the host.
    detached: opts.persistent === true,
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
export async function startGitServer(
  host: TestHost,
  reposDir: string,
  opts: { port?: number; persistent?: boolean } = {},
): Promise<GitServer> {
  const port = opts.port ?? 9418;
  const execPath = spawnSync("git", ["--exec-path"], { encoding: "utf8" }).stdout.trim();
  const daemon = path.join(execPath, "git-daemon");
  if (!execPath || !fs.existsSync(daemon)) throw new Error("git-daemon not found (apt-get install git)");
  const id = `git-daemon-${port}`;
  // Run git-daemon itself (not `git daemon`, which would be a wrapper process around it).
  const helper = spawnHelper(
    host,
    id,
    daemon,
    [
      "--export-all",
      `--base-path=${path.resolve(reposDir)}`,
      `--listen=${host.gateway}`,
      `--port=${port}`,
      "--reuseaddr",
      "--verbose",
      // Names the run dir on the command line: down.sh ends only processes whose command line does.
      `--pid-file=${path.join(host.runDir, "pids", `${id}.pid`)}`,
    ],
    { persistent: opts.persistent },
  );
  await waitFor(`git daemon on ${host.gateway}:${port}`, helper, () => tcpReady(host.gateway, port));
  const baseUrl = port === 9418 ? `git://${host.gateway}/` : `git://${host.gateway}:${port}/`;
  return { port, baseUrl, url: (repo: string) => baseUrl + repo.replace(/^\/+/, ""), stop: () => helper.stop() };
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
  opts: { domains?: string[]; acmePort?: number; managementPort?: number; persistent?: boolean; id?: string } = {},
): Promise<PebbleServer> {
  const domains = opts.domains ?? DEFAULT_TEST_DOMAINS;
  const acmePort = opts.acmePort ?? 14000;
  const mgmtPort = opts.managementPort ?? 15000;
  // Two Pebbles for one host (two CAs) need two ids: their files and PIDs are kept apart.
  const id = opts.id ?? "pebble";
  const dir = path.join(host.runDir, id);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });

  // A small CA for Pebble's own HTTPS listener (Debian's pebble ships no certificate).
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "30",
      "-subj",
      "/CN=django-deploy test Pebble listener CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  openssl(
    [
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "listener.key",
      "-out",
      "listener.csr",
      "-subj",
      "/CN=pebble",
    ],
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
    [
      "x509",
      "-req",
      "-in",
      "listener.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "listener.pem",
      "-days",
      "30",
      "-extfile",
      "listener.ext",
    ],
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
    `${id}-dns`,
    process.execPath,
    [
      path.join(TESTHOST_SCRIPTS, "dns-responder.js"),
      "--listen",
      "127.0.0.1",
      "--marker",
      host.runDir,
      ...domains.map((d) => `${d}=${host.ip}`),
    ],
    { stdoutPipe: true, persistent: opts.persistent },
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

  const pebble = spawnHelper(host, id, "pebble", ["-config", configPath, "-dnsserver", `127.0.0.1:${dnsPort}`], {
    cwd: dir,
    persistent: opts.persistent,
    // Real validation (no PEBBLE_VA_ALWAYS_VALID); no random sleeps before validating, no random
    // "badNonce" rejections: a test must not be flaky on purpose.
    env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
  });
  const directoryUrl = `https://${host.gateway}:${acmePort}/dir`;
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
  return pebbleServer({ id, acmePort, managementPort: mgmtPort, domains }, host, stop);
}

/** What it takes to reach a running Pebble again from another process (the sandbox's status/up). */
export interface PebbleInfo {
  id: string;
  acmePort: number;
  managementPort: number;
  domains: string[];
}

function pebbleServer(info: PebbleInfo, host: TestHost, stop: () => Promise<void>): PebbleServer {
  const caBundlePath = path.join(host.runDir, info.id, "ca.pem");
  const caBundlePem = fs.readFileSync(caBundlePath, "utf8");
  const mgmt = `https://${host.gateway}:${info.managementPort}`;
  const getPem = async (what: string) => {
    const r = await httpsGet(`${mgmt}/${what}/0`, caBundlePem);
    if (r.status !== 200) throw new Error(`Pebble ${what}/0: HTTP ${r.status}`);
    return r.body;
  };
  return {
    info,
    directoryUrl: `https://${host.gateway}:${info.acmePort}/dir`,
    caBundlePem,
    caBundlePath,
    domains: info.domains,
    rootPem: () => getPem("roots"),
    intermediatePem: () => getPem("intermediates"),
    stop,
  };
}

/** End a helper recorded in the host's run directory (only if its command line names that directory). */
async function stopRecorded(host: TestHost, id: string): Promise<void> {
  const pidFile = path.join(host.runDir, "pids", `${id}.pid`);
  const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8").trim() : NaN);
  const ours = () => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(host.runDir);
    } catch {
      return false;
    }
  };
  if (Number.isInteger(pid) && ours()) {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 50 && ours(); i++) await sleep(100);
    if (ours()) process.kill(pid, "SIGKILL");
  }
  fs.rmSync(pidFile, { force: true });
}

/** A Pebble started by another process for this host, if it still answers. */
export async function attachPebble(host: TestHost, info: PebbleInfo): Promise<PebbleServer | undefined> {
  if (!fs.existsSync(path.join(host.runDir, info.id, "ca.pem"))) return undefined;
  const server = pebbleServer(info, host, async () => {
    await stopRecorded(host, info.id);
    await stopRecorded(host, `${info.id}-dns`);
  });
  const up = await httpsGet(server.directoryUrl, server.caBundlePem).then(
    (r) => r.status === 200,
    () => false,
  );
  return up ? server : undefined;
}

/** A git daemon started by another process for this host, if it still listens. */
export async function attachGitServer(host: TestHost, port = 9418): Promise<GitServer | undefined> {
  if (!(await tcpReady(host.gateway, port))) return undefined;
  const baseUrl = port === 9418 ? `git://${host.gateway}/` : `git://${host.gateway}:${port}/`;
  return { port, baseUrl, url: (repo: string) => baseUrl + repo.replace(/^\/+/, ""), stop: () => stopRecorded(host, `git-daemon-${port}`) };
}
