/**
 * Scale-out on real hosts: the real index.ts, run by the sandbox runner, deploys the sample to three
 * local app hosts (the existing-servers fleet: `hosts`, `sshHostKeys`, `trustedProxies`) behind a
 * local haproxy standing in for the ALB, with PostgreSQL and Redis on a data host reached over TLS
 * with passwords, as RDS and ElastiCache are (sandbox/multi-site.ts). Everything is checked from
 * outside through the load balancer — which host answered (/whoami), static files from each host's
 * nginx, a Celery round trip through the shared broker, one beat — then rolling deploys under
 * steady load through the load balancer: a migration that must run exactly once, a release that
 * fails its health check on host 2 only, a host powered off. Needs root; five hosts (indexes
 * 110-114), shared by every test here; the tests run in order.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import { ApplyResult, StackRun, StepEvent, apply } from "../../sandbox/runner";
import { MultiSite, startMultiSite } from "../../sandbox/multi-site";
import { layoutOf } from "../../components/layout";
import { FIXTURE_DIR } from "../../sandbox/sample/repos";
import { UNHEALTHY_MARKER } from "../../sandbox/sample/versions";
import { Load, LoadReport, startLoad } from "../../sandbox/hosts/load";
import { programs, request } from "../../sandbox/hosts/site-checks";
import { shq } from "../../sandbox/hosts/testhost";
import { MIN, names } from "./helpers";

const WWW = "https://www.example.com";
/** The sample's beat schedule: fleet.tasks.tick every 2 s (example/celery.py). */
const TICK_PERIOD_S = 2;
/** Every run gives a failing release this long to answer its health check (the default 30 s would only slow the tests). */
const HEALTH_CHECK_TIMEOUT = 15;

let fleet: MultiSite;
let first: TimedApply;
let load: Load | undefined;
const hostNames = () => fleet.apps.map((h) => h.name);
const commitOf = (tag: string) => fleet.repos.parentCommits[tag];
const run = (overrides: Record<string, unknown> = {}) => fleet.run({ healthCheckTimeout: HEALTH_CHECK_TIMEOUT, ...overrides });
/** A GET through the load balancer (the site's name resolved to it, TLS verified against its CA). */
const viaLb = (path: string) => request(fleet.lb.host, `${WWW}${path}`, { caFile: fleet.lb.caPath });
const sql = (query: string) => fleet.data.psql(query);

type TimedApply = ApplyResult & { started: Record<string, number>; finished: Record<string, number> };

/** Apply, recording when each step started and finished (ms since the epoch). */
async function applyTimed(r: StackRun): Promise<TimedApply> {
  const started: Record<string, number> = {};
  const finished: Record<string, number> = {};
  const onStep = (e: StepEvent) => ((e.phase === "start" ? started : finished)[e.name] = Date.now());
  return { ...(await apply(r, { onStep })), started, finished };
}

/** Hosts switched one at a time, in order: each switch started after the previous host's had finished. */
function expectSwitchedInTurn(r: TimedApply, steps: string[]) {
  for (let i = 1; i < steps.length; i++) {
    const [prev, next] = [steps[i - 1], steps[i]];
    expect({ next, startedAfterPrevFinished: r.started[next] >= r.finished[prev] }).toEqual({ next, startedAfterPrevFinished: true });
  }
}

/** Steady load through the load balancer: 6 clients reading /whoami ("host=… version=…") without a pause. */
function startLbLoad(): Load {
  load = startLoad(fleet.lb.host, { path: "/whoami", caFile: fleet.lb.caPath, clients: 6, maxSeconds: 300 });
  return load;
}
async function stopLoad(): Promise<LoadReport> {
  const report = await load!.stop();
  load = undefined;
  return report;
}
const noFailure = (report: LoadReport) => expect({ failed: report.failed, failures: report.failures }).toEqual({ failed: 0, failures: {} });
const whoami = (host: string, tag: string) => `host=${host} version=${tag}`;

/** The app host (0-based) powered off at the moment, if any: no finisher to wait for there. */
let poweredOff = -1;

/** Apply under steady load through the load balancer; the report covers the apply and the switches' finishers. */
async function underLoad(r: StackRun): Promise<{ r: TimedApply; report: LoadReport }> {
  startLbLoad();
  await new Promise((res) => setTimeout(res, 500));
  const result = await applyTimed(r);
  await fleet.waitForFinishers(fleet.apps.filter((_, i) => i !== poweredOff));
  await new Promise((res) => setTimeout(res, 1000));
  return { r: result, report: await stopLoad() };
}
beforeAll(async () => {
  const t0 = Date.now();
  fleet = await startMultiSite({ index: 110, name: "scale" });
  const booted = Date.now();
  first = await applyTimed(run());
  console.log(`scale.test.ts: 5 hosts booted and provisioned in ${(booted - t0) / 1000} s, first apply ${first.totalMs / 1000} s`);
  if (first.error) throw new Error(first.error);
  await fleet.waitHealthy();
}, 15 * MIN);

