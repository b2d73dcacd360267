/**
 * Releases that cannot break the site, on a real host under steady load (8 clients reading
 * /version without a pause): every way a release can fail — it does not compile, its WSGI module
 * raises, its migration fails, it answers its health check with a 503 — leaves the live release
 * serving with no failed request, and re-applying the last good ref, or a fixed new one, converges.
 * Also: rollback to a kept release, the SSH connection cut at every phase of the switch, a reboot
 * just after one, pruning, ref resolution, one deploy at a time, and the app user unable to make
 * root write anywhere. Needs root; one host (index 72); the tests run in order.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import { ApplyResult, StackRun, apply } from "../../sandbox/runner";
import { LocalSite, startLocalSite } from "../../sandbox/local-site";
import { rollbackOverrides } from "../../sandbox/cli";
import { layoutOf } from "../../components/layout";
import { versionText } from "../../sandbox/sample/repos";
import { Load, LoadReport, startLoad } from "../../sandbox/hosts/load";
import { livePrograms, programs, request, tempFile, waitFor } from "../../sandbox/hosts/site-checks";
import { MIN, changedFiles, liveState, names, settingsOf, waitForFinisher } from "./helpers";

const WWW = "https://www.example.com";
let site: LocalSite;
let rootCa: string;
let load: Load | undefined;

const sh = (cmd: string) => site.host.run(cmd);
const p = () => layoutOf(settingsOf(site));
const get = (path: string) => request(site.host, `${WWW}${path}`, { caFile: rootCa });
const commitOf = (tag: string) => site.repos.parentCommits[tag];
const version = async () => (await get("/version")).body.trim();

/** Apply under load; the load's report covers the apply and two seconds after it (the old slot stopping). */
async function underLoad(run: StackRun): Promise<{ r: ApplyResult; report: LoadReport }> {
  load = startLoad(site.host, { path: "/version", caFile: rootCa, clients: 8, maxSeconds: 180 });
  await new Promise((res) => setTimeout(res, 500));
  const r = await apply(run);
  await new Promise((res) => setTimeout(res, 2000));
  const report = await load.stop();
  load = undefined;
  return { r, report };
}

/** The apply left the live release where it was: the switch did not run, or ran and found it live. */
function expectNoSwitch(r: ApplyResult, before: { commit: string }) {
  if (!names(r).includes("app-switch")) return;
  const state = JSON.parse(fs.readFileSync(site.run().statePath, "utf8")) as { resources: { name: string; stdout: string }[] };
  expect(state.resources.find((x) => x.name === "app-switch")?.stdout).toContain(`release ${before.commit} is live in slot`);
}

const noFailure = (report: LoadReport) => expect({ failed: report.failed, failures: report.failures }).toEqual({ failed: 0, failures: {} });

beforeAll(async () => {
  site = await startLocalSite({ index: 72, name: "releases" });
  rootCa = tempFile("pebble-root.pem", await site.pebble.rootPem());
  const first = await apply(site.run({ repoRef: "v1" }));
  if (first.error) throw new Error(first.error);
}, 20 * MIN);

afterAll(async () => {
  await load?.stop();
  await site?.stop();
}, 2 * MIN);

