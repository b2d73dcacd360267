/**
 * Reads and validates the stack configuration before any resource is registered.
 * `parseSettings` is pure (tests call it directly); `loadSettings` adapts it to Pulumi's config.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { RESERVED_DIRS, layoutOf } from "./layout";
import { dataTierProblems } from "./config-data";
import { CONFIG_KEYS, RESERVED_ENV, RawSettings, SECRET_KEYS, SHELL_SPECIAL_ENV, SecretKey, configSchema } from "./config-schema";

/** sun_path holds 108 bytes with the terminating NUL: longer socket paths fail in nginx and Gunicorn. */
const UNIX_SOCKET_PATH_MAX = 107;

export const NAMESPACE = "django-deploy";

/** Keys that describe the host rather than the site: they live in `Settings.target`. */
const TARGET_KEYS = [
  "host",
  "sshHostKey",
  "instanceType",
  "rootVolumeGiB",
  "sshPublicKey",
  "sshAllowedCidrs",
  "sshAllowWorld",
  "protect",
] as const;
type TargetKey = (typeof TARGET_KEYS)[number];

/** Where the site runs: an EC2 instance the program creates, or a server that already exists. */
export type HostTarget =
  | {
      readonly kind: "ec2";
      readonly instanceType: string;
      readonly rootVolumeGiB: number;
      readonly sshPublicKey: string;
      readonly sshAllowedCidrs: string[];
      readonly protect: boolean;
    }
  | { readonly kind: "existing"; readonly host: string; readonly sshHostKey?: string };

/**
 * The validated public settings: everything templates, the plan and the components may read.
 * No secret is in here (see `SecretValues`); the host is described by `target`.
 */
export type Settings = Readonly<Omit<RawSettings, SecretKey | TargetKey>> & {
  readonly target: HostTarget;
  /** A repository deploy key is configured (its value is a secret). */
  readonly hasDeployKey: boolean;
};

/** The secret settings, as plain values: only `loadConfig` and the secret renderers hold them. */
export interface SecretValues {
  sshPrivateKey: string;
  repoDeployKey?: string;
  appEnv: Record<string, string>;
  backupS3Credentials?: S3Credentials;
}

/** Credentials of an existing server's backup bucket (a secret setting). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The secret settings inside the program: already-secret Outputs, never plain strings. */
export interface Secrets {
  sshPrivateKey: pulumi.Output<string>;
  repoDeployKey?: pulumi.Output<string>;
  appEnv: pulumi.Output<Record<string, string>>;
  backupS3Credentials?: pulumi.Output<S3Credentials>;
}

/** Every key a template may read from `it.s` (the proxy in templates.ts refuses any other). */
export const PUBLIC_SETTING_KEYS: readonly string[] = [
  ...CONFIG_KEYS.filter((k) => !(SECRET_KEYS as readonly string[]).includes(k) && !(TARGET_KEYS as readonly string[]).includes(k)),
  "target",
  "hasDeployKey",
];

