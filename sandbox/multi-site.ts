/**
 * A local fleet to deploy to: N app hosts (default 3) behind a load balancer, with the managed
 * services they share — the scale-out counterpart of local-site.ts, for the real-host scale-out
 * tests and the benchmark. Every machine is a fresh local Debian 12 host (sandbox/hosts/testhost.ts):
 *
 *   <name>data  index        PostgreSQL and Redis over TLS with passwords, as RDS and ElastiCache
 *                            are reached (hosts/data-host.ts); the git daemon serving the sample
 *                            repositories listens on its gateway (a host never powered off)
 *   <name>lb    index + 1    haproxy standing in for the ALB (hosts/load-balancer.ts): HTTPS for
 *                            www.example.com, active health checks on healthCheckPath
 *   <name>1..N  index + 2 …  the app hosts, in the order of the `hosts` config key (host 1 first)
 *
 * `run(overrides)` gives the runner (sandbox/runner.ts) a stack for the real index.ts with the
 * existing-servers fleet settings: `hosts`, `sshHostKeys`, `trustedProxies` (the load balancer's
 * address), one deploy key authorized on every app host (as an EC2 key pair is), `database:
 * external` and `redis: external` with DATABASE_URL, CELERY_BROKER_URL and CELERY_RESULT_BACKEND
 * from the data host in appEnv, TLS terminated at the load balancer. Every app host trusts the data
 * host's CA (the URLs verify the server's name against it). The app hosts are the load balancer's
 * targets from the start: each becomes healthy once its site answers the health check.
 *
 * ```ts
 * const fleet = await startMultiSite({ index: 110, name: "scale" });
 * await apply(fleet.run());                        // every app host, rolling
 * await fleet.lb.waitForTarget(fleet.apps[1].ip, "healthy");
 * await fleet.liveCommits();                       // what each app host serves, host 1 first
 * await fleet.powerOff(2, { hard: true });         // app host 3, a stopped instance
 * await fleet.stop();
 * ```
 * Not persistent: a watchdog tears every host down when the process that started them is gone.
 */
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Settings } from "../components/config";
import { layoutOf } from "../components/layout";
import { DataHost, provisionDataHost } from "./hosts/data-host";
import { LoadBalancer, provisionLoadBalancer } from "./hosts/load-balancer";
import { GitServer, startGitServer } from "./hosts/services";
import { TestHost, shq, startTestHost } from "./hosts/testhost";
import { SAMPLE_APP_SETTINGS, SampleStack, sampleStackRun } from "./local-site";
import { SAMPLE_DOMAIN, buildSampleRepos } from "./sample/repos";
import type { StackRun } from "./runner";
import { settingsOf, waitForFinisher } from "./site-state";

/** The view the sample answers 2xx on when healthy: the load balancer's check and the switch's. */
export const HEALTH_CHECK_PATH = "/healthz";

export interface MultiSiteOptions {
  /** Network index of the data host; the load balancer is index + 1, app host k is index + 1 + k. */
  index: number;
  /** Prefix of the host names (at most 8 characters: `<name>data` must fit in 12). */
  name: string;
  /** App hosts (default 3). */
  appHosts?: number;
  workDir?: string;
  /** The Host header of the load balancer's health check (default www.example.com; the ALB sends the target's address). */
  healthCheckHost?: string;
}

export interface MultiSite extends SampleStack {
  /** The app hosts, host 1 first (the order of the `hosts` key). */
  apps: TestHost[];
  data: DataHost;
  lb: LoadBalancer;
  /** Overrides that make the stack the first `n` app hosts only. */
  fleetOf(n: number): Record<string, unknown>;
  /** Settings exactly as the program sees them for `run(overrides)` (host 1's). */
  settingsOf(overrides?: Record<string, unknown>): Settings;
  /** The commit each app host serves (its deploy state), host 1 first; "" for a host without one. */
  liveCommits(hosts?: TestHost[]): Promise<string[]>;
  /** Wait until no deploy step and no switch finisher holds the site's lock on any of `hosts` (default all). */
  waitForFinishers(hosts?: TestHost[]): Promise<void>;
  /** Power app host `i` (0-based) off, keeping its disk: a stopped instance. */
  powerOff(i: number, opts?: { hard?: boolean }): Promise<void>;
  powerOn(i: number): Promise<void>;
  /** Make exactly these app hosts the load balancer's targets (registered ones start unhealthy until checked). */
  setTargets(hosts: TestHost[]): Promise<void>;
  /** Resolves once every one of `hosts` (default all) is a healthy target. */
  waitHealthy(hosts?: TestHost[], timeoutMs?: number): Promise<void>;
}