describe("a release that fails leaves the live one serving, and re-applying the last good ref converges", () => {
  test.each([
    ["broken-syntax", "app-release", /SyntaxError/],
    ["broken-migration", "app-release", /this release's migration fails/],
    [
      "broken-wsgi",
      "app-switch",
      /release [0-9a-f]{40} is not healthy: its Gunicorn exited at start \(supervisord: \w+\)[\s\S]*What .*web-[ab] wrote[\s\S]*this release's wsgi.py raises at import/,
    ],
  ] as const)(
    "%s fails at %s, no request fails, v1 keeps serving",
    async (tag, step, why) => {
      const before = await liveState(site);
      const { r, report } = await underLoad(site.run({ repoRef: tag }));
      expect(r.error).toMatch(why);
      expect(r.executed.find((e) => !e.ok)?.name).toBe(step);
      noFailure(report);
      expect(Object.keys(report.bodies)).toEqual([versionText("v1")]);
      expect(await liveState(site)).toEqual(before);
      // Nothing of the failed release runs: the idle slot is gone again.
      await waitForFinisher(site);
      expect(Object.keys(await programs(site.host)).sort()).toEqual(["beat", `celery-${before.slot}`, `web-${before.slot}`]);
      // The last good ref again: converges without switching anything (v1 was live all along).
      const back = await apply(site.run({ repoRef: "v1" }));
      expect(back.error).toBeUndefined();
      expectNoSwitch(back, before);
      expect(await liveState(site)).toEqual(before);
      expect(await version()).toBe(versionText("v1"));
    },
    10 * MIN,
  );

  test(
    "a release that answers its health view with a 503 (healthCheckPath) is not switched to; the message says what it answered",
    async () => {
      const { r, report } = await underLoad(site.run({ repoRef: "unhealthy", healthCheckPath: "/healthz" }));
      expect(r.error).toMatch(/release [0-9a-f]{40} is not healthy: GET \/healthz answered 503/);
      noFailure(report);
      expect(await version()).toBe(versionText("v1"));
      const back = await apply(site.run({ repoRef: "v1" }));
      expect(back.error).toBeUndefined();
      expectNoSwitch(back, await liveState(site));
    },
    10 * MIN,
  );

  test(
    "a fixed new ref after the failures converges: the new release serves, no request failed",
    async () => {
      const { r, report } = await underLoad(site.run({ repoRef: "v2" }));
      expect(r.error).toBeUndefined();
      noFailure(report);
      expect(Object.keys(report.bodies).sort()).toEqual([versionText("v1"), versionText("v2")]);
      expect(await version()).toBe(versionText("v2"));
      expect(await liveState(site)).toMatchObject({ commit: commitOf("v2"), previous: commitOf("v1") });
    },
    10 * MIN,
  );
});

describe("rollback", () => {
  test(
    "rolling back deploys the previous commit, a kept release: no checkout work, no venv, no collectstatic; only the switch",
    async () => {
      await waitForFinisher(site);
      const overrides = rollbackOverrides(site.run().statePath);
      expect(overrides).toEqual({ repoRef: commitOf("v1") });
      const { r, report } = await underLoad(site.run(overrides));
      expect(r.error).toBeUndefined();
      noFailure(report);
      expect(names(r)).toEqual(["app-release", "app-switch", "code-checkout"]);
      const state = JSON.parse(fs.readFileSync(site.run().statePath, "utf8")) as { resources: { name: string; stdout: string }[] };
      const out = (n: string) => state.resources.find((x) => x.name === n)?.stdout ?? "";
      expect(out("code-checkout")).toContain(`release ${commitOf("v1")} is kept: reused`);
      expect(out("app-release")).toContain("already prepared with these settings");
      expect(await version()).toBe(versionText("v1"));
      expect(r.outputs).toMatchObject({ liveCommit: commitOf("v1"), previousCommit: commitOf("v2") });
      // And forward again.
      const fwd = await apply(site.run({ repoRef: "v2" }));
      expect(fwd.error).toBeUndefined();
      expect(await version()).toBe(versionText("v2"));
    },
    10 * MIN,
  );

  test("scripts/rollback.sh sets repoRef to the stack's previousCommit and runs pulumi up (a stub CLI records it)", () => {
    const dir = fs.mkdtempSync("/tmp/rollback-stub-");
    fs.writeFileSync(
      `${dir}/pulumi`,
      `#!/bin/bash\necho "$*" >>${dir}/calls\ncase "$*" in *"stack output previousCommit"*) echo ${commitOf("v1")};; esac\n`,
      { mode: 0o755 },
    );
    execFileSync("bash", ["scripts/rollback.sh", "qa"], {
      cwd: `${__dirname}/../..`,
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, DJANGO_DEPLOY_PULUMI: `${dir}/pulumi`, PULUMI_CONFIG_PASSPHRASE: "x" },
      stdio: "pipe",
    });
    const calls = fs.readFileSync(`${dir}/calls`, "utf8").trim().split("\n");
    expect(calls).toEqual([
      "stack output previousCommit --stack qa",
      `config set django-deploy:repoRef ${commitOf("v1")} --stack qa`,
      "up --yes --stack qa",
    ]);
  });
});

