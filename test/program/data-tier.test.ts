/**
 * The data tier under mocks (database: host): the generated password is a secret resource whose
 * value reaches the host only on standard input (DATABASE_URL in .server.envrc, a SCRAM verifier for
 * PostgreSQL), never in a command; with backups in S3 on EC2 the program creates a private,
 * encrypted, versioned bucket with a lifecycle rule and an instance role that may only put objects
 * into it; on an existing server the bucket's credentials travel on stdin only; a change of an
 * unrelated setting leaves the PostgreSQL step alone (it never restarts).
 */
import {
  AWS_MARKERS,
  ConfigInput,
  FAKE_SECRETS,
  MARKERS,
  ProgramRun,
  changedPaths,
  existingHostConfig,
  isWrappedSecret,
  plainStrings,
  runProgram,
  stackConfig,
} from "./harness";

const { DATABASE_URL: _external, ...APP_ENV } = FAKE_SECRETS.appEnv;
void _external;
const S3_SECRET = "fake-s3-secret-MARKER0008";
const DATA = { database: "host", appEnv: APP_ENV };
const ec2Data = (more: Record<string, unknown> = {}) => stackConfig("dev", { ...DATA, backupDestination: "s3", ...more });
function existingData(more: Record<string, unknown> = {}): ConfigInput {
  const cfg = existingHostConfig({
    ...DATA,
    backupDestination: "s3",
    backupBucket: "example-backups",
    backupS3Endpoint: "https://s3.example.net",
    backupS3Credentials: { accessKeyId: "AKIAFAKE0001", secretAccessKey: S3_SECRET },
    ...more,
  });
  return { ...cfg, secretKeys: [...cfg.secretKeys, "django-deploy:backupS3Credentials"] };
}

const stdinOf = (run: ProgramRun, step: string) => {
  const stdin = run.byName(step).wire.stdin;
  expect([step, isWrappedSecret(stdin)]).toEqual([step, true]);
  return (stdin as { value: string }).value;
};
const SECRETS = [AWS_MARKERS.dbPassword, S3_SECRET, MARKERS.appSecret, MARKERS.sshPrivateKey];

describe("EC2, database: host, backups in S3", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(ec2Data());
    expect(run.error).toBeUndefined();
  });
  const one = (type: string) => {
    const found = run.registrations.filter((r) => r.type === type);
    expect([type, found.length]).toEqual([type, 1]);
    return found[0];
  };
  const backupBucket = () => run.registrations.find((r) => r.type === "aws:s3/bucket:Bucket" && r.name.endsWith("-backup"))!;
  const onBackup = (type: string) => {
    const id = backupBucket().id;
    return run.registrations.filter((r) => r.type === type && r.inputs.bucket === id);
  };

  test("the password is a RandomPassword (letters and digits) whose result is a secret output", () => {
    const pw = one("random:index/randomPassword:RandomPassword");
    expect(pw.inputs).toMatchObject({ length: 40, special: false });
    expect(pw.options.additionalSecretOutputs).toContain("result");
  });

  test("DATABASE_URL (with the password) reaches the host only in .server.envrc on stdin; PostgreSQL gets a verifier", () => {
    const envrc = stdinOf(run, "env-server-env");
    expect(envrc).toMatch(
      new RegExp(`^export DATABASE_URL='?postgres://django:x${AWS_MARKERS.dbPassword}[0-9a-f]+@/django\\?host=/run/postgresql'?$`, "m"),
    );
    const verifier = stdinOf(run, "data-postgres");
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(verifier).not.toContain(AWS_MARKERS.dbPassword);
    for (const step of ["env-server-env", "data-postgres"]) {
      expect([step, run.byName(step).wire.logging]).toEqual([step, "none"]);
      expect(run.byName(step).options.additionalSecretOutputs).toEqual(expect.arrayContaining(["stdout", "stderr"]));
    }
  });

  test("no plaintext secret in any command, or anywhere outside a secret", () => {
    for (const c of run.commands()) expect([c.name, SECRETS.filter((m) => String(c.wire.create).includes(m))]).toEqual([c.name, []]);
    const leaks = run.registrations.flatMap((r) =>
      plainStrings(r.wire)
        .filter((s) => SECRETS.some((m) => s.value.includes(m)))
        .map((s) => `${r.name}.${s.path}`),
    );
    expect(leaks).toEqual([]);
  });

  test("the backup bucket: public access blocked, encrypted (SSE-S3), versioned, old versions expire", () => {
    expect(onBackup("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0].inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(onBackup("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0].inputs.rules).toEqual([
      expect.objectContaining({ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }),
    ]);
    expect(onBackup("aws:s3/bucketVersioning:BucketVersioning")[0].inputs.versioningConfiguration).toEqual({ status: "Enabled" });
    const [rule] = onBackup("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")[0].inputs.rules;
    expect(rule).toMatchObject({ status: "Enabled", noncurrentVersionExpiration: { noncurrentDays: 30 } });
  });

  test("the instance runs with a role that may only put objects into the backup bucket (and nothing on any other backup path)", () => {
    const policy = JSON.parse(one("aws:iam/rolePolicy:RolePolicy").inputs.policy) as {
      Statement: { Action: string[]; Resource: string[] }[];
    };
    const backupArn = backupBucket().state.arn as string;
    const onIt = policy.Statement.filter((s) => s.Resource.some((r) => r.startsWith(backupArn)));
    expect(onIt).toEqual([expect.objectContaining({ Action: ["s3:PutObject"], Resource: [`${backupArn}/*`] })]);
    for (const s of policy.Statement) for (const r of s.Resource) expect(r).not.toContain("*:");
    const profile = one("aws:iam/instanceProfile:InstanceProfile");
    expect(run.byName("server-instance").inputs.iamInstanceProfile).toBe(profile.state.name);
    // The backup command uploads to that bucket, in the stack's region.
    const backup = String(run.byName("data-backup").wire.create);
    expect(backup).toContain(`s3://${backupBucket().state.bucket as string}/`);
    expect(run.exports.backupBucket.value).toBe(backupBucket().state.bucket);
  });
});

