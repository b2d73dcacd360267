/** Required tags on every taggable resource the program creates. */
import * as aws from "@pulumi/aws";
import { ResourceValidation, ResourceValidationArgs, ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { Report, mandatory } from "./common";

export type Tags = Record<string, string | undefined> | undefined;

/** Tags every taggable resource we create must carry, with a non-empty value. */
export const REQUIRED_TAGS: readonly string[] = ["Project", "Stack", "ManagedBy"];

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

export function checkRequiredTags(sources: TagSources, report: Report, what = "Resources the program creates"): void {
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
      `missing required tag(s) ${missing.join(", ")}: ${what} must carry non-empty ${REQUIRED_TAGS.join(", ")} tags ` +
        `(in tags or the provider's defaultTags).`,
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

/** The tag check as a typed validation: `validateResourceOfType(aws.x.Y, tagged("what"))`. */
const tagged = (what: string) => (props: { tags?: Tags }, args: ResourceValidationArgs, report: Report) =>
  checkRequiredTags(tagSources(props, args), report, what);

/** The tag rule for one resource type (its tags, or the provider's defaultTags, must name the project). */
function requiredTags(name: string, what: string, validate: (what: string) => ResourceValidation): ResourceValidationPolicy {
  return {
    name,
    description: `${what} carry the ${REQUIRED_TAGS.join(", ")} tags.`,
    enforcementLevel: mandatory,
    severity: "medium",
    validateResource: validate(what),
  };
}

export const tagPolicies: ResourceValidationPolicy[] = [
  requiredTags("required-tags-ec2-instance", "EC2 instances", (w) => validateResourceOfType(aws.ec2.Instance, tagged(w))),
  requiredTags("required-tags-security-group", "Security groups", (w) => validateResourceOfType(aws.ec2.SecurityGroup, tagged(w))),
  requiredTags("required-tags-default-security-group", "Adopted VPC default security groups", (w) =>
    validateResourceOfType(aws.ec2.DefaultSecurityGroup, tagged(w)),
  ),
  requiredTags("required-tags-key-pair", "EC2 key pairs", (w) => validateResourceOfType(aws.ec2.KeyPair, tagged(w))),
  requiredTags("required-tags-eip", "Elastic IPs", (w) => validateResourceOfType(aws.ec2.Eip, tagged(w))),
  requiredTags("required-tags-vpc", "VPCs", (w) => validateResourceOfType(aws.ec2.Vpc, tagged(w))),
  requiredTags("required-tags-subnet", "Subnets", (w) => validateResourceOfType(aws.ec2.Subnet, tagged(w))),
  requiredTags("required-tags-load-balancer", "Load balancers", (w) => validateResourceOfType(aws.lb.LoadBalancer, tagged(w))),
  requiredTags("required-tags-target-group", "Load balancer target groups", (w) => validateResourceOfType(aws.lb.TargetGroup, tagged(w))),
  requiredTags("required-tags-rds-instance", "RDS instances", (w) => validateResourceOfType(aws.rds.Instance, tagged(w))),
  requiredTags("required-tags-elasticache-replication-group", "ElastiCache replication groups", (w) =>
    validateResourceOfType(aws.elasticache.ReplicationGroup, tagged(w)),
  ),
  requiredTags("required-tags-s3-bucket", "S3 buckets", (w) => validateResourceOfType(aws.s3.Bucket, tagged(w))),
];
