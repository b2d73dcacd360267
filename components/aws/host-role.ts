/**
 * The app hosts' IAM role and instance profile: EC2 may assume it, nothing else may, and its only
 * permissions are on the two buckets, by ARN:
 * - media: read, write and delete objects, list the bucket (what django-storages does);
 * - backup: put objects, nothing more. No read, no delete, no list: a compromised host can add
 *   backups (or overwrite one, which versioning keeps) but cannot read old dumps or destroy them.
 *   Restores use the operator's own credentials. Multipart uploads need only s3:PutObject.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { Tags, named } from "./common";

export interface HostRoleArgs {
  /** Buckets.mediaBucketArn. */
  mediaBucketArn: pulumi.Input<string>;
  /** Buckets.backupBucketArn. */
  backupBucketArn: pulumi.Input<string>;
  tags: Tags;
}

interface Statement {
  Sid: string;
  Effect: "Allow";
  Action: string[];
  Resource: string[];
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: Statement[];
}

/** An S3 bucket ARN without wildcards: arn:aws:s3:::<bucket> (or another AWS partition). */
export function requireBucketArn(arn: string): void {
  if (!/^arn:aws(?:-cn|-us-gov)?:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(arn)) {
    throw new Error(`${JSON.stringify(arn)} is not the ARN of one S3 bucket (arn:aws:s3:::<bucket>, no wildcards)`);
  }
}

/** Who may assume the role: the EC2 service, for instances with the instance profile. */
export function ec2AssumeRolePolicy(): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
  });
}

/** The hosts' permissions: media read/write/delete/list, backup put only; nothing else, nowhere else. */
export function hostBucketPolicy(buckets: { mediaBucketArn: string; backupBucketArn: string }): PolicyDocument {
  requireBucketArn(buckets.mediaBucketArn);
  requireBucketArn(buckets.backupBucketArn);
  if (buckets.mediaBucketArn === buckets.backupBucketArn) throw new Error("the media and backup buckets must be different buckets");
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "MediaObjects",
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        Resource: [`${buckets.mediaBucketArn}/*`],
      },
      { Sid: "MediaList", Effect: "Allow", Action: ["s3:ListBucket"], Resource: [buckets.mediaBucketArn] },
      { Sid: "BackupWriteOnly", Effect: "Allow", Action: ["s3:PutObject"], Resource: [`${buckets.backupBucketArn}/*`] },
    ],
  };
}

export class HostRole extends pulumi.ComponentResource {
  public readonly roleName: pulumi.Output<string>;
  public readonly roleArn: pulumi.Output<string>;
  public readonly instanceProfileName: pulumi.Output<string>;
  public readonly instanceProfileArn: pulumi.Output<string>;

  constructor(name: string, args: HostRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:aws:HostRole", name, {}, opts);
    const parent = { parent: this };
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `django-deploy ${name}: app hosts (S3 media and backups)`,
        assumeRolePolicy: ec2AssumeRolePolicy(),
        tags: named(args.tags, `${name}-role`),
      },
      parent,
    );
    const policy = new aws.iam.RolePolicy(
      `${name}-buckets`,
      {
        role: role.name,
        policy: pulumi
          .all([args.mediaBucketArn, args.backupBucketArn])
          .apply(([mediaBucketArn, backupBucketArn]) => JSON.stringify(hostBucketPolicy({ mediaBucketArn, backupBucketArn }))),
      },
      parent,
    );
    // Instances start with the profile only once the role has its permissions.
    const profile = new aws.iam.InstanceProfile(
      `${name}-profile`,
      { role: role.name, tags: named(args.tags, `${name}-profile`) },
      { parent: this, dependsOn: [policy] },
    );

    this.roleName = role.name;
    this.roleArn = role.arn;
    this.instanceProfileName = profile.name;
    this.instanceProfileArn = profile.arn;
    this.registerOutputs({
      roleName: this.roleName,
      roleArn: this.roleArn,
      instanceProfileName: this.instanceProfileName,
      instanceProfileArn: this.instanceProfileArn,
    });
  }
}
