/**
 * The validation rules that need more than a pattern: which accounts the app may run as, which
 * directories may hold the sites, which repository URLs may be fetched from and how, and which
 * environment names `.server.envrc` may set. Pure; config.ts turns their sentences into problem
 * lines naming the key. The host checks the accounts and directories again before it changes
 * anything (files/steps/host-layout.sh.eta), since only the host knows who exists there.
 */
import { sshAllowListFindings } from "./cidr";
import { buildUserOf } from "./layout";

/**
 * Accounts and groups of a Debian 12 host that the app (or its build user) must never be: each one
 * owns files, runs a daemon or grants privileges, and sharing it would hand the app — or whoever
 * controls the app — what it guards.
 * - base-passwd's static users (0–99 and nobody) and groups: root and the daemon/bin/sys
 *   accounts own system files; www-data is nginx's worker user (it can enter run/ and read every
 *   site); nobody is shared by NFS and daemons that drop privileges; _apt is apt's download
 *   sandbox; adm reads the system logs, sudo grants root, shadow reads password hashes, disk raw
 *   disks, staff writes /usr/local (on root's PATH); useradd also cannot create a user whose
 *   group name exists.
 * - accounts of the packages this program installs or Debian's base system creates: redis (the
 *   Celery broker's data and config), sshd (privilege separation), messagebus (D-Bus), polkitd.
 * - common database and mail daemons: postgres (the database superuser), mysql, postfix, exim.
 * - the patterns `systemd-*` (systemd-network, -timesync, -resolve, -journal, -coredump) and `_*`
 *   (Debian's convention for system accounts: _apt, _chrony, _rpc, …).
 */
