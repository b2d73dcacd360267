/**
 * The real proof: the real index.ts, run by the sandbox runner (Pulumi mocks, remote commands
 * executed over SSH with pulumi-command's semantics), deploys the sample project onto a fresh
 * Debian 12 host; the site is checked from outside through nginx with TLS from Pebble, and the
 * host from inside. Then re-applies, changes, faults, reboot, destroy. Needs root; never skips.
 * The tests run in order and share one host (index 71).
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import { ApplyResult, apply, destroy } from "../../sandbox/runner";
import { LocalSite, startLocalSite } from "../../sandbox/local-site";
import { parseConfig } from "../../components/config";
import { RenderedHostFile, renderHostFiles } from "../../components/host-files";
import { layoutOf } from "../../components/layout";
import { stepPlan } from "../../components/plan";
import { FIXTURE_DIR, versionText } from "../../sandbox/sample/repos";
import { peerCertificate, programs, request, tempFile, tlsAccepts, waitFor } from "../../sandbox/hosts/site-checks";

const MIN = 60_000;
const WWW = "https://www.example.com";
/** The sample's stack runs every step of the plan (it has no repository deploy key). */
const allSteps = () => stepPlan(settingsOf()).map((st) => st.name);

let site: LocalSite;
let first: ApplyResult;
let rootCa: string;

const names = (r: ApplyResult) => r.executed.map((e) => e.name).sort();
const get = (path: string) => request(site.host, `${WWW}${path}`, { caFile: rootCa });
const sh = (cmd: string) => site.host.run(cmd);

/** Settings exactly as the program saw them, for comparing host files with what the templates render. */
function settingsOf(overrides: Record<string, unknown> = {}) {
  const run = site.run(overrides);
  const raw = Object.fromEntries(Object.entries(run.config).map(([k, v]) => [k.replace(/^django-deploy:/, ""), v]));
  return parseConfig(raw, new Set(run.secretKeys.map((k) => k.replace(/^django-deploy:/, "")))).settings;
}

/** Every rendered file the plan installs equals its template on the host, byte for byte, with the layout's mode and owner. */
async function expectHostFilesRendered(overrides: Record<string, unknown> = {}) {
  const s = settingsOf(overrides);
  const files = renderHostFiles(s);
  const p = layoutOf(s);
  const installed = stepPlan(s).flatMap((st) => st.installs.filter((n): n is RenderedHostFile => n in files));
  // The ACME bootstrap is replaced by the site at the same path once a certificate exists.
  for (const name of installed.filter((n) => n !== "acme-bootstrap.conf")) {
    const { path, mode, owner } = p.files[name];
    expect({ name, content: await sh(`sudo cat ${path}`) }).toEqual({ name, content: files[name] });
    expect({ name, stat: await sh(`sudo stat -c '%a %U:%G' ${path}`) }).toEqual({ name, stat: `${mode.replace(/^0/, "")} ${owner}\n` });
  }
}

beforeAll(async () => {
  site = await startLocalSite({ index: 71, name: "deploy" });
  rootCa = tempFile("pebble-root.pem", await site.pebble.rootPem());
  first = await apply(site.run());
}, 20 * MIN);

afterAll(async () => {
  await site?.stop();
}, 2 * MIN);

