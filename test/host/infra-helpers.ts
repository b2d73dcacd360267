/**
 * What test/host/infra.test.ts shares: booting several test hosts so that none leaks when one fails,
 * a trivial nginx site for app hosts, and steady HTTPS traffic through the load balancer from this
 * machine, counted per target.
 */
import * as https from "https";
import { startTestHost, TestHost } from "../../sandbox/hosts/testhost";

/** Boot hosts side by side; if any fails, the others are stopped and the first error is thrown. */
export async function startHosts(specs: [number, string][]): Promise<TestHost[]> {
  const results = await Promise.allSettled(specs.map(([index, name]) => startTestHost(index, name)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    const started = results.filter((r): r is PromiseFulfilledResult<TestHost> => r.status === "fulfilled");
    await Promise.all(started.map((r) => r.value.stop().catch(() => undefined)));
    throw failed.reason;
  }
  return results.map((r) => (r as PromiseFulfilledResult<TestHost>).value);
}

/**
 * nginx config of an app host: `www.example.com` answers /healthz and echoes what the load balancer
 * forwarded; any other Host gets 404 (so a health check with the wrong Host header fails).
 */
export const APP_SITE = `server {
  listen 80 default_server;
  location / { return 404; }
}
server {
  listen 80;
  server_name www.example.com;
  default_type text/plain;
  location = /healthz { return 200 "ok\\n"; }
  location / { return 200 "host=$hostname xff=$http_x_forwarded_for proto=$http_x_forwarded_proto\\n"; }
}
`;

export async function serveAppSite(host: TestHost): Promise<void> {
  await host.writeFile("/etc/nginx/sites-available/app", APP_SITE);
  await host.run(
    "sudo rm -f /etc/nginx/sites-enabled/default && sudo ln -sf ../sites-available/app /etc/nginx/sites-enabled/app && " +
      "sudo nginx -t -q && sudo systemctl reload-or-restart nginx && sudo systemctl enable -q nginx",
  );
}

export interface Reply {
  status: number;
  body: string;
}

/** One GET https://www.example.com<path> sent to `address` (no keep-alive: a new connection each time). */
export function lbGet(address: string, caPem: string, path = "/", timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      {
        host: address,
        port: 443,
        path,
        servername: "www.example.com",
        headers: { Host: "www.example.com" },
        ca: caPem,
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

export interface Traffic {
  /** Requests answered 200, by the `host=` the target reported. */
  byHost: Record<string, number>;
  failed: number;
  total: number;
  /** The first few failures (status or error). */
  failures: string[];
}

/**
 * Steady traffic (`concurrency` loops of sequential requests) until `until` resolves or `ms` pass.
 * Every answer other than 200 from a target, and every error, counts as failed.
 */
export async function traffic(
  address: string,
  caPem: string,
  opts: { ms?: number; until?: Promise<unknown>; concurrency?: number },
): Promise<Traffic> {
  const t: Traffic = { byHost: {}, failed: 0, total: 0, failures: [] };
  let done = false;
  const timer = opts.ms !== undefined ? setTimeout(() => (done = true), opts.ms) : undefined;
  void opts.until?.finally(() => (done = true));
  const loop = async () => {
    while (!done) {
      t.total++;
      try {
        const r = await lbGet(address, caPem);
        const host = /^host=(\S+)/.exec(r.body)?.[1];
        if (r.status === 200 && host) t.byHost[host] = (t.byHost[host] ?? 0) + 1;
        else throw new Error(`HTTP ${r.status} ${r.body.slice(0, 80)}`);
      } catch (e) {
        t.failed++;
        if (t.failures.length < 5) t.failures.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 2 }, loop));
  if (timer) clearTimeout(timer);
  return t;
}
