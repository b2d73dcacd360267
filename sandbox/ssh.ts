/**
 * The remote half of the sandbox: what pulumi-command 1.2.1's `remote` provider does for one step, redone with
 * the `ssh2` library (sources read: provider/pkg/provider/remote/connection.go, commandOutputs.go,
 * copyController.go, logging.go; retry from pulumi sdk util/retry).
 * - Dial: one fresh SSH connection per step; up to `dialErrorLimit` retries (default 10, -1 unlimited) with the
 *   provider's back-off (100 ms, x1.5, capped at 5 s); `perDialTimeout` s per dial (default 15); `hostKey` (an
 *   authorized_keys line) is verified when set, otherwise any host key is accepted; user default root;
 *   privateKey / password / SSH agent (`agentSocketPath` or SSH_AUTH_SOCK). No `proxy` (rejected).
 * - Run: `exec(command)` (the login shell runs it, like session.Run); `stdin` is written then closed; output is
 *   captured, streamed line by line to the log per `logging`, and trimmed of ONE trailing newline. A non-zero exit
 *   fails with `<exit error>: running "<command>":\n<stdout+stderr>` like the provider (JSON quoting stands in for
 *   Go's %q). `environment` goes by SSH `env` requests; the provider fails a step when sshd refuses one (AcceptEnv),
 *   but ssh2 sends them without want-reply, so a refusal is detected by an `env` probe run on the same connection.
 *   PULUMI_COMMAND_STDOUT/STDERR are sent optimistically (a refusal is ignored, as the provider only warns).
 * - Copy: SFTP with the provider's file/directory/trailing-slash rules, parent directories created.
 */
import * as fs from "fs";
import * as path from "path";
import { Client, ClientChannel, ConnectConfig, SFTPWrapper } from "ssh2";

export interface Conn {
  host: string;
  port?: number;
  user?: string;
  password?: string;
  privateKey?: string;
  privateKeyPassword?: string;
  agentSocketPath?: string;
  dialErrorLimit?: number;
  perDialTimeout?: number;
  hostKey?: string;
  proxy?: unknown;
}
export interface RunOpts {
  cmd: string;
  stdin?: string;
  env?: Record<string, string>;
  optionalEnv: Record<string, string>;
  logStdout: boolean;
  logStderr: boolean;
  log: (line: string) => void;
  cutAfterMs?: number;
}
export type Source = { kind: "string"; text: string } | { kind: "file" | "archive"; path: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function dialOnce(c: Conn): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const cfg: ConnectConfig = {
      host: c.host,
      port: c.port ?? 22,
      username: c.user ?? "root",
      privateKey: c.privateKey,
      passphrase: c.privateKeyPassword,
      password: c.password,
      tryKeyboard: c.password !== undefined,
      agent: c.agentSocketPath ?? process.env.SSH_AUTH_SOCK,
      readyTimeout: (c.perDialTimeout ?? 15) * 1000 || 2 ** 31 - 1,
    };
    if (c.hostKey) {
      const [type, blob] = c.hostKey.trim().split(/\s+/);
      cfg.algorithms = { serverHostKey: (type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type]) as never };
      cfg.hostVerifier = (key: Buffer) => key.equals(Buffer.from(blob ?? "", "base64"));
    }
    client.on("keyboard-interactive", (_n, _i, _l, prompts, finish) => finish(prompts.map(() => c.password ?? "")));
    client.once("ready", () => {
      client.removeAllListeners("error");
      client.on("error", () => undefined);
      resolve(client);
    });
    client.once("error", (e) => {
      client.end();
      reject(e);
    });
    client.connect(cfg);
  });
}

export async function dial(c: Conn, log: (line: string) => void): Promise<Client> {
  if (c.proxy) throw new Error("sandbox: connection.proxy is not supported");
  const limit = c.dialErrorLimit ?? 10;
  for (let tries = 0, delay = 100; ; tries++, delay = Math.min(delay * 1.5, 5000)) {
    try {
      return await dialOnce(c);
    } catch (e) {
      if (limit > -1 && tries + 1 > limit) throw new Error(`after ${tries} failed attempts: ${message(e)}`);
      log(`Dial ${tries + 1}/${limit === -1 ? "inf" : limit} failed: retrying`);
      await sleep(delay);
    }
  }
}

function exec(client: Client, cmd: string, env: Record<string, string>): Promise<ClientChannel> {
  return new Promise((res, rej) => client.exec(cmd, { env }, (err, ch) => (err ? rej(err) : res(ch))));
}

