/**
 * Unit tests of the CrossGuard rules, without the Pulumi engine: each policy's validateResource is
 * called with ResourceValidationArgs-shaped input and a collecting reportViolation.
 */
import * as aws from "@pulumi/aws";
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { checkRequiredTags, isWorldCidr, policies, providerDefaultTags, REQUIRED_TAGS, worldIngressViolation } from "./rules";

/** The type token a resource class carries (a static the SDK sets but does not declare). */
const tokenOf = (cls: unknown): string => (cls as { __pulumiType: string }).__pulumiType;

const TYPES = {
  instance: tokenOf(aws.ec2.Instance),
  volume: tokenOf(aws.ebs.Volume),
  securityGroup: tokenOf(aws.ec2.SecurityGroup),
  securityGroupRule: tokenOf(aws.ec2.SecurityGroupRule),
  ingressRule: tokenOf(aws.vpc.SecurityGroupIngressRule),
  keyPair: tokenOf(aws.ec2.KeyPair),
  eip: tokenOf(aws.ec2.Eip),
};

class NotApplicable extends Error {}

interface Options {
  /** The provider resource's inputs, as the engine passes them (object inputs JSON-encoded). */
  providerProps?: Record<string, unknown>;
}

/** Runs one policy against a resource; returns its violations, or "not-applicable". */
async function run(
  policyName: string,
  type: string,
  props: Record<string, unknown>,
  options: Options = {},
): Promise<string[] | "not-applicable"> {
  const policy = policies.find((p): p is ResourceValidationPolicy => p.name === policyName && "validateResource" in p);
  if (policy === undefined) {
    throw new Error(`no policy named ${policyName}`);
  }
  const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
  const violations: string[] = [];
  const args: ResourceValidationArgs = {
    type,
    props,
    urn: `urn:pulumi:test::django-deploy::${type}::r`,
    name: "r",
    opts: {
      protect: false,
      ignoreChanges: [],
      aliases: [],
      additionalSecretOutputs: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    },
    provider: options.providerProps
      ? { type: "pulumi:providers:aws", props: options.providerProps, urn: "urn:provider", name: "aws" }
      : undefined,
    stackTags: new Map(),
    isType: (cls) => tokenOf(cls) === type,
    asType: ((cls: unknown) => (tokenOf(cls) === type ? props : undefined)) as ResourceValidationArgs["asType"],
    getConfig: <T extends object>() => ({}) as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason);
    },
  };
  try {
    for (const validate of validations) {
      await validate(args, (message) => violations.push(message));
    }
  } catch (e) {
    if (e instanceof NotApplicable) {
      return "not-applicable";
    }
    throw e;
  }
  return violations;
}

const goodTags = { Project: "django-deploy", Stack: "dev", ManagedBy: "pulumi" };

const goodInstance = {
  ami: "ami-123",
  instanceType: "t3.small",
  metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
  rootBlockDevice: { encrypted: true, volumeSize: 20, volumeType: "gp3" },
  tags: goodTags,
};

const web = (port: number, cidr = "0.0.0.0/0") => ({ protocol: "tcp", fromPort: port, toPort: port, cidrBlocks: [cidr] });

