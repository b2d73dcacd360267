/**
 * A complete local deployment target: a fresh Debian 12 host (systemd-nspawn), a git daemon serving
 * the sample project (sandbox/sample/example.com), and Pebble as the ACME server — plus the stack
 * configuration that points the real program at them. Used by `npm run sandbox`, the real-host
 * tests and the benchmark.
 *
 * A persistent site (the sandbox's `up`) outlives the process that started it: everything it needs
 * to find it again is in `<workDir>/site.json` (mode 0600: it holds the sample's secret settings),
 * and `attachLocalSite(workDir)` reconnects to it while it runs.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TestHost, attachTestHost, startTestHost } from "./hosts/testhost";
import { GitServer, PebbleInfo, PebbleServer, attachGitServer, attachPebble, startGitServer, startPebble } from "./hosts/services";
import { SampleRepos, SampleReposData, buildSampleRepos, sampleRepos } from "./sample/repos";
import type { StackRun } from "./runner";

/** The sample project's requirements, satisfied offline from Debian's packages (Django's admin static files link to libjs-jquery, only a Recommends). */
export const SAMPLE_DEBIAN_PACKAGES = [
  "python3-django",
  "libjs-jquery",
  "python3-gunicorn",
  "python3-celery",
  "python3-redis",
  "python3-django-environ",
  "python3-psycopg2",
];

/** The sample project deployed by a stack of the runner's: what a one-host site and a fleet share. */
/** The sample's settings every stack of it shares: how it runs, offline packages, the load tests' limits. */
export const SAMPLE_APP_SETTINGS: Record<string, unknown> = {
  wsgiModule: "example.wsgi",
  celeryApp: "example",
  fixtures: ["quickstart"],
  venvSystemSitePackages: true,
  pipNoIndex: true,
  extraPackages: SAMPLE_DEBIAN_PACKAGES,
  uploadPaths: ["/upload", "/admin/"],
  // Load tests and benchmarks send everything from one address (the fleet's: the load balancer's):
  // the per-client limits stay out of their way (test/host/hardening.test.ts checks the defaults).
  requestRate: 100000,
  requestBurst: 100000,
  connectionLimit: 65535,
};

