/**
 * The django-deploy CrossGuard rules, kept apart from `index.ts` so that they can be imported (and
 * unit-tested) without starting a policy-pack gRPC server: `new PolicyPack(...)` serves at once.
 * One module per area; see common.ts for the conventions every rule follows.
 */
import type { Policies } from "@pulumi/policy";
import { ec2Policies } from "./ec2";
import { elastiCachePolicies } from "./elasticache";
import { elbPolicies } from "./elb";
import { rdsPolicies } from "./rds";
import { securityGroupPolicies } from "./security-groups";
import { tagPolicies } from "./tags";
import { vpcPolicies } from "./vpc";

export * from "./common";
export * from "./ec2";
export * from "./elasticache";
export * from "./elb";
export * from "./rds";
export * from "./ingress";
export * from "./security-groups";
export * from "./tags";
export * from "./vpc";

export const policies: Policies = [
  ...ec2Policies,
  ...securityGroupPolicies,
  ...vpcPolicies,
  ...elbPolicies,
  ...rdsPolicies,
  ...elastiCachePolicies,
  ...tagPolicies,
];
