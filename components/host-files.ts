/**
 * Pure renderers of every public file django-deploy writes on a host and of every step script that
 * writes them. Templates see public settings only (secrets are rendered by secret-files.ts, onto
 * standard input), plus the values earlier steps printed (a release's commit, …) when a step reads
 * them. Components only wire these strings into remote commands; tests and `npm run render` read
 * them directly.
 */
import { createHash } from "crypto";
import * as path from "path";
import type { Settings } from "./config";
import { HostFileName, Layout, SECRET_HOST_FILES, Slot, layoutOf, siteSlug } from "./layout";
import type { PlannedStep, StepValue } from "./plan";
import { publicSettings, render, sh, shq } from "./templates";
import { credentialScope, parseGitUrl } from "./config-rules";

/** Packages every site needs; `extraPackages` adds to them. */
export const BASE_PACKAGES = [
  "ca-certificates",
  "sudo",
  "procps",
  "curl",
  "git",
  "python3-venv",
  "nginx",
  "supervisor",
  "redis-server",
  "unattended-upgrades",
];

/** Host files rendered from templates (the secret ones, and the CA bundle assembled on the host, are not). */
export type RenderedHostFile = Exclude<HostFileName, "deploy-key" | "server.envrc" | "acme-ca.pem" | "backup-credentials">;

/** Values of earlier steps, by name; what `npm run render` and the tests use when none are known. */
export type StepValues = Partial<Record<StepValue, string>>;
export const PLACEHOLDER_VALUES: Required<StepValues> = {
  hostKey: "<host-key>",
  commit: "<commit>",
  requirementsHash: "<requirements-hash>",
  settingsFingerprint: "<settings-fingerprint>",
  releaseRun: "<release-run>",
  liveCommit: "<live-commit>",
  previousCommit: "<previous-commit>",
  keptReleases: "<kept-releases>",
  backupBucket: "<backup-bucket>",
  backupRegion: "<backup-region>",
  releaseCommit: "<release-commit>",
};

export interface TemplateContext {
  s: Settings;
  p: Layout;
  group: string;
  dirname: (p: string) => string;
  /**
   * Behind a load balancer: the site's nginx variable prefix and the location of the health check
   * (healthCheckPath without its query). False otherwise. The prefix is derived from the slug but
   * of fixed length: nginx refuses a variable name too long for its hash bucket (64 bytes by
   * default), which a long domain in the name made.
   */
  lb: false | { v: string; healthLocation: string };
}

export function templateContext(s: Settings): TemplateContext {
  const group = siteSlug(s);
  const lb = s.fleet.behindLoadBalancer && {
    v: `django_deploy_${createHash("sha256").update(group).digest("hex").slice(0, 12)}`,
    healthLocation: (s.healthCheckPath ?? "/").split("?")[0],
  };
  return { s: publicSettings(s), p: layoutOf(s), group, dirname: (p: string) => path.posix.dirname(p), lb };
}

/** The context of a file that belongs to a release (and, for the web programs, to a slot). */
const releaseFile = (template: string, slot?: Slot) => ({
  template,
  extra: (ctx: TemplateContext, v: StepValues) => {
    const commit = v.commit ?? PLACEHOLDER_VALUES.commit;
    return { slot, commit, release: ctx.p.release(commit) };
  },
});

/** The backup commands: where backups go off the host (the bucket is known once it exists, on EC2). */
const backupFile = (template: string) => ({
  template,
  extra: (_ctx: TemplateContext, v: StepValues) => ({
    bucket: v.backupBucket ?? PLACEHOLDER_VALUES.backupBucket,
    region: v.backupRegion ?? PLACEHOLDER_VALUES.backupRegion,
  }),
});

