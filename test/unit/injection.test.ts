/**
 * Injection: every configuration value that reaches a shell script, an nginx site, the supervisord
 * programs, gunicorn.conf.py or .server.envrc is either refused by parseSettings (with a problem
 * line naming that key) or carried into the file as data, byte for byte:
 *
 * - bash: the rendered step scripts run under bash with every command stubbed (lib/step-sim.ts), and
 *   each command's argv must hold exactly the configured values; .server.envrc is loaded by the
 *   rendered runinenv.sh itself, which then execs env(1): the process environment must hold exactly
 *   the configured settings; sh() itself round-trips arbitrary strings.
 * - nginx: accepted values stay inside an alphabet nginx treats as plain words (checked for every
 *   case), and distinct accepted sites pass the real `nginx -t`.
 * - supervisord: its own parser reads back exactly the expected command lines, user and directory.
 * - Python: gunicorn.conf.py, executed, holds exactly the expected strings.
 *
 * External tools run in batches (one process per few hundred cases) to keep the suite fast.
 */
import * as fs from "fs";
import * as path from "path";
import fc from "fast-check";
import { ParsedConfig, Settings } from "../../components/config";
import { renderHostFiles, stepCommand } from "../../components/host-files";
import { renderServerEnv } from "../../components/secret-files";
import { layoutOf, siteSlug } from "../../components/layout";
import { sh } from "../../components/templates";
import * as A from "./lib/arbitraries";
import { FAKE_APP_ENV, Raw, parse, parseAll, problemsOf, scriptOf, stepNames, tlsCeleryRaw } from "./lib/fixtures";
import { SIM_REPO_TOKEN, checkRun, expectedCalls, simulate, simulateSettings } from "./lib/step-sim";
import {
  NginxChecker,
  chunks,
  evalGunicornConfs,
  parseSupervisor,
  pool,
  CORES,
  removeTemps,
  runBashHarness,
  splitNul,
  tempDir,
  which,
} from "./lib/tools";

jest.setTimeout(300_000);
afterAll(removeTemps);

const RUNS = 1000;
/** A release's commit, as code-checkout prints it. */
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
/** The all-fields property: most cases are refused, so it runs twice as many to accept enough. */
const FIELD_RUNS = 2 * RUNS;

/** Every optional feature on, so that every value reaches every file it can reach. */
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakeCAbundleForUnitTests0123456789abcdef\n-----END CERTIFICATE-----\n";
function base(): Raw {
  // git:// and http:// URLs opted in, so that every kind of URL can reach the scripts.
  return { ...tlsCeleryRaw(), acmeCaBundle: PEM, appEnv: JSON.stringify(FAKE_APP_ENV), repoAllowInsecureTransport: "true" };
}
/** The base with changes; a repoToken goes only with an https:// repoUrl, so another URL drops it. */
function withChanges(b: Raw, changes: Raw): Raw {
  const raw = { ...b, ...changes };
  if ("repoUrl" in changes && !changes.repoUrl.startsWith("https://")) delete raw.repoToken;
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Hostile strings

const METACHARS = [
  ";",
  "$(id)",
  "`id`",
  "'",
  '"',
  "\n",
  "\r",
  " ",
  "\t",
  "\\",
  "{",
  "}",
  "#",
  "&",
  "|",
  ">",
  "<",
  "*",
  "?",
  "~",
  "%",
  "=",
  "\0",
  "..",
  "/",
  "-",
  "é",
  "\u2028",
  "$",
  "!",
  ";reboot",
  "%(ENV_HOME)s",
  "\nDJANGO_DEPLOY_FILE\n",
  "\nDJANGO_DEPLOY_STEP\n",
  "$request_uri",
  "\x7f",
  "\x1b[31m",
  "A",
];
const chunk = fc.oneof(fc.constantFrom(...METACHARS), fc.string({ unit: "binary", maxLength: 4 }));

/** A valid value with hostile text spliced in, the valid value itself, or anything at all. */
function hostile(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const spliced = fc.tuple(valid, chunk, fc.nat()).map(([v, c, i]) => {
    const at = i % (v.length + 1);
    return v.slice(0, at) + c + v.slice(at);
  });
  return fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 4, arbitrary: spliced },
    { weight: 2, arbitrary: A.anyValue },
    { weight: 1, arbitrary: chunk },
  );
}
const jsonList = (item: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 4, arbitrary: fc.array(item, { maxLength: 3 }).map((l) => JSON.stringify(l)) }, { weight: 1, arbitrary: item });