/** Boot hosts side by side; if any fails, the others are stopped and the first error is thrown. */
async function startHosts(specs: Array<[number, string]>): Promise<TestHost[]> {
  const results = await Promise.allSettled(specs.map(([index, name]) => startTestHost(index, name)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  const started = results.filter((r): r is PromiseFulfilledResult<TestHost> => r.status === "fulfilled").map((r) => r.value);
  if (failed) {
    await Promise.all(started.map((h) => h.stop().catch(() => undefined)));
    throw failed.reason;
  }
  return started;
}

/** One key pair for every app host, as an EC2 key pair is on every instance of a fleet. */
function deployKey(dir: string): { privateKey: string; publicKey: string } {
  const file = path.join(dir, "deploy_ed25519");
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.pub`, { force: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "django-deploy fleet", "-f", file]);
  return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

export async function startMultiSite(opts: MultiSiteOptions): Promise<MultiSite> {
  const count = opts.appHosts ?? 3;
  if (!/^[a-z0-9-]{1,8}$/.test(opts.name)) throw new Error(`multi-site name ${JSON.stringify(opts.name)}: 1-8 characters a-z0-9-`);
  if (count < 1 || opts.index + 1 + count > 254) throw new Error(`multi-site: ${count} app hosts from index ${opts.index}`);
  const workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `django-deploy-${opts.name}-`));
  fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });

  const hosts = await startHosts([
    [opts.index, `${opts.name}data`],
    [opts.index + 1, `${opts.name}lb`],
    ...Array.from({ length: count }, (_, k): [number, string] => [opts.index + 2 + k, `${opts.name}${k + 1}`]),
  ]);
  const [dataHost, lbHost, ...apps] = hosts;
  let git: GitServer | undefined;
  const stop = async () => {
    await git?.stop().catch(() => undefined);
    await Promise.all(hosts.map((h) => h.stop().catch(() => undefined)));
  };
  try {
    const reposDir = path.join(workDir, "repos");
    fs.rmSync(reposDir, { recursive: true, force: true });
    const key = deployKey(workDir);
    const [data, lb, repos] = await Promise.all([
      provisionDataHost(dataHost),
      provisionLoadBalancer(lbHost, {
        domain: SAMPLE_DOMAIN,
        healthCheck: { path: HEALTH_CHECK_PATH, host: opts.healthCheckHost ?? `www.${SAMPLE_DOMAIN}` },
        targets: apps.map((h) => h.ip),
      }),
      buildSampleRepos(reposDir),
      ...apps.map((h) => h.run(`printf '%s\\n' ${shq(key.publicKey)} >>~/.ssh/authorized_keys`)),
    ]);
    await Promise.all(apps.map((h) => data.trustOn(h)));
    git = await startGitServer(dataHost, repos.dir);

    const appEnv = {
      SECRET_KEY: `sk-${randomBytes(36).toString("base64url")}`,
      DEBUG: "False",
      DATABASE_URL: data.databaseUrl(),
      CELERY_BROKER_URL: data.brokerUrl(),
      // Results in another Redis database than the broker's.
      CELERY_RESULT_BACKEND: data.brokerUrl().replace(/\/0\?/, "/1?"),
    };
    const settings: Record<string, unknown> = {
      domain: SAMPLE_DOMAIN,
      hostUser: apps[0].user,
      sshPrivateKey: key.privateKey,
      repoUrl: git.url(repos.names.parent),
      // The local git server speaks git:// on the test network only: an explicit opt-in.
      repoAllowInsecureTransport: true,
      repoRef: "v4",
      ...SAMPLE_APP_SETTINGS,
      appEnv,
      // The load balancer terminates TLS: no Certbot on the hosts, nginx on 80 for it only.
      tls: true,
      loadBalancer: true,
      trustedProxies: [`${lb.address}/32`],
      database: "external",
      redis: "external",
      healthCheckPath: HEALTH_CHECK_PATH,
    };
    const fleetOf = (n: number) => ({ hosts: apps.slice(0, n).map((h) => h.ip), sshHostKeys: apps.slice(0, n).map((h) => h.hostKey) });
    const run = (overrides: Record<string, unknown> = {}, extra: Partial<StackRun> = {}): StackRun =>
      sampleStackRun("fleet", workDir, { ...settings, ...fleetOf(count), ...overrides }, extra);
    const layout = () => layoutOf(settingsOf({ run }));
    const liveCommits = (of: TestHost[] = apps) =>
      Promise.all(
        of.map(async (h) => {
          const live = await h.run(`sudo cat ${shq(`${layout().state}/live`)} 2>/dev/null || true`, { timeoutMs: 60_000 });
          return live.trim().split(" ")[1] ?? "";
        }),
      );
    const waitForFinishers = async (of: TestHost[] = apps) => {
      await Promise.all(of.map((host) => waitForFinisher({ run, host })));
    };
    const setTargets = (of: TestHost[]) => lb.setTargets(of.map((h) => h.ip));
    const waitHealthy = async (of: TestHost[] = apps, timeoutMs = 60_000) => {
      await Promise.all(of.map((h) => lb.waitForTarget(h.ip, "healthy", timeoutMs)));
    };
    return {
      apps,
      data,
      lb,
      git,
      repos,
      workDir,
      appEnv,
      settings,
      run,
      fleetOf,
      settingsOf: (overrides: Record<string, unknown> = {}): Settings => settingsOf({ run }, overrides),
      liveCommits,
      waitForFinishers,
      powerOff: (i, o) => apps[i].powerOff(o),
      powerOn: (i) => apps[i].powerOn(),
      setTargets,
      waitHealthy,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
