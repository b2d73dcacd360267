/**
 * Secrets in the pure renderers: the private keys never appear in anything rendered, and the
 * server settings (appEnv values) appear only in .server.envrc — which components send on a
 * step's standard input, never in a command string.
 */
import * as fs from "fs";
import * as path from "path";
import fc from "fast-check";
import * as os from "os";
import { PUBLIC_SETTING_KEYS, Settings } from "../../components/config";
import { SECRET_KEYS } from "../../components/config-schema";
import { renderHostFiles, stepCommand, templateContext } from "../../components/host-files";
import { renderServerEnv } from "../../components/secret-files";
import { TemplateSettingError, py, render, sh, useFilesDir } from "../../components/templates";
import * as A from "./lib/arbitraries";
import {
  FAKE_APP_ENV,
  FAKE_DEPLOY_KEY,
  FAKE_DEPLOY_KEY_BODY,
  FAKE_REPO_TOKEN,
  FAKE_SECRET_VALUES,
  FAKE_SSH_KEY,
  FAKE_SSH_KEY_BODY,
  Raw,
  parseAll,
  plainRaw,
  scriptOf,
  stepNames,
  tlsCeleryRaw,
} from "./lib/fixtures";

/** Every text rendered for a configuration, except .server.envrc. */
function renderedOutsideEnvrc(s: Settings): Record<string, string> {
  const files = renderHostFiles(s);
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) out[`file ${name}`] = text;
  for (const step of stepNames(s)) {
    const script = scriptOf(s, step);
    out[`script ${step}`] = script;
    out[`command ${step}`] = stepCommand(script);
  }
  return out;
}

/** A secret in every form a renderer could write it: raw, shell-quoted, JSON/Python-quoted. */
const forms = (secret: string) => [...new Set([secret, sh(secret), py(secret), py(secret).slice(1, -1)])];

function leaks(texts: Record<string, string>, secrets: string[]): string[] {
  const found: string[] = [];
  for (const [name, text] of Object.entries(texts)) {
    for (const secret of secrets) for (const f of forms(secret)) if (text.includes(f)) found.push(`${name} contains ${JSON.stringify(f)}`);
  }
  return found;
}

const KEYS = [FAKE_SSH_KEY, FAKE_SSH_KEY_BODY, FAKE_DEPLOY_KEY, FAKE_DEPLOY_KEY_BODY, FAKE_REPO_TOKEN];

describe.each([
  ["tls-celery (with a deploy key)", tlsCeleryRaw],
  ["plain-http", plainRaw],
])("%s", (_label, raw) => {
  const { settings: s, secrets } = parseAll(raw());
  const appSecrets = Object.values(secrets.appEnv);

  test("the fixtures really hold the fake secrets", () => {
    expect(secrets.sshPrivateKey).toBe(FAKE_SSH_KEY);
    expect(appSecrets).toEqual(expect.arrayContaining(Object.values(FAKE_APP_ENV)));
    if (s.tls) expect(secrets.repoDeployKey).toBe(FAKE_DEPLOY_KEY);
    if (s.tls) expect(secrets.repoToken).toBe(FAKE_REPO_TOKEN);
  });

  test("the public settings hold no secret: no secret key, no secret value", () => {
    for (const k of SECRET_KEYS) expect(Object.keys(s)).not.toContain(k);
    expect(leaks({ settings: JSON.stringify(s) }, [...KEYS, ...appSecrets])).toEqual([]);
  });

  test("no private key and no appEnv value in any host file, step script or step command", () => {
    expect(leaks(renderedOutsideEnvrc(s), [...KEYS, ...appSecrets])).toEqual([]);
  });

  test(".server.envrc holds the appEnv values (quoted) and no private key", () => {
    const envrc = renderServerEnv(s, secrets.appEnv);
    for (const [name, value] of Object.entries(secrets.appEnv)) expect(envrc).toContain(`export ${name}=${sh(value)}\n`);
    expect(leaks({ envrc }, KEYS)).toEqual([]);
  });
});

