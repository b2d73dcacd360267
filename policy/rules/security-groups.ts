/**
 * Security groups: nothing but HTTP/HTTPS open to the world (AWS FSBP EC2.13, EC2.18, EC2.19), and
 * SSH to the world or near it only where the stack opted in (the SSH_ALLOW_WORLD_TAG tag), which
 * is then reported as advisory instead (ingress.ts judges; this module wires resources to it).
 *
 * Where the opt-in tag is read: a security group's own tags for its inline ingress; an
 * aws.vpc.SecurityGroupIngressRule's own tags for that rule. aws.ec2.SecurityGroupRule has no tags,
 * so SSH from the world through it is never accepted.
 */
import * as aws from "@pulumi/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { PolicyResource, ReportViolation, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { Report, advisory, mandatory } from "./common";
import { IngressFinding, Permission, SSH_ALLOW_WORLD_TAG, judgeIngress, judgeTogether } from "./ingress";

export type SecurityGroupProps = Unwrap<aws.ec2.SecurityGroupArgs>;
export type SecurityGroupRuleProps = Unwrap<aws.ec2.SecurityGroupRuleArgs>;
export type VpcIngressRuleProps = Unwrap<aws.vpc.SecurityGroupIngressRuleArgs>;

type Tagged = { tags?: Record<string, string | undefined> | null };

const NOT_OPTED_IN =
  `port 22 must never be open to the world unless the stack opts in ` +
  `(sshAllowWorld: true, which tags the security group ${SSH_ALLOW_WORLD_TAG}=true)`;
const OPTED_IN = `accepted: the stack opted in (${SSH_ALLOW_WORLD_TAG}=true, from sshAllowWorld: true)`;

/** True when the resource's own tags carry the SSH opt-in. Read only when an SSH finding needs it. */
export const optedIn = (props: Tagged): boolean => props.tags?.[SSH_ALLOW_WORLD_TAG] === "true";

/** The inline ingress of a group as permissions; each rule is its own owner unless `owner` is given. */
export function securityGroupPermissions(props: SecurityGroupProps, owner?: string, labelPrefix = ""): Permission[] {
  return (props.ingress ?? []).map((rule, i) => ({
    label: `${labelPrefix}ingress[${i}]`,
    owner: owner ?? `ingress[${i}]`,
    protocol: rule.protocol,
    fromPort: rule.fromPort,
    toPort: rule.toPort,
    cidrs: [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])],
  }));
}

function securityGroupRulePermission(props: SecurityGroupRuleProps, owner: string, label: string): Permission[] {
  if (props.type !== "ingress") return [];
  const cidrs = [...(props.cidrBlocks ?? []), ...(props.ipv6CidrBlocks ?? [])];
  return [{ label, owner, protocol: props.protocol, fromPort: props.fromPort, toPort: props.toPort, cidrs }];
}

function vpcIngressRulePermission(props: VpcIngressRuleProps, owner: string, label: string): Permission[] {
  const cidrs = [props.cidrIpv4, props.cidrIpv6].filter((c): c is string => typeof c === "string");
  return [{ label, owner, protocol: props.ipProtocol, fromPort: props.fromPort, toPort: props.toPort, cidrs }];
}

/**
 * Reports violations, and SSH findings unless every owner they involve opted in. `optedIn` is asked
 * lazily, so tags unknown during preview only matter when an SSH finding needs them.
 */
function reportMandatory(findings: IngressFinding[], optedIn: (owner: string) => boolean, report: Report): void {
  for (const f of findings) {
    if (f.kind === "violation") report(f.message);
    else if (!f.owners.every(optedIn)) report(`${f.message}; ${NOT_OPTED_IN}.`);
  }
}

export function checkSecurityGroupIngress(props: SecurityGroupProps, report: Report): void {
  reportMandatory(judgeIngress(securityGroupPermissions(props)), () => optedIn(props), report);
}

export function checkSecurityGroupRule(props: SecurityGroupRuleProps, report: Report): void {
  reportMandatory(judgeIngress(securityGroupRulePermission(props, "rule", "")), () => false, report);
}

export function checkVpcIngressRule(props: VpcIngressRuleProps, report: Report): void {
  reportMandatory(judgeIngress(vpcIngressRulePermission(props, "rule", "")), () => optedIn(props), report);
}

// ---------------------------------------------------------------------------------------------
// The stack: rule resources of one group judged together, and the SSH opt-ins as advisories.

interface Member {
  resource: PolicyResource;
  permissions: Permission[];
  optedIn: () => boolean;
}

/** The group a rule resource belongs to: the security group it was computed from, else its literal id. */
function groupKey(resource: PolicyResource): string {
  const sg = resource.propertyDependencies.securityGroupId?.find((d) => d.isType(aws.ec2.SecurityGroup));
  return sg !== undefined ? sg.urn : `id:${String((resource.props as { securityGroupId?: unknown }).securityGroupId)}`;
}

