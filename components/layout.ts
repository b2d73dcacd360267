/**
 * Where everything lives on the host, derived from validated settings (pure). Every path the
 * program uses, and where each host file lands (path, mode, owner), is answered here: templates,
 * validation and tests ask the layout instead of spelling paths out.
 */

/** The settings the layout depends on (validation asks it before the whole configuration is known). */
export interface LayoutInput {
  baseDir: string;
  domain: string;
  appUser: string;
  djangoDir: string;
  homepageDir: string;
}

/** Where one host file lands. `owner` is `user:group`. */
export interface Placement {
  path: string;
  mode: string;
  owner: string;
}

/** The host files, by the name templates and tests use for them. */
export const HOST_FILES = [
  "20auto-upgrades",
  "sshd.conf",
  "sysctl.conf",
  "deploy-key",
  "server.envrc",
  "runinenv.sh",
  "gunicorn.conf.py",
  "supervisor.conf",
  "acme-bootstrap.conf",
  "acme-ca.pem",
  "certbot-ca.conf",
  "certbot-deploy-hook.sh",
  "site.conf",
] as const;
export type HostFileName = (typeof HOST_FILES)[number];

/** Host files whose content is secret: they arrive on a step's standard input, never in its script. */
export const SECRET_HOST_FILES: readonly HostFileName[] = ["deploy-key", "server.envrc"];

export interface Layout {
  /** `<baseDir>/<domain>`: the parent repository's checkout and everything the site keeps beside it. */
  site: string;
  code: string;
  homepage: string;
  public: string;
  static: string;
  media: string;
  logs: string;
  var: string;
  run: string;
  socket: string;
  venv: string;
  envrc: string;
  runinenv: string;
  gunicornConf: string;
  beatSchedule: string;
  envrcStamp: string;
  home: string;
  sshDir: string;
  deployKey: string;
  acmeWebroot: string;
  /** The certificate's directory under /etc/letsencrypt/live. */
  certificateDir: string;
  certificate: string;
  certificateKey: string;
  certbotRenewal: string;
  nginxSite: string;
  nginxEnabled: string;
  nginxDefaultSite: string;
  supervisorConf: string;
  /** Directories inside the site directory that are the program's: a submodule may not be called so. */
  reservedDirs: readonly string[];
  /** Entries of the site directory git must ignore (they are not part of the checkout). */
  untracked: readonly string[];
  /** Where each host file lands. */
  files: Readonly<Record<HostFileName, Placement>>;
}

/** Directory names inside the site directory that belong to the program. */
export const RESERVED_DIRS: readonly string[] = ["public", "logs", "ENV", "var", "run", ".git"];

/** Supervisor group and nginx upstream name of a site: its domain with dots as dashes. */
export function siteSlug(s: Pick<LayoutInput, "domain">): string {
  return s.domain.replace(/\./g, "-");
}

export function layoutOf(s: LayoutInput): Layout {
  const site = `${s.baseDir}/${s.domain}`;
  const home = `/home/${s.appUser}`;
  const app = `${s.appUser}:${s.appUser}`;
  const certificateDir = `/etc/letsencrypt/live/${s.domain}`;
  const p = {
    site,
    code: `${site}/${s.djangoDir}`,
    homepage: `${site}/${s.homepageDir}`,
    public: `${site}/public`,
    static: `${site}/public/static`,
    media: `${site}/public/media`,
    logs: `${site}/logs`,
    var: `${site}/var`,
    run: `${site}/run`,
    socket: `${site}/run/gunicorn.sock`,
    venv: `${site}/ENV`,
    envrc: `${site}/.server.envrc`,
    runinenv: `${site}/runinenv.sh`,
    gunicornConf: `${site}/gunicorn.conf.py`,
    beatSchedule: `${site}/var/celerybeat-schedule`,
    envrcStamp: `${site}/var/.envrc.applied`,
    home,
    sshDir: `${home}/.ssh`,
    deployKey: `${home}/.ssh/deploy_key`,
    acmeWebroot: `/var/lib/django-deploy/acme/${s.domain}`,
    certificateDir,
    certificate: `${certificateDir}/fullchain.pem`,
    certificateKey: `${certificateDir}/privkey.pem`,
    certbotRenewal: `/etc/letsencrypt/renewal/${s.domain}.conf`,
    nginxSite: `/etc/nginx/sites-available/${s.domain}.conf`,
    nginxEnabled: `/etc/nginx/sites-enabled/${s.domain}.conf`,
    nginxDefaultSite: "/etc/nginx/sites-enabled/default",
    supervisorConf: `/etc/supervisor/conf.d/${siteSlug(s)}.conf`,
    reservedDirs: RESERVED_DIRS,
  };
  const at = (path: string, mode: string, owner: string): Placement => ({ path, mode, owner });
  const files: Record<HostFileName, Placement> = {
    "20auto-upgrades": at("/etc/apt/apt.conf.d/20auto-upgrades", "0644", "root:root"),
    "sshd.conf": at("/etc/ssh/sshd_config.d/50-django-deploy.conf", "0644", "root:root"),
    "sysctl.conf": at("/etc/sysctl.d/60-django-deploy.conf", "0644", "root:root"),
    "deploy-key": at(p.deployKey, "0600", app),
    "server.envrc": at(p.envrc, "0600", app),
    "runinenv.sh": at(p.runinenv, "0750", `root:${s.appUser}`),
    "gunicorn.conf.py": at(p.gunicornConf, "0640", `root:${s.appUser}`),
    "supervisor.conf": at(p.supervisorConf, "0644", "root:root"),
    // The bootstrap stands in for the site until the first certificate exists: same place.
    "acme-bootstrap.conf": at(p.nginxSite, "0644", "root:root"),
    "acme-ca.pem": at("/etc/django-deploy/acme-ca.pem", "0644", "root:root"),
    "certbot-ca.conf": at("/etc/systemd/system/certbot.service.d/django-deploy.conf", "0644", "root:root"),
    "certbot-deploy-hook.sh": at("/etc/letsencrypt/renewal-hooks/deploy/django-deploy-nginx", "0755", "root:root"),
    "site.conf": at(p.nginxSite, "0644", "root:root"),
  };
  const untracked = ["public", "logs", "var", "run", "ENV", ".server.envrc", "runinenv.sh", "gunicorn.conf.py"].map(
    (n) => `/${n}${n.includes(".") ? "" : "/"}`,
  );
  return { ...p, untracked, files };
}
