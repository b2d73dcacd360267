/**
 * django-deploy: a Django project from a git repository to a production site on one Debian host.
 * Validated settings in → (EC2 host | existing server) → host base → code → environment → release →
 * nginx/TLS → outputs. Every step is a remote command rendered from files/; see README.md.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadSettings } from "./components/config";
import { renderHostFiles } from "./components/host-files";
import { AwsHost } from "./components/aws-host";
import { HostBase } from "./components/host-base";
import { AppCode } from "./components/app-code";
import { PythonEnv } from "./components/python-env";
import { AppRelease } from "./components/app-release";
import { WebServer } from "./components/web-server";
import { SiteDns } from "./components/site-dns";

const settings = loadSettings(); // throws a readable error before any resource exists

const server = settings.ec2
  ? new AwsHost("server", {
      instanceType: settings.instanceType,
      rootVolumeGiB: settings.rootVolumeGiB,
      sshPublicKey: settings.sshPublicKey!,
      sshAllowedCidrs: settings.sshAllowedCidrs!,
      sshPort: settings.sshPort,
      protect: settings.protect,
      tags: { Project: pulumi.getProject(), Stack: pulumi.getStack(), ManagedBy: "pulumi" },
    })
  : undefined;
const address: pulumi.Input<string> = server ? server.publicIp : settings.host!;

const common = {
  settings,
  files: renderHostFiles(settings),
  connection: {
    host: address,
    port: settings.sshPort,
    user: settings.hostUser,
    privateKey: settings.sshPrivateKey,
    hostKey: settings.sshHostKey,
  },
};
const host = new HostBase("host", { ...common, after: server ? [server] : [] });
const code = new AppCode("code", { ...common, after: [host.ready] });
const env = new PythonEnv("env", { ...common, after: [code], requirementsHash: code.requirementsHash });
const app = new AppRelease("app", {
  ...common,
  after: [env.ready],
  commit: code.commit,
  requirementsHash: code.requirementsHash,
  settingsFingerprint: env.settingsFingerprint,
});
// Certbot's http-01 challenge needs the names to resolve to the host first.
const dns = settings.dnsZoneId ? new SiteDns("dns", { zoneId: settings.dnsZoneId, domain: settings.domain, address }) : undefined;
const web = new WebServer("web", { ...common, after: [host.ready, ...(dns ? [dns] : [])], app: app.running });

const scheme = settings.tls ? "https" : "http";
// The URL is known once nginx serves the site.
export const siteUrl = web.site.id.apply(() => `${scheme}://www.${settings.domain}/`);
export const publicIp = pulumi.output(address);
export const sshCommand = pulumi.interpolate`ssh -p ${settings.sshPort} ${settings.hostUser}@${address}`;
export const deployedRef = pulumi.interpolate`${settings.repoRef} (${code.commit})`;
export const deployedCommit = code.commit;
