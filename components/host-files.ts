/**
 * Pure renderers of every file django-deploy writes on a host and of every step script that writes
 * them. Components only wire these strings into remote commands; tests and `npm run render` read
 * them directly.
 */
import { Settings } from "./config";
import { Layout, layoutOf, siteSlug } from "./layout";
import { render } from "./templates";

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

export type StepName =
  | "wait"
  | "packages"
  | "layout"
  | "deployKey"
  | "checkout"
  | "venv"
  | "serverEnv"
  | "runinenv"
  | "release"
  | "supervisor"
  | "acmeBootstrap"
  | "certificate"
  | "nginxSite";

function context(s: Settings) {
  const p = layoutOf(s);
  const group = siteSlug(s);
  const programs = s.celeryApp ? [`${group}-web`, `${group}-celery`, `${group}-beat`] : [`${group}-web`];
  return { s, p, group, programs };
}

/** Every configuration file written on the host, by a short name, as it will be on disk. */
export function renderHostFiles(s: Settings): Record<string, string> {
  const ctx = context(s);
  const tlsParams = render("nginx/tls-params.conf", ctx).replace(/\n$/, "");
  return {
    "runinenv.sh": render("runinenv.sh", ctx),
    "gunicorn.conf.py": render("gunicorn.conf.py", ctx),
    "supervisor.conf": render("supervisor/programs.conf", ctx),
    "site.conf": render("nginx/site.conf", { ...ctx, tlsParams }),
    "acme-bootstrap.conf": render("nginx/acme-bootstrap.conf", ctx),
    "certbot-deploy-hook.sh": render("certbot-deploy-hook.sh", ctx),
    "20auto-upgrades": render("20auto-upgrades", ctx),
    "sshd.conf": render("sshd.conf", ctx),
    "sysctl.conf": render("sysctl.conf", ctx),
  };
}

/** `.server.envrc`: the server settings, secrets included. Only ever sent on a step's stdin. */
export function renderServerEnv(s: Settings): string {
  return render("server.envrc", context(s));
}

/** The steps this configuration runs, in order. */
export function stepNames(s: Settings): StepName[] {
  const names: StepName[] = ["wait", "packages", "layout"];
  if (s.repoDeployKey) names.push("deployKey");
  names.push("checkout", "venv", "serverEnv", "runinenv", "release", "supervisor");
  if (s.tls) names.push("acmeBootstrap", "certificate");
  names.push("nginxSite");
  return names;
}

const TEMPLATE: Record<StepName, string> = {
  wait: "steps/wait-for-host.sh",
  packages: "steps/packages.sh",
  layout: "steps/layout.sh",
  deployKey: "steps/deploy-key.sh",
  checkout: "steps/checkout.sh",
  venv: "steps/venv.sh",
  serverEnv: "steps/server-env.sh",
  runinenv: "steps/runinenv.sh",
  release: "steps/release.sh",
  supervisor: "steps/supervisor.sh",
  acmeBootstrap: "steps/web-bootstrap.sh",
  certificate: "steps/certificate.sh",
  nginxSite: "steps/web-site.sh",
};

/** The bash script of one step: the shared helpers, then the step itself (run as root). */
export function renderStepScript(s: Settings, step: StepName, files = renderHostFiles(s)): string {
  const ctx = context(s);
  const embedded = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.replace(/\n$/, "")]));
  const packages = [...BASE_PACKAGES, ...(s.tls ? ["certbot"] : []), ...s.extraPackages];
  const body = render(TEMPLATE[step], { ...ctx, files: embedded, packages: [...new Set(packages)] });
  const lib = step === "wait" ? "set -euo pipefail\n" : render("steps/lib.sh", ctx);
  return `#!/bin/bash\n# django-deploy step "${step}" for ${s.domain}\n${lib}${body}`;
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

export type { Layout };
