/**
 * Where everything lives on the host, derived from validated settings (pure). Every path the
 * program uses, and where each host file lands (path, mode, owner), is answered here: templates,
 * validation and tests ask the layout instead of spelling paths out.
 *
 * The site directory and everything root writes are root's; the app user can write only media/,
 * var/ (its state), logs/ (its own logs) and run/ (its sockets). Code, virtualenvs and static files
 * belong to a build user the app user is not (see README "Releases").
 */

/** The settings the layout depends on (validation asks it before the whole configuration is known). */
export interface LayoutInput {
  baseDir: string;
  domain: string;
  appUser: string;
  djangoDir: string;
  homepageDir: string;
  /** Backups' parent directory (default /var/backups/django-deploy). */
  backupDir?: string;
}

/** The PostgreSQL that Debian 12 ships (database: host), and its configuration directory. */
export const POSTGRES_VERSION = "15";
const PG_ETC = `/etc/postgresql/${POSTGRES_VERSION}/main`;

/** Where one host file lands. `owner` is `user:group`. */
export interface Placement {
  path: string;
  mode: string;
  owner: string;
}

/** Redis's unix socket (Debian's unit makes /run/redis); no TCP port is open. */
export const REDIS_SOCKET = "/run/redis/redis-server.sock";

/** The web program slots: a release starts in the idle one, beside the live one. */
export const SLOTS = ["a", "b"] as const;
export type Slot = (typeof SLOTS)[number];

/** The host files, by the name templates and tests use for them. */
export const HOST_FILES = [
  "20auto-upgrades",
  "sshd.conf",
  "sysctl.conf",
  "redis-server.conf",
  "deploy-key",
  "server.envrc",
  "runinenv.sh",
  "gunicorn-a.conf.py",
  "gunicorn-b.conf.py",
  "supervisor-web-a.conf",
  "supervisor-web-b.conf",
  "supervisor-celery-a.conf",
  "supervisor-celery-b.conf",
  "supervisor-beat.conf",
  "acme-bootstrap.conf",
  "acme-ca.pem",
  "certbot-ca.conf",
  "certbot-deploy-hook.sh",
  "site.conf",
  "postgresql.conf",
  "pg_hba.conf",
  "postgresql-restart.conf",
  "backup",
  "restore",
  "backup.service",
  "backup.timer",
  "backup-credentials",
] as const;
export type HostFileName = (typeof HOST_FILES)[number];

/** Host files whose content is secret: they arrive on a step's standard input, never in its script. */
export const SECRET_HOST_FILES: readonly HostFileName[] = ["deploy-key", "server.envrc", "backup-credentials"];

export interface Layout {
  /** `<baseDir>/<domain>`: root's; holds everything below. */
  site: string;
  /** root:app 0750: the server settings, the wrapper, the Gunicorn configs, the deploy key. */
  etc: string;
  /** Bare mirrors of the parent repository and its submodules (the build user's). */
  cache: string;
  /** `releases/<commit>`: each release's code, exported from the cache (the build user's). */
  releases: string;
  /** `venvs/<sha256 of requirements.txt>` (the build user's). */
  venvs: string;
  /** The static pool every kept release's collectstatic is merged into; nginx serves /static/ from it. */
  static: string;
  media: string;
  logs: string;
  var: string;
  run: string;
  /** `current -> releases/<commit>`: the live release (nginx serves its homepage). */
  current: string;
  /** `live.sock -> run/web-<slot>.sock`: nginx's upstream; the switch renames it atomically. */
  liveSocket: string;
  envrc: string;
  runinenv: string;
  beatSchedule: string;
  deployKey: string;
  /** root's: supervisord's program logs (supervisord opens them as root). */
  programLogs: string;
  /** root's: the deploy state (live slot and commit, previous commit, release history). */
  state: string;
  /** The lock every deploy step of this site holds. */
  lock: string;
  home: string;
  /** The user that builds releases (git, pip, collectstatic): not the app user. */
  buildUser: string;
  buildHome: string;
  acmeWebroot: string;
  /** The certificate's directory under /etc/letsencrypt/live. */
  certificateDir: string;
  certificate: string;
  certificateKey: string;
  certbotRenewal: string;
  nginxSite: string;
  nginxEnabled: string;
  nginxDefaultSite: string;
  /** The site's nginx file as it was before the ACME bootstrap replaced it: put back if Certbot fails. */
  nginxSiteBeforeAcme: string;
  /** Redis's unix socket: the app user reaches it as a member of the redis group. */
  redisSocket: string;
  /** database: host — the database and its role (both named after the app user), and the server's socket directory. */
  database: { name: string; role: string; socketDir: string; unit: string };
  /** The site's backups (root's, 0700): `<name>.backup` files, each a tar of db.dump, media.tar.gz and info.json. */
  backups: string;
  /** The lock a backup or a restore holds (so the timer and a deploy's pre-migration backup never overlap). */
  backupLock: string;
  /** The commands installed on the host: `<slug>-backup`, `<slug>-restore`. */
  backupCommand: string;
  restoreCommand: string;
  /** The systemd units of the scheduled backup. */
  backupUnit: string;
  /** Directories inside a release that are the program's: a submodule may not be called so. */
  reservedDirs: readonly string[];
  /** Where each host file lands. */
  files: Readonly<Record<HostFileName, Placement>>;
  /** A release's directory (its real path: Gunicorn resolves its working directory once). */
  release(commit: string): string;
  /** A web slot's Gunicorn socket. */
  socket(slot: Slot): string;
}

