/**
 * The stand-ins' generated files without a host (sandbox/hosts: data host, load balancer, apt): the
 * root scripts pass shellcheck, the configuration says what the real-host test relies on, bad input
 * is refused before it reaches a shell or haproxy.cfg, and haproxy's stats CSV is read right.
 */
import { DataHostParams, dataHostScript } from "../../sandbox/hosts/data-host";
import { haproxyConfig, loadBalancerScript, parseTargets, resolveOptions } from "../../sandbox/hosts/load-balancer";
import { aptInstallScript } from "../../sandbox/hosts/packages";
import { describeFindings, shellcheck } from "./lib/tools";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const params: DataHostParams = {
  database: "app",
  user: "app",
  postgresPort: 5432,
  redisPort: 6380,
  allowedCidr: "10.200.0.0/16",
  address: "10.200.80.2",
  password: "a".repeat(48),
  redisToken: "b".repeat(48),
  redisUser: "app",
  redisUserPassword: "c".repeat(48),
  cert: { certPem: PEM, keyPem: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n" },
  caPem: PEM,
};

test("the stand-ins' root scripts pass shellcheck", async () => {
  const scripts = {
    data: dataHostScript(params),
    lb: loadBalancerScript(haproxyConfig({ healthCheck: { path: "/healthz" } }), PEM),
    apt: aptInstallScript(["nginx", "postgresql-15", "redis-server=5:7.0.15-1~deb12u1"]),
  };
  const findings = await shellcheck(scripts);
  for (const [name, f] of Object.entries(findings))
    expect({ name, findings: describeFindings(scripts[name as keyof typeof scripts], f) }).toEqual({ name, findings: "" });
});

test("the data host accepts TLS only, with scram-sha-256, and Redis on its TLS port only", () => {
  const s = dataHostScript(params);
  expect(s).toMatch(/^hostssl +all +all +10\.200\.0\.0\/16 +scram-sha-256$/m);
  expect(s).toMatch(/^host +all +all +0\.0\.0\.0\/0 +reject$/m);
  expect(s).not.toMatch(/^host +all +all +\S+ +(md5|trust|password|scram)/m);
  expect(s).toMatch(/^port 0$/m);
  expect(s).toMatch(/^tls-port 6380$/m);
  expect(s).toMatch(new RegExp(`^requirepass ${"b".repeat(48)}$`, "m"));
});

test("the data host refuses names and secrets that would need quoting", () => {
  expect(() => dataHostScript({ ...params, user: "app'; drop" })).toThrow(/bad name/);
  expect(() => dataHostScript({ ...params, password: "short" })).toThrow(/bad secret/);
  expect(() => dataHostScript({ ...params, allowedCidr: "0.0.0.0/0 trust" })).toThrow(/bad CIDR/);
  expect(() => aptInstallScript(["nginx; reboot"])).toThrow(/bad Debian package/);
});

test("haproxy.cfg: the health check's path and Host, X-Forwarded-*, no retries, HTTP or HTTPS", () => {
  const https = haproxyConfig({ healthCheck: { path: "/healthz", host: "www.example.com" } });
  expect(https).toContain("http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host www.example.com");
  expect(https).toContain("http-request set-header X-Forwarded-Proto https");
  expect(https).toMatch(/frontend http\n {2}bind :80\n {2}http-request redirect scheme https code 301/);
  expect(https).toMatch(/^ {2}retries 0$/m);
  const http = haproxyConfig({ tls: false, healthCheck: { path: "/up" } });
  expect(http).not.toContain("ssl crt");
  expect(http).toContain("http-request set-header X-Forwarded-Proto http\n");
  expect(http).toContain("hdr Host %[srv_name] ");
  expect(() => resolveOptions({ healthCheck: { path: "/x y" } })).toThrow(/health check path/);
  expect(() => resolveOptions({ healthCheck: { path: "/", host: "a b" } })).toThrow(/health check host/);
  expect(() => resolveOptions({ healthCheck: { path: "/", intervalMs: 0 } })).toThrow(/intervalMs/);
});

test("stats CSV: per-target state of the checked backend only", () => {
  const csv = [
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,check_status,check_code",
    "app,FRONTEND,,,0,0,,0,OPEN,,",
    "app,10.200.82.2,0,0,1,1,,17,UP,L7OK,200",
    "app,10.200.83.2,0,0,0,0,,9,DOWN,* L4TOUT,",
    "app,10.200.84.2,0,0,0,0,,0,DRAIN,L7OK,200",
    "app,BACKEND,0,0,1,1,,26,UP,,",
    "app_all,10.200.82.2,0,0,0,0,,0,UP,,",
    "",
  ].join("\n");
  expect(parseTargets(csv)).toEqual([
    { address: "10.200.82.2", health: "healthy", status: "UP", check: "L7OK", checkCode: "200", current: 1, total: 17 },
    { address: "10.200.83.2", health: "unhealthy", status: "DOWN", check: "L4TOUT", checkCode: "", current: 0, total: 9 },
    { address: "10.200.84.2", health: "draining", status: "DRAIN", check: "L7OK", checkCode: "200", current: 0, total: 0 },
  ]);
  expect(() => parseTargets("Unknown command")).toThrow(/no CSV header/);
});
