/**
 * Unit tests of the CrossGuard rules (see harness.ts): the pack's contents, EC2 instances and
 * volumes, and required tags. Security groups, VPCs, load balancers, RDS and ElastiCache have
 * their own test files.
 */
import { TYPES, goodTags, run } from "./harness";
import { checkRequiredTags, policies, providerDefaultTags } from "./rules";

const goodInstance = {
  ami: "ami-123",
  instanceType: "t3.small",
  metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
  rootBlockDevice: { encrypted: true, volumeSize: 20, volumeType: "gp3" },
  tags: goodTags,
};

describe("policy pack contents", () => {
  it("has exactly the expected policies, every one mandatory but the SSH opt-in report", () => {
    const expected: Record<string, "mandatory" | "advisory"> = {
      "ebs-volume-encrypted": "mandatory",
      "ec2-instance-encrypted-volumes": "mandatory",
      "ec2-instance-imdsv2": "mandatory",
      "elasticache-at-rest-encryption": "mandatory",
      "elasticache-auth": "mandatory",
      "elasticache-in-transit-encryption": "mandatory",
      "elb-alb-drop-invalid-headers": "mandatory",
      "elb-deletion-protection-when-protected": "mandatory",
      "elb-http-listener-redirects-to-https": "mandatory",
      "elb-listener-tls-policy": "mandatory",
      "elb-multi-az": "mandatory",
      "rds-backup-retention": "mandatory",
      "rds-deletion-protection-when-protected": "mandatory",
      "rds-multi-az-when-protected": "mandatory",
      "rds-not-publicly-accessible": "mandatory",
      "rds-storage-encrypted": "mandatory",
      "required-tags-default-security-group": "mandatory",
      "required-tags-ec2-instance": "mandatory",
      "required-tags-eip": "mandatory",
      "required-tags-elasticache-replication-group": "mandatory",
      "required-tags-key-pair": "mandatory",
      "required-tags-load-balancer": "mandatory",
      "required-tags-rds-instance": "mandatory",
      "required-tags-s3-bucket": "mandatory",
      "required-tags-security-group": "mandatory",
      "required-tags-subnet": "mandatory",
      "required-tags-target-group": "mandatory",
      "required-tags-vpc": "mandatory",
      "security-group-joint-world-ingress-web-only": "mandatory",
      "security-group-rule-world-ingress-web-only": "mandatory",
      "security-group-ssh-world-opt-in": "advisory",
      "security-group-world-ingress-web-only": "mandatory",
      "vpc-default-security-group-adopted": "mandatory",
      "vpc-default-security-group-closed": "mandatory",
      "vpc-ingress-rule-world-ingress-web-only": "mandatory",
    };
    expect(Object.fromEntries(policies.map((p) => [p.name, p.enforcementLevel]))).toEqual(expected);
    expect(policies.length).toBe(Object.keys(expected).length);
    for (const p of policies) expect([p.name, p.description.length > 20]).toEqual([p.name, true]);
  });

  it("uses the @pulumi/aws 7 type tokens", () => {
    expect(TYPES).toEqual({
      instance: "aws:ec2/instance:Instance",
      volume: "aws:ebs/volume:Volume",
      securityGroup: "aws:ec2/securityGroup:SecurityGroup",
      defaultSecurityGroup: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
      securityGroupRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
      ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
      keyPair: "aws:ec2/keyPair:KeyPair",
      eip: "aws:ec2/eip:Eip",
      vpc: "aws:ec2/vpc:Vpc",
      subnet: "aws:ec2/subnet:Subnet",
      loadBalancer: "aws:lb/loadBalancer:LoadBalancer",
      listener: "aws:lb/listener:Listener",
      targetGroup: "aws:lb/targetGroup:TargetGroup",
      dbInstance: "aws:rds/instance:Instance",
      replicationGroup: "aws:elasticache/replicationGroup:ReplicationGroup",
      bucket: "aws:s3/bucket:Bucket",
    });
  });

  it("applies each policy only to its resource type", async () => {
    expect(await run("ec2-instance-imdsv2", TYPES.securityGroup, {})).toBe("not-applicable");
    expect(await run("security-group-world-ingress-web-only", TYPES.instance, {})).toBe("not-applicable");
    expect(await run("required-tags-eip", TYPES.keyPair, {})).toBe("not-applicable");
  });
});

