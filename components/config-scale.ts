/**
 * Scale-out settings (issue 12): several app hosts behind a load balancer — EC2 hosts behind an
 * Application Load Balancer with RDS and ElastiCache, or existing servers behind the user's own —
 * as a fragment of the one schema (config-schema.ts spreads it in), and the cross-field rules that
 * keep a fleet workable: one database and one broker every host reaches, a health check the load
 * balancer can ask, DNS for the certificate. Each problem names the setting and the ways out.
 */
import { z } from "zod";
import type { RawSettings } from "./config-schema";
import { HOSTNAME, IPV4, SSH_PUBLIC_KEY, bool, cidr, int, json, pattern } from "./config-types";

/** The VPC the program creates for a load-balanced EC2 site (components/aws/network.ts): nginx trusts its load balancer's addresses there. */
export const FLEET_VPC_CIDR = "10.0.0.0/16";
export const MAX_HOSTS = 20;

const address = z
  .string({ error: "must be an IPv4 address or a DNS host name" })
  .refine((h) => IPV4.test(h) || HOSTNAME.test(h), "must be an IPv4 address or a DNS host name");

export const scaleShape = {
  appHosts: int(
    "EC2 app hosts. More than one — or loadBalancer: true — puts them behind an Application Load Balancer (HTTPS with an ACM certificate; needs dnsZoneId and healthCheckPath). Every host serves the site and runs a Celery worker; host 1 also runs beat and the migrations.",
    1,
    MAX_HOSTS,
  ).default(1),
  loadBalancer: bool(
    "Put the site behind a load balancer even with one host: on EC2 an Application Load Balancer the program creates (with its VPC; needed for database: rds and redis: elasticache); with hosts, your own (see trustedProxies). Implied by more than one host.",
    false,
  ),
  hosts: json(
    z
      .array(address, { error: 'must be a list of addresses, e.g. ["203.0.113.10", "203.0.113.11"]' })
      .min(1, "must list at least one address")
      .max(MAX_HOSTS, `must list at most ${MAX_HOSTS} addresses`)
      .refine((hs) => new Set(hs).size === hs.length, "must not list an address twice"),
  )
    .optional()
    .describe(
      "Addresses of existing servers that together serve the site behind your own load balancer (instead of host). No AWS resource is created. Host 1 (the first) also runs beat and the migrations.",
    ),
  sshHostKeys: json(
    z.array(pattern(SSH_PUBLIC_KEY, "a host public key line such as 'ssh-ed25519 AAAA…'"), {
      error: "must be a list of host key lines, one per entry of hosts",
    }),
  )
    .optional()
    .describe(
      "Host keys of hosts, in the same order (`ssh-keyscan -t ed25519 <host>`, checked out of band). Required with hosts unless sshTrustOnFirstUse.",
    ),
  trustedProxies: json(
    z.array(cidr, { error: 'must be a list of CIDR blocks, e.g. ["10.0.0.0/24"]' }).min(1, "must list at least one CIDR block"),
  )
    .optional()
    .describe(
      "Addresses of your load balancer (hosts behind a load balancer): nginx takes the client address and scheme (X-Forwarded-For, X-Forwarded-Proto) from them only, and from nobody else.",
    ),
  rollingBatch: int(
    "Hosts switched to a new release at once. Each switch is health-checked; a host that fails stops the rollout there while the others keep serving.",
    1,
    MAX_HOSTS,
  ).default(1),
  redis: z
    .enum(["host", "external", "elasticache"], {
      error: "must be host (Redis on each host), external (CELERY_BROKER_URL in appEnv) or elasticache (EC2, behind the load balancer)",
    })
    .default("host")
    .describe(
      "Celery's broker and result store. host: Redis on the host, on a unix socket. external: CELERY_BROKER_URL (and CELERY_RESULT_BACKEND) from appEnv. elasticache (EC2 behind the load balancer): an ElastiCache Redis replication group the program creates (TLS, auth token, at-rest encryption), its rediss:// URLs written by the program.",
    ),
  cacheReplicas: int("ElastiCache read replicas (redis: elasticache); with one or more, automatic failover and Multi-AZ.", 0, 5).default(0),
  zones: int(
    "Availability zones the load-balanced EC2 site spans (public subnets for the load balancer and hosts, private ones for RDS and ElastiCache).",
    2,
    6,
  ).default(2),
  databaseInstanceClass: pattern(/^db\.[a-z0-9]+\.[a-z0-9]+$/, "an RDS instance class such as db.t4g.micro")
    .default("db.t4g.micro")
    .describe("RDS instance class (database: rds)."),
  databaseStorageGiB: int("RDS storage in GiB (database: rds); it grows automatically up to 5 times this.", 20, 6000).default(20),
  databaseBackupDays: int("Days RDS keeps automated backups (database: rds).", 7, 35).default(7),
};

