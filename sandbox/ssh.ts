/**
 * The remote half of the sandbox: what pulumi-command 1.2.1's `remote` provider does to run one
 * command, redone with the `ssh2` library (sources read: provider/pkg/provider/remote/connection.go,
 * commandOutputs.go, logging.go; retry from pulumi sdk util/retry), for the connection fields the
 * program uses and no others:
 * - Dial: one fresh SSH connection per step; up to `dialErrorLimit` retries (default 10, -1 unlimited)
 *   with the provider's back-off (100 ms, ×1.5, capped at 5 s); `perDialTimeout` s per dial (default
 *   15); `hostKey` (an authorized_keys line) is verified when set, otherwise any host key is accepted;
 *   private-key authentication only.
 * - Run: `exec(command)` (the login shell runs it, like session.Run); `stdin` is written then closed;
 *   output is captured, streamed line by line to the log per `logging`, and trimmed of ONE trailing
 *   newline. A non-zero exit fails with `<exit error>: running "<command>":\n<stdout+stderr>` like the
 *   provider (JSON quoting stands in for Go's %q).
 */
import { Client, ConnectConfig } from "ssh2";

/** The connection fields the program sets (components/remote-step.ts); the planner refuses others. */
export interface Conn {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  hostKey?: string;
  dialErrorLimit?: number;
  perDialTimeout?: number;
}

export interface RunOpts {
  cmd: string;
  stdin?: string;
  logStdout: boolean;
  logStderr: boolean;
  log: (line: string) => void;
  /** Destroy the connection this many ms after the command started (a fault test's network cut). */
  cutAfterMs?: number;
  /** Destroy the connection as soon as the command prints this text (a cut at a known point of a step). */
  cutOnOutput?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type ClientWithError = Client & { lastError?: Error };
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function dialOnce(c: Conn): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const cfg: ConnectConfig = {
      host: c.host,
      port: c.port,
      username: c.user,
      privateKey: c.privateKey,
      readyTimeout: (c.perDialTimeout ?? 15) * 1000 || 2 ** 31 - 1,
    };
    if (c.hostKey) {
      const [type, blob] = c.hostKey.trim().split(/\s+/);
      cfg.algorithms = { serverHostKey: (type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type]) as never };
      cfg.hostVerifier = (key: Buffer) => key.equals(Buffer.from(blob ?? "", "base64"));
    }
    client.once("ready", () => {
      client.removeAllListeners("error");
      // Kept for the message of a command whose connection dies (runCommand).
      client.on("error", (e) => ((client as ClientWithError).lastError = e));
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

/** Runs `o.cmd` like CommandOutputs.run; resolves with trimmed stdout/stderr, rejects with the provider's message. */
export async function runCommand(c: Conn, o: RunOpts): Promise<{ stdout: string; stderr: string }> {
  const client = await dial(c, o.log);
  try {
    return await new Promise((resolve, reject) =>
      client.exec(o.cmd, (execErr, ch) => {
        // Everything below is set up in this callback, synchronously: a quick command's whole answer
        // (output, exit status, EOF, close) can arrive in the same chunk as the exec's confirmation,
        // and ssh2 emits "exit" once, to the listeners present (a promise resolved here would attach
        // them a microtask too late: the command would seem to end without an exit status).
        if (execErr) return reject(execErr);
        let out = "",
          err = "",
          both = "",
          line = "",
          code: number | undefined,
          signal: string | undefined,
          done = false,
          eof = false,
          channelClosed = false;
        const started = Date.now();
        const stream = (d: Buffer, isOut: boolean) => {
          const s = d.toString();
          if (isOut) out += s;
          else err += s;
          both += s;
          if (o.cutOnOutput !== undefined && both.includes(o.cutOnOutput)) client.destroy();
          if (!(isOut ? o.logStdout : o.logStderr)) return;
          const parts = (line + s).split("\n");
          line = parts.pop() ?? "";
          parts.forEach((l) => o.log(l));
        };
        const timer = o.cutAfterMs === undefined ? undefined : setTimeout(() => client.destroy(), o.cutAfterMs);
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (line) o.log(line);
          if (code === 0) return resolve({ stdout: out.replace(/\n$/, ""), stderr: err.replace(/\n$/, "") });
          const noStatus = code === undefined && !signal;
          const why = noStatus
            ? "wait: remote command exited without exit status or exit signal"
            : `Process exited with status ${code ?? -1}${signal ? ` from signal ${signal}` : ""}`;
          // Without an exit status, what the runner saw of the connection (not in the provider's message).
          const seen = noStatus
            ? `\n(sandbox runner: ${channelClosed ? "the channel closed" : "the connection closed first"} after ${Date.now() - started} ms, ` +
              `remote EOF ${eof ? "seen" : "not seen"}, connection error: ${(client as ClientWithError).lastError?.message ?? "none"})`
            : "";
          reject(new Error(`${why}: running ${JSON.stringify(o.cmd)}:\n${both}${seen}`));
        };
        ch.on("data", (d: Buffer) => stream(d, true)).stderr.on("data", (d: Buffer) => stream(d, false));
        ch.on("exit", (exitCode: number | null, exitSignal?: string) => {
          code = exitCode ?? undefined;
          signal = exitSignal;
        });
        ch.on("eof", () => (eof = true));
        ch.on("close", () => {
          channelClosed = true;
          finish();
        });
        client.once("close", finish);
        ch.end(o.stdin ?? "");
      }),
    );
  } finally {
    client.end();
  }
}
