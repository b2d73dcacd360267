/**
 * The django-deploy CrossGuard rules, kept apart from `index.ts` so that they can be imported (and
 * unit-tested) without starting a policy-pack gRPC server: `new PolicyPack(...)` serves at once.
 *
 * Each `check*` function is a pure rule over the resource's input properties (as the engine hands
 * them to an analyzer: plain JSON, secrets unwrapped) and a `report` callback. The `policies` array
 * wires them to @pulumi/aws 7 resource classes with `validateResourceOfType`.
 *
 * Rules read only the fields they judge. During `pulumi preview` a property that is not known yet
 * throws when read, and the policy SDK then reports "can't run policy during preview" as advisory
 * for that resource; reading unrelated fields would make that happen needlessly.
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import type { Unwrap } from "@pulumi/pulumi";
import { ResourceValidationArgs, ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export type Report = (message: string) => void;

export type InstanceProps = Unwrap<aws.ec2.InstanceArgs>;
export type EbsVolumeProps = Unwrap<aws.ebs.VolumeArgs>;
export type SecurityGroupProps = Unwrap<aws.ec2.SecurityGroupArgs>;
export type SecurityGroupRuleProps = Unwrap<aws.ec2.SecurityGroupRuleArgs>;
export type VpcIngressRuleProps = Unwrap<aws.vpc.SecurityGroupIngressRuleArgs>;
export type Tags = Record<string, string | undefined> | undefined;

/** Ports that may be reachable from the whole internet. */
export const WORLD_OPEN_PORTS: readonly number[] = [80, 443];
/** Tags every taggable resource we create must carry, with a non-empty value. */
export const REQUIRED_TAGS: readonly string[] = ["Project", "Stack", "ManagedBy"];

// ---------------------------------------------------------------------------------------------
// EC2 instance metadata service: IMDSv2 only, hop limit 1 (AWS FSBP EC2.8).

