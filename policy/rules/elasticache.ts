/**
 * ElastiCache (Redis OSS / Valkey) replication groups (AWS FSBP ElastiCache.4, .5, .6).
 *
 * ElastiCache.6 as AWS words it asks for Redis AUTH on engines before 6.0; from 6.0 on, role-based
 * access control (user groups) supersedes AUTH. Here every replication group must authenticate
 * clients one way or the other: an auth token, or RBAC user groups. The token itself is a secret
 * and is never shown; only whether it is set is read.
 */
import * as aws from "@pulumi/aws";
import type { Unwrap } from "@pulumi/pulumi";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { Report, mandatory, show } from "./common";

export type ReplicationGroupProps = Unwrap<aws.elasticache.ReplicationGroupArgs>;

export function checkCacheAtRestEncryption(props: ReplicationGroupProps, report: Report): void {
  if (props.atRestEncryptionEnabled !== true) {
    report(
      `ElastiCache replication groups must encrypt data at rest (atRestEncryptionEnabled: true) (FSBP ElastiCache.4); ` +
        `got ${show(props.atRestEncryptionEnabled)}.`,
    );
  }
}

export function checkCacheInTransitEncryption(props: ReplicationGroupProps, report: Report): void {
  if (props.transitEncryptionEnabled !== true) {
    report(
      `ElastiCache replication groups must encrypt data in transit (transitEncryptionEnabled: true) (FSBP ElastiCache.5); ` +
        `got ${show(props.transitEncryptionEnabled)}.`,
    );
  } else if (props.transitEncryptionMode === "preferred") {
    report(`transitEncryptionMode "preferred" still accepts clients without TLS; use "required" (the default) (FSBP ElastiCache.5).`);
  }
}

export function checkCacheAuth(props: ReplicationGroupProps, report: Report): void {
  // User groups first: their ids are often unknown during preview, but their number is not.
  if ((props.userGroupIds?.length ?? 0) > 0) return;
  const token = props.authToken ?? props.authTokenWo;
  if (typeof token === "string" && token !== "") return;
  report(
    `ElastiCache replication groups must authenticate clients: set authToken (Redis AUTH) or userGroupIds ` +
      `(RBAC, Redis OSS 6.0 and later, Valkey) (FSBP ElastiCache.6).`,
  );
}

const cachePolicy = (name: string, description: string, check: (props: ReplicationGroupProps, report: Report) => void) => ({
  name,
  description,
  enforcementLevel: mandatory,
  severity: "high" as const,
  validateResource: validateResourceOfType(aws.elasticache.ReplicationGroup, (props, _args, report) => check(props, report)),
});

export const elastiCachePolicies: ResourceValidationPolicy[] = [
  cachePolicy(
    "elasticache-at-rest-encryption",
    "ElastiCache replication groups encrypt data at rest (FSBP ElastiCache.4).",
    checkCacheAtRestEncryption,
  ),
  cachePolicy(
    "elasticache-in-transit-encryption",
    "ElastiCache replication groups require TLS from clients (FSBP ElastiCache.5).",
    checkCacheInTransitEncryption,
  ),
  cachePolicy(
    "elasticache-auth",
    "ElastiCache replication groups authenticate clients: Redis AUTH token or RBAC user groups (FSBP ElastiCache.6).",
    checkCacheAuth,
  ),
];
