/**
 * The pure renderers: snapshots of everything rendered for two representative configurations, and
 * properties over generated valid configurations checked with the real tools: shellcheck for every
 * shell script, `nginx -t` for every nginx site, supervisord's parser for the programs file, Python
 * for gunicorn.conf.py, and bash for the step command's quoting.
 */
import fc from "fast-check";
import { ParsedConfig, Settings } from "../../components/config";
import { RenderedHostFile, renderHostFiles, renderSwitchFinisher, stepCommand } from "../../components/host-files";
import { renderServerEnv } from "../../components/secret-files";
import { SLOTS, Slot, layoutOf, siteSlug } from "../../components/layout";
import { sitePlan } from "../../components/site-plan";
import { validRaw } from "./lib/arbitraries";
import { Raw, dataRaw, fleetRaw, parse, parseAll, plainRaw, problemsOf, scriptOf, stepNames, tlsCeleryRaw } from "./lib/fixtures";
import {
  NginxChecker,
  describeFindings,
  evalGunicornConfs,
  parseSupervisor,
  removeTemps,
  runBashHarness,
  shellcheck,
  splitNul,
  tempDir,
} from "./lib/tools";

jest.setTimeout(180_000);
afterAll(removeTemps);

/** Label, raw configuration, and the host of the fleet rendered (1 when absent). */
const REPRESENTATIVE: [string, () => Raw, number?][] = [
  ["tls-celery", tlsCeleryRaw],
  ["plain-http", plainRaw],
  ["data-s3", dataRaw],
  ["fleet-host-1", fleetRaw, 1],
  ["fleet-host-2", fleetRaw, 2],
];

