/**
 * What the load balancer stand-in (load-balancer.ts) runs: its haproxy.cfg, and the parsing of the
 * per-target state haproxy's stats socket reports. Pure functions, unit-testable without a host.
 */

export interface HealthCheckOptions {
  path: string;
  intervalMs?: number;
  timeoutMs?: number;
  healthyThreshold?: number;
  unhealthyThreshold?: number;
  /** A fixed Host header; default the target's address, as an ALB sends. */
  host?: string;
}

export interface LoadBalancerOptions {
  /** Default "example.com": serves it and www.<domain>. */
  domain?: string;
  /**
   * true (default, as the program's ALB): HTTPS on 443, HTTP on 80 redirects. false: a plain HTTP
   * listener on 80 that forwards (X-Forwarded-Proto http), like an ALB's HTTP forward listener.
   */
  tls?: boolean;
  healthCheck: HealthCheckOptions;
  /** Targets registered at start (addresses; port `targetPort`). */
  targets?: string[];
  targetPort?: number;
  /** How long deregister() waits for a target's requests to finish (default 45 s, the program's ALB). */
  deregistrationDelayMs?: number;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Log every request to the LB host's journal (default: only target state changes). */
  logRequests?: boolean;
}

export type TargetHealth = "healthy" | "unhealthy" | "draining" | "unused";

export interface TargetState {
  address: string;
  health: TargetHealth;
  /** haproxy's own status: "UP", "DOWN", "UP 1/3" (going down), "DOWN 1/2" (going up), "DRAIN", "MAINT". */
  status: string;
  /** Last check: "L7OK", "L7STS" (wrong status), "L4TOUT", "L4CON", "INI" (none yet)… and its HTTP code. */
  check: string;
  checkCode: string;
  /** Requests in flight and served in total. */
  current: number;
  total: number;
}

/** The backend with health checks that serves traffic. */
export const BACKEND = "app";
/** The same targets without checks: used only when none in BACKEND is healthy (fail open). */
export const FAIL_OPEN = "app_all";
export const ADDRESS = /^\d{1,3}(\.\d{1,3}){3}$/;
/** Where the LB host keeps its certificate and key (haproxy's `crt`). */
export const CERT_BUNDLE = "/etc/haproxy/certs/site.pem";
export const ADMIN_SOCKET = "/run/haproxy/admin.sock";

export type ResolvedOptions = Required<Omit<LoadBalancerOptions, "healthCheck" | "targets">> & {
  healthCheck: Required<Omit<HealthCheckOptions, "host">> & { host?: string };
};

/** The options with their defaults, validated (everything here ends up in haproxy.cfg). */
export function resolveOptions(o: LoadBalancerOptions): ResolvedOptions {
  const hc = o.healthCheck;
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(hc.path)) throw new Error(`health check path ${JSON.stringify(hc.path)}`);
  if (hc.host !== undefined && !/^[A-Za-z0-9.:-]+$/.test(hc.host)) throw new Error(`health check host ${hc.host}`);
  const domain = o.domain ?? "example.com";
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(domain)) throw new Error(`domain ${domain}`);
  const r: ResolvedOptions = {
    domain,
    tls: o.tls ?? true,
    targetPort: o.targetPort ?? 80,
    deregistrationDelayMs: o.deregistrationDelayMs ?? 45_000,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    idleTimeoutMs: o.idleTimeoutMs ?? 60_000,
    logRequests: o.logRequests ?? false,
    healthCheck: {
      path: hc.path,
      intervalMs: hc.intervalMs ?? 1000,
      timeoutMs: hc.timeoutMs ?? 1000,
      healthyThreshold: hc.healthyThreshold ?? 2,
      unhealthyThreshold: hc.unhealthyThreshold ?? 3,
      host: hc.host,
    },
  };
  for (const [k, v] of Object.entries({ ...r, ...r.healthCheck })) {
    if (typeof v === "number" && !(Number.isInteger(v) && v > 0)) throw new Error(`${k} must be a positive integer, not ${v}`);
  }
  return r;
}

