/**
 * Runs the real index.ts (or another program: RunOptions.program) under Pulumi's mocks and records
 * everything the engine would see.
 *
 * - Every RegisterResource request: type, name, inputs (as the mock monitor deserializes them:
 *   secrets stay wrapped as {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value}),
 *   and the resource options that travel in the request (protect, ignoreChanges, dependencies,
 *   additionalSecretOutputs, replaceOnChanges, parent). `Mocks.newResource` only receives
 *   type/name/inputs, so the options are read from the request by wrapping the mock monitor's
 *   `registerResource` — the same request the real engine would get. Also each request's property
 *   dependencies (which resources each input was computed from), as the policy pack's stack
 *   policies see them.
 * - Every invoke (`call`), every component's registered outputs, and the program's exports.
 *
 * Each run loads @pulumi/pulumi, the components and index.ts in a fresh module registry
 * (jest.isolateModules), so the program's top-level code runs again with the new config.
 * Completion: the SDK counts every pending RPC (rpcKeepAlive) and `runtime.waitForRPCs()` — exported
 * at runtime, marked @internal in the typings, the very function `disconnect()` uses before the
 * CLI exits — resolves once that count drains, re-checking after each drain; the exports are then
 * resolved too, and the queue is drained once more.
 */
import { createHash } from "crypto";
import * as path from "path";
import type * as PulumiModule from "@pulumi/pulumi";
import type { RegisterResourceRequest } from "@pulumi/pulumi/proto/resource_pb";
import { STEPS } from "../../components/plan";
import { readStackFile } from "../../scripts/render";
import { Capture, RequestOptions, captureRegistrations, requestKey } from "../../sandbox/registrations";

export const PROJECT = "django-deploy";
export const REPO_ROOT = path.join(__dirname, "..", "..");

/** The signature key and value the SDK uses to mark a secret inside serialized properties. */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Every step of the plan (components/plan.ts), in order, whatever its condition. */
export const DOCUMENTED_STEPS = STEPS.map((d) => d.name);
export const FAKE_IP = "198.51.100.10"; // TEST-NET-2: the fake Elastic IP
export const FAKE_AMI = "ami-0fakedebian12000";

/** Recognizable fake secrets: each contains a marker that must never appear unwrapped. */
export const MARKERS = {
  sshPrivateKey: "FAKESSHPRIVATEKEYMARKER0001",
  repoDeployKey: "FAKEDEPLOYKEYMARKER0002",
  appSecret: "fake-django-secret-MARKER0003",
  dbPassword: "fake-db-password-MARKER0004",
  repoToken: "fake-repo-token-MARKER0008",
} as const;

const pem = (body: string) => `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\n-----END OPENSSH PRIVATE KEY-----\n`;

export const FAKE_SECRETS = {
  sshPrivateKey: pem(`b3BlbnNzaC1rZXktdjEAAAAA ${MARKERS.sshPrivateKey} AAAA`),
  repoDeployKey: pem(`b3BlbnNzaC1rZXktdjEAAAAA ${MARKERS.repoDeployKey} AAAA`),
  repoToken: MARKERS.repoToken,
  appEnv: {
    // A quote and a space: the value must survive shell quoting in .server.envrc.
    SECRET_KEY: `it's a ${MARKERS.appSecret}`,
    DATABASE_URL: `postgres://app:${MARKERS.dbPassword}@db.internal:5432/app`,
  } as Record<string, string>,
};

export interface ConfigInput {
  /** Full keys ("django-deploy:domain", "aws:region") → values exactly as Pulumi passes them (strings). */
  values: Record<string, string>;
  /** Full keys that are secret (PULUMI_CONFIG_SECRET_KEYS). */
  secretKeys: string[];
}

const key = (k: string) => `${PROJECT}:${k}`;

/** A stack file as Pulumi would pass it, plus fake secrets; `overrides` are unprefixed keys, JSON-encoded when not strings. */
export interface SecretOptions {
  /** Set repoDeployKey (default true). */
  deployKey?: boolean;
  /** Set repoToken (default false; the stacks' repoUrl is https://). */
  repoToken?: boolean;
}

