/**
 * The stacks of the scale-out test program (fixtures/aws-program.ts): a "prod-like" one (3 hosts,
 * protect on, a cache replica, 3 zones) and a small one (1 host, protect off, 2 zones).
 */
import * as path from "path";
import { ConfigInput, ProgramRun, runProgram } from "./harness";

export const AWS_PROGRAM = path.join(__dirname, "fixtures", "aws-program");
export const SINGLE_HOST_PROGRAM = path.join(__dirname, "fixtures", "single-host-program");
export const ZONE_ID = "Z0123456789ABCDEFGHIJ";
export const OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyForTestsOnly0000000000000000 operator";

export interface AwsStack {
  stack: string;
  hosts: number;
  protect: boolean;
  zones: number;
  cacheReplicas: number;
  domain: string;
}

export const AWS_STACKS: Record<"prodLike" | "small", AwsStack> = {
  prodLike: { stack: "prod", hosts: 3, protect: true, zones: 3, cacheReplicas: 1, domain: "example.com" },
  small: { stack: "staging", hosts: 1, protect: false, zones: 2, cacheReplicas: 0, domain: "staging.example.com" },
};

export function awsConfig(s: AwsStack, overrides: Record<string, unknown> = {}): ConfigInput {
  const values: Record<string, unknown> = {
    hosts: s.hosts,
    protect: s.protect,
    zones: s.zones,
    cacheReplicas: s.cacheReplicas,
    domain: s.domain,
    zoneId: ZONE_ID,
    sshPublicKey: OPERATOR_KEY,
    sshAllowedCidrs: ["203.0.113.0/24", "2001:db8:42::/48"],
    ...overrides,
  };
  return {
    values: Object.fromEntries(
      Object.entries(values)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [`fixture:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
    ),
    secretKeys: [],
  };
}

export const runAwsStack = (s: AwsStack, overrides: Record<string, unknown> = {}): Promise<ProgramRun> =>
  runProgram(awsConfig(s, overrides), { stack: s.stack, program: AWS_PROGRAM });