afterAll(async () => {
  await load?.stop();
  await fleet?.stop();
}, 3 * MIN);

describe("three app hosts behind the load balancer", () => {
  test("the first apply provisions every host: host 1's steps keep their names, the others' end in -h2, -h3; no Certbot", () => {
    expect(first.error).toBeUndefined();
    expect(first.executed.every((e) => e.ok && e.op === "create")).toBe(true);
    const ran = names(first);
    for (const step of ["host-wait", "host-packages", "code-checkout", "env-venv", "app-release", "app-switch", "web-nginx-site"]) {
      expect({ step, hosts: [step, `${step}-h2`, `${step}-h3`].filter((n) => ran.includes(n)) }).toEqual({
        step,
        hosts: [step, `${step}-h2`, `${step}-h3`],
      });
    }
    // The load balancer terminates TLS; PostgreSQL and Redis are the data host's.
    expect(ran.filter((n) => /^(web-acme-bootstrap|web-certificate|data-postgres)/.test(n))).toEqual([]);
    expect(ran.filter((n) => /-h[4-9]$/.test(n))).toEqual([]);
  });

  test("migrations ran on host 1 before any other host's release tasks; hosts switched one at a time", () => {
    for (const other of ["app-release-h2", "app-release-h3"]) {
      expect({ other, afterHost1: first.started[other] >= first.finished["app-release"] }).toEqual({ other, afterHost1: true });
    }
    expectSwitchedInTurn(first, ["app-switch", "app-switch-h2", "app-switch-h3"]);
  });

  test("the outputs list every host and the commit each serves", async () => {
    const v4 = commitOf("v4");
    expect(first.outputs).toMatchObject({ hostAddresses: fleet.apps.map((h) => h.ip), liveCommits: [v4, v4, v4], liveCommit: v4 });
    expect(await fleet.liveCommits()).toEqual([v4, v4, v4]);
  });

  test("the site is served through the load balancer by all three hosts, each a healthy target", async () => {
    startLbLoad();
    await new Promise((res) => setTimeout(res, 4000));
    const report = await stopLoad();
    noFailure(report);
    expect(Object.keys(report.bodies).sort()).toEqual(hostNames().map((h) => whoami(h, "v4")));
    const targets = await fleet.lb.targets();
    expect(targets.map((t) => [t.address, t.health]).sort()).toEqual(fleet.apps.map((h) => [h.ip, "healthy"]).sort());
    for (const t of targets) expect({ target: t.address, served: t.total > 0 }).toEqual({ target: t.address, served: true });
  });

  test("static files come from each host's own nginx, never from Django", async () => {
    const css = fs.readFileSync(`${FIXTURE_DIR}/example-django/notes/static/notes/site.css`, "utf8");
    const probe = `probe-${randomBytes(6).toString("hex")}`;
    for (let i = 0; i < 6; i++) {
      const r = await viaLb(`/static/notes/site.css?${probe}`);
      expect({ status: r.status, body: r.body, cache: r.headers["cache-control"] }).toEqual({
        status: 200,
        body: css,
        cache: "max-age=604800",
      });
      expect(r.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/); // nginx's own ETag (mtime-size)
    }
    // The load balancer spread them (round robin): every host's nginx logged some, no Gunicorn any.
    for (const h of fleet.apps) {
      const logged = Number((await h.run(`sudo grep -c ${probe} /var/log/nginx/example.com.access.log || true`)).trim());
      const gunicorn = Number((await h.run(`sudo cat ${layoutOf(fleet.settingsOf()).logs}/* | grep -c ${probe} || true`)).trim());
      expect({ host: h.name, nginx: logged > 0, gunicorn }).toEqual({ host: h.name, nginx: true, gunicorn: 0 });
    }
  });

  test("a Celery round trip through the shared broker; every host runs a worker", async () => {
    const r = await viaLb("/celery");
    expect({ status: r.status, body: r.body }).toMatchObject({ status: 200, body: expect.stringMatching(/^celery ok: 20 \+ 22 = 42/) });
    const workers = await viaLb("/celery/workers");
    expect(JSON.parse(workers.body)).toEqual({ workers: hostNames().map((h) => `celery@${h}`) });
    const trip = await viaLb("/whoami/celery");
    expect(trip.body).toMatch(new RegExp(`^web=(${hostNames().join("|")}) worker=(${hostNames().join("|")})\\n$`));
  });

  test(
    "beat runs on host 1 only, and its task runs once per period",
    async () => {
      for (const [i, h] of fleet.apps.entries()) {
        const beat = (await programs(h)).beat;
        const processes = Number((await h.run("pgrep -c -f 'celery -A example beat' || true")).trim());
        expect({ host: h.name, beatRunning: beat?.state === "RUNNING", processes }).toEqual({
          host: h.name,
          beatRunning: i === 0,
          processes: i === 0 ? 1 : 0,
        });
      }
      // A window of 20 s of the data host's clock: 10 periods.
      const from = (await sql("select extract(epoch from now())")).trim();
      await new Promise((res) => setTimeout(res, 20_000));
      const rows = (
        await sql(
          `select beat_host, worker_host, extract(epoch from sent_at) from fleet_beattick where sent_at >= to_timestamp(${from}) and sent_at < to_timestamp(${from}) + interval '20 seconds' order by sent_at`,
        )
      )
        .trim()
        .split("\n")
        .map((l) => l.split("|"));
      expect(new Set(rows.map((r) => r[0]))).toEqual(new Set([fleet.apps[0].name]));
      // One beat sends one per period (two would send about twice as many).
      expect(rows.length).toBeGreaterThanOrEqual(20 / TICK_PERIOD_S - 2);
      expect(rows.length).toBeLessThanOrEqual(20 / TICK_PERIOD_S + 1);
      const gaps = rows.slice(1).map((r, i) => Number(r[2]) - Number(rows[i][2]));
      expect(Math.min(...gaps)).toBeGreaterThan(TICK_PERIOD_S * 0.75);
    },
    2 * MIN,
  );

  test("nginx takes the client's address and scheme from the load balancer only", async () => {
    // Through the load balancer: the client is this machine as the load balancer saw it; a forged
    // X-Forwarded-For from the client does not win.
    const r = await request(fleet.lb.host, `${WWW}/client`, { caFile: fleet.lb.caPath, headers: { "X-Forwarded-For": "203.0.113.9" } });
    expect(JSON.parse(r.body)).toMatchObject({ HTTP_X_REAL_IP: fleet.lb.host.gateway, HTTP_X_FORWARDED_PROTO: "https", secure: true });
    // The same headers from the load balancer's own address are believed; from another address (the
    // data host) they are not: the scheme stays http, so Django redirects to https.
    const forged = `curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: www.example.com' -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-For: 203.0.113.9' http://${fleet.apps[0].ip}/client`;
    expect(await fleet.data.host.run(forged)).toBe(`301 ${WWW}/client`);
    const fromLb = `curl -s -H 'Host: www.example.com' -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-For: 203.0.113.9' http://${fleet.apps[0].ip}/client`;
    expect(JSON.parse(await fleet.lb.host.run(fromLb))).toMatchObject({ HTTP_X_REAL_IP: "203.0.113.9", secure: true });
  });

  test("each host answers the health check for any Host header, as an ALB sends its target's address", async () => {
    for (const h of fleet.apps) {
      const out = await fleet.lb.host.run(`curl -s -w ' %{http_code}' -H 'Host: ${h.ip}' http://${h.ip}/healthz`);
      expect({ host: h.name, out }).toEqual({ host: h.name, out: "ok\n 200" });
    }
  });
});