export function stackConfig(stack: string, overrides: Record<string, unknown> = {}, opts: SecretOptions = {}): ConfigInput {
  const file = readStackFile(path.join(REPO_ROOT, `Pulumi.${stack}.yaml`));
  const values: Record<string, string> = { ...file.values };
  const secretKeys = [key("sshPrivateKey"), key("appEnv")];
  values[key("sshPrivateKey")] = FAKE_SECRETS.sshPrivateKey;
  values[key("appEnv")] = JSON.stringify(FAKE_SECRETS.appEnv);
  if (opts.deployKey ?? true) {
    values[key("repoDeployKey")] = FAKE_SECRETS.repoDeployKey;
    secretKeys.push(key("repoDeployKey"));
  }
  if (opts.repoToken) {
    values[key("repoToken")] = FAKE_SECRETS.repoToken;
    secretKeys.push(key("repoToken"));
  }
  return applyOverrides({ values, secretKeys }, overrides);
}

/** The existing-server configuration: no AWS settings at all. */
export const EXISTING_HOST = { host: "203.0.113.50", hostUser: "deployer", sshPort: 2222 } as const;
/** The existing server's host key (sshHostKey is required for one, unless sshTrustOnFirstUse). */
export const EXISTING_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeExistingHostKeyForProgramTestsxxxxxxx";

export function existingHostConfig(overrides: Record<string, unknown> = {}, opts: SecretOptions = {}): ConfigInput {
  const base = stackConfig("dev", {}, opts);
  const values = Object.fromEntries(
    Object.entries(base.values).filter(
      ([k]) => !k.startsWith("aws:") && k !== key("sshAllowedCidrs") && k !== key("sshPublicKey") && k !== key("instanceType"),
    ),
  );
  return applyOverrides({ values, secretKeys: base.secretKeys }, { ...EXISTING_HOST, sshHostKey: EXISTING_HOST_KEY, ...overrides });
}

export function applyOverrides(cfg: ConfigInput, overrides: Record<string, unknown>): ConfigInput {
  const values = { ...cfg.values };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete values[key(k)];
    else values[key(k)] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return { values, secretKeys: [...cfg.secretKeys] };
}

// ---------------------------------------------------------------------------------------------

export type { RequestOptions };

export interface Registration {
  /** Position in the order in which the mock monitor received registrations (0-based). */
  seq: number;
  type: string;
  name: string;
  custom: boolean;
  urn: string;
  /** Inputs as Mocks.newResource receives them (deserialized: a secret nested in an array or object is hoisted to wrap the whole value). */
  inputs: Record<string, any>;
  /** Inputs exactly as serialized in the RegisterResource request (what the engine receives): secrets wrapped where they are. */
  wire: Record<string, any>;
  options: RequestOptions;
  /** Input name → URNs of the resources its value was computed from (the request's property dependencies). */
  propertyDependencies: Record<string, string[]>;
  /** The id the mock returned (custom resources). */
  id?: string;
  /** The state the mock returned (outputs). */
  state: Record<string, any>;
}

export interface ResolvedExport {
  value: unknown;
  secret: boolean;
}

export interface ProgramRun {
  registrations: Registration[];
  calls: { token: string; inputs: Record<string, any> }[];
  /** Outputs each component registered (registerOutputs), deserialized with secrets wrapped. */
  componentOutputs: Record<string, Record<string, any>>;
  exports: Record<string, ResolvedExport>;
  /** What requiring the program threw, if anything. */
  error?: Error;
  byName(name: string): Registration;
  commands(): Registration[];
}

export interface RunOptions {
  /** Stack name given to setMocks (pulumi.getStack(), the Stack tag). Default "dev". */
  stack?: string;
  /** setMocks' dry-run flag (pulumi.runtime.isDryRun()); the fake outputs stay known either way. */
  preview?: boolean;
  /** sha256 of requirements.txt reported by the fake checkout. */
  requirements?: string;
  /** The program module to run, relative to this file or absolute. Default "../../index" (index.ts). */
  program?: string;
}

