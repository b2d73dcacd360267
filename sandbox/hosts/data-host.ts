/**
 * A data host standing in for RDS PostgreSQL and ElastiCache Redis: one test host running Debian's
 * PostgreSQL 15 and Redis 7, reached from app hosts the way the managed services are — over the
 * network, TLS required, password required.
 *
 * - PostgreSQL on TCP 5432: `hostssl` only (plaintext is rejected by pg_hba.conf, like
 *   rds.force_ssl=1), scram-sha-256, TLS 1.2+, a server certificate for the host's IP from a CA
 *   made here; one database and one role owning it, with a generated password.
 * - Redis on TLS port 6380 only (`port 0`), the default user's password (`requirepass`, like an
 *   ElastiCache AUTH token) and an ACL user with its own password (like ElastiCache RBAC); clients
 *   need no certificate of their own.
 * - Both restart by themselves after a crash (systemd `Restart=on-failure`), as a managed service
 *   comes back; `kill*` / `stop*` / `start*` are there for fault tests.
 *
 * ```ts
 * const data = await startDataHost({ index: 80 });
 * await data.trustOn(app);     // the CA at DATA_CA_CLIENT_PATH on app, and in its system store
 * data.databaseUrl()           // postgres://app:…@10.200.80.2:5432/app?sslmode=verify-full&sslrootcert=…
 * data.brokerUrl()             // rediss://:…@10.200.80.2:6380/0?ssl_cert_reqs=required&ssl_ca_certs=…
 * await data.psql("select count(*) from django_migrations");
 * ```
 * Secrets are generated at every start and travel only in ssh's standard input (never a command
 * line); on this machine they are kept in the host's run directory (the CA key).
 */
import { randomBytes } from "crypto";
import * as path from "path";
import { aptInstall } from "./packages";
import { Ca, IssuedCert, issueCert, makeCa, trustCa, trustedCaPath } from "./pki";
import { TestHost, shq, startTestHost } from "./testhost";

export const DATA_HOST_PACKAGES = ["postgresql-15", "redis-server"];
const PG = "/etc/postgresql/15/main";
const PG_UNIT = "postgresql@15-main.service";
const REDIS_UNIT = "redis-server.service";
const DATA_CA_NAME = "djdeploy-data-ca";
/** Where trustOn() puts the data CA on a client host: the URLs' sslrootcert / ssl_ca_certs. */
export const DATA_CA_CLIENT_PATH = trustedCaPath(DATA_CA_NAME);

export interface DataHostOptions {
  database?: string;
  user?: string;
  postgresPort?: number;
  redisPort?: number;
  /** The network allowed to connect (pg_hba.conf), like a security group; default all test hosts. */
  allowedCidr?: string;
}

export interface DataHostParams extends Required<DataHostOptions> {
  address: string;
  password: string;
  redisToken: string;
  redisUser: string;
  redisUserPassword: string;
  cert: Pick<IssuedCert, "certPem" | "keyPem">;
  caPem: string;
}

export interface DataHost {
  host: TestHost;
  /** The address app hosts connect to (10.200.<index>.2). */
  address: string;
  /** The CA that signed both servers' certificates (PEM, and its file on this machine). */
  caPem: string;
  caPath: string;
  postgres: { host: string; port: number; database: string; user: string; password: string };
  redis: { host: string; port: number; token: string; user: string; userPassword: string };
  /**
   * postgres://user:password@address:port/database?sslmode=verify-full&sslrootcert=<caFile>: TLS
   * with the server's name checked, as against RDS with its CA bundle. `caFile` is a path on the
   * client (default DATA_CA_CLIENT_PATH, which trustOn() writes).
   */
  databaseUrl(caFile?: string): string;
  /** rediss://:token@address:port/0?ssl_cert_reqs=required&ssl_ca_certs=<caFile> (Celery's broker URL). */
  brokerUrl(caFile?: string): string;
  /** Make a client host trust the data CA: at DATA_CA_CLIENT_PATH and in its system store. */
  trustOn(client: TestHost): Promise<void>;
  /** Run SQL as the postgres superuser on the data host (psql -At, stops at the first error). */
  psql(sql: string, opts?: { database?: string }): Promise<string>;
  /** redis-cli on the data host over TLS with the default user's token; resolves to its output. */
  redisCli(args: string[]): Promise<string>;
  killPostgres(): Promise<void>;
  stopPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  /** Resolves when PostgreSQL accepts TLS connections again (e.g. after killPostgres). */
  waitForPostgres(timeoutMs?: number): Promise<void>;
  killRedis(): Promise<void>;
  stopRedis(): Promise<void>;
  startRedis(): Promise<void>;
  waitForRedis(timeoutMs?: number): Promise<void>;
  /** Stops the test host (when startDataHost booted it). */
  stop(): Promise<void>;
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const secret = () => randomBytes(24).toString("hex");
/** A CA file path as a URL query value, readable as is (no percent-encoding needed). */
function caPathParam(file: string): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(file)) throw new Error(`CA file path ${JSON.stringify(file)}: absolute, [A-Za-z0-9._/-] only`);
  return file;
}

