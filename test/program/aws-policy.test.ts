/**
 * The policy pack on the real program's registrations for both load-balanced stacks (aws-fixture.ts): no violation, mandatory or advisory. Then the negative control: the same registrations
 * with one property broken per FSBP control are caught, each by its own policy, so a clean result
 * means the pack really looked at these resources.
 */
import { AWS_STACKS, runAwsStack } from "./aws-fixture";
import { ProgramRun, Registration } from "./harness";
import { judge } from "./policy-judge";

type Patch = (r: Registration) => Registration | undefined;

/** The run with each registration passed through `patch` (undefined drops it). */
const patched = (run: ProgramRun, patch: Patch) => ({
  registrations: run.registrations.flatMap((r) => patch(r) ?? []),
});
const withInputs =
  (name: string, change: (inputs: Record<string, any>) => Record<string, any>): Patch =>
  (r) =>
    r.name === name ? { ...r, inputs: change({ ...r.inputs }) } : r;

describe.each(Object.entries(AWS_STACKS))("the %s stack's registrations pass every policy of the pack", (_key, s) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runAwsStack(s);
    expect(run.error).toBeUndefined();
  });

  test("no violation, mandatory or advisory", async () => {
    expect(await judge(run)).toEqual([]);
  });

  // Each case: what is broken, and the policy (and resource) that must report it.
  const cases: [string, Patch, RegExp][] = [
    [
      "ALB keeps invalid headers",
      withInputs("web-alb", (i) => ({ ...i, dropInvalidHeaderFields: false })),
      /^elb-alb-drop-invalid-headers web-alb: /,
    ],
    ["ALB in one zone", withInputs("web-alb", (i) => ({ ...i, subnets: i.subnets.slice(0, 1) })), /^elb-multi-az web-alb: /],
    [
      "HTTP listener forwards",
      withInputs("web-http", (i) => ({ ...i, defaultActions: [{ type: "forward", targetGroupArn: "arn" }] })),
      /^elb-http-listener-redirects-to-https web-http: /,
    ],
    [
      "HTTPS listener on the 2016 policy",
      withInputs("web-https", (i) => ({ ...i, sslPolicy: "ELBSecurityPolicy-2016-08" })),
      /^elb-listener-tls-policy web-https: /,
    ],
    ["RDS public", withInputs("db-db", (i) => ({ ...i, publiclyAccessible: true })), /^rds-not-publicly-accessible db-db: /],
    ["RDS unencrypted", withInputs("db-db", (i) => ({ ...i, storageEncrypted: false })), /^rds-storage-encrypted db-db: /],
    ["RDS with 1 day of backups", withInputs("db-db", (i) => ({ ...i, backupRetentionPeriod: 1 })), /^rds-backup-retention db-db: /],
    [
      "Redis unencrypted at rest",
      withInputs("cache-redis", (i) => ({ ...i, atRestEncryptionEnabled: false })),
      /^elasticache-at-rest-encryption cache-redis: /,
    ],
    [
      "Redis TLS only preferred",
      withInputs("cache-redis", (i) => ({ ...i, transitEncryptionMode: "preferred" })),
      /^elasticache-in-transit-encryption cache-redis: /,
    ],
    ["Redis without AUTH", withInputs("cache-redis", ({ authToken: _, ...i }) => i), /^elasticache-auth cache-redis: /],
    [
      "default security group with a rule",
      withInputs("net-default-sg", (i) => ({ ...i, egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }] })),
      /^vpc-default-security-group-closed net-default-sg: /,
    ],
    [
      "default security group not adopted",
      (r) => (r.name === "net-default-sg" ? undefined : r),
      /^vpc-default-security-group-adopted .*net-vpc: /,
    ],
    [
      "SSH from the world without the opt-in",
      withInputs("app-sg", (i) => ({ ...i, ingress: [{ ...i.ingress[0], cidrBlocks: ["0.0.0.0/0"] }, i.ingress[1]] })),
      /^security-group-world-ingress-web-only app-sg: .*SSH/,
    ],
    [
      "HTTP 80 on the hosts from the world",
      withInputs("app-sg", (i) => ({
        ...i,
        ingress: [
          i.ingress[0],
          { ...i.ingress[1], cidrBlocks: ["0.0.0.0/0"] },
          { protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: ["0.0.0.0/0"] },
        ],
      })),
      /^security-group-world-ingress-web-only app-sg: .*5432/,
    ],
    [
      "IMDSv1 on a host",
      withInputs("app-0", (i) => ({ ...i, metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 1 } })),
      /^ec2-instance-imdsv2 app-0: /,
    ],
    [
      "an unencrypted root volume",
      withInputs("app-0", (i) => ({ ...i, rootBlockDevice: { ...i.rootBlockDevice, encrypted: false } })),
      /^ec2-instance-encrypted-volumes app-0: /,
    ],
    ["a bucket without tags", withInputs("site-files-backup", ({ tags: _, ...i }) => i), /^required-tags-s3-bucket site-files-backup: /],
    ["a subnet without tags", withInputs("net-data-0", ({ tags: _, ...i }) => i), /^required-tags-subnet net-data-0: /],
  ];
  if (s.protect) {
    cases.push(
      [
        "protected ALB without deletion protection",
        withInputs("web-alb", (i) => ({ ...i, enableDeletionProtection: false })),
        /^elb-deletion-protection-when-protected web-alb: /,
      ],
      ["protected RDS in one zone", withInputs("db-db", (i) => ({ ...i, multiAz: false })), /^rds-multi-az-when-protected db-db: /],
      [
        "protected RDS deletable",
        withInputs("db-db", (i) => ({ ...i, deletionProtection: false })),
        /^rds-deletion-protection-when-protected db-db: /,
      ],
    );
  }

  test.each(cases)("negative control: %s is caught by its policy", async (_what, patch, expected) => {
    const found = await judge(patched(run, patch));
    expect(found).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
  });

  test("the default security group's adoption is judged through its property dependency on the VPC's id", async () => {
    const noPropertyDependencies = patched(run, (r) => ({ ...r, propertyDependencies: {} }));
    expect(await judge(noPropertyDependencies)).toEqual([expect.stringMatching(/^vpc-default-security-group-adopted .*net-vpc: /)]);
  });
});