/** The fake commit of a checkout: derived from its script, so a new repoRef yields a new commit. */
export const fakeCommit = (create: string) => createHash("sha1").update(create).digest("hex");

/** Fake secrets of the scale-out resources (generated passwords, tokens, host keys): each contains a marker. */
export const AWS_MARKERS = {
  dbPassword: "FAKERDSPASSWORDMARKER0005",
  authToken: "FAKEREDISTOKENMARKER0006",
  hostKey: "FAKEHOSTKEYMARKER0007",
} as const;
/** The host key the fake host-wait prints (an ed25519 key line without comment). */
export const FAKE_WAIT_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeWaitHostKeyForProgramTestsxxxxxxxxxxx";
/** The Availability Zones the fake region lists. */
export const FAKE_ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];
export const FAKE_VPC_IPV6 = "2001:db8:1234:5600::/56";

/** A small number derived from a name, for fake addresses that differ per resource. */
const nameByte = (name: string) => createHash("sha1").update(name).digest()[0];
/** Fake base64 that differs per name (an ed25519 public key's blob: type "ssh-ed25519" + 32 bytes). */
const fakeEd25519Blob = (name: string) => {
  const type = Buffer.from("ssh-ed25519");
  const len = (n: number) => Buffer.from([0, 0, 0, n]);
  return Buffer.concat([len(type.length), type, len(32), createHash("sha256").update(name).digest()]).toString("base64");
};