describe("generated configurations", () => {
  test("no secret outside .server.envrc, for any valid configuration (200 runs)", () => {
    // Secret values carry a marker so that a match can only be the secret itself.
    const marked = fc.dictionary(
      A.envName,
      fc.tuple(A.anyValue, fc.nat()).map(([v, n]) => `SECRET-${n}-${v}`),
      { minKeys: 1, maxKeys: 4 },
    );
    fc.assert(
      fc.property(A.validRaw(), marked, fc.boolean(), (raw: Raw, appEnv, deployKey) => {
        // DATABASE_URL: in appEnv with database: external (a secret too), never with database: host.
        const { DATABASE_URL: _url, ...rest } = appEnv;
        void _url;
        const base = raw.database === "host" ? rest : { ...appEnv, DATABASE_URL: `SECRET-url-${Object.keys(appEnv).length}` };
        // redis: external takes the broker from appEnv (a secret too).
        const env = raw.redis === "external" ? { ...base, CELERY_BROKER_URL: `SECRET-broker-${Object.keys(appEnv).length}` } : base;
        const r: Raw = { ...raw, appEnv: JSON.stringify(env) };
        if (deployKey) r.repoDeployKey = FAKE_DEPLOY_KEY;
        const { settings: s, secrets } = parseAll(r);
        const found = leaks({ ...renderedOutsideEnvrc(s), settings: JSON.stringify(s) }, [...KEYS, ...Object.values(env)]);
        if (found.length > 0) throw new Error(found.join("\n"));
        const envrc = renderServerEnv(s, secrets.appEnv);
        if (leaks({ envrc }, KEYS).length > 0) throw new Error("a private key in .server.envrc");
        for (const v of Object.values(env)) if (!envrc.includes(sh(v))) throw new Error(`.server.envrc lacks ${JSON.stringify(v)}`);
      }),
      { numRuns: 200 },
    );
  });

  test("the leak check finds a secret in any of its forms (so a clean result means something)", () => {
    const secret = 'it\'s a "secret"';
    expect(leaks({ a: `x=${sh(secret)}` }, [secret]).length).toBeGreaterThan(0);
    expect(leaks({ a: `x = ${py(secret)}` }, [secret]).length).toBeGreaterThan(0);
    expect(leaks({ a: `-----\n${FAKE_SSH_KEY_BODY}\n` }, KEYS)).toHaveLength(1);
    expect(leaks({ a: "nothing here" }, [secret, ...KEYS])).toEqual([]);
  });
});

describe("snapshots", () => {
  test("no snapshot file holds a secret value, not even a fake one", () => {
    const dir = path.join(__dirname, "__snapshots__");
    const files = fs.readdirSync(dir).filter((f) => f.endsWith(".snap"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), "utf8");
      for (const secret of FAKE_SECRET_VALUES) expect({ f, leaked: text.includes(secret.trim()) }).toEqual({ f, leaked: false });
    }
  });
});

describe("templates cannot read secrets", () => {
  const s = parseAll(tlsCeleryRaw()).settings;

  test("the Settings type has no secret (each line fails to compile if one is added back)", () => {
    // @ts-expect-error appEnv is a secret: not a public setting
    expect(s.appEnv).toBeUndefined();
    // @ts-expect-error sshPrivateKey is a secret: not a public setting
    expect(s.sshPrivateKey).toBeUndefined();
    // @ts-expect-error repoDeployKey is a secret: not a public setting
    expect(s.repoDeployKey).toBeUndefined();
    // @ts-expect-error repoToken is a secret: not a public setting
    expect(s.repoToken).toBeUndefined();
    expect(PUBLIC_SETTING_KEYS.filter((k) => (SECRET_KEYS as readonly string[]).includes(k))).toEqual([]);
  });

  test.each([...SECRET_KEYS, "aTypo"])("a template that reads it.s.%s fails to render", (key) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "django-deploy-templates-"));
    fs.writeFileSync(path.join(dir, "reads-secret.eta"), `value: <%= it.s.${key} %>\n`);
    fs.writeFileSync(path.join(dir, "reads-public.eta"), "domain: <%= it.s.domain %>, celery: <%= it.s.celeryApp %>\n");
    try {
      useFilesDir(dir);
      expect(render("reads-public", templateContext(s))).toBe("domain: example.com, celery: example\n");
      expect(() => render("reads-secret", templateContext(s))).toThrow(TemplateSettingError);
      expect(() => render("reads-secret", templateContext(s))).toThrow(`it.s.${key}: not a public setting`);
    } finally {
      useFilesDir();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