describe("a fresh host, first apply", () => {
  test("runs every step once, successfully", () => {
    expect(first.error).toBeUndefined();
    expect(names(first)).toEqual([...allSteps()].sort());
    expect(first.executed.every((e) => e.ok && e.op === "create")).toBe(true);
    expect(first.outputs.siteUrl).toBe("https://www.example.com/");
    expect(first.outputs.publicIp).toBe(site.host.ip);
    expect(String(first.outputs.deployedRef)).toContain(site.repos.parentCommits.v1);
  });

  test("the homepage comes from the homepage submodule", async () => {
    const r = await get("/");
    expect(r.status).toBe(200);
    expect(r.body).toBe(fs.readFileSync(`${FIXTURE_DIR}/homepage/index.html`, "utf8"));
  });

  test("/static/ is served by nginx itself, not by Gunicorn", async () => {
    const r = await get("/static/notes/site.css");
    expect(r.status).toBe(200);
    expect(r.body).toBe(fs.readFileSync(`${FIXTURE_DIR}/example-django/notes/static/notes/site.css`, "utf8"));
    expect(r.headers["cache-control"]).toBe("max-age=604800"); // nginx's `expires 7d`
    expect(await sh("sudo cat /srv/www/example.com/logs/gunicorn-access.log")).not.toContain("/static/notes/site.css");
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
    // curl verified the chain against Pebble's root in every request above (no -k); once more explicitly:
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

  test("web, celery and beat RUNNING under supervisord as the app user, exactly one beat", async () => {
    const progs = await programs(site.host);
    expect(Object.keys(progs).sort()).toEqual(["beat", "celery", "web"]);
    for (const [name, p] of Object.entries(progs)) {
      expect({ name, state: p.state }).toEqual({ name, state: "RUNNING" });
      expect({ name, user: (await sh(`ps -o user= -p ${p.pid}`)).trim() }).toEqual({ name, user: "django" });
    }
    expect((await sh("pgrep -u django -f 'celery -A example beat' | wc -l")).trim()).toBe("1");
    expect(await sh("pgrep -u root -f 'gunicorn|celery' || true")).toBe("");
  });

  test("only SSH, HTTP and HTTPS listen beyond loopback; Gunicorn is a unix socket, Redis is local", async () => {
    const listeners = (await sh("sudo ss -Hltn"))
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[3]);
    const external = listeners.filter((a) => !/^(127\.\d+\.\d+\.\d+|\[::1\]):\d+$/.test(a));
    expect(new Set(external.map((a) => a.replace(/^.*:/, "")))).toEqual(new Set(["22", "80", "443"]));
    expect(listeners).toContain("127.0.0.1:6379");
    expect(await sh("sudo stat -c '%F %U:%G' /srv/www/example.com/run/gunicorn.sock")).toBe("socket django:www-data\n");
    expect(await sh("stat -c '%a' /srv/www/example.com/run")).toBe("2750\n");
  });

  test(".server.envrc is 0600 and owned by the app user", async () => {
    expect(await sh("sudo stat -c '%a %U:%G' /srv/www/example.com/.server.envrc")).toBe("600 django:django\n");
    expect((await site.host.exec("cat /srv/www/example.com/.server.envrc")).code).not.toBe(0);
  });

  test("manage.py check --deploy reports no warning", async () => {
    const out = await sh(
      "cd /srv/www/example.com/example-django && sudo -u django /srv/www/example.com/runinenv.sh python manage.py check --deploy --fail-level WARNING 2>&1",
    );
    expect(out).toContain("System check identified no issues");
  });

  test("every managed file on the host is exactly its rendered template", async () => {
    await expectHostFilesRendered();
  });

  test("no appEnv secret appears in any log, on the host or in the deploy log", async () => {
    const secret = site.appEnv.SECRET_KEY;
    // The pattern goes on stdin: on the command line, sudo itself would log it to the journal.
    const found = await site.host.exec("sudo grep -rlF -f - /srv/www/example.com/logs /var/log /etc/nginx /etc/supervisor", {
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

  test("Redis binds to localhost and never evicts broker keys", async () => {
    expect(await sh("redis-cli CONFIG GET bind")).toMatch(/127\.0\.0\.1/);
    expect(await sh("redis-cli CONFIG GET maxmemory-policy")).toContain("noeviction");
  });
});

describe("re-applies", () => {
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
      expect(await sh("grep client_max_body_size /etc/nginx/sites-available/example.com.conf")).toContain("client_max_body_size 7M;");
      await expectHostFilesRendered({ clientMaxBodySize: "7M" });
      const back = await apply(site.run());
      expect(names(back)).toEqual(["web-nginx-site"]);
    },
    5 * MIN,
  );

  test(
    "a new repoRef deploys the new code; Gunicorn reloads gracefully; the venv is left alone",
    async () => {
      const before = await programs(site.host);
      const r = await apply(site.run({ repoRef: "v2" }));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["app-release", "app-supervisor", "code-checkout"]);
      expect((await get("/version")).body.trim()).toBe(versionText("v2"));
      const after = await programs(site.host);
      expect(after.web.pid).toBe(before.web.pid); // same master: HUP, not a restart
      expect(after.celery.pid).not.toBe(before.celery.pid);
      expect(await sh("sudo grep -c 'Handling signal: hup' /srv/www/example.com/logs/web.log")).not.toBe("0\n");
      expect(await sh("sudo -u django git -C /srv/www/example.com rev-parse HEAD")).toBe(`${site.repos.parentCommits.v2}\n`);
    },
    5 * MIN,
  );

  test(
    "a requirements change re-syncs the venv",
    async () => {
      const r = await apply(site.run({ repoRef: "v3" }));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["app-release", "app-supervisor", "code-checkout", "env-venv"]);
      expect((await get("/version")).body.trim()).toBe(versionText("v3"));
    },
    5 * MIN,
  );
});

describe("faults", () => {
  test.each(["web", "celery", "beat"])(
    "kill -9 of %s: supervisord brings it back within 10 s",
    async (name) => {
      const before = (await programs(site.host))[name];
      expect(before.state).toBe("RUNNING");
      await sh(`sudo kill -9 ${before.pid}`);
      const t0 = Date.now();
      await waitFor(`${name} restarted`, 10_000, async () => {
        const p = (await programs(site.host))[name];
        return p && p.pid !== before.pid && p.pid > 0 ? p : undefined;
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
        const p = await programs(site.host);
        return Object.values(p).length === 3 && Object.values(p).every((x) => x.state === "RUNNING") ? p : undefined;
      });
      expect(Object.keys(progs).sort()).toEqual(["beat", "celery", "web"]);
      expect((await get("/celery")).status).toBe(200);
    },
    2 * MIN,
  );

  test(
    "a step cut midway (SSH connection lost): the next apply converges to a clean run's files",
    async () => {
      const cut = await apply(site.run({ repoRef: "v2" }, { fault: { cutResource: "app-release", afterMs: 800 } }));
      expect(cut.error).toBeDefined();
      expect(cut.executed.find((e) => e.name === "app-release")?.ok).toBe(false);
      expect(names(cut)).not.toContain("app-supervisor");
      // Let the orphaned remote process finish, as it would after a real network cut.
      await new Promise((r) => setTimeout(r, 5000));
      const again = await apply(site.run({ repoRef: "v2" }));
      expect(again.error).toBeUndefined();
      expect(names(again)).toEqual(["app-release", "app-supervisor"]);
      await expectHostFilesRendered({ repoRef: "v2" });
      expect((await get("/version")).body.trim()).toBe(versionText("v2"));
      const none = await apply(site.run({ repoRef: "v2" }));
      expect(none.executed).toEqual([]);
    },
    10 * MIN,
  );

  test(
    "a step holding a secret fails midway: its error carries no secret; new settings restart the programs",
    async () => {
      const appEnv = { ...site.appEnv, SECRET_KEY: `rotated-${randomBytes(30).toString("base64url")}` };
      const before = await programs(site.host);
      const cut = await apply(site.run({ repoRef: "v2", appEnv }, { fault: { cutResource: "env-server-env", afterMs: 1 } }));
      expect(cut.error).toContain("env-server-env");
      expect(cut.error).not.toContain(appEnv.SECRET_KEY);
      expect(cut.error).not.toContain(site.appEnv.SECRET_KEY);
      const again = await apply(site.run({ repoRef: "v2", appEnv }));
      expect(again.error).toBeUndefined();
      expect(names(again)).toEqual(["app-release", "app-supervisor", "env-server-env"]);
      expect((await programs(site.host)).web.pid).not.toBe(before.web.pid); // new settings: a restart, not a HUP
      const log = fs.readFileSync(site.run().logPath!, "utf8");
      expect(log).not.toContain(appEnv.SECRET_KEY);
      const back = await apply(site.run({ repoRef: "v2" }));
      expect(names(back)).toEqual(["app-release", "app-supervisor", "env-server-env"]);
      expect((await get("/celery")).status).toBe(200);
    },
    10 * MIN,
  );

  test(
    "rebooting the host: the site comes back without a new apply",
    async () => {
      await site.host.reboot();
      const r = await waitFor("the site after reboot", 120_000, async () => {
        const c = await get("/celery");
        return c.status === 200 ? c : undefined;
      });
      expect(r.body).toMatch(/^celery ok/);
      expect((await get("/version")).body.trim()).toBe(versionText("v2"));
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
      const live = await destroy(site.run({ repoRef: "v2" }, { statePath: copy }));
      expect(live.error).toBeUndefined();
      expect(JSON.parse(fs.readFileSync(copy, "utf8")).resources).toEqual([]);

      await site.host.stop();
      const gone = await destroy(site.run({ repoRef: "v2" }));
      expect(gone.error).toBeUndefined();
      expect(gone.executed).toEqual([]); // no step has a remote delete: nothing needs the host
      expect(JSON.parse(fs.readFileSync(statePath, "utf8")).resources).toEqual([]);
    },
    5 * MIN,
  );
});
