/**
 * The data tier's secrets (database: host): the app role's password — a @pulumi/random
 * RandomPassword, kept only in Pulumi's secrets and on the host — and what the host receives of
 * it, on standard input only: `.server.envrc`'s DATABASE_URL for the app, and the password's
 * SCRAM-SHA-256 verifier for PostgreSQL (which never sees the password itself). Also the backup
 * bucket's credentials file of an existing server.
 */
import { createHash, createHmac, pbkdf2Sync } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { S3Credentials } from "./config";
import type { Layout } from "./layout";

/** Letters and digits only: the password sits in a URL and must read back exactly. */
export function databasePassword(): random.RandomPassword {
  return new random.RandomPassword("database-password", { length: 40, special: false });
}

/** DATABASE_URL for the app: the role, its password, the database, the server's unix socket directory. */
export function databaseUrl(p: Layout, password: string): string {
  if (!/^[A-Za-z0-9]+$/.test(password)) throw new Error("the database password must be letters and digits");
  // libpq's own URI form for a socket directory (django-environ 0.4.4 reads it as OPTIONS host).
  return `postgres://${encodeURIComponent(p.database.role)}:${password}@/${encodeURIComponent(p.database.name)}?host=${p.database.socketDir}`;
}

const ITERATIONS = 4096;
const hmac = (key: Buffer, data: string | Buffer) => createHmac("sha256", key).update(data).digest();

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as PostgreSQL writes
 * it: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`). The salt is derived from the
 * password, so the same password gives the same verifier: the step's input changes only when the
 * password does, and a no-op up runs nothing. (An ASCII password needs no SASLprep.)
 */
export function scramVerifier(password: string): string {
  const salt = hmac(Buffer.from("django-deploy scram salt"), password).subarray(0, 16);
  const salted = pbkdf2Sync(password, salt, ITERATIONS, 32, "sha256");
  const storedKey = createHash("sha256").update(hmac(salted, "Client Key")).digest();
  const serverKey = hmac(salted, "Server Key");
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** The AWS shared credentials file of the backup bucket (existing server). */
export function backupCredentialsFile(c: S3Credentials): string {
  return `[default]\naws_access_key_id = ${c.accessKeyId}\naws_secret_access_key = ${c.secretAccessKey}\n`;
}

/** The data tier's secret standard inputs, as secret Outputs. */
export function dataStdin(password: pulumi.Output<string>, credentials?: pulumi.Output<S3Credentials>) {
  return {
    databaseVerifier: pulumi.secret(password.apply(scramVerifier)),
    ...(credentials ? { backupCredentials: pulumi.secret(credentials.apply(backupCredentialsFile)) } : {}),
  };
}