/** States for the scale-out resources (components/aws/*): ids, ARNs and addresses derived from the name. */
function fakeScaleOutState(
  type: string,
  name: string,
  inputs: Record<string, any>,
): { id: string; state: Record<string, any> } | undefined {
  const arn = (service: string, resource: string) => `arn:aws:${service}:eu-west-1:000000000000:${resource}`;
  switch (type) {
    case "aws:ec2/vpc:Vpc":
      return { id: `vpc-${name}`, state: { ...inputs, ...(inputs.assignGeneratedIpv6CidrBlock ? { ipv6CidrBlock: FAKE_VPC_IPV6 } : {}) } };
    case "aws:ec2/subnet:Subnet":
      return { id: `subnet-${name}`, state: inputs };
    case "aws:ec2/securityGroup:SecurityGroup":
      return { id: `sg-${name}`, state: { ...inputs, arn: arn("ec2", `security-group/sg-${name}`) } };
    case "aws:ec2/instance:Instance":
      return {
        id: `i-${name}`,
        state: { ...inputs, publicIp: "", privateIp: `10.0.${nameByte(name) % 16}.${10 + (nameByte(name) % 200)}` },
      };
    case "aws:ec2/eip:Eip":
      return { id: `eipalloc-${name}`, state: { ...inputs, publicIp: `198.51.100.${20 + (nameByte(name) % 200)}` } };
    case "aws:lb/loadBalancer:LoadBalancer":
      return {
        id: arn("elasticloadbalancing", `loadbalancer/app/${name}/0fake`),
        state: {
          ...inputs,
          arn: arn("elasticloadbalancing", `loadbalancer/app/${name}/0fake`),
          dnsName: `${name}-0fake.eu-west-1.elb.amazonaws.com`,
          zoneId: "ZFAKEALBZONE",
        },
      };
    case "aws:lb/targetGroup:TargetGroup":
    case "aws:lb/listener:Listener":
    case "aws:lb/listenerRule:ListenerRule": {
      const kind = type.split(":")[2].replace(/^./, (c) => c.toLowerCase());
      return {
        id: arn("elasticloadbalancing", `${kind}/${name}/0fake`),
        state: { ...inputs, arn: arn("elasticloadbalancing", `${kind}/${name}/0fake`) },
      };
    }
    case "aws:acm/certificate:Certificate": {
      const names: string[] = [inputs.domainName, ...(inputs.subjectAlternativeNames ?? [])];
      const domainValidationOptions = names.map((d) => ({
        domainName: d,
        resourceRecordName: `_0fake${nameByte(d)}.${d}.`,
        resourceRecordType: "CNAME",
        resourceRecordValue: `_0fake${nameByte(d)}.acm-validations.aws.`,
      }));
      return {
        id: arn("acm", `certificate/${name}`),
        state: { ...inputs, arn: arn("acm", `certificate/${name}`), domainValidationOptions },
      };
    }
    case "aws:route53/record:Record":
      return { id: `${name}-id`, state: { ...inputs, fqdn: String(inputs.name).replace(/\.$/, "") } };
    case "aws:rds/instance:Instance":
      return { id: `${name}-id`, state: { ...inputs, address: `${name}.0fake.eu-west-1.rds.amazonaws.com`, port: inputs.port ?? 5432 } };
    case "aws:rds/subnetGroup:SubnetGroup":
    case "aws:rds/parameterGroup:ParameterGroup":
    case "aws:elasticache/subnetGroup:SubnetGroup":
      return { id: `${name}-0fake`, state: { ...inputs, name: `${name}-0fake` } };
    case "aws:elasticache/replicationGroup:ReplicationGroup":
      return { id: `${name}-0fake`, state: { ...inputs, primaryEndpointAddress: `master.${name}-0fake.abcdef.euw1.cache.amazonaws.com` } };
    case "aws:s3/bucket:Bucket":
      return { id: `${name}-0fake`, state: { ...inputs, bucket: `${name}-0fake`, arn: `arn:aws:s3:::${name}-0fake` } };
    case "aws:iam/role:Role":
    case "aws:iam/instanceProfile:InstanceProfile": {
      const kind = type.endsWith("Role") ? "role" : "instance-profile";
      return { id: `${name}-0fake`, state: { ...inputs, name: `${name}-0fake`, arn: `arn:aws:iam::000000000000:${kind}/${name}-0fake` } };
    }
    case "random:index/randomPassword:RandomPassword": {
      const marker = name.includes("token") ? AWS_MARKERS.authToken : AWS_MARKERS.dbPassword;
      return {
        id: `${name}-id`,
        state: { ...inputs, result: `x${marker}${createHash("sha1").update(name).digest("hex")}`.slice(0, inputs.length) },
      };
    }
    case "random:index/randomId:RandomId":
      return {
        id: `${name}-id`,
        state: {
          ...inputs,
          hex: createHash("sha1")
            .update(name)
            .digest("hex")
            .slice(0, 2 * inputs.byteLength),
        },
      };
    case "tls:index/privateKey:PrivateKey": {
      const blob = fakeEd25519Blob(name);
      const privateKeyOpenssh = pem(`b3BlbnNzaC1rZXktdjEAAAAA ${AWS_MARKERS.hostKey} ${Buffer.from(name).toString("base64")}`);
      return { id: `${name}-id`, state: { ...inputs, privateKeyOpenssh, publicKeyOpenssh: `ssh-ed25519 ${blob}\n` } };
    }
    default:
      return undefined;
  }
}
export const DEFAULT_REQUIREMENTS = createHash("sha256").update("Django==5.2\ngunicorn==23.0.0\n").digest("hex");