/** Names inside a release that the program creates: a submodule directory may not be called so. */
export const RESERVED_DIRS: readonly string[] = ["ENV", "static", ".git", ".django-deploy-release"];

/**
 * The supervisord program prefix and nginx upstream name of a site: its domain with each "-" doubled
 * and each "." as "-" (shop-eu.example.com → shop--eu-example-com, shop.eu-example.com →
 * shop-eu--example-com). Injective on domain names: a label neither starts nor ends with "-", so a
 * lone "-" in the slug was a dot and a run of 2n was n dashes (siteOfSlug inverts it). Only letters,
 * digits and "-": valid in a supervisord program name, a file name and an nginx upstream name.
 */
export function siteSlug(s: Pick<LayoutInput, "domain">): string {
  return s.domain.replace(/-/g, "--").replace(/\./g, "-");
}

/** The domain a slug was made from (the inverse of siteSlug on domain names). */
export function siteOfSlug(slug: string): string {
  return slug.replace(/-+/g, (run) => (run.length % 2 === 1 ? `${"-".repeat((run.length - 1) / 2)}.` : "-".repeat(run.length / 2)));
}

/** The build user of a site's app user (at most 32 characters: validation keeps appUser short enough). */
export const buildUserOf = (appUser: string) => `${appUser}-build`;

