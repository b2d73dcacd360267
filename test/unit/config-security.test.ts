/**
 * The bad-input table, continued: the values of the security review (issue 10) — hosts without a
 * known key, accounts that break isolation, SSH open to (nearly) the world however it is spelled,
 * credentials and plain transports in repoUrl, names the wrapper or bash use, package names apt
 * reads as "remove", system directories as baseDir. Each is refused at preview time with a line
 * naming the key and what would be valid; and the values next to them that must stay valid.
 */
import { ParsedConfig } from "../../components/config";
import { FAKE_APP_ENV, FAKE_HOST_KEY, Raw, ec2Base, existingHostBase, parse, parseAll, problemsOf } from "./lib/fixtures";
import { BadCase, C, E, bad, testBadCases, withoutSecret } from "./lib/bad-config";

const env = (extra: Record<string, string>) => JSON.stringify({ ...FAKE_APP_ENV, ...extra });
const cidrs = (...list: string[]) => JSON.stringify(list);
const PKG = "must be a Debian package name such as python3-psycopg2";
const SYSTEM_ACCOUNT = "an account or group of the system";
const SYSTEM_DIR = "a system directory";
const WORLD = "set sshAllowWorld: true to accept that";
const CREDENTIALS = "must not hold a user name, token or password";
const INSECURE = "set repoAllowInsecureTransport: true to accept that";
const WRAPPER = "runinenv.sh sets it for every app process";
const SHELL = "bash gives that name a meaning of its own";
const LOADER = "it changes which code the dynamic loader or Python loads";