function fakeState(type: string, name: string, inputs: Record<string, any>, opts: RunOptions): { id: string; state: Record<string, any> } {
  // The single host's resources (AwsHost "server") keep the fixed ids and addresses its tests name.
  const legacy = ["server-sg", "server-key", "server-instance", "server-eip"].includes(name);
  const scaleOut = legacy ? undefined : fakeScaleOutState(type, name, inputs);
  if (scaleOut) return scaleOut;
  switch (type) {
    case "aws:ec2/securityGroup:SecurityGroup":
      return { id: "sg-0fake", state: { ...inputs, arn: "arn:aws:ec2:eu-west-1:000000000000:security-group/sg-0fake" } };
    case "aws:ec2/keyPair:KeyPair":
      return { id: `${name}-id`, state: { ...inputs, keyName: `${name}-fake` } };
    case "aws:ec2/instance:Instance":
      return { id: "i-0fake", state: { ...inputs, publicIp: "192.0.2.99", privateIp: "10.0.0.10" } };
    case "aws:ec2/eip:Eip":
      return { id: "eipalloc-0fake", state: { ...inputs, publicIp: FAKE_IP } };
    case "command:remote:Command": {
      // A step that produces values prints them as its last line (see components/plan.ts).
      // Host N >= 2 of a fleet: the same step under the suffix -hN; its checkout reports host 1's commit.
      const produces = STEPS.find((d) => d.name === name.replace(/-h\d+$/, ""))?.produces ?? [];
      const pinned = /^\s*releaseCommit='?([0-9a-f]{40})'?/m.exec(String(inputs.create))?.[1];
      const values: Record<string, string> = {
        // What host-wait reports: the key later steps pin under sshTrustOnFirstUse.
        hostKey: FAKE_WAIT_HOST_KEY,
        commit: pinned ?? fakeCommit(String(inputs.create)),
        requirementsHash: opts.requirements ?? DEFAULT_REQUIREMENTS,
        // A new run id whenever the release step runs: its command or its triggers changed.
        releaseRun: fakeCommit(JSON.stringify([inputs.create, inputs.triggers])),
        liveCommit: fakeCommit(String(inputs.create)),
        previousCommit: "",
        keptReleases: "",
      };
      const stdout = produces.length ? `${JSON.stringify(Object.fromEntries(produces.map((v) => [v, values[v]])))}\n` : `${name} done\n`;
      return { id: `${name}-id`, state: { ...inputs, stdout, stderr: "" } };
    }
    default:
      return { id: `${name}-id`, state: inputs };
  }
}

/** Wraps the mock monitor (again) to keep each RegisterResource request's property dependencies, by `type::name`. */
function recordPropertyDependencies(pulumi: typeof PulumiModule, into: Map<string, Record<string, string[]>>): void {
  type Req = RegisterResourceRequest;
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: Req, callback: unknown): Promise<void> };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const deps: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((value, key) => {
      deps[key] = value.getUrnsList();
    });
    into.set(requestKey(req.getType(), req.getName()), deps);
    return register(req, callback);
  };
}

