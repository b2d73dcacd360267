/**
 * The real index.ts for a site on several hosts, under mocks: a 3-host prod stack on EC2 (ALB, RDS,
 * ElastiCache with a replica), a 1-host load-balanced staging stack, and three existing servers
 * behind the user's load balancer switched two at a time. Read from the registration requests: the
 * managed services' security properties and the policy pack's verdict, which host each step
 * connects to, the rollout order (dependencies), the roles (migrations and beat on host 1 only), and
 * that the generated secrets reach .server.envrc on a secret stdin and nowhere else.
 */
import { judge } from "./policy-judge";
import { FAKE_SECRETS, ProgramRun, Registration, existingHostConfig, runProgram, stackConfig } from "./harness";

const ZONE = "Z0123456789ABCDEFGHIJ";
const FLEET = { dnsZoneId: ZONE, healthCheckPath: "/healthz", certbotEmail: undefined };
const APP_ENV = JSON.stringify({ SECRET_KEY: FAKE_SECRETS.appEnv.SECRET_KEY });
const HOST_KEYS = ["A", "B", "C"].map((c) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFleetHostKey${c}xxxxxxxxxxxxxxxxxxxxxxxxx`);

const byType = (run: ProgramRun, type: string): Registration[] => run.registrations.filter((r) => r.type === type);
const deps = (run: ProgramRun, name: string): string[] => {
  const names = new Map(run.commands().map((c) => [c.urn, c.name]));
  return run
    .byName(name)
    .options.dependencies.map((u) => names.get(u))
    .filter((n): n is string => n !== undefined)
    .sort();
};

describe("prod on EC2: 3 hosts behind the ALB, RDS, ElastiCache", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    const cfg = stackConfig("prod", {
      ...FLEET,
      appHosts: 3,
      database: "rds",
      redis: "elasticache",
      cacheReplicas: 1,
      zones: 3,
      appEnv: APP_ENV,
    });
    run = await runProgram(cfg, { stack: "prod" });
  });

  test("the program ran; no single-host instance, no Certbot, no A records of its own", () => {
    expect(run.error).toBeUndefined();
    expect(byType(run, "django-deploy:host:AwsHost")).toEqual([]);
    expect(byType(run, "django-deploy:dns:SiteDns")).toEqual([]);
    expect(run.commands().filter((c) => /^web-(acme|certificate)/.test(c.name))).toEqual([]);
    expect(byType(run, "aws:ec2/instance:Instance")).toHaveLength(3);
  });

  test("RDS: encrypted, private, TLS forced, 7+ days of backups, Multi-AZ, deletion protection and a final snapshot (protect)", () => {
    const [db] = byType(run, "aws:rds/instance:Instance");
    expect(db.inputs).toMatchObject({
      storageEncrypted: true,
      publiclyAccessible: false,
      multiAz: true,
      deletionProtection: true,
      skipFinalSnapshot: false,
    });
    expect(db.inputs.backupRetentionPeriod).toBeGreaterThanOrEqual(7);
    const [params] = byType(run, "aws:rds/parameterGroup:ParameterGroup");
    expect(params.inputs.parameters).toEqual([expect.objectContaining({ name: "rds.force_ssl", value: "1" })]);
  });

  test("ElastiCache: TLS, at-rest encryption, an auth token (secret), failover with the replica", () => {
    const [rg] = byType(run, "aws:elasticache/replicationGroup:ReplicationGroup");
    expect(rg.inputs).toMatchObject({
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      automaticFailoverEnabled: true,
      numCacheClusters: 2,
    });
    expect(typeof rg.inputs.authToken === "string" || typeof rg.inputs.authToken?.value === "string").toBe(true);
  });

  test("the pack's FSBP controls pass on these registrations", async () => {
    expect(await judge(run)).toEqual([]);
  });

  test("each host's steps connect to its own Elastic IP with its own generated host key", () => {
    const eips = byType(run, "aws:ec2/eip:Eip").map((e) => e.state.publicIp as string);
    expect(new Set(eips).size).toBe(3);
    for (const [i, suffix] of ["", "-h2", "-h3"].entries()) {
      const conn = run.byName(`host-wait${suffix}`).inputs.connection.value as { host: string; hostKey: string };
      expect(conn.host).toBe(eips[i]);
      const later = run.byName(`app-switch${suffix}`).inputs.connection.value as { host: string; hostKey: string };
      expect(later).toMatchObject({ host: eips[i], hostKey: conn.hostKey });
    }
  });

  test("rollout: host 1 migrates first; hosts 2 and 3 prepare after it and switch one after the other", () => {
    expect(deps(run, "app-release-h2")).toContain("app-release");
    expect(deps(run, "app-release-h3")).toContain("app-release");
    expect(deps(run, "app-switch")).not.toContain("app-switch-h2");
    expect(deps(run, "app-switch-h2")).toEqual(expect.arrayContaining(["app-release-h2", "app-switch"]));
    expect(deps(run, "app-switch-h3")).toEqual(expect.arrayContaining(["app-release-h3", "app-switch-h2"]));
    expect(deps(run, "app-switch-h3")).not.toContain("app-switch");
  });

  test("roles: migrations, fixtures and beat on host 1 only; hosts 2 and 3 check out host 1's commit", () => {
    const script = (n: string) => run.byName(n).inputs.create as string;
    expect(script("app-release")).toContain('["migrate", "--noinput"]');
    expect(script("app-release-h2")).not.toContain('["migrate"');
    expect(script("app-release-h2")).toContain('["migrated"]');
    expect(script("app-switch")).toMatch(/install_file \S+-beat\.conf/);
    expect(script("app-switch-h3")).not.toMatch(/install_file \S+-beat\.conf/);
    expect(script("app-switch-h3")).toContain("beat runs on host 1 only: removed it here");
    const commit = JSON.parse((run.byName("code-checkout").state.stdout as string).trim().split("\n").pop() ?? "{}").commit as string;
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(script("code-checkout-h2")).toContain(`releaseCommit=${commit}`);
  });

  test("DATABASE_URL (sslmode=require), the rediss:// broker and the media bucket reach .server.envrc on a secret stdin, and no command", () => {
    const env = run.byName("env-server-env").wire.stdin;
    expect(env).toHaveProperty("value");
    const text = env.value as string;
    expect(text).toMatch(/^export DATABASE_URL='postgres:\/\/django:[^@']+@[^']+\?sslmode=require'$/m);
    expect(text).toMatch(/^export CELERY_BROKER_URL='rediss:\/\/:[^@']+@[^']+\/0\?ssl_cert_reqs=required'$/m);
    expect(text).toMatch(/^export CELERY_RESULT_BACKEND='rediss:\/\/:[^@']+@[^']+\/1\?ssl_cert_reqs=required'$/m);
    expect(text).toMatch(/^export AWS_STORAGE_BUCKET_NAME=/m);
    const password = /postgres:\/\/django:([^@']+)@/.exec(text)?.[1] ?? "";
    const token = /rediss:\/\/:([^@']+)@/.exec(text)?.[1] ?? "";
    expect(password.length).toBeGreaterThan(10);
    expect(token.length).toBeGreaterThan(10);
    for (const c of run.commands()) {
      expect(c.inputs.create as string).not.toContain(password);
      expect(c.inputs.create as string).not.toContain(token);
    }
    for (const [name, out] of Object.entries(run.exports)) {
      if (out.secret) continue;
      expect([name, JSON.stringify(out.value)]).not.toEqual([name, expect.stringContaining(password)]);
    }
  });

  test("nginx listens for the load balancer only and trusts the VPC's addresses", () => {
    const script = run.byName("web-nginx-site").inputs.create as string;
    expect(script).toContain("set_real_ip_from 10.0.0.0/16;");
    expect(script).not.toMatch(/listen .*443/);
  });

  test("outputs: every host, every host's live commit, the load balancer and the media bucket", () => {
    expect((run.exports.hostAddresses.value as string[]).length).toBe(3);
    expect((run.exports.liveCommits.value as string[]).length).toBe(3);
    expect(run.exports.loadBalancerDnsName.value).toEqual(expect.any(String));
    expect(run.exports.mediaBucket.value).toEqual(expect.any(String));
  });
});

describe("staging on EC2: one host behind the ALB, database external", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stackConfig("staging", { ...FLEET, loadBalancer: true, acmeServer: undefined }), { stack: "staging" });
  });

  test("the ALB, one host, no RDS or ElastiCache; the policy pack passes", async () => {
    expect(run.error).toBeUndefined();
    expect(byType(run, "aws:lb/loadBalancer:LoadBalancer")).toHaveLength(1);
    expect(byType(run, "aws:ec2/instance:Instance")).toHaveLength(1);
    expect(byType(run, "aws:rds/instance:Instance")).toEqual([]);
    expect(byType(run, "aws:elasticache/replicationGroup:ReplicationGroup")).toEqual([]);
    expect(run.commands().some((c) => c.name.includes("-h"))).toBe(false);
    expect(await judge(run)).toEqual([]);
  });
});

describe("existing servers behind the user's load balancer, two switched at a time", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    const cfg = existingHostConfig({
      host: undefined,
      sshHostKey: undefined,
      hosts: ["203.0.113.50", "203.0.113.51", "203.0.113.52"],
      sshHostKeys: HOST_KEYS,
      trustedProxies: ["192.0.2.0/28"],
      healthCheckPath: "/healthz",
      certbotEmail: undefined,
      acmeServer: undefined,
      rollingBatch: 2,
      celeryApp: "example",
      redis: "external",
      appEnv: JSON.stringify({ ...FAKE_SECRETS.appEnv, CELERY_BROKER_URL: "rediss://:fake@cache.internal:6379/0" }),
    });
    run = await runProgram(cfg);
  });

  test("no AWS resource; each host's steps use its own address and host key", () => {
    expect(run.error).toBeUndefined();
    expect(run.registrations.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
    for (const [i, suffix] of ["", "-h2", "-h3"].entries()) {
      expect(run.byName(`app-switch${suffix}`).inputs.connection.value).toMatchObject({
        host: `203.0.113.5${i}`,
        hostKey: HOST_KEYS[i],
      });
    }
  });

  test("batches of two: hosts 1 and 2 switch together, host 3 after both", () => {
    expect(deps(run, "app-switch-h2")).not.toContain("app-switch");
    expect(deps(run, "app-switch-h3")).toEqual(expect.arrayContaining(["app-switch", "app-switch-h2"]));
  });

  test("nginx trusts X-Forwarded-* from trustedProxies only", () => {
    expect(run.byName("web-nginx-site-h3").inputs.create as string).toContain("set_real_ip_from 192.0.2.0/28;");
  });
});
