/**
 * fast-check arbitraries: valid stack configurations (raw, as Pulumi passes them) built from valid
 * parts, and hostile strings for the injection suite.
 */
import fc from "fast-check";
import { LETS_ENCRYPT_STAGING, LOADER_ENV, RESERVED_ENV, SHELL_SPECIAL_ENV } from "../../../components/config-schema";
import { accountProblems, baseDirProblem } from "../../../components/config-rules";
import { RESERVED_DIRS } from "../../../components/layout";
import {
  FAKE_APP_ENV,
  FAKE_DEPLOY_KEY,
  FAKE_HOST_KEY,
  FAKE_PUBLIC_KEY,
  FAKE_REPO_TOKEN,
  FAKE_S3_CREDENTIALS,
  FAKE_SSH_KEY,
  Raw,
} from "./fixtures";

const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGIT = "0123456789";
const UPPER = LOWER.toUpperCase();
const chars = (s: string) => fc.constantFrom(...s.split(""));
const str = (alphabet: string, min: number, max: number) => fc.string({ unit: chars(alphabet), minLength: min, maxLength: max });

/** One DNS label: [a-z0-9], inner dashes. */
export const label = (max = 20) =>
  fc.oneof(
    chars(LOWER + DIGIT),
    fc.tuple(chars(LOWER + DIGIT), str(LOWER + DIGIT + "-", 0, max - 2), chars(LOWER + DIGIT)).map(([a, mid, b]) => `${a}${mid}${b}`),
  );

export const tld = fc.oneof(
  str(LOWER, 2, 8),
  str(LOWER + DIGIT, 1, 6).map((s) => `xn--${s}`),
  fc.constantFrom("com", "org", "io", "co", "de"),
);

export const domain = fc
  .tuple(fc.array(label(18), { minLength: 1, maxLength: 3 }), tld)
  .map(([labels, t]) => [...labels, t].join("."))
  .filter((d) => d.length >= 4 && !d.startsWith("www."));

/** An absolute path outside the system directories (those of the default appUser included). */
const pathSegment = fc.tuple(chars(UPPER + LOWER + DIGIT + "_-"), str(UPPER + LOWER + DIGIT + "._-", 0, 9)).map(([a, b]) => a + b);
export const baseDir = fc
  .array(fc.oneof(pathSegment, fc.constantFrom("srv", "var", "www", "home", "opt", "tmp", "lib64")), { minLength: 1, maxLength: 3 })
  .map((segs) => `/${segs.join("/")}`)
  .filter((p) => baseDirProblem(p, "django") === undefined);

export const unixUser = fc
  .tuple(chars(LOWER + "_"), str(LOWER + DIGIT + "_-", 0, 12))
  .map(([a, b]) => a + b)
  .filter((u) => u !== "root");

export const dirName = fc
  .tuple(chars(UPPER + LOWER + DIGIT), str(UPPER + LOWER + DIGIT + "._-", 0, 15))
  .map(([a, b]) => a + b)
  .filter((d) => !RESERVED_DIRS.includes(d));

const pyIdent = fc.tuple(chars(UPPER + LOWER + "_"), str(UPPER + LOWER + DIGIT + "_", 0, 10)).map(([a, b]) => a + b);
export const pyDotted = fc.array(pyIdent, { minLength: 1, maxLength: 3 }).map((p) => p.join("."));

export const fixtureName = fc.tuple(chars(UPPER + LOWER + DIGIT + "_"), str(UPPER + LOWER + DIGIT + "_.-", 0, 20)).map(([a, b]) => a + b);
export const debianPackage = fc
  .tuple(chars(LOWER + DIGIT), str(LOWER + DIGIT + "+.-", 0, 20), chars(LOWER + DIGIT + "+"))
  .map(([a, b, c]) => a + b + c);
export const bodySize = fc.oneof(
  fc.constant("0"),
  fc.tuple(fc.integer({ min: 1, max: 999999 }), fc.constantFrom("", "k", "K", "m", "M", "g", "G")).map(([n, u]) => `${n}${u}`),
);