export function layoutOf(s: LayoutInput): Layout {
  const site = `${s.baseDir}/${s.domain}`;
  const home = `/home/${s.appUser}`;
  const buildUser = buildUserOf(s.appUser);
  const etc = `${site}/etc`;
  const certificateDir = `/etc/letsencrypt/live/${s.domain}`;
  const slug = siteSlug(s);
  const p = {
    site,
    etc,
    cache: `${site}/cache`,
    releases: `${site}/releases`,
    venvs: `${site}/venvs`,
    static: `${site}/static`,
    media: `${site}/media`,
    logs: `${site}/logs`,
    var: `${site}/var`,
    run: `${site}/run`,
    current: `${site}/current`,
    liveSocket: `${site}/live.sock`,
    envrc: `${etc}/server.envrc`,
    runinenv: `${etc}/runinenv.sh`,
    beatSchedule: `${site}/var/celerybeat-schedule`,
    deployKey: `${etc}/deploy_key`,
    programLogs: `/var/log/django-deploy/${s.domain}`,
    state: `/var/lib/django-deploy/${s.domain}`,
    lock: `/run/django-deploy/${s.domain}.lock`,
    home,
    buildUser,
    buildHome: `/home/${buildUser}`,
    acmeWebroot: `/var/lib/django-deploy/acme/${s.domain}`,
    certificateDir,
    certificate: `${certificateDir}/fullchain.pem`,
    certificateKey: `${certificateDir}/privkey.pem`,
    certbotRenewal: `/etc/letsencrypt/renewal/${s.domain}.conf`,
    nginxSite: `/etc/nginx/sites-available/${s.domain}.conf`,
    nginxEnabled: `/etc/nginx/sites-enabled/${s.domain}.conf`,
    nginxSiteBeforeAcme: `/etc/nginx/sites-available/${s.domain}.conf.before-acme`,
    nginxDefaultSite: "/etc/nginx/sites-enabled/default",
    redisSocket: REDIS_SOCKET,
    database: { name: s.appUser, role: s.appUser, socketDir: "/run/postgresql", unit: `postgresql@${POSTGRES_VERSION}-main.service` },
    backups: `${s.backupDir ?? "/var/backups/django-deploy"}/${s.domain}`,
    backupLock: `/run/django-deploy/${s.domain}.backup.lock`,
    backupCommand: `/usr/local/sbin/${slug}-backup`,
    restoreCommand: `/usr/local/sbin/${slug}-restore`,
    backupUnit: `${slug}-backup`,
    reservedDirs: RESERVED_DIRS,
  };
  const at = (path: string, mode: string, owner: string): Placement => ({ path, mode, owner });
  const appGroup = `root:${s.appUser}`;
  const files: Record<HostFileName, Placement> = {
    "20auto-upgrades": at("/etc/apt/apt.conf.d/20auto-upgrades", "0644", "root:root"),
    // 00-: sshd takes the first value it reads, and the drop-ins are read in name order (50-cloud-init.conf…).
    "sshd.conf": at("/etc/ssh/sshd_config.d/00-django-deploy.conf", "0644", "root:root"),
    "sysctl.conf": at("/etc/sysctl.d/60-django-deploy.conf", "0644", "root:root"),
    // Redis on a unix socket for its group only (command-line options win over Debian's redis.conf).
    "redis-server.conf": at("/etc/systemd/system/redis-server.service.d/django-deploy.conf", "0644", "root:root"),
    // Readable by the build user only (git fetches as that user).
    "deploy-key": at(p.deployKey, "0640", `root:${buildUser}`),
    // Readable by the app user and the build user (a member of the app's group), writable by nobody but root.
    "server.envrc": at(p.envrc, "0640", appGroup),
    "runinenv.sh": at(p.runinenv, "0750", appGroup),
    "gunicorn-a.conf.py": at(`${etc}/gunicorn-a.conf.py`, "0640", appGroup),
    "gunicorn-b.conf.py": at(`${etc}/gunicorn-b.conf.py`, "0640", appGroup),
    "supervisor-web-a.conf": at(`/etc/supervisor/conf.d/${slug}-web-a.conf`, "0644", "root:root"),
    "supervisor-web-b.conf": at(`/etc/supervisor/conf.d/${slug}-web-b.conf`, "0644", "root:root"),
    "supervisor-celery-a.conf": at(`/etc/supervisor/conf.d/${slug}-celery-a.conf`, "0644", "root:root"),
    "supervisor-celery-b.conf": at(`/etc/supervisor/conf.d/${slug}-celery-b.conf`, "0644", "root:root"),
    "supervisor-beat.conf": at(`/etc/supervisor/conf.d/${slug}-beat.conf`, "0644", "root:root"),
    // The bootstrap stands in for the site until the first certificate exists: same place.
    "acme-bootstrap.conf": at(p.nginxSite, "0644", "root:root"),
    "acme-ca.pem": at("/etc/django-deploy/acme-ca.pem", "0644", "root:root"),
    "certbot-ca.conf": at("/etc/systemd/system/certbot.service.d/django-deploy.conf", "0644", "root:root"),
    "certbot-deploy-hook.sh": at("/etc/letsencrypt/renewal-hooks/deploy/django-deploy-nginx", "0755", "root:root"),
    "site.conf": at(p.nginxSite, "0644", "root:root"),
    "postgresql.conf": at(`${PG_ETC}/conf.d/50-django-deploy.conf`, "0644", "root:root"),
    "pg_hba.conf": at(`${PG_ETC}/pg_hba.conf`, "0640", "postgres:postgres"),
    "postgresql-restart.conf": at(
      `/etc/systemd/system/postgresql@${POSTGRES_VERSION}-main.service.d/50-django-deploy.conf`,
      "0644",
      "root:root",
    ),
    backup: at(p.backupCommand, "0755", "root:root"),
    restore: at(p.restoreCommand, "0755", "root:root"),
    "backup.service": at(`/etc/systemd/system/${p.backupUnit}.service`, "0644", "root:root"),
    "backup.timer": at(`/etc/systemd/system/${p.backupUnit}.timer`, "0644", "root:root"),
    // Root's alone: the backup command reads it (AWS_SHARED_CREDENTIALS_FILE).
    "backup-credentials": at(`/etc/django-deploy/${s.domain}/backup-s3.credentials`, "0600", "root:root"),
  };
  return {
    ...p,
    files,
    release: (commit: string) => `${p.releases}/${commit}`,
    socket: (slot: Slot) => `${p.run}/web-${slot}.sock`,
  };
}