/** haproxy.cfg for the LB (targets are added at run time through the stats socket). */
export function haproxyConfig(options: LoadBalancerOptions): string {
  const o = resolveOptions(options);
  const hc = o.healthCheck;
  const hostHdr = hc.host ?? (o.targetPort === 80 ? "%[srv_name]" : `%[srv_name]:${o.targetPort}`);
  const proto = o.tls ? "https" : "http";
  const forwarding = `  # drop_invalid_header_fields: names outside [-A-Za-z0-9]+ (an underscore would alias a dash in WSGI)
  http-request del-header [^-A-Za-z0-9] -m reg
  http-request redirect prefix ${proto}://www.${o.domain} code 301 if { req.hdr(host),field(1,:) -m str -i ${o.domain} }
  http-request set-header X-Forwarded-For "%[req.fhdr(x-forwarded-for)], %[src]" if { req.fhdr(x-forwarded-for) -m found }
  http-request set-header X-Forwarded-For %[src] unless { req.fhdr(x-forwarded-for) -m found }
  http-request set-header X-Forwarded-Proto ${proto}
  http-request set-header X-Forwarded-Port %[dst_port]
  use_backend ${FAIL_OPEN} if { nbsrv(${BACKEND}) eq 0 }
  default_backend ${BACKEND}`;
  const frontends = o.tls
    ? `frontend http
  bind :80
  http-request redirect scheme https code 301

frontend https
  bind :443 ssl crt ${CERT_BUNDLE} alpn h2,http/1.1
${forwarding}`
    : `frontend http
  bind :80
${forwarding}`;
  return `global
  log /dev/log local0 ${o.logRequests ? "info" : "notice"}
  stats socket ${ADMIN_SOCKET} mode 660 level admin
  stats timeout 30s
  user haproxy
  group haproxy
  ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384
  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

defaults
  mode http
  log global
  option httplog
  option dontlognull
  timeout connect ${o.connectTimeoutMs}ms
  timeout client ${o.idleTimeoutMs}ms
  timeout server ${o.idleTimeoutMs}ms
  timeout http-keep-alive ${o.idleTimeoutMs}ms
  timeout http-request 60s
  timeout check ${hc.timeoutMs}ms
  retries 0

${frontends}

backend ${BACKEND}
  balance roundrobin
  option httpchk
  http-check send meth GET uri ${hc.path} ver HTTP/1.1 hdr Host ${hostHdr} hdr User-Agent ELB-HealthChecker/2.0
  http-check expect status 200

backend ${FAIL_OPEN}
  balance roundrobin
`;
}

/** Parse `show stat` CSV into the targets of BACKEND. */
export function parseTargets(csv: string): TargetState[] {
  const lines = csv.split("\n").filter((l) => l.trim() !== "");
  const header = lines.find((l) => l.startsWith("# "));
  if (!header) throw new Error(`no CSV header in haproxy's answer: ${csv.slice(0, 200)}`);
  const cols = header.slice(2).split(",");
  const at = (row: string[], name: string) => row[cols.indexOf(name)] ?? "";
  return lines
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.split(","))
    .filter((r) => at(r, "pxname") === BACKEND && !["FRONTEND", "BACKEND"].includes(at(r, "svname")))
    .map((r) => {
      const status = at(r, "status");
      const health: TargetHealth = status.startsWith("UP")
        ? "healthy"
        : status.startsWith("DOWN")
          ? "unhealthy"
          : status === "DRAIN" || status === "NOLB"
            ? "draining"
            : "unused";
      return {
        address: at(r, "svname"),
        health,
        status,
        check: at(r, "check_status").replace(/^\* /, ""),
        checkCode: at(r, "check_code"),
        current: Number(at(r, "scur") || 0),
        total: Number(at(r, "stot") || 0),
      };
    });
}