const acmeUrl = fc.oneof(
  A.acmeServer,
  fc
    .tuple(A.domain, fc.string({ unit: fc.constantFrom(..."abc/?&=$'();`%~+!*@,".split("")), maxLength: 12 }))
    .map(([d, p]) => `https://${d}/${p}`),
);

/** The fields under test and what a valid value looks like. */
const FIELDS: Record<string, fc.Arbitrary<string>> = {
  domain: hostile(A.domain),
  repoUrl: hostile(A.repoUrl),
  repoRef: hostile(A.repoRef),
  djangoDir: hostile(A.dirName),
  homepageDir: hostile(A.dirName),
  wsgiModule: hostile(A.pyDotted),
  celeryApp: hostile(A.pyDotted),
  fixtures: jsonList(hostile(A.fixtureName)),
  certbotEmail: hostile(A.email),
  acmeServer: hostile(acmeUrl),
  acmeCaBundle: hostile(A.pemBundle),
  clientMaxBodySize: hostile(A.bodySize),
  baseDir: hostile(A.baseDir),
  appUser: hostile(A.unixUser),
  // hostUser reaches no rendered file (only the SSH connection): here for the validation half.
  hostUser: hostile(A.unixUser),
  extraPackages: jsonList(hostile(A.debianPackage)),
  gunicornWorkers: hostile(fc.integer({ min: 1, max: 64 }).map(String)),
  appEnv: fc.oneof(
    { weight: 4, arbitrary: fc.dictionary(hostile(A.envName), A.anyValue, { maxKeys: 3 }).map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: A.anyValue },
  ),
};
const FIELD_NAMES = Object.keys(FIELDS);

/** Keys a cross-field rule may name instead of the changed key. */
// appEnv without DATABASE_URL is refused by database (external by default: it names both ways out).
const RELATED: Record<string, string[]> = { djangoDir: ["homepageDir"], domain: ["baseDir"], appEnv: ["database"] };

const keyOf = (line: string) => /^django-deploy:([^\s:(]+)(?: \([^)]*\))?: /.exec(line)?.[1];

/** nginx reads these as plain words: no whitespace, quotes, ; { } $ # \ or control characters. */
const NGINX_WORD = /^[A-Za-z0-9._/-]+$/;
/** supervisord: no % (its own expansion), ; (comments), whitespace, quotes or control characters. */
const SUPERVISOR_WORD = /^[A-Za-z0-9._/-]+$/;