const CASES: BadCase[] = [
  // host keys
  bad("existing server without sshHostKey", E, { sshHostKey: undefined }, "sshHostKey", "or set sshTrustOnFirstUse: true"),
  bad("sshHostKey with sshTrustOnFirstUse", E, { sshTrustOnFirstUse: "true" }, "sshTrustOnFirstUse", "remove one of them"),
  bad("sshHostKey for an EC2 host", C, { sshHostKey: FAKE_HOST_KEY }, "sshHostKey", "an EC2 host gets a key the program generates"),
  bad("sshTrustOnFirstUse not a boolean", E, { sshTrustOnFirstUse: "yes" }, "sshTrustOnFirstUse", "must be true or false"),
  // accounts
  bad("hostUser root", E, { hostUser: "root" }, "hostUser", "must not be root: the program's sshd settings forbid root logins"),
  bad("appUser equal to hostUser", E, { appUser: "admin" }, "appUser", "must differ from hostUser (admin)"),
  bad("appUser equal to a custom hostUser", E, { hostUser: "deployer", appUser: "deployer" }, "appUser", "must differ from hostUser"),
  bad("appUser whose build user is hostUser", E, { hostUser: "web-build", appUser: "web" }, "appUser", "must differ from hostUser"),
  ...["www-data", "redis", "nobody", "postgres", "daemon", "sshd", "_apt", "systemd-network", "systemd-timesync", "messagebus"].map((u) =>
    bad(`appUser ${u}`, E, { appUser: u }, "appUser", SYSTEM_ACCOUNT),
  ),
  ...["sudo", "adm", "staff", "shadow", "_chrony", "bin", "backup"].map((u) =>
    bad(`appUser ${u} (a group or system account)`, E, { appUser: u }, "appUser", SYSTEM_ACCOUNT),
  ),
  bad("appUser whose build user is a system account", E, { appUser: "systemd" }, "appUser", "such that its build user is systemd-build"),
  // SSH allow-list: the world and near it, however spelled
  bad("SSH from 0.0.0.0/1 and 128.0.0.0/1", C, { sshAllowedCidrs: cidrs("0.0.0.0/1", "128.0.0.0/1") }, "sshAllowedCidrs", WORLD),
  bad(
    "SSH from ::/1 and 8000::/1",
    C,
    { sshAllowedCidrs: cidrs("203.0.113.0/24", "::/1", "8000::/1") },
    "sshAllowedCidrs",
    "together open SSH to the whole IPv6 internet",
  ),
  bad("SSH from 0::/0", C, { sshAllowedCidrs: cidrs("0::/0") }, "sshAllowedCidrs", "0::/0 opens SSH to the whole IPv6 internet"),
  bad("SSH from ::0/0", C, { sshAllowedCidrs: cidrs("::0/0") }, "sshAllowedCidrs", WORLD),
  bad("SSH from 0000::/0", C, { sshAllowedCidrs: cidrs("0000::/0") }, "sshAllowedCidrs", WORLD),
  bad(
    "SSH from a quarter of IPv4 each",
    C,
    { sshAllowedCidrs: cidrs("0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2") },
    "sshAllowedCidrs",
    "together open SSH to the whole IPv4 internet",
  ),
  bad("SSH from a block wider than /8", C, { sshAllowedCidrs: cidrs("10.0.0.0/7") }, "sshAllowedCidrs", "is wider than /8"),
  bad("SSH from half of IPv4", C, { sshAllowedCidrs: cidrs("0.0.0.0/1") }, "sshAllowedCidrs", WORLD),
  bad("SSH from an IPv6 block wider than /32", C, { sshAllowedCidrs: cidrs("2000::/16") }, "sshAllowedCidrs", "is wider than /32"),
  bad(
    "SSH block with host bits",
    C,
    { sshAllowedCidrs: cidrs("203.0.113.7/24") },
    "sshAllowedCidrs",
    "the network is 203.0.113.0/24; give the network address",
  ),
  // repository: credentials, plain transports, the token
  bad("repoUrl with a token", E, { repoUrl: "https://ghp_fakeTokenInUrl0123@github.com/example/x.git" }, "repoUrl", CREDENTIALS),
  bad(
    "repoUrl with user and password",
    E,
    { repoUrl: "https://deploy:fake-password-in-url@git.example.com/x.git" },
    "repoUrl",
    "set repoToken (a secret) and repoTokenUser instead",
  ),
  bad("repoUrl with a user only", E, { repoUrl: "https://deploy@git.example.com/x.git" }, "repoUrl", CREDENTIALS),
  bad(
    "repoUrl http:// with a token",
    E,
    { repoUrl: "http://fake-token@git.example.com/x.git", repoAllowInsecureTransport: "true" },
    "repoUrl",
    CREDENTIALS,
  ),
  bad(
    "ssh:// repoUrl with a password",
    E,
    { repoUrl: "ssh://git:fake-ssh-password@git.example.com/x.git" },
    "repoUrl",
    "must not hold a password",
  ),
  bad("repoUrl git://", E, { repoUrl: "git://git.example.com/x.git" }, "repoUrl", INSECURE),
  bad("repoUrl http://", E, { repoUrl: "http://git.example.com/x.git" }, "repoUrl", "http://, which has no transport security"),
  bad(
    "repoAllowInsecureTransport not a boolean",
    E,
    { repoAllowInsecureTransport: "1" },
    "repoAllowInsecureTransport",
    "must be true or false",
  ),
  bad(
    "repoToken for an ssh URL",
    E,
    { repoUrl: "git@github.com:example/x.git", repoToken: "fake-repo-token-0001" },
    "repoToken",
    "is sent only to an https:// repoUrl",
  ),
  bad(
    "repoToken in plain text",
    E,
    { repoToken: "fake-repo-token-0002" },
    "repoToken",
    "must be set as a secret",
    withoutSecret("repoToken"),
  ),
  bad("repoToken with a space", E, { repoToken: "fake repo token" }, "repoToken", "a token of printable characters without spaces"),
  bad("repoToken with a newline", E, { repoToken: "fake-token\nsecond-line" }, "repoToken", "a token of printable characters"),
  bad("repoTokenUser with a space", E, { repoTokenUser: "x access" }, "repoTokenUser", "a user name such as x-access-token"),
  // appEnv: names runinenv.sh sets, and names that change how bash runs it
  ...["VIRTUAL_ENV", "MEDIA_ROOT", "PYTHONHOME", "DJANGO_DEPLOY_RELEASE"].map((n) =>
    bad(`appEnv sets ${n}`, E, { appEnv: env({ [n]: "/tmp/x" }) }, "appEnv", `must not set ${n}: ${WRAPPER}`),
  ),
  bad("appEnv sets __dd_envrc", E, { appEnv: env({ __dd_envrc: "/tmp/x" }) }, "appEnv", "names starting with __dd_ belong to runinenv.sh"),
  ...["EXECIGNORE", "IFS", "CDPATH", "GLOBIGNORE", "POSIXLY_CORRECT", "ENV", "PS4", "PWD", "OLDPWD", "SHLVL", "BASH_ENV", "SHELLOPTS"].map(
    (n) => bad(`appEnv sets ${n}`, E, { appEnv: env({ [n]: "*/ENV/bin/*" }) }, "appEnv", `must not set ${n}: ${SHELL}`),
  ),
  bad("appEnv sets PATH", E, { appEnv: env({ PATH: "/tmp/bin:/usr/bin" }) }, "appEnv", `must not set PATH: ${WRAPPER}`),
  ...["LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH", "GLIBC_TUNABLES", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONUSERBASE"].map(
    (n) => bad(`appEnv sets ${n}`, E, { appEnv: env({ [n]: "/tmp/x" }) }, "appEnv", `must not set ${n}: ${LOADER}`),
  ),
  // extraPackages: names apt reads as something else
  bad(
    "extraPackages openssh-server- (apt would remove sshd)",
    E,
    { extraPackages: JSON.stringify(["openssh-server-"]) },
    "extraPackages",
    "a trailing - would make apt remove the package",
  ),
  bad("extraPackages ending in a dot", E, { extraPackages: JSON.stringify(["libpq."]) }, "extraPackages", PKG),
  bad("extraPackages of one character", E, { extraPackages: JSON.stringify(["a"]) }, "extraPackages", "at least two"),
  bad("extraPackages starting with -", E, { extraPackages: JSON.stringify(["-fix-broken"]) }, "extraPackages", PKG),
  bad("extraPackages with a version", E, { extraPackages: JSON.stringify(["nginx=1.22"]) }, "extraPackages", PKG),
  // baseDir: system directories
  bad("baseDir /", E, { baseDir: "/" }, "baseDir", "an absolute path below / such as /srv/www"),
  ...[
    "/var/tmp",
    "/var/tmp/sites",
    "/tmp",
    "/etc",
    "/usr/local/www",
    "/root",
    "/boot/www",
    "/dev/shm",
    "/proc/x",
    "/sys/x",
    "/run/www",
  ].map((d) => bad(`baseDir ${d}`, E, { baseDir: d }, "baseDir", SYSTEM_DIR)),
  ...[
    "/bin/www",
    "/sbin",
    "/lib",
    "/lib64/x",
    "/libx32",
    "/var/lib/www",
    "/var/log/sites",
    "/var/cache/www",
    "/var/spool/x",
    "/var/local",
  ].map((d) => bad(`baseDir ${d}`, E, { baseDir: d }, "baseDir", SYSTEM_DIR)),
  ...["/var", "/home", "/srv", "/opt", "/mnt", "/media"].map((d) =>
    bad(`baseDir ${d} itself`, E, { baseDir: d }, "baseDir", `must not be ${d} itself`),
  ),
  bad("baseDir in the app user's home", E, { baseDir: "/home/django/sites" }, "baseDir", "the home of an account the app controls"),
  bad(
    "baseDir in the build user's home",
    E,
    { baseDir: "/home/app-build", appUser: "app" },
    "baseDir",
    "the home of an account the app controls",
  ),
];