/** URL path prefixes validation accepts for uploadPaths (not /, /static/, /media/, no . or .. segment). */
export const uploadPath = fc
  .array(
    fc.tuple(chars(LOWER + DIGIT + "_~-"), str(LOWER + UPPER + DIGIT + "._~-", 0, 8)).map(([a, b]) => a + b),
    { minLength: 1, maxLength: 3 },
  )
  .chain((parts) => fc.boolean().map((slash) => `/${parts.join("/")}${slash ? "/" : ""}`))
  .filter((p) => !/^\/(?:static|media)(?:\/|$)/.test(p));

const refPart = fc.tuple(chars(UPPER + LOWER + DIGIT), str(UPPER + LOWER + DIGIT + "._-", 0, 12)).map(([a, b]) => a + b);
export const repoRef = fc
  .oneof(
    fc.array(refPart, { minLength: 1, maxLength: 3 }).map((p) => p.join("/")),
    str("0123456789abcdef", 40, 40),
    fc.constantFrom("main", "v1.2.0", "release/2025.1"),
  )
  .filter((r) => !r.includes("..") && !r.endsWith(".lock") && !r.endsWith("/") && !r.endsWith("."));

const urlPath = fc
  .array(
    str(LOWER + DIGIT + "._-", 1, 12).filter((s) => s !== "." && s !== ".."),
    { minLength: 1, maxLength: 3 },
  )
  .map((p) => p.join("/"));
export const repoUrl = fc.oneof(
  fc.tuple(domain, urlPath).map(([h, p]) => `https://${h}/${p}.git`),
  fc.tuple(unixUser, domain, fc.integer({ min: 1, max: 65535 }), urlPath).map(([u, h, port, p]) => `ssh://${u}@${h}:${port}/${p}`),
  fc.tuple(domain, urlPath).map(([h, p]) => `git://${h}/${p}`),
  fc.tuple(domain, fc.integer({ min: 1, max: 65535 }), urlPath).map(([h, port, p]) => `http://${h}:${port}/${p}`),
  fc.tuple(unixUser, domain, urlPath).map(([u, h, p]) => `${u}@${h}:${p}.git`),
);

export const email = fc
  .tuple(fc.array(str(LOWER + DIGIT + "_+-", 1, 8), { minLength: 1, maxLength: 2 }), label(10), str(LOWER, 2, 6))
  .map(([local, host, t]) => `${local.join(".")}@${host}.${t}`)
  .filter((e) => !e.startsWith("-"));

export const acmeServer = fc.constantFrom(
  "https://acme-v02.api.letsencrypt.org/directory",
  LETS_ENCRYPT_STAGING,
  "https://ca.internal.example:9000/acme/acme/directory",
  "https://pebble.test:14000/dir",
);

const b64 = str(UPPER + LOWER + DIGIT + "+/", 4, 64);
export const pemBundle = fc
  .array(fc.array(b64, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 2 })
  .map((certs) => certs.map((lines) => `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`).join(""));

/** Environment variable names a configuration may set (not reserved, not special to bash). */
export const envName = fc
  .tuple(chars(UPPER + "_"), str(UPPER + DIGIT + "_", 0, 15))
  .map(([a, b]) => a + b)
  .filter(
    (n) => !(RESERVED_ENV as readonly string[]).includes(n) && !SHELL_SPECIAL_ENV.test(n) && !LOADER_ENV.test(n) && n !== "COMP_WORDBREAKS",
  );

/** Any string bash can hold: everything but NUL (unicode, controls, quotes, newlines…). */
export const anyValue = fc
  .oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({
      unit: fc.constantFrom(
        "'",
        '"',
        "\\",
        "$",
        "`",
        "!",
        "\n",
        "\r",
        "\t",
        "(",
        ")",
        "{",
        "}",
        " ",
        "#",
        ";",
        "&",
        "|",
        "*",
        "?",
        "[",
        "]",
        "~",
        "=",
        "%",
        "-",
        "a",
        "é",
        "💥",
      ),
      maxLength: 20,
    }),
    fc.constantFrom(
      "",
      "$(id)",
      "`id`",
      "'; echo INJECTED; '",
      '"; echo INJECTED; "',
      "a\nb",
      "=x",
      "-n",
      "--",
      "~",
      "$HOME",
      "${HOME}",
      "\\",
      "'",
    ),
  )
  .map((s) => s.replace(/\0/g, ""));

