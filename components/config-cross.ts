/**
 * The cross-field rules of the configuration: what holds between settings once each one is valid
 * on its own (an EC2 host needs its SSH settings, an existing server its host key, TLS an email,
 * socket paths that fit, …), plus the data tier's (config-data.ts) and scale-out's
 * (config-scale.ts). config.ts runs them after the schema; each problem names the setting and
 * what would be valid.
 */
import { layoutOf, RESERVED_DIRS } from "./layout";
import { LOADER_ENV, RESERVED_ENV, RawSettings, SECRET_KEYS, SHELL_SPECIAL_ENV } from "./config-schema";
import {
  accountProblems,
  appEnvNameProblems,
  baseDirProblem,
  hostKeyProblems,
  repoUrlProblems,
  sshAllowListConfigProblems,
} from "./config-rules";
import { dataTierProblems } from "./config-data";
import { behindLoadBalancer, scaleProblems } from "./config-scale";

const NAMESPACE = "django-deploy";

/** sun_path holds 108 bytes with the terminating NUL: longer socket paths fail in nginx and Gunicorn. */
const UNIX_SOCKET_PATH_MAX = 107;

export const isSecretKey = (key: string) => (SECRET_KEYS as readonly string[]).includes(key);

export function describeValue(key: string, raw: Record<string, string>): string {
  if (isSecretKey(key) || !(key in raw)) return "";
  const value = raw[key];
  return ` (got ${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)})`;
}

export function crossFieldProblems(s: RawSettings, secretKeys: ReadonlySet<string>, raw: Record<string, string>): string[] {
  const problems: string[] = [];
  const key = (k: string) => `${NAMESPACE}:${k}`;
  for (const k of SECRET_KEYS) {
    if (k in raw && !secretKeys.has(k)) {
      problems.push(`${key(k)}: must be set as a secret: pulumi config set --secret ${k} …`);
    }
  }
  const ec2 = !s.host && !s.hosts;
  if (ec2) {
    if (!s.sshAllowedCidrs) {
      problems.push(
        `${key("sshAllowedCidrs")}: is required for an EC2 host: list who may reach port 22, e.g. ["203.0.113.4/32"] (or set host for an existing server)`,
      );
    }
    if (!s.sshPublicKey) {
      problems.push(
        `${key("sshPublicKey")}: is required for an EC2 host: the public half of sshPrivateKey, e.g. "ssh-ed25519 AAAA… deploy"`,
      );
    }
    // Nothing moves the AMI's sshd off port 22: another port would only open the security group there,
    // and host-wait would dial it until its dial limit ran out.
    if (s.sshPort !== 22) {
      problems.push(
        `${key("sshPort")}: must be 22 for an EC2 host (the Debian AMI's sshd listens on 22); another port is for an existing server (set host)${describeValue("sshPort", raw)}`,
      );
    }
  }
  if (!s.hosts) for (const { key: k, problem } of hostKeyProblems(s)) problems.push(`${key(k)}: ${problem}`);
  else if (s.sshHostKeys && s.sshTrustOnFirstUse)
    problems.push(
      `${key("sshTrustOnFirstUse")}: must not be set with sshHostKeys: the given keys are checked from the first connection on; remove one of them`,
    );
  if (s.dnsZoneId && s.hosts) {
    problems.push(`${key("dnsZoneId")}: not with hosts: point ${s.domain} and www.${s.domain} at your load balancer (remove dnsZoneId)`);
  }
  if (s.dnsZoneId && s.host && !/^\d+\.\d+\.\d+\.\d+$/.test(s.host)) {
    problems.push(
      `${key("dnsZoneId")}: needs host to be an IPv4 address (the A records point at it), or no host (EC2)${describeValue("host", raw)}`,
    );
  }
  // The rules the policy pack applies too (components/cidr.ts): what the config accepts, the pack accepts.
  for (const problem of sshAllowListConfigProblems(s.sshAllowedCidrs ?? [], s.sshAllowWorld))
    problems.push(`${key("sshAllowedCidrs")}: ${problem}`);
  if (s.tls && !s.certbotEmail && !behindLoadBalancer(s)) {
    problems.push(`${key("certbotEmail")}: is required when tls is on: an email address such as ops@example.com for the ACME account`);
  }
  for (const p of appEnvNameProblems(Object.keys(s.appEnv), RESERVED_ENV, SHELL_SPECIAL_ENV, LOADER_ENV))
    problems.push(`${key("appEnv")}: ${p}`);
  for (const { key: k, problem } of accountProblems(s)) problems.push(`${key(k)}: ${problem}${describeValue(k, raw)}`);
  const base = baseDirProblem(s.baseDir, s.appUser);
  if (base) problems.push(`${key("baseDir")}: ${base}${describeValue("baseDir", raw)}`);
  const transport = { allowInsecure: s.repoAllowInsecureTransport, hasToken: s.repoToken !== undefined };
  for (const { key: k, problem } of repoUrlProblems(s.repoUrl, transport)) problems.push(`${key(k)}: ${problem}`);
  // zod drops a "__proto__" key without a word; the setting would silently be missing on the host.
  if (raw.appEnv !== undefined && Object.prototype.hasOwnProperty.call(JSON.parse(raw.appEnv), "__proto__")) {
    problems.push(`${key("appEnv")}: must not set __proto__: not usable as a setting name here`);
  }
  // The longest socket path of the layout (nginx connects through live.sock, which is shorter).
  const socket = layoutOf(s).socket("a");
  if (Buffer.byteLength(socket) > UNIX_SOCKET_PATH_MAX) {
    problems.push(
      `${key("baseDir")}: is too long for this domain: the Gunicorn socket ${socket} would be ${Buffer.byteLength(socket)} bytes, a unix socket path holds at most ${UNIX_SOCKET_PATH_MAX}; use a shorter baseDir such as /www${describeValue("baseDir", raw)}`,
    );
  }
  for (const k of ["djangoDir", "homepageDir"] as const) {
    if (RESERVED_DIRS.includes(s[k])) {
      problems.push(
        `${key(k)}: must not be one of ${RESERVED_DIRS.join(", ")}: the program creates those in every release${describeValue(k, raw)}`,
      );
    }
  }
  if (s.djangoDir === s.homepageDir) problems.push(`${key("homepageDir")}: must differ from djangoDir`);
  problems.push(...dataTierProblems(s, raw, (k) => describeValue(k, raw)));
  problems.push(...scaleProblems(s, raw, (k) => describeValue(k, raw)));
  return problems;
}