/** Runs `o.cmd` like CommandOutputs.run; resolves with trimmed stdout/stderr, rejects with the provider's message. */
export async function runCommand(c: Conn, o: RunOpts): Promise<{ stdout: string; stderr: string }> {
  const client = await dial(c, o.log);
  try {
    const env = o.env ?? {};
    if (Object.keys(env).length > 0) {
      const probe = await exec(client, "env", env);
      let seen = "\n";
      probe.on("data", (d: Buffer) => (seen += d)).stderr.resume();
      await new Promise((r) => probe.on("close", r).end());
      const refused = Object.keys(env).find((k) => !seen.includes(`\n${k}=${env[k]}\n`));
      if (refused) throw new Error(`could not set environment variable "${refused}": ssh: setenv failed`);
    }
    const ch = await exec(client, o.cmd, { ...o.optionalEnv, ...env });
    return await new Promise((resolve, reject) => {
      let out = "",
        err = "",
        both = "",
        line = "",
        code: number | undefined,
        signal: string | undefined;
      const stream = (d: Buffer, isOut: boolean) => {
        const s = d.toString();
        if (isOut) out += s;
        else err += s;
        both += s;
        if (!(isOut ? o.logStdout : o.logStderr)) return;
        const parts = (line + s).split("\n");
        line = parts.pop() ?? "";
        parts.forEach((l) => o.log(l));
      };
      const timer = o.cutAfterMs === undefined ? undefined : setTimeout(() => client.destroy(), o.cutAfterMs);
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (line) o.log(line);
        if (code === 0) return resolve({ stdout: out.replace(/\n$/, ""), stderr: err.replace(/\n$/, "") });
        const why =
          code === undefined && !signal
            ? "wait: remote command exited without exit status or exit signal"
            : `Process exited with status ${code ?? -1}${signal ? ` from signal ${signal}` : ""}`;
        reject(new Error(`${why}: running ${JSON.stringify(o.cmd)}:\n${both}`));
      };
      ch.on("data", (d: Buffer) => stream(d, true)).stderr.on("data", (d: Buffer) => stream(d, false));
      ch.on("exit", (c: number | null, s?: string) => {
        code = c ?? undefined;
        signal = s;
      });
      ch.on("close", finish);
      client.once("close", finish);
      ch.end(o.stdin ?? "");
    });
  } finally {
    client.end();
  }
}

/** CopyToRemote's copyToRemote: text asset → file; file → file (or into an existing dir); dir → dest/dir or dest/*. */
export async function copyToRemote(c: Conn, src: Source, dest: string, log: (line: string) => void): Promise<void> {
  const client = await dial(c, log);
  try {
    const sftp = await new Promise<SFTPWrapper>((res, rej) => client.sftp((e, s) => (e ? rej(e) : res(s))));
    const call = <T>(f: (cb: (e: Error | null | undefined, v?: T) => void) => void) =>
      new Promise<T | undefined>((res, rej) => f((e, v) => (e ? rej(e) : res(v))));
    const stat = (p: string) =>
      call<{ isDirectory(): boolean }>((cb) => sftp.stat(p, cb)).catch((e: { code?: number }) => {
        if (e.code === 2) return undefined;
        throw e;
      });
    const mkdir = (p: string) =>
      call((cb) => sftp.mkdir(p, cb)).catch(async (e) => {
        // tolerate a concurrent mkdir
        if (!(await stat(p))?.isDirectory()) throw new Error(`failed to create remote directory ${p}: ${message(e)}`);
      });
    const mkdirAll = async (p: string): Promise<void> => {
      if (p === "/" || p === "." || (await stat(p))) return;
      await mkdirAll(path.posix.dirname(p));
      await mkdir(p);
    };
    const put = (local: string, remote: string) => call((cb) => sftp.fastPut(local, remote, cb));
    const destStat = await stat(dest);
    if (src.kind === "string") {
      if (destStat?.isDirectory())
        throw new Error(`remote path ${dest} is a directory; when using a text asset, remotePath must be a file path`);
      await mkdirAll(path.posix.dirname(dest));
      return void (await call((cb) => sftp.writeFile(dest, src.text, cb)));
    }
    if (!fs.statSync(src.path).isDirectory()) {
      if (destStat?.isDirectory()) return void (await put(src.path, path.posix.join(dest, path.basename(src.path))));
      if (!destStat) await mkdirAll(path.posix.dirname(dest));
      return void (await put(src.path, dest));
    }
    if (!destStat) await mkdirAll(dest);
    const root = src.path.endsWith("/") ? dest : path.posix.join(dest, path.basename(src.path));
    const walk = async (rel: string): Promise<void> => {
      const remote = path.posix.join(root, rel),
        local = path.join(src.path, rel);
      if (!fs.statSync(local).isDirectory()) return void (await put(local, remote));
      const st = await stat(remote);
      if (st && !st.isDirectory()) throw new Error(`remote path ${remote} exists but is not a directory`);
      if (!st) await mkdir(remote);
      for (const name of fs.readdirSync(local).sort()) await walk(path.join(rel, name));
    };
    await walk("");
  } finally {
    client.end();
  }
}
