/**
 * Where backups go off the host (database: host, backupDestination: s3), as the two values the
 * backup commands are rendered with: the bucket and its region.
 * - EC2: the program creates the buckets (components/aws/buckets.ts: private, encrypted, versioned,
 *   old versions expire) and the instance role (components/aws/host-role.ts) whose only backup
 *   permission is to put objects into that bucket; the instance gets the role's profile.
 * - An existing server: the bucket the user names, with credentials of their own (a secret setting).
 * - backupDestination: host: nothing off the host (empty values).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { Settings } from "./config";
import { Buckets } from "./aws/buckets";
import { HostRole } from "./aws/host-role";

export interface BackupStorage {
  bucket: pulumi.Output<string>;
  region: pulumi.Output<string>;
  /** EC2: the instance profile the host must run with. */
  instanceProfileName?: pulumi.Output<string>;
  buckets?: Buckets;
}

/** `shared`: a load-balanced EC2 site's buckets and host role (aws/fleet.ts), which backups use too. */
export function backupStorage(s: Settings, shared?: { buckets: Buckets; role: HostRole }): BackupStorage {
  if (s.database !== "host" || s.backupDestination !== "s3") return { bucket: pulumi.output(""), region: pulumi.output("") };
  if (s.target.kind === "existing") {
    return { bucket: pulumi.output(s.backupBucket ?? ""), region: pulumi.output(s.backupS3Region ?? "us-east-1") };
  }
  const tags = { Project: pulumi.getProject(), Stack: pulumi.getStack(), ManagedBy: "pulumi" };
  const protect = s.target.protect;
  // Review stacks (unprotected) may be emptied by a destroy; a protected stack's backups never are.
  const buckets = shared?.buckets ?? new Buckets("site-files", { protect, forceDestroy: !protect, tags });
  const role =
    shared?.role ?? new HostRole("site-host", { mediaBucketArn: buckets.mediaBucketArn, backupBucketArn: buckets.backupBucketArn, tags });
  return {
    bucket: buckets.backupBucketName,
    region: pulumi.output(s.backupS3Region ?? aws.config.region ?? "us-east-1"),
    instanceProfileName: role.instanceProfileName,
    buckets,
  };
}
