/**
 * An S3-compatible server standing in for the backup and media buckets: the `s3rver` npm package
 * (pinned devDependency), run in this process on a test host's gateway address, so the host reaches
 * it as an instance reaches S3's endpoint, and it ends with the test run. Objects are files under
 * the host's run directory (deleted with the host).
 *
 * ```ts
 * const s3 = await startS3Server(host, { bucket: "backups" });
 * s3.endpoint  // http://10.200.N.1:4568 (path-style: <endpoint>/<bucket>/<key>)
 * s3.accessKeyId, s3.secretAccessKey, s3.region, s3.bucket
 * await s3.listObjects();          // keys in the bucket, via the S3 REST API
 * await s3.stop();
 * ```
 * Credentials: a key pair generated at every start. s3rver checks that the access key id exists and
 * verifies Signature V2 (what listObjects sends); a Signature V4 request (boto3, awscli) is accepted
 * with any secret for a known key id — s3rver does not compute V4 signatures.
 */
import { createHmac, randomBytes } from "crypto";
import * as http from "http";
import * as path from "path";
import S3rver from "s3rver";
import { DUMMY_ACCOUNT } from "s3rver/lib/models/account";
import { TestHost } from "./testhost";

export interface S3Server {
  /** http://<gateway>:<port> */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Where s3rver keeps the objects, on this machine. */
  directory: string;
  /** The keys in `bucket` (or another one), listed over HTTP with Signature V2. */
  listObjects(opts?: { bucket?: string; prefix?: string; secretAccessKey?: string }): Promise<string[]>;
  stop(): Promise<void>;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("timeout", () => req.destroy(new Error(`timeout: GET ${url}`)));
    req.on("error", reject);
  });
}

/** Start s3rver on `host`'s gateway with one bucket (see the module doc). */
export async function startS3Server(host: TestHost, opts: { bucket?: string; port?: number; region?: string } = {}): Promise<S3Server> {
  const bucket = opts.bucket ?? "test-bucket";
  if (!BUCKET.test(bucket)) throw new Error(`bad bucket name ${bucket}`);
  const port = opts.port ?? 4568;
  const region = opts.region ?? "us-east-1";
  const directory = path.join(host.runDir, `s3-${port}`);
  const accessKeyId = `AKIA${randomBytes(8).toString("hex").toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString("base64");
  DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  const server = new S3rver({
    address: host.gateway,
    port,
    silent: true,
    directory,
    // Path-style only: the endpoint is an IP address, there is no <bucket>.<endpoint> name.
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  try {
    await server.run();
  } catch (e) {
    DUMMY_ACCOUNT.revokeAccessKey(accessKeyId);
    throw new Error(`s3rver on ${host.gateway}:${port} did not start: ${(e as Error).message}`);
  }
  const endpoint = `http://${host.gateway}:${port}`;
  let stopped = false;
  return {
    endpoint,
    region,
    bucket,
    accessKeyId,
    secretAccessKey,
    directory,
    listObjects: async (o = {}) => {
      const b = o.bucket ?? bucket;
      const date = new Date().toUTCString();
      // With x-amz-date the Date line is empty and the header is signed among the x-amz-* ones.
      const toSign = ["GET", "", "", "", `x-amz-date:${date}`, `/${b}`].join("\n");
      const sig = createHmac("sha1", o.secretAccessKey ?? secretAccessKey)
        .update(toSign, "utf8")
        .digest("base64");
      const query = o.prefix ? `?prefix=${encodeURIComponent(o.prefix)}` : "";
      const r = await get(`${endpoint}/${b}${query}`, { "x-amz-date": date, Authorization: `AWS ${accessKeyId}:${sig}` });
      if (r.status !== 200) throw new Error(`ListObjects ${b}: HTTP ${r.status}\n${r.body}`);
      return [...r.body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.close();
      DUMMY_ACCOUNT.revokeAccessKey(accessKeyId);
    },
  };
}