describe("ec2-instance-imdsv2", () => {
  it("passes IMDSv2 with hop limit 1", async () => {
    expect(await run("ec2-instance-imdsv2", TYPES.instance, goodInstance)).toEqual([]);
  });

  it("fails without metadataOptions", async () => {
    const { metadataOptions: _omit, ...props } = goodInstance;
    expect(await run("ec2-instance-imdsv2", TYPES.instance, props)).toEqual([expect.stringContaining("metadataOptions must be set")]);
  });

  it("fails with optional tokens (IMDSv1 allowed)", async () => {
    const props = { ...goodInstance, metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 1 } };
    expect(await run("ec2-instance-imdsv2", TYPES.instance, props)).toEqual([expect.stringContaining('httpTokens must be "required"')]);
  });

  it("fails with a hop limit above 1, or none", async () => {
    for (const hop of [2, undefined]) {
      const props = { ...goodInstance, metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: hop } };
      expect(await run("ec2-instance-imdsv2", TYPES.instance, props)).toEqual([
        expect.stringContaining("httpPutResponseHopLimit must be 1"),
      ]);
    }
  });
});

describe("ec2-instance-encrypted-volumes", () => {
  it("passes an encrypted root and encrypted EBS devices", async () => {
    const props = { ...goodInstance, ebsBlockDevices: [{ deviceName: "/dev/sdf", encrypted: true }] };
    expect(await run("ec2-instance-encrypted-volumes", TYPES.instance, props)).toEqual([]);
  });

  it("fails when the root volume is not declared", async () => {
    const { rootBlockDevice: _omit, ...props } = goodInstance;
    expect(await run("ec2-instance-encrypted-volumes", TYPES.instance, props)).toEqual([
      expect.stringContaining("rootBlockDevice must be declared"),
    ]);
  });

  it("fails an unencrypted root volume", async () => {
    const props = { ...goodInstance, rootBlockDevice: { volumeSize: 20 } };
    expect(await run("ec2-instance-encrypted-volumes", TYPES.instance, props)).toEqual([
      expect.stringContaining("rootBlockDevice.encrypted must be true"),
    ]);
  });

  it("fails each unencrypted EBS block device", async () => {
    const props = {
      ...goodInstance,
      ebsBlockDevices: [
        { deviceName: "/dev/sdf", encrypted: true },
        { deviceName: "/dev/sdg", encrypted: false },
        { deviceName: "/dev/sdh" },
      ],
    };
    expect(await run("ec2-instance-encrypted-volumes", TYPES.instance, props)).toEqual([
      expect.stringContaining("ebsBlockDevices[1] (/dev/sdg)"),
      expect.stringContaining("ebsBlockDevices[2] (/dev/sdh)"),
    ]);
  });
});

describe("ebs-volume-encrypted", () => {
  it("passes an encrypted volume", async () => {
    expect(await run("ebs-volume-encrypted", TYPES.volume, { availabilityZone: "eu-west-1a", encrypted: true })).toEqual([]);
  });

  it("fails an unencrypted volume", async () => {
    expect(await run("ebs-volume-encrypted", TYPES.volume, { availabilityZone: "eu-west-1a" })).toEqual([
      expect.stringContaining("encrypted: true"),
    ]);
  });
});