describe("an existing server with backups in its own S3 bucket", () => {
  test("the credentials reach the host on stdin only, into a root-only file; no command holds them", async () => {
    const run = await runProgram(existingData());
    expect(run.error).toBeUndefined();
    expect(stdinOf(run, "data-backup-credentials")).toBe(
      `[default]\naws_access_key_id = AKIAFAKE0001\naws_secret_access_key = ${S3_SECRET}\n`,
    );
    expect(run.byName("data-backup-credentials").wire.logging).toBe("none");
    for (const c of run.commands()) expect([c.name, String(c.wire.create).includes(S3_SECRET)]).toEqual([c.name, false]);
    expect(run.registrations.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
    expect(String(run.byName("data-backup").wire.create)).toContain("s3://example-backups/dev.example.com/");
  });
});

describe("change isolation with database: host: PostgreSQL's step runs only for its own inputs", () => {
  let base: ProgramRun;
  beforeAll(async () => {
    base = await runProgram(ec2Data());
  });
  const diff = (a: ProgramRun, b: ProgramRun) =>
    Object.fromEntries(
      a.registrations
        .map((r) => [r.name, changedPaths(r.inputs, b.registrations.find((x) => x.type === r.type && x.name === r.name)?.inputs)] as const)
        .filter(([, paths]) => paths.length > 0),
    );

  test.each([
    ["clientMaxBodySize", { clientMaxBodySize: "250M" }, { "web-nginx-site": ["create"] }],
    ["backupKeep", { backupKeep: 3 }, { "data-backup": ["create"] }],
    ["backupSchedule", { backupSchedule: "hourly" }, { "data-backup": ["create"] }],
    [
      "an appEnv value",
      { appEnv: { ...APP_ENV, SECRET_KEY: "another-fake-secret-key" } },
      { "env-server-env": ["stdin"], "app-release": ["triggers[0]"], "app-switch": ["create", "triggers[0]"] },
    ],
  ] as const)("%s", async (_label, setting, expected) => {
    const changed = await runProgram(ec2Data(setting));
    expect(changed.error).toBeUndefined();
    expect(diff(base, changed)).toEqual(expected);
  });

  test("the same configuration twice: nothing differs (the password is kept, a re-apply runs nothing)", async () => {
    expect(diff(base, await runProgram(ec2Data()))).toEqual({});
  });
});

describe("bad data-tier settings fail the preview, naming the setting and the ways out", () => {
  test.each([
    [
      "database: external without DATABASE_URL",
      () => stackConfig("dev", { appEnv: APP_ENV }),
      /django-deploy:database: is external \(the default\), so appEnv must set DATABASE_URL: either .*appEnv\.DATABASE_URL.*, or set database: host/,
    ],
    [
      "database: host with DATABASE_URL in appEnv",
      () => stackConfig("dev", { database: "host" }),
      /django-deploy:appEnv: must not set DATABASE_URL with database: host/,
    ],
    ["an unknown database", () => stackConfig("dev", { database: "mysql" }), /django-deploy:database: must be external .*, host .* or rds/],
    [
      "S3 on an existing server without bucket or credentials",
      () => existingHostConfig({ ...DATA, backupDestination: "s3" }),
      /django-deploy:backupBucket: is required for backupDestination: s3 on an existing server[\s\S]*django-deploy:backupS3Credentials: is required/,
    ],
    [
      "a bucket name on EC2",
      () => ec2Data({ backupBucket: "mine" }),
      /django-deploy:backupBucket: not for an EC2 host: the program creates the backup bucket/,
    ],
    [
      "backups without database: host",
      () => stackConfig("dev", { backupKeep: 3 }),
      /django-deploy:backupKeep: backups are made of the host's database/,
    ],
    [
      "backupDir inside baseDir",
      () => stackConfig("dev", { ...DATA, backupDir: "/srv/www/backups" }),
      /django-deploy:backupDir: must be a directory of its own/,
    ],
  ])("%s", async (_label, config, message) => {
    const run = await runProgram(config());
    expect(run.error?.message).toMatch(message);
    expect(run.registrations).toEqual([]);
  });
});
