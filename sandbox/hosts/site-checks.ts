/**
 * Checks of a deployed local site from outside the host (curl/openssl on this machine, as a visitor)
 * and helpers to read the host's state over SSH. Used by the real-host tests and the benchmark.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TestHost } from "./testhost";

export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { maxBuffer: 32 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A request to `url` with the site's names resolved to the host; `caFile` verifies TLS (no -k). */
export async function request(
  host: TestHost,
  url: string,
  opts: { caFile?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const u = new URL(url);
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  const args = ["-sS", "--max-time", "30", "-D", "-", "--resolve", `${u.hostname}:${port}:${host.ip}`];
  if (opts.caFile) args.push("--cacert", opts.caFile);
  for (const [k, v] of Object.entries(opts.form ?? {})) args.push("-F", `${k}=${v}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push("-H", `${k}: ${v}`);
  args.push(url);
  const r = await run("curl", args);
  if (r.code !== 0) throw new Error(`curl ${url} failed (${r.code}): ${r.stderr}`);
  const split = r.stdout.indexOf("\r\n\r\n");
  const head = r.stdout.slice(0, split).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(head[0].split(" ")[1]), headers, body: r.stdout.slice(split + 4) };
}

/** Try a TLS handshake with one protocol version; resolves to true when the server accepts it. */
export async function tlsAccepts(
  host: TestHost,
  version: "tls1" | "tls1_1" | "tls1_2" | "tls1_3",
  serverName = "www.example.com",
): Promise<boolean> {
  // SECLEVEL=0 lets this client offer the old versions, so a refusal is the server's.
  const cipher = version === "tls1_3" ? [] : ["-cipher", "DEFAULT@SECLEVEL=0"];
  const r = await run("openssl", ["s_client", `-${version}`, ...cipher, "-connect", `${host.ip}:443`, "-servername", serverName], "");
  return r.code === 0 && /Cipher is (?!\(NONE\))/.test(r.stdout);
}

/** The certificate the server presents for a name, as `openssl x509 -text`. */
export async function peerCertificate(host: TestHost, serverName: string): Promise<string> {
  const s = await run("openssl", ["s_client", "-connect", `${host.ip}:443`, "-servername", serverName], "");
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(s.stdout)?.[0];
  if (!pem) throw new Error(`no certificate from ${serverName}: ${s.stderr}`);
  return (await run("openssl", ["x509", "-noout", "-text"], pem)).stdout;
}

export function tempFile(name: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "site-checks-"));
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

/** `supervisorctl status` of the site's programs: "web-a", "celery-b", "beat", … → { state, pid }. */
export async function programs(host: TestHost, slug = "example-com"): Promise<Record<string, { state: string; pid: number }>> {
  const r = await host.exec("sudo supervisorctl status");
  const out: Record<string, { state: string; pid: number }> = {};
  for (const line of r.stdout.trim().split("\n")) {
    const m = new RegExp(`^${slug}-(\\S+)\\s+(\\w+)(?:\\s+pid (\\d+))?`).exec(line);
    if (m) out[m[1]] = { state: m[2], pid: Number(m[3] ?? 0) };
  }
  return out;
}

/** The live web slot's and Celery slot's programs, and the beat (by role: web, celery, beat). */
export async function livePrograms(
  host: TestHost,
  slug = "example-com",
): Promise<Record<"web" | "celery" | "beat", { name: string; state: string; pid: number }>> {
  const all = await programs(host, slug);
  const slot = (await host.run("sudo cut -d' ' -f1 /var/lib/django-deploy/example.com/live")).trim();
  const pick = (name: string) => ({ name, ...(all[name] ?? { state: "ABSENT", pid: 0 }) });
  return { web: pick(`web-${slot}`), celery: pick(`celery-${slot}`), beat: pick("beat") };
}

/** Poll until `check` resolves truthy, or fail after `ms` with the last value. */
export async function waitFor<T>(what: string, ms: number, check: () => Promise<T | undefined | null | false>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