const TEMPLATES: Record<RenderedHostFile, { template: string; extra?: (ctx: TemplateContext, v: StepValues) => object }> = {
  "20auto-upgrades": { template: "20auto-upgrades" },
  "sshd.conf": { template: "sshd.conf" },
  "sysctl.conf": { template: "sysctl.conf" },
  "redis-server.conf": { template: "redis-server.conf" },
  "runinenv.sh": { template: "runinenv.sh" },
  "gunicorn-a.conf.py": releaseFile("gunicorn.conf.py", "a"),
  "gunicorn-b.conf.py": releaseFile("gunicorn.conf.py", "b"),
  "supervisor-web-a.conf": releaseFile("supervisor/web.conf", "a"),
  "supervisor-web-b.conf": releaseFile("supervisor/web.conf", "b"),
  "supervisor-celery-a.conf": releaseFile("supervisor/celery.conf", "a"),
  "supervisor-celery-b.conf": releaseFile("supervisor/celery.conf", "b"),
  "supervisor-beat.conf": releaseFile("supervisor/beat.conf"),
  "acme-bootstrap.conf": { template: "nginx/acme-bootstrap.conf" },
  "certbot-ca.conf": { template: "certbot-ca.conf" },
  "certbot-deploy-hook.sh": { template: "certbot-deploy-hook.sh" },
  "site.conf": { template: "nginx/site.conf" },
  "postgresql.conf": { template: "postgresql/postgresql.conf" },
  "pg_hba.conf": { template: "postgresql/pg_hba.conf" },
  "postgresql-restart.conf": { template: "postgresql/restart.conf" },
  backup: backupFile("backup/backup.sh"),
  restore: backupFile("backup/restore.sh"),
  "backup.service": { template: "backup/backup.service" },
  "backup.timer": { template: "backup/backup.timer" },
};

/**
 * Every public configuration file written on the host, by its name, as it will be on disk. The files
 * of a release (Gunicorn and supervisord programs) name `values.commit`'s release.
 */
export function renderHostFiles(s: Settings, values: StepValues = {}): Record<RenderedHostFile, string> {
  const ctx = templateContext(s);
  const out = {} as Record<RenderedHostFile, string>;
  for (const [name, t] of Object.entries(TEMPLATES) as [RenderedHostFile, (typeof TEMPLATES)[RenderedHostFile]][]) {
    out[name] = render(t.template, { ...ctx, ...(t.extra?.(ctx, values) ?? {}) });
  }
  return out;
}

/** The detached script the switch leaves behind to stop the old slot and prune (a file of its own for checks). */
export function renderSwitchFinisher(s: Settings): string {
  return render("partials/switch-finisher.sh", templateContext(s));
}

/** The host gets its own certificate (behind a load balancer, the load balancer terminates TLS). */
export const runsCertbot = (s: Settings): boolean => s.tls && !s.fleet.behindLoadBalancer;

/** This host runs Celery beat: exactly one host of the fleet does (host 1). */
export const runsBeat = (s: Settings): boolean => s.celeryApp !== undefined && s.hostRole.primary;

/** The packages the host-packages step ensures. */
export function packagesOf(s: Settings): string[] {
  const data = s.database === "host" ? ["postgresql", ...(s.backupDestination === "s3" ? ["awscli"] : [])] : [];
  return [...new Set([...BASE_PACKAGES, ...(runsCertbot(s) ? ["certbot"] : []), ...data, ...s.extraPackages])];
}

const isRendered = (name: HostFileName): name is RenderedHostFile => name in TEMPLATES;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * The bash script of one step: the shared helpers, the values it reads, then the step itself (run
 * as root). A template installs files only through `it.install(name)` (a rendered file, embedded as a
 * quoted here-document) or `it.place(name)` (the file's path, mode and owner, for content arriving
 * another way); the files it installs must be exactly the step's `installs` in the plan.
 */