/** Security groups and rule resources of the stack, by group (key: the group's URN, or a literal id). */
function stackGroups(resources: PolicyResource[]): Map<string, Member[]> {
  const groups = new Map<string, Member[]>();
  const add = (key: string, member: Member) => groups.set(key, [...(groups.get(key) ?? []), member]);
  for (const resource of resources) {
    const props = resource.props as SecurityGroupProps & SecurityGroupRuleProps & VpcIngressRuleProps;
    if (resource.isType(aws.ec2.SecurityGroup)) {
      const permissions = securityGroupPermissions(props, resource.urn, `${resource.name} `);
      add(resource.urn, { resource, permissions, optedIn: () => optedIn(props) });
    } else if (resource.isType(aws.ec2.SecurityGroupRule)) {
      const permissions = securityGroupRulePermission(props, resource.urn, resource.name);
      if (permissions.length > 0) add(groupKey(resource), { resource, permissions, optedIn: () => false });
    } else if (resource.isType(aws.vpc.SecurityGroupIngressRule)) {
      const permissions = vpcIngressRulePermission(props, resource.urn, resource.name);
      add(groupKey(resource), { resource, permissions, optedIn: () => optedIn(props) });
    }
  }
  return groups;
}

interface Located {
  finding: IngressFinding;
  urn: string;
  optedIn: () => boolean;
}

/** What several resources of one group open only together. */
function jointFindings(groups: Map<string, Member[]>): Located[] {
  const located: Located[] = [];
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    const byUrn = new Map(members.map((m) => [m.resource.urn, m]));
    const urn = (members.find((m) => m.resource.isType(aws.ec2.SecurityGroup)) ?? members[0]).resource.urn;
    for (const finding of judgeTogether(members.flatMap((m) => m.permissions))) {
      located.push({ finding, urn, optedIn: () => finding.owners.every((o) => byUrn.get(o)?.optedIn() === true) });
    }
  }
  return located;
}

export function checkStackJointIngress(resources: PolicyResource[], report: ReportViolation): void {
  for (const { finding, urn, optedIn } of jointFindings(stackGroups(resources))) {
    if (finding.kind === "violation") report(finding.message, urn);
    else if (!optedIn()) report(`${finding.message}; ${NOT_OPTED_IN}.`, urn);
  }
}

/** Every SSH opening to the world or near it that the stack opted in to: alone, and together. */
export function checkStackSshOptIns(resources: PolicyResource[], report: ReportViolation): void {
  const groups = stackGroups(resources);
  const alone: Located[] = [...groups.values()].flat().flatMap((m) => {
    // Inline rules of a group are judged as the resource policy does: each rule its own owner.
    const perms = m.resource.isType(aws.ec2.SecurityGroup)
      ? securityGroupPermissions(m.resource.props as SecurityGroupProps, undefined, `${m.resource.name} `)
      : m.permissions;
    return judgeIngress(perms).map((finding) => ({ finding, urn: m.resource.urn, optedIn: m.optedIn }));
  });
  for (const { finding, urn, optedIn } of [...alone, ...jointFindings(groups)]) {
    if (finding.kind === "ssh" && optedIn()) report(`${finding.message}; ${OPTED_IN}.`, urn);
  }
}

const WEB_ONLY = "nothing but TCP/UDP 80 and 443 to the world (any set of blocks covering IPv4 or IPv6)";
const SSH_RULE = "SSH to the world or to a block wider than IPv4 /8 or IPv6 /32 only with the stack's SSH opt-in";

export const securityGroupPolicies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  {
    name: "security-group-world-ingress-web-only",
    description: `Inline security group ingress opens ${WEB_ONLY}; ${SSH_RULE} (FSBP EC2.13/EC2.18/EC2.19).`,
    enforcementLevel: mandatory,
    severity: "critical",
    validateResource: validateResourceOfType(aws.ec2.SecurityGroup, (props, _args, report) => checkSecurityGroupIngress(props, report)),
  },
  {
    name: "security-group-rule-world-ingress-web-only",
    description: `aws.ec2.SecurityGroupRule ingress opens ${WEB_ONLY}, and never SSH to the world (it has no tags to opt in with) (FSBP EC2.13/EC2.18/EC2.19).`,
    enforcementLevel: mandatory,
    severity: "critical",
    validateResource: validateResourceOfType(aws.ec2.SecurityGroupRule, (props, _args, report) => checkSecurityGroupRule(props, report)),
  },
  {
    name: "vpc-ingress-rule-world-ingress-web-only",
    description: `aws.vpc.SecurityGroupIngressRule opens ${WEB_ONLY}; ${SSH_RULE} (FSBP EC2.13/EC2.18/EC2.19).`,
    enforcementLevel: mandatory,
    severity: "critical",
    validateResource: validateResourceOfType(aws.vpc.SecurityGroupIngressRule, (props, _args, report) =>
      checkVpcIngressRule(props, report),
    ),
  },
  {
    name: "security-group-joint-world-ingress-web-only",
    description: `Rule resources of one security group (and its inline ingress) together open ${WEB_ONLY}; ${SSH_RULE} (FSBP EC2.13/EC2.18/EC2.19).`,
    enforcementLevel: mandatory,
    severity: "critical",
    validateStack: (args, report) => checkStackJointIngress(args.resources, report),
  },
  {
    name: "security-group-ssh-world-opt-in",
    description: `Reports, as advisory, SSH open to the world or near it where the stack opted in with ${SSH_ALLOW_WORLD_TAG}=true.`,
    enforcementLevel: advisory,
    severity: "high",
    validateStack: (args, report) => checkStackSshOptIns(args.resources, report),
  },
];
