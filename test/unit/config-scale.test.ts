/**
 * Scale-out settings: what a fleet needs is refused with an error naming the setting and the ways
 * out (a database and a broker every host reaches, a health check, DNS, the load balancer's
 * addresses), and what it derives (host count, trusted proxies, rollout batches, host roles).
 */
import { previousBatch, sitePlan } from "../../components/site-plan";
import { renderTree } from "../../scripts/render";
import { FAKE_APP_ENV, FAKE_HOST_KEY, Raw, ec2Base, existingHostBase, fleetRaw, parse, problemsOf } from "./lib/fixtures";

const ZONE = "Z0123456789ABCDEFGHIJ";
/** An EC2 site behind the ALB: 3 hosts, RDS, ElastiCache. */
function awsFleetRaw(over: Raw = {}): Raw {
  const { DATABASE_URL: _url, ...env } = FAKE_APP_ENV;
  void _url;
  const raw: Raw = {
    ...ec2Base(),
    appHosts: "3",
    database: "rds",
    redis: "elasticache",
    celeryApp: "example",
    dnsZoneId: ZONE,
    healthCheckPath: "/healthz",
    appEnv: JSON.stringify(env),
  };
  delete raw.certbotEmail;
  return { ...raw, ...over };
}
const without = (raw: Raw, ...keys: string[]): Raw => Object.fromEntries(Object.entries(raw).filter(([k]) => !keys.includes(k)));

describe("valid fleets", () => {
  test("EC2 behind the ALB: 3 hosts, trusted proxies are the VPC's, Certbot is not needed", () => {
    const s = parse(awsFleetRaw());
    expect(s.fleet).toEqual({ count: 3, behindLoadBalancer: true, aws: true, trustedProxies: ["10.0.0.0/16"], rollingBatch: 1 });
    expect(s.tls).toBe(true);
  });

  test("existing servers: their addresses and keys in order, host 1 first", () => {
    const s = parse(fleetRaw());
    expect(s.target.kind === "existing" && s.target.servers.map((x) => x.host)).toEqual(["203.0.113.10", "203.0.113.11", "203.0.113.12"]);
    expect(s.fleet).toMatchObject({ count: 3, behindLoadBalancer: true, aws: false, trustedProxies: ["10.0.1.0/24", "10.0.2.0/24"] });
  });

  test("one host, no load balancer: the single-host site, unchanged", () => {
    expect(parse(ec2Base()).fleet).toEqual({ count: 1, behindLoadBalancer: false, aws: false, trustedProxies: [], rollingBatch: 1 });
  });

  test("roles: host 1 primary, every other host not; batches of rollingBatch", () => {
    const plans = sitePlan(parse({ ...fleetRaw(), rollingBatch: "2" }));
    expect(plans.map((p) => [p.number, p.primary, p.suffix, p.switchAfter])).toEqual([
      [1, true, "", []],
      [2, false, "-h2", []],
      [3, false, "-h3", [1, 2]],
    ]);
    expect(previousBatch(7, 3)).toEqual([4, 5, 6]);
    expect(previousBatch(3, 1)).toEqual([2]);
  });
});