describe.each(REPRESENTATIVE)("snapshots: %s", (_label, raw, host = 1) => {
  const parsed = parseAll(raw());
  const secrets = parsed.secrets;
  const s = sitePlan(parsed.settings)[host - 1].settings;

  test("the configuration is what the snapshots are meant to show", () => {
    if (s.fleet.count > 1) {
      expect([s.fleet.count, s.fleet.behindLoadBalancer, s.hostRole.number, s.celeryApp, s.redis]).toEqual([
        3,
        true,
        host,
        "example",
        "external",
      ]);
    } else if (s.database === "host") {
      expect([s.backupDestination, s.target.kind, s.backupS3Endpoint]).toEqual(["s3", "existing", "https://s3.example.net"]);
    } else if (s.tls) {
      expect([s.celeryApp, s.fixtures.length > 0, s.hasDeployKey, s.target.kind]).toEqual(["example", true, true, "existing"]);
    } else {
      expect([s.celeryApp, s.fixtures, s.hasDeployKey, s.target.kind]).toEqual([undefined, [], false, "ec2"]);
    }
  });

  test("step names", () => {
    expect(stepNames(s)).toMatchSnapshot();
  });

  const files = renderHostFiles(s);
  test.each(Object.keys(files) as RenderedHostFile[])("host file %s", (name) => {
    expect(files[name]).toMatchSnapshot();
  });

  test.each(stepNames(s))("step script %s", (step) => {
    expect(scriptOf(s, step)).toMatchSnapshot();
  });

  test("server envrc (secret values replaced by placeholders: no secret, even a fake one, in a snapshot)", () => {
    const placeholders = Object.fromEntries(Object.keys(secrets.appEnv).map((k) => [k, `<${k} from appEnv>`]));
    const text = renderServerEnv(s, placeholders);
    expect(text).toContain("export SECRET_KEY='<SECRET_KEY from appEnv>'");
    expect(text).toMatchSnapshot();
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over generated valid configurations

const RUNS = 40;
/** shellcheck takes ~50 ms of CPU per step script: fewer configurations, every script of each. */
const SHELLCHECK_RUNS = 30;

/** fast-check generates valid raw configurations; each must parse (asserted), and is collected. */
function generateAll(runs: number, extra: Raw[] = []): ParsedConfig[] {
  const out = extra.map(parseAll);
  fc.assert(
    fc.property(validRaw(), (raw) => {
      out.push(parseAll(raw)); // throws (and fast-check shrinks) when a valid configuration is refused
    }),
    { numRuns: runs },
  );
  // A fleet's host 2 renders differently (no beat, no migrations, host 1's commit): both are checked.
  return out.flatMap((c) => (c.settings.fleet.count > 1 ? [c, { ...c, settings: sitePlan(c.settings)[1].settings }] : [c]));
}
const generate = (runs: number, extra: Raw[] = []): Settings[] => generateAll(runs, extra).map((c) => c.settings);

const label = (s: Settings) => JSON.stringify(s);

describe("every rendered shell script passes shellcheck", () => {
  test(`step scripts, step commands, runinenv.sh, the certbot hook, the backup and restore commands and .server.envrc (${SHELLCHECK_RUNS} configurations)`, async () => {
    // Plus values that once tripped shellcheck or could: a leading "=", quotes, expansions, backslashes.
    const tricky = {
      ...tlsCeleryRaw(),
      database: "host",
      appEnv: JSON.stringify({
        A: "=x",
        B: "=",
        C: "a'b",
        D: "$(x) `y` ${z}",
        E: "\\",
        F: "-n",
        G: "",
        H: "~/x",
        I: "a\nb",
        J: "“x”\t#!",
        K: "*?[a]",
        L: "{a,b}",
        M: "' '",
      }),
    };
    // …and values that are also the names of common commands (shellcheck's SC2209 on `ref=test`).
    const commandLike = { ...plainRaw(), appUser: "tail", repoRef: "test", djangoDir: "make", homepageDir: "file" };
    const configs = generateAll(SHELLCHECK_RUNS, [...REPRESENTATIVE.map(([, r]) => r()), tricky, commandLike]);
    const all = configs.map((c) => c.settings);
    const scripts: Record<string, string> = {};
    const envrcs: Record<string, string> = {};
    all.forEach((s, i) => {
      const files = renderHostFiles(s);
      for (const step of stepNames(s)) {
        const script = scriptOf(s, step);
        scripts[`${i}:step ${step}`] = script;
        scripts[`${i}:command ${step}`] = stepCommand(script);
      }
      scripts[`${i}:runinenv.sh`] = files["runinenv.sh"];
      scripts[`${i}:certbot-deploy-hook.sh`] = files["certbot-deploy-hook.sh"];
      scripts[`${i}:switch-finisher.sh`] = renderSwitchFinisher(s);
      if (s.database === "host") {
        scripts[`${i}:backup`] = files.backup;
        scripts[`${i}:restore`] = files.restore;
      }
      envrcs[`${i}:.server.envrc`] = renderServerEnv(s, configs[i].secrets.appEnv);
    });
    // .server.envrc is data: values are single-quoted on purpose, so shellcheck's notes about
    // literal text in single quotes are expected there: SC2016 "expressions don't expand", SC1003
    // "want to escape a single quote?", SC2088 "tilde does not expand in quotes". Every other
    // finding, at every severity, fails.
    const [a, b] = await Promise.all([shellcheck(scripts), shellcheck(envrcs, { exclude: [2016, 1003, 2088] })]);
    const failures = [
      ...Object.entries({ ...a }).map(([n, f]) => [n, f, scripts[n]] as const),
      ...Object.entries(b).map(([n, f]) => [n, f, envrcs[n]] as const),
    ]
      .filter(([, f]) => f.length > 0)
      .map(([n, f, text]) => `${n} (config ${label(all[Number(n.split(":")[0])])}):\n${describeFindings(text, f)}`);
    expect(failures).toEqual([]);
  });

  test("the shellcheck harness reports problems (so a clean result means something)", async () => {
    const r = await shellcheck({ bad: "#!/bin/bash\nsite=$1\nrm -rf $site/x\n", good: '#!/bin/bash\nset -eu\necho "$1"\n' });
    expect(r.bad.map((f) => f.code)).toContain(2086);
    expect(r.good).toEqual([]);
  });
});

describe("every nginx site passes the real nginx -t", () => {
  const nginx = new NginxChecker();
  beforeAll(() => nginx.init());

  test(`site.conf and acme-bootstrap.conf (${RUNS} configurations)`, async () => {
    const all = generate(
      RUNS,
      REPRESENTATIVE.map(([, r]) => r()),
    );
    expect(all.some((s) => s.tls) && all.some((s) => !s.tls) && all.some((s) => s.fleet.behindLoadBalancer)).toBe(true);
    // Each file under the nginx.conf its step leaves: the bootstrap on a fresh host (stock file),
    // the site after the nginxSite step's own edits.
    const jobs = all.flatMap((s) => {
      const f = renderHostFiles(s);
      return [
        { s, name: "site.conf", text: f["site.conf"], step: scriptOf(s, "web-nginx-site") },
        { s, name: "acme-bootstrap.conf", text: f["acme-bootstrap.conf"], step: "" },
      ];
    });
    const results = await Promise.all(jobs.map((j) => nginx.check(j.text, j.step)));
    const failures = results.flatMap((r, i) => (r.ok ? [] : [`${jobs[i].name} for ${label(jobs[i].s)}:\n${r.output}\n${jobs[i].text}`]));
    expect(failures).toEqual([]);
    // The TLS site names the certificate of its own domain (the test copy re-roots only that path).
    for (const [i, j] of jobs.entries()) {
      if (j.name !== "site.conf") continue;
      if (j.s.fleet.behindLoadBalancer) {
        // Behind a load balancer: port 80 only, no certificate, X-Forwarded-* from trustedProxies only.
        expect(j.text).not.toMatch(/listen .*443|ssl_certificate/);
        for (const c of j.s.fleet.trustedProxies) expect(j.text).toContain(`set_real_ip_from ${c};`);
        expect(j.text).toMatch(/location = \/[^ ]* \{\n\s+proxy_pass/);
        continue;
      }
      if (!j.s.tls) continue;
      expect(j.text).toContain(`ssl_certificate /etc/letsencrypt/live/${j.s.domain}/fullchain.pem;`);
      expect(results[i].tested).not.toMatch(/^\s*ssl_certificate(?:_key)? \/etc\//m);
    }
  });

  test("the longest socket path validation accepts (107 bytes) is one nginx takes; one byte more is refused", async () => {
    const raw = { ...tlsCeleryRaw(), baseDir: "/www", domain: `${"a".repeat(60)}.${"b".repeat(22)}.com` };
    const s = parse(raw);
    const p = layoutOf(s);
    const socket = p.socket("a"); // Gunicorn binds the slot sockets; nginx connects through the shorter live.sock
    expect(Buffer.byteLength(socket)).toBe(107);
    const site = renderHostFiles(s)["site.conf"];
    const step = scriptOf(s, "web-nginx-site");
    expect((await nginx.check(site, step)).ok).toBe(true);
    const at = (path: string) => site.replace(`server unix:${p.liveSocket} `, `server unix:${path} `);
    expect((await nginx.check(at(socket), step)).ok).toBe(true);
    // nginx (like Gunicorn) cannot use a longer one, so validation refuses it.
    const longer = await nginx.check(at(`${socket}x`), step);
    expect(longer.output).toMatch(/too long path in the unix domain socket/);
    expect(problemsOf({ ...raw, domain: `${"a".repeat(60)}.${"b".repeat(23)}.com` })).toEqual([
      expect.stringMatching(/^django-deploy:baseDir: is too long for this domain: .* 108 bytes, a unix socket path holds at most 107/),
    ]);
  });

  test("behind a load balancer, the longest domain still passes: the site's nginx variable names do not grow with it", async () => {
    // A generated 33-character domain in the variable names once overflowed nginx's 64-byte
    // variables_hash bucket ("could not build variables_hash"); here the longest domain the socket
    // path allows (87 characters, with baseDir /www).
    const s = parse({ ...fleetRaw(), baseDir: "/www", domain: `${"a".repeat(60)}.${"b".repeat(22)}.com` });
    const site = renderHostFiles(s)["site.conf"];
    const names = [...site.matchAll(/\$(django_deploy_\w+)/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(n.length).toBeLessThanOrEqual(40);
    const r = await nginx.check(site, scriptOf(s, "web-nginx-site"));
    expect(r.output).toMatch(/test is successful/);
  });

  test("the nginxSite step's nginx.conf edits: TLS 1.2+ only, and room for long server names", async () => {
    // 43 characters: www.<domain> no longer fits Debian's default server_names_hash_bucket_size (64).
    const s = parse({ ...tlsCeleryRaw(), domain: `${"a".repeat(39)}.com` });
    const site = renderHostFiles(s)["site.conf"];
    const stock = await nginx.check(site);
    expect(stock.output).toMatch(/could not build server_names_hash, you should increase server_names_hash_bucket_size: 64/);
    const edited = await nginx.check(site, scriptOf(s, "web-nginx-site"));
    expect(edited.output).toMatch(/test is successful/);
    expect(edited.ok).toBe(true);
    expect(edited.conf).toMatch(/^\tssl_protocols TLSv1\.2 TLSv1\.3;(?: #.*)?$/m);
    expect(edited.conf).toMatch(/^\tserver_names_hash_bucket_size 128;$/m);
    expect(edited.conf).not.toMatch(/TLSv1\.1/);
  });

  test("the nginx harness rejects a broken site (so a pass means something)", async () => {
    const s = parse(tlsCeleryRaw());
    const site = renderHostFiles(s)["site.conf"];
    const step = scriptOf(s, "web-nginx-site");
    expect((await nginx.check(site, step)).ok).toBe(true);
    expect((await nginx.check(site.replace("client_max_body_size 25M;", "client_max_body_size 25 M;"), step)).ok).toBe(false);
    expect(
      (await nginx.check(site.replace("proxy_pass http://example-com-gunicorn;", "proxy_pass http://example-com-gunicron;"), step)).ok,
    ).toBe(false);
  });
});

/** The supervisord files one slot of a release installs (web, and with Celery its worker and the beat). */
function slotPrograms(s: Settings, slot: Slot, commit: string): string {
  const f = renderHostFiles(s, { commit });
  return [f[`supervisor-web-${slot}.conf`], ...(s.celeryApp ? [f[`supervisor-celery-${slot}.conf`], f["supervisor-beat.conf"]] : [])].join(
    "\n",
  );
}

const COMMIT = "0123456789abcdef0123456789abcdef01234567";

describe("the supervisord programs parse with supervisord's own parser", () => {
  test(`programs, commands, user, release directory, stop timeouts, root's logs (${RUNS} configurations, both slots)`, async () => {
    const all = generate(
      RUNS,
      REPRESENTATIVE.map(([, r]) => r()),
    );
    expect(all.some((s) => s.celeryApp) && all.some((s) => !s.celeryApp)).toBe(true);
    const cases = all.flatMap((s) => SLOTS.map((slot) => ({ s, slot })));
    const parsed = await parseSupervisor(cases.map(({ s, slot }) => slotPrograms(s, slot, COMMIT)));
    cases.forEach(({ s, slot }, i) => {
      const r = parsed[i];
      const p = layoutOf(s);
      const g = siteSlug(s);
      const release = p.release(COMMIT);
      const context = `${label(s)} slot ${slot}`;
      expect({ context, error: r.error }).toEqual({ context, error: undefined });
      const wrapper = [p.runinenv, "--release", release, "python", "-m"];
      const programs: [string, string, string[], number, number][] = [
        [`${g}-web-${slot}`, `web-${slot}`, [...wrapper, "gunicorn", "--config", `${p.etc}/gunicorn-${slot}.conf.py`], 40, 3],
      ];
      if (s.celeryApp) {
        programs.push([
          `${g}-celery-${slot}`,
          `celery-${slot}`,
          [...wrapper, "celery", "-A", s.celeryApp, "worker", "--loglevel", "INFO"],
          600,
          1,
        ]);
        programs.push([
          `${g}-beat`,
          "beat",
          [...wrapper, "celery", "-A", s.celeryApp, "beat", "--loglevel", "INFO", "--schedule", p.beatSchedule],
          30,
          1,
        ]);
      }
      programs.sort(([a], [b]) => a.localeCompare(b)); // supervisord lists groups and processes by name
      // No group sections: each program is its own group, so a slot can be added and removed alone.
      expect({ context, groups: r.groups }).toEqual({ context, groups: programs.map(([n]) => ({ name: n, programs: [n] })) });
      expect({ context, processes: r.processes }).toEqual({
        context,
        processes: programs.map(([name, log, argv, stopwaitsecs, startsecs]) => ({
          group: name,
          name,
          command: argv.join(" "),
          argv,
          user: s.appUser,
          directory: `${release}/${s.djangoDir}`,
          stopwaitsecs,
          stopsignal: 15,
          stopasgroup: true,
          killasgroup: true,
          startsecs,
          autostart: true,
          autorestart: "RestartUnconditionally",
          redirect_stderr: true,
          environment: { HOME: p.home, USER: s.appUser },
          stdout_logfile: `${p.programLogs}/${log}.log`,
        })),
      });
      // supervisord opens the program logs as root: they are in root's directory, never in the app user's.
      expect(r.requiredDirs.filter((d) => d !== p.programLogs).every((d) => d.includes("django-deploy-supervisor-"))).toBe(true);
    });
  });

  test("the supervisord harness reports a broken file", async () => {
    const good = slotPrograms(parse(plainRaw()), "a", COMMIT);
    const [ok, badValue, badSection] = await parseSupervisor([
      good,
      good.replace("stopwaitsecs=40", "stopwaitsecs=forty"),
      good.replace("[program:", "[progrm:"),
    ]);
    expect(ok.ok).toBe(true);
    expect(badValue.ok).toBe(false);
    expect(badSection.processes).toEqual([]);
  });
});

describe("gunicorn-<slot>.conf.py is Python that says what the layout says", () => {
  test(`(${RUNS} configurations, both slots)`, async () => {
    const all = generate(
      RUNS,
      REPRESENTATIVE.map(([, r]) => r()),
    );
    const cases = all.flatMap((s) => SLOTS.map((slot) => ({ s, slot })));
    const values = await evalGunicornConfs(cases.map(({ s, slot }) => renderHostFiles(s, { commit: COMMIT })[`gunicorn-${slot}.conf.py`]));
    cases.forEach(({ s, slot }, i) => {
      const p = layoutOf(s);
      expect(values[i]).toMatchObject({
        wsgi_app: `${s.wsgiModule}:application`,
        // The release's real path, never `current` (Gunicorn resolves its working directory once).
        chdir: `${p.release(COMMIT)}/${s.djangoDir}`,
        bind: `unix:${p.socket(slot)}`,
        umask: 0o007,
        accesslog: `${p.logs}/gunicorn-access.log`,
        proc_name: `${siteSlug(s)}-web-${slot}`,
        timeout: 30,
        graceful_timeout: 30,
      });
      if (s.gunicornWorkers) expect(values[i].workers).toBe(s.gunicornWorkers);
      else expect(values[i].workers).toBeGreaterThanOrEqual(3);
    });
  });
});

describe("the step command hands bash exactly the script", () => {
  test(`(${RUNS} configurations, every step)`, async () => {
    const all = generate(
      RUNS,
      REPRESENTATIVE.map(([, r]) => r()),
    );
    const scripts = [...new Set(all.flatMap((s) => stepNames(s).map((step) => scriptOf(s, step))))];
    // The command string runs as the SSH login shell would run it; `sudo` is a function that
    // prints the script it was given (argument 4: sudo -n /bin/bash -c SCRIPT).
    const harness = [
      "set -u",
      "cat() { local d=''; IFS= read -r -d '' d || true; builtin printf '%s' \"$d\"; }",
      "sudo() { [ \"$1 $2 $3\" = '-n /bin/bash -c' ] || return 9; builtin printf '%s\\0' \"$4\"; }",
      ...scripts.map(stepCommand),
      "",
    ].join("\n");
    const r = await runBashHarness(harness, tempDir("stepcommand"));
    expect(r.stderr).toBe("");
    const got = splitNul(r.stdout).map((b) => b.toString("utf8"));
    expect(got).toEqual(scripts.map((s) => s.replace(/\n+$/, "")));
  });

  test("a script holding the delimiter line is refused", () => {
    expect(() => stepCommand("echo a\nDJANGO_DEPLOY_STEP\necho b\n")).toThrow(/delimiter/);
  });
});