/** The root script that configures both servers (bash -s; secrets inside, never on a command line). */
export function dataHostScript(p: DataHostParams): string {
  for (const n of [p.database, p.user, p.redisUser]) if (!NAME.test(n)) throw new Error(`bad name ${n}`);
  for (const s of [p.password, p.redisToken, p.redisUserPassword]) if (!/^[A-Za-z0-9]{16,}$/.test(s)) throw new Error("bad secret");
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(p.allowedCidr)) throw new Error(`bad CIDR ${p.allowedCidr}`);
  const restart = "[Service]\nRestart=on-failure\nRestartSec=1s\n";
  return `set -euo pipefail
umask 077
for unit in ${PG_UNIT} ${REDIS_UNIT}; do
  install -d -m 0755 "/etc/systemd/system/$unit.d"
  printf '%s' ${shq(restart)} >"/etc/systemd/system/$unit.d/50-standin-restart.conf"
  chmod 0644 "/etc/systemd/system/$unit.d/50-standin-restart.conf"
done
systemctl daemon-reload

# --- PostgreSQL: TLS only, scram-sha-256 -------------------------------------------------------
install -d -o postgres -g postgres -m 0700 ${PG}/tls
cat >${PG}/tls/server.crt <<'PEM'
${p.cert.certPem.trim()}
PEM
cat >${PG}/tls/server.key <<'PEM'
${p.cert.keyPem.trim()}
PEM
chown postgres:postgres ${PG}/tls/server.crt ${PG}/tls/server.key
chmod 0600 ${PG}/tls/server.key
cat >${PG}/conf.d/50-standin.conf <<'CONF'
listen_addresses = '*'
port = ${p.postgresPort}
ssl = on
ssl_cert_file = '${PG}/tls/server.crt'
ssl_key_file = '${PG}/tls/server.key'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
CONF
cat >${PG}/pg_hba.conf <<'HBA'
# TYPE   DATABASE USER     ADDRESS                METHOD
local    all      postgres                        peer
hostssl  all      all      ${p.allowedCidr.padEnd(22)} scram-sha-256
host     all      all      0.0.0.0/0              reject
HBA
chown postgres:postgres ${PG}/conf.d/50-standin.conf ${PG}/pg_hba.conf
chmod 0640 ${PG}/conf.d/50-standin.conf ${PG}/pg_hba.conf
systemctl restart ${PG_UNIT}
for _ in $(seq 100); do pg_isready -q -h /var/run/postgresql -p ${p.postgresPort} && break; sleep 0.2; done
pg_isready -q -h /var/run/postgresql -p ${p.postgresPort}
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p ${p.postgresPort} <<'SQL'
CREATE ROLE "${p.user}" LOGIN PASSWORD '${p.password}';
CREATE DATABASE "${p.database}" OWNER "${p.user}";
SQL

# --- Redis: TLS port only, AUTH token and an ACL user -------------------------------------------
install -d -o redis -g redis -m 0755 /etc/redis/tls
cat >/etc/redis/tls/server.crt <<'PEM'
${p.cert.certPem.trim()}
PEM
cat >/etc/redis/tls/server.key <<'PEM'
${p.cert.keyPem.trim()}
PEM
cat >/etc/redis/tls/ca.crt <<'PEM'
${p.caPem.trim()}
PEM
cat >/etc/redis/standin.conf <<'CONF'
bind * -::*
port 0
tls-port ${p.redisPort}
tls-cert-file /etc/redis/tls/server.crt
tls-key-file /etc/redis/tls/server.key
tls-ca-cert-file /etc/redis/tls/ca.crt
tls-auth-clients no
tls-protocols "TLSv1.2 TLSv1.3"
requirepass ${p.redisToken}
user ${p.redisUser} on >${p.redisUserPassword} ~* &* +@all
CONF
chown redis:redis /etc/redis/tls/* /etc/redis/standin.conf
chmod 0640 /etc/redis/tls/server.key /etc/redis/standin.conf
chmod 0644 /etc/redis/tls/server.crt /etc/redis/tls/ca.crt
# Later directives win: the include goes last.
grep -qx 'include /etc/redis/standin.conf' /etc/redis/redis.conf || echo 'include /etc/redis/standin.conf' >>/etc/redis/redis.conf
systemctl restart ${REDIS_UNIT}
export REDISCLI_AUTH=${p.redisToken}
for _ in $(seq 100); do
  [ "$(redis-cli --tls --cacert /etc/redis/tls/ca.crt -h ${p.address} -p ${p.redisPort} ping 2>/dev/null)" = PONG ] && break
  sleep 0.2
done
[ "$(redis-cli --tls --cacert /etc/redis/tls/ca.crt -h ${p.address} -p ${p.redisPort} ping)" = PONG ]
`;
}

