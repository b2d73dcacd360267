/**
 * The step plan: the one list of the remote steps, as data. `stepPlan(settings)` is a pure function
 * that returns the steps this configuration runs, in order, each with its component, template, the
 * host files it installs, its dependencies, triggers, secret input and condition. Components,
 * index.ts, `npm run render`, the README step table and the tests all derive from it: adding a step
 * is one entry here and one template in files/steps/<name>.sh.eta.
 */
import type { Settings } from "./config";
import { runsBeat, runsCertbot } from "./host-files";
import type { HostFileName } from "./layout";

/** The components that own the steps (one Pulumi component resource each). */
export const COMPONENTS = {
  host: { type: "django-deploy:host:HostBase", summary: "the machine: booted, packages, users and directories" },
  code: { type: "django-deploy:app:AppCode", summary: "the code at repoRef" },
  env: { type: "django-deploy:app:PythonEnv", summary: "virtualenv, server settings, runinenv.sh" },
  app: { type: "django-deploy:app:AppRelease", summary: "release tasks and the app's programs" },
  web: { type: "django-deploy:web:WebServer", summary: "nginx and TLS" },
  data: { type: "django-deploy:data:Database", summary: "PostgreSQL on the host, its backups and the restore command" },
} as const;
export type ComponentName = keyof typeof COMPONENTS;

/**
 * Values that flow between steps: printed by one step (`produces`, its last line of output), then
 * written into the scripts of the steps that read them (`reads`: a changed value changes their
 * command, so they re-run), or passed as a trigger (`triggers`: for the secret fingerprint, which
 * no command string may hold).
 */
export type StepValue =
  | "hostKey"
  | "commit"
  | "requirementsHash"
  | "settingsFingerprint"
  | "releaseRun"
  | "liveCommit"
  | "previousCommit"
  | "keptReleases"
  // Where backups go off the host: the bucket (EC2: the one the program creates) and its region.
  | "backupBucket"
  | "backupRegion"
  // Hosts 2+ of a fleet check out the commit host 1 resolved repoRef to (a moving branch cannot split them).
  | "releaseCommit";
/** Secret material a step reads on standard input, rendered by secret-files.ts. */
export type SecretInput = "deployKey" | "serverEnv" | "repoToken" | "databaseVerifier" | "backupCredentials";
/**
 * Resources outside the plan a step may wait for: the EC2 host, the DNS records; in a fleet, host
 * 1's release step (`migrations`: hosts 2+ prepare their release once the database is migrated) and
 * the switches of the batch before (`rollout`).
 */
export type ExternalDependency = "server" | "dns" | "migrations" | "rollout";

export interface StepDefinition {
  /** The one name of the step: Pulumi resource name, template `files/steps/<name>.sh.eta`, docs. */
  name: string;
  component: ComponentName;
  /** One line for the README step table. */
  does: string;
  /** The step exists only when this holds (with `condition` saying so in words). */
  when?: (s: Settings) => boolean;
  condition?: string;
  /** Host files the step installs (see layout.ts for where they land). */
  installs?: readonly HostFileName[] | ((s: Settings) => readonly HostFileName[]);
  /** Steps (or outside resources) that must be done first; absent steps are skipped. */
  after: readonly string[];
  /** Values written into the step's script as shell variables of the same name. */
  reads?: readonly StepValue[] | ((s: Settings) => readonly StepValue[]);
  /** Values whose change re-runs the step (pulumi-command replaces it) without entering its script. */
  triggers?: readonly StepValue[];
  /** Values the step prints as one JSON line on its last line of output. */
  produces?: readonly StepValue[];
  /** Secret material the step reads on standard input (only when `stdinWhen` holds, if given). */
  stdin?: SecretInput;
  stdinWhen?: (s: Settings) => boolean;
  stdinCondition?: string;
  /**
   * The step's output stays public although it reads a secret: its script hands the secret to a
   * process and never prints it (tested), and later steps need what it prints in clear (readable
   * previews). Default: a step that reads a secret has secret outputs and no logging.
   */
  publicOutput?: boolean;
  /** Keep retrying the SSH connection: the host may still be booting. */
  waitForHost?: boolean;
}

