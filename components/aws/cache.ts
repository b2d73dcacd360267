/**
 * Redis for Celery (broker) and Django's cache: an ElastiCache replication group in the isolated
 * data subnets, reachable on 6379 only from the app hosts' security group, encrypted at rest and in
 * transit with TLS required, clients authenticated with a generated AUTH token (FSBP
 * ElastiCache.4, .5, .6); with replicas, automatic failover across Availability Zones.
 *
 * `brokerUrl` (secret) is `rediss://:<token>@<primary>:6379/0?ssl_cert_reqs=required`. Spelling of
 * ssl_cert_reqs (celery#5371, celery#5703, kombu's parse_ssl_cert_reqs): kombu (the broker) and
 * Celery's Redis result backend accept "required" and "CERT_REQUIRED"; redis-py's from_url (Django's
 * cache, django-redis) accepts only "required". So "required" serves all three with one URL. Very
 * old kombu releases knew only CERT_REQUIRED. ElastiCache's certificate is issued by Amazon's
 * public CA, which Debian's ca-certificates trusts.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as random from "@pulumi/random";
import { Tags, fromGroups, named, requireDnsLabel } from "./common";

export const REDIS_PORT = 6379;

export interface CacheArgs {
  vpcId: pulumi.Input<string>;
  /** Network.dataSubnetIds. */
  subnetIds: pulumi.Input<string>[];
  /** AppHosts.securityGroupId: the only source allowed to 6379. */
  appSecurityGroupId: pulumi.Input<string>;
  /** Read replicas besides the primary (0 to 5; default 0). With one or more: automatic failover, Multi-AZ. */
  replicas?: number;
  /** Default cache.t4g.micro. */
  nodeType?: string;
  /** Redis OSS version; default "7.1". */
  engineVersion?: string;
  /** Pulumi `protect` (queued tasks live here). */
  protect: boolean;
  tags: Tags;
}

export interface RedisUrlParts {
  token: string;
  host: string;
  port: number;
  db: number;
}

/** rediss://:token@host:port/db?ssl_cert_reqs=required, the token percent-encoded. */
export function redisUrl(p: RedisUrlParts): string {
  return `rediss://:${encodeURIComponent(p.token)}@${p.host}:${p.port}/${p.db}?ssl_cert_reqs=required`;
}

/** ElastiCache AUTH tokens: 16 to 128 printable characters, none of space, '/', '"', '@'. */
export function isValidAuthToken(token: string): boolean {
  return token.length >= 16 && token.length <= 128 && /^[\x21-\x7e]+$/.test(token) && !/[/"@]/.test(token);
}

/** The replication group's shape for `replicas` read replicas. */
export function cacheTopology(replicas: number) {
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > 5) throw new Error(`replicas: expected 0 to 5; got ${replicas}`);
  return { numCacheClusters: 1 + replicas, automaticFailoverEnabled: replicas > 0, multiAzEnabled: replicas > 0 };
}

export class Cache extends pulumi.ComponentResource {
  /** Secret. */
  public readonly brokerUrl: pulumi.Output<string>;
  /** Secret. Celery's result store: the same group, database 1. */
  public readonly resultBackendUrl: pulumi.Output<string>;
  public readonly primaryEndpoint: pulumi.Output<string>;
  public readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:aws:Cache", name, {}, opts);
    requireDnsLabel("Cache", name);
    const topology = cacheTopology(args.replicas ?? 0);
    const parent = { parent: this };

    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `django-deploy ${name}: Redis from the app hosts only`,
        ingress: [fromGroups(REDIS_PORT, [args.appSecurityGroupId], "redis from the app hosts")],
        // No egress: the provider removes AWS's default allow-all rule from a new group.
        tags: named(args.tags, `${name}-sg`),
      },
      parent,
    );
    const subnets = new aws.elasticache.SubnetGroup(
      `${name}-subnets`,
      { description: `django-deploy ${name}: data subnets`, subnetIds: args.subnetIds, tags: named(args.tags, `${name}-subnets`) },
      parent,
    );
    // Letters and digits only: within ElastiCache's rules and nothing to escape in a URL.
    const token = new random.RandomPassword(`${name}-auth-token`, { length: 64, special: false }, parent);
    const secretToken = pulumi.secret(token.result);

    const group = new aws.elasticache.ReplicationGroup(
      `${name}-redis`,
      {
        description: `django-deploy ${name}: Celery broker and Django cache`,
        engine: "redis",
        engineVersion: args.engineVersion ?? "7.1",
        nodeType: args.nodeType ?? "cache.t4g.micro",
        port: REDIS_PORT,
        ...topology,
        subnetGroupName: subnets.name,
        securityGroupIds: [sg.id],
        atRestEncryptionEnabled: true,
        transitEncryptionEnabled: true,
        transitEncryptionMode: "required",
        authToken: secretToken,
        autoMinorVersionUpgrade: true,
        tags: named(args.tags, `${name}-redis`),
      },
      { parent: this, protect: args.protect, additionalSecretOutputs: ["authToken"] },
    );

    this.primaryEndpoint = group.primaryEndpointAddress;
    this.securityGroupId = sg.id;
    const url = (db: number) =>
      pulumi.secret(
        pulumi.all([secretToken, group.primaryEndpointAddress]).apply(([t, host]) => {
          if (!isValidAuthToken(t)) throw new Error("the generated auth token does not meet ElastiCache's rules");
          return redisUrl({ token: t, host, port: REDIS_PORT, db });
        }),
      );
    this.brokerUrl = url(0);
    this.resultBackendUrl = url(1);
    this.registerOutputs({
      brokerUrl: this.brokerUrl,
      resultBackendUrl: this.resultBackendUrl,
      primaryEndpoint: this.primaryEndpoint,
      securityGroupId: this.securityGroupId,
    });
  }
}