/** A configuration error: one line per problem, each naming the key and what would be valid. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid stack configuration (nothing was created):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const isSecretKey = (key: string) => (SECRET_KEYS as readonly string[]).includes(key);

/** Edit distance, to suggest the key a typo meant. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

function describeValue(key: string, raw: Record<string, string>): string {
  if (isSecretKey(key) || !(key in raw)) return "";
  const value = raw[key];
  return ` (got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)})`;
}

function crossFieldProblems(s: RawSettings, secretKeys: ReadonlySet<string>, raw: Record<string, string>): string[] {
  const problems: string[] = [];
  const key = (k: string) => `${NAMESPACE}:${k}`;
  for (const k of SECRET_KEYS) {
    if (k in raw && !secretKeys.has(k)) {
      problems.push(`${key(k)}: must be set as a secret: pulumi config set --secret ${k} …`);
    }
  }
  if (!s.host) {
    if (!s.sshAllowedCidrs) {
      problems.push(
        `${key("sshAllowedCidrs")}: is required for an EC2 host: list who may reach port 22, e.g. ["203.0.113.4/32"] (or set host for an existing server)`,
      );
    }
    if (!s.sshPublicKey) {
      problems.push(
        `${key("sshPublicKey")}: is required for an EC2 host: the public half of sshPrivateKey, e.g. "ssh-ed25519 AAAA… deploy"`,
      );
    }
    // Nothing moves the AMI's sshd off port 22: another port would only open the security group there,
    // and host-wait (unlimited dial retries) would wait forever.
    if (s.sshPort !== 22) {
      problems.push(
        `${key("sshPort")}: must be 22 for an EC2 host (the Debian AMI's sshd listens on 22); another port is for an existing server (set host)${describeValue("sshPort", raw)}`,
      );
    }
  }
  if (s.dnsZoneId && s.host && !/^\d+\.\d+\.\d+\.\d+$/.test(s.host)) {
    problems.push(
      `${key("dnsZoneId")}: needs host to be an IPv4 address (the A records point at it), or no host (EC2)${describeValue("host", raw)}`,
    );
  }
  const world = (s.sshAllowedCidrs ?? []).filter((c) => /^(?:0\.0\.0\.0|::)\/0$/.test(c));
  if (world.length > 0 && !s.sshAllowWorld) {
    problems.push(
      `${key("sshAllowedCidrs")}: ${world.join(", ")} opens SSH to the whole internet; list your own CIDR blocks, or set sshAllowWorld: true to accept that`,
    );
  }
  if (s.tls && !s.certbotEmail) {
    problems.push(`${key("certbotEmail")}: is required when tls is on: an email address such as ops@example.com for the ACME account`);
  }
  for (const name of RESERVED_ENV) {
    if (name in s.appEnv)
      problems.push(`${key("appEnv")}: must not set ${name}: runinenv.sh sets it for every app process (the release's own)`);
  }
  for (const name of Object.keys(s.appEnv).filter((n) => n.startsWith("__dd_"))) {
    problems.push(`${key("appEnv")}: must not set ${name}: names starting with __dd_ belong to runinenv.sh`);
  }
  for (const name of Object.keys(s.appEnv).filter((n) => SHELL_SPECIAL_ENV.test(n))) {
    problems.push(`${key("appEnv")}: must not set ${name}: bash gives that name a meaning of its own, so .server.envrc cannot set it`);
  }
  // zod drops a "__proto__" key without a word; the setting would silently be missing on the host.
  if (raw.appEnv !== undefined && Object.prototype.hasOwnProperty.call(JSON.parse(raw.appEnv), "__proto__")) {
    problems.push(`${key("appEnv")}: must not set __proto__: not usable as a setting name here`);
  }
  // The longest socket path of the layout (nginx connects through live.sock, which is shorter).
  const socket = layoutOf({
    baseDir: s.baseDir,
    domain: s.domain,
    appUser: s.appUser,
    djangoDir: s.djangoDir,
    homepageDir: s.homepageDir,
  }).socket("a");
  if (Buffer.byteLength(socket) > UNIX_SOCKET_PATH_MAX) {
    problems.push(
      `${key("baseDir")}: is too long for this domain: the Gunicorn socket ${socket} would be ${Buffer.byteLength(socket)} bytes, a unix socket path holds at most ${UNIX_SOCKET_PATH_MAX}; use a shorter baseDir such as /srv${describeValue("baseDir", raw)}`,
    );
  }
  for (const k of ["djangoDir", "homepageDir"] as const) {
    if (RESERVED_DIRS.includes(s[k])) {
      problems.push(
        `${key(k)}: must not be one of ${RESERVED_DIRS.join(", ")}: the program creates those in every release${describeValue(k, raw)}`,
      );
    }
  }
  if (s.djangoDir === s.homepageDir) problems.push(`${key("homepageDir")}: must differ from djangoDir`);
  problems.push(...dataTierProblems(s, raw, (k) => describeValue(k, raw)));
  return problems;
}

/** The public settings and the secret values of a validated configuration. */
export interface ParsedConfig {
  settings: Settings;
  secrets: SecretValues;
}

/**
 * Validate the raw `django-deploy:*` values (unprefixed keys, strings as Pulumi passes them).
 * `secretKeys` holds the keys that were set as secrets. Throws ConfigError listing every problem.
 */
