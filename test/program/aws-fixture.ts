/**
 * Two load-balanced EC2 stacks of the real program (index.ts → components/aws/fleet.ts), for the
 * tests that read the AWS side from the registration requests: a "prod-like" one (3 hosts, protect
 * on, a cache replica, 3 zones) and a small one (1 host behind the ALB, protect off, 2 zones). Both
 * with RDS and ElastiCache; their stack files (Pulumi.prod.yaml, Pulumi.staging.yaml) give the rest.
 */
import * as path from "path";
import { FAKE_SECRETS, ProgramRun, runProgram, stackConfig } from "./harness";

export const SINGLE_HOST_PROGRAM = path.join(__dirname, "fixtures", "single-host-program");
export const ZONE_ID = "Z0123456789ABCDEFGHIJ";
export const OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyForTestsOnly0000000000000000 operator";

export interface AwsStack {
  stack: "prod" | "staging";
  hosts: number;
  protect: boolean;
  zones: number;
  cacheReplicas: number;
  domain: string;
  /** As its stack file sets it. */
  rootVolumeGiB: number;
}

export const AWS_STACKS: Record<"prodLike" | "small", AwsStack> = {
  prodLike: { stack: "prod", hosts: 3, protect: true, zones: 3, cacheReplicas: 1, domain: "example.com", rootVolumeGiB: 30 },
  small: { stack: "staging", hosts: 1, protect: false, zones: 2, cacheReplicas: 0, domain: "staging.example.com", rootVolumeGiB: 12 },
};

/** The stack's settings (unprefixed keys; undefined removes one the stack file sets). */
export const awsSettings = (s: AwsStack, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  appHosts: s.hosts,
  loadBalancer: true,
  database: "rds",
  redis: "elasticache",
  protect: s.protect,
  zones: s.zones,
  cacheReplicas: s.cacheReplicas,
  domain: s.domain,
  dnsZoneId: ZONE_ID,
  healthCheckPath: "/healthz",
  // The program writes DATABASE_URL (RDS); the app's own secret stays.
  appEnv: JSON.stringify({ SECRET_KEY: FAKE_SECRETS.appEnv.SECRET_KEY }),
  // The load balancer holds the certificate: no Certbot on the hosts.
  certbotEmail: undefined,
  acmeServer: undefined,
  sshPublicKey: OPERATOR_KEY,
  sshAllowedCidrs: ["203.0.113.0/24", "2001:db8:42::/48"],
  ...overrides,
});

export const runAwsStack = (s: AwsStack, overrides: Record<string, unknown> = {}): Promise<ProgramRun> =>
  runProgram(stackConfig(s.stack, awsSettings(s, overrides)), { stack: s.stack });
