/**
 * Stack configurations for the unit suites: raw values exactly as Pulumi hands them to the program
 * (every value a string, lists and objects JSON-encoded) and obviously fake, recognizable secrets.
 */
import { ConfigError, ParsedConfig, Settings, parseConfig } from "../../../components/config";
import { SECRET_KEYS } from "../../../components/config-schema";
import { StepValues, renderStepScript } from "../../../components/host-files";
import { stepPlan } from "../../../components/plan";

export type Raw = Record<string, string>;

/** The keys set with `pulumi config set --secret`. */
export const SECRETS: ReadonlySet<string> = new Set<string>(SECRET_KEYS);

/** Fake private keys: valid in form, with bodies that are easy to find in any output. */
export const FAKE_SSH_KEY_BODY = "RkFLRS1TU0gtUFJJVkFURS1LRVktZm9yLXVuaXQtdGVzdHMtb25seQ";
export const FAKE_SSH_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\n${FAKE_SSH_KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n`;
export const FAKE_DEPLOY_KEY_BODY = "RkFLRS1ERVBMT1ktS0VZLWZvci11bml0LXRlc3RzLW9ubHk";
export const FAKE_DEPLOY_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\n${FAKE_DEPLOY_KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----\n`;
/** Fake server settings; the values are the secrets. */
export const FAKE_APP_ENV: Record<string, string> = {
  SECRET_KEY: "fake-django-secret-key-UNIT-TEST-ONLY-0x5eC12e7",
  DATABASE_URL: "postgres://app:fake-db-password-UNIT-TEST@localhost:5432/app",
};
/** A fake repository token (repoToken): travels on the checkout's stdin only. */
export const FAKE_REPO_TOKEN = "fake-repo-token-UNIT-TEST-0x70c3e9";
/** Fake credentials of a backup bucket (backupS3Credentials). */
export const FAKE_S3_CREDENTIALS = { accessKeyId: "AKIAFAKEUNITTEST0001", secretAccessKey: "fake-s3-secret-UNIT-TEST-0x5eC12e7" };
export const FAKE_SECRET_VALUES = [
  FAKE_SSH_KEY,
  FAKE_SSH_KEY_BODY,
  FAKE_DEPLOY_KEY,
  FAKE_DEPLOY_KEY_BODY,
  FAKE_REPO_TOKEN,
  ...Object.values(FAKE_APP_ENV),
  ...Object.values(FAKE_S3_CREDENTIALS),
];

export const FAKE_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakePublicKeyForUnitTestsOnlyxxxxxxxxxxxxx deploy";
/** The existing server's host key (sshHostKey is required for one, unless sshTrustOnFirstUse). */
export const FAKE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForUnitTestsOnlyxxxxxxxxxxxxxxx";

/** A valid configuration for an existing server (no AWS resource). */
export function existingHostBase(): Raw {
  return {
    domain: "example.com",
    host: "203.0.113.10",
    sshHostKey: FAKE_HOST_KEY,
    sshPrivateKey: FAKE_SSH_KEY,
    repoUrl: "https://github.com/example/example.com.git",
    wsgiModule: "example.wsgi",
    certbotEmail: "ops@example.com",
    appEnv: JSON.stringify(FAKE_APP_ENV),
  };
}

/** A valid configuration for a new EC2 host. */
export function ec2Base(): Raw {
  return {
    domain: "example.com",
    sshAllowedCidrs: JSON.stringify(["203.0.113.0/24"]),
    sshPublicKey: FAKE_PUBLIC_KEY,
    sshPrivateKey: FAKE_SSH_KEY,
    repoUrl: "https://github.com/example/example.com.git",
    wsgiModule: "example.wsgi",
    certbotEmail: "ops@example.com",
    appEnv: JSON.stringify(FAKE_APP_ENV),
  };
}

/** The secret keys present in a raw configuration (as if each was set with --secret). */
export function secretKeysOf(raw: Raw): Set<string> {
  return new Set(Object.keys(raw).filter((k) => SECRETS.has(k)));
}

/** The public settings of a valid configuration (throws ConfigError for an invalid one). */
export function parse(raw: Raw): Settings {
  return parseConfig(raw, secretKeysOf(raw)).settings;
}

/** Public settings and secret values of a valid configuration. */
export function parseAll(raw: Raw): ParsedConfig {
  return parseConfig(raw, secretKeysOf(raw));
}

/** parseSettings' problems, or undefined when the configuration is valid. */
export function problemsOf(raw: Raw, secretKeys: ReadonlySet<string> = secretKeysOf(raw)): string[] | undefined {
  try {
    parseConfig(raw, secretKeys);
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

/** Representative configuration 1: TLS, Celery, fixtures, a repository deploy key and token, an existing server. */
export function tlsCeleryRaw(): Raw {
  return {
    ...existingHostBase(),
    repoRef: "v1.2.0",
    repoDeployKey: FAKE_DEPLOY_KEY,
    repoToken: FAKE_REPO_TOKEN,
    celeryApp: "example",
    fixtures: JSON.stringify(["quickstart", "extra-notes.json"]),
    gunicornWorkers: "5",
    extraPackages: JSON.stringify(["libpq-dev", "python3-psycopg2"]),
    acmeServer: "https://acme-staging-v02.api.letsencrypt.org/directory",
    clientMaxBodySize: "25M",
    // A value that needs quoting shows how .server.envrc carries it.
    appEnv: JSON.stringify({ ...FAKE_APP_ENV, SITE_TITLE: `Bob's "shop" $5 \`now\`` }),
  };
}

/** Representative configuration 2: plain HTTP, no Celery, a new EC2 host, defaults elsewhere. */
export function plainRaw(): Raw {
  const raw: Raw = { ...ec2Base(), tls: "false", domain: "example.org" };
  delete raw.certbotEmail;
  return raw;
}

/** Representative configuration 3: PostgreSQL on an existing server, backups also in an S3-compatible bucket. */
export function dataRaw(): Raw {
  return {
    ...existingHostBase(),
    database: "host",
    backupDestination: "s3",
    backupBucket: "example-backups",
    backupS3Endpoint: "https://s3.example.net",
    backupS3Credentials: JSON.stringify(FAKE_S3_CREDENTIALS),
    backupKeep: "3",
    backupSchedule: "*-*-* 03:30:00",
    extraPackages: JSON.stringify(["python3-psycopg2"]),
    appEnv: JSON.stringify({ SECRET_KEY: FAKE_APP_ENV.SECRET_KEY }),
  };
}

/**
 * Representative configuration 4: three existing servers behind the user's load balancer (which
 * terminates TLS), Celery on an external broker, DATABASE_URL in appEnv.
 */
export function fleetRaw(): Raw {
  const raw: Raw = {
    ...existingHostBase(),
    hosts: JSON.stringify(["203.0.113.10", "203.0.113.11", "203.0.113.12"]),
    sshHostKeys: JSON.stringify([FAKE_HOST_KEY, FAKE_HOST_KEY, FAKE_HOST_KEY]),
    trustedProxies: JSON.stringify(["10.0.1.0/24", "10.0.2.0/24"]),
    healthCheckPath: "/healthz",
    celeryApp: "example",
    fixtures: JSON.stringify(["quickstart"]),
    redis: "external",
    appEnv: JSON.stringify({ ...FAKE_APP_ENV, CELERY_BROKER_URL: "rediss://:fake-broker@cache.example.net:6379/0" }),
  };
  delete raw.host;
  delete raw.sshHostKey;
  delete raw.certbotEmail;
  return raw;
}

/** The names of the steps a configuration runs, in plan order. */
export function stepNames(s: Settings): string[] {
  return stepPlan(s).map((st) => st.name);
}

/** The rendered script of one step of a configuration's plan (throws if the plan has no such step). */
export function scriptOf(s: Settings, name: string, values: StepValues = {}): string {
  const step = stepPlan(s).find((st) => st.name === name);
  if (!step) throw new Error(`the plan of this configuration has no step ${name}`);
  return renderStepScript(s, step, values);
}
