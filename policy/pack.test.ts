/**
 * Loads the policy pack the way the Pulumi CLI does for `--policy-pack policy`, without the CLI:
 * the nodejs language host runs `node <@pulumi/pulumi/cmd/run-policy-pack> <engine> <pack dir>`
 * with the pack directory as working directory (ts-node compiles and type-checks index.ts; the
 * pack reads its version from ./package.json). We then speak the Analyzer gRPC protocol to it, as
 * the engine would, to check the pack's metadata and that a bad resource is rejected.
 *
 * Slow (ts-node type-checks @pulumi/aws): tens of seconds.
 */
import * as grpc from "@grpc/grpc-js";
import * as analyzerGrpc from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import * as analyzerPb from "@pulumi/pulumi/proto/analyzer_pb";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as yaml from "js-yaml";
import * as path from "path";

const packDir = __dirname;
// The CLI resolves the runner from the pack directory, so Node walks up to the root node_modules
// (where the gRPC and protobuf modules imported above come from too: one copy of each).
const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [packDir] });
const packVersion = (JSON.parse(fs.readFileSync(path.join(packDir, "package.json"), "utf8")) as { version: string }).version;

let pack: ChildProcess | undefined;
let client: analyzerGrpc.AnalyzerClient | undefined;
let stderr = "";

function startPack(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, "127.0.0.1:0", packDir], {
      cwd: packDir,
      env: { ...process.env, PULUMI_NODEJS_STACK: "test", PULUMI_NODEJS_PROJECT: "django-deploy" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    pack = child;
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split("\n")[0];
      if (stdout.includes("\n") && /^\d+$/.test(line.trim())) {
        resolve(Number(line.trim()));
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => reject(new Error(`policy pack exited with ${code}:\n${stdout}\n${stderr}`)));
  });
}

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;

/** One unary call, as a promise: `unary<Res>((cb) => client.method(request, cb))`. */
function unary<Res>(invoke: (cb: Callback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));
}

interface Diagnostic {
  policy: string;
  level: analyzerPb.EnforcementLevel;
  message: string;
  urn?: string;
}

const diagnostics = (res: analyzerPb.AnalyzeResponse): Diagnostic[] =>
  res.getDiagnosticsList().map((d) => ({ policy: d.getPolicyname(), level: d.getEnforcementlevel(), message: d.getMessage() }));

const urnOf = (type: string, name: string) => `urn:pulumi:test::django-deploy::${type}::${name}`;

function provider(providerProps: Record<string, unknown>): analyzerPb.AnalyzerProviderResource {
  const p = new analyzerPb.AnalyzerProviderResource();
  p.setType("pulumi:providers:aws");
  p.setName("default");
  p.setUrn("urn:pulumi:test::django-deploy::pulumi:providers:aws::default");
  p.setProperties(Struct.fromJavaScript(providerProps as Parameters<typeof Struct.fromJavaScript>[0]));
  return p;
}

async function analyze(
  type: string,
  props: Record<string, unknown>,
  providerProps?: Record<string, unknown>,
  protect = false,
): Promise<Diagnostic[]> {
  const req = new analyzerPb.AnalyzeRequest();
  req.setType(type);
  req.setName("r");
  req.setUrn(urnOf(type, "r"));
  req.setProperties(Struct.fromJavaScript(props as Parameters<typeof Struct.fromJavaScript>[0]));
  req.setOptions(new analyzerPb.AnalyzerResourceOptions().setProtect(protect));
  if (providerProps) req.setProvider(provider(providerProps));
  return diagnostics(await unary<analyzerPb.AnalyzeResponse>((cb) => client!.analyze(req, cb)));
}

interface StackResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /** Property name → names of the stack resources it was computed from. */
  propertyDependencies?: Record<string, string[]>;
}

/** Calls AnalyzeStack with resources given by name; diagnostics carry the URN they name. */
async function analyzeStack(resources: StackResource[]): Promise<Diagnostic[]> {
  const urns = new Map(resources.map((r) => [r.name, urnOf(r.type, r.name)]));
  const req = new analyzerPb.AnalyzeStackRequest();
  req.setResourcesList(
    resources.map((r) => {
      const res = new analyzerPb.AnalyzerResource();
      res.setType(r.type);
      res.setName(r.name);
      res.setUrn(urns.get(r.name)!);
      res.setProperties(Struct.fromJavaScript(r.props as Parameters<typeof Struct.fromJavaScript>[0]));
      res.setOptions(new analyzerPb.AnalyzerResourceOptions());
      for (const [prop, names] of Object.entries(r.propertyDependencies ?? {})) {
        const deps = new analyzerPb.AnalyzerPropertyDependencies();
        deps.setUrnsList(names.map((n) => urns.get(n)!));
        res.getPropertydependenciesMap().set(prop, deps);
      }
      return res;
    }),
  );
  const res = await unary<analyzerPb.AnalyzeResponse>((cb) => client!.analyzeStack(req, cb));
  return res.getDiagnosticsList().map((d) => ({
    policy: d.getPolicyname(),
    level: d.getEnforcementlevel(),
    message: d.getMessage(),
    urn: d.getUrn(),
  }));
}

