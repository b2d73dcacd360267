/**
 * A load balancer standing in for the ALB: Debian's haproxy on its own test host (an address of its
 * own, as the ALB's nodes have in the VPC, so app hosts can trust X-Forwarded-* from that address
 * only, and nothing is installed on this machine).
 *
 * Like the program's ALB (components/aws/load-balancer.ts):
 * - HTTPS on 443 for `<domain>` and `www.<domain>` (a certificate from a CA made here: clients trust
 *   `caPath`), TLS 1.2+ with forward-secret AEAD ciphers or TLS 1.3; HTTP on 80 answers 301 to
 *   https; the apex answers 301 to www. With `tls: false`, a plain HTTP listener on 80 forwards.
 * - Forwards HTTP/1.1 to the targets' port 80 with X-Forwarded-For (the client appended to what it
 *   sent), X-Forwarded-Proto https (http without TLS), X-Forwarded-Port (overwritten); header fields whose names are
 *   not [-A-Za-z0-9]+ are dropped (drop_invalid_header_fields: `X_Forwarded_For` never reaches WSGI).
 * - Active health checks: `GET <path>` every second with, by default, what an ALB sends — `Host:
 *   <the target's IP>` and `User-Agent: ELB-HealthChecker/2.0` (an ALB cannot set the site's Host;
 *   give `healthCheck.host` to send a fixed one); 200 expected; healthy after 2 passes, unhealthy
 *   after 3 failures (the program's thresholds). A new target gets no traffic until healthy.
 * - No retries of a failed request (an ALB answers 502/504); 10 s connect timeout, 60 s idle.
 * - When no target is healthy it fails open (sends to all registered targets), as an ALB does.
 * - Targets are registered, drained and deregistered at run time (haproxy's runtime API, no
 *   reload), and their state read back.
 * Not like it: one node (no zones), no access logs unless `logRequests`, targets are runtime state
 * (an haproxy restart or a reboot of the LB host forgets them: register again).
 */
import * as path from "path";
import {
  ADDRESS,
  ADMIN_SOCKET,
  BACKEND,
  CERT_BUNDLE,
  FAIL_OPEN,
  LoadBalancerOptions,
  TargetHealth,
  TargetState,
  haproxyConfig,
  parseTargets,
  resolveOptions,
} from "./load-balancer-config";
import { aptInstall } from "./packages";
import { issueCert, makeCa } from "./pki";
import { TestHost, sleep, startTestHost } from "./testhost";

export * from "./load-balancer-config";

export interface LoadBalancer {
  host: TestHost;
  /** The LB's address: what app hosts see as the source of requests and health checks. */
  address: string;
  /** [domain, www.domain] */
  names: string[];
  /** CA of the LB's certificate (PEM and its file on this machine): the tests' HTTPS clients trust it. */
  caPem: string;
  caPath: string;
  /** https://www.<domain><path> (resolve the name to `address`, e.g. site-checks' request(lb.host, …)). */
  url(path?: string): string;
  register(address: string): Promise<void>;
  /** Drain (no new requests), wait for in-flight ones up to `drainMs`, then remove. */
  deregister(address: string, opts?: { drainMs?: number }): Promise<void>;
  /** Register and deregister (without draining) until exactly these are the targets. */
  setTargets(addresses: string[]): Promise<void>;
  targets(): Promise<TargetState[]>;
  /** Resolves to the target's state once it has the health asked for; throws after `timeoutMs`. */
  waitForTarget(address: string, health: TargetHealth, timeoutMs?: number): Promise<TargetState>;
  /** One line to haproxy's runtime API (commands separated by ";"), its answer. */
  api(command: string): Promise<string>;
  stop(): Promise<void>;
}

/** The root script that installs the configuration and certificate and (re)starts haproxy. */
export function loadBalancerScript(config: string, certBundlePem: string): string {
  return `set -euo pipefail
umask 077
install -d -m 0700 /etc/haproxy/certs
cat >${CERT_BUNDLE} <<'PEM'
${certBundlePem.trim()}
PEM
cat >/etc/haproxy/haproxy.cfg.new <<'CFG'
${config.trim()}
CFG
chmod 0644 /etc/haproxy/haproxy.cfg.new
haproxy -c -q -f /etc/haproxy/haproxy.cfg.new
mv /etc/haproxy/haproxy.cfg.new /etc/haproxy/haproxy.cfg
systemctl restart haproxy.service
for _ in $(seq 50); do [ -S ${ADMIN_SOCKET} ] && echo 'show info' | socat -t 2 stdio ${ADMIN_SOCKET} | grep -q '^Pid:' && exit 0; sleep 0.2; done
echo "haproxy did not come up" >&2
exit 1
`;
}

