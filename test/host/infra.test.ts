/**
 * The local stand-ins for the managed services that the data-tier and scale-out tests run against
 * (sandbox/hosts/data-host.ts, load-balancer.ts, s3.ts), proven from other test hosts as an app
 * host would use them: PostgreSQL and Redis over TLS with passwords (plaintext refused), an haproxy
 * load balancer with active health checks that routes around a powered-off target without a failed
 * request, and an S3-compatible server. Four hosts, shared by every test here; needs root.
 */
import { DataHost, provisionDataHost } from "../../sandbox/hosts/data-host";
import { haproxyConfig, LoadBalancer, provisionLoadBalancer } from "../../sandbox/hosts/load-balancer";
import { aptInstall } from "../../sandbox/hosts/packages";
import { S3Server, startS3Server } from "../../sandbox/hosts/s3";
import { shq, TestHost } from "../../sandbox/hosts/testhost";
import { lbGet, serveAppSite, startHosts, traffic } from "./infra-helpers";

// Indexes 80-83 are this file's (80-89 are reserved for the stand-ins' tests).
const MIN = 60_000;
const CLIENT_PACKAGES = ["nginx", "postgresql-client-15", "redis-tools", "python3-psycopg2", "python3-redis", "python3-boto3"];
const HEALTH = { path: "/healthz", host: "www.example.com" };

const measured: Record<string, string> = {};
const since = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

