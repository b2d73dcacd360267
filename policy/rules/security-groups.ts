/** Security groups: nothing but HTTP/HTTPS open to the world. */
import * as aws from "@pulumi/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { Report, mandatory, show } from "./common";

export type SecurityGroupProps = Unwrap<aws.ec2.SecurityGroupArgs>;
export type SecurityGroupRuleProps = Unwrap<aws.ec2.SecurityGroupRuleArgs>;
export type VpcIngressRuleProps = Unwrap<aws.vpc.SecurityGroupIngressRuleArgs>;

/** Ports that may be reachable from the whole internet. */
export const WORLD_OPEN_PORTS: readonly number[] = [80, 443];

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

export const securityGroupPolicies: ResourceValidationPolicy[] = [
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
];