beforeAll(async () => {
  const port = await startPack();
  client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 240_000);

afterAll(() => {
  client?.close();
  pack?.removeAllListeners("exit");
  pack?.kill();
});

describe("policy pack layout the CLI needs", () => {
  it("has a PulumiPolicy.yaml with the nodejs runtime (the only field the CLI requires)", () => {
    const project = yaml.load(fs.readFileSync(path.join(packDir, "PulumiPolicy.yaml"), "utf8")) as Record<string, unknown>;
    expect(project.runtime).toBe("nodejs");
    expect(typeof project.description).toBe("string");
  });

  it("has a package.json with a version (PolicyPack reads it from the working directory)", () => {
    expect(packVersion).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe("policy pack served by @pulumi/pulumi's run-policy-pack", () => {
  it("announces the django-deploy pack with each policy at its level (mandatory but for the SSH opt-in report)", async () => {
    const info = await unary<analyzerPb.AnalyzerInfo>((cb) => client!.getAnalyzerInfo(new Empty(), cb));
    expect(info.getName()).toBe("django-deploy");
    expect(info.getVersion()).toBe(packVersion);
    const levels = { mandatory: analyzerPb.EnforcementLevel.MANDATORY, advisory: analyzerPb.EnforcementLevel.ADVISORY };
    const { policies: expected } = await import("./rules");
    const announced = Object.fromEntries(info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()]));
    expect(announced).toEqual(Object.fromEntries(expected.map((p) => [p.name, levels[p.enforcementLevel as keyof typeof levels]])));
    expect(Object.values(announced).filter((level) => level === levels.advisory)).toHaveLength(1);
  });

  it("rejects SSH open to the world as a mandatory violation", async () => {
    const diags = await analyze("aws:ec2/securityGroup:SecurityGroup", {
      ingress: [
        { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
        { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] },
      ],
      tags: { Project: "django-deploy", Stack: "test", ManagedBy: "pulumi" },
    });
    expect(diags.map((d) => [d.policy, d.level])).toEqual([
      ["security-group-world-ingress-web-only", analyzerPb.EnforcementLevel.MANDATORY],
    ]);
    expect(diags[0].message).toContain("port 22 must never be open to the world");
  });

  it("passes a compliant instance and flags a non-compliant one", async () => {
    const good = {
      ami: "ami-123",
      instanceType: "t3.small",
      metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 },
      rootBlockDevice: { encrypted: true },
      tags: { Project: "django-deploy", Stack: "test", ManagedBy: "pulumi" },
    };
    expect(await analyze("aws:ec2/instance:Instance", good)).toEqual([]);
    const bad = await analyze("aws:ec2/instance:Instance", { ami: "ami-123", instanceType: "t3.small" });
    expect(bad.map((d) => d.policy).sort()).toEqual([
      "ec2-instance-encrypted-volumes",
      "ec2-instance-imdsv2",
      "required-tags-ec2-instance",
    ]);
  });

  it("counts tags from the provider's defaultTags, which reach the analyzer JSON-encoded", async () => {
    const defaultTags = JSON.stringify({ tags: { Project: "django-deploy", Stack: "test", ManagedBy: "pulumi" } });
    expect(await analyze("aws:ec2/eip:Eip", { domain: "vpc" }, { region: "eu-west-1", defaultTags })).toEqual([]);
    const untagged = await analyze("aws:ec2/eip:Eip", { domain: "vpc" });
    expect(untagged.map((d) => d.policy)).toEqual(["required-tags-eip"]);
    expect(untagged[0].message).toContain("Project, Stack, ManagedBy");
  });

  it("sees the protect option: a protected load balancer needs AWS deletion protection (ELB.6)", async () => {
    const alb = {
      loadBalancerType: "application",
      subnets: ["subnet-a", "subnet-b"],
      dropInvalidHeaderFields: true,
      tags: { Project: "django-deploy", Stack: "test", ManagedBy: "pulumi" },
    };
    expect(await analyze("aws:lb/loadBalancer:LoadBalancer", alb)).toEqual([]);
    const diags = await analyze("aws:lb/loadBalancer:LoadBalancer", alb, undefined, true);
    expect(diags.map((d) => d.policy)).toEqual(["elb-deletion-protection-when-protected"]);
    expect(await analyze("aws:lb/loadBalancer:LoadBalancer", { ...alb, enableDeletionProtection: true }, undefined, true)).toEqual([]);
  });

  it("judges rule resources of one group together at the end of the run, and reports an opted-in SSH group as advisory", async () => {
    const sgType = "aws:ec2/securityGroup:SecurityGroup";
    const ruleType = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
    const half = (name: string, cidrIpv4: string): StackResource => ({
      type: ruleType,
      name,
      props: { securityGroupId: "sg-1", ipProtocol: "tcp", fromPort: 8000, toPort: 8000, cidrIpv4 },
      propertyDependencies: { securityGroupId: ["web"] },
    });
    const optedIn = { "django-deploy:ssh-allow-world": "true" };
    const diags = await analyzeStack([
      { type: sgType, name: "web", props: { ingress: [] } },
      half("a", "0.0.0.0/1"),
      half("b", "128.0.0.0/1"),
      {
        type: sgType,
        name: "host",
        props: { ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }], tags: optedIn },
      },
    ]);
    expect(diags.map((d) => [d.policy, d.level, d.urn])).toEqual([
      ["security-group-joint-world-ingress-web-only", analyzerPb.EnforcementLevel.MANDATORY, urnOf(sgType, "web")],
      ["security-group-ssh-world-opt-in", analyzerPb.EnforcementLevel.ADVISORY, urnOf(sgType, "host")],
    ]);
    expect(diags[0].message).toContain("a and b together: ingress from 0.0.0.0/1 and 128.0.0.0/1");
    expect(diags[1].message).toContain("0.0.0.0/0 opens SSH to the whole IPv4 internet; accepted");
  });
});
