/**
 * The real proof: the real index.ts, run by the sandbox runner (Pulumi mocks, remote commands
 * executed over SSH with pulumi-command's semantics), deploys the sample project onto a fresh
 * Debian 12 host; the site is checked from outside through nginx with TLS from Pebble, and the
 * host from inside. Then re-applies and new releases under load, the recovery branches (nginx,
 * ACME), idempotence, faults, reboot, destroy. Needs root; never skips. The tests run in order and
 * share one host (index 71). Failed deploys, rollback and the switch's own faults: releases.test.ts.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import { ApplyResult, apply, destroy } from "../../sandbox/runner";
import { LocalSite, startLocalSite } from "../../sandbox/local-site";
import { layoutOf } from "../../components/layout";
import { stepPlan } from "../../components/plan";
import { FIXTURE_DIR, versionText } from "../../sandbox/sample/repos";
import { startPebble } from "../../sandbox/hosts/services";
import { livePrograms, peerCertificate, programs, request, tempFile, tlsAccepts, waitFor } from "../../sandbox/hosts/site-checks";
import { startLoad } from "../../sandbox/hosts/load";
import { MIN, changedFiles, expectHostFilesRendered, liveState, names, settingsOf, waitForFinisher } from "./helpers";

const WWW = "https://www.example.com";

let site: LocalSite;
let first: ApplyResult;
let rootCa: string;

const get = (path: string) => request(site.host, `${WWW}${path}`, { caFile: rootCa });
const sh = (cmd: string) => site.host.run(cmd);
const p = () => layoutOf(settingsOf(site));

beforeAll(async () => {
  site = await startLocalSite({ index: 71, name: "deploy" });
  rootCa = tempFile("pebble-root.pem", await site.pebble.rootPem());
  first = await apply(site.run());
}, 20 * MIN);

afterAll(async () => {
  await site?.stop();
}, 2 * MIN);

describe("a fresh host, first apply", () => {
  test("runs every step of the plan once, successfully; the outputs name the live release", () => {
    expect(first.error).toBeUndefined();
    expect(names(first)).toEqual(
      stepPlan(settingsOf(site))
        .map((st) => st.name)
        .sort(),
    );
    expect(first.executed.every((e) => e.ok && e.op === "create")).toBe(true);
    const v1 = site.repos.parentCommits.v1;
    expect(first.outputs).toMatchObject({
      siteUrl: "https://www.example.com/",
      publicIp: site.host.ip,
      liveCommit: v1,
      previousCommit: "",
      keptReleases: [v1],
    });
    expect(String(first.outputs.deployedRef)).toContain(v1);
  });

  test("the homepage comes from the homepage submodule", async () => {
    const r = await get("/");
    expect(r.status).toBe(200);
    expect(r.body).toBe(fs.readFileSync(`${FIXTURE_DIR}/homepage/index.html`, "utf8"));
  });

  test("/static/ is served by nginx itself from the static pool, not by Gunicorn", async () => {
    const r = await get("/static/notes/site.css");
    expect(r.status).toBe(200);
    expect(r.body).toBe(fs.readFileSync(`${FIXTURE_DIR}/example-django/notes/static/notes/site.css`, "utf8"));
    expect(r.headers["cache-control"]).toBe("max-age=604800"); // nginx's `expires 7d`
    expect(await sh(`sudo cat ${p().logs}/gunicorn-access.log`)).not.toContain("/static/notes/site.css");
    expect(await sh(`sudo cat ${p().static}/notes/site.css`)).toBe(r.body);
  });

  test("an uploaded file is served from /media/", async () => {
    const file = tempFile("hello.txt", "uploaded through Django, served by nginx\n");
    const up = await request(site.host, `${WWW}/upload`, { caFile: rootCa, form: { file: `@${file}` } });
    expect(up.status).toBe(200);
    const { url } = JSON.parse(up.body) as { url: string };
    expect(url).toMatch(/^\/media\/uploads\/hello.*\.txt$/);
    const r = await get(url);
    expect(r.status).toBe(200);
    expect(r.body).toBe("uploaded through Django, served by nginx\n");
  });

  test("Django views answer through nginx and Gunicorn, with the fixture loaded", async () => {
    expect((await get("/version")).body.trim()).toBe(versionText("v1"));
    const notes = await get("/notes");
    expect(notes.status).toBe(200);
    const fixture = JSON.parse(fs.readFileSync(`${FIXTURE_DIR}/example-django/notes/fixtures/quickstart.json`, "utf8"));
    expect(notes.body).toContain(fixture[0].fields.title);
  });

  test("a Celery task round trip through Redis", async () => {
    const r = await get("/celery");
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/^celery ok: 20 \+ 22 = 42/);
  });

  test(
    "beat has run its schedule",
    async () => {
      const r = await waitFor("a beat heartbeat", 60_000, async () => {
        const b = await get("/beat");
        return /count \d+/.test(b.body) ? b : undefined;
      });
      expect(r.body).toMatch(/^beat: \d{4}-/);
    },
    2 * MIN,
  );

  test("http → https and apex → www redirects", async () => {
    const cases: Array<[string, string]> = [
      ["http://example.com/notes?x=1", `${WWW}/notes?x=1`],
      ["http://www.example.com/notes", `${WWW}/notes`],
      ["https://example.com/notes", `${WWW}/notes`],
    ];
    for (const [from, to] of cases) {
      const r = await request(site.host, from, { caFile: rootCa });
      expect({ from, status: r.status, location: r.headers.location }).toEqual({ from, status: 301, location: to });
    }
  });

  test("the certificate was issued by Pebble for both names, verifies against Pebble's root", async () => {
    const text = await peerCertificate(site.host, "www.example.com");
    expect(text).toMatch(/Issuer: .*Pebble/);
    expect(text).toMatch(/DNS:www\.example\.com/);
    expect(text).toMatch(/DNS:example\.com/);
    await expect(request(site.host, `${WWW}/healthz`, { caFile: rootCa })).resolves.toMatchObject({ status: 200 });
    await expect(request(site.host, `${WWW}/healthz`, { caFile: site.pebble.caBundlePath })).rejects.toThrow();
  });

  test("TLS 1.0 and 1.1 are refused, 1.2 and 1.3 accepted", async () => {
    expect(await tlsAccepts(site.host, "tls1")).toBe(false);
    expect(await tlsAccepts(site.host, "tls1_1")).toBe(false);
    expect(await tlsAccepts(site.host, "tls1_2")).toBe(true);
    expect(await tlsAccepts(site.host, "tls1_3")).toBe(true);
  });

  test("HSTS, no server version, dotfiles denied", async () => {
    const r = await get("/");
    expect(r.headers["strict-transport-security"]).toBe("max-age=63072000");
    expect(r.headers.server).toBe("nginx");
    expect((await get("/.git/config")).status).toBe(403);
    expect((await get("/static/.secret")).status).toBe(403);
  });

  test("the live slot's Gunicorn, its Celery worker and one beat RUNNING as the app user; nothing of the app as root", async () => {
    const live = await livePrograms(site.host);
    for (const [role, prog] of Object.entries(live)) {
      expect({ role, state: prog.state }).toEqual({ role, state: "RUNNING" });
      expect({ role, user: (await sh(`ps -o user= -p ${prog.pid}`)).trim() }).toEqual({ role, user: "django" });
    }
    expect((await sh("pgrep -u django -f 'celery -A example beat' | wc -l")).trim()).toBe("1");
    expect(await sh("pgrep -u root -f 'gunicorn|celery' || true")).toBe("");
  });

  test("only SSH, HTTP and HTTPS listen beyond loopback; Gunicorn is a unix socket behind live.sock, Redis listens on no port", async () => {
    const listeners = (await sh("sudo ss -Hltn"))
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[3]);
    const external = listeners.filter((a) => !/^(127\.\d+\.\d+\.\d+|\[::1\]):\d+$/.test(a));
    expect(new Set(external.map((a) => a.replace(/^.*:/, "")))).toEqual(new Set(["22", "80", "443"]));
    expect(listeners.filter((a) => a.endsWith(":6379"))).toEqual([]); // Redis: its unix socket only
    const { slot } = await liveState(site);
    expect(await sh(`readlink ${p().liveSocket}`)).toBe(`run/web-${slot}.sock\n`);
    expect(await sh(`sudo stat -c '%F %U:%G' ${p().socket(slot)}`)).toBe("socket django:www-data\n");
    expect(await sh(`stat -c '%a' ${p().run}`)).toBe("2750\n");
  });

  test("the release: the parent and its submodules at the commit, exported (no .git), owned by the build user, on its venv", async () => {
    const { commit } = await liveState(site);
    const release = p().release(commit);
    expect(await sh(`readlink ${p().current}`)).toBe(`${release}\n`);
    expect(
      await sh(
        `test -f ${release}/README.md && test -f ${release}/example-django/manage.py && test -f ${release}/homepage/index.html && echo ok`,
      ),
    ).toBe("ok\n");
    expect((await site.host.exec(`test -e ${release}/.git`)).code).not.toBe(0);
    expect(await sh(`stat -c '%U' ${release} ${release}/example-django/manage.py`)).toBe("django-build\ndjango-build\n");
    const hash = (await sh(`sha256sum ${release}/example-django/requirements.txt | cut -d' ' -f1`)).trim();
    expect(await sh(`readlink ${release}/ENV`)).toBe(`../../venvs/${hash}\n`);
    expect(await sh(`test -f ${p().venvs}/${hash}/.django-deploy-venv && echo built`)).toBe("built\n");
  });

  test("the app user can write only media/, var/, logs/ and run/ (and its home)", async () => {
    // Symlinks are skipped: `-writable` judges their target (live.sock's is the app's own socket), and a
    // symlink in a directory of root's cannot be changed by anyone else.
    const writable = (
      await sh(
        `sudo -u django find ${p().site} /etc/supervisor /etc/nginx /var/log/django-deploy /var/lib/django-deploy -maxdepth 3 \\( -type l -prune \\) -o -writable -print 2>/dev/null | sort`,
      )
    )
      .trim()
      .split("\n");
    const allowed = [p().media, p().var, p().logs, p().run].map((d) => new RegExp(`^${d}(/|$)`));
    expect(writable.filter((f) => !allowed.some((a) => a.test(f)))).toEqual([]);
    expect(await sh(`sudo stat -c '%U:%G %a' ${p().site} ${p().etc} ${p().envrc}`)).toBe(
      "root:root 755\nroot:django 750\nroot:django 640\n",
    );
    expect((await site.host.exec(`cat ${p().envrc}`)).code).not.toBe(0); // not even the admin user reads it
  });

  test("manage.py check --deploy reports no warning", async () => {
    const out = await sh(
      `cd ${p().current}/example-django && sudo -u django ${p().runinenv} python manage.py check --deploy --fail-level WARNING 2>&1`,
    );
    expect(out).toContain("System check identified no issues");
  });

  test("every managed file on the host is exactly its rendered template", async () => {
    await expectHostFilesRendered(site);
  });

  test("no appEnv secret appears in any log, on the host or in the deploy log", async () => {
    const secret = site.appEnv.SECRET_KEY;
    // The pattern goes on stdin: on the command line, sudo itself would log it to the journal.
    const found = await site.host.exec(`sudo grep -rlF -f - ${p().logs} /var/log /etc/nginx /etc/supervisor /var/lib/django-deploy`, {
      stdin: `${secret}\n`,
    });
    expect(found.stdout).toBe("");
    expect(found.code).toBe(1); // grep: searched, no match
    expect(fs.readFileSync(site.run().logPath!, "utf8")).not.toContain(secret);
    expect(JSON.stringify(first)).not.toContain(secret);
  });
});

describe("host hardening", () => {
  test("SSH: keys only, no root login (sshd's effective configuration)", async () => {
    const eff = await sh("sudo sshd -T");
    expect(eff).toMatch(/^passwordauthentication no$/m);
    expect(eff).toMatch(/^kbdinteractiveauthentication no$/m);
    expect(eff).toMatch(/^permitrootlogin no$/m);
    expect(eff).toMatch(/^allowtcpforwarding no$/m);
    expect(eff).toMatch(/^maxauthtries 3$/m);
  });

  test("the kernel takes no redirects and logs martians", async () => {
    const sysctl =
      "cat /proc/sys/net/ipv4/conf/all/accept_redirects /proc/sys/net/ipv4/conf/all/send_redirects /proc/sys/net/ipv4/conf/all/log_martians";
    expect(await sh(sysctl)).toBe("0\n0\n1\n");
  });

  test("security updates install themselves (unattended-upgrades)", async () => {
    expect(await sh("dpkg-query -W -f='${Status}' unattended-upgrades")).toBe("install ok installed");
    const cfg = await sh("apt-config dump APT::Periodic");
    expect(cfg).toContain('APT::Periodic::Unattended-Upgrade "1";');
    expect(cfg).toContain('APT::Periodic::Update-Package-Lists "1";');
  });

  test("supervisord is controlled through a 0700 unix socket only", async () => {
    expect(await sh("sudo stat -L -c '%a %U' /var/run/supervisor.sock")).toBe("700 root\n");
    expect(await sh("grep -rh '^\\[inet_http_server\\]' /etc/supervisor/ || true")).toBe("");
  });

  test("Redis: a unix socket for its group only (the app user is in it, other local users are not), no TCP port, no eviction", async () => {
    const cli = `redis-cli -s ${p().redisSocket}`;
    expect(await sh(`sudo -u redis ${cli} CONFIG GET port`)).toBe("port\n0\n");
    expect(await sh(`sudo -u redis ${cli} CONFIG GET maxmemory-policy`)).toContain("noeviction");
    expect(await sh(`sudo stat -c '%a %U %G' ${p().redisSocket}`)).toBe("770 redis redis\n");
    expect(await sh("ss -Hltn | grep -c ':6379 ' || true")).toBe("0\n");
    expect(await sh(`sudo -u django ${cli} PING`)).toBe("PONG\n");
    const other = await site.host.exec(`sudo -u nobody ${cli} PING`);
    expect(`${other.stdout}${other.stderr}`).toMatch(/Permission denied/);
    // Celery is on the socket: the envrc the program wrote names it (appEnv does not set a broker).
    const envrc = await sh(`sudo cat ${p().envrc}`);
    expect(envrc).toContain(`export CELERY_BROKER_URL='redis+socket://${p().redisSocket}?virtual_host=0'`);
  });
});

describe("re-applies and new releases", () => {
  test(
    "with no change, zero remote commands run",
    async () => {
      const r = await apply(site.run());
      expect(r.error).toBeUndefined();
      expect(r.executed).toEqual([]);
    },
    5 * MIN,
  );

  test(
    "changing clientMaxBodySize re-runs only the nginx site step",
    async () => {
      const r = await apply(site.run({ clientMaxBodySize: "7M" }));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["web-nginx-site"]);
      expect(await sh(`grep client_max_body_size ${p().nginxSite}`)).toContain("client_max_body_size 7M;");
      await expectHostFilesRendered(site, { clientMaxBodySize: "7M" });
      const back = await apply(site.run());
      expect(names(back)).toEqual(["web-nginx-site"]);
    },
    5 * MIN,
  );

  test(
    "a new repoRef under load: the new release in the other slot, no request failed, the venv left alone, the old slot stopped after",
    async () => {
      const before = await liveState(site);
      const beforePrograms = await livePrograms(site.host);
      const load = startLoad(site.host, { path: "/version", caFile: rootCa, maxSeconds: 120 });
      const r = await apply(site.run({ repoRef: "v2" }));
      await new Promise((res) => setTimeout(res, 2000));
      const report = await load.stop();
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["app-release", "app-switch", "code-checkout"]);
      expect({ failed: report.failed, failures: report.failures }).toEqual({ failed: 0, failures: {} });
      expect(Object.keys(report.bodies).sort()).toEqual([versionText("v1"), versionText("v2")]);
      expect(report.bodies[versionText("v2")].last).toBeGreaterThan(report.bodies[versionText("v1")].last);
      const after = await liveState(site);
      expect(after).toMatchObject({ commit: site.repos.parentCommits.v2, previous: before.commit, slot: before.slot === "a" ? "b" : "a" });
      expect(r.outputs).toMatchObject({ liveCommit: site.repos.parentCommits.v2, previousCommit: before.commit });
      await waitForFinisher(site);
      const progs = await livePrograms(site.host);
      expect(progs.web.pid).not.toBe(beforePrograms.web.pid);
      expect(progs.celery.pid).not.toBe(beforePrograms.celery.pid);
      expect(Object.keys(await programs(site.host)).sort()).toEqual(["beat", `celery-${after.slot}`, `web-${after.slot}`]);
      expect((await get("/version")).body.trim()).toBe(versionText("v2"));
    },
    5 * MIN,
  );

  test(
    "a requirements change builds a new venv beside the old one; the release uses it",
    async () => {
      const r = await apply(site.run({ repoRef: "v3" }));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["app-release", "app-switch", "code-checkout", "env-venv"]);
      expect((await get("/version")).body.trim()).toBe(versionText("v3"));
      const venvs = (await sh(`ls ${p().venvs}`)).trim().split("\n");
      expect(venvs).toHaveLength(2); // v1/v2 share one; v3 has its own; both releases are kept
      await expectHostFilesRendered(site, { repoRef: "v3" });
    },
    5 * MIN,
  );
});

describe("recovery branches, for real", () => {
  test(
    "a new nginx config that fails nginx -t is refused and the working one keeps serving; the good one converges",
    async () => {
      const before = await sh(`sudo cat ${p().nginxSite}`);
      // In every server block: the template has one per kind of site (behind a load balancer, TLS, plain).
      const filesDir = changedFiles({
        "nginx/site.conf.eta": { from: "    server_tokens off;\n", to: "    server_tokens off;\n    this_is_not_a_directive on;\n" },
      });
      const bad = await apply(site.run({ repoRef: "v3" }, { filesDir }));
      expect(names(bad)).toEqual(["web-nginx-site"]);
      expect(bad.error).toContain("failed nginx -t; the previous one stays");
      expect(await sh(`sudo cat ${p().nginxSite}`)).toBe(before);
      expect((await get("/version")).body.trim()).toBe(versionText("v3"));
      expect((await site.host.exec("sudo nginx -t -q")).code).toBe(0);
      const good = await apply(site.run({ repoRef: "v3" }));
      expect(good.error).toBeUndefined();
      expect(good.executed).toEqual([]); // the state kept the working config: nothing to do
    },
    5 * MIN,
  );

  test(
    "the ACME bootstrap is skipped when a certificate exists: re-run, it leaves the site as it is",
    async () => {
      const before = await sh(`sudo sha256sum ${p().nginxSite}`);
      const r = await apply(site.run({ repoRef: "v3" }, { replace: ["web-acme-bootstrap"] }));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["web-acme-bootstrap"]);
      const state = JSON.parse(fs.readFileSync(site.run().statePath, "utf8")) as { resources: { name: string; stdout: string }[] };
      expect(state.resources.find((x) => x.name === "web-acme-bootstrap")?.stdout).toContain("certificate present; bootstrap not needed");
      expect(await sh(`sudo sha256sum ${p().nginxSite}`)).toBe(before);
      expect((await get("/healthz")).status).toBe(200);
    },
    5 * MIN,
  );

  test(
    "a new ACME server gets a new certificate from the new CA (forced renewal), and back",
    async () => {
      const other = await startPebble(site.host, { id: "pebble2", acmePort: 14001, managementPort: 15001 });
      try {
        const otherRoot = tempFile("pebble2-root.pem", await other.rootPem());
        const r = await apply(
          site.run({ repoRef: "v3", acmeServer: other.directoryUrl, acmeCaBundle: `${site.pebble.caBundlePem}${other.caBundlePem}` }),
        );
        expect(r.error).toBeUndefined();
        expect(names(r)).toContain("web-certificate");
        await waitFor(
          "the new certificate",
          30_000,
          async () => (await request(site.host, `${WWW}/healthz`, { caFile: otherRoot })).status === 200,
        );
        await expect(request(site.host, `${WWW}/healthz`, { caFile: rootCa })).rejects.toThrow();
        const back = await apply(site.run({ repoRef: "v3" }));
        expect(back.error).toBeUndefined();
        await waitFor("the first CA's certificate again", 30_000, async () => (await get("/healthz")).status === 200);
      } finally {
        await other.stop();
      }
    },
    10 * MIN,
  );

  test(
    "idempotence: every step run again on the converged host says nothing changed and changes no managed file",
    async () => {
      const checksums = `sudo find ${p().site} /etc/supervisor/conf.d /etc/nginx/sites-available /etc/ssh/sshd_config.d /etc/sysctl.d /etc/apt/apt.conf.d /etc/letsencrypt/renewal-hooks ${p().state} \\( -path ${p().var} -o -path ${p().logs} -o -path ${p().media} -o -path ${p().run} -o -name '*.log' \\) -prune -o -type f -print0 | sort -z | sudo xargs -0 sha256sum`;
      await waitForFinisher(site);
      const before = await sh(checksums);
      const all = stepPlan(settingsOf(site, { repoRef: "v3" })).map((st) => st.name);
      const r = await apply(site.run({ repoRef: "v3" }, { replace: all }));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual([...all].sort());
      const state = JSON.parse(fs.readFileSync(site.run().statePath, "utf8")) as { resources: { name: string; stdout: string }[] };
      const changed = state.resources.flatMap((x) =>
        x.stdout
          .split("\n")
          .filter((l) => /^changed /.test(l))
          .map((l) => `${x.name}: ${l}`),
      );
      expect(changed).toEqual([]);
      await waitForFinisher(site);
      expect(await sh(checksums)).toBe(before);
    },
    10 * MIN,
  );
});

describe("faults", () => {
  test.each(["web", "celery", "beat"] as const)(
    "kill -9 of %s: supervisord brings it back within 10 s",
    async (role) => {
      const before = (await livePrograms(site.host))[role];
      expect(before.state).toBe("RUNNING");
      await sh(`sudo kill -9 ${before.pid}`);
      const t0 = Date.now();
      await waitFor(`${role} restarted`, 10_000, async () => {
        const now = (await livePrograms(site.host))[role];
        return now.pid !== before.pid && now.pid > 0 ? now : undefined;
      });
      expect(Date.now() - t0).toBeLessThan(10_000);
      await waitFor("the site answering", 20_000, async () => (await get("/celery")).status === 200);
    },
    2 * MIN,
  );

  test(
    "restarting supervisord brings every program back",
    async () => {
      await sh("sudo systemctl restart supervisor");
      const progs = await waitFor("all RUNNING", 60_000, async () => {
        const live = await livePrograms(site.host);
        return Object.values(live).every((x) => x.state === "RUNNING") ? live : undefined;
      });
      expect(progs.web.state).toBe("RUNNING");
      expect((await get("/celery")).status).toBe(200);
    },
    2 * MIN,
  );

  test(
    "a release step cut midway (SSH connection lost): the live release keeps serving; the next apply converges",
    async () => {
      const cut = await apply(site.run({ repoRef: "v4" }, { fault: { cutResource: "app-release", afterMs: 800 } }));
      expect(cut.error).toBeDefined();
      expect(cut.executed.find((e) => e.name === "app-release")?.ok).toBe(false);
      expect(names(cut)).not.toContain("app-switch");
      expect((await get("/version")).body.trim()).toBe(versionText("v3"));
      // Let the orphaned remote process finish, as it would after a real network cut.
      await waitForFinisher(site);
      const again = await apply(site.run({ repoRef: "v4" }));
      expect(again.error).toBeUndefined();
      expect(names(again)).toEqual(["app-release", "app-switch"]);
      await expectHostFilesRendered(site, { repoRef: "v4" });
      expect((await get("/version")).body.trim()).toBe(versionText("v4"));
      const none = await apply(site.run({ repoRef: "v4" }));
      expect(none.executed).toEqual([]);
    },
    10 * MIN,
  );

  test(
    "a step holding a secret fails midway: its error carries no secret; new settings start a new slot",
    async () => {
      const appEnv = { ...site.appEnv, SECRET_KEY: `rotated-${randomBytes(45).toString("base64url")}` };
      const before = await liveState(site);
      const cut = await apply(site.run({ repoRef: "v4", appEnv }, { fault: { cutResource: "env-server-env", afterMs: 1 } }));
      expect(cut.error).toContain("env-server-env");
      expect(cut.error).not.toContain(appEnv.SECRET_KEY);
      expect(cut.error).not.toContain(site.appEnv.SECRET_KEY);
      const again = await apply(site.run({ repoRef: "v4", appEnv }));
      expect(again.error).toBeUndefined();
      expect(names(again)).toEqual(["app-release", "app-switch", "env-server-env"]);
      expect((await liveState(site)).slot).not.toBe(before.slot); // new settings: new processes, beside the old ones
      const log = fs.readFileSync(site.run().logPath!, "utf8");
      expect(log).not.toContain(appEnv.SECRET_KEY);
      const back = await apply(site.run({ repoRef: "v4" }));
      expect(names(back)).toEqual(["app-release", "app-switch", "env-server-env"]);
      expect((await get("/celery")).status).toBe(200);
    },
    10 * MIN,
  );

  test(
    "rebooting the host: the live release comes back without a new apply",
    async () => {
      await waitForFinisher(site);
      await site.host.reboot();
      const r = await waitFor("the site after reboot", 120_000, async () => {
        const c = await get("/celery");
        return c.status === 200 ? c : undefined;
      });
      expect(r.body).toMatch(/^celery ok/);
      expect((await get("/version")).body.trim()).toBe(versionText("v4"));
      await waitFor("every live program RUNNING", 30_000, async () =>
        Object.values(await livePrograms(site.host)).every((x) => x.state === "RUNNING"),
      );
    },
    5 * MIN,
  );
});

describe("teardown", () => {
  test(
    "destroy completes while the host is up, and again after the host is gone",
    async () => {
      const statePath = site.run().statePath;
      const copy = `${statePath}.copy`;
      fs.copyFileSync(statePath, copy);
      const live = await destroy(site.run({ repoRef: "v4" }, { statePath: copy }));
      expect(live.error).toBeUndefined();
      expect(JSON.parse(fs.readFileSync(copy, "utf8")).resources).toEqual([]);

      await site.host.stop();
      const gone = await destroy(site.run({ repoRef: "v4" }));
      expect(gone.error).toBeUndefined();
      expect(gone.executed).toEqual([]); // no step has a remote delete: nothing needs the host
      expect(JSON.parse(fs.readFileSync(statePath, "utf8")).resources).toEqual([]);
    },
    5 * MIN,
  );
});
