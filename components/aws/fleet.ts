/**
 * The AWS side of a load-balanced EC2 site, wired in one place: network → buckets → host role →
 * load balancer → app hosts → RDS (database: rds) → ElastiCache (redis: elasticache). What the hosts
 * need from it comes back as data: each host's address and pinned host key, and the settings the
 * program writes into `.server.envrc` (secret: DATABASE_URL, the broker URLs; public: the media
 * bucket the app's storage library reads).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import type { Settings } from "../config";
import { FLEET_VPC_CIDR } from "../config-scale";
import { AppHosts } from "./app-hosts";
import { Buckets } from "./buckets";
import { Cache } from "./cache";
import { Database } from "./database";
import { HostRole } from "./host-role";
import { LoadBalancer } from "./load-balancer";
import { Network } from "./network";

export interface AwsFleet {
  hosts: { address: pulumi.Output<string>; hostKey: pulumi.Output<string>; server: pulumi.Resource }[];
  /** Settings the program writes into .server.envrc (a secret Output). */
  programEnv: pulumi.Output<Record<string, string>>;
  buckets: Buckets;
  role: HostRole;
  loadBalancer: LoadBalancer;
  database?: Database;
  cache?: Cache;
}

/** The media settings written into .server.envrc: django-storages' S3 backend reads them (README: Media on S3). */
export function mediaEnv(bucket: string, region: string): Record<string, string> {
  return { AWS_STORAGE_BUCKET_NAME: bucket, AWS_S3_REGION_NAME: region, DJANGO_DEPLOY_MEDIA_STORAGE: "s3" };
}

export function awsFleet(s: Settings): AwsFleet {
  if (s.target.kind !== "ec2" || !s.fleet.aws) throw new Error("awsFleet: only for EC2 hosts behind the load balancer");
  const target = s.target;
  const protect = target.protect;
  const tags = { Project: pulumi.getProject(), Stack: pulumi.getStack(), ManagedBy: "pulumi" };
  const region = aws.config.region ?? "us-east-1";
  const network = new Network("net", { cidrBlock: FLEET_VPC_CIDR, zones: s.zones, tags });
  // Review stacks (unprotected) may be emptied by a destroy; a protected stack's files never are.
  const buckets = new Buckets("site-files", { protect, forceDestroy: !protect, tags });
  const role = new HostRole("site-host", { mediaBucketArn: buckets.mediaBucketArn, backupBucketArn: buckets.backupBucketArn, tags });
  const loadBalancer = new LoadBalancer("web", {
    vpcId: network.vpcId,
    vpcCidrBlock: network.vpcCidrBlock,
    subnetIds: network.publicSubnetIds,
    ipv6: network.ipv6,
    domain: s.domain,
    zoneId: s.dnsZoneId ?? "",
    healthCheckPath: (s.healthCheckPath ?? "/").split("?")[0],
    protect,
    tags,
  });
  const app = new AppHosts("app", {
    count: s.fleet.count,
    instanceType: target.instanceType,
    rootVolumeGiB: target.rootVolumeGiB,
    vpcId: network.vpcId,
    subnetIds: network.publicSubnetIds,
    sshPublicKey: target.sshPublicKey,
    sshAllowedCidrs: target.sshAllowedCidrs,
    sshPort: s.sshPort,
    sshAllowWorld: target.sshAllowWorld,
    loadBalancerSecurityGroupId: loadBalancer.securityGroupId,
    targetGroupArn: loadBalancer.targetGroupArn,
    instanceProfileName: role.instanceProfileName,
    protect,
    tags,
  });
  const database =
    s.database === "rds"
      ? new Database("db", {
          vpcId: network.vpcId,
          subnetIds: network.dataSubnetIds,
          appSecurityGroupId: app.securityGroupId,
          instanceClass: s.databaseInstanceClass,
          allocatedStorageGiB: s.databaseStorageGiB,
          maxAllocatedStorageGiB: s.databaseStorageGiB * 5,
          backupRetentionDays: s.databaseBackupDays,
          // FSBP RDS.5: Multi-AZ for protected (prod) stacks; review stacks stay single-AZ.
          multiAz: protect,
          protect,
          tags,
        })
      : undefined;
  const cache =
    s.redis === "elasticache"
      ? new Cache("cache", {
          vpcId: network.vpcId,
          subnetIds: network.dataSubnetIds,
          appSecurityGroupId: app.securityGroupId,
          replicas: s.cacheReplicas,
          protect,
          tags,
        })
      : undefined;
  const secretEnv: Record<string, pulumi.Output<string>> = {
    ...(database ? { DATABASE_URL: database.databaseUrl } : {}),
    ...(cache ? { CELERY_BROKER_URL: cache.brokerUrl, CELERY_RESULT_BACKEND: cache.resultBackendUrl } : {}),
  };
  const programEnv = pulumi.secret(
    pulumi
      .all([buckets.mediaBucketName, pulumi.all(secretEnv)])
      .apply(([bucket, env]) => ({ ...mediaEnv(bucket, region), ...(env as Record<string, string>) })),
  );
  return {
    hosts: app.hosts.map((h) => ({ address: h.publicIp, hostKey: h.hostPublicKey, server: app })),
    programEnv,
    buckets,
    role,
    loadBalancer,
    ...(database ? { database } : {}),
    ...(cache ? { cache } : {}),
  };
}
