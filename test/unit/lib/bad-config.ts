/**
 * The bad-input table's machinery: a case is a valid base configuration with some values changed,
 * and the one key every problem line must name, and part of the message saying what would be valid.
 * Each case must fail parseConfig with a ConfigError whose every line names that key, and no line
 * may echo a secret value.
 */
import { ConfigError, parseConfig } from "../../../components/config";
import { FAKE_SECRET_VALUES, Raw, ec2Base, existingHostBase, secretKeysOf } from "./fixtures";

export interface BadCase {
  name: string;
  base: "existing" | "ec2";
  /** Values to set (unprefixed keys, strings as Pulumi passes them); undefined removes the key. */
  set: Record<string, string | undefined>;
  /** The keys set as secrets; default: every secret key present. */
  secretKeys?: (raw: Raw) => Set<string>;
  /** The one key every problem line must name. */
  key: string;
  /** Part of the message that says what would be valid. */
  valid: string | RegExp;
}

export const bad = (
  name: string,
  base: BadCase["base"],
  set: BadCase["set"],
  key: string,
  valid: BadCase["valid"],
  secretKeys?: BadCase["secretKeys"],
): BadCase => ({ name, base, set, key, valid, secretKeys });
export const E = "existing" as const;
export const C = "ec2" as const;
export const withoutSecret = (k: string) => (raw: Raw) => {
  const s = secretKeysOf(raw);
  s.delete(k);
  return s;
};
function build(c: BadCase): { raw: Raw; secretKeys: Set<string> } {
  const raw: Raw = c.base === "existing" ? existingHostBase() : ec2Base();
  for (const [k, v] of Object.entries(c.set)) {
    if (v === undefined) delete raw[k];
    else raw[k] = v;
  }
  return { raw, secretKeys: c.secretKeys ? c.secretKeys(raw) : secretKeysOf(raw) };
}

/** Every secret-looking value of a raw configuration, and the fakes. */
function secretValues(raw: Raw): string[] {
  const values = [...FAKE_SECRET_VALUES, "fake-plain-secret", "fake-plain-password-not-a-key", "fake-proto-secret"];
  for (const k of ["sshPrivateKey", "repoDeployKey", "appEnv"]) if (raw[k]) values.push(raw[k]);
  try {
    const env = JSON.parse(raw.appEnv ?? "{}") as Record<string, unknown>;
    if (env && typeof env === "object") for (const v of Object.values(env)) if (typeof v === "string" && v.length > 3) values.push(v);
  } catch {
    // not JSON: the raw value itself is listed
  }
  return values;
}

export const keyOf = (line: string) => /^django-deploy:([^\s:(]+)(?: \([^)]*\))?: /.exec(line)?.[1];

/** One test per case (names must be distinct). */
export function testBadCases(cases: readonly BadCase[]): void {
  test("the cases have distinct names", () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  test.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const { raw, secretKeys } = build(c);
    let error: unknown;
    try {
      parseConfig(raw, secretKeys);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(problems.length).toBeGreaterThan(0);
    // Exactly the expected key is named, on every problem line.
    expect(problems.map(keyOf)).toEqual(problems.map(() => c.key));
    const line = problems.find((p) => (typeof c.valid === "string" ? p.includes(c.valid) : c.valid.test(p)));
    expect({ problems, valid: String(c.valid), found: line !== undefined }).toMatchObject({ found: true });
    expect(message).toContain(line!);
    for (const secret of secretValues(raw)) {
      expect(message).not.toContain(secret);
      for (const p of problems) expect(p).not.toContain(secret);
    }
  });
}