export const STEPS: readonly StepDefinition[] = [
  {
    name: "host-wait",
    component: "host",
    does: "SSH up, boot finished (cloud-init, systemd); prints the host's ed25519 key (pinned by every later step when sshTrustOnFirstUse)",
    after: ["server"],
    produces: ["hostKey"],
    waitForHost: true,
  },
  {
    name: "host-packages",
    component: "host",
    does: "system packages, unattended upgrades, SSH and kernel hardening, Redis on a unix socket",
    after: ["host-wait"],
    installs: ["20auto-upgrades", "sshd.conf", "sysctl.conf", "redis-server.conf"],
  },
  { name: "host-layout", component: "host", does: "app and build users, the site's directories", after: ["host-packages"] },
  {
    name: "code-deploy-key",
    component: "code",
    does: "the repository deploy key, for the build user only",
    when: (s) => s.hasDeployKey,
    condition: "repoDeployKey is set",
    after: ["host-layout"],
    installs: ["deploy-key"],
    stdin: "deployKey",
  },
  {
    name: "code-checkout",
    component: "code",
    does: "releases/<commit>: the parent repository and submodules at repoRef, from mirrors in cache/; prints the commit and the requirements hash",
    after: ["host-layout", "code-deploy-key"],
    reads: (s) => (s.hostRole.primary ? [] : ["releaseCommit"]),
    produces: ["commit", "requirementsHash"],
    stdin: "repoToken",
    stdinWhen: (s) => s.hasRepoToken,
    stdinCondition: "repoToken is set",
    publicOutput: true,
  },
  {
    name: "env-venv",
    component: "env",
    does: "venvs/<requirements hash>, built aside by the build user (shared by releases with the same requirements)",
    after: ["code-checkout"],
    reads: ["requirementsHash"],
  },
  {
    name: "env-server-env",
    component: "env",
    does: "etc/server.envrc from the secret settings",
    after: ["host-layout"],
    installs: ["server.envrc"],
    stdin: "serverEnv",
  },
  {
    name: "env-runinenv",
    component: "env",
    does: "etc/runinenv.sh, the wrapper every app process runs through",
    after: ["host-layout"],
    installs: ["runinenv.sh"],
  },
  {
    name: "data-postgres",
    component: "data",
    does: "PostgreSQL from Debian on a unix socket only, scram-sha-256, restarted by systemd if it dies, the app's role (its password's SCRAM verifier on stdin) and database",
    when: (s) => s.database === "host",
    condition: "database: host",
    after: ["host-layout"],
    installs: ["postgresql.conf", "pg_hba.conf", "postgresql-restart.conf"],
    stdin: "databaseVerifier",
  },
  {
    name: "data-backup-credentials",
    component: "data",
    does: "the backup bucket's credentials, root's alone",
    when: (s) => s.database === "host" && s.backupDestination === "s3" && s.target.kind === "existing",
    condition: "database: host, backupDestination: s3 on an existing server",
    after: ["host-layout"],
    installs: ["backup-credentials"],
    stdin: "backupCredentials",
  },
  {
    name: "data-backup",
    component: "data",
    does: "the backup and restore commands and the backup timer (backupSchedule)",
    when: (s) => s.database === "host",
    condition: "database: host",
    after: ["data-postgres", "data-backup-credentials"],
    reads: ["backupBucket", "backupRegion"],
    installs: ["backup", "restore", "backup.service", "backup.timer"],
  },
  {
    name: "app-release",
    component: "app",
    does: "release tasks before the switch: collectstatic into the shared pool, a backup when migrations are pending (database: host), migrate, loaddata (host 1 of a fleet; the others check the database is migrated); prints its run's id",
    after: ["env-venv", "env-server-env", "env-runinenv", "data-backup", "migrations"],
    reads: ["commit"],
    triggers: ["settingsFingerprint"],
    produces: ["releaseRun"],
  },
  {
    name: "app-switch",
    component: "app",
    does: "the new release in the idle web slot, health-checked, then nginx, Celery and beat (host 1 only) moved to it; in a fleet after the batch before; prints live, previous and kept releases",
    after: ["app-release", "rollout"],
    // releaseRun: whenever the release step ran, the switch runs too (and checks what is live).
    reads: ["commit", "releaseRun"],
    triggers: ["settingsFingerprint"],
    installs: (s) => [
      "gunicorn-a.conf.py",
      "gunicorn-b.conf.py",
      "supervisor-web-a.conf",
      "supervisor-web-b.conf",
      ...(s.celeryApp ? (["supervisor-celery-a.conf", "supervisor-celery-b.conf"] as const) : []),
      ...(runsBeat(s) ? (["supervisor-beat.conf"] as const) : []),
    ],
    produces: ["liveCommit", "previousCommit", "keptReleases"],
  },
  {
    name: "web-acme-bootstrap",
    component: "web",
    does: "an HTTP server for the ACME challenge until a certificate exists",
    when: runsCertbot,
    condition: "tls, not behind a load balancer",
    after: ["host-layout", "dns"],
    installs: ["acme-bootstrap.conf"],
  },
  {
    name: "web-certificate",
    component: "web",
    does: "the certificate from Certbot (webroot), renewal hook",
    when: runsCertbot,
    condition: "tls, not behind a load balancer",
    after: ["web-acme-bootstrap"],
    installs: (s) => [...(s.acmeCaBundle ? (["acme-ca.pem", "certbot-ca.conf"] as const) : []), "certbot-deploy-hook.sh"],
  },
  {
    name: "web-nginx-site",
    component: "web",
    does: "the nginx site, upstream live.sock (kept if the new one fails nginx -t); behind a load balancer, port 80 for it only, its X-Forwarded-* trusted",
    after: ["host-layout", "dns", "app-switch", "web-certificate"],
    installs: ["site.conf"],
  },
];