export function checkInstanceImdsV2(props: InstanceProps, report: Report): void {
  const metadata = props.metadataOptions;
  if (metadata === undefined || metadata === null) {
    report('metadataOptions must be set: httpTokens "required" (IMDSv2) and httpPutResponseHopLimit 1.');
    return;
  }
  if (metadata.httpTokens !== "required") {
    report(`metadataOptions.httpTokens must be "required" (IMDSv2); got ${show(metadata.httpTokens)}.`);
  }
  if (metadata.httpPutResponseHopLimit !== 1) {
    report(
      `metadataOptions.httpPutResponseHopLimit must be 1 so containers on the host cannot reach ` +
        `the metadata service; got ${show(metadata.httpPutResponseHopLimit)}.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Encrypted volumes (AWS FSBP EC2.3 / EC2.7). Encryption must be explicit in the program: an
// account-level "EBS encryption by default" setting is not visible to the policy.

export function checkInstanceVolumesEncrypted(props: InstanceProps, report: Report): void {
  const root = props.rootBlockDevice;
  if (root === undefined || root === null) {
    report("rootBlockDevice must be declared with encrypted: true (the root volume is otherwise unencrypted by default).");
  } else if (root.encrypted !== true) {
    report(`rootBlockDevice.encrypted must be true; got ${show(root.encrypted)}.`);
  }
  const ebs = props.ebsBlockDevices ?? [];
  ebs.forEach((device, i) => {
    if (device.encrypted !== true) {
      report(`ebsBlockDevices[${i}] (${device.deviceName}) must have encrypted: true; got ${show(device.encrypted)}.`);
    }
  });
}

export function checkEbsVolumeEncrypted(props: EbsVolumeProps, report: Report): void {
  if (props.encrypted !== true) {
    report(`EBS volumes must have encrypted: true; got ${show(props.encrypted)}.`);
  }
}

// ---------------------------------------------------------------------------------------------
// World-open ingress: only TCP/UDP 80 and 443 may be open to 0.0.0.0/0 or ::/0 (AWS FSBP EC2.13,
// EC2.18, EC2.19). Port 22 in particular never is.

/** True for a CIDR that covers every address: any IPv4 or IPv6 network with prefix length 0. */
export function isWorldCidr(cidr: string | undefined | null): boolean {
  if (typeof cidr !== "string") {
    return false;
  }
  return /\/0+$/.test(cidr.trim());
}

/** A protocol name as the AWS API takes it ("tcp", "6", "-1", "all", "icmp", …), normalised. */
function protocolKind(protocol: string | undefined | null): "all" | "tcp" | "udp" | "other" {
  const p = String(protocol ?? "")
    .trim()
    .toLowerCase();
  if (p === "-1" || p === "all") {
    return "all";
  }
  if (p === "tcp" || p === "6") {
    return "tcp";
  }
  if (p === "udp" || p === "17") {
    return "udp";
  }
  return "other";
}

/**
 * Why an ingress permission open to `cidr` is not allowed, or undefined when it is.
 * Only permissions from a world CIDR are judged; others (a VPC range, a security group, a prefix
 * list) are left alone.
 */
export function worldIngressViolation(
  cidr: string,
  protocol: string | undefined | null,
  fromPort: number | undefined | null,
  toPort: number | undefined | null,
): string | undefined {
  if (!isWorldCidr(cidr)) {
    return undefined;
  }
  const kind = protocolKind(protocol);
  const allowed = WORLD_OPEN_PORTS.join("/");
  if (kind === "all") {
    return `ingress from ${cidr} allows all protocols and ports (protocol ${show(protocol)}); only TCP/UDP ${allowed} may be open to the world.`;
  }
  if (kind === "other") {
    return `ingress from ${cidr} allows protocol ${show(protocol)}; only TCP/UDP ${allowed} may be open to the world.`;
  }
  if (typeof fromPort !== "number" || typeof toPort !== "number") {
    return `ingress from ${cidr} on ${kind} has no explicit port (so all ports); only ${allowed} may be open to the world.`;
  }
  const range = fromPort === toPort ? `port ${fromPort}` : `ports ${fromPort}-${toPort}`;
  if (fromPort <= 22 && 22 <= toPort) {
    return `ingress from ${cidr} opens SSH (${kind} ${range}); port 22 must never be open to the world.`;
  }
  if (fromPort !== toPort || !WORLD_OPEN_PORTS.includes(fromPort)) {
    return `ingress from ${cidr} opens ${kind} ${range}; only ${allowed} may be open to the world.`;
  }
  return undefined;
}

export function checkSecurityGroupIngress(props: SecurityGroupProps, report: Report): void {
  const rules = props.ingress ?? [];
  rules.forEach((rule, i) => {
    const cidrs = [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])];
    for (const cidr of cidrs) {
      const why = worldIngressViolation(cidr, rule.protocol, rule.fromPort, rule.toPort);
      if (why !== undefined) {
        report(`ingress[${i}]: ${why}`);
      }
    }
  });
}

export function checkSecurityGroupRule(props: SecurityGroupRuleProps, report: Report): void {
  if (props.type !== "ingress") {
    return;
  }
  const cidrs = [...(props.cidrBlocks ?? []), ...(props.ipv6CidrBlocks ?? [])];
  for (const cidr of cidrs) {
    const why = worldIngressViolation(cidr, props.protocol, props.fromPort, props.toPort);
    if (why !== undefined) {
      report(why);
    }
  }
}

export function checkVpcIngressRule(props: VpcIngressRuleProps, report: Report): void {
  for (const cidr of [props.cidrIpv4, props.cidrIpv6]) {
    if (cidr === undefined || cidr === null) {
      continue;
    }
    const why = worldIngressViolation(cidr, props.ipProtocol, props.fromPort, props.toPort);
    if (why !== undefined) {
      report(why);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Required tags. A tag counts when the resource's own `tags` carry it, or when the AWS provider
// that manages the resource sets it in `defaultTags` (which AWS merges into `tagsAll`).

/** Where a resource's effective tags can come from, cheapest and most often known first. */
export interface TagSources {
  /** The resource's `tags` input. */
  tags: () => Tags;
  /** The provider's `defaultTags.tags` (a provider's object inputs reach analyzers JSON-encoded). */
  providerDefaultTags?: () => Tags;
  /** The resource's `tagsAll`, when the provider computed it at check time. */
  tagsAll?: () => Tags;
}

export function checkRequiredTags(sources: TagSources, report: Report): void {
  const lookups = [sources.tags, sources.providerDefaultTags, sources.tagsAll];
  const missing = REQUIRED_TAGS.filter((key) => {
    // Sources are consulted lazily: a later one (e.g. an unknown tagsAll in preview) is read
    // only when the earlier ones lack the key.
    for (const lookup of lookups) {
      const value = lookup?.()?.[key];
      if (typeof value === "string" && value.trim() !== "") {
        return false;
      }
    }
    return true;
  });
  if (missing.length > 0) {
    report(
      `missing required tag(s) ${missing.join(", ")}: every instance, security group, key pair and ` +
        `Elastic IP must carry non-empty ${REQUIRED_TAGS.join(", ")} tags (in tags or the provider's defaultTags).`,
    );
  }
}

/** Parses a provider's `defaultTags` input, which the Node SDK sends as a JSON string. */
export function providerDefaultTags(args: Pick<ResourceValidationArgs, "provider">): Tags {
  const raw: unknown = args.provider?.props?.defaultTags;
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  if (value !== null && typeof value === "object") {
    const tags = (value as { tags?: unknown }).tags;
    if (tags !== null && typeof tags === "object") {
      return tags as Record<string, string>;
    }
  }
  return undefined;
}

function tagSources(props: { tags?: Tags }, args: ResourceValidationArgs): TagSources {
  return {
    tags: () => props.tags,
    providerDefaultTags: () => providerDefaultTags(args),
    tagsAll: () => (props as { tagsAll?: Tags }).tagsAll,
  };
}

// ---------------------------------------------------------------------------------------------
// Policies.

const mandatory = "mandatory" as const;

/** The tag rule for one resource type (its tags, or the provider's defaultTags, must name the project). */
function requiredTags<R extends pulumi.Resource>(
  name: string,
  what: string,
  type: { new (...args: any[]): R; isInstance(o: any): o is R },
): ResourceValidationPolicy {
  return {
    name,
    description: `${what} carry the ${REQUIRED_TAGS.join(", ")} tags.`,
    enforcementLevel: mandatory,
    severity: "medium",
    validateResource: validateResourceOfType(type, (props, args, report) =>
      checkRequiredTags(tagSources(props as { tags?: Tags }, args), report),
    ),
  };
}

export const policies: ResourceValidationPolicy[] = [
  {
    name: "ec2-instance-imdsv2",
    description: 'EC2 instances require IMDSv2 (metadataOptions.httpTokens "required") with a hop limit of 1.',
    enforcementLevel: mandatory,
    severity: "high",
    validateResource: validateResourceOfType(aws.ec2.Instance, (props, _args, report) => checkInstanceImdsV2(props, report)),
  },
  {
    name: "ec2-instance-encrypted-volumes",
    description: "EC2 instances declare an encrypted root volume, and every attached EBS block device is encrypted.",
    enforcementLevel: mandatory,
    severity: "high",
    validateResource: validateResourceOfType(aws.ec2.Instance, (props, _args, report) => checkInstanceVolumesEncrypted(props, report)),
  },
  {
    name: "ebs-volume-encrypted",
    description: "Standalone EBS volumes are encrypted.",
    enforcementLevel: mandatory,
    severity: "high",
    validateResource: validateResourceOfType(aws.ebs.Volume, (props, _args, report) => checkEbsVolumeEncrypted(props, report)),
  },
  {
    name: "security-group-world-ingress-web-only",
    description: "Inline security group ingress opens nothing but TCP/UDP 80 and 443 to 0.0.0.0/0 or ::/0.",
    enforcementLevel: mandatory,
    severity: "critical",
    validateResource: validateResourceOfType(aws.ec2.SecurityGroup, (props, _args, report) => checkSecurityGroupIngress(props, report)),
  },
  {
    name: "security-group-rule-world-ingress-web-only",
    description: "aws.ec2.SecurityGroupRule ingress opens nothing but TCP/UDP 80 and 443 to 0.0.0.0/0 or ::/0.",
    enforcementLevel: mandatory,
    severity: "critical",
    validateResource: validateResourceOfType(aws.ec2.SecurityGroupRule, (props, _args, report) => checkSecurityGroupRule(props, report)),
  },
  {
    name: "vpc-ingress-rule-world-ingress-web-only",
    description: "aws.vpc.SecurityGroupIngressRule opens nothing but TCP/UDP 80 and 443 to 0.0.0.0/0 or ::/0.",
    enforcementLevel: mandatory,
    severity: "critical",
    validateResource: validateResourceOfType(aws.vpc.SecurityGroupIngressRule, (props, _args, report) =>
      checkVpcIngressRule(props, report),
    ),
  },
  requiredTags("required-tags-ec2-instance", "EC2 instances", aws.ec2.Instance),
  requiredTags("required-tags-security-group", "Security groups", aws.ec2.SecurityGroup),
  requiredTags("required-tags-key-pair", "EC2 key pairs", aws.ec2.KeyPair),
  requiredTags("required-tags-eip", "Elastic IPs", aws.ec2.Eip),
];

function show(value: unknown): string {
  return value === undefined ? "unset" : JSON.stringify(value);
}
