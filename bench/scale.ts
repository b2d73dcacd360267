/**
 * The scale-out figures of `npm run bench` (alone: `npm run bench:scale`): on a local fleet
 * (sandbox/multi-site.ts: a data host, haproxy standing in for the ALB, three app hosts), a rolling
 * code-only deploy on one app host and on three, each under steady, bounded load through the load
 * balancer (8 clients reading /whoami over HTTPS without a pause): apply time, the time from the
 * first switch's start to the last one's end, requests and failed requests. Then requests/s through
 * the load balancer (wrk, BENCH_WRK_SECONDS each, default 10) with one, two and three app hosts
 * registered: /version and /notes (bound by CPU: every host shares this machine's cores, so more
 * hosts add no cores), and /wait (100 ms of waiting per request: bound by Gunicorn workers, which
 * each host adds). Load goes only to
 * the local test hosts, bounded in time. Prints markdown; docs/benchmarks.md records the figures.
 */
import { execFileSync } from "child_process";
import { wrk } from "./wrk";
import { ApplyResult, StepEvent, apply } from "../sandbox/runner";
import { MultiSite, startMultiSite } from "../sandbox/multi-site";
import { startLoad } from "../sandbox/hosts/load";
import type { TestHost } from "../sandbox/hosts/testhost";

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The switch steps of the first `n` hosts, host 1 first (host N ≥ 2 gets the suffix -hN). */
const switches = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? "app-switch" : `app-switch-h${i + 1}`));

/** Apply with the times each step started and finished. */
async function timedApply(fleet: MultiSite, overrides: Record<string, unknown>) {
  const at: Record<string, { start: number; end: number }> = {};
  const onStep = (e: StepEvent) => {
    const t = (at[e.name] ??= { start: 0, end: 0 });
    if (e.phase === "start") t.start = Date.now();
    else t.end = Date.now();
  };
  const r: ApplyResult = await apply(fleet.run(overrides), { onStep });
  if (r.error) throw new Error(`apply ${JSON.stringify(overrides.repoRef)}: ${r.error}`);
  return { r, at };
}

async function rollingRow(fleet: MultiSite, label: string, hosts: TestHost[], overrides: Record<string, unknown>): Promise<string> {
  await fleet.waitForFinishers(hosts);
  const load = startLoad(fleet.lb.host, { path: "/whoami", caFile: fleet.lb.caPath, clients: 8, maxSeconds: 300 });
  await new Promise((res) => setTimeout(res, 1000));
  const { r, at } = await timedApply(fleet, overrides);
  // The old slots stop after the switches (their finishers): keep the load on until they have.
  await fleet.waitForFinishers(hosts);
  await new Promise((res) => setTimeout(res, 1000));
  const report = await load.stop();
  const sw = switches(hosts.length).map((n) => at[n]);
  if (sw.some((t) => !t?.end)) throw new Error(`${label}: not every host switched (${r.executed.map((e) => e.name).join(", ")})`);
  const rolling = Math.max(...sw.map((t) => t.end)) - Math.min(...sw.map((t) => t.start));
  const perSwitch = switches(hosts.length)
    .map((n) => `${n} ${((at[n].end - at[n].start) / 1000).toFixed(1)}`)
    .join(", ");
  return `| ${label} | ${seconds(r.totalMs)} | ${seconds(rolling)} (${perSwitch}) | ${report.total} | ${report.failed} |`;
}

async function main() {
  // BENCH_ONLY=releases or data (bench/deploy.ts's sections) leaves this one out of `npm run bench`.
  if (process.env.BENCH_ONLY !== undefined && process.env.BENCH_ONLY !== "scale") return;
  const duration = Number(process.env.BENCH_WRK_SECONDS ?? 10);
  const t0 = Date.now();
  const fleet = await startMultiSite({ index: 115, name: "sbench" });
  try {
    const [h1] = fleet.apps;
    console.log(
      `machine: ${execFileSync("nproc", { encoding: "utf8" }).trim()} cores; data host, load balancer and ${fleet.apps.length} app hosts booted and provisioned: ${seconds(Date.now() - t0)}`,
    );

    // One app host behind the load balancer.
    await fleet.setTargets([h1]);
    const one = await timedApply(fleet, { ...fleet.fleetOf(1), repoRef: "v1" });
    await fleet.waitHealthy([h1]);
    const rows = [await rollingRow(fleet, "1 host (v1 → v2)", [h1], { ...fleet.fleetOf(1), repoRef: "v2" })];

    // Scale out to three (v3: the new hosts provisioned, host 1 gets a new venv), then the same kind of deploy.
    const out = await timedApply(fleet, { repoRef: "v3" });
    await fleet.setTargets(fleet.apps);
    await fleet.waitHealthy();
    rows.push(await rollingRow(fleet, "3 hosts (v3 → v4)", fleet.apps, { repoRef: "v4" }));

    console.log(
      `\nFresh app host → serving behind the load balancer: ${seconds(one.r.totalMs)}; 1 → 3 hosts (v3): ${seconds(out.r.totalMs)}`,
    );
    console.log("\nRolling code-only deploy under load (8 clients reading /whoami through the load balancer, no pause):");
    console.log(
      "| fleet | apply | first switch start → last switch end (each switch, s) | requests | failed |\n| --- | --- | --- | --- | --- |",
    );
    for (const row of rows) console.log(row);

    console.log(`\nwrk -t2 -c16 -d${duration}s over HTTPS through the load balancer:`);
    console.log(
      "| app hosts registered | /version requests/s | mean latency | /notes requests/s | mean latency | /wait requests/s | mean latency |\n| --- | --- | --- | --- | --- | --- | --- |",
    );
    for (let n = 1; n <= fleet.apps.length; n++) {
      await fleet.setTargets(fleet.apps.slice(0, n));
      await fleet.waitHealthy(fleet.apps.slice(0, n));
      const v = wrk(`https://${fleet.lb.address}/version`, duration);
      const notes = wrk(`https://${fleet.lb.address}/notes`, duration);
      const wait = wrk(`https://${fleet.lb.address}/wait`, duration);
      console.log(
        `| ${n} | ${v.rps.toFixed(0)} | ${v.latency} | ${notes.rps.toFixed(0)} | ${notes.latency} | ${wait.rps.toFixed(0)} | ${wait.latency} |`,
      );
    }
  } finally {
    await fleet.stop();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