describe("policy pack contents", () => {
  it("has exactly the expected policies, all mandatory", () => {
    expect(policies.map((p) => p.name).sort()).toEqual(
      [
        "ebs-volume-encrypted",
        "ec2-instance-encrypted-volumes",
        "ec2-instance-imdsv2",
        "required-tags-ec2-instance",
        "required-tags-eip",
        "required-tags-key-pair",
        "required-tags-security-group",
        "security-group-rule-world-ingress-web-only",
        "security-group-world-ingress-web-only",
        "vpc-ingress-rule-world-ingress-web-only",
      ].sort(),
    );
    for (const p of policies) {
      expect([p.name, p.enforcementLevel]).toEqual([p.name, "mandatory"]);
      expect(p.description.length).toBeGreaterThan(10);
    }
  });

  it("uses the @pulumi/aws 7 type tokens", () => {
    expect(TYPES).toEqual({
      instance: "aws:ec2/instance:Instance",
      volume: "aws:ebs/volume:Volume",
      securityGroup: "aws:ec2/securityGroup:SecurityGroup",
      securityGroupRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
      ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
      keyPair: "aws:ec2/keyPair:KeyPair",
      eip: "aws:ec2/eip:Eip",
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

describe("world-open ingress", () => {
  describe("helpers", () => {
    it("recognises world CIDRs only", () => {
      for (const cidr of ["0.0.0.0/0", "::/0", "0::0/0", " 0.0.0.0/0 "]) {
        expect([cidr, isWorldCidr(cidr)]).toEqual([cidr, true]);
      }
      for (const cidr of ["10.0.0.0/8", "203.0.113.7/32", "2001:db8::/32", "0.0.0.0/1", undefined]) {
        expect([cidr, isWorldCidr(cidr)]).toEqual([cidr, false]);
      }
    });

    it("allows exactly TCP/UDP 80 and 443 from the world", () => {
      expect(worldIngressViolation("0.0.0.0/0", "tcp", 80, 80)).toBeUndefined();
      expect(worldIngressViolation("::/0", "6", 443, 443)).toBeUndefined();
      expect(worldIngressViolation("::/0", "udp", 443, 443)).toBeUndefined();
      expect(worldIngressViolation("10.0.0.0/16", "tcp", 22, 22)).toBeUndefined();
      expect(worldIngressViolation("10.0.0.0/16", "-1", 0, 0)).toBeUndefined();
    });

    it("rejects SSH, other ports, ranges, all-protocol and non-TCP/UDP rules from the world", () => {
      expect(worldIngressViolation("0.0.0.0/0", "tcp", 22, 22)).toMatch(/SSH.*port 22 must never/);
      expect(worldIngressViolation("::/0", "tcp", 0, 65535)).toMatch(/SSH/);
      expect(worldIngressViolation("0.0.0.0/0", "tcp", 8000, 8000)).toMatch(/opens tcp port 8000/);
      expect(worldIngressViolation("0.0.0.0/0", "tcp", 80, 443)).toMatch(/ports 80-443/);
      expect(worldIngressViolation("0.0.0.0/0", "-1", 0, 0)).toMatch(/all protocols/);
      expect(worldIngressViolation("0.0.0.0/0", "all", undefined, undefined)).toMatch(/all protocols/);
      expect(worldIngressViolation("0.0.0.0/0", "icmp", -1, -1)).toMatch(/protocol "icmp"/);
      expect(worldIngressViolation("0.0.0.0/0", "tcp", undefined, undefined)).toMatch(/no explicit port/);
    });
  });

  describe("security-group-world-ingress-web-only (inline ingress)", () => {
    it("passes 80/443 from the world and SSH from a trusted range", async () => {
      const props = {
        ingress: [web(80), web(443), web(443, "::/0"), web(22, "203.0.113.7/32")],
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
      };
      expect(await run("security-group-world-ingress-web-only", TYPES.securityGroup, props)).toEqual([]);
    });

    it("passes a group without ingress", async () => {
      expect(await run("security-group-world-ingress-web-only", TYPES.securityGroup, {})).toEqual([]);
    });

    it("fails SSH open to 0.0.0.0/0 or ::/0", async () => {
      const props = {
        ingress: [web(80), { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }],
      };
      expect(await run("security-group-world-ingress-web-only", TYPES.securityGroup, props)).toEqual([
        expect.stringMatching(/^ingress\[1\]: .*0\.0\.0\.0\/0.*port 22 must never/),
        expect.stringMatching(/^ingress\[1\]: .*::\/0.*port 22 must never/),
      ]);
    });

    it("fails any other port, and all traffic, from the world", async () => {
      const props = { ingress: [web(8000), { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }] };
      expect(await run("security-group-world-ingress-web-only", TYPES.securityGroup, props)).toEqual([
        expect.stringContaining("ingress[0]: ingress from 0.0.0.0/0 opens tcp port 8000"),
        expect.stringContaining("ingress[1]: ingress from 0.0.0.0/0 allows all protocols"),
      ]);
    });
  });

  describe("security-group-rule-world-ingress-web-only (aws.ec2.SecurityGroupRule)", () => {
    const rule = (over: Record<string, unknown>) => ({ type: "ingress", securityGroupId: "sg-1", ...web(443), ...over });

    it("passes HTTPS from the world, and egress anywhere", async () => {
      expect(await run("security-group-rule-world-ingress-web-only", TYPES.securityGroupRule, rule({}))).toEqual([]);
      const egress = rule({ type: "egress", protocol: "-1", fromPort: 0, toPort: 0 });
      expect(await run("security-group-rule-world-ingress-web-only", TYPES.securityGroupRule, egress)).toEqual([]);
    });

    it("fails SSH from the world over IPv4 or IPv6", async () => {
      const v4 = rule({ fromPort: 22, toPort: 22 });
      const v6 = rule({ fromPort: 22, toPort: 22, cidrBlocks: undefined, ipv6CidrBlocks: ["::/0"] });
      expect(await run("security-group-rule-world-ingress-web-only", TYPES.securityGroupRule, v4)).toEqual([
        expect.stringContaining("port 22 must never"),
      ]);
      expect(await run("security-group-rule-world-ingress-web-only", TYPES.securityGroupRule, v6)).toEqual([
        expect.stringContaining("port 22 must never"),
      ]);
    });
  });

  describe("vpc-ingress-rule-world-ingress-web-only (aws.vpc.SecurityGroupIngressRule)", () => {
    const rule = (over: Record<string, unknown>) => ({
      securityGroupId: "sg-1",
      ipProtocol: "tcp",
      fromPort: 80,
      toPort: 80,
      cidrIpv4: "0.0.0.0/0",
      ...over,
    });

    it("passes HTTP from the world and SSH from a trusted range", async () => {
      expect(await run("vpc-ingress-rule-world-ingress-web-only", TYPES.ingressRule, rule({}))).toEqual([]);
      const ssh = rule({ fromPort: 22, toPort: 22, cidrIpv4: "198.51.100.0/24" });
      expect(await run("vpc-ingress-rule-world-ingress-web-only", TYPES.ingressRule, ssh)).toEqual([]);
    });

    it("fails SSH from ::/0 and all traffic from 0.0.0.0/0", async () => {
      const ssh = rule({ fromPort: 22, toPort: 22, cidrIpv4: undefined, cidrIpv6: "::/0" });
      expect(await run("vpc-ingress-rule-world-ingress-web-only", TYPES.ingressRule, ssh)).toEqual([
        expect.stringContaining("port 22 must never"),
      ]);
      const all = rule({ ipProtocol: "-1", fromPort: undefined, toPort: undefined });
      expect(await run("vpc-ingress-rule-world-ingress-web-only", TYPES.ingressRule, all)).toEqual([
        expect.stringContaining("all protocols"),
      ]);
    });
  });
});

describe("required tags", () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ["required-tags-ec2-instance", TYPES.instance, goodInstance],
    ["required-tags-security-group", TYPES.securityGroup, { description: "web" }],
    ["required-tags-key-pair", TYPES.keyPair, { publicKey: "ssh-ed25519 AAAA" }],
    ["required-tags-eip", TYPES.eip, { domain: "vpc" }],
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
    expect(REQUIRED_TAGS).toEqual(["Project", "Stack", "ManagedBy"]);
  });
});
