/**
 * The data tier's pure parts (components/aws/database.ts, cache.ts): connection URLs that survive
 * any password or token (percent-encoded, parsed back by a URL parser), the parameter group family,
 * names, the cache's topology, and constants shared with the policy pack.
 */
import * as fc from "fast-check";
import { MIN_BACKUP_RETENTION_DAYS as POLICY_MIN_RETENTION } from "../../policy/rules/rds";
import { MIN_BACKUP_RETENTION_DAYS, postgresFamily, postgresUrl, requirePgIdentifier } from "../../components/aws/database";
import { cacheTopology, isValidAuthToken, redisUrl } from "../../components/aws/cache";

const hostArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,20}){1,4}$/);

describe("postgresUrl", () => {
  test("the shape Django's DATABASE_URL takes, TLS required", () => {
    expect(postgresUrl({ user: "django", password: "s3cret", host: "db.example.internal", port: 5432, database: "app" })).toBe(
      "postgres://django:s3cret@db.example.internal:5432/app?sslmode=require",
    );
  });

  test("property: any password and user survive (percent-encoded; a URL parser gets them back)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), hostArb, (user, password, host) => {
        const url = new URL(postgresUrl({ user, password, host, port: 5432, database: "app" }));
        expect(decodeURIComponent(url.username)).toBe(user);
        expect(decodeURIComponent(url.password)).toBe(password);
        expect(url.hostname).toBe(host);
        expect(url.port).toBe("5432");
        expect(url.pathname).toBe("/app");
        expect(url.searchParams.get("sslmode")).toBe("require");
      }),
    );
  });
});

describe("postgresFamily", () => {
  test.each([
    ["16", "postgres16"],
    ["16.8", "postgres16"],
    ["17.2", "postgres17"],
  ])("%s → %s", (version, family) => expect(postgresFamily(version)).toBe(family));

  test.each(["", "16.x", "latest", "9.6", "16.8.1"])("refuses %j", (version) =>
    expect(() => postgresFamily(version)).toThrow(/engineVersion/),
  );
});

test("database and user names: a letter then letters, digits, underscores; reserved names refused", () => {
  for (const ok of ["app", "django", "my_app2"]) expect(() => requirePgIdentifier("x", ok)).not.toThrow();
  for (const bad of ["", "1app", "my-app", "postgres", "rdsadmin", "a".repeat(64)]) expect(() => requirePgIdentifier("x", bad)).toThrow();
});

test("backup retention minimum is FSBP RDS.11's, as the policy pack holds it", () => {
  expect(MIN_BACKUP_RETENTION_DAYS).toBe(POLICY_MIN_RETENTION);
});

describe("redisUrl", () => {
  test("rediss with the token as password, database 0, certificate checked (ssl_cert_reqs=required)", () => {
    expect(redisUrl({ token: "t0ken", host: "master.x.cache.amazonaws.com", port: 6379, db: 0 })).toBe(
      "rediss://:t0ken@master.x.cache.amazonaws.com:6379/0?ssl_cert_reqs=required",
    );
  });

  test("property: any token survives (percent-encoded), with no user name", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), hostArb, (token, host) => {
        const url = new URL(redisUrl({ token, host, port: 6379, db: 0 }));
        expect(url.protocol).toBe("rediss:");
        expect(url.username).toBe("");
        expect(decodeURIComponent(url.password)).toBe(token);
        expect(url.hostname).toBe(host);
        expect(url.pathname).toBe("/0");
        expect(url.searchParams.get("ssl_cert_reqs")).toBe("required");
      }),
    );
  });
});

describe("auth tokens", () => {
  test("ElastiCache's rules: 16 to 128 printable characters, none of space / \" @", () => {
    expect(isValidAuthToken("a".repeat(16))).toBe(true);
    expect(isValidAuthToken("a".repeat(128))).toBe(true);
    expect(isValidAuthToken("a".repeat(15))).toBe(false);
    expect(isValidAuthToken("a".repeat(129))).toBe(false);
    for (const c of [" ", "/", '"', "@", "\n", "é"]) expect(isValidAuthToken(`${"a".repeat(20)}${c}`)).toBe(false);
  });

  test("property: a token of letters and digits (what RandomPassword makes with special: false) is always valid", () => {
    fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9]{16,128}$/), (t) => expect(isValidAuthToken(t)).toBe(true)));
  });
});

describe("cacheTopology", () => {
  test("no replica: one node, no failover; replicas: failover and Multi-AZ", () => {
    expect(cacheTopology(0)).toEqual({ numCacheClusters: 1, automaticFailoverEnabled: false, multiAzEnabled: false });
    expect(cacheTopology(2)).toEqual({ numCacheClusters: 3, automaticFailoverEnabled: true, multiAzEnabled: true });
  });

  test.each([-1, 6, 1.5])("refuses %s replicas", (n) => expect(() => cacheTopology(n)).toThrow(/replicas/));
});
