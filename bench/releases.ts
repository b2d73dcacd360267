/**
 * The release figures of `npm run bench`: on a site serving v1, each kind of deploy under steady,
 * bounded load (8 clients reading /version over HTTPS without a pause): failed requests, apply time
 * (runner wall time, program start included) and the window in which both releases answered. Load
 * goes only to the local test host.
 */
import { ApplyResult, apply } from "../sandbox/runner";
import type { LocalSite } from "../sandbox/local-site";
import { rollbackOverrides } from "../sandbox/cli";
import { versionText } from "../sandbox/sample/repos";
import { LoadReport, overlapMs, startLoad } from "../sandbox/hosts/load";
import { waitForFinisher } from "../sandbox/site-state";

interface Row {
  label: string;
  overrides: (site: LocalSite) => Record<string, unknown>;
  /** The version live before, and the one that should be live after. */
  from: string;
  to: string;
  fails: boolean;
}

const ROWS: Row[] = [
  { label: "code-only deploy (v1 → v2)", overrides: () => ({ repoRef: "v2" }), from: "v1", to: "v2", fails: false },
  { label: "requirements change (v2 → v3: a new venv)", overrides: () => ({ repoRef: "v3" }), from: "v2", to: "v3", fails: false },
  {
    label: "rollback to a kept release (v3 → v2)",
    overrides: (site) => rollbackOverrides(site.run().statePath),
    from: "v3",
    to: "v2",
    fails: false,
  },
  { label: "failing migration (broken-migration)", overrides: () => ({ repoRef: "broken-migration" }), from: "v2", to: "v2", fails: true },
  { label: "import error in wsgi.py (broken-wsgi)", overrides: () => ({ repoRef: "broken-wsgi" }), from: "v2", to: "v2", fails: true },
  {
    label: "failing health check (unhealthy, healthCheckPath=/healthz)",
    overrides: () => ({ repoRef: "unhealthy", healthCheckPath: "/healthz" }),
    from: "v2",
    to: "v2",
    fails: true,
  },
];

async function underLoad(
  site: LocalSite,
  caFile: string,
  overrides: Record<string, unknown>,
): Promise<{ r: ApplyResult; report: LoadReport }> {
  const load = startLoad(site.host, { path: "/version", caFile, clients: 8, maxSeconds: 240 });
  await new Promise((res) => setTimeout(res, 1000));
  const r = await apply(site.run(overrides));
  // The old slot stops after the switch (its finisher): keep the load on until it has.
  await waitForFinisher(site);
  await new Promise((res) => setTimeout(res, 1000));
  return { r, report: await load.stop() };
}

/** Markdown table rows; throws when a deploy ends somewhere other than where the row says. */
export async function releaseTable(site: LocalSite, caFile: string): Promise<string> {
  const lines = [
    "| deploy | apply | steps run (s) | outcome | requests | failed | both releases answered |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of ROWS) {
    await waitForFinisher(site);
    const { r, report } = await underLoad(site, caFile, row.overrides(site));
    if (!!r.error !== row.fails)
      throw new Error(`${row.label}: expected ${row.fails ? "a failure" : "success"}, got ${r.error ?? "success"}`);
    const answered = Object.keys(report.bodies);
    if (!answered.includes(versionText(row.to)))
      throw new Error(`${row.label}: ${versionText(row.to)} never answered (${answered.join(", ")})`);
    const failedAt = r.executed.find((e) => !e.ok)?.name;
    const overlap = row.from === row.to ? "—" : `${overlapMs(report, versionText(row.from), versionText(row.to))} ms`;
    const steps = r.executed.map((e) => `${e.name} ${(e.ms / 1000).toFixed(1)}`).join(", ");
    lines.push(
      `| ${row.label} | ${(r.totalMs / 1000).toFixed(1)} s | ${steps} | ${failedAt ? `failed at ${failedAt}; ${row.to} kept serving` : `${row.to} serving`} | ${report.total} | ${report.failed} | ${overlap} |`,
    );
  }
  return lines.join("\n");
}