/** The runner's stack for `settings` (unprefixed `django-deploy:` keys; undefined ones left out), state and log in workDir. */
export function sampleStackRun(stack: string, workDir: string, settings: Record<string, unknown>, extra: Partial<StackRun> = {}): StackRun {
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(settings)) {
    if (v !== undefined) config[`django-deploy:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return {
    stack,
    config,
    secretKeys: ["django-deploy:sshPrivateKey", "django-deploy:appEnv", "django-deploy:backupS3Credentials"],
    statePath: path.join(workDir, "state.json"),
    logPath: path.join(workDir, "pulumi.log"),
    ...extra,
  };
}

export interface SampleStack {
  git: GitServer;
  repos: SampleRepos;
  workDir: string;
  /** The appEnv given to the program (secret values; tests look for them in logs). */
  appEnv: Record<string, string>;
  /** The sample's settings (unprefixed keys), before overrides. */
  settings: Record<string, unknown>;
  /** A stack run for the runner; `overrides` replace or add `django-deploy:` keys (unprefixed). */
  run(overrides?: Record<string, unknown>, extra?: Partial<StackRun>): StackRun;
  stop(): Promise<void>;
}

export interface LocalSite extends SampleStack {
  host: TestHost;
  pebble: PebbleServer;
}

/** What site.json records. */
interface SiteRecord {
  index: number;
  name: string;
  gitPort: number;
  pebble: PebbleInfo;
  repos: SampleReposData;
  appEnv: Record<string, string>;
}

const recordPath = (workDir: string) => path.join(workDir, "site.json");

function makeSite(
  workDir: string,
  host: TestHost,
  git: GitServer,
  pebble: PebbleServer,
  repos: SampleRepos,
  appEnv: Record<string, string>,
  stop: () => Promise<void>,
): LocalSite {
  const settings: Record<string, unknown> = {
    domain: "example.com",
    host: host.ip,
    hostUser: host.user,
    sshHostKey: host.hostKey,
    sshPrivateKey: host.privateKey,
    repoUrl: git.url(repos.names.parent),
    // The local git server speaks git:// on the test network only: an explicit opt-in.
    repoAllowInsecureTransport: true,
    repoRef: "v1",
    ...SAMPLE_APP_SETTINGS,
    appEnv,
    certbotEmail: "ops@example.com",
    acmeServer: pebble.directoryUrl,
    acmeCaBundle: pebble.caBundlePem,
    // PostgreSQL on the host (the program writes DATABASE_URL), backups in backupDir.
    database: "host",
  };
  const run = (overrides: Record<string, unknown> = {}, extra: Partial<StackRun> = {}): StackRun =>
    sampleStackRun("local", workDir, { ...settings, ...overrides }, extra);
  return { host, git, pebble, repos, workDir, appEnv, settings, run, stop };
}

export async function startLocalSite(opts: { index: number; name: string; workDir?: string; persistent?: boolean }): Promise<LocalSite> {
  const workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `django-deploy-${opts.name}-`));
  fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const host = await startTestHost(opts.index, opts.name, { persistent: opts.persistent });
    stops.push(() => host.stop());
    const reposDir = path.join(workDir, "repos");
    fs.rmSync(reposDir, { recursive: true, force: true });
    const repos = await buildSampleRepos(reposDir);
    const git = await startGitServer(host, repos.dir, { persistent: opts.persistent });
    stops.push(() => git.stop());
    const pebble = await startPebble(host, { persistent: opts.persistent });
    stops.push(() => pebble.stop());
    const appEnv = {
      SECRET_KEY: `sk-${randomBytes(36).toString("base64url")}`,
      DEBUG: "False",
    };
    const { dir, parentBare, djangoBare, homepageBare, names, parentCommits, djangoCommits, homepageCommit } = repos;
    const reposData: SampleReposData = { dir, parentBare, djangoBare, homepageBare, names, parentCommits, djangoCommits, homepageCommit };
    const record: SiteRecord = { index: opts.index, name: opts.name, gitPort: git.port, pebble: pebble.info, repos: reposData, appEnv };
    fs.writeFileSync(recordPath(workDir), JSON.stringify(record, null, 2), { mode: 0o600 });
    return makeSite(workDir, host, git, pebble, repos, appEnv, async () => {
      await stop();
      fs.rmSync(recordPath(workDir), { force: true });
    });
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The site recorded in `workDir`, if its host, git daemon and Pebble are all still running. */
export async function attachLocalSite(workDir: string): Promise<LocalSite | undefined> {
  if (!fs.existsSync(recordPath(workDir))) return undefined;
  const record = JSON.parse(fs.readFileSync(recordPath(workDir), "utf8")) as SiteRecord;
  const host = await attachTestHost(record.name);
  if (!host) return undefined;
  const git = await attachGitServer(host, record.gitPort);
  const pebble = await attachPebble(host, record.pebble);
  if (!git || !pebble) return undefined;
  // A sandbox recorded before it moved to PostgreSQL (database: host) named a SQLite DATABASE_URL;
  // the program writes DATABASE_URL itself now.
  const { DATABASE_URL: _sqlite, ...appEnv } = record.appEnv;
  return makeSite(workDir, host, git, pebble, sampleRepos(record.repos), appEnv, async () => {
    await host.stop(); // down.sh ends the git daemon and Pebble with the host
    fs.rmSync(recordPath(workDir), { force: true });
  });
}

/** The host name a site record in `workDir` names, if any (to clean up after a half-dead site). */
export function recordedHostName(workDir: string): string | undefined {
  if (!fs.existsSync(recordPath(workDir))) return undefined;
  return (JSON.parse(fs.readFileSync(recordPath(workDir), "utf8")) as SiteRecord).name;
}
