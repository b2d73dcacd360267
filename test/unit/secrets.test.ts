/**
 * Secrets in the pure renderers: the private keys never appear in anything rendered, and the
 * server settings (appEnv values) appear only in .server.envrc — which components send on a
 * step's standard input, never in a command string.
 */
import * as fs from "fs";
import * as path from "path";
import fc from "fast-check";
import { Settings } from "../../components/config";
import { renderHostFiles, renderServerEnv, renderStepScript, stepCommand, stepNames } from "../../components/host-files";
import { py, sh } from "../../components/templates";
import * as A from "./lib/arbitraries";
import {
  FAKE_APP_ENV,
  FAKE_DEPLOY_KEY,
  FAKE_DEPLOY_KEY_BODY,
  FAKE_SECRET_VALUES,
  FAKE_SSH_KEY,
  FAKE_SSH_KEY_BODY,
  Raw,
  parse,
  plainRaw,
  tlsCeleryRaw,
} from "./lib/fixtures";

/** Every text rendered for a configuration, except .server.envrc. */
function renderedOutsideEnvrc(s: Settings): Record<string, string> {
  const files = renderHostFiles(s);
  const out: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) out[`file ${name}`] = text;
  for (const step of stepNames(s)) {
    const script = renderStepScript(s, step, files);
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

const KEYS = [FAKE_SSH_KEY, FAKE_SSH_KEY_BODY, FAKE_DEPLOY_KEY, FAKE_DEPLOY_KEY_BODY];

describe.each([
  ["tls-celery (with a deploy key)", tlsCeleryRaw],
  ["plain-http", plainRaw],
])("%s", (_label, raw) => {
  const s = parse(raw());
  const appSecrets = Object.values(s.appEnv);

  test("the fixtures really hold the fake secrets", () => {
    expect(s.sshPrivateKey).toBe(FAKE_SSH_KEY);
    expect(appSecrets).toEqual(expect.arrayContaining(Object.values(FAKE_APP_ENV)));
    if (s.tls) expect(s.repoDeployKey).toBe(FAKE_DEPLOY_KEY);
  });

  test("no private key and no appEnv value in any host file, step script or step command", () => {
    expect(leaks(renderedOutsideEnvrc(s), [...KEYS, ...appSecrets])).toEqual([]);
  });

  test(".server.envrc holds the appEnv values (quoted) and no private key", () => {
    const envrc = renderServerEnv(s);
    for (const [name, value] of Object.entries(s.appEnv)) expect(envrc).toContain(`export ${name}=${sh(value)}\n`);
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
        const r: Raw = { ...raw, appEnv: JSON.stringify(appEnv) };
        if (deployKey) r.repoDeployKey = FAKE_DEPLOY_KEY;
        const s = parse(r);
        const found = leaks(renderedOutsideEnvrc(s), [...KEYS, ...Object.values(appEnv)]);
        if (found.length > 0) throw new Error(found.join("\n"));
        const envrc = renderServerEnv(s);
        if (leaks({ envrc }, KEYS).length > 0) throw new Error("a private key in .server.envrc");
        for (const v of Object.values(appEnv)) if (!envrc.includes(sh(v))) throw new Error(`.server.envrc lacks ${JSON.stringify(v)}`);
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
