/**
 * Scale-out on real hosts: the real index.ts, run by the sandbox runner, deploys the sample to three
 * local app hosts (the existing-servers fleet: `hosts`, `sshHostKeys`, `trustedProxies`) behind a
 * local haproxy standing in for the ALB, with PostgreSQL and Redis on a data host reached over TLS
 * with passwords, as RDS and ElastiCache are (sandbox/multi-site.ts). Everything is checked from
 * outside through the load balancer — which host answered (/whoami), static files from each host's
 * nginx, a Celery round trip through the shared broker, one beat — then rolling deploys under
 * steady load through the load balancer: a release that fails its health check on host 2 only, the
 * next good ref (with a migration that must run exactly once) converging every host, a host powered
 * off (a deploy then waits ~3 minutes for it: pulumi-command dials 11 times, 15 s each; the test
 * checks the beat's period meanwhile). Needs root; five hosts (indexes 110-114), shared by every
 * test here; the tests run in order.
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
/** Two Gunicorn workers per slot: three hosts, each with two slots during a switch, share two cores here. */
const run = (overrides: Record<string, unknown> = {}) =>
  fleet.run({ healthCheckTimeout: HEALTH_CHECK_TIMEOUT, gunicornWorkers: 2, ...overrides });
/** A GET through the load balancer (the site's name resolved to it, TLS verified against its CA). */
const viaLb = (path: string) => request(fleet.lb.host, `${WWW}${path}`, { caFile: fleet.lb.caPath });
const sql = (query: string) => fleet.data.psql(query);

type TimedApply = ApplyResult & { started: Record<string, number>; finished: Record<string, number> };

/** Apply, recording when each step started and finished (ms since the epoch); `onStep` sees every event too. */
async function applyTimed(r: StackRun, onStep?: (e: StepEvent) => void): Promise<TimedApply> {
  const started: Record<string, number> = {};
  const finished: Record<string, number> = {};
  const record = (e: StepEvent) => {
    (e.phase === "start" ? started : finished)[e.name] = Date.now();
    onStep?.(e);
  };
  const result = { ...(await apply(r, { onStep: record })), started, finished };
  const ref = r.config["django-deploy:repoRef"];
  console.log(
    `scale.test.ts: apply ${ref}: ${(result.totalMs / 1000).toFixed(1)} s${result.error ? " (failed)" : ""}; ` +
      result.executed.map((e) => `${e.name} ${(e.ms / 1000).toFixed(1)}${e.ok ? "" : " FAILED"}`).join(", "),
  );
  for (const name of Object.keys(started))
    if (name.startsWith("app-switch")) switchTimes.push(`${name} ${started[name] / 1000}-${finished[name] / 1000}`);
  return result;
}
/** When every switch ran (s since the epoch), to read beat ticks against. */
const switchTimes: string[] = [];

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

/**
 * The beat ticks sent in the next `seconds` (the data host's clock; every host shares this machine's).
 * A tick is recorded when a worker runs it, which on a loaded machine can be seconds after beat sent
 * it: wait until one sent after the window has been recorded (the worker has caught up), up to 60 s.
 */
async function beatTicks(seconds: number): Promise<Array<{ origin: string; sent: number }>> {
  const from = Number((await sql("select extract(epoch from now())")).trim());
  await new Promise((res) => setTimeout(res, seconds * 1000));
  const caughtUp = `select count(*) from fleet_beattick where sent_at >= to_timestamp(${from + seconds})`;
  for (let waited = 0; (await sql(caughtUp)).trim() === "0"; waited++) {
    if (waited === 60) throw new Error(`no beat tick sent after the ${seconds} s window was recorded within 60 s`);
    await new Promise((res) => setTimeout(res, 1000));
  }
  const rows = await sql(
    `select origin, extract(epoch from sent_at) from fleet_beattick where sent_at >= to_timestamp(${from}) and sent_at < to_timestamp(${from + seconds}) order by sent_at`,
  );
  return rows
    .trim()
    .split("\n")
    .map((l) => l.split("|"))
    .map(([origin, sent]) => ({ origin, sent: Number(sent) }));
}