export function parseConfig(raw: Record<string, string>, secretKeys: ReadonlySet<string>): ParsedConfig {
  const problems: string[] = [];
  for (const k of Object.keys(raw)) {
    if ((CONFIG_KEYS as string[]).includes(k)) continue;
    const best = [...CONFIG_KEYS].sort((a, b) => distance(k, a) - distance(k, b))[0];
    const hint = distance(k, best) <= 3 ? `did you mean ${NAMESPACE}:${best}?` : `valid keys: ${CONFIG_KEYS.join(", ")}`;
    problems.push(`${NAMESPACE}:${k}: is not a setting of this program; ${hint}`);
  }
  const known = Object.fromEntries(Object.entries(raw).filter(([k]) => (CONFIG_KEYS as string[]).includes(k)));
  const result = configSchema.safeParse(known);
  if (!result.success) {
    const seen = new Set<string>();
    for (const issue of result.error.issues) {
      const k = String(issue.path[0] ?? "");
      const sub = issue.path.length > 1 ? ` (${issue.path.slice(1).join(".")})` : "";
      // zod 4 issues carry no input unless asked for it: a key is missing when the raw config lacks it.
      const message = issue.code === "invalid_type" && issue.path.length === 1 && !(k in known) ? "is required" : issue.message;
      const line = `${NAMESPACE}:${k}${isSecretKey(k) ? "" : sub}: ${message}${describeValue(k, raw)}`;
      if (!seen.has(line)) problems.push(line);
      seen.add(line);
    }
    throw new ConfigError(problems);
  }
  problems.push(...crossFieldProblems(result.data, secretKeys, raw));
  if (problems.length > 0) throw new ConfigError(problems);
  return split(result.data);
}

/** Validated raw settings → public settings (with a typed host target) and secret values. */
function split(d: RawSettings): ParsedConfig {
  const {
    sshPrivateKey,
    repoDeployKey,
    appEnv,
    backupS3Credentials,
    host,
    sshHostKey,
    instanceType,
    rootVolumeGiB,
    sshPublicKey,
    sshAllowedCidrs,
    sshAllowWorld,
    protect,
    ...site
  } = d;
  void sshAllowWorld; // validated above; only the cross-field rule reads it
  // crossFieldProblems guarantees both EC2 keys when no host is set.
  const target: HostTarget =
    host !== undefined
      ? { kind: "existing", host, ...(sshHostKey !== undefined ? { sshHostKey } : {}) }
      : { kind: "ec2", instanceType, rootVolumeGiB, sshPublicKey: sshPublicKey ?? "", sshAllowedCidrs: sshAllowedCidrs ?? [], protect };
  return {
    settings: { ...site, target, hasDeployKey: repoDeployKey !== undefined },
    secrets: {
      sshPrivateKey,
      appEnv,
      ...(repoDeployKey !== undefined ? { repoDeployKey } : {}),
      ...(backupS3Credentials !== undefined ? { backupS3Credentials } : {}),
    },
  };
}

/**
 * Read the stack's `django-deploy:*` configuration from Pulumi and validate it: the public settings,
 * and the secrets as already-secret Outputs (the program never holds them as plain strings).
 */
export function loadConfig(): { settings: Settings; secrets: Secrets } {
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    if (k.startsWith(`${NAMESPACE}:`)) raw[k.slice(NAMESPACE.length + 1)] = v;
  }
  // `isConfigSecret` is the SDK's own reader of PULUMI_CONFIG_SECRET_KEYS (set by the CLI and by setAllConfig);
  // it is exported at runtime but missing from the typings.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret: (k: string) => boolean };
  const secretKeys = new Set(Object.keys(raw).filter((k) => isConfigSecret(`${NAMESPACE}:${k}`)));
  try {
    const { settings, secrets } = parseConfig(raw, secretKeys);
    return {
      settings,
      secrets: {
        sshPrivateKey: pulumi.secret(secrets.sshPrivateKey),
        appEnv: pulumi.secret(secrets.appEnv),
        ...(secrets.repoDeployKey !== undefined ? { repoDeployKey: pulumi.secret(secrets.repoDeployKey) } : {}),
        ...(secrets.backupS3Credentials !== undefined ? { backupS3Credentials: pulumi.secret(secrets.backupS3Credentials) } : {}),
      },
    };
  } catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

/** JSON Schema of the configuration, used to check that Pulumi.yaml and README document every key. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" });
}