describe("refused, naming the setting and what would work", () => {
  test.each<[string, Raw, RegExp]>([
    [
      "3 EC2 hosts with database: host",
      awsFleetRaw({ database: "host" }),
      /django-deploy:database: host cannot serve 3 hosts .* set database: rds/,
    ],
    [
      "3 existing servers with database: host",
      { ...fleetRaw(), database: "host", appEnv: JSON.stringify({ SECRET_KEY: "x".repeat(50), CELERY_BROKER_URL: "rediss://x" }) },
      /django-deploy:database: host cannot serve 3 hosts .* set database: external/,
    ],
    ["several hosts with Redis on each", awsFleetRaw({ redis: "host" }), /django-deploy:redis: host cannot serve 3 hosts/],
    ["the ALB without dnsZoneId", without(awsFleetRaw(), "dnsZoneId"), /django-deploy:dnsZoneId: is required with the load balancer/],
    [
      "a load balancer without healthCheckPath",
      without(awsFleetRaw(), "healthCheckPath"),
      /django-deploy:healthCheckPath: is required behind a load balancer/,
    ],
    [
      "existing servers without trustedProxies",
      without(fleetRaw(), "trustedProxies"),
      /django-deploy:trustedProxies: is required behind your load balancer/,
    ],
    [
      "host keys that do not match hosts",
      { ...fleetRaw(), sshHostKeys: JSON.stringify([FAKE_HOST_KEY]) },
      /django-deploy:sshHostKeys: must list one host key per entry of hosts.*3 hosts, 1 keys/,
    ],
    ["hosts without host keys", without(fleetRaw(), "sshHostKeys"), /django-deploy:sshHostKeys: is required with hosts/],
    ["host and hosts together", { ...fleetRaw(), host: "203.0.113.9" }, /django-deploy:hosts: set either host .* or hosts/],
    [
      "an address twice",
      { ...fleetRaw(), hosts: JSON.stringify(["203.0.113.10", "203.0.113.10", "203.0.113.12"]) },
      /django-deploy:hosts: must not list an address twice/,
    ],
    ["database: rds on existing servers", { ...fleetRaw(), database: "rds" }, /django-deploy:database: database: rds is for EC2/],
    [
      "database: rds on one EC2 host without the load balancer",
      awsFleetRaw({ appHosts: "1", redis: "host" }),
      /django-deploy:database: database: rds lives in the load balancer's VPC: set loadBalancer: true/,
    ],
    [
      "DATABASE_URL in appEnv with rds",
      awsFleetRaw({ appEnv: JSON.stringify(FAKE_APP_ENV) }),
      /django-deploy:appEnv: must not set DATABASE_URL with database: rds/,
    ],
    [
      "elasticache without Celery",
      without(awsFleetRaw(), "celeryApp"),
      /django-deploy:redis: elasticache is Celery's broker: set celeryApp/,
    ],
    [
      "redis: external without a broker URL",
      { ...fleetRaw(), appEnv: JSON.stringify(FAKE_APP_ENV) },
      /django-deploy:redis: is external, so appEnv must set CELERY_BROKER_URL/,
    ],
    [
      "rollingBatch above the host count",
      awsFleetRaw({ rollingBatch: "4" }),
      /django-deploy:rollingBatch: must be at most the number of hosts \(3\)/,
    ],
    ["appHosts with existing servers", { ...fleetRaw(), appHosts: "2" }, /django-deploy:appHosts: counts EC2 hosts/],
    [
      "Certbot settings behind the ALB",
      awsFleetRaw({ certbotEmail: "ops@example.com" }),
      /django-deploy:certbotEmail: not used behind a load balancer/,
    ],
    ["trustedProxies on EC2", awsFleetRaw({ trustedProxies: JSON.stringify(["10.0.0.0/8"]) }), /django-deploy:trustedProxies: not for EC2/],
    [
      "trustedProxies without a load balancer",
      { ...existingHostBase(), trustedProxies: JSON.stringify(["10.0.0.0/8"]) },
      /django-deploy:trustedProxies: only behind a load balancer/,
    ],
    ["appHosts above 20", awsFleetRaw({ appHosts: "21" }), /django-deploy:appHosts: must be a whole number from 1 to 20/],
  ])("%s", (_label, raw, message) => {
    const problems = problemsOf(raw) ?? [];
    expect(problems.join("\n")).toMatch(message);
  });
});

test("npm run render shows every host of a fleet, named like its resources (beat on host 1 only)", () => {
  const tree = renderTree(parse(fleetRaw()));
  for (const suffix of ["", "-h2", "-h3"]) {
    expect(Object.keys(tree)).toEqual(expect.arrayContaining([`steps/app-switch${suffix}.sh`, `host${suffix}/site.conf`]));
  }
  expect(Object.keys(tree)).toContain("host/supervisor-beat.conf");
  expect(Object.keys(tree).filter((k) => /^host-h\d\/supervisor-beat/.test(k))).toEqual([]);
  expect(tree["steps/code-checkout-h2.sh"]).toContain("ref=$releaseCommit");
  expect(tree["steps/code-checkout.sh"]).not.toContain("releaseCommit");
});
