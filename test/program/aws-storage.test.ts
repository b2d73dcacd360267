/**
 * Buckets and the hosts' IAM role, pure parts (components/aws/buckets.ts, host-role.ts): the hosts'
 * policy names exactly the two buckets and exactly the allowed actions (backup: put only), EC2 alone
 * may assume the role, the bucket policy only denies plain HTTP, the backup lifecycle.
 */
import * as fc from "fast-check";
import { backupLifecycleRules, tlsOnlyBucketPolicy } from "../../components/aws/buckets";
import { ec2AssumeRolePolicy, hostBucketPolicy, requireBucketArn } from "../../components/aws/host-role";

const bucketNameArb = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,40}[a-z0-9]$/);
const MEDIA = "arn:aws:s3:::site-media";
const BACKUP = "arn:aws:s3:::site-backup";

/** Every (action, resource) pair a policy allows. */
const grants = (doc: ReturnType<typeof hostBucketPolicy>) =>
  doc.Statement.flatMap((s) => {
    expect(s.Effect).toBe("Allow");
    return s.Action.flatMap((a) => s.Resource.map((r) => `${a} ${r}`));
  }).sort();

describe("hostBucketPolicy", () => {
  test("media: get/put/delete objects and list the bucket; backup: put objects only", () => {
    expect(grants(hostBucketPolicy({ mediaBucketArn: MEDIA, backupBucketArn: BACKUP }))).toEqual(
      [
        `s3:DeleteObject ${MEDIA}/*`,
        `s3:GetObject ${MEDIA}/*`,
        `s3:PutObject ${MEDIA}/*`,
        `s3:ListBucket ${MEDIA}`,
        `s3:PutObject ${BACKUP}/*`,
      ].sort(),
    );
  });

  test("property: only the two buckets' ARNs appear, no wildcard but the objects' /*, no action outside the five", () => {
    fc.assert(
      fc.property(bucketNameArb, bucketNameArb, (m, b) => {
        fc.pre(m !== b);
        const media = `arn:aws:s3:::${m}`;
        const backup = `arn:aws:s3:::${b}`;
        const doc = hostBucketPolicy({ mediaBucketArn: media, backupBucketArn: backup });
        for (const s of doc.Statement) {
          for (const r of s.Resource) expect([media, `${media}/*`, backup, `${backup}/*`]).toContain(r);
          for (const a of s.Action) expect(["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]).toContain(a);
          expect(s).not.toHaveProperty("NotAction");
          expect(s).not.toHaveProperty("NotResource");
        }
        const onBackup = grants(doc).filter((g) => g.includes(backup));
        expect(onBackup).toEqual([`s3:PutObject ${backup}/*`]);
      }),
    );
  });

  test("refuses wildcards, non-bucket ARNs and one bucket for both", () => {
    for (const bad of ["*", "arn:aws:s3:::*", "arn:aws:s3:::site-*", "arn:aws:s3:::site/media", "arn:aws:iam::123:role/x", "site-media"]) {
      expect(() => requireBucketArn(bad)).toThrow(/not the ARN of one S3 bucket/);
      expect(() => hostBucketPolicy({ mediaBucketArn: bad, backupBucketArn: BACKUP })).toThrow();
    }
    expect(() => hostBucketPolicy({ mediaBucketArn: MEDIA, backupBucketArn: MEDIA })).toThrow(/different buckets/);
    expect(() => requireBucketArn("arn:aws-cn:s3:::site-media")).not.toThrow();
  });
});

test("only the EC2 service may assume the role", () => {
  expect(JSON.parse(ec2AssumeRolePolicy())).toEqual({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
  });
});

test("the bucket policy only denies requests without TLS, on the bucket and its objects (it grants nothing: not public)", () => {
  const doc = JSON.parse(tlsOnlyBucketPolicy(MEDIA));
  expect(doc.Statement).toEqual([
    {
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: [MEDIA, `${MEDIA}/*`],
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    },
  ]);
});

describe("backupLifecycleRules", () => {
  test("noncurrent versions expire after N days; dangling delete markers and unfinished uploads are cleaned", () => {
    expect(backupLifecycleRules(30)).toEqual([
      {
        id: "backup-retention",
        status: "Enabled",
        filter: {},
        noncurrentVersionExpiration: { noncurrentDays: 30 },
        expiration: { expiredObjectDeleteMarker: true },
        abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
      },
    ]);
  });

  test("current versions never expire (only the operator deletes a backup)", () => {
    const [rule] = backupLifecycleRules(7);
    expect(rule.expiration).not.toHaveProperty("days");
    expect(rule.expiration).not.toHaveProperty("date");
  });

  test.each([0, -1, 2.5])("refuses %s days", (n) => expect(() => backupLifecycleRules(n)).toThrow(/backupNoncurrentVersionDays/));
});