/** Run index.ts (or opts.program) once with this config; never throws (a program error is returned in `error`). */
export async function runProgram(cfg: ConfigInput, opts: RunOptions = {}): Promise<ProgramRun> {
  const registrations: Registration[] = [];
  const propertyDependencies = new Map<string, Record<string, string[]>>();
  const calls: ProgramRun["calls"] = [];
  let capture!: Capture;
  let pulumi!: typeof PulumiModule;
  let program: Record<string, unknown> = {};
  let error: Error | undefined;

  const mocks: PulumiModule.runtime.Mocks = {
    newResource(args) {
      const request = capture.requests.get(requestKey(args.type, args.name));
      if (!request) throw new Error(`no request recorded for ${args.type} ${args.name}`);
      const { id, state } = fakeState(args.type, args.name, args.inputs, opts);
      registrations.push({
        seq: registrations.length,
        type: args.type,
        name: args.name,
        custom: args.custom ?? false,
        get urn() {
          return request.urn;
        },
        inputs: args.inputs,
        wire: request.wire,
        options: request.options,
        propertyDependencies: propertyDependencies.get(requestKey(args.type, args.name)) ?? {},
        ...(args.custom ? { id } : {}),
        state,
      });
      return { id: args.custom ? id : undefined, state };
    },
    call(args) {
      calls.push({ token: args.token, inputs: args.inputs });
      if (args.token === "aws:ec2/getAmi:getAmi") {
        return { ...args.inputs, id: FAKE_AMI, imageId: FAKE_AMI, name: "debian-12-amd64-20250101-0000", architecture: "x86_64" };
      }
      if (args.token === "aws:index/getAvailabilityZones:getAvailabilityZones") {
        return {
          ...args.inputs,
          id: "eu-west-1",
          names: FAKE_ZONES,
          zoneIds: FAKE_ZONES.map((_, i) => `euw1-az${i + 1}`),
          groupNames: ["eu-west-1"],
        };
      }
      throw new Error(`unexpected invoke ${args.token}`);
    },
  };

  jest.isolateModules(() => {
    // require, not import: the program must load in this isolated module registry, after the mocks.
    /* eslint-disable @typescript-eslint/no-require-imports */
    pulumi = require("@pulumi/pulumi");
    void pulumi.runtime.setMocks(mocks, PROJECT, opts.stack ?? "dev", opts.preview ?? false);
    capture = captureRegistrations(pulumi);
    recordPropertyDependencies(pulumi, propertyDependencies);
    pulumi.runtime.setAllConfig(cfg.values, cfg.secretKeys);
    try {
      program = require(opts.program ?? "../../index");
    } catch (e) {
      error = e as Error;
    }
    /* eslint-enable @typescript-eslint/no-require-imports */
  });
  const componentOutputs = capture.componentOutputs;

  const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (typeof waitForRPCs !== "function") throw new Error("@pulumi/pulumi no longer exports runtime.waitForRPCs: update the harness");
  await waitForRPCs();

  const resolved: Record<string, ResolvedExport> = {};
  for (const [name, value] of Object.entries(program)) {
    if (pulumi.Output.isInstance(value)) {
      const out = value;
      resolved[name] = {
        value: await new Promise((resolve) =>
          out.apply((v) => {
            resolve(v);
            return v;
          }),
        ),
        secret: await pulumi.isSecret(out),
      };
    } else {
      resolved[name] = { value, secret: false };
    }
  }
  await waitForRPCs();

  // Every request the monitor received has been answered, or the wait above was not enough.
  const unanswered = [...capture.requests.keys()].filter(
    (k) => !registrations.some((r) => requestKey(r.type, r.name) === k && r.urn !== ""),
  );
  if (unanswered.length > 0) throw new Error(`registrations still pending after waitForRPCs: ${unanswered.join(", ")}`);

  const byName = (name: string) => {
    const found = registrations.filter((r) => r.name === name);
    if (found.length !== 1)
      throw new Error(`expected one resource named ${name}, found ${found.length}: ${registrations.map((r) => r.name).join(", ")}`);
    return found[0];
  };
  return {
    registrations,
    calls,
    componentOutputs,
    exports: resolved,
    error,
    byName,
    commands: () => registrations.filter((r) => r.type === "command:remote:Command"),
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers for assertions on serialized values.

export function isWrappedSecret(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Every string leaf of a value that is NOT inside a secret wrapper, with its path. */
export function plainStrings(v: unknown, at = ""): { path: string; value: string }[] {
  if (typeof v === "string") return [{ path: at, value: v }];
  if (isWrappedSecret(v)) return [];
  if (Array.isArray(v)) return v.flatMap((e, i) => plainStrings(e, `${at}[${i}]`));
  if (typeof v === "object" && v !== null) return Object.entries(v).flatMap(([k, e]) => plainStrings(e, at ? `${at}.${k}` : k));
  return [];
}

/** The value with every secret wrapper removed (for comparing two runs). */
export function unwrap(v: unknown): unknown {
  if (isWrappedSecret(v)) return unwrap(v.value);
  if (Array.isArray(v)) return v.map(unwrap);
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, unwrap(e)]));
  return v;
}

/** Paths whose values differ between two values (objects and arrays are walked; secrets compared by content). */
export function changedPaths(a: unknown, b: unknown, at = ""): string[] {
  if (isWrappedSecret(a) && isWrappedSecret(b)) return changedPaths(a.value, b.value, at);
  const isObj = (x: unknown) => typeof x === "object" && x !== null;
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b) && !isWrappedSecret(a) && !isWrappedSecret(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => {
      const sub = Array.isArray(a) ? `${at}[${k}]` : at ? `${at}.${k}` : k;
      return changedPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], sub);
    });
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

/** The marker strings of every fake secret, for leak checks. */
export const SECRET_MARKERS = Object.values(MARKERS);
export const containsSecret = (s: string) => SECRET_MARKERS.some((m) => s.includes(m));
