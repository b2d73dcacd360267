/**
 * Test harness for the CrossGuard rules, without the Pulumi engine: a policy's validateResource is
 * called with ResourceValidationArgs-shaped input, a stack policy's validateStack with
 * PolicyResource-shaped resources, each with a collecting reportViolation.
 */
import * as aws from "@pulumi/aws";
import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { policies } from "./rules";

/** The type token a resource class carries (a static the SDK sets but does not declare). */
export const tokenOf = (cls: unknown): string => (cls as { __pulumiType: string }).__pulumiType;

export const TYPES = {
  instance: tokenOf(aws.ec2.Instance),
  volume: tokenOf(aws.ebs.Volume),
  securityGroup: tokenOf(aws.ec2.SecurityGroup),
  defaultSecurityGroup: tokenOf(aws.ec2.DefaultSecurityGroup),
  securityGroupRule: tokenOf(aws.ec2.SecurityGroupRule),
  ingressRule: tokenOf(aws.vpc.SecurityGroupIngressRule),
  keyPair: tokenOf(aws.ec2.KeyPair),
  eip: tokenOf(aws.ec2.Eip),
  vpc: tokenOf(aws.ec2.Vpc),
  subnet: tokenOf(aws.ec2.Subnet),
  loadBalancer: tokenOf(aws.lb.LoadBalancer),
  listener: tokenOf(aws.lb.Listener),
  targetGroup: tokenOf(aws.lb.TargetGroup),
  dbInstance: tokenOf(aws.rds.Instance),
  replicationGroup: tokenOf(aws.elasticache.ReplicationGroup),
  bucket: tokenOf(aws.s3.Bucket),
};

export const goodTags = { Project: "django-deploy", Stack: "dev", ManagedBy: "pulumi" };

class NotApplicable extends Error {}

export interface Options {
  /** The provider resource's inputs, as the engine passes them (object inputs JSON-encoded). */
  providerProps?: Record<string, unknown>;
  /** The resource's `protect` option. */
  protect?: boolean;
}

const urnOf = (type: string, name: string) => `urn:pulumi:test::django-deploy::${type}::${name}`;

const options = (protect = false) => ({
  protect,
  ignoreChanges: [],
  aliases: [],
  additionalSecretOutputs: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
});

function policyNamed(name: string): ResourceValidationPolicy | StackValidationPolicy {
  const policy = policies.find((p) => p.name === name);
  if (policy === undefined) throw new Error(`no policy named ${name}`);
  return policy;
}

/** Runs one resource policy against a resource; returns its violations, or "not-applicable". */
export async function run(
  policyName: string,
  type: string,
  props: Record<string, unknown>,
  opts: Options = {},
): Promise<string[] | "not-applicable"> {
  const policy = policyNamed(policyName);
  if (!("validateResource" in policy) || policy.validateResource === undefined) throw new Error(`${policyName} is no resource policy`);
  const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
  const violations: string[] = [];
  const args: ResourceValidationArgs = {
    type,
    props,
    urn: urnOf(type, "r"),
    name: "r",
    opts: options(opts.protect),
    provider: opts.providerProps
      ? { type: "pulumi:providers:aws", props: opts.providerProps, urn: "urn:provider", name: "aws" }
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
    if (e instanceof NotApplicable) return "not-applicable";
    throw e;
  }
  return violations;
}

export interface StackResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /** Property name → names of the stack resources it was computed from. */
  propertyDependencies?: Record<string, string[]>;
}

/** Runs one stack policy against resources given by name; returns "name: message" per violation. */
export async function runStack(policyName: string, resources: StackResource[]): Promise<string[]> {
  const policy = policyNamed(policyName);
  if (!("validateStack" in policy)) throw new Error(`${policyName} is no stack policy`);
  const built = new Map<string, PolicyResource>();
  for (const r of resources) {
    built.set(r.name, {
      type: r.type,
      props: r.props,
      urn: urnOf(r.type, r.name),
      name: r.name,
      opts: options(),
      dependencies: [],
      propertyDependencies: {},
      isType: (cls) => tokenOf(cls) === r.type,
      asType: ((cls: unknown) => (tokenOf(cls) === r.type ? r.props : undefined)) as PolicyResource["asType"],
    });
  }
  for (const r of resources) {
    for (const [prop, names] of Object.entries(r.propertyDependencies ?? {})) {
      built.get(r.name)!.propertyDependencies[prop] = names.map((n) => built.get(n)!);
    }
  }
  const byUrn = new Map([...built.values()].map((r) => [r.urn, r.name]));
  const violations: string[] = [];
  await policy.validateStack(
    {
      resources: [...built.values()],
      stackTags: new Map(),
      getConfig: <T extends object>() => ({}) as T,
      notApplicable: (reason?: string): never => {
        throw new NotApplicable(reason);
      },
    },
    (message, urn) => violations.push(`${urn === undefined ? "(stack)" : byUrn.get(urn)}: ${message}`),
  );
  return violations;
}
