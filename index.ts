/**
 * django-deploy: a Django project from a git repository to a production site on one Debian host.
 * Validated settings in → (EC2 host | existing server) → the step plan → remote steps → outputs.
 * Every step is a remote command rendered from files/; components/plan.ts lists them (README.md).
 */
import * as pulumi from "@pulumi/pulumi";
import { backupStorage } from "./components/backup-storage";
import { loadConfig } from "./components/config";
import { databasePassword } from "./components/data-secrets";
import { provisionHost } from "./components/host-target";
import { SiteDns } from "./components/site-dns";
import { layoutOf } from "./components/layout";
import { stepPlan } from "./components/plan";
import { secretStdin, settingsFingerprint } from "./components/secret-files";
import { instantiateSteps } from "./components/site-steps";

const { settings, secrets } = loadConfig(); // throws a readable error before any resource exists
// database: host — the role's password (Pulumi's secret) and, with backupDestination: s3 on EC2, the bucket and role.
const password = settings.database === "host" ? databasePassword() : undefined;
const backups = backupStorage(settings);
const host = provisionHost(settings.target, settings.sshPort, { instanceProfileName: backups.instanceProfileName });
const address = host.address;

// Certbot's http-01 challenge needs the names to resolve to the host first.
const dns = settings.dnsZoneId ? new SiteDns("dns", { zoneId: settings.dnsZoneId, domain: settings.domain, address }) : undefined;

const stdin = secretStdin(settings, secrets, password?.result);
const site = instantiateSteps({
  settings,
  plan: stepPlan(settings),
  connection: {
    host: address,
    port: settings.sshPort,
    user: settings.hostUser,
    privateKey: secrets.sshPrivateKey,
    ...(host.hostKey !== undefined ? { hostKey: host.hostKey } : {}),
  },
  stdin,
  values: { settingsFingerprint: settingsFingerprint(stdin.serverEnv), backupBucket: backups.bucket, backupRegion: backups.region },
  external: { ...(host.server ? { server: host.server } : {}), ...(dns ? { dns } : {}) },
});

const scheme = settings.tls ? "https" : "http";
// The URL is known once nginx serves the site.
export const siteUrl = site.step("web-nginx-site").id.apply(() => `${scheme}://www.${settings.domain}/`);
export const publicIp = pulumi.output(address);
// The key every step checks (sshTrustOnFirstUse: the one host-wait saw first; set it as sshHostKey).
export const hostKey = host.hostKey !== undefined ? pulumi.output(host.hostKey) : site.value("hostKey");
export const sshCommand = pulumi.interpolate`ssh -p ${settings.sshPort} ${settings.hostUser}@${address}`;
export const deployedCommit = site.value("commit");
export const deployedRef = pulumi.interpolate`${settings.repoRef} (${deployedCommit})`;
// What the host serves, as the switch recorded it (a rollback deploys previousCommit).
export const liveCommit = site.value("liveCommit");
export const previousCommit = site.value("previousCommit");
export const keptReleases = site.value("keptReleases").apply((kept) => (kept ? kept.split(",") : []));
// database: host — the commands on the host (npm run restore runs the second over SSH), and the bucket.
export const backupCommand =
  settings.database === "host" ? site.step("data-backup").id.apply(() => layoutOf(settings).backupCommand) : undefined;
export const restoreCommand =
  settings.database === "host" ? site.step("data-backup").id.apply(() => layoutOf(settings).restoreCommand) : undefined;
export const backupBucket = backups.buckets?.backupBucketName;
