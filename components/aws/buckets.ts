/**
 * Off-host storage: a media bucket (Django's uploaded files, django-storages) and a backup bucket
 * (database dumps and media copies the hosts push). Both private: every public access block on,
 * object ownership BucketOwnerEnforced (ACLs off: django-storages must send no ACL, its default),
 * default encryption SSE-S3 (AES256, no KMS permissions needed) with SSE-C uploads refused, and a
 * bucket policy that only denies requests without TLS (not a public policy).
 *
 * The backup bucket also keeps versions: a host may only put objects (HostRole), so overwriting a
 * dump only makes the old one noncurrent, and noncurrent versions expire after
 * `backupNoncurrentVersionDays`. That is the window in which a compromised host's overwrites can be
 * undone by the operator; S3 Object Lock would make it a hard guarantee (not used here).
 *
 * @pulumi/aws 7 names: aws.s3.Bucket and the separate Bucket* configuration resources (the V2
 * names of 6.x are deprecated aliases in 7).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { Tags, named, requireDnsLabel } from "./common";

export interface BucketsArgs {
  /** Days a replaced or deleted backup object is kept (default 30). */
  backupNoncurrentVersionDays?: number;
  /** Let `pulumi destroy` empty the buckets (review stacks); default false; refused with `protect`. */
  forceDestroy?: boolean;
  /** Pulumi `protect` on both buckets. */
  protect: boolean;
  tags: Tags;
}

/** The only bucket policy: deny every request that does not use TLS (FSBP S3.5). */
export function tlsOnlyBucketPolicy(bucketArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  });
}

/** The backup bucket's lifecycle: noncurrent versions expire, dangling delete markers and unfinished uploads go. */
export function backupLifecycleRules(noncurrentDays: number) {
  if (!Number.isInteger(noncurrentDays) || noncurrentDays < 1)
    throw new Error(`backupNoncurrentVersionDays: expected a whole number of days, at least 1; got ${noncurrentDays}`);
  return [
    {
      id: "backup-retention",
      status: "Enabled",
      filter: {},
      noncurrentVersionExpiration: { noncurrentDays },
      expiration: { expiredObjectDeleteMarker: true },
      abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
    },
  ];
}

export class Buckets extends pulumi.ComponentResource {
  public readonly mediaBucketName: pulumi.Output<string>;
  public readonly mediaBucketArn: pulumi.Output<string>;
  public readonly backupBucketName: pulumi.Output<string>;
  public readonly backupBucketArn: pulumi.Output<string>;

  constructor(name: string, args: BucketsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:aws:Buckets", name, {}, opts);
    requireDnsLabel("Buckets", name); // bucket names are lower case
    if (args.forceDestroy && args.protect) throw new Error("forceDestroy: a protected stack's buckets are never emptied by a destroy");
    const rules = backupLifecycleRules(args.backupNoncurrentVersionDays ?? 30);
    const parent = { parent: this };

    const privateBucket = (suffix: string) => {
      const bucketName = `${name}-${suffix}`;
      const bucket = new aws.s3.Bucket(
        bucketName,
        { forceDestroy: args.forceDestroy ?? false, tags: named(args.tags, bucketName) },
        { parent: this, protect: args.protect },
      );
      const publicAccess = new aws.s3.BucketPublicAccessBlock(
        `${bucketName}-public-access`,
        { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
        parent,
      );
      new aws.s3.BucketOwnershipControls(
        `${bucketName}-ownership`,
        { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
        parent,
      );
      new aws.s3.BucketServerSideEncryptionConfiguration(
        `${bucketName}-encryption`,
        {
          bucket: bucket.id,
          rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, blockedEncryptionTypes: ["SSE-C"] }],
        },
        parent,
      );
      new aws.s3.BucketPolicy(
        `${bucketName}-policy`,
        { bucket: bucket.id, policy: bucket.arn.apply(tlsOnlyBucketPolicy) },
        { parent: this, dependsOn: [publicAccess] },
      );
      return bucket;
    };

    const media = privateBucket("media");
    const backup = privateBucket("backup");
    const versioning = new aws.s3.BucketVersioning(
      `${name}-backup-versioning`,
      { bucket: backup.id, versioningConfiguration: { status: "Enabled" } },
      parent,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-backup-lifecycle`,
      { bucket: backup.id, rules },
      { parent: this, dependsOn: [versioning] },
    );

    this.mediaBucketName = media.bucket;
    this.mediaBucketArn = media.arn;
    this.backupBucketName = backup.bucket;
    this.backupBucketArn = backup.arn;
    this.registerOutputs({
      mediaBucketName: this.mediaBucketName,
      mediaBucketArn: this.mediaBucketArn,
      backupBucketName: this.backupBucketName,
      backupBucketArn: this.backupBucketArn,
    });
  }
}
