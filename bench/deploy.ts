/**
 * Benchmark (`npm run bench`): a fresh local Debian 12 host → site serving, then a no-op re-apply,
 * then request rates through nginx with wrk, then every kind of release under load (bench/releases.ts),
 * then backup and restore times (bench/data.ts; the sandbox deploys with database: host, so the fresh
 * host figure includes PostgreSQL). Prints the figures; docs/benchmarks.md records them.
 * BENCH_ONLY=releases or BENCH_ONLY=data skips the request rates and the other section.
 * Load goes only to the local test host (its own network namespace), bounded in time.
 */
import { execFileSync } from "child_process";
import { wrk } from "./wrk";
import { apply } from "../sandbox/runner";
import { startLocalSite } from "../sandbox/local-site";
import { tempFile } from "../sandbox/hosts/site-checks";
import { releaseTable } from "./releases";
import { dataTable } from "./data";

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main() {
  const duration = Number(process.env.BENCH_WRK_SECONDS ?? 10);
  const t0 = Date.now();
  const site = await startLocalSite({ index: 70, name: "bench" });
  const bootMs = Date.now() - t0;
  try {
    const first = await apply(site.run());
    if (first.error) throw new Error(first.error);
    console.log(`machine: ${execFileSync("nproc", { encoding: "utf8" }).trim()} cores; host boot (restore + SSH up): ${seconds(bootMs)}`);
    console.log(
      `\nFresh host → site serving, PostgreSQL on the host: ${seconds(first.totalMs)} (runner wall time, program start included)`,
    );
    console.log("| step | seconds |\n| --- | --- |");
    for (const s of first.executed) console.log(`| ${s.name} | ${(s.ms / 1000).toFixed(1)} |`);

    const noop = await apply(site.run());
    console.log(
      `\nNo-op re-apply: ${seconds(noop.totalMs)}, remote commands executed: ${noop.executed.length}${noop.executed.map((e) => ` ${e.name} (${e.op})`).join(",")}`,
    );

    // BENCH_ONLY (releases, data) skips the request rates (for working on one section's figures).
    const only = process.env.BENCH_ONLY;
    if (only === undefined) {
      const base = `https://${site.host.ip}`;
      const rows: Array<[string, string]> = [
        ["Django view /notes (nginx → Gunicorn)", `${base}/notes`],
        ["static file via nginx (/static/notes/site.css)", `${base}/static/notes/site.css`],
        ["same file via Gunicorn (/gstatic/notes/site.css)", `${base}/gstatic/notes/site.css`],
      ];
      console.log(`\nwrk -t2 -c16 -d${duration}s over HTTPS from this machine to the host:`);
      console.log("| target | requests/s | mean latency |\n| --- | --- | --- |");
      for (const [label, url] of rows) {
        const r = wrk(url, duration);
        console.log(`| ${label} | ${r.rps.toFixed(0)} | ${r.latency} |`);
      }
    }

    const rootCa = tempFile("bench-pebble-root.pem", await site.pebble.rootPem());
    if (only !== "data") {
      console.log("\nReleases under load (8 clients reading /version over HTTPS, no pause):");
      console.log(await releaseTable(site, rootCa));
    }
    if (only !== "releases") {
      console.log("\nBackup and restore (database: host):");
      console.log(await dataTable(site, rootCa));
    }
  } finally {
    await site.stop();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