describe("the SSH connection cut in the middle of the switch: the live release keeps serving, the next up converges", () => {
  // [label, what the cut waits for, the template line that prints it]
  test.each([
    ["while the new release starts", "starting release", 'say "$program starting release $commit"'],
    ["after its health check, before the switch", "is healthy", 'say "$program is healthy ($answer)"'],
    ["just after nginx moved to it", "nginx now sends requests", 'say "nginx now sends requests to $program (release $commit)"'],
    ["after Celery and beat moved to it", "celery worker (slot", 'say "celery worker (slot $slot) and beat run release $commit"'],
  ])(
    "%s",
    async (_label, marker, sayLine) => {
      await waitForFinisher(site);
      const before = await liveState(site);
      const target = before.commit === commitOf("v2") ? "v4" : "v2";
      // A pause after the line the cut waits for: the runner cuts while the script is still at that
      // point (after the last one, the commit comes a few milliseconds later, sooner than a loaded
      // machine's runner reacts).
      const filesDir = changedFiles({ "steps/app-switch.sh.eta": { from: `${sayLine}\n`, to: `${sayLine}\nsleep 3\n` } });
      const fault = { cutResource: "app-switch", onOutput: marker };
      const { r, report } = await underLoad(site.run({ repoRef: target }, { filesDir, fault }));
      expect(r.error).toContain("app-switch");
      noFailure(report);
      // The cut run undoes itself on the host (its writes fail): wait for it to let go of the lock.
      await waitForFinisher(site);
      expect(await liveState(site)).toEqual(before);
      expect(await version()).toBe(versionText(before.commit === commitOf("v2") ? "v2" : "v4"));
      const rollbackLog = await sh(`sudo cat ${p().state}/rollback.log`);
      expect(rollbackLog).toMatch(/rolling back the switch/);
      // The old ref again converges without a switch; the new ref: the switch, with no failed request.
      const old = await apply(site.run({ repoRef: before.commit === commitOf("v2") ? "v2" : "v4" }));
      expect(old.error).toBeUndefined();
      expectNoSwitch(old, before);
      const { r: again, report: report2 } = await underLoad(site.run({ repoRef: target }));
      expect(again.error).toBeUndefined();
      noFailure(report2);
      expect(await version()).toBe(versionText(target));
    },
    10 * MIN,
  );

  test(
    "a reboot just after a switch: the host comes back serving what the state says",
    async () => {
      const r = await apply(site.run({ repoRef: "v2" }));
      expect(r.error).toBeUndefined();
      await site.host.reboot();
      await waitFor("the site after reboot", 120_000, async () => (await get("/celery")).status === 200);
      expect(await version()).toBe(versionText("v2"));
      expect((await liveState(site)).commit).toBe(commitOf("v2"));
      await waitFor("every live program RUNNING", 30_000, async () =>
        Object.values(await livePrograms(site.host)).every((x) => x.state === "RUNNING"),
      );
      const none = await apply(site.run({ repoRef: "v2" }));
      expect(none.executed).toEqual([]);
    },
    10 * MIN,
  );
});