/** Configure PostgreSQL and Redis as managed-service stand-ins on an existing test host. */
export async function provisionDataHost(host: TestHost, opts: DataHostOptions = {}): Promise<DataHost> {
  const ca: Ca = makeCa(path.join(host.runDir, "data-ca"), "data host CA");
  const cert = issueCert(ca, "data", { ips: [host.ip] });
  const p: DataHostParams = {
    database: opts.database ?? "app",
    user: opts.user ?? "app",
    postgresPort: opts.postgresPort ?? 5432,
    redisPort: opts.redisPort ?? 6380,
    allowedCidr: opts.allowedCidr ?? "10.200.0.0/16",
    address: host.ip,
    password: secret(),
    redisToken: secret(),
    redisUser: "app",
    redisUserPassword: secret(),
    cert,
    caPem: ca.pem,
  };
  await aptInstall(host, DATA_HOST_PACKAGES);
  await host.run("sudo bash -s", { stdin: dataHostScript(p), timeoutMs: 5 * 60_000 });
  // The data host trusts its own CA too: redisCli verifies against it.
  await trustCa(host, ca.pem, DATA_CA_NAME);

  const e = encodeURIComponent;
  const base = `postgres://${e(p.user)}:${e(p.password)}@${p.address}:${p.postgresPort}/${e(p.database)}`;
  const redisCli = (args: string[]) =>
    host.run(
      `REDISCLI_AUTH="$(cat)" redis-cli --tls --cacert ${DATA_CA_CLIENT_PATH} -h ${p.address} -p ${p.redisPort} ${args.map(shq).join(" ")}`,
      {
        stdin: p.redisToken,
        timeoutMs: 60_000,
      },
    );
  const waitUntil = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${host.name}: ${what} not back after ${timeoutMs} ms`);
  };
  // Through TCP and TLS, as clients come: a socket-only check would pass before the listener is up.
  const pgReady = async () => (await host.exec(`pg_isready -q -h ${p.address} -p ${p.postgresPort}`, { timeoutMs: 10_000 })).code === 0;
  const redisReady = async () => (await redisCli(["ping"])).trim() === "PONG";
  const systemctl = (cmd: string) => host.run(`sudo systemctl ${cmd}`, { timeoutMs: 60_000 }).then(() => undefined);

  return {
    host,
    address: p.address,
    caPem: ca.pem,
    caPath: ca.certPath,
    postgres: { host: p.address, port: p.postgresPort, database: p.database, user: p.user, password: p.password },
    redis: { host: p.address, port: p.redisPort, token: p.redisToken, user: p.redisUser, userPassword: p.redisUserPassword },
    databaseUrl: (caFile = DATA_CA_CLIENT_PATH) => `${base}?sslmode=verify-full&sslrootcert=${caPathParam(caFile)}`,
    brokerUrl: (caFile = DATA_CA_CLIENT_PATH) =>
      `rediss://:${e(p.redisToken)}@${p.address}:${p.redisPort}/0?ssl_cert_reqs=required&ssl_ca_certs=${caPathParam(caFile)}`,
    trustOn: (client) => trustCa(client, ca.pem, DATA_CA_NAME),
    psql: (sql, o = {}) =>
      host.run(`sudo -u postgres psql -X -At -v ON_ERROR_STOP=1 -p ${p.postgresPort} -d ${shq(o.database ?? p.database)}`, {
        stdin: sql,
        timeoutMs: 5 * 60_000,
      }),
    redisCli,
    // SIGKILL to the main process only, as a crash: systemd restarts it (Restart=on-failure).
    killPostgres: () => systemctl(`kill --kill-whom=main --signal=SIGKILL ${PG_UNIT}`),
    stopPostgres: () => systemctl(`stop ${PG_UNIT}`),
    startPostgres: () => systemctl(`start ${PG_UNIT}`),
    waitForPostgres: (timeoutMs = 60_000) => waitUntil("PostgreSQL", pgReady, timeoutMs),
    killRedis: () => systemctl(`kill --kill-whom=main --signal=SIGKILL ${REDIS_UNIT}`),
    stopRedis: () => systemctl(`stop ${REDIS_UNIT}`),
    startRedis: () => systemctl(`start ${REDIS_UNIT}`),
    waitForRedis: (timeoutMs = 60_000) => waitUntil("Redis", redisReady, timeoutMs),
    stop: () => Promise.resolve(),
  };
}

/** Boot a fresh test host and make it the data host (see the module doc). */
export async function startDataHost(opts: DataHostOptions & { index: number; name?: string; persistent?: boolean }): Promise<DataHost> {
  const host = await startTestHost(opts.index, opts.name ?? `data${opts.index}`, { persistent: opts.persistent });
  try {
    const data = await provisionDataHost(host, opts);
    return { ...data, stop: () => host.stop() };
  } catch (e) {
    await host.stop().catch(() => undefined);
    throw e;
  }
}
