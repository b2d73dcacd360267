/**
 * The site's PostgreSQL on RDS: in the isolated data subnets, reachable on 5432 only from the app
 * hosts' security group, TLS required by the server (a custom parameter group with
 * rds.force_ssl = 1: default groups cannot be edited), storage encrypted, never public, automated
 * backups kept at least 7 days (FSBP RDS.2, .3, .11); Multi-AZ and deletion protection as the
 * stack asks (RDS.5, .8 for protected stacks). The master password is generated (RandomPassword,
 * letters and digits only, so it needs no escaping anywhere) and is secret wherever it goes.
 *
 * `databaseUrl` (secret) is what Django reads (dj-database-url style): sslmode=require encrypts
 * but does not check the server's certificate; verify-full needs the RDS CA bundle on the hosts.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as random from "@pulumi/random";
import { Tags, fromGroups, named, requireDnsLabel } from "./common";

/** A major version only: RDS picks the current 16.x and auto minor upgrades keep it current without drift. */
export const DEFAULT_POSTGRES_VERSION = "16";
export const POSTGRES_PORT = 5432;
/** FSBP RDS.11's minimum; the policy pack holds the same number (a test keeps them equal). */
export const MIN_BACKUP_RETENTION_DAYS = 7;

export interface DatabaseArgs {
  vpcId: pulumi.Input<string>;
  /** Network.dataSubnetIds (two zones at least: RDS wants a subnet group spanning two). */
  subnetIds: pulumi.Input<string>[];
  /** AppHosts.securityGroupId: the only source allowed to 5432. */
  appSecurityGroupId: pulumi.Input<string>;
  /** "16" (default) or a full version such as "16.8". */
  engineVersion?: string;
  /** Default db.t4g.micro. */
  instanceClass?: string;
  /** Default 20 (the gp3 minimum); storage autoscaling up to maxAllocatedStorageGiB (default 100). */
  allocatedStorageGiB?: number;
  maxAllocatedStorageGiB?: number;
  /** Default "app". */
  databaseName?: string;
  /** Default "django". */
  username?: string;
  /** Days of automated backups, at least 7 (default 7). */
  backupRetentionDays?: number;
  /** Pass true for protected stacks (the policy pack requires it, FSBP RDS.5). */
  multiAz: boolean;
  /** Pulumi `protect`, AWS deletion protection (RDS.8). A final snapshot is taken on deletion in any case. */
  protect: boolean;
  tags: Tags;
}

/** The parameter group family of an engine version: "16" and "16.8" → "postgres16". */
export function postgresFamily(engineVersion: string): string {
  const match = /^(\d+)(?:\.\d+)?$/.exec(engineVersion);
  if (!match || Number(match[1]) < 12)
    throw new Error(`engineVersion ${JSON.stringify(engineVersion)}: expected a PostgreSQL version such as "16" or "16.8"`);
  return `postgres${match[1]}`;
}

/** RDS PostgreSQL names: a letter, then letters, digits and underscores; at most 63. */
export function requirePgIdentifier(what: string, value: string): void {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(value) || ["postgres", "rdsadmin", "admin"].includes(value.toLowerCase())) {
    throw new Error(`${what} ${JSON.stringify(value)}: expected a letter then letters, digits or underscores (not a reserved name)`);
  }
}

export interface PostgresUrlParts {
  user: string;
  password: string;
  host: string;
  port: number;
  database: string;
}

/** postgres://user:password@host:port/database?sslmode=require, user, password and database percent-encoded. */
export function postgresUrl(p: PostgresUrlParts): string {
  const e = encodeURIComponent;
  return `postgres://${e(p.user)}:${e(p.password)}@${p.host}:${p.port}/${e(p.database)}?sslmode=require`;
}

export class Database extends pulumi.ComponentResource {
  /** Secret. */
  public readonly databaseUrl: pulumi.Output<string>;
  /** The instance's DNS name (no port). */
  public readonly address: pulumi.Output<string>;
  public readonly port: pulumi.Output<number>;
  public readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:aws:Database", name, {}, opts);
    requireDnsLabel("Database", name);
    const engineVersion = args.engineVersion ?? DEFAULT_POSTGRES_VERSION;
    const family = postgresFamily(engineVersion);
    const databaseName = args.databaseName ?? "app";
    const username = args.username ?? "django";
    requirePgIdentifier("databaseName", databaseName);
    requirePgIdentifier("username", username);
    const retention = args.backupRetentionDays ?? MIN_BACKUP_RETENTION_DAYS;
    if (!Number.isInteger(retention) || retention < MIN_BACKUP_RETENTION_DAYS || retention > 35) {
      throw new Error(`backupRetentionDays: expected ${MIN_BACKUP_RETENTION_DAYS} to 35 days (FSBP RDS.11); got ${retention}`);
    }
    const parent = { parent: this };

    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `django-deploy ${name}: PostgreSQL from the app hosts only`,
        ingress: [fromGroups(POSTGRES_PORT, [args.appSecurityGroupId], "postgres from the app hosts")],
        // No egress: the provider removes AWS's default allow-all rule from a new group.
        tags: named(args.tags, `${name}-sg`),
      },
      parent,
    );
    const subnets = new aws.rds.SubnetGroup(
      `${name}-subnets`,
      { subnetIds: args.subnetIds, tags: named(args.tags, `${name}-subnets`) },
      parent,
    );
    const params = new aws.rds.ParameterGroup(
      `${name}-params`,
      {
        family,
        description: `django-deploy ${name}: TLS required`,
        parameters: [{ name: "rds.force_ssl", value: "1" }],
        tags: named(args.tags, `${name}-params`),
      },
      parent,
    );

    const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, parent);
    const secretPassword = pulumi.secret(password.result);
    // Unique per database, so that a replaced database's final snapshot does not collide with an older one.
    const snapshotSuffix = new random.RandomId(`${name}-final-snapshot`, { byteLength: 4 }, parent);

    const db = new aws.rds.Instance(
      `${name}-db`,
      {
        engine: "postgres",
        engineVersion,
        autoMinorVersionUpgrade: true,
        instanceClass: args.instanceClass ?? "db.t4g.micro",
        storageType: "gp3",
        allocatedStorage: args.allocatedStorageGiB ?? 20,
        maxAllocatedStorage: args.maxAllocatedStorageGiB ?? 100,
        storageEncrypted: true,
        dbName: databaseName,
        username,
        password: secretPassword,
        port: POSTGRES_PORT,
        dbSubnetGroupName: subnets.name,
        vpcSecurityGroupIds: [sg.id],
        parameterGroupName: params.name,
        publiclyAccessible: false,
        multiAz: args.multiAz,
        backupRetentionPeriod: retention,
        copyTagsToSnapshot: true,
        deletionProtection: args.protect,
        skipFinalSnapshot: false,
        finalSnapshotIdentifier: pulumi.interpolate`${name}-final-${snapshotSuffix.hex}`,
        tags: named(args.tags, `${name}-db`),
      },
      { parent: this, protect: args.protect, additionalSecretOutputs: ["password"] },
    );

    this.address = db.address;
    this.port = db.port;
    this.securityGroupId = sg.id;
    this.databaseUrl = pulumi.secret(
      pulumi
        .all([secretPassword, db.address, db.port])
        .apply(([pw, host, port]) => postgresUrl({ user: username, password: pw, host, port, database: databaseName })),
    );
    this.registerOutputs({ databaseUrl: this.databaseUrl, address: this.address, port: this.port, securityGroupId: this.securityGroupId });
  }
}