export const appEnv = fc.dictionary(envName, anyValue, { maxKeys: 5 });

export interface GenOptions {
  /** Existing host (true), EC2 (false) or either (undefined). */
  existing?: boolean;
}

/** A valid raw configuration (every value a string, as Pulumi passes them). */
export function validRaw(opts: GenOptions = {}): fc.Arbitrary<Raw> {
  return fc
    .record({
      existing: opts.existing === undefined ? fc.boolean() : fc.constant(opts.existing),
      domain,
      baseDir: fc.option(baseDir, { nil: undefined }),
      appUser: fc.option(unixUser, { nil: undefined }),
      hostUser: fc.option(unixUser, { nil: undefined }),
      djangoDir: fc.option(dirName, { nil: undefined }),
      homepageDir: fc.option(dirName, { nil: undefined }),
      wsgiModule: pyDotted,
      celeryApp: fc.option(pyDotted, { nil: undefined }),
      fixtures: fc.option(fc.array(fixtureName, { maxLength: 3 }), { nil: undefined }),
      extraPackages: fc.option(fc.array(debianPackage, { maxLength: 3 }), { nil: undefined }),
      gunicornWorkers: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
      clientMaxBodySize: fc.option(bodySize, { nil: undefined }),
      uploadMaxBodySize: fc.option(bodySize, { nil: undefined }),
      uploadPaths: fc.option(fc.uniqueArray(uploadPath, { maxLength: 3 }), { nil: undefined }),
      requestRate: fc.option(fc.integer({ min: 1, max: 100000 }), { nil: undefined }),
      repoUrl,
      repoRef: fc.option(repoRef, { nil: undefined }),
      repoDeployKey: fc.boolean(),
      repoToken: fc.boolean(),
      trustOnFirstUse: fc.boolean(),
      tls: fc.boolean(),
      certbotEmail: email,
      emailWithoutTls: fc.boolean(),
      acmeServer: fc.option(acmeServer, { nil: undefined }),
      acmeCaBundle: fc.option(pemBundle, { nil: undefined }),
      venvSystemSitePackages: fc.boolean(),
      pipNoIndex: fc.boolean(),
      sshPort: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      appEnv,
      // The data tier: DATABASE_URL in appEnv, or PostgreSQL on the host with backups on it or in S3.
      data: fc.constantFrom("external", "host", "host-s3"),
      backupKeep: fc.option(fc.integer({ min: 1, max: 365 }), { nil: undefined }),
      backupSchedule: fc.option(fc.constantFrom("daily", "hourly", "*-*-* 03:30:00", "Mon,Thu 04:00"), { nil: undefined }),
      backupS3Endpoint: fc.option(fc.constantFrom("http://10.200.1.1:4568", "https://s3.example.net"), { nil: undefined }),
      // Scale-out: existing servers behind the user's load balancer (database external, broker external).
      fleet: fc.constantFrom(false, false, true),
      fleetSize: fc.integer({ min: 1, max: 4 }),
      rollingBatch: fc.integer({ min: 1, max: 4 }),
    })
    .map((g) => {
      const { DATABASE_URL: _unused, ...env } = g.appEnv;
      void _unused;
      const raw: Raw = {
        domain: g.domain,
        repoUrl: g.repoUrl,
        wsgiModule: g.wsgiModule,
        sshPrivateKey: FAKE_SSH_KEY,
        appEnv: JSON.stringify(g.data === "external" ? { ...g.appEnv, DATABASE_URL: FAKE_APP_ENV.DATABASE_URL } : env),
        tls: String(g.tls),
        venvSystemSitePackages: String(g.venvSystemSitePackages),
        pipNoIndex: String(g.pipNoIndex),
      };
      if (g.existing) {
        raw.host = "203.0.113.10";
        if (g.trustOnFirstUse) raw.sshTrustOnFirstUse = "true";
        else raw.sshHostKey = FAKE_HOST_KEY;
      } else {
        raw.sshAllowedCidrs = JSON.stringify(["203.0.113.0/24", "2001:db8::/48"]);
        raw.sshPublicKey = FAKE_PUBLIC_KEY;
      }
      if (g.tls || g.emailWithoutTls) raw.certbotEmail = g.certbotEmail;
      if (g.repoDeployKey) raw.repoDeployKey = FAKE_DEPLOY_KEY;
      if (g.repoToken && g.repoUrl.startsWith("https://")) raw.repoToken = FAKE_REPO_TOKEN;
      if (/^(?:git|http):/.test(g.repoUrl)) raw.repoAllowInsecureTransport = "true";
      for (const k of [
        "baseDir",
        "appUser",
        "hostUser",
        "djangoDir",
        "homepageDir",
        "celeryApp",
        "clientMaxBodySize",
        "uploadMaxBodySize",
        "repoRef",
        "acmeServer",
        "acmeCaBundle",
      ] as const) {
        if (g[k] !== undefined) raw[k] = g[k];
      }
      for (const k of ["fixtures", "extraPackages", "uploadPaths"] as const) if (g[k] !== undefined) raw[k] = JSON.stringify(g[k]);
      if (g.requestRate !== undefined) raw.requestRate = String(g.requestRate);
      if (g.gunicornWorkers !== undefined) raw.gunicornWorkers = String(g.gunicornWorkers);
      if (g.sshPort !== undefined && g.existing) raw.sshPort = String(g.sshPort); // EC2 hosts use 22
      if (g.data !== "external") {
        raw.database = "host";
        if (g.backupKeep !== undefined) raw.backupKeep = String(g.backupKeep);
        if (g.backupSchedule !== undefined) raw.backupSchedule = g.backupSchedule;
      }
      if (g.fleet && g.existing && g.data === "external") {
        delete raw.host;
        delete raw.sshHostKey;
        const hosts = Array.from({ length: g.fleetSize }, (_, i) => `203.0.113.${10 + i}`);
        raw.hosts = JSON.stringify(hosts);
        if (!g.trustOnFirstUse) raw.sshHostKeys = JSON.stringify(hosts.map(() => FAKE_HOST_KEY));
        raw.loadBalancer = "true";
        raw.trustedProxies = JSON.stringify(["10.0.1.0/24", "2001:db8:1::/64"]);
        raw.healthCheckPath = "/healthz";
        if (g.rollingBatch <= g.fleetSize) raw.rollingBatch = String(g.rollingBatch);
        for (const k of ["certbotEmail", "acmeServer", "acmeCaBundle"]) delete raw[k];
        if (raw.celeryApp) {
          raw.redis = "external";
          raw.appEnv = JSON.stringify({ ...JSON.parse(raw.appEnv), CELERY_BROKER_URL: "rediss://:fake@cache.example.net:6379/0" });
        }
      }
      if (g.data === "host-s3") {
        raw.backupDestination = "s3";
        if (g.existing) {
          raw.backupBucket = "example-backups";
          raw.backupS3Credentials = JSON.stringify(FAKE_S3_CREDENTIALS);
          if (g.backupS3Endpoint !== undefined) raw.backupS3Endpoint = g.backupS3Endpoint;
        }
      }
      return raw;
    })
    .filter((raw) => {
      const dj = raw.djangoDir ?? "example-django";
      const hp = raw.homepageDir ?? "homepage";
      // A unix socket path holds at most 107 bytes: <baseDir>/<domain>/run/gunicorn.sock.
      const socket = `${raw.baseDir ?? "/srv/www"}/${raw.domain}/run/gunicorn.sock`;
      const users = { appUser: raw.appUser ?? "django", hostUser: raw.hostUser ?? "admin" };
      return (
        dj !== hp &&
        Buffer.byteLength(socket) <= 107 &&
        accountProblems(users).length === 0 &&
        baseDirProblem(raw.baseDir ?? "/srv/www", users.appUser) === undefined
      );
    });
}