export const SYSTEM_ACCOUNTS: readonly string[] = [
  ...["root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data"],
  ...["backup", "list", "irc", "gnats", "nobody", "nogroup"],
  ...["adm", "tty", "disk", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape", "sudo", "audio", "dip"],
  ...["operator", "src", "shadow", "utmp", "video", "sasl", "plugdev", "staff", "users", "wheel", "admin"],
  ...["redis", "sshd", "messagebus", "polkitd", "tss", "uuidd", "tcpdump", "dnsmasq", "avahi", "ntp", "ntpsec", "nginx"],
  ...["postgres", "mysql", "postfix", "exim", "memcache", "rabbitmq", "docker", "lxd"],
];

export const isSystemAccount = (name: string): boolean => SYSTEM_ACCOUNTS.includes(name) || /^(?:systemd-|_)/.test(name);

/** What is wrong with the accounts: the app user and its build user against the SSH user and the system's. */
export function accountProblems(s: { appUser: string; hostUser: string }): { key: "appUser" | "hostUser"; problem: string }[] {
  const out: { key: "appUser" | "hostUser"; problem: string }[] = [];
  const build = buildUserOf(s.appUser);
  if (s.hostUser === "root") {
    out.push({
      key: "hostUser",
      problem:
        "must not be root: the program's sshd settings forbid root logins, so the next connection would fail; use the sudo-capable user of the host, such as admin",
    });
  }
  if (s.appUser === s.hostUser || build === s.hostUser) {
    out.push({
      key: "appUser",
      problem: `must differ from hostUser (${s.hostUser}), the SSH user with passwordless sudo: the app would run with root's powers; use an account of its own, such as django`,
    });
  }
  for (const name of [s.appUser, build]) {
    if (name !== "root" && isSystemAccount(name)) {
      out.push({
        key: "appUser",
        problem: `must not be ${name === s.appUser ? "" : `such that its build user is `}${name}, an account or group of the system (it owns files or grants privileges the app must not have); use an account of its own, such as django`,
      });
    }
  }
  return out;
}

/** System directories: a baseDir there, or below, is refused (see README, Configuration). */
const SYSTEM_TREES = ["/bin", "/boot", "/dev", "/etc", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr"];
const VAR_TREES = ["tmp", "lib", "log", "cache", "spool", "mail", "run", "lock", "backups", "local"].map((d) => `/var/${d}`);
/** Directories that hold other things' directories: a baseDir may be below them, not them. */
const SYSTEM_PARENTS = ["/home", "/var", "/mnt", "/media", "/srv", "/opt"];

/**
 * Why `baseDir` may not hold the sites, or undefined. Refused: the system's own trees (/etc, /usr,
 * /lib*, /var/lib, /var/log, /var/tmp, …: packages own them, or anyone may write there), the parents
 * of other things' directories themselves (/home, /var, /mnt, /media, /srv, /opt: a site directory
 * belongs below them), and the app user's or build user's home (theirs to change). /srv/www,
 * /var/www, /opt/sites or a mounted volume are fine; the host checks the real owners again.
 */
export function baseDirProblem(baseDir: string, appUser: string): string | undefined {
  const inside = (tree: string) => baseDir === tree || baseDir.startsWith(`${tree}/`);
  const tree = [...SYSTEM_TREES, ...VAR_TREES].find(inside) ?? /^(\/lib[^/]*)(?:\/|$)/.exec(baseDir)?.[1];
  if (tree)
    return `must not be inside ${tree}, a system directory (packages or other users own it); use a directory of its own such as /srv/www`;
  if (SYSTEM_PARENTS.includes(baseDir))
    return `must not be ${baseDir} itself, which holds other directories than this program's; use a directory below it, such as /srv/www`;
  for (const home of [`/home/${appUser}`, `/home/${buildUserOf(appUser)}`]) {
    if (inside(home))
      return `must not be inside ${home}, the home of an account the app controls; use a directory of its own such as /srv/www`;
  }
  return undefined;
}

/** A repository URL taken apart: scheme (or "scp" for user@host:path), user info, host and port. */
export interface GitUrl {
  scheme: "https" | "http" | "ssh" | "git" | "scp";
  userinfo?: string;
  host: string;
  port?: string;
}

export function parseGitUrl(url: string): GitUrl | undefined {
  const m = /^(https|http|ssh|git):\/\/(?:([^@/]*)@)?([^/:@]+)(?::(\d+))?(?:\/|$)/.exec(url);
  if (m)
    return {
      scheme: m[1] as GitUrl["scheme"],
      host: m[3],
      ...(m[2] !== undefined ? { userinfo: m[2] } : {}),
      ...(m[4] ? { port: m[4] } : {}),
    };
  const scp = /^([^@/:]+)@([^/:@]+):/.exec(url);
  return scp ? { scheme: "scp", userinfo: scp[1], host: scp[2] } : undefined;
}

/** The credential helper's scope: the repository's scheme, host and port (git matches credential.<url>.* on them). */
export const credentialScope = (u: GitUrl): string => `https://${u.host}${u.port ? `:${u.port}` : ""}`;

/** Problems of repoUrl with its transport settings, as (key, problem) pairs. */
export function repoUrlProblems(
  url: string,
  opts: { allowInsecure: boolean; hasToken: boolean },
): { key: "repoUrl" | "repoToken"; problem: string }[] {
  const u = parseGitUrl(url);
  if (!u) return [];
  const out: { key: "repoUrl" | "repoToken"; problem: string }[] = [];
  if ((u.scheme === "https" || u.scheme === "http") && u.userinfo !== undefined) {
    out.push({
      key: "repoUrl",
      problem:
        "must not hold a user name, token or password (https://TOKEN@host/…): it would be stored in the stack file, the command string and .git/config; " +
        "give the URL without them (https://host/owner/repo.git) and set repoToken (a secret) and repoTokenUser instead",
    });
  }
  if (u.scheme === "ssh" && u.userinfo?.includes(":")) {
    out.push({
      key: "repoUrl",
      problem:
        "must not hold a password (ssh://user:password@host/…): keep the user (ssh://git@host/owner/repo.git) and set repoDeployKey (a secret)",
    });
  }
  if ((u.scheme === "git" || u.scheme === "http") && !opts.allowInsecure) {
    out.push({
      key: "repoUrl",
      problem: `uses ${u.scheme}://, which has no transport security (anyone on the path can change the code you deploy); use https:// or ssh://, or set repoAllowInsecureTransport: true to accept that`,
    });
  }
  if (opts.hasToken && u.scheme !== "https") {
    out.push({
      key: "repoToken",
      problem: "is sent only to an https:// repoUrl (git@host:… and ssh:// use repoDeployKey); remove it or use an https:// URL",
    });
  }
  return out;
}

/** What is wrong with the names of appEnv (the values are secrets: never quoted here). */
export function appEnvNameProblems(names: readonly string[], reserved: readonly string[], shellSpecial: RegExp, loader: RegExp): string[] {
  const out: string[] = [];
  for (const name of reserved.filter((n) => names.includes(n))) {
    out.push(`must not set ${name}: runinenv.sh sets it for every app process (the release's own)`);
  }
  for (const name of names.filter((n) => n.startsWith("__dd_")))
    out.push(`must not set ${name}: names starting with __dd_ belong to runinenv.sh`);
  for (const name of names.filter((n) => shellSpecial.test(n))) {
    out.push(`must not set ${name}: bash gives that name a meaning of its own, so .server.envrc cannot set it`);
  }
  for (const name of names.filter((n) => loader.test(n))) {
    out.push(
      `must not set ${name}: it changes which code the dynamic loader or Python loads; the app runs its release's own code and virtualenv (put settings in other names)`,
    );
  }
  return out;
}

type Keyed<K extends string> = { key: K; problem: string }[];

/** How the host key is known: an existing server needs sshHostKey or the trust-on-first-use opt-in; EC2 generates one. */
export function hostKeyProblems(s: {
  host?: string;
  sshHostKey?: string;
  sshTrustOnFirstUse: boolean;
}): Keyed<"sshHostKey" | "sshTrustOnFirstUse"> {
  const out: Keyed<"sshHostKey" | "sshTrustOnFirstUse"> = [];
  if (s.host !== undefined) {
    if (!s.sshHostKey && !s.sshTrustOnFirstUse) {
      out.push({
        key: "sshHostKey",
        problem: `is required for an existing server: its host key line (e.g. from \`ssh-keyscan -t ed25519 ${s.host}\`, checked out of band), or set sshTrustOnFirstUse: true to trust the key the first connection sees`,
      });
    }
    if (s.sshHostKey && s.sshTrustOnFirstUse) {
      out.push({
        key: "sshTrustOnFirstUse",
        problem: "must not be set with sshHostKey: the given key is checked from the first connection on; remove one of them",
      });
    }
  } else if (s.sshHostKey) {
    out.push({
      key: "sshHostKey",
      problem:
        "is for an existing server (host): an EC2 host gets a key the program generates, which every connection checks; remove it (or set sshTrustOnFirstUse: true for an instance created before)",
    });
  }
  return out;
}

const WORLD_HINT = "; list your own CIDR blocks, or set sshAllowWorld: true to accept that";
const CIDR_HINT = { invalid: "", "host-bits": "; give the network address", world: WORLD_HINT, "near-world": WORLD_HINT };

/** The SSH allow-list's problems with a hint each: the policy pack's rules (components/cidr.ts), so the two agree. */
export function sshAllowListConfigProblems(cidrs: readonly string[], allowWorld: boolean): string[] {
  return sshAllowListFindings(cidrs)
    .filter((f) => !(allowWorld && (f.kind === "world" || f.kind === "near-world")))
    .map((f) => `${f.message}${CIDR_HINT[f.kind]}`);
}

/** Edit distance, to suggest the key a typo meant. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}