describe("bad stack configurations (security review)", () => {
  testBadCases(CASES);
});

const valid = (raw: Raw) => expect(problemsOf(raw)).toBeUndefined();

describe("values next to the refused ones stay valid", () => {
  test("an existing server with sshTrustOnFirstUse instead of sshHostKey", () => {
    const raw: Raw = { ...existingHostBase(), sshTrustOnFirstUse: "true" };
    delete raw.sshHostKey;
    expect(parse(raw).target).toEqual({
      kind: "existing",
      host: "203.0.113.10",
      trustOnFirstUse: true,
      servers: [{ host: "203.0.113.10" }],
    });
    expect(parse(existingHostBase()).target).toEqual({
      kind: "existing",
      host: "203.0.113.10",
      sshHostKey: FAKE_HOST_KEY,
      trustOnFirstUse: false,
      servers: [{ host: "203.0.113.10", sshHostKey: FAKE_HOST_KEY }],
    });
  });

  test("EC2: the program's own host key by default, trust on first use for an instance created before", () => {
    expect(parse(ec2Base()).target).toMatchObject({ kind: "ec2", trustOnFirstUse: false });
    expect(parse({ ...ec2Base(), sshTrustOnFirstUse: "true" }).target).toMatchObject({ kind: "ec2", trustOnFirstUse: true });
  });

  test.each([["deploy"], ["web"], ["django"], ["app_1"], ["shop-eu"]])("appUser %s", (appUser) =>
    valid({ ...existingHostBase(), appUser }),
  );

  test.each([[["0.0.0.0/1", "128.0.0.0/1"]], [["::/1", "8000::/1"]], [["0::/0"]], [["10.0.0.0/7"]]])(
    "SSH from %j with sshAllowWorld: true, canonicalised",
    (list) => {
      const raw = { ...ec2Base(), sshAllowedCidrs: JSON.stringify(list), sshAllowWorld: "true" };
      expect(parse(raw).target).toMatchObject({ kind: "ec2", sshAllowWorld: true });
    },
  );

  test("blocks are canonical and without duplicates for the security group", () => {
    const raw = {
      ...ec2Base(),
      sshAllowedCidrs: cidrs("2001:DB8:0::/48", "203.0.113.0/24", "2001:db8::/48", "0::/0"),
      sshAllowWorld: "true",
    };
    expect(parse(raw).target).toMatchObject({ sshAllowedCidrs: ["2001:db8::/48", "203.0.113.0/24", "::/0"] });
    expect(parse({ ...ec2Base(), sshAllowedCidrs: cidrs("10.0.0.0/8", "2001:db8::/32") }).target).toMatchObject({
      sshAllowedCidrs: ["10.0.0.0/8", "2001:db8::/32"],
    });
  });

  test.each([
    ["ssh://git@github.com/example/x.git"],
    ["git@github.com:example/x.git"],
    ["https://github.com/example/x.git"],
    ["https://git.example.com:8443/team/x.git"],
  ])("repoUrl %s", (repoUrl) => valid({ ...existingHostBase(), repoUrl }));

  test("git:// and http:// with repoAllowInsecureTransport: true", () => {
    for (const repoUrl of ["git://10.200.1.1/example.com.git", "http://git.example.com/x.git"])
      valid({ ...existingHostBase(), repoUrl, repoAllowInsecureTransport: "true" });
  });

  test("repoToken (a secret) for an https:// URL: a public flag for templates, the value only in the secrets", () => {
    const c: ParsedConfig = parseAll({ ...existingHostBase(), repoToken: "fake-repo-token-0003", repoTokenUser: "gitlab+deploy-token-7" });
    expect(c.settings).toMatchObject({ hasRepoToken: true, repoTokenUser: "gitlab+deploy-token-7" });
    expect(JSON.stringify(c.settings)).not.toContain("fake-repo-token-0003");
    expect(c.secrets.repoToken).toBe("fake-repo-token-0003");
    expect(parse(existingHostBase())).toMatchObject({ hasRepoToken: false, repoTokenUser: "x-access-token" });
  });

  test("appEnv names the wrapper does not use, lower case ones included (runinenv.sh is immune to them: injection.test.ts)", () => {
    valid({
      ...existingHostBase(),
      appEnv: env({ site: "/tmp/x", release: "/tmp/y", HOME: "/srv/home", PYTHONUNBUFFERED: "1", LDAP_URL: "ldap://x" }),
    });
  });

  test.each([["g++"], ["libstdc++6"], ["python3.11-dev"], ["dvd+rw-tools"], ["7zip"]])("extraPackages %s", (pkg) =>
    valid({ ...existingHostBase(), extraPackages: JSON.stringify([pkg]) }),
  );

  test.each([
    ["/srv/www"],
    ["/srv/sites/prod"],
    ["/var/www"],
    ["/opt/sites"],
    ["/home/sites"],
    ["/mnt/data/www"],
    ["/data/www"],
    ["/var/opt/x"],
  ])("baseDir %s", (baseDir) => valid({ ...existingHostBase(), baseDir }));
});
