/**
 * Configuration validation: a table of bad stack configurations (each from a valid base), the
 * program-level guarantee that a bad configuration registers nothing, the committed stack files,
 * and the generated documentation (Pulumi.yaml `config:` block, README table).
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { parseConfig } from "../../components/config";
import { LETS_ENCRYPT_STAGING } from "../../components/config-schema";
import { pulumiYamlConfig, readmeTable } from "../../components/config-docs";
import { FAKE_APP_ENV, FAKE_DEPLOY_KEY, FAKE_SSH_KEY, Raw, ec2Base, existingHostBase, parse, problemsOf } from "./lib/fixtures";
import { BadCase, C, E, bad, keyOf, testBadCases, withoutSecret } from "./lib/bad-config";

const ROOT = path.join(__dirname, "..", "..");

const DNS = "a lowercase DNS name such as example.com";
const WHOLE = (min: number, max: number) => `must be a whole number from ${min} to ${max}`;
const GIT_URL = "must be a git URL: https://…, ssh://…, git://…, http://… or user@host:path";
const GIT_REF = "must be a git branch, tag or commit such as main";
const CIDR = "must be a CIDR block such as 203.0.113.4/32";
const ENV_NAMES = "keys must be environment variable names (letters, digits, _; not starting with a digit)";

const CASES: BadCase[] = [
  // domain
  bad("empty domain", E, { domain: "" }, "domain", DNS),
  bad("malformed domain", E, { domain: "exa mple.com" }, "domain", DNS),
  bad("uppercase domain", E, { domain: "Example.COM" }, "domain", DNS),
  bad("domain with a path", E, { domain: "example.com/blog" }, "domain", "no scheme, path, port or trailing dot"),
  bad("domain with a port", E, { domain: "example.com:8443" }, "domain", "no scheme, path, port or trailing dot"),
  bad("domain with a scheme", C, { domain: "https://example.com" }, "domain", "no scheme, path, port or trailing dot"),
  bad("domain with a trailing dot", E, { domain: "example.com." }, "domain", "no scheme, path, port or trailing dot"),
  bad("www-prefixed domain", C, { domain: "www.example.com" }, "domain", "must be the apex domain (example.com)"),
  bad("domain missing", E, { domain: undefined }, "domain", "is required"),
  // host and SSH
  bad("host not an address", E, { host: "my server!" }, "host", "must be an IPv4 address or a DNS host name"),
  bad("host given as a URL", E, { host: "ssh://203.0.113.10" }, "host", "must be an IPv4 address or a DNS host name"),
  bad("CIDR that is not one", C, { sshAllowedCidrs: JSON.stringify(["203.0.113.0/33"]) }, "sshAllowedCidrs", CIDR),
  bad("CIDR list with a word", C, { sshAllowedCidrs: JSON.stringify(["office"]) }, "sshAllowedCidrs", CIDR),
  bad(
    "CIDRs not a list",
    C,
    { sshAllowedCidrs: "203.0.113.0/24" },
    "sshAllowedCidrs",
    'must be a list of CIDR blocks, e.g. ["203.0.113.4/32"]',
  ),
  bad(
    "SSH open to 0.0.0.0/0 without sshAllowWorld",
    C,
    { sshAllowedCidrs: JSON.stringify(["0.0.0.0/0"]) },
    "sshAllowedCidrs",
    "set sshAllowWorld: true to accept that",
  ),
  bad(
    "SSH open to ::/0 without sshAllowWorld",
    C,
    { sshAllowedCidrs: JSON.stringify(["203.0.113.0/24", "::/0"]) },
    "sshAllowedCidrs",
    "list your own CIDR blocks",
  ),
  bad("sshPort 0", E, { sshPort: "0" }, "sshPort", WHOLE(1, 65535)),
  bad("sshPort 70000", E, { sshPort: "70000" }, "sshPort", WHOLE(1, 65535)),
  bad('sshPort "abc"', E, { sshPort: "abc" }, "sshPort", WHOLE(1, 65535)),
  bad(
    "sshPublicKey garbage",
    C,
    { sshPublicKey: "AAAAC3NzaC1lZDI1NTE5 garbage" },
    "sshPublicKey",
    "must be an OpenSSH public key line such as 'ssh-ed25519 AAAA… deploy'",
  ),
  bad("sshHostKey garbage", E, { sshHostKey: "fingerprint SHA256:abc" }, "sshHostKey", "must be a host public key line"),
  bad("EC2 without sshAllowedCidrs", C, { sshAllowedCidrs: undefined }, "sshAllowedCidrs", "is required for an EC2 host"),
  bad("EC2 without sshPublicKey", C, { sshPublicKey: undefined }, "sshPublicKey", "is required for an EC2 host"),
  bad("hostUser uppercase", E, { hostUser: "Admin" }, "hostUser", "must be a Unix user name such as admin"),
  // sizes
  bad("gunicornWorkers 0", E, { gunicornWorkers: "0" }, "gunicornWorkers", WHOLE(1, 64)),
  bad("gunicornWorkers 1000", E, { gunicornWorkers: "1000" }, "gunicornWorkers", WHOLE(1, 64)),
  bad("gunicornWorkers 2.5", E, { gunicornWorkers: "2.5" }, "gunicornWorkers", WHOLE(1, 64)),
  bad("rootVolumeGiB 2", C, { rootVolumeGiB: "2" }, "rootVolumeGiB", WHOLE(8, 16384)),
  bad("instanceType garbage", C, { instanceType: "a big one" }, "instanceType", "must be an EC2 instance type such as t3.small"),
  bad(
    "clientMaxBodySize with a space",
    E,
    { clientMaxBodySize: "10 M" },
    "clientMaxBodySize",
    "must be an nginx size such as 1M, 512k or 0",
  ),
  bad("uploadMaxBodySize in words", E, { uploadMaxBodySize: "lots" }, "uploadMaxBodySize", "must be an nginx size such as 100M, 512k or 0"),
  bad("uploadPaths not a path", E, { uploadPaths: '["admin"]' }, "uploadPaths", "must be a URL path prefix such as /admin/"),
  bad("uploadPaths with a brace", E, { uploadPaths: '["/a{ }"]' }, "uploadPaths", "must be a URL path prefix such as /admin/"),
  bad("uploadPaths /", E, { uploadPaths: '["/"]' }, "uploadPaths", "must not be /, under /static/ or /media/"),
  bad("uploadPaths under /media/", E, { uploadPaths: '["/media/x"]' }, "uploadPaths", "must not be /, under /static/ or /media/"),
  bad("uploadPaths with ..", E, { uploadPaths: '["/a/../static/"]' }, "uploadPaths", "contain . or .. segments"),
  bad("uploadPaths twice", E, { uploadPaths: '["/up", "/up"]' }, "uploadPaths", "must not list a prefix twice"),
  bad("requestRate 0", E, { requestRate: "0" }, "requestRate", WHOLE(1, 100000)),
  bad("requestBurst negative", E, { requestBurst: "-1" }, "requestBurst", WHOLE(0, 100000)),
  bad("connectionLimit 0", E, { connectionLimit: "0" }, "connectionLimit", WHOLE(1, 65535)),
  bad("tls not a boolean", E, { tls: "yes" }, "tls", "must be true or false"),
  // repository
  bad("repoUrl not a URL", E, { repoUrl: "not a url" }, "repoUrl", GIT_URL),
  bad("repoUrl with spaces", E, { repoUrl: "https://github.com/example/my repo.git" }, "repoUrl", GIT_URL),
  bad("repoUrl with a command", E, { repoUrl: "https://github.com/example/x.git;rm -rf /" }, "repoUrl", GIT_URL),
  bad("repoUrl file://", C, { repoUrl: "file:///srv/git/example.git" }, "repoUrl", GIT_URL),
  bad("repoRef main;reboot", E, { repoRef: "main;reboot" }, "repoRef", GIT_REF),
  bad("repoRef $(id)", E, { repoRef: "$(id)" }, "repoRef", GIT_REF),
  bad("repoRef with backticks", E, { repoRef: "`id`" }, "repoRef", GIT_REF),
  bad("repoRef with ..", E, { repoRef: "release/../main" }, "repoRef", GIT_REF),
  bad("repoRef with a trailing /", E, { repoRef: "release/" }, "repoRef", GIT_REF),
  bad("repoRef ending in .lock", E, { repoRef: "main.lock" }, "repoRef", GIT_REF),
  bad("djangoDir ENV", E, { djangoDir: "ENV" }, "djangoDir", "must not be one of ENV, static, .git, .django-deploy-release"),
  bad("homepageDir static", E, { homepageDir: "static" }, "homepageDir", "the program creates those in every release"),
  bad("djangoDir ../x", E, { djangoDir: "../x" }, "djangoDir", "must be a single directory name such as example-django"),
  bad("homepageDir equal to djangoDir", E, { homepageDir: "example-django" }, "homepageDir", "must differ from djangoDir"),
  bad(
    "wsgiModule with the callable",
    E,
    { wsgiModule: "example.wsgi:application" },
    "wsgiModule",
    "must be a dotted Python module such as example.wsgi",
  ),
  bad(
    "fixtures with spaces",
    E,
    { fixtures: JSON.stringify(["quick start"]) },
    "fixtures",
    "must be a fixture name such as quickstart or quickstart.json",
  ),
  // packages and web
  bad(
    "extraPackages uppercase",
    E,
    { extraPackages: JSON.stringify(["LibPQ-dev"]) },
    "extraPackages",
    "must be a Debian package name such as python3-psycopg2",
  ),
  bad(
    "extraPackages with ;",
    E,
    { extraPackages: JSON.stringify(["libpq-dev;reboot"]) },
    "extraPackages",
    "must be a Debian package name such as python3-psycopg2",
  ),
  bad(
    "acmeServer with a leading NUL (URL parsing forgives it)",
    E,
    { acmeServer: "\u0000https://acme.example.com/dir" },
    "acmeServer",
    "URL characters only",
  ),
  bad("acmeServer with a space", E, { acmeServer: "https://acme.example.com/a dir" }, "acmeServer", "https:// ACME directory URL"),
  bad("dnsZoneId not a zone ID", E, { dnsZoneId: "example.com" }, "dnsZoneId", "a Route 53 hosted zone ID"),
  bad(
    "certbotEmail invalid",
    E,
    { certbotEmail: "ops at example.com" },
    "certbotEmail",
    "must be an email address such as ops@example.com",
  ),
  bad("certbotEmail starting with -", E, { certbotEmail: "-ops@example.com" }, "certbotEmail", "not starting with -"),
  bad(
    "certbotEmail missing with tls on",
    E,
    { certbotEmail: undefined },
    "certbotEmail",
    "is required when tls is on: an email address such as ops@example.com",
  ),
  bad("acmeServer http://", E, { acmeServer: "http://acme.example.com/directory" }, "acmeServer", "must be an https:// ACME directory URL"),
  bad("acmeCaBundle not PEM", E, { acmeCaBundle: "MIIB-not-a-pem" }, "acmeCaBundle", "must be one or more PEM certificates"),
  bad("baseDir relative", E, { baseDir: "srv/www" }, "baseDir", "must be an absolute path below / such as /srv/www"),
  bad("baseDir /etc/x", E, { baseDir: "/etc/x" }, "baseDir", "must not be inside /etc, a system directory"),
  bad(
    "baseDir too long for the socket path",
    E,
    { baseDir: "/srv/www/sites/production/example-company", domain: `${"a".repeat(60)}.example.com` },
    "baseDir",
    /a unix socket path holds at most 107; use a shorter baseDir/,
  ),
  bad("appUser root", E, { appUser: "root" }, "appUser", "must not be root: the app never runs as root"),
  // appEnv
  bad("appEnv not an object", E, { appEnv: JSON.stringify("SECRET_KEY=x") }, "appEnv", "must be an object of NAME: value strings"),
  bad("appEnv a list", E, { appEnv: JSON.stringify(["SECRET_KEY"]) }, "appEnv", "must be an object of NAME: value strings"),
  bad("appEnv not JSON", E, { appEnv: "SECRET_KEY=fake-plain-secret" }, "appEnv", "must be an object of NAME: value strings"),
  bad("appEnv name 1X", E, { appEnv: JSON.stringify({ ...FAKE_APP_ENV, "1X": "v" }) }, "appEnv", ENV_NAMES),
  bad("appEnv name A-B", E, { appEnv: JSON.stringify({ ...FAKE_APP_ENV, "A-B": "v" }) }, "appEnv", ENV_NAMES),
  bad("appEnv name A B", E, { appEnv: JSON.stringify({ ...FAKE_APP_ENV, "A B": "v" }) }, "appEnv", ENV_NAMES),
  bad("appEnv value not a string", E, { appEnv: JSON.stringify({ ...FAKE_APP_ENV, DEBUG: false }) }, "appEnv", "values must be strings"),
  bad(
    "appEnv value with NUL",
    E,
    { appEnv: JSON.stringify({ ...FAKE_APP_ENV, X: "a\0b" }) },
    "appEnv",
    "values must not contain NUL bytes",
  ),
  bad(
    "appEnv sets STATIC_ROOT",
    E,
    { appEnv: JSON.stringify({ ...FAKE_APP_ENV, STATIC_ROOT: "/tmp/static" }) },
    "appEnv",
    "must not set STATIC_ROOT: runinenv.sh sets it for every app process",
  ),
  bad(
    "appEnv sets PATH",
    E,
    { appEnv: JSON.stringify({ ...FAKE_APP_ENV, PATH: "/tmp/bin" }) },
    "appEnv",
    "must not set PATH: runinenv.sh sets it",
  ),
  bad(
    "appEnv sets the wrapper's own variable",
    E,
    { appEnv: JSON.stringify({ ...FAKE_APP_ENV, __dd_release: "/tmp/x" }) },
    "appEnv",
    "names starting with __dd_ belong to runinenv.sh",
  ),
  bad("appUser too long for its build user", E, { appUser: "a".repeat(27) }, "appUser", "must be at most 26 characters"),
  bad("keepReleases 1", E, { keepReleases: "1" }, "keepReleases", WHOLE(2, 50)),
  bad("healthCheckTimeout 0", E, { healthCheckTimeout: "0" }, "healthCheckTimeout", WHOLE(5, 600)),
  bad("healthCheckPath without a slash", E, { healthCheckPath: "healthz" }, "healthCheckPath", "must be a URL path such as /healthz"),
  bad("healthCheckPath with a quote", E, { healthCheckPath: "/health'z" }, "healthCheckPath", "must be a URL path such as /healthz"),
  bad(
    "appEnv sets a bash read-only name",
    E,
    { appEnv: JSON.stringify({ ...FAKE_APP_ENV, UID: "1000" }) },
    "appEnv",
    "must not set UID: bash gives that name a meaning of its own",
  ),
  bad(
    "appEnv sets __proto__",
    E,
    { appEnv: `{"__proto__": "fake-proto-secret", "SECRET_KEY": "x", "DATABASE_URL": "sqlite:///x"}` },
    "appEnv",
    "must not set __proto__",
  ),
  // secrets
  bad("sshPrivateKey missing", E, { sshPrivateKey: undefined }, "sshPrivateKey", "is required"),
  bad("appEnv missing", C, { appEnv: undefined }, "appEnv", "is required"),
  bad(
    "sshPrivateKey not a key",
    E,
    { sshPrivateKey: "fake-plain-password-not-a-key" },
    "sshPrivateKey",
    "must be a PEM or OpenSSH private key",
  ),
  bad(
    "sshPrivateKey in plain text",
    E,
    {},
    "sshPrivateKey",
    "must be set as a secret: pulumi config set --secret sshPrivateKey",
    withoutSecret("sshPrivateKey"),
  ),
  bad("appEnv in plain text", C, {}, "appEnv", "must be set as a secret: pulumi config set --secret appEnv", withoutSecret("appEnv")),
  bad(
    "repoDeployKey in plain text",
    E,
    { repoDeployKey: FAKE_DEPLOY_KEY },
    "repoDeployKey",
    "must be set as a secret: pulumi config set --secret repoDeployKey",
    withoutSecret("repoDeployKey"),
  ),
  // keys
  bad("typo domian", E, { domian: "example.net" }, "domian", "did you mean django-deploy:domain?"),
  bad("typo clientMaxBodySise", E, { clientMaxBodySise: "10M" }, "clientMaxBodySise", "did you mean django-deploy:clientMaxBodySize?"),
  bad("unknown key", C, { colourScheme: "dark" }, "colourScheme", "is not a setting of this program; valid keys: domain, host,"),
];

describe("bad stack configurations", () => {
  test("the bases are valid (so each case fails for its own reason)", () => {
    expect(parse(existingHostBase()).target.kind).toBe("existing");
    expect(parse(ec2Base()).target.kind).toBe("ec2");
  });

  testBadCases(CASES);

  test("a non-secret bad value is quoted back", () => {
    expect(problemsOf({ ...existingHostBase(), domain: "Example.COM" })).toEqual([
      'django-deploy:domain: must be a lowercase DNS name such as example.com (no scheme, path, port or trailing dot) (got "Example.COM")',
    ]);
  });

  test("every problem is listed, not only the first", () => {
    const problems = problemsOf({ ...existingHostBase(), domain: "Example.COM", sshPort: "0", colour: "x" });
    expect(problems?.map(keyOf).sort()).toEqual(["colour", "domain", "sshPort"]);
  });

  test.each([["0.0.0.0/0"], ["::/0"]])("SSH open to %s is accepted with sshAllowWorld: true", (cidr) => {
    const raw = { ...ec2Base(), sshAllowedCidrs: JSON.stringify([cidr]), sshAllowWorld: "true" };
    expect(parse(raw).target).toMatchObject({ kind: "ec2", sshAllowedCidrs: [cidr] });
    expect(problemsOf({ ...raw, sshAllowWorld: "false" })?.map(keyOf)).toEqual(["sshAllowedCidrs"]);
  });

  test("a plain-text secret is refused even when valid, and never echoed", () => {
    const raw = existingHostBase();
    const problems = problemsOf(raw, new Set(["sshPrivateKey"]))!;
    expect(problems).toEqual(["django-deploy:appEnv: must be set as a secret: pulumi config set --secret appEnv …"]);
    expect(problems.join("\n")).not.toContain(FAKE_APP_ENV.SECRET_KEY);
  });

  test("a bad secret value is described, never echoed", () => {
    const problems = problemsOf({ ...existingHostBase(), sshPrivateKey: `${FAKE_SSH_KEY}trailing garbage` })!;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^django-deploy:sshPrivateKey: must be a PEM or OpenSSH private key/);
    expect(problems[0]).not.toContain("trailing garbage");
  });
});

// ---------------------------------------------------------------------------------------------
// The committed stack files

/** A stack file's `django-deploy:*` values as Pulumi passes them to the program. */
function stackValues(file: string): { raw: Raw; secure: string[] } {
  const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
  const raw: Raw = {};
  const secure: string[] = [];
  for (const [k, v] of Object.entries(doc.config ?? {})) {
    if (!k.startsWith("django-deploy:")) continue;
    const key = k.slice("django-deploy:".length);
    if (v && typeof v === "object" && !Array.isArray(v) && "secure" in v) {
      secure.push(key); // an encrypted secret: replaced by a dummy below
      continue;
    }
    // Strings pass as-is; numbers and booleans as their text; lists and objects JSON-encoded.
    raw[key] = typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : JSON.stringify(v);
  }
  return { raw, secure };
}

