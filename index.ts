/**
 * django-deploy: a Django project from a git repository to a production site on Debian hosts.
 * Validated settings in → hosts (one EC2 instance | EC2 hosts behind an ALB with RDS/ElastiCache |
 * existing servers) → the step plan of each host → remote steps, rolled out host by host → outputs.
 * Every step is a remote command rendered from files/; components/plan.ts lists them (README.md).
 */
import * as pulumi from "@pulumi/pulumi";
import { backupStorage } from "./components/backup-storage";
import { loadConfig } from "./components/config";
import { databasePassword } from "./components/data-secrets";
import { awsFleet } from "./components/aws/fleet";
import { provisionHosts } from "./components/host-target";
import { SiteDns } from "./components/site-dns";
import { layoutOf } from "./components/layout";
import { deploySite } from "./components/scale-out";
import { secretStdin, settingsFingerprint } from "./components/secret-files";

const { settings, secrets } = loadConfig(); // throws a readable error before any resource exists
// database: host — the role's password (Pulumi's secret) and, with backupDestination: s3 on EC2, the bucket and role.
const password = settings.database === "host" ? databasePassword() : undefined;
// Behind the program's load balancer: the VPC, ALB, hosts, RDS and ElastiCache (components/aws/fleet.ts).
const fleet = settings.fleet.aws ? awsFleet(settings) : undefined;
// database: host — with backupDestination: s3 on EC2, the bucket and the role that writes to it.
const backups = backupStorage(settings, fleet);
const hosts = fleet?.hosts ?? provisionHosts(settings.target, settings.sshPort, { instanceProfileName: backups.instanceProfileName });
const address = hosts[0].address;

// Certbot's http-01 challenge needs the names to resolve to the host first (the ALB has its own records).
const dns = settings.dnsZoneId && !fleet ? new SiteDns("dns", { zoneId: settings.dnsZoneId, domain: settings.domain, address }) : undefined;

const stdin = secretStdin(settings, secrets, password?.result, fleet?.programEnv);
const sites = deploySite({
  settings,
  hosts,
  connection: { port: settings.sshPort, user: settings.hostUser, privateKey: secrets.sshPrivateKey },
  stdin,
  values: { settingsFingerprint: settingsFingerprint(stdin.serverEnv), backupBucket: backups.bucket, backupRegion: backups.region },
  external: { ...(dns ? { dns } : {}) },
});
const site = sites[0]; // host 1

const scheme = settings.tls ? "https" : "http";
// The URL is known once nginx serves the site.
export const siteUrl = site.step("web-nginx-site").id.apply(() => `${scheme}://www.${settings.domain}/`);
export const publicIp = pulumi.output(address);
export const hostAddresses = pulumi.all(hosts.map((h) => h.address));
// The key every step checks (sshTrustOnFirstUse: the one host-wait saw first; set it as sshHostKey).
const hostKeyOf = (i: number) => {
  const known = hosts[i].hostKey;
  return known !== undefined ? pulumi.output(known) : sites[i].value("hostKey");
};
export const hostKey = hostKeyOf(0);
export const hostKeys = pulumi.all(hosts.map((_, i) => hostKeyOf(i)));
export const sshCommand = pulumi.interpolate`ssh -p ${settings.sshPort} ${settings.hostUser}@${address}`;
export const deployedCommit = site.value("commit");
export const deployedRef = pulumi.interpolate`${settings.repoRef} (${deployedCommit})`;
// What the host serves, as the switch recorded it (a rollback deploys previousCommit).
export const liveCommit = site.value("liveCommit");
export const liveCommits = pulumi.all(sites.map((h) => h.value("liveCommit")));
export const previousCommit = site.value("previousCommit");
export const keptReleases = site.value("keptReleases").apply((kept) => (kept ? kept.split(",") : []));
// database: host — the commands on the host (npm run restore runs the second over SSH), and the bucket.
export const backupCommand =
  settings.database === "host" ? site.step("data-backup").id.apply(() => layoutOf(settings).backupCommand) : undefined;
export const restoreCommand =
  settings.database === "host" ? site.step("data-backup").id.apply(() => layoutOf(settings).restoreCommand) : undefined;
export const backupBucket = backups.buckets?.backupBucketName;
export const loadBalancerDnsName = fleet?.loadBalancer.dnsName;
export const mediaBucket = fleet?.buckets.mediaBucketName;