/** Configure haproxy as the ALB stand-in on an existing test host. */
export async function provisionLoadBalancer(host: TestHost, options: LoadBalancerOptions): Promise<LoadBalancer> {
  const o = resolveOptions(options);
  const names = [o.domain, `www.${o.domain}`];
  const ca = makeCa(path.join(host.runDir, "lb-ca"), "load balancer CA");
  const cert = issueCert(ca, "site", { dns: names, key: "rsa2048" });
  await aptInstall(host, ["haproxy", "socat"]);
  await host.run("sudo bash -s", { stdin: loadBalancerScript(haproxyConfig(options), cert.bundlePem), timeoutMs: 2 * 60_000 });

  const api = (command: string) => host.run(`sudo socat -t 5 stdio ${ADMIN_SOCKET}`, { stdin: `${command}\n`, timeoutMs: 30_000 });
  /** Mutating commands answer nothing, or one of these; anything else is an error. */
  const mutate = async (command: string) => {
    const out = await api(command);
    const bad = out.split("\n").filter((l) => l.trim() && !/^(New server registered|Server deleted)\.$/.test(l.trim()));
    if (bad.length) throw new Error(`haproxy runtime API: ${command}\n${out}`);
  };
  const check = (address: string) => {
    if (!ADDRESS.test(address)) throw new Error(`target ${JSON.stringify(address)}: expected an IPv4 address`);
  };
  const targets = async () => parseTargets(await api(`show stat ${BACKEND} 4 -1`));
  const hc = o.healthCheck;

  const register = async (address: string) => {
    check(address);
    const s = `${BACKEND}/${address}`;
    const a = `${FAIL_OPEN}/${address}`;
    const checks = `check inter ${hc.intervalMs}ms fall ${hc.unhealthyThreshold} rise ${hc.healthyThreshold}`;
    await mutate(`add server ${s} ${address}:${o.targetPort} ${checks}`);
    // A server leaves maintenance UP; an ALB target starts "initial" and gets no traffic until its
    // checks pass: mark it down in the same breath, then `rise` passes bring it up.
    await mutate(`enable health ${s}; enable server ${s}; set server ${s} health down`);
    await mutate(`add server ${a} ${address}:${o.targetPort}; enable server ${a}`);
  };
  const remove = async (address: string) => {
    for (const s of [`${BACKEND}/${address}`, `${FAIL_OPEN}/${address}`]) {
      await mutate(`set server ${s} state maint; shutdown sessions server ${s}; del server ${s}`);
    }
  };
  const deregister = async (address: string, opts: { drainMs?: number } = {}) => {
    check(address);
    await mutate(`set server ${BACKEND}/${address} state drain; set server ${FAIL_OPEN}/${address} state drain`);
    const deadline = Date.now() + (opts.drainMs ?? o.deregistrationDelayMs);
    while (Date.now() < deadline) {
      const t = (await targets()).find((x) => x.address === address);
      if (!t || t.current === 0) break;
      await sleep(250);
    }
    await remove(address);
  };
  const waitForTarget = async (address: string, health: TargetHealth, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: TargetState | undefined;
    while (Date.now() < deadline) {
      last = (await targets()).find((x) => x.address === address);
      if (last?.health === health) return last;
      await sleep(200);
    }
    throw new Error(`target ${address} not ${health} after ${timeoutMs} ms: ${JSON.stringify(last ?? "not registered")}`);
  };

  for (const t of options.targets ?? []) await register(t);
  return {
    host,
    address: host.ip,
    names,
    caPem: ca.pem,
    caPath: ca.certPath,
    url: (p = "/") => `${o.tls ? "https" : "http"}://${names[1]}${p}`,
    register,
    deregister,
    setTargets: async (addresses) => {
      addresses.forEach(check);
      const now = (await targets()).map((t) => t.address);
      for (const a of now.filter((x) => !addresses.includes(x))) await remove(a);
      for (const a of addresses.filter((x) => !now.includes(x))) await register(a);
    },
    targets,
    waitForTarget,
    api,
    stop: () => Promise.resolve(),
  };
}

/** Boot a fresh test host and make it the load balancer (see the module doc). */
export async function startLoadBalancer(
  options: LoadBalancerOptions & { index: number; name?: string; persistent?: boolean },
): Promise<LoadBalancer> {
  const host = await startTestHost(options.index, options.name ?? `lb${options.index}`, { persistent: options.persistent });
  try {
    const lb = await provisionLoadBalancer(host, options);
    return { ...lb, stop: () => host.stop() };
  } catch (e) {
    await host.stop().catch(() => undefined);
    throw e;
  }
}