describe("releases kept, and refs", () => {
  test(
    "keepReleases: the newest deployed, the live one and the one before are kept; older releases are pruned",
    async () => {
      for (const ref of ["v3", "v4", "v2"]) {
        const r = await apply(site.run({ repoRef: ref, keepReleases: 2 }));
        expect(r.error).toBeUndefined();
      }
      await waitForFinisher(site);
      const present = (await sh(`ls ${p().releases}`)).trim().split("\n");
      // v1 and v3 were live and are no longer kept: gone. (The broken releases, never live, wait a day.)
      expect(present).toEqual(expect.arrayContaining([commitOf("v2"), commitOf("v4")]));
      expect(present).not.toContain(commitOf("v1"));
      expect(present).not.toContain(commitOf("v3"));
      expect((await liveState(site)).keep.sort()).toEqual([commitOf("v2"), commitOf("v4")].sort());
    },
    10 * MIN,
  );

  test(
    "a tag wins over a branch of the same name; a full SHA is that commit; an abbreviated SHA works when it names one commit",
    async () => {
      await site.repos.setParentBranch("v4", "v3"); // a branch named like the tag v4, pointing elsewhere
      const r = await apply(site.run({ repoRef: "v4" }));
      expect(r.error).toBeUndefined();
      expect(r.outputs.liveCommit).toBe(commitOf("v4"));
      const state = JSON.parse(fs.readFileSync(site.run().statePath, "utf8")) as { resources: { name: string; stderr: string }[] };
      expect(state.resources.find((x) => x.name === "code-checkout")?.stderr).toContain("is both a tag");
      expect((await apply(site.run({ repoRef: commitOf("v3") }))).outputs.liveCommit).toBe(commitOf("v3"));
      expect((await apply(site.run({ repoRef: commitOf("v2").slice(0, 12) }))).outputs.liveCommit).toBe(commitOf("v2"));
    },
    10 * MIN,
  );

  test(
    "an abbreviated SHA that names two commits fails, saying it is ambiguous (and nothing moves)",
    async () => {
      // Commits on a branch of their own until two share their first four hex digits.
      const git = (...a: string[]) => execFileSync("git", ["-C", site.repos.parentBare, ...a], { encoding: "utf8" }).trim();
      const tree = git("rev-parse", `${commitOf("v1")}^{tree}`);
      const seen = new Map<string, string>();
      let parent = commitOf("v1");
      let prefix = "";
      for (let i = 0; !prefix; i++) {
        const c = execFileSync(
          "git",
          [
            "-C",
            site.repos.parentBare,
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit-tree",
            tree,
            "-p",
            parent,
            "-m",
            `filler ${i}`,
          ],
          {
            encoding: "utf8",
          },
        ).trim();
        parent = c;
        const k = c.slice(0, 4);
        if (seen.has(k)) prefix = k;
        seen.set(k, c);
      }
      git("update-ref", "refs/heads/fillers", parent);
      const before = await liveState(site);
      const r = await apply(site.run({ repoRef: prefix }));
      expect(r.error).toMatch(new RegExp(`'${prefix}' is ambiguous: it abbreviates \\d+ commits`));
      expect(await liveState(site)).toEqual(before);
    },
    10 * MIN,
  );
});

describe("one deploy at a time per site", () => {
  test(
    "a second deploy against the same host waits for the first; the switches never interleave",
    async () => {
      await waitForFinisher(site);
      const other = {
        ...site.run({ repoRef: "v2" }),
        statePath: `${site.workDir}/other-stack.json`,
        logPath: `${site.workDir}/other-stack.log`,
      };
      const events: string[] = [];
      const a = apply(site.run({ repoRef: "v4" }), { onStep: (e) => events.push(`A ${e.phase} ${e.name}`) });
      await waitFor("A's switch to start", 60_000, () => Promise.resolve(events.includes("A start app-switch")));
      const b = apply(other, { onStep: (e) => events.push(`B ${e.phase} ${e.name}`) });
      const [ra, rb] = await Promise.all([a, b]);
      expect([ra.error, rb.error]).toEqual([undefined, undefined]);
      // B's first step could only finish once A's switch was over (it waited for the site's lock).
      expect(events.indexOf("B finish code-checkout")).toBeGreaterThanOrEqual(0);
      expect(events.indexOf("A finish app-switch")).toBeLessThan(events.indexOf("B finish code-checkout"));
      expect(await version()).toBe(versionText("v2"));
    },
    10 * MIN,
  );

  test(
    "the wait is bounded: a deploy that cannot get the lock in deployLockTimeout fails, saying who holds it",
    async () => {
      await waitForFinisher(site);
      const holder = site.host.exec(`sudo flock ${p().lock} sleep 25`);
      await new Promise((res) => setTimeout(res, 1000));
      const r = await apply(site.run({ repoRef: "v4", deployLockTimeout: 10 }));
      expect(r.error).toMatch(
        /another deploy of example\.com is running on this host \(it holds \/run\/django-deploy\/example\.com\.lock\); gave up after 10 s/,
      );
      await holder;
      expect(await version()).toBe(versionText("v2"));
    },
    5 * MIN,
  );
});