describe("rolling deploys under steady load through the load balancer", () => {
  test(
    "a new release with a migration: every host switched in turn, 0 failed requests, the migration ran exactly once, on host 1",
    async () => {
      const { r, report } = await underLoad(run({ repoRef: "counted-migration" }));
      expect(r.error).toBeUndefined();
      noFailure(report);
      expectSwitchedInTurn(r, ["app-switch", "app-switch-h2", "app-switch-h3"]);
      // Every host served the old release, then the new one.
      const expected = hostNames().flatMap((h) => [whoami(h, "counted-migration"), whoami(h, "v4")]);
      expect(Object.keys(report.bodies).sort()).toEqual(expected.sort());
      const firstNew = hostNames().map((h) => report.bodies[whoami(h, "counted-migration")].first);
      expect([...firstNew].sort((a, b) => a - b)).toEqual(firstNew);
      expect(await sql("select host, count(*) from fleet_migrationrun where name = 'counted-migration' group by host")).toBe(
        `${fleet.apps[0].name}|1\n`,
      );
      const cm = commitOf("counted-migration");
      expect(await fleet.liveCommits()).toEqual([cm, cm, cm]);
      expect(r.outputs.liveCommits).toEqual([cm, cm, cm]);
    },
    10 * MIN,
  );

  test(
    "a release that fails its health check on host 2: the rollout stops there, 0 failed requests; the next up with a good ref converges",
    async () => {
      await fleet.apps[1].writeFile(UNHEALTHY_MARKER, "this host's /healthz answers 503 in the unhealthy-marked version\n");
      const cm = commitOf("counted-migration");
      const marked = commitOf("unhealthy-marked");
      const { r, report } = await underLoad(run({ repoRef: "unhealthy-marked" }));
      expect(r.error).toMatch(/app-switch-h2[\s\S]*release [0-9a-f]{40} is not healthy: GET \/healthz answered 503/);
      expect(r.executed.filter((e) => !e.ok).map((e) => e.name)).toEqual(["app-switch-h2"]);
      expect(names(r)).toContain("app-switch");
      expect(names(r)).not.toContain("app-switch-h3");
      noFailure(report);
      expect(Object.keys(report.bodies).filter((b) => b.endsWith("unhealthy-marked"))).toEqual([
        whoami(fleet.apps[0].name, "unhealthy-marked"),
      ]);
      expect(await fleet.liveCommits()).toEqual([marked, cm, cm]);
      await fleet.waitHealthy(); // host 2 kept serving its live release: the load balancer never lost it

      const good = await underLoad(run({ repoRef: "v4" }));
      expect(good.r.error).toBeUndefined();
      noFailure(good.report);
      expectSwitchedInTurn(good.r, ["app-switch", "app-switch-h2", "app-switch-h3"]);
      const v4 = commitOf("v4");
      expect(await fleet.liveCommits()).toEqual([v4, v4, v4]);
      expect(good.r.outputs.liveCommits).toEqual([v4, v4, v4]);
      await fleet.apps[1].run(`sudo rm -f ${shq(UNHEALTHY_MARKER)}`);
    },
    10 * MIN,
  );

  test(
    "a host powered off: the load balancer routes around it, a deploy fails at that host only; powered on, up converges it",
    async () => {
      const [h1, h2, h3] = fleet.apps;
      const v3 = commitOf("v3");
      const v4 = commitOf("v4");
      startLbLoad();
      await fleet.powerOff(2, { hard: true });
      poweredOff = 2;
      const down = await fleet.lb.waitForTarget(h3.ip, "unhealthy", 30_000);
      const detecting = await stopLoad();
      console.log(
        `scale.test.ts: host 3 powered off → target ${down.status} (${down.check}); ${detecting.failed}/${detecting.total} requests failed meanwhile`,
      );

      const { r, report } = await underLoad(run({ repoRef: "v3" }));
      // After detection no request failed, and none reached the powered-off host.
      noFailure(report);
      expect(Object.keys(report.bodies).filter((b) => b.includes(`host=${h3.name} `))).toEqual([]);
      const failedSteps = r.executed.filter((e) => !e.ok).map((e) => e.name);
      expect(failedSteps.length).toBeGreaterThan(0);
      expect(failedSteps.filter((n) => !n.endsWith("-h3"))).toEqual([]);
      expect(r.error).toMatch(/-h3\): \w+ failed/);
      // The hosts that are up were deployed before the unreachable one failed the apply.
      expect(await fleet.liveCommits([h1, h2])).toEqual([v3, v3]);

      startLbLoad();
      await fleet.powerOn(2);
      poweredOff = -1;
      await fleet.lb.waitForTarget(h3.ip, "healthy", 90_000);
      noFailure(await stopLoad());
      expect(await fleet.liveCommits([h3])).toEqual([v4]); // it came back serving what it served

      const again = await underLoad(run({ repoRef: "v3" }));
      expect(again.r.error).toBeUndefined();
      noFailure(again.report);
      expect(names(again.r).filter((n) => !n.endsWith("-h3"))).toEqual([]);
      expect(names(again.r)).toContain("app-switch-h3");
      expect(await fleet.liveCommits()).toEqual([v3, v3, v3]);
      expect(again.r.outputs.liveCommits).toEqual([v3, v3, v3]);
    },
    12 * MIN,
  );

  test("over every deploy above, beat ran on host 1 only and never twice in a period", async () => {
    const rows = (await sql("select beat_host, extract(epoch from sent_at) from fleet_beattick order by sent_at")).trim().split("\n");
    const sent = rows.map((l) => Number(l.split("|")[1]));
    expect(new Set(rows.map((l) => l.split("|")[0]))).toEqual(new Set([fleet.apps[0].name]));
    // Two beats alive together for a period would send two ticks less than half a period apart.
    const close = sent.slice(1).flatMap((t, i) => (t - sent[i] < TICK_PERIOD_S / 2 ? [`${sent[i]} → ${t}`] : []));
    expect({ ticks: rows.length > 60, close }).toEqual({ ticks: true, close: [] });
  });
});