/** The EC2 site has a load balancer (and its VPC). */
export const ec2LoadBalanced = (s: Pick<RawSettings, "host" | "hosts" | "appHosts" | "loadBalancer">): boolean =>
  !s.host && !s.hosts && (s.appHosts > 1 || s.loadBalancer);

/** How many app hosts the configuration names. */
export const hostCount = (s: Pick<RawSettings, "host" | "hosts" | "appHosts">): number =>
  s.hosts ? s.hosts.length : s.host ? 1 : s.appHosts;

/** The site is behind a load balancer (the program's or the user's). */
export const behindLoadBalancer = (s: Pick<RawSettings, "host" | "hosts" | "appHosts" | "loadBalancer">): boolean =>
  s.loadBalancer || hostCount(s) > 1;

/** The cross-field rules of scale-out; config.ts runs them after the schema. */
export function scaleProblems(s: RawSettings, raw: Record<string, string>, describeValue: (k: string) => string): string[] {
  const problems: string[] = [];
  const key = (k: string) => `django-deploy:${k}`;
  const ec2 = !s.host && !s.hosts;
  const count = hostCount(s);
  const lb = behindLoadBalancer(s);
  if (s.host && s.hosts) problems.push(`${key("hosts")}: set either host (one server) or hosts (several), not both`);
  if (!ec2 && "appHosts" in raw)
    problems.push(
      `${key("appHosts")}: counts EC2 hosts; with ${s.hosts ? "hosts" : "host"} the servers are the ones you list (remove appHosts)`,
    );
  if (s.hosts) {
    if (s.sshHostKeys && s.sshHostKeys.length !== s.hosts.length) {
      problems.push(
        `${key("sshHostKeys")}: must list one host key per entry of hosts, in the same order (${s.hosts.length} hosts, ${s.sshHostKeys.length} keys)`,
      );
    }
    if (!s.sshHostKeys && !s.sshTrustOnFirstUse) {
      problems.push(
        `${key("sshHostKeys")}: is required with hosts: their host keys in the same order (ssh-keyscan -t ed25519 <host>, checked out of band), or set sshTrustOnFirstUse: true`,
      );
    }
    if (s.sshHostKey) problems.push(`${key("sshHostKey")}: is for host; with hosts set sshHostKeys (one per host)`);
  } else if (s.sshHostKeys) {
    problems.push(`${key("sshHostKeys")}: only with hosts (for host, set sshHostKey; EC2 hosts get keys generated by the program)`);
  }
  if (s.rollingBatch > count && "rollingBatch" in raw) {
    problems.push(`${key("rollingBatch")}: must be at most the number of hosts (${count})${describeValue("rollingBatch")}`);
  }
  // One database and one broker that every host reaches.
  if (count > 1 && s.database === "host") {
    problems.push(
      `${key("database")}: host cannot serve ${count} hosts (a database on one of them would be shared by the others and lost with it): set database: ${ec2 ? "rds" : "external"}${ec2 ? " (RDS) or external" : " with DATABASE_URL in appEnv"}`,
    );
  }
  if (count > 1 && s.celeryApp && s.redis === "host") {
    problems.push(
      `${key("redis")}: host cannot serve ${count} hosts (each would have its own queue, and beat would feed one of them): set redis: ${ec2 ? "elasticache, or external" : "external"} with CELERY_BROKER_URL in appEnv`,
    );
  }
  for (const [value, what] of [
    [s.database === "rds", "database: rds"],
    [s.redis === "elasticache", "redis: elasticache"],
  ] as const) {
    if (!value) continue;
    if (!ec2)
      problems.push(
        `${key(what.split(":")[0])}: ${what} is for EC2 (the program creates it); with ${s.hosts ? "hosts" : "host"}, set external and the URL in appEnv`,
      );
    else if (!lb)
      problems.push(`${key(what.split(":")[0])}: ${what} lives in the load balancer's VPC: set loadBalancer: true (or appHosts above 1)`);
  }
  if (s.database === "rds" && "DATABASE_URL" in s.appEnv)
    problems.push(`${key("appEnv")}: must not set DATABASE_URL with database: rds: the program writes it (remove it from appEnv)`);
  if (s.redis === "elasticache") {
    if (!s.celeryApp) problems.push(`${key("redis")}: elasticache is Celery's broker: set celeryApp, or redis: host`);
    for (const name of ["CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"].filter((n) => n in s.appEnv))
      problems.push(`${key("appEnv")}: must not set ${name} with redis: elasticache: the program writes it (remove it from appEnv)`);
  } else if ("cacheReplicas" in raw) problems.push(`${key("cacheReplicas")}: only with redis: elasticache`);
  if (s.redis === "external" && s.celeryApp && !("CELERY_BROKER_URL" in s.appEnv)) {
    problems.push(
      `${key("redis")}: is external, so appEnv must set CELERY_BROKER_URL (and CELERY_RESULT_BACKEND): pulumi config set --secret --path 'appEnv.CELERY_BROKER_URL' 'rediss://…'`,
    );
  }
  if (s.database !== "rds")
    for (const k of ["databaseInstanceClass", "databaseStorageGiB", "databaseBackupDays"].filter((k) => k in raw))
      problems.push(`${key(k)}: only with database: rds`);
  if (!ec2 || !lb) {
    if ("zones" in raw)
      problems.push(`${key("zones")}: only for EC2 hosts behind the load balancer (appHosts above 1 or loadBalancer: true)`);
  }
  if (!lb) {
    if (s.trustedProxies)
      problems.push(`${key("trustedProxies")}: only behind a load balancer (hosts with more than one entry, or loadBalancer: true)`);
    return problems;
  }
  // Behind a load balancer.
  if (!s.healthCheckPath) {
    problems.push(
      `${key("healthCheckPath")}: is required behind a load balancer: a view of the app that answers 200 when it is healthy, such as /healthz (the load balancer asks it of every host)`,
    );
  }
  if (ec2) {
    if (!s.dnsZoneId)
      problems.push(
        `${key("dnsZoneId")}: is required with the load balancer: the Route 53 zone of ${s.domain} (ACM validates the certificate there, and the site's records point at the load balancer)`,
      );
    if (s.trustedProxies)
      problems.push(`${key("trustedProxies")}: not for EC2: the hosts trust the load balancer the program creates (remove trustedProxies)`);
  } else if (!s.trustedProxies) {
    problems.push(
      `${key("trustedProxies")}: is required behind your load balancer: the CIDR blocks it connects from, e.g. ["10.0.1.0/24"] (nginx takes X-Forwarded-For and X-Forwarded-Proto from them only)`,
    );
  }
  // The load balancer terminates TLS: no Certbot on the hosts.
  for (const k of ["certbotEmail", "acmeServer", "acmeCaBundle"].filter((k) => k in raw))
    problems.push(
      `${key(k)}: not used behind a load balancer: ${ec2 ? "ACM's certificate is on the load balancer" : "your load balancer terminates TLS"} (remove ${k})`,
    );
  return problems;
}
