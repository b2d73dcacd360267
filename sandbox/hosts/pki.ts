/**
 * A small certificate authority made with openssl on this machine, per stand-in (the data host,
 * the load balancer, the S3 server each have their own, as AWS services have theirs), and a way to
 * make a test host trust one. Keys stay in the directory given (a host's run directory, deleted with
 * it by down.sh); nothing is cached or committed.
 *
 * ```ts
 * const ca = makeCa(path.join(host.runDir, "data-ca"), "data host CA");
 * const cert = issueCert(ca, "db", { ips: [host.ip] });   // cert.certPem, cert.keyPem
 * await trustCa(client, ca.pem, "djdeploy-data");          // system store of the client host
 * ```
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { TestHost, shq } from "./testhost";

export interface Ca {
  dir: string;
  /** The CA certificate (PEM) on this machine: what clients trust. */
  certPath: string;
  keyPath: string;
  pem: string;
}

export interface IssuedCert {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  /** The certificate followed by the key (what haproxy's `crt` reads). */
  bundlePem: string;
}

export interface CertNames {
  dns?: string[];
  ips?: string[];
  /** RSA 2048 (what ACM issues by default) or P-256 (default). */
  key?: "rsa2048" | "p256";
  days?: number;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr || r.error?.message}`);
}

const keyArgs = (key: CertNames["key"]) =>
  key === "rsa2048" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

/** A fresh CA (P-256, 30 days) in `dir` (created; an existing one is replaced). */
export function makeCa(dir: string, commonName: string, days = 30): Ca {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(
    [
      "req",
      "-x509",
      ...keyArgs("p256"),
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      String(days),
      "-subj",
      `/CN=django-deploy test ${commonName}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  const certPath = path.join(dir, "ca.pem");
  return { dir, certPath, keyPath: path.join(dir, "ca.key"), pem: fs.readFileSync(certPath, "utf8") };
}

/** A server certificate signed by `ca` for the names given (subjectAltName), files `<id>.pem/.key`. */
export function issueCert(ca: Ca, id: string, names: CertNames): IssuedCert {
  if (!/^[a-z0-9-]+$/.test(id)) throw new Error(`bad certificate id ${id}`);
  const san = [...(names.dns ?? []).map((d) => `DNS:${d}`), ...(names.ips ?? []).map((ip) => `IP:${ip}`)];
  if (san.length === 0) throw new Error("a server certificate needs at least one name");
  const cn = names.dns?.[0] ?? names.ips![0];
  openssl(["req", "-new", ...keyArgs(names.key), "-nodes", "-keyout", `${id}.key`, "-out", `${id}.csr`, "-subj", `/CN=${cn}`], ca.dir);
  fs.writeFileSync(
    path.join(ca.dir, `${id}.ext`),
    [
      `subjectAltName=${san.join(",")}`,
      "basicConstraints=critical,CA:FALSE",
      `keyUsage=critical,digitalSignature${names.key === "rsa2048" ? ",keyEncipherment" : ""}`,
      "extendedKeyUsage=serverAuth",
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid:always",
      "",
    ].join("\n"),
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${id}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${id}.pem`,
      "-days",
      String(names.days ?? 30),
      "-extfile",
      `${id}.ext`,
    ],
    ca.dir,
  );
  const certPath = path.join(ca.dir, `${id}.pem`);
  const keyPath = path.join(ca.dir, `${id}.key`);
  fs.chmodSync(keyPath, 0o600);
  const certPem = fs.readFileSync(certPath, "utf8");
  const keyPem = fs.readFileSync(keyPath, "utf8");
  return { certPath, keyPath, certPem, keyPem, bundlePem: certPem + keyPem };
}

/** Where trustCa puts a CA on a host (Debian's local CA directory). */
export const trustedCaPath = (name: string) => `/usr/local/share/ca-certificates/${name}.crt`;

/** The system bundle on a Debian host, which includes every CA trusted with trustCa. */
export const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * Make a test host trust a CA system-wide (Debian's update-ca-certificates: OpenSSL, Python's ssl
 * default context, curl, awscli with the system bundle), as hosts trust a public CA. Idempotent.
 */
export async function trustCa(host: TestHost, pem: string, name: string): Promise<void> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad CA name ${name}`);
  await host.writeFile(trustedCaPath(name), pem);
  await host.run(`sudo update-ca-certificates >/dev/null && grep -qF ${shq(pem.split("\n")[1])} ${SYSTEM_CA_BUNDLE}`);
}
