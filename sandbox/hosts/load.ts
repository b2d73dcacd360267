/**
 * Steady, bounded load on a local test host, as visitors make it: `clients` loops, each sending one
 * HTTPS request after the other over a keep-alive connection (TLS with the site's name, verified
 * against the CA given), until stopped or `maxSeconds` have passed. Every answer is counted; one
 * that is not a 200, or that never comes (a reset, a timeout), is a failed request. The body of each
 * answer is remembered by its first line with the times it was first and last seen, so a deploy can
 * be read off the report: which versions answered, and when both did. Load goes only to the host given.
 */
import * as fs from "fs";
import * as https from "https";
import type { TestHost } from "./testhost";

export interface LoadOptions {
  path: string;
  clients?: number;
  /** Verify TLS against this CA (PEM file); the name checked is `hostName`. */
  caFile: string;
  hostName?: string;
  /** A bound: the load stops by itself after this long even if nobody stops it. */
  maxSeconds?: number;
  timeoutMs?: number;
}

export interface LoadReport {
  total: number;
  ok: number;
  failed: number;
  /** status code (or error code) → count, for everything that was not a 200. */
  failures: Record<string, number>;
  /** first line of the body → first and last time it was seen (ms since the load started). */
  bodies: Record<string, { count: number; first: number; last: number }>;
  seconds: number;
}

export interface Load {
  /** Stop (waits for the requests in flight) and report. */
  stop(): Promise<LoadReport>;
  /** The report so far, without stopping. */
  peek(): LoadReport;
}

/** Milliseconds during which both bodies answered (0 when they never overlapped). */
export function overlapMs(report: LoadReport, a: string, b: string): number {
  const x = report.bodies[a];
  const y = report.bodies[b];
  if (!x || !y) return 0;
  return Math.max(0, Math.min(x.last, y.last) - Math.max(x.first, y.first));
}

export function startLoad(host: TestHost, o: LoadOptions): Load {
  const clients = o.clients ?? 8;
  const ca = fs.readFileSync(o.caFile);
  const hostName = o.hostName ?? "www.example.com";
  const agent = new https.Agent({ keepAlive: true, maxSockets: clients, ca, servername: hostName });
  const t0 = Date.now();
  const report: LoadReport = { total: 0, ok: 0, failed: 0, failures: {}, bodies: {}, seconds: 0 };
  let running = true;
  const bound = setTimeout(() => (running = false), (o.maxSeconds ?? 600) * 1000);

  const one = () =>
    new Promise<void>((resolve) => {
      const req = https.request(
        { host: host.ip, port: 443, path: o.path, method: "GET", agent, headers: { Host: hostName }, timeout: o.timeoutMs ?? 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("end", () => {
            const at = Date.now() - t0;
            report.total++;
            if (res.statusCode === 200) {
              report.ok++;
              const line = Buffer.concat(chunks).toString("utf8").split("\n")[0];
              const b = (report.bodies[line] ??= { count: 0, first: at, last: at });
              b.count++;
              b.last = at;
            } else {
              report.failed++;
              const k = String(res.statusCode);
              report.failures[k] = (report.failures[k] ?? 0) + 1;
            }
            resolve();
          });
          res.on("error", () => undefined);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e: NodeJS.ErrnoException) => {
        report.total++;
        report.failed++;
        const k = e.code ?? e.message;
        report.failures[k] = (report.failures[k] ?? 0) + 1;
        resolve();
      });
      req.end();
    });

  const loops = Array.from({ length: clients }, async () => {
    while (running) await one();
  });
  return {
    peek: () => ({ ...report, seconds: (Date.now() - t0) / 1000 }),
    stop: async () => {
      running = false;
      clearTimeout(bound);
      await Promise.all(loops);
      agent.destroy();
      return { ...report, seconds: (Date.now() - t0) / 1000 };
    },
  };
}
