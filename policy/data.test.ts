/** Databases and caches: FSBP RDS.2, RDS.3, RDS.5, RDS.8, RDS.11, ElastiCache.4, .5, .6. */
import { TYPES, run } from "./harness";

const goodDb = {
  engine: "postgres",
  instanceClass: "db.t4g.micro",
  allocatedStorage: 20,
  storageEncrypted: true,
  backupRetentionPeriod: 7,
};
const db = (name: string, props: Record<string, unknown>, protect = false) => run(name, TYPES.dbInstance, props, { protect });

describe("RDS instances", () => {
  it("rds-not-publicly-accessible (RDS.2): unset and false pass, true fails", async () => {
    expect(await db("rds-not-publicly-accessible", goodDb)).toEqual([]);
    expect(await db("rds-not-publicly-accessible", { ...goodDb, publiclyAccessible: false })).toEqual([]);
    expect(await db("rds-not-publicly-accessible", { ...goodDb, publiclyAccessible: true })).toEqual([
      "RDS instances must not be publicly accessible (publiclyAccessible: false) (FSBP RDS.2); got true.",
    ]);
  });

  it("rds-storage-encrypted (RDS.3): must be explicit", async () => {
    expect(await db("rds-storage-encrypted", goodDb)).toEqual([]);
    const { storageEncrypted: _omit, ...plain } = goodDb;
    expect(await db("rds-storage-encrypted", plain)).toEqual(["RDS instances must have storageEncrypted: true (FSBP RDS.3); got unset."]);
  });

  it("rds-multi-az-when-protected (RDS.5) and rds-deletion-protection-when-protected (RDS.8): only when protected", async () => {
    for (const name of ["rds-multi-az-when-protected", "rds-deletion-protection-when-protected"]) {
      expect([name, await db(name, goodDb)]).toEqual([name, []]);
    }
    const prod = { ...goodDb, multiAz: true, deletionProtection: true };
    expect(await db("rds-multi-az-when-protected", prod, true)).toEqual([]);
    expect(await db("rds-deletion-protection-when-protected", prod, true)).toEqual([]);
    expect(await db("rds-multi-az-when-protected", { ...prod, multiAz: false }, true)).toEqual([
      "a protected RDS instance (Pulumi protect, from django-deploy:protect) must be Multi-AZ (multiAz: true) (FSBP RDS.5); got false.",
    ]);
    expect(await db("rds-deletion-protection-when-protected", { ...prod, deletionProtection: undefined }, true)).toEqual([
      "a protected RDS instance (Pulumi protect, from django-deploy:protect) must have deletionProtection: true (FSBP RDS.8); got unset.",
    ]);
  });

  it("rds-backup-retention (RDS.11): at least 7 days, read replicas excepted", async () => {
    expect(await db("rds-backup-retention", { ...goodDb, backupRetentionPeriod: 35 })).toEqual([]);
    for (const days of [undefined, 0, 1, 6]) {
      expect(await db("rds-backup-retention", { ...goodDb, backupRetentionPeriod: days })).toEqual([
        expect.stringContaining(
          `(backupRetentionPeriod >= 7; AWS keeps 1 day when unset) (FSBP RDS.11); got ${days === undefined ? "unset" : days}.`,
        ),
      ]);
    }
    expect(
      await db("rds-backup-retention", { instanceClass: "db.t4g.micro", replicateSourceDb: "arn:aws:rds:eu-west-1:1:db:main" }),
    ).toEqual([]);
  });

  it("does not read the replica source of an instance that keeps its own backups (it may be unknown in preview)", async () => {
    const props = {
      ...goodDb,
      get replicateSourceDb(): never {
        throw new Error("unknown during preview");
      },
    };
    expect(await db("rds-backup-retention", props)).toEqual([]);
  });
});

const goodCache = {
  description: "django cache",
  engine: "valkey",
  nodeType: "cache.t4g.micro",
  atRestEncryptionEnabled: true,
  transitEncryptionEnabled: true,
  authToken: "a-secret-token-of-sixteen",
};
const cache = (name: string, props: Record<string, unknown>) => run(name, TYPES.replicationGroup, props);

describe("ElastiCache replication groups", () => {
  it("elasticache-at-rest-encryption (ElastiCache.4)", async () => {
    expect(await cache("elasticache-at-rest-encryption", goodCache)).toEqual([]);
    expect(await cache("elasticache-at-rest-encryption", { ...goodCache, atRestEncryptionEnabled: undefined })).toEqual([
      "ElastiCache replication groups must encrypt data at rest (atRestEncryptionEnabled: true) (FSBP ElastiCache.4); got unset.",
    ]);
  });

  it("elasticache-in-transit-encryption (ElastiCache.5): enabled, and not merely preferred", async () => {
    expect(await cache("elasticache-in-transit-encryption", goodCache)).toEqual([]);
    expect(await cache("elasticache-in-transit-encryption", { ...goodCache, transitEncryptionMode: "required" })).toEqual([]);
    expect(await cache("elasticache-in-transit-encryption", { ...goodCache, transitEncryptionEnabled: false })).toEqual([
      expect.stringContaining("(transitEncryptionEnabled: true) (FSBP ElastiCache.5); got false."),
    ]);
    expect(await cache("elasticache-in-transit-encryption", { ...goodCache, transitEncryptionMode: "preferred" })).toEqual([
      expect.stringContaining('transitEncryptionMode "preferred" still accepts clients without TLS'),
    ]);
  });

  it("elasticache-auth (ElastiCache.6): an auth token or RBAC user groups, and the token never shown", async () => {
    const { authToken: token, ...open } = goodCache;
    expect(await cache("elasticache-auth", goodCache)).toEqual([]);
    expect(await cache("elasticache-auth", { ...open, userGroupIds: ["django-users"] })).toEqual([]);
    expect(await cache("elasticache-auth", { ...open, authTokenWo: "write-only-token-xyz" })).toEqual([]);
    for (const props of [open, { ...open, authToken: "" }, { ...open, userGroupIds: [] }]) {
      const violations = await cache("elasticache-auth", props);
      expect(violations).toEqual([expect.stringContaining("set authToken (Redis AUTH) or userGroupIds")]);
      expect(JSON.stringify(violations)).not.toContain(token);
    }
  });
});