describe("local stand-ins for RDS, ElastiCache, the ALB and S3", () => {
  let hosts: TestHost[] = [];
  let data: DataHost;
  let lb: LoadBalancer;
  let s3: S3Server | undefined;
  let app1: TestHost;
  let app2: TestHost;

  beforeAll(async () => {
    const t0 = Date.now();
    hosts = await startHosts([
      [80, "infdata"],
      [81, "inflb"],
      [82, "infapp1"],
      [83, "infapp2"],
    ]);
    measured["boot 4 hosts"] = since(t0);
    const [dataHost, lbHost] = hosts;
    [, , app1, app2] = hosts;
    const timed = async <T>(what: string, p: Promise<T>): Promise<T> => {
      const t = Date.now();
      const r = await p;
      measured[what] = since(t);
      return r;
    };
    [data, lb] = await Promise.all([
      timed("provision data host (apt + config)", provisionDataHost(dataHost)),
      timed("provision load balancer", provisionLoadBalancer(lbHost, { healthCheck: HEALTH })),
      timed(
        "app1: nginx + clients",
        aptInstall(app1, CLIENT_PACKAGES).then(() => serveAppSite(app1)),
      ),
      timed(
        "app2: nginx",
        aptInstall(app2, ["nginx"]).then(() => serveAppSite(app2)),
      ),
    ]);
    await data.trustOn(app1);
    s3 = await startS3Server(app1, { bucket: "backups" });
    measured["all ready"] = since(t0);
  }, 15 * MIN);

  afterAll(async () => {
    await s3?.stop().catch(() => undefined);
    await Promise.all(hosts.map((h) => h.stop()));
    console.log(
      `infra.test.ts measured:\n${Object.entries(measured)
        .map(([k, v]) => `  ${k}: ${v}`)
        .join("\n")}`,
    );
  }, 3 * MIN);

  describe("data host", () => {
    test("PostgreSQL over TLS with sslmode=verify-full and the generated password", async () => {
      const url = data.databaseUrl();
      expect(url).toMatch(/^postgres:\/\/app:[0-9a-f]{48}@10\.200\.80\.2:5432\/app\?sslmode=verify-full&sslrootcert=\/\S+$/);
      const sql = "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()";
      expect(await app1.run(`psql "$(cat)" -XAt -c ${shq(sql)}`, { stdin: url })).toMatch(/^t\|TLSv1\.[23]$/m);
      // What Django's backend does with the same URL's parameters.
      const py =
        "import psycopg2,sys; c=psycopg2.connect(sys.stdin.read()); k=c.cursor(); k.execute('select current_user'); print(k.fetchone()[0])";
      expect((await app1.run(`python3 -c ${shq(py)}`, { stdin: url })).trim()).toBe("app");
    });

    test("PostgreSQL refuses plaintext, a wrong password, and a server name it cannot verify", async () => {
      const { user, password, host, port, database } = data.postgres;
      const plain = await app1.exec(`psql "$(cat)" -XAt -c 'select 1'`, {
        stdin: `postgres://${user}:${password}@${host}:${port}/${database}?sslmode=disable`,
      });
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toMatch(/pg_hba\.conf rejects connection.*no encryption/);
      const wrong = await app1.exec(`psql "$(cat)" -XAt -c 'select 1'`, { stdin: data.databaseUrl().replace(password, "0".repeat(48)) });
      expect(wrong.stderr).toMatch(/password authentication failed/);
      // The certificate names the address, not this other name for the same host.
      const other = data
        .databaseUrl()
        .replace(`@${host}:`, `@infdata.invalid:`)
        .replace("sslmode=verify-full", `sslmode=verify-full&hostaddr=${host}`);
      const unverified = await app1.exec(`psql "$(cat)" -XAt -c 'select 1'`, { stdin: other });
      expect(unverified.stderr).toMatch(/does not match host name/);
    });

    test("Redis over TLS with the token; plaintext and no token refused", async () => {
      const { host, port, token } = data.redis;
      const cli = `redis-cli --tls --cacert /usr/local/share/ca-certificates/djdeploy-data-ca.crt -h ${host} -p ${port}`;
      expect((await app1.run(`REDISCLI_AUTH="$(cat)" ${cli} ping`, { stdin: token })).trim()).toBe("PONG");
      const noToken = await app1.exec(`${cli} ping`);
      expect(`${noToken.stdout}${noToken.stderr}`).toMatch(/NOAUTH/);
      const plain = await app1.exec(`REDISCLI_AUTH="$(cat)" timeout 10 redis-cli -h ${host} -p ${port} ping`, { stdin: token });
      expect(plain.stdout.trim()).not.toBe("PONG");
      expect(`${plain.stdout}${plain.stderr}`).toMatch(/Connection reset|Error|I\/O/i);
      const oldPort = await app1.exec(`timeout 10 redis-cli -h ${host} -p 6379 ping`);
      expect(`${oldPort.stdout}${oldPort.stderr}`).toMatch(/Connection refused/);
      // The broker URL as Celery's redis-py reads it.
      const py = "import redis,sys; r=redis.Redis.from_url(sys.stdin.read()); r.set('k','v'); print(r.get('k').decode())";
      expect((await app1.run(`python3 -c ${shq(py)}`, { stdin: data.brokerUrl() })).trim()).toBe("v");
      expect((await data.redisCli(["get", "k"])).trim()).toBe("v");
    });
  });

  describe("S3 server", () => {
    test("an upload from a host with boto3, listed from node; unknown keys refused", async () => {
      const s = s3!;
      const py = [
        "import boto3,json,sys",
        "c=json.load(sys.stdin)",
        "s3=boto3.client('s3',endpoint_url=c['endpoint'],region_name=c['region'],aws_access_key_id=c['id'],aws_secret_access_key=c['secret'],config=boto3.session.Config(s3={'addressing_style':'path'}))",
        "s3.put_object(Bucket=c['bucket'],Key='db/2024-01-01.dump',Body=b'dump')",
        "print(s3.get_object(Bucket=c['bucket'],Key='db/2024-01-01.dump')['Body'].read().decode())",
      ].join("\n");
      const creds = { endpoint: s.endpoint, region: s.region, bucket: s.bucket, id: s.accessKeyId, secret: s.secretAccessKey };
      expect((await app1.run(`python3 -c ${shq(py)}`, { stdin: JSON.stringify(creds) })).trim()).toBe("dump");
      expect(await s.listObjects()).toEqual(["db/2024-01-01.dump"]);
      await expect(s.listObjects({ secretAccessKey: "wrong" })).rejects.toThrow(/SignatureDoesNotMatch/);
      const unknown = await app1.exec(`python3 -c ${shq(py)}`, { stdin: JSON.stringify({ ...creds, id: "AKIAUNKNOWN" }) });
      expect(unknown.stderr).toMatch(/InvalidAccessKeyId/);
    });
  });

  describe("load balancer", () => {
    test("the plain-HTTP variant's configuration is valid haproxy", async () => {
      const cfg = haproxyConfig({ tls: false, healthCheck: { path: "/healthz" } });
      await lb.host.writeFile("/tmp/plain.cfg", cfg);
      await lb.host.run("sudo haproxy -c -q -f /tmp/plain.cfg");
    });

    test("both targets become healthy and both get traffic, with X-Forwarded-For/Proto", async () => {
      const t0 = Date.now();
      await lb.setTargets([app1.ip, app2.ip]);
      await lb.waitForTarget(app1.ip, "healthy");
      await lb.waitForTarget(app2.ip, "healthy");
      measured["targets registered -> healthy"] = since(t0);
      const t = await traffic(lb.address, lb.caPem, { ms: 3000 });
      expect(t.failed).toBe(0);
      expect(Object.keys(t.byHost).sort()).toEqual(["infapp1", "infapp2"]);
      const r = await lbGet(lb.address, lb.caPem);
      // This machine is the client: the LB sees it as its gateway address.
      expect(r.body).toMatch(new RegExp(`xff=${lb.host.gateway.replace(/\./g, "\\.")} proto=https`));
      // A health check without the site's Host header would fail (the default server answers 404).
      expect(await app1.run("curl -s -o /dev/null -w '%{http_code}' http://localhost/healthz")).toBe("404");
    });

    test(
      "a powered-off target is routed around (0 failures after detection) and comes back UP",
      async () => {
        let t0 = Date.now();
        await app2.powerOff({ hard: true });
        measured["hard power off"] = since(t0);
        t0 = Date.now();
        const detected = lb.waitForTarget(app2.ip, "unhealthy", 30_000);
        const during = await traffic(lb.address, lb.caPem, { until: detected });
        const down = await detected;
        measured["powered off -> target DOWN"] = `${since(t0)} (${during.failed}/${during.total} requests failed meanwhile, ${down.check})`;
        const after = await traffic(lb.address, lb.caPem, { ms: 5000 });
        expect(after).toMatchObject({ failed: 0, byHost: { infapp1: after.total } });

        t0 = Date.now();
        const poweredOn = app2.powerOn();
        const meanwhile = await traffic(lb.address, lb.caPem, { until: poweredOn });
        await poweredOn;
        await lb.waitForTarget(app2.ip, "healthy", 60_000);
        measured["power on -> target UP"] = since(t0);
        expect(meanwhile.failed).toBe(0);
        const back = await traffic(lb.address, lb.caPem, { ms: 3000 });
        expect(back.failed).toBe(0);
        expect(Object.keys(back.byHost).sort()).toEqual(["infapp1", "infapp2"]);
      },
      3 * MIN,
    );

    test(
      "deregistering drains a target under load without a failed request",
      async () => {
        const removed = lb.deregister(app1.ip, { drainMs: 5000 });
        const t = await traffic(lb.address, lb.caPem, { until: removed });
        await removed;
        expect(t.failed).toBe(0);
        expect((await lb.targets()).map((x) => x.address)).toEqual([app2.ip]);
        const after = await traffic(lb.address, lb.caPem, { ms: 2000 });
        expect(after).toMatchObject({ failed: 0, byHost: { infapp2: after.total } });
        // Registered again, it is listed at once and takes traffic once its checks pass (how soon
        // depends on the check interval, so the state in between is not asserted).
        await lb.register(app1.ip);
        expect((await lb.targets()).map((x) => x.address).sort()).toEqual([app1.ip, app2.ip].sort());
        await lb.waitForTarget(app1.ip, "healthy");
      },
      2 * MIN,
    );
  });
});