/** A step of a configuration's plan: its definition with the conditions and alternatives resolved. */
export interface PlannedStep {
  name: string;
  component: ComponentName;
  template: string;
  installs: readonly HostFileName[];
  /** Steps of this plan (in order) and outside resources the step waits for. */
  after: readonly string[];
  external: readonly ExternalDependency[];
  reads: readonly StepValue[];
  triggers: readonly StepValue[];
  produces: readonly StepValue[];
  stdin?: SecretInput;
  publicOutput: boolean;
  waitForHost: boolean;
}

const EXTERNAL: readonly string[] = ["server", "dns", "migrations", "rollout"] satisfies readonly ExternalDependency[];

/** The steps this configuration runs, in order (every dependency before its dependents). */
export function stepPlan(s: Settings): PlannedStep[] {
  const present = STEPS.filter((d) => d.when?.(s) ?? true);
  const names = new Set(present.map((d) => d.name));
  return present.map((d) => ({
    name: d.name,
    component: d.component,
    template: `steps/${d.name}.sh`,
    installs: typeof d.installs === "function" ? d.installs(s) : (d.installs ?? []),
    after: d.after.filter((a) => names.has(a)),
    external: d.after.filter((a): a is ExternalDependency => EXTERNAL.includes(a)),
    reads: typeof d.reads === "function" ? d.reads(s) : (d.reads ?? []),
    triggers: d.triggers ?? [],
    produces: d.produces ?? [],
    ...(d.stdin && (d.stdinWhen?.(s) ?? true) ? { stdin: d.stdin } : {}),
    publicOutput: d.publicOutput ?? false,
    waitForHost: d.waitForHost ?? false,
  }));
}

/** The plan's README table (Markdown), kept in sync by a test. */
export function stepTable(): string {
  const rows = STEPS.map((d) => {
    const notes = [
      d.condition ? `only when ${d.condition}` : "",
      d.stdin ? `secret on stdin${d.stdinCondition ? ` when ${d.stdinCondition}` : ""}` : "",
      d.triggers ? `re-runs on ${d.triggers.join(", ")}` : "",
    ]
      .filter(Boolean)
      .join("; ");
    return `| \`${d.name}\` | \`${COMPONENTS[d.component].type}\` | ${d.does} | ${notes || "—"} |`;
  });
  return ["| step | component | does | notes |", "| --- | --- | --- | --- |", ...rows].join("\n") + "\n";
}