const STACK_FILES = fs.readdirSync(ROOT).filter((f) => /^Pulumi\.[^.]+\.yaml$/.test(f));

describe("stack files", () => {
  test("dev, staging and prod exist", () => {
    expect(STACK_FILES).toEqual(expect.arrayContaining(["Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml"]));
  });

  const load = (file: string) => {
    const { raw, secure } = stackValues(path.join(ROOT, file));
    expect(Object.keys(raw).filter((k) => ["sshPrivateKey", "repoDeployKey", "appEnv"].includes(k))).toEqual([]); // secrets only encrypted
    const dummies: Raw = { sshPrivateKey: FAKE_SSH_KEY, appEnv: JSON.stringify(FAKE_APP_ENV) };
    if (secure.includes("repoDeployKey")) dummies.repoDeployKey = FAKE_DEPLOY_KEY;
    const full = { ...raw, ...dummies };
    return parseConfig(full, new Set(Object.keys(dummies))).settings;
  };

  test.each(STACK_FILES)("%s validates with dummy secrets", (file) => {
    expect(() => load(file)).not.toThrow();
  });

  test.each(["Pulumi.dev.yaml", "Pulumi.staging.yaml"])("%s uses the Let's Encrypt staging CA", (file) => {
    expect(load(file).acmeServer).toBe(LETS_ENCRYPT_STAGING);
  });

  test("prod is protected and uses the Let's Encrypt production CA", () => {
    const prod = load("Pulumi.prod.yaml");
    expect(prod.target).toMatchObject({ kind: "ec2", protect: true });
    expect(prod.acmeServer).toBe("https://acme-v02.api.letsencrypt.org/directory");
  });
});

// ---------------------------------------------------------------------------------------------
// Generated documentation

describe("documentation generated from the schema", () => {
  test("Pulumi.yaml's config: block equals pulumiYamlConfig()", () => {
    const text = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
    const start = text.search(/^config:$/m);
    expect(start).toBeGreaterThanOrEqual(0);
    const rest = text.slice(start);
    const end = rest.slice("config:".length).search(/^[^\s#]/m);
    const block = end < 0 ? rest : rest.slice(0, "config:".length + end);
    expect(block).toBe(pulumiYamlConfig());
  });

  test("README.md contains readmeTable() verbatim", () => {
    const readme = path.join(ROOT, "README.md");
    expect(fs.existsSync(readme)).toBe(true);
    expect(fs.readFileSync(readme, "utf8")).toContain(readmeTable());
  });
});