describe("required tags", () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ["required-tags-ec2-instance", TYPES.instance, goodInstance],
    ["required-tags-security-group", TYPES.securityGroup, { description: "web" }],
    ["required-tags-key-pair", TYPES.keyPair, { publicKey: "ssh-ed25519 AAAA" }],
    ["required-tags-eip", TYPES.eip, { domain: "vpc" }],
    ["required-tags-default-security-group", TYPES.defaultSecurityGroup, { vpcId: "vpc-1" }],
    ["required-tags-vpc", TYPES.vpc, { cidrBlock: "10.0.0.0/16" }],
    ["required-tags-subnet", TYPES.subnet, { vpcId: "vpc-1", cidrBlock: "10.0.1.0/24" }],
    ["required-tags-load-balancer", TYPES.loadBalancer, { loadBalancerType: "application" }],
    ["required-tags-target-group", TYPES.targetGroup, { port: 8000, protocol: "HTTP" }],
    ["required-tags-rds-instance", TYPES.dbInstance, { engine: "postgres", instanceClass: "db.t4g.micro" }],
    ["required-tags-elasticache-replication-group", TYPES.replicationGroup, { description: "cache" }],
    ["required-tags-s3-bucket", TYPES.bucket, { bucket: "example-static" }],
  ];

  it.each(cases)("%s passes with all tags on the resource", async (name, type, base) => {
    expect(await run(name, type, { ...base, tags: goodTags })).toEqual([]);
  });

  it.each(cases)("%s fails without tags", async (name, type, base) => {
    const { tags: _omit, ...props } = base as { tags?: unknown };
    expect(await run(name, type, props)).toEqual([expect.stringContaining("missing required tag(s) Project, Stack, ManagedBy")]);
  });

  it.each(cases)("%s fails on an empty or missing tag", async (name, type, base) => {
    expect(await run(name, type, { ...base, tags: { Project: "django-deploy", Stack: " " } })).toEqual([
      expect.stringContaining("missing required tag(s) Stack, ManagedBy"),
    ]);
  });

  it("accepts tags supplied by the provider's defaultTags (JSON-encoded, as the engine sends them)", async () => {
    const providerProps = { region: "eu-west-1", defaultTags: JSON.stringify({ tags: { ManagedBy: "pulumi", Stack: "dev" } }) };
    const props = { domain: "vpc", tags: { Project: "django-deploy" } };
    expect(await run("required-tags-eip", TYPES.eip, props, { providerProps })).toEqual([]);
    expect(await run("required-tags-eip", TYPES.eip, { domain: "vpc" }, { providerProps })).toEqual([
      expect.stringContaining("missing required tag(s) Project:"),
    ]);
  });

  it("names the kind of resource in the message", async () => {
    expect(await run("required-tags-rds-instance", TYPES.dbInstance, { tags: goodTags, engine: "postgres" })).toEqual([]);
    expect(await run("required-tags-rds-instance", TYPES.dbInstance, { engine: "postgres" })).toEqual([
      "missing required tag(s) Project, Stack, ManagedBy: RDS instances must carry non-empty Project, Stack, ManagedBy tags (in tags or the provider's defaultTags).",
    ]);
  });

  it("accepts tags present in tagsAll", async () => {
    expect(await run("required-tags-key-pair", TYPES.keyPair, { publicKey: "k", tagsAll: goodTags })).toEqual([]);
  });

  it("reads later tag sources only when earlier ones lack a key", () => {
    const unknown = () => {
      throw new Error("unknown during preview");
    };
    const report = jest.fn();
    checkRequiredTags({ tags: () => goodTags, providerDefaultTags: unknown, tagsAll: unknown }, report);
    expect(report).not.toHaveBeenCalled();
  });

  it("parses provider defaultTags in either encoding", () => {
    const provider = (props: Record<string, unknown>) => ({
      provider: { type: "pulumi:providers:aws", urn: "u", name: "aws", props },
    });
    expect(providerDefaultTags(provider({ defaultTags: '{"tags":{"A":"1"}}' }))).toEqual({ A: "1" });
    expect(providerDefaultTags(provider({ defaultTags: { tags: { A: "1" } } }))).toEqual({ A: "1" });
    expect(providerDefaultTags(provider({ defaultTags: "not json" }))).toBeUndefined();
    expect(providerDefaultTags(provider({}))).toBeUndefined();
    expect(providerDefaultTags({})).toBeUndefined();
  });
});