/** The app host (0-based) powered off at the moment, if any: no finisher to wait for there. */
let poweredOff = -1;

/** Apply under steady load through the load balancer; the report covers the apply and the switches' finishers. */
async function underLoad(r: StackRun, onStep?: (e: StepEvent) => void): Promise<{ r: TimedApply; report: LoadReport }> {
  startLbLoad();
  await new Promise((res) => setTimeout(res, 500));
  const result = await applyTimed(r, onStep);
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

  test("beat runs on host 1 only: its program and process there, none elsewhere, and every tick so far sent by it", async () => {
    for (const [i, h] of fleet.apps.entries()) {
      const beat = (await programs(h)).beat;
      // As the app user: the login shell running pgrep names the pattern too.
      const processes = Number((await h.run(`pgrep -c -u ${fleet.settingsOf().appUser} -f 'celery -A example beat' || true`)).trim());
      expect({ host: h.name, beatRunning: beat?.state === "RUNNING", processes }).toEqual({
        host: h.name,
        beatRunning: i === 0,
        processes: i === 0 ? 1 : 0,
      });
    }
    const ticks = (await sql("select beat_host, count(*) from fleet_beattick group by beat_host")).trim().split("\n");
    expect(ticks).toEqual([expect.stringMatching(new RegExp(`^${fleet.apps[0].name}\\|\\d+$`))]);
  });

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
    "a release that fails its health check on host 2: host 1 switched, the rollout stopped there, host 3 untouched, 0 failed requests",
    async () => {
      await fleet.apps[1].writeFile(UNHEALTHY_MARKER, "this host's /healthz answers 503 in the unhealthy-marked version\n");
      const v4 = commitOf("v4");
      const { r, report } = await underLoad(run({ repoRef: "unhealthy-marked" }));
      expect(r.error).toMatch(/app-switch-h2[\s\S]*release [0-9a-f]{40} is not healthy: GET \/healthz answered 503/);
      expect(r.executed.filter((e) => !e.ok).map((e) => e.name)).toEqual(["app-switch-h2"]);
      expect(names(r)).toContain("app-switch");
      expect(names(r)).not.toContain("app-switch-h3");
      noFailure(report);
      const hosts = hostNames();
      expect(Object.keys(report.bodies).sort()).toEqual(
        [whoami(hosts[0], "unhealthy-marked"), ...hosts.map((h) => whoami(h, "v4"))].sort(),
      );
      expect(await fleet.liveCommits()).toEqual([commitOf("unhealthy-marked"), v4, v4]);
      // Host 2 kept serving its live release: the load balancer never lost it.
      await fleet.waitHealthy();
    },
    10 * MIN,
  );

  test(
    "the next up, with a good ref (a new release with a migration), converges every host in turn: 0 failed requests, the migration ran exactly once, on host 1",
    async () => {
      // The marker stays: the good release's health view does not read it.
      const { r, report } = await underLoad(run({ repoRef: "counted-migration" }));
      expect(r.error).toBeUndefined();
      noFailure(report);
      expectSwitchedInTurn(r, ["app-switch", "app-switch-h2", "app-switch-h3"]);
      for (const other of ["app-release-h2", "app-release-h3"]) {
        expect({ other, afterHost1: r.started[other] >= r.finished["app-release"] }).toEqual({ other, afterHost1: true });
      }
      // Every host ended on the new release, host 1 first, then 2, then 3.
      const hosts = hostNames();
      const firstNew = hosts.map((h) => report.bodies[whoami(h, "counted-migration")]?.first);
      expect(firstNew.every((t) => t !== undefined)).toBe(true);
      expect([...firstNew].sort((a, b) => a - b)).toEqual(firstNew);
      expect(await sql("select host, count(*) from fleet_migrationrun where name = 'counted-migration' group by host")).toBe(
        `${fleet.apps[0].name}|1\n`,
      );
      const cm = commitOf("counted-migration");
      expect(await fleet.liveCommits()).toEqual([cm, cm, cm]);
      expect(r.outputs.liveCommits).toEqual([cm, cm, cm]);
      await fleet.apps[1].run(`sudo rm -f ${shq(UNHEALTHY_MARKER)}`);
    },
    10 * MIN,
  );

  test(
    "a host powered off: the load balancer routes around it, a deploy fails at that host only (meanwhile beat ticks once per period); powered on, up converges it",
    async () => {
      const [h1, h2, h3] = fleet.apps;
      const v3 = commitOf("v3");
      const cm = commitOf("counted-migration");
      startLbLoad();
      await fleet.powerOff(2, { hard: true });
      poweredOff = 2;
      const down = await fleet.lb.waitForTarget(h3.ip, "unhealthy", 30_000);
      const detecting = await stopLoad();
      console.log(
        `scale.test.ts: host 3 powered off → target ${down.status} (${down.check}); ${detecting.failed}/${detecting.total} requests failed meanwhile`,
      );

      let h2Switched = () => undefined as void;
      const switched = new Promise<void>((res) => (h2Switched = res));
      const deploying = underLoad(run({ repoRef: "v3" }), (e) => e.phase === "finish" && e.name === "app-switch-h2" && h2Switched());
      // While the deploy waits for the powered-off host (pulumi-command dials it 11 times), host 1's
      // beat, moved by its switch, sends exactly one tick per period: a window of 60 s.
      await Promise.race([switched, deploying]);
      const ticks = await beatTicks(60);
      expect(new Set(ticks.map((t) => t.origin)).size).toBe(1);
      expect(ticks[0].origin).toMatch(new RegExp(`@${h1.name}$`));
      // Once per period: never two close together (a second beat), never a long silence (no beat).
      // Beat schedules each tick from the last one sent, so a loaded machine stretches periods a
      // little; the bounds leave room for that and none for a duplicate or a stopped beat.
      expect(ticks.length).toBeLessThanOrEqual(60 / TICK_PERIOD_S + 1);
      expect(ticks.length).toBeGreaterThanOrEqual((60 / TICK_PERIOD_S) * 0.6);
      const gaps = ticks.slice(1).map((t, i) => t.sent - ticks[i].sent);
      expect(Math.min(...gaps)).toBeGreaterThan(TICK_PERIOD_S * 0.75);
      expect(Math.max(...gaps)).toBeLessThan(TICK_PERIOD_S * 3);

      const { r, report } = await deploying;
      // After detection no request failed, and none reached the powered-off host.
      noFailure(report);
      expect(Object.keys(report.bodies).filter((b) => b.includes(`host=${h3.name} `))).toEqual([]);
      expect(r.executed.filter((e) => !e.ok).map((e) => e.name)).toEqual(["code-checkout-h3"]);
      expect(r.error).toMatch(/\(code-checkout-h3\): \w+ failed: after 10 failed attempts/);
      // The hosts that are up switched in turn before the unreachable one failed the apply.
      expectSwitchedInTurn(r, ["app-switch", "app-switch-h2"]);
      expect(await fleet.liveCommits([h1, h2])).toEqual([v3, v3]);

      startLbLoad();
      await fleet.powerOn(2);
      poweredOff = -1;
      await fleet.lb.waitForTarget(h3.ip, "healthy", 90_000);
      noFailure(await stopLoad());
      expect(await fleet.liveCommits([h3])).toEqual([cm]); // it came back serving what it served

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
    const rows = (await sql("select beat_host, extract(epoch from sent_at), origin from fleet_beattick order by sent_at"))
      .trim()
      .split("\n")
      .map((l) => l.split("|"));
    const sent = rows.map((r) => Number(r[1]));
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set([fleet.apps[0].name]));
    // Two beats alive together for a period would send two ticks less than half a period apart.
    const close = sent
      .slice(1)
      .flatMap((t, i) => (t - sent[i] < TICK_PERIOD_S / 2 ? [`${rows[i][2]} at ${sent[i]} → ${rows[i + 1][2]} at ${t}`] : []));
    if (close.length)
      console.log(
        await fleet.apps[0].run(
          "sudo grep -h 'beat: Starting\\|fleet.tasks.tick' /var/log/django-deploy/example.com/beat.log* | tail -400; sudo grep -h beat /var/log/supervisor/supervisord.log",
        ),
      );
    expect({ ticks: rows.length > 60, close }).toEqual({ ticks: true, close: [] });
  });
});
