/**
 * VPC default security groups allow no traffic (AWS FSBP EC2.2).
 *
 * AWS gives every VPC a default security group that lets its members talk to each other and
 * everything out. Pulumi can only empty it by adopting it: aws.ec2.DefaultSecurityGroup with no
 * `ingress` and no `egress` removes every rule. So a stack that creates a VPC must also adopt that
 * VPC's default group, with no rules.
 */
import * as aws from "@pulumi/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { PolicyResource, ReportViolation, ResourceValidationPolicy, StackValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { Report, mandatory } from "./common";

export type DefaultSecurityGroupProps = Unwrap<aws.ec2.DefaultSecurityGroupArgs>;

export function checkDefaultSecurityGroupClosed(props: DefaultSecurityGroupProps, report: Report): void {
  const ingress = props.ingress?.length ?? 0;
  const egress = props.egress?.length ?? 0;
  if (ingress > 0 || egress > 0) {
    report(
      `the VPC default security group must allow no traffic (FSBP EC2.2); it declares ${ingress} ingress and ${egress} egress ` +
        `rule(s): adopt it with no ingress and no egress, and give resources security groups of their own.`,
    );
  }
}

/** Every aws.ec2.Vpc of the stack has an aws.ec2.DefaultSecurityGroup computed from it (or naming its id). */
export function checkVpcsAdoptDefaultSecurityGroup(resources: PolicyResource[], report: ReportViolation): void {
  const vpcs = resources.filter((r) => r.isType(aws.ec2.Vpc));
  if (vpcs.length === 0) return;
  const adopters = resources.filter((r) => r.isType(aws.ec2.DefaultSecurityGroup));
  const adopted = new Set(adopters.flatMap((d) => (d.propertyDependencies.vpcId ?? []).map((dep) => dep.urn)));
  let missing = vpcs.filter((v) => !adopted.has(v.urn));
  if (missing.length > 0 && adopters.length > 0) {
    // A literal vpcId (say, from an import) can only be matched by value; ids are read only now,
    // since a new VPC's id is unknown during preview.
    const ids = new Set<unknown>(adopters.map((d) => (d.props as { vpcId?: unknown }).vpcId).filter((id) => typeof id === "string"));
    missing = missing.filter((v) => !ids.has((v.props as { id?: unknown }).id));
  }
  for (const vpc of missing) {
    report(
      `VPC ${vpc.name} has no aws.ec2.DefaultSecurityGroup, so its default security group keeps AWS's rules ` +
        `(all traffic between its members, all egress); adopt it with new aws.ec2.DefaultSecurityGroup(name, { vpcId: vpc.id }) ` +
        `and no rules (FSBP EC2.2).`,
      vpc.urn,
    );
  }
}

export const vpcPolicies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  {
    name: "vpc-default-security-group-closed",
    description: "The VPC default security group (aws.ec2.DefaultSecurityGroup) has no ingress and no egress rules (FSBP EC2.2).",
    enforcementLevel: mandatory,
    severity: "high",
    validateResource: validateResourceOfType(aws.ec2.DefaultSecurityGroup, (props, _args, report) =>
      checkDefaultSecurityGroupClosed(props, report),
    ),
  },
  {
    name: "vpc-default-security-group-adopted",
    description: "Every aws.ec2.Vpc in the stack has its default security group adopted by an aws.ec2.DefaultSecurityGroup (FSBP EC2.2).",
    enforcementLevel: mandatory,
    severity: "high",
    validateStack: (args, report) => checkVpcsAdoptDefaultSecurityGroup(args.resources, report),
  },
];
