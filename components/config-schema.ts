/**
 * The one schema of the stack configuration (`django-deploy:*` keys): types, defaults, descriptions
 * and the rules that keep every value safe to place in a shell script, an nginx or a supervisord file.
 * Pulumi passes every config value as a string; structured values arrive JSON-encoded, which the
 * `json()` wrapper decodes before validation.
 */
import { z } from "zod";

/** Config keys whose values must be set with `pulumi config set --secret`. */
export const SECRET_KEYS = ["sshPrivateKey", "repoDeployKey", "repoToken", "appEnv", "backupS3Credentials"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

const LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

/** Names runinenv.sh sets itself for every app process (after reading appEnv); appEnv may not define them. */
export const RESERVED_ENV = ["STATIC_ROOT", "MEDIA_ROOT", "VIRTUAL_ENV", "PATH", "PYTHONHOME", "DJANGO_DEPLOY_RELEASE"] as const;
/**
 * Names bash treats specially: read-only, computed or checked on assignment (UID, RANDOM, …); names
 * that change how any bash runs (IFS, CDPATH, EXECIGNORE — which could make `exec` skip the
 * release's virtualenv —, GLOBIGNORE, POSIXLY_CORRECT, ENV, PS4); and names bash sets itself (PWD,
 * OLDPWD, SHLVL). `.server.envrc` cannot set them; runinenv.sh would not pass them on either.
 */
export const SHELL_SPECIAL_ENV =
  /^(?:_|BASH[A-Z0-9_]*|SHELLOPTS|EUID|UID|PPID|GROUPS|RANDOM|SRANDOM|SECONDS|LINENO|HISTCMD|FUNCNAME|DIRSTACK|EPOCHSECONDS|EPOCHREALTIME|OPTIND|IFS|CDPATH|EXECIGNORE|GLOBIGNORE|POSIXLY_CORRECT|ENV|PS4|PWD|OLDPWD|SHLVL)$/;

/**
 * Names that change which code runs, whatever the release holds: the dynamic loader's (LD_PRELOAD,
 * LD_LIBRARY_PATH, LD_AUDIT, … and glibc's GCONV_PATH, GLIBC_TUNABLES) load libraries into every
 * process; Python's (PYTHONPATH, PYTHONSTARTUP, PYTHONUSERBASE, …) put modules ahead of the
 * release's virtualenv or run code at start. The app runs its release's code and virtualenv only.
 */
export const LOADER_ENV =
  /^(?:LD_[A-Z0-9_]*|GCONV_PATH|GLIBC_TUNABLES|PYTHONPATH|PYTHONSTARTUP|PYTHONUSERBASE|PYTHONPLATLIBDIR|PYTHONEXECUTABLE|PYTHONINSPECT|PYTHONNOUSERSITE|PYTHONSAFEPATH|PYTHONBREAKPOINT|PYTHONCASEOK)$/;

const label = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const DOMAIN = new RegExp(`^(?=.{4,253}$)(?:${label}\\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$`);
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${label}(?:\\.${label})*$`);
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const SEGMENT = /^(?!\.{1,2}$)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const GIT_URL =
  /^(?:(?:https|http|ssh|git):\/\/(?:[A-Za-z0-9._~%+-]+(?::[A-Za-z0-9._~%+-]*)?@)?[A-Za-z0-9.-]+(?::\d{1,5})?(?:\/[A-Za-z0-9._~%+@-]+)*\/?|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~+-][A-Za-z0-9._~+/-]*)$/;
const GIT_REF = /^(?!.*\.\.)(?!.*\/\/)(?!.*\.lock$)(?!.*\/$)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
const PY_DOTTED = /^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SSH_PUBLIC_KEY = /^(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/]+={0,3}(?: [\x21-\x7e ]{0,200})?$/;
const PRIVATE_KEY = /^-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=:,\- \r\n]+\r?\n-----END [A-Z ]*PRIVATE KEY-----\s*$/;
const PEM_CERTS = /^(?:-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?)+$/;
// Debian policy 5.6.1: at least two characters, lowercase letters, digits, + - . , starting with a letter or digit.
// apt reads a trailing "-" as "remove this package" (openssh-server- removes sshd): the last one may
// not be "-" or "."; a trailing "+" (g++) only ever means install.
const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]*[a-z0-9+]$/;
const REPO_TOKEN = /^[\x21-\x7e]{1,1024}$/;
const NGINX_SIZE = /^(?:0|[1-9][0-9]{0,5}[kKmMgG]?)$/;
const URL_PREFIX = /^\/[A-Za-z0-9._~/-]{0,200}$/;
const ABS_PATH = /^(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._-]+)+$/;
/** An S3 bucket name (lower case, digits, dots and dashes; no IP-like names are checked here). */
const S3_BUCKET = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A systemd OnCalendar expression made of safe characters (systemd-analyze calendar checks the rest on the host). */
const CALENDAR = /^[A-Za-z0-9 *:,./~-]{1,100}$/;

/** Decode a JSON-encoded config value (Pulumi passes objects, lists, numbers and booleans as JSON). */
function json<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value; // left for the schema to reject with its own message
    }
  }, schema);
}

const bool = (description: string, def: boolean) =>
  json(z.boolean({ error: "must be true or false" }))
    .default(def)
    .describe(description);

const int = (description: string, min: number, max: number) =>
  json(
    z
      .number({ error: `must be a whole number from ${min} to ${max}` })
      .int(`must be a whole number from ${min} to ${max}`)
      .min(min, `must be a whole number from ${min} to ${max}`)
      .max(max, `must be a whole number from ${min} to ${max}`),
  ).describe(description);

const pattern = (re: RegExp, valid: string) => z.string({ error: `must be ${valid}` }).regex(re, `must be ${valid}`);

const cidr = z.union([z.cidrv4(), z.cidrv6()], { error: "must be a CIDR block such as 203.0.113.4/32 or 2001:db8::/48" });

export const configSchema = z
  .object({
    domain: pattern(DOMAIN, "a lowercase DNS name such as example.com (no scheme, path, port or trailing dot)")
      .refine((d) => !d.startsWith("www."), "must be the apex domain (example.com): the site is served on www.<domain>")
      .describe("Apex domain. The site is served on www.<domain>; the apex redirects to it."),
    host: z
      .string()
      .refine((h) => IPV4.test(h) || HOSTNAME.test(h), "must be an IPv4 address or a DNS host name")
      .optional()
      .describe("Address of an existing server. When set, no AWS resource is created and that server is provisioned over SSH."),
    hostUser: pattern(UNIX_USER, "a Unix user name such as admin")
      .default("admin")
      .describe("SSH user with passwordless sudo on the host (the Debian AMI's user is admin)."),
    sshPort: int("SSH port of the host.", 1, 65535).default(22),
    sshHostKey: pattern(SSH_PUBLIC_KEY, "a host public key line such as 'ssh-ed25519 AAAA…'")
      .optional()
      .describe(
        "Host key of an existing server (`ssh-keyscan -t ed25519 <host>`, checked out of band): every connection to any other key is refused. Required for an existing server unless sshTrustOnFirstUse. EC2 hosts get a key generated by the program.",
      ),
    sshTrustOnFirstUse: bool(
      "Accept the host key the first connection sees (host-wait, which sends no secret) and pin it for every later step; it is trusted again whenever host-wait runs again. For an existing server without sshHostKey, and for an EC2 instance created before the program generated host keys (keeps it from being replaced). The hostKey output shows the key: set it as sshHostKey.",
      false,
    ),
    sshAllowedCidrs: json(
      z.array(cidr, { error: 'must be a list of CIDR blocks, e.g. ["203.0.113.4/32"]' }).min(1, "must list at least one CIDR block"),
    )
      .optional()
      .describe("CIDR blocks allowed to reach port 22 of the EC2 host (required for EC2)."),
    sshAllowWorld: bool(
      "Explicit opt-in to open port 22 to the world: blocks that together cover IPv4 or IPv6 (0.0.0.0/0, ::/0, 0.0.0.0/1 with 128.0.0.0/1, …) or one wider than IPv4 /8 or IPv6 /32. Tags the security group so the policy pack accepts it too.",
      false,
    ),
    sshPublicKey: pattern(SSH_PUBLIC_KEY, "an OpenSSH public key line such as 'ssh-ed25519 AAAA… deploy'")
      .optional()
      .describe("Public half of the deploy key pair (required for EC2: registered as the instance's key pair)."),
    sshPrivateKey: pattern(PRIVATE_KEY, "a PEM or OpenSSH private key ('-----BEGIN … PRIVATE KEY-----')").describe(
      "Secret. Private half of the deploy key pair, used for every SSH connection to the host.",
    ),
    dnsZoneId: pattern(/^Z[A-Z0-9]{1,31}$/, "a Route 53 hosted zone ID such as Z0123456789ABCDEFGHIJ")
      .optional()
      .describe(
        "Route 53 hosted zone of the domain. When set, A records for <domain> and www.<domain> point at the host before Certbot asks for a certificate (review stacks need this).",
      ),
    instanceType: pattern(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "an EC2 instance type such as t3.small")
      .default("t3.small")
      .describe("EC2 instance type."),
    rootVolumeGiB: int("Size of the encrypted gp3 root volume in GiB.", 8, 16384).default(20),
    protect: bool("Protect the instance and its Elastic IP from deletion (prod).", false),
    repoUrl: pattern(GIT_URL, "a git URL: https://…, ssh://…, git://…, http://… or user@host:path (no spaces or quotes)").describe(
      "Parent git repository whose submodules hold the Django code and the homepage. No credentials in it: use repoToken or repoDeployKey.",
    ),
    repoAllowInsecureTransport: bool(
      "Accept git:// and http:// for repoUrl and its submodules (no transport security: anyone on the path can change the code deployed).",
      false,
    ),
    repoRef: pattern(GIT_REF, "a git branch, tag or commit such as main, v1.2.0 or a SHA (letters, digits, . _ / -)")
      .default("main")
      .describe("Branch, tag or commit to deploy."),
    repoDeployKey: pattern(PRIVATE_KEY, "a PEM or OpenSSH private key ('-----BEGIN … PRIVATE KEY-----')")
      .optional()
      .describe("Secret. SSH key with read access to private repositories; installed for the build user only."),
    repoToken: pattern(REPO_TOKEN, "a token of printable characters without spaces (at most 1024)")
      .optional()
      .describe(
        "Secret. Token (password) for an https:// repoUrl: read by the checkout on its standard input and handed to git by a credential helper for that fetch only, for repoUrl's host only.",
      ),
    repoTokenUser: pattern(/^[A-Za-z0-9._@+-]{1,100}$/, "a user name such as x-access-token, oauth2 or gitlab+deploy-token-1")
      .default("x-access-token")
      .describe(
        "User name sent with repoToken (GitHub: any, x-access-token; GitLab: oauth2 or the deploy token's user; Bitbucket: x-token-auth).",
      ),
    djangoDir: pattern(SEGMENT, "a single directory name such as example-django")
      .default("example-django")
      .describe("Submodule directory holding manage.py and requirements.txt."),
    homepageDir: pattern(SEGMENT, "a single directory name such as homepage")
      .default("homepage")
      .describe("Submodule directory holding the static homepage (index.html)."),
    wsgiModule: pattern(PY_DOTTED, "a dotted Python module such as example.wsgi").describe(
      "WSGI module Gunicorn serves (its `application`).",
    ),
    celeryApp: pattern(PY_DOTTED, "a dotted Python module such as example")
      .optional()
      .describe("Celery app module (`celery -A`). When set, a worker and exactly one beat run; when unset, none."),
    fixtures: json(z.array(pattern(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/, "a fixture name such as quickstart or quickstart.json")))
      .default([])
      .describe("Fixtures loaded with `manage.py loaddata` at every release."),
    appEnv: json(
      z.record(
        z.string().regex(ENV_NAME, "keys must be environment variable names (letters, digits, _; not starting with a digit)"),
        z.string({ error: "values must be strings" }).refine((v) => !v.includes("\0"), "values must not contain NUL bytes"),
        {
          error: (iss) =>
            iss.code === "invalid_key"
              ? "keys must be environment variable names (letters, digits, _; not starting with a digit)"
              : "must be an object of NAME: value strings",
        },
      ),
    ).describe("Secret. Server settings written to .server.envrc (DATABASE_URL, SECRET_KEY, …)."),
    gunicornWorkers: int("Gunicorn worker processes. Default: 2 × vCPU + 1 of the host, computed when Gunicorn starts.", 1, 64).optional(),
    clientMaxBodySize: pattern(NGINX_SIZE, "an nginx size such as 1M, 512k or 0 (unlimited)")
      .default("1M")
      .describe(
        "Largest request body nginx accepts outside uploadPaths (client_max_body_size): small, so slow big POSTs cannot fill the disk.",
      ),
    uploadPaths: json(
      z
        .array(pattern(URL_PREFIX, "a URL path prefix such as /admin/ or /upload (letters, digits, . _ ~ / -)"))
        .max(20, "must list at most 20 URL path prefixes")
        .refine((ps) => new Set(ps).size === ps.length, "must not list a prefix twice")
        .refine(
          (ps) => ps.every((x) => x !== "/" && !/^\/(?:static|media)(?:\/|$)/.test(x) && !/(?:^|\/)\.\.?(?:\/|$)/.test(x)),
          "must not be /, under /static/ or /media/ (nginx serves those itself), or contain . or .. segments",
        ),
    )
      .default(["/admin/"])
      .describe("URL path prefixes where uploads go: requests there may carry up to uploadMaxBodySize."),
    uploadMaxBodySize: pattern(NGINX_SIZE, "an nginx size such as 100M, 512k or 0 (unlimited)")
      .default("100M")
      .describe("Largest request body nginx accepts under uploadPaths."),
    requestRate: int(
      "Requests per second nginx passes to Django from one client address (limit_req; static files are not limited).",
      1,
      100000,
    ).default(20),
    requestBurst: int("Requests above requestRate nginx accepts at once from one client address before it answers 429.", 0, 100000).default(
      40,
    ),
    connectionLimit: int(
      "Open connections nginx accepts from one client address (limit_conn); more are answered 429 (nginx takes at most 65535).",
      1,
      65535,
    ).default(64),
    tls: bool("Obtain a certificate with Certbot and serve HTTPS with http→https and apex→www redirects.", true),
    certbotEmail: z
      .email({ error: "must be an email address such as ops@example.com" })
      // certbot would read `--email -x@…` as an option and stop.
      .refine((e) => !e.startsWith("-"), "must be an email address such as ops@example.com (not starting with -)")
      .optional()
      .describe("Contact email for the ACME account (required when tls is on)."),
    acmeServer: z
      .url({ protocol: /^https$/, error: "must be an https:// ACME directory URL" })
      // URL parsing forgives leading control characters and more; the value itself must be a plain URL.
      .regex(
        /^https:\/\/[A-Za-z0-9._~:/?#[\]@!$&'()*+,;=%-]+$/,
        "must be an https:// ACME directory URL (URL characters only: no spaces, quotes or control characters)",
      )
      .default(LETS_ENCRYPT)
      .describe("ACME directory URL. Default Let's Encrypt production; staging and review stacks use Let's Encrypt staging."),
    acmeCaBundle: pattern(PEM_CERTS, "one or more PEM certificates ('-----BEGIN CERTIFICATE-----')")
      .optional()
      .describe("CA certificates to trust when talking to a private ACME server (e.g. step-ca or Pebble)."),
    venvSystemSitePackages: bool("Create ENV with --system-site-packages (use Python packages installed from the OS).", false),
    pipNoIndex: bool("Install requirements without a package index (PIP_NO_INDEX=1): only what the OS provides.", false),
    extraPackages: json(
      z.array(
        pattern(
          DEBIAN_PACKAGE,
          "a Debian package name such as python3-psycopg2 (lowercase letters, digits, + - ., at least two, ending in a letter, digit or +: a trailing - would make apt remove the package)",
        ),
      ),
    )
      .default([])
      .describe("Additional Debian packages to install (e.g. libpq-dev, python3-django)."),
    baseDir: pattern(
      ABS_PATH,
      "an absolute path below / such as /srv/www (letters, digits, . _ - in each part; no . or .. part, no trailing /)",
    )
      .default("/srv/www")
      .describe(
        "Directory holding one directory per site: <baseDir>/<domain>/. Created (root's, 0755) when missing, never changed when it exists: it and every directory above it must be root's and writable by nobody else.",
      ),
    appUser: pattern(UNIX_USER, "a Unix user name such as django")
      .refine((u) => u !== "root", "must not be root: the app never runs as root")
      // The build user is <appUser>-build, and a Unix user name holds at most 32 characters.
      .refine((u) => u.length <= 26, "must be at most 26 characters (the program adds <appUser>-build, the user that builds releases)")
      .default("django")
      .describe(
        "Unprivileged user that runs Gunicorn, Celery and beat. It can write only media/, var/, logs/ and run/; releases are built by <appUser>-build. Not hostUser, not a system account (www-data, redis, nobody, …); an existing one must be in no admin group and have no sudo rights.",
      ),
    keepReleases: int("Releases kept on the host for rollback (the live one and the one before it are always kept).", 2, 50).default(5),
    healthCheckPath: pattern(
      /^\/[A-Za-z0-9._~/-]{0,200}(?:\?[A-Za-z0-9._~=&-]{0,200})?$/,
      "a URL path such as /healthz or /health?deep=1 (letters, digits, . _ ~ / -, and = & in the query)",
    )
      .optional()
      .describe(
        "A view of the app that answers 2xx when it is healthy. Unset: / is asked, and any answer below 500 except 400 proves the app loads and routes.",
      ),
    deployLockTimeout: int(
      "Seconds a deploy step waits for another deploy of the same site on the same host to finish before it gives up.",
      10,
      3600,
    ).default(600),
    healthCheckTimeout: int(
      "Seconds a new release has to answer its health check before the switch gives up (the live release keeps serving).",
      5,
      600,
    ).default(30),
    // --- The data tier: PostgreSQL on the host, backups, restores (issue 11) --------------------
    // `database` gains `rds` with scale-out. Backups exist with database: host only.
    database: z
      .enum(["external", "host"], { error: "must be external (DATABASE_URL in appEnv) or host (PostgreSQL on the host)" })
      .default("external")
      .describe(
        "Where the database is. external: DATABASE_URL comes from appEnv. host: PostgreSQL 15 from Debian on the host (unix socket, scram-sha-256), a generated password, DATABASE_URL written by the program.",
      ),
    backupSchedule: pattern(CALENDAR, "a systemd OnCalendar expression such as daily, hourly or '*-*-* 03:30:00'")
      .default("daily")
      .describe("When the backup timer runs (systemd OnCalendar). Backups exist with database: host."),
    backupKeep: int("Backups kept (the newest; older ones are removed after a successful backup).", 1, 365).default(7),
    backupDestination: z
      .enum(["host", "s3"], { error: "must be host (backupDir on the host) or s3 (also uploaded to an S3 bucket)" })
      .default("host")
      .describe(
        "host: backups in backupDir on the host. s3: also uploaded to S3 (EC2: a bucket the program creates, written through the instance role; an existing server: backupBucket with backupS3Credentials).",
      ),
    backupDir: pattern(ABS_PATH, "an absolute path such as /var/backups/django-deploy")
      .default("/var/backups/django-deploy")
      .describe("Directory (root's, 0700) holding one directory of backups per site: <backupDir>/<domain>/."),
    backupBucket: pattern(S3_BUCKET, "an S3 bucket name such as example-backups")
      .optional()
      .describe("S3 bucket for backups of an existing server (backupDestination: s3). On EC2 the program creates the bucket."),
    backupS3Endpoint: z
      .url({ protocol: /^https?$/, error: "must be an http:// or https:// URL such as https://s3.eu-west-1.amazonaws.com" })
      .regex(
        /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?\/?$/,
        "must be a URL with only a scheme, a host and a port, such as https://minio.example.com:9000",
      )
      .optional()
      .describe("Endpoint of an S3-compatible service instead of AWS S3 (existing server)."),
    backupS3Region: pattern(/^[a-z]{2}(?:-[a-z]+)+-\d$/, "an AWS region such as eu-west-1")
      .optional()
      .describe("Region of the backup bucket. Default: the stack's aws:region on EC2, us-east-1 otherwise."),
    backupS3Credentials: json(
      z
        .object(
          {
            accessKeyId: z.string().regex(/^[A-Za-z0-9]{1,128}$/, "accessKeyId must be letters and digits"),
            secretAccessKey: z.string().regex(/^[A-Za-z0-9+/=._-]{1,256}$/, "secretAccessKey must be letters, digits and + / = . _ -"),
          },
          { error: "must be an object {accessKeyId, secretAccessKey}" },
        )
        .strict(),
    )
      .optional()
      .describe("Secret. {accessKeyId, secretAccessKey} allowed to put, list, get and delete in backupBucket (existing server)."),
  })
  .strict();

export type RawSettings = z.infer<typeof configSchema>;
export type ConfigKey = keyof RawSettings;
export const CONFIG_KEYS = Object.keys(configSchema.shape) as ConfigKey[];
