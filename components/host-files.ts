/**
 * Pure renderers of every public file django-deploy writes on a host and of every step script that
 * writes them. Templates see public settings only (secrets are rendered by secret-files.ts, onto
 * standard input). Components only wire these strings into remote commands; tests and
 * `npm run render` read them directly.
 */
import * as path from "path";
import type { Settings } from "./config";
import { HostFileName, Layout, SECRET_HOST_FILES, layoutOf, siteSlug } from "./layout";
import type { PlannedStep } from "./plan";
import { publicSettings, render, sh } from "./templates";

/** Packages every site needs; `extraPackages` adds to them. */
export const BASE_PACKAGES = [
  "ca-certificates",
  "sudo",
  "procps",
  "git",
  "python3-venv",
  "nginx",
  "supervisor",
  "redis-server",
  "unattended-upgrades",
];

/** Host files rendered from templates (the secret ones, and the CA bundle assembled on the host, are not). */
export type RenderedHostFile = Exclude<HostFileName, "deploy-key" | "server.envrc" | "acme-ca.pem">;

const TEMPLATE: Record<RenderedHostFile, string> = {
  "20auto-upgrades": "20auto-upgrades",
  "sshd.conf": "sshd.conf",
  "sysctl.conf": "sysctl.conf",
  "runinenv.sh": "runinenv.sh",
  "gunicorn.conf.py": "gunicorn.conf.py",
  "supervisor.conf": "supervisor/programs.conf",
  "acme-bootstrap.conf": "nginx/acme-bootstrap.conf",
  "certbot-ca.conf": "certbot-ca.conf",
  "certbot-deploy-hook.sh": "certbot-deploy-hook.sh",
  "site.conf": "nginx/site.conf",
};

export interface TemplateContext {
  s: Settings;
  p: Layout;
  group: string;
  programs: string[];
  dirname: (p: string) => string;
}

export function templateContext(s: Settings): TemplateContext {
  const p = layoutOf(s);
  const group = siteSlug(s);
  const programs = s.celeryApp ? [`${group}-web`, `${group}-celery`, `${group}-beat`] : [`${group}-web`];
  return { s: publicSettings(s), p, group, programs, dirname: (p: string) => path.posix.dirname(p) };
}

/** Every public configuration file written on the host, by its name, as it will be on disk. */
export function renderHostFiles(s: Settings): Record<RenderedHostFile, string> {
  const ctx = templateContext(s);
  const out = {} as Record<RenderedHostFile, string>;
  for (const [name, template] of Object.entries(TEMPLATE) as [RenderedHostFile, string][]) out[name] = render(template, ctx);
  return out;
}

/** The packages the host-packages step ensures. */
export function packagesOf(s: Settings): string[] {
  return [...new Set([...BASE_PACKAGES, ...(s.tls ? ["certbot"] : []), ...s.extraPackages])];
}

const isRendered = (name: HostFileName): name is RenderedHostFile => name in TEMPLATE;

/**
 * The bash script of one step: the shared helpers, then the step itself (run as root). A template
 * installs files only through `it.install(name)` (a rendered file, embedded as a quoted
 * here-document) or `it.place(name)` (the file's path, mode and owner, for content arriving another
 * way); the files it installs must be exactly the step's `installs` in the plan.
 */
export function renderStepScript(s: Settings, step: PlannedStep, files: Record<RenderedHostFile, string> = renderHostFiles(s)): string {
  const ctx = templateContext(s);
  const installed: HostFileName[] = [];
  const place = (name: HostFileName): string => {
    if (!step.installs.includes(name)) throw new Error(`step ${step.name} installs ${name}, which the plan does not list for it`);
    installed.push(name);
    const f = ctx.p.files[name];
    return `${sh(f.path)} ${f.mode} ${sh(f.owner)}`;
  };
  const install = (name: HostFileName): string => {
    if (!isRendered(name) || SECRET_HOST_FILES.includes(name)) throw new Error(`${name} is not a rendered host file: use it.place`);
    return `install_file ${place(name)} <<'DJANGO_DEPLOY_FILE'\n${files[name].replace(/\n$/, "")}\nDJANGO_DEPLOY_FILE`;
  };
  const body = render(step.template, { ...ctx, step, files, install, place, packages: packagesOf(s) });
  const missing = step.installs.filter((n) => !installed.includes(n));
  if (missing.length > 0) throw new Error(`step ${step.name} does not install ${missing.join(", ")}, which the plan lists for it`);
  const lib = step.name === "host-wait" ? "set -euo pipefail\n" : render("partials/step-lib.sh", ctx);
  return `#!/bin/bash\n# django-deploy step "${step.name}" for ${s.domain}\n${lib}${body}`;
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
