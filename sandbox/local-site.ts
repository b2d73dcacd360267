/**
 * A complete local deployment target: a fresh Debian 12 host (systemd-nspawn), a git daemon serving
 * the sample project (test/fixtures/example.com), and Pebble as the ACME server — plus the stack
 * configuration that points the real program at them. Used by `npm run sandbox`, the real-host
 * tests and the benchmark.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TestHost, startTestHost } from "../test/support/testhost";
import { GitServer, PebbleServer, startGitServer, startPebble } from "../test/support/host-services";
import { SampleRepos, buildSampleRepos } from "../test/support/sample-repos";
import { StackRun } from "./runner";

/** The sample project's requirements, satisfied offline from Debian's packages (Django's admin static files link to libjs-jquery, only a Recommends). */
export const SAMPLE_DEBIAN_PACKAGES = [
  "python3-django",
  "libjs-jquery",
  "python3-gunicorn",
  "python3-celery",
  "python3-redis",
  "python3-django-environ",
];

export interface LocalSite {
  host: TestHost;
  git: GitServer;
  pebble: PebbleServer;
  repos: SampleRepos;
  workDir: string;
  /** The appEnv given to the program (secret values; tests look for them in logs). */
  appEnv: Record<string, string>;
  /** A stack run for the runner; `overrides` replace or add `django-deploy:` keys (unprefixed). */
  run(overrides?: Record<string, unknown>, extra?: Partial<StackRun>): StackRun;
  stop(): Promise<void>;
}

export async function startLocalSite(opts: { index: number; name: string; workDir?: string }): Promise<LocalSite> {
  const workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `django-deploy-${opts.name}-`));
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const host = await startTestHost(opts.index, opts.name);
    stops.push(() => host.stop());
    const repos = await buildSampleRepos(path.join(workDir, "repos"));
    const git = await startGitServer(host, repos.dir);
    stops.push(() => git.stop());
    const pebble = await startPebble(host);
    stops.push(() => pebble.stop());

    const appEnv = {
      SECRET_KEY: `sk-${randomBytes(36).toString("base64url")}`,
      DATABASE_URL: "sqlite:////srv/www/example.com/var/db.sqlite3",
      DEBUG: "False",
    };
    const base: Record<string, unknown> = {
      domain: "example.com",
      host: host.ip,
      hostUser: host.user,
      sshHostKey: host.hostKey,
      sshPrivateKey: host.privateKey,
      repoUrl: git.url(repos.names.parent),
      repoRef: "v1",
      wsgiModule: "example.wsgi",
      celeryApp: "example",
      fixtures: ["quickstart"],
      appEnv,
      certbotEmail: "ops@example.com",
      acmeServer: pebble.directoryUrl,
      acmeCaBundle: pebble.caBundlePem,
      venvSystemSitePackages: true,
      pipNoIndex: true,
      extraPackages: SAMPLE_DEBIAN_PACKAGES,
    };
    const run = (overrides: Record<string, unknown> = {}, extra: Partial<StackRun> = {}): StackRun => {
      const merged = { ...base, ...overrides };
      const config: Record<string, string> = {};
      for (const [k, v] of Object.entries(merged)) {
        if (v !== undefined) config[`django-deploy:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
      }
      return {
        stack: "local",
        config,
        secretKeys: ["django-deploy:sshPrivateKey", "django-deploy:appEnv"],
        statePath: path.join(workDir, "state.json"),
        logPath: path.join(workDir, "pulumi.log"),
        ...extra,
      };
    };
    return { host, git, pebble, repos, workDir, appEnv, run, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