const show = (v: unknown) => JSON.stringify(v);
const tryJson = (v: string): Record<string, unknown> => {
  try {
    const o = JSON.parse(v) as unknown;
    return o && typeof o === "object" ? (o as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

// ---------------------------------------------------------------------------------------------

describe("hostile values are refused, or carried as data", () => {
  const accepted: Settings[] = [];
  /** The same configurations with their secret values (for .server.envrc). */
  const acceptedAll: ParsedConfig[] = [];
  let refusedCount = 0;

  test(`${FIELD_RUNS} cases: refused with the key named, or accepted within safe alphabets`, () => {
    const b = base();
    const baseConfig = parseAll(b);
    fc.assert(
      fc.property(
        fc
          .uniqueArray(fc.constantFrom(...FIELD_NAMES), { minLength: 1, maxLength: 3 })
          .chain((keys) => fc.tuple(fc.constant(keys), fc.tuple(...keys.map((k) => FIELDS[k])))),
        ([keys, values]) => {
          const changes: Raw = Object.fromEntries(keys.map((k, i) => [k, values[i]]));
          // Each value alone: refused (naming its key) or accepted.
          const ok: Raw = {};
          for (const [k, v] of Object.entries(changes)) {
            const problems = problemsOf(withChanges(b, { [k]: v }));
            if (problems) {
              refusedCount++;
              const allowed = [k, ...(RELATED[k] ?? [])];
              if (!problems.every((p) => allowed.includes(keyOf(p) ?? "")))
                throw new Error(`${k}=${show(v)} refused, but not by ${k}: ${show(problems)}`);
              if (k === "appEnv") {
                const secrets = [v, ...Object.values(tryJson(v))].filter((x): x is string => typeof x === "string" && x.length >= 8);
                if (secrets.some((x) => problems.some((p) => p.includes(x))))
                  throw new Error(`a secret value was echoed: ${show(problems)}`);
              }
            } else ok[k] = v;
          }
          // All accepted values together: valid, unless a cross-field rule relates two of them.
          const raw = withChanges(b, ok);
          const problems = problemsOf(raw);
          if (problems) {
            const changed = Object.keys(ok).flatMap((k) => [k, ...(RELATED[k] ?? [])]);
            if (!problems.every((p) => changed.includes(keyOf(p) ?? "")))
              throw new Error(`${show(ok)} together refused for another key: ${show(problems)}`);
            return;
          }
          const parsed = parseAll(raw);
          const s = parsed.settings;
          // Alphabets: what reaches nginx and supervisord is plain words there.
          for (const [what, v] of [
            ["domain", s.domain],
            ["baseDir", s.baseDir],
            ["homepageDir", s.homepageDir],
            ["djangoDir", s.djangoDir],
            ["clientMaxBodySize", s.clientMaxBodySize],
            ["appUser", s.appUser],
            ["celeryApp", s.celeryApp ?? "x"],
          ] as const) {
            if (!NGINX_WORD.test(v) || !SUPERVISOR_WORD.test(v))
              throw new Error(`${what}=${show(v)} accepted outside the nginx/supervisord word alphabet`);
          }
          // Embedded files never end the heredoc that carries them; scripts never end the command's.
          const files = renderHostFiles(s, { commit: COMMIT });
          for (const [name, text] of Object.entries(files)) {
            if (/^DJANGO_DEPLOY_FILE$/m.test(text)) throw new Error(`${name} holds the heredoc delimiter line`);
          }
          for (const step of stepNames(s)) stepCommand(scriptOf(s, step, { commit: COMMIT })); // throws on its delimiter line
          if (s.acmeCaBundle && /^DJANGO_DEPLOY_FILE$/m.test(s.acmeCaBundle))
            throw new Error("acmeCaBundle holds the heredoc delimiter line");
          if (JSON.stringify(parsed) !== JSON.stringify(baseConfig)) {
            accepted.push(s);
            acceptedAll.push(parsed);
          }
        },
      ),
      { numRuns: FIELD_RUNS },
    );
    // Both outcomes must be common, or the batches below would check little.
    expect(refusedCount).toBeGreaterThan(FIELD_RUNS / 4);
    expect(accepted.length).toBeGreaterThan(FIELD_RUNS / 4);
  });

  test("bash: every step runs with exactly the configured values in each command's argv", async () => {
    expect(accepted.length).toBeGreaterThan(0);
    const { problems } = await simulateSettings(accepted, (s) => stepNames(s).filter((n) => n !== "host-wait"));
    const failures = problems.flatMap((p, i) => (p.length ? [`config ${show(accepted[i])}:\n  ${p.join("\n  ")}`] : []));
    expect(failures.slice(0, 3)).toEqual([]);
  });

  test("bash: runinenv.sh loads .server.envrc into exactly the configured environment", async () => {
    const failures = await checkEnvironments(acceptedAll);
    expect(failures.slice(0, 3)).toEqual([]);
  });

  test("nginx: distinct accepted sites pass the real nginx -t and name the values as words", async () => {
    const nginx = new NginxChecker();
    await nginx.init();
    const key = (s: Settings) => [s.domain, s.baseDir, s.homepageDir, s.clientMaxBodySize, s.uploadPaths.join(" "), s.tls].join("\n");
    const distinct = [...new Map(accepted.map((s) => [key(s), s])).values()];
    expect(distinct.length).toBeGreaterThanOrEqual(20);
    // Prefer the cases that changed what nginx sees; a few dozen suffice: the alphabet is checked for all.
    const picked = distinct.slice(0, 40);
    const results = await Promise.all(
      picked.flatMap((s) => {
        const f = renderHostFiles(s);
        return [nginx.check(f["site.conf"], scriptOf(s, "web-nginx-site")), nginx.check(f["acme-bootstrap.conf"])];
      }),
    );
    const failures = results.flatMap((r, i) => (r.ok ? [] : [`${show(picked[Math.floor(i / 2)])}:\n${r.output}`]));
    expect(failures).toEqual([]);
    for (const s of accepted) {
      const p = layoutOf(s);
      const site = renderHostFiles(s)["site.conf"];
      for (const line of [
        `server_name www.${s.domain};`,
        `root ${p.current}/${s.homepageDir};`,
        `client_max_body_size ${s.clientMaxBodySize};`,
        `alias ${p.static}/;`,
        ...s.uploadPaths.map((u) => `location ^~ ${u} {`),
        `server unix:${p.liveSocket} fail_timeout=0;`,
      ]) {
        if (!site.includes(`    ${line}\n`)) throw new Error(`site.conf of ${show(s)} lacks the line "${line}"`);
      }
    }
  });

  test("supervisord: its parser reads back exactly the expected programs (slot a of a release)", async () => {
    const programsOf = (s: Settings) => {
      const f = renderHostFiles(s, { commit: COMMIT });
      return [f["supervisor-web-a.conf"], ...(s.celeryApp ? [f["supervisor-celery-a.conf"], f["supervisor-beat.conf"]] : [])].join("\n");
    };
    const distinct = [...new Map(accepted.map((s) => [programsOf(s), s])).entries()];
    const parsed = await parseSupervisor(distinct.map(([text]) => text));
    const failures: string[] = [];
    distinct.forEach(([, s], i) => {
      const r = parsed[i];
      const p = layoutOf(s);
      const g = siteSlug(s);
      const release = p.release(COMMIT);
      const wrapper = [p.runinenv, "--release", release, "python", "-m"];
      const expected = [
        [`${g}-web-a`, [...wrapper, "gunicorn", "--config", `${p.etc}/gunicorn-a.conf.py`]],
        ...(s.celeryApp
          ? [
              [`${g}-celery-a`, [...wrapper, "celery", "-A", s.celeryApp, "worker", "--loglevel", "INFO"]],
              [`${g}-beat`, [...wrapper, "celery", "-A", s.celeryApp, "beat", "--loglevel", "INFO", "--schedule", p.beatSchedule]],
            ]
          : []),
      ] as [string, string[]][];
      expected.sort(([a], [b]) => a.localeCompare(b)); // supervisord lists processes by name
      const got = r.processes.map((x) => [x.name, x.argv, x.command, x.user, x.directory, x.environment]);
      const want = expected.map(([n, argv]) => [
        n,
        argv,
        argv.join(" "),
        s.appUser,
        `${release}/${s.djangoDir}`,
        { HOME: p.home, USER: s.appUser },
      ]);
      if (!r.ok || show(got) !== show(want)) failures.push(`${show(s)}: ${r.error ?? ""}\n  got ${show(got)}\n  want ${show(want)}`);
    });
    expect(failures.slice(0, 3)).toEqual([]);
  });

  test("python: gunicorn-a.conf.py holds exactly the expected strings", async () => {
    const values = await evalGunicornConfs(accepted.map((s) => renderHostFiles(s, { commit: COMMIT })["gunicorn-a.conf.py"]));
    const failures: string[] = [];
    accepted.forEach((s, i) => {
      const p = layoutOf(s);
      const want = {
        wsgi_app: `${s.wsgiModule}:application`,
        chdir: `${p.release(COMMIT)}/${s.djangoDir}`,
        bind: `unix:${p.socket("a")}`,
        accesslog: `${p.logs}/gunicorn-access.log`,
        proc_name: `${siteSlug(s)}-web-a`,
      };
      const got = Object.fromEntries(Object.keys(want).map((k) => [k, values[i][k]]));
      if (show(got) !== show(want) || (s.gunicornWorkers && values[i].workers !== s.gunicornWorkers))
        failures.push(`${show(s)}: ${show(values[i])}`);
    });
    expect(failures.slice(0, 3)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// .server.envrc through runinenv.sh

/**
 * For each configuration: write its rendered server.envrc and runinenv.sh into a fake site directory
 * (the only change to runinenv.sh: the site's path points there), add a release with an empty
 * ENV/bin, and run `runinenv.sh --release <release> env -0` under bash. The environment env(1) prints
 * is what Gunicorn and Celery would get.
 */
const envrcOfConfig = (c: ParsedConfig) => renderServerEnv(c.settings, c.secrets.appEnv);

async function checkEnvironments(all: ParsedConfig[], envrcOf: (c: ParsedConfig) => string = envrcOfConfig): Promise<string[]> {
  const envBin = which("env");
  const failures: string[] = [];
  await pool(chunks(all, Math.max(1, Math.ceil(all.length / CORES))), CORES, async (list) => {
    const dir = tempDir("envrc");
    const lines = ["set -u"];
    list.forEach((c, i) => {
      const s = c.settings;
      const p = layoutOf(s);
      const site = path.join(dir, `site${i}`);
      const release = path.join(site, "releases", "0123abc");
      fs.mkdirSync(path.join(release, "ENV", "bin"), { recursive: true });
      fs.mkdirSync(path.join(site, "etc"), { recursive: true });
      fs.chmodSync(site, 0o777); // the harness may run as nobody: it writes out, err, rc here
      fs.writeFileSync(path.join(site, "etc", "server.envrc"), envrcOf(c));
      const runinenv = renderHostFiles(s)["runinenv.sh"];
      if (!runinenv.includes(`${sh(p.envrc)}\n`)) throw new Error(`runinenv.sh does not read ${p.envrc}: ${runinenv}`);
      fs.writeFileSync(path.join(site, "runinenv.sh"), runinenv.split(`${p.site}/`).join(`${site}/`));
      lines.push(
        `/bin/bash ${sh(`${site}/runinenv.sh`)} --release ${sh(release)} ${sh(envBin)} -0 >${sh(`${site}/out`)} 2>${sh(`${site}/err`)}; builtin echo "$?" >${sh(`${site}/rc`)}`,
      );
    });
    const r = await runBashHarness(lines.join("\n") + "\n", dir);
    if (r.code !== 0) throw new Error(`envrc harness failed: ${r.stderr}`);
    list.forEach((c, i) => {
      const s = c.settings;
      const site = path.join(dir, `site${i}`);
      const release = fs.realpathSync(path.join(site, "releases", "0123abc"));
      const rc = fs.readFileSync(path.join(site, "rc"), "utf8").trim();
      const env = new Map<string, Buffer>();
      for (const entry of splitNul(fs.readFileSync(path.join(site, "out")))) {
        const eq = entry.indexOf(0x3d);
        env.set(entry.subarray(0, eq).toString(), entry.subarray(eq + 1));
      }
      const want: Record<string, string> = {
        ALLOWED_HOSTS: `www.${s.domain},${s.domain}`,
        ...c.secrets.appEnv,
        STATIC_ROOT: `${release}/static`,
        MEDIA_ROOT: `${site}/media`,
        VIRTUAL_ENV: `${release}/ENV`,
        DJANGO_DEPLOY_RELEASE: "0123abc",
      };
      const wrong = Object.entries(want).filter(([k, v]) => !env.get(k)?.equals(Buffer.from(v, "utf8")));
      if (rc !== "0" || wrong.length > 0) {
        failures.push(
          `appEnv ${show(c.secrets.appEnv)} (domain ${s.domain}, baseDir ${s.baseDir}): exit ${rc}, ${fs.readFileSync(path.join(site, "err"), "utf8")}\n  wrong: ${wrong
            .map(([k, v]) => `${k}: want ${show(v)} got ${show(env.get(k)?.toString())}`)
            .join("; ")}`,
        );
      }
    });
  });
  return failures;
}

describe(".server.envrc round-trips any settings", () => {
  test(`${RUNS} appEnv objects (any names, any values but NUL): refused, or exactly the process environment`, async () => {
    const b = { ...base(), database: "host" }; // DATABASE_URL is the program's: appEnv holds only the generated names
    const cases: ParsedConfig[] = [];
    let refused = 0;
    const names = fc.oneof(
      { weight: 4, arbitrary: A.envName },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "UID",
          "EUID",
          "PPID",
          "SHELLOPTS",
          "BASHOPTS",
          "BASH_ENV",
          "RANDOM",
          "SECONDS",
          "LINENO",
          "_",
          "IFS",
          "PATH",
          "HOME",
          "LD_PRELOAD",
          "POSIXLY_CORRECT",
          "__proto__",
          "constructor",
          "ALLOWED_HOSTS",
          "STATIC_ROOT",
          "OPTIND",
          "GROUPS",
          "FUNCNAME",
          "DIRSTACK",
          "HISTCMD",
          "SRANDOM",
          "EPOCHSECONDS",
          "BASH_XTRACEFD",
          "PS4",
          "TMOUT",
          // Names of the wrapper's own variables, once or still (runinenv.sh must be immune to them).
          "site",
          "release",
          "current",
          "envrc",
          "EXECIGNORE",
          "CDPATH",
          "GLOBIGNORE",
          "PYTHONPATH",
          "PYTHONHOME",
          "VIRTUAL_ENV",
        ),
      },
      { weight: 1, arbitrary: A.anyValue },
    );
    fc.assert(
      fc.property(fc.dictionary(names, A.anyValue, { minKeys: 1, maxKeys: 4 }), (appEnv) => {
        const json = JSON.stringify(appEnv);
        const problems = problemsOf({ ...b, appEnv: json });
        if (problems) {
          refused++;
          if (!problems.every((p) => keyOf(p) === "appEnv")) throw new Error(`refused for another key: ${show(problems)}`);
          for (const v of Object.values(appEnv))
            if (v.length >= 8 && problems.some((p) => p.includes(v))) throw new Error(`secret echoed: ${show(problems)}`);
          return;
        }
        const c = parseAll({ ...b, appEnv: json });
        // Nothing dropped on the way (zod, JSON): every given name is a setting.
        if (show(Object.keys(c.secrets.appEnv).sort()) !== show(Object.keys(appEnv).sort()))
          throw new Error(`names changed: ${json} → ${show(c.secrets.appEnv)}`);
        cases.push(c);
      }),
      { numRuns: RUNS },
    );
    expect(refused).toBeGreaterThan(20);
    expect(cases.length).toBeGreaterThan(RUNS / 3);
    const failures = await checkEnvironments(cases);
    expect(failures.slice(0, 3)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// sh() itself

describe("sh() quotes any string as one bash word", () => {
  test(`${2 * RUNS} strings read back exactly as a command argument, an assignment and an array element`, async () => {
    const values: string[] = [];
    fc.assert(
      fc.property(A.anyValue, (v) => {
        const q = sh(v);
        if (q.includes("\n") && !v.includes("\n")) throw new Error(`sh() added a newline: ${show(v)}`);
        values.push(v);
      }),
      { numRuns: 2 * RUNS },
    );
    const lines = ["set -u", "p() { builtin printf '%s\\0' \"$@\"; }"];
    for (const v of values)
      lines.push(`p ${sh(v)}`, `x=${sh(v)}; p "$x"`, `a=(${sh(v)} ${sh(v)}); p "\${#a[@]}" "\${a[1]}"`, `export y=${sh(v)}; p "$y"`);
    const r = await runBashHarness(lines.join("\n") + "\n", tempDir("sh"));
    expect(r.stderr).toBe("");
    const got = splitNul(r.stdout);
    const want = values.flatMap((v) => [v, v, "2", v, v]).map((v) => Buffer.from(v, "utf8"));
    const bad = want.flatMap((w, i) => (got[i]?.equals(w) ? [] : [`${show(w.toString())} read back as ${show(got[i]?.toString())}`]));
    expect(got.length).toBe(want.length);
    expect(bad.slice(0, 5)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The harnesses catch what they are meant to catch

describe("the harnesses detect injection", () => {
  test("a step script with an unquoted value is caught by the argv check", async () => {
    const s = parse({ ...base(), repoUrl: "https://example.com/a.git" });
    const script = scriptOf(s, "code-checkout");
    const broken = script.replace(`url=${sh(s.repoUrl)}\n`, "url=https://example.com/a.git;id\n");
    expect(broken).not.toBe(script);
    const input = `${SIM_REPO_TOKEN}\n`; // the base has a repoToken: the checkout reads it first
    const { results } = await simulate([
      { script, stdin: input },
      { script: broken, stdin: input },
    ]);
    expect(checkRun(results[0], expectedCalls(s, "code-checkout"))).toEqual([]);
    const problems = checkRun(results[1], expectedCalls(s, "code-checkout"));
    expect(problems.join("\n")).toMatch(/unknown command: UNKNOWN:id|expected call not made/);
  });

  test("an envrc that loses a value is caught by the environment check", async () => {
    const c = parseAll({ ...base(), database: "host", appEnv: JSON.stringify({ GREETING: "a b" }) });
    expect(await checkEnvironments([c])).toEqual([]);
    // Same settings, rendered with broken quoting: the check must object.
    const broken = (x: ParsedConfig) => envrcOfConfig(x).replace(`GREETING=${sh("a b")}`, "GREETING=a b");
    expect(broken(c)).not.toBe(envrcOfConfig(c));
    expect((await checkEnvironments([c], broken)).length).toBe(1);
  });
});