export function renderStepScript(s: Settings, step: PlannedStep, values: StepValues = {}): string {
  const ctx = templateContext(s);
  const known = { ...PLACEHOLDER_VALUES, ...values };
  const files = renderHostFiles(s, known);
  const installed: HostFileName[] = [];
  const place = (name: HostFileName): string => {
    if (!step.installs.includes(name)) throw new Error(`step ${step.name} installs ${name}, which the plan does not list for it`);
    installed.push(name);
    const f = ctx.p.files[name];
    return `${sh(f.path)} ${f.mode} ${sh(f.owner)}`;
  };
  const install = (name: HostFileName): string => {
    if (!isRendered(name) || SECRET_HOST_FILES.includes(name)) throw new Error(`${name} is not a rendered host file: use it.place`);
    // supervisord stops at boot on a file it cannot read: its own parser checks each one first.
    const check = name.startsWith("supervisor-") ? " check_supervisor_conf" : "";
    return `install_file ${place(name)}${check} <<'DJANGO_DEPLOY_FILE'\n${files[name].replace(/\n$/, "")}\nDJANGO_DEPLOY_FILE`;
  };
  // What the live slot must run for the switch to be a no-op: this release's program files.
  const configHash = sha256(
    [
      files["gunicorn-a.conf.py"],
      files["supervisor-web-a.conf"],
      ...(s.celeryApp ? [files["supervisor-celery-a.conf"]] : []),
      ...(runsBeat(s) ? [files["supervisor-beat.conf"]] : []),
    ].join("\0"),
  );
  const body = render(step.template, {
    ...ctx,
    step,
    files,
    install,
    place,
    packages: packagesOf(s),
    healthPath: s.healthCheckPath ?? "/",
    beat: runsBeat(s),
    configHash,
    finisher: step.name === "app-switch" ? renderSwitchFinisher(s).replace(/\n$/, "") : "",
    ...repoTokenHelper(s),
  });
  const missing = step.installs.filter((n) => !installed.includes(n));
  if (missing.length > 0) throw new Error(`step ${step.name} does not install ${missing.join(", ")}, which the plan lists for it`);
  const lib = step.name === "host-wait" ? "set -euo pipefail\n" : render("partials/step-lib.sh", ctx);
  const reads = step.reads.length
    ? `# Values printed by earlier steps (a new value changes this command, so the step runs again):\n# shellcheck disable=SC2034 # a value may be read only to re-run the step\nreadonly \\\n${step.reads.map((v) => `  ${v}=${sh(known[v])}`).join(" \\\n")}\n`
    : "";
  return `#!/bin/bash\n# django-deploy step "${step.name}" for ${s.domain}\n${lib}${reads}${body}`;
}

/**
 * The git credential helper of the checkout (when repoToken is set): where it answers (repoUrl's
 * scheme, host and port) and the helper itself, a shell function git runs with "get", "store" or
 * "erase" on the build user's side. It answers "get" with repoTokenUser and the token from git's
 * environment (DJANGO_DEPLOY_REPO_TOKEN, never a command line) and ignores the others.
 */
export function repoTokenHelper(s: Settings): { tokenScope?: string; tokenHelper?: string } {
  const url = s.hasRepoToken ? parseGitUrl(s.repoUrl) : undefined;
  if (!url) return {};
  const answer = `printf 'username=%s\\npassword=%s\\n' ${shq(s.repoTokenUser)} "$DJANGO_DEPLOY_REPO_TOKEN"`;
  return { tokenScope: credentialScope(url), tokenHelper: `!f() { cat >/dev/null; test "$1" = get || exit 0; ${answer}; }; f` };
}

/**
 * The command string pulumi-command runs for a step: the script, verbatim and readable (so
 * `pulumi preview --diff` shows changed lines), handed to bash as root. Standard input stays free
 * for secrets, which never appear in the command string.
 */
export function stepCommand(script: string): string {
  if (/^DJANGO_DEPLOY_STEP$/m.test(script)) throw new Error("a step script may not contain its own delimiter line");
  return `sudo -n /bin/bash -c "$(cat <<'DJANGO_DEPLOY_STEP'\n${script.replace(/\n$/, "")}\nDJANGO_DEPLOY_STEP\n)"`;
}
