/**
 * Loads the policy pack the way the Pulumi CLI does for `--policy-pack policy`, without the CLI:
 * the nodejs language host runs `node <@pulumi/pulumi/cmd/run-policy-pack> <engine> <pack dir>`
 * with the pack directory as working directory (ts-node compiles and type-checks index.ts; the
 * pack reads its version from ./package.json). We then speak the Analyzer gRPC protocol to it, as
 * the engine would, to check the pack's metadata and that a bad resource is rejected.
 *
 * Slow (ts-node type-checks @pulumi/aws): tens of seconds.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";

const packDir = __dirname;
// The CLI resolves the runner from the pack directory, so Node walks up to the root node_modules.
const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [packDir] });
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [packDir] }));
const fromPulumi = (id: string) => require(require.resolve(id, { paths: [pulumiDir] }));

/* eslint-disable @typescript-eslint/no-explicit-any */
const grpc: any = fromPulumi("@grpc/grpc-js");
const analyzerPb: any = require(path.join(pulumiDir, "proto", "analyzer_pb"));
const analyzerGrpc: any = require(path.join(pulumiDir, "proto", "analyzer_grpc_pb"));
const structPb: any = fromPulumi("google-protobuf/google/protobuf/struct_pb");
const emptyPb: any = fromPulumi("google-protobuf/google/protobuf/empty_pb");

let pack: ChildProcess | undefined;
let client: any;
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
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split("\n")[0];
      if (stdout.includes("\n") && /^\d+$/.test(line.trim())) {
        resolve(Number(line.trim()));
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => reject(new Error(`policy pack exited with ${code}:\n${stdout}\n${stderr}`)));
  });
}

function call<T>(method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
}

async function analyze(
  type: string,
  props: Record<string, unknown>,
  providerProps?: Record<string, unknown>,
): Promise<{ policy: string; level: number; message: string }[]> {
  const req = new analyzerPb.AnalyzeRequest();
  req.setType(type);
  req.setName("r");
  req.setUrn(`urn:pulumi:test::django-deploy::${type}::r`);
  req.setProperties(structPb.Struct.fromJavaScript(props));
  req.setOptions(new analyzerPb.AnalyzerResourceOptions());
  if (providerProps) {
    const provider = new analyzerPb.AnalyzerProviderResource();
    provider.setType("pulumi:providers:aws");
    provider.setName("default");
    provider.setUrn("urn:pulumi:test::django-deploy::pulumi:providers:aws::default");
    provider.setProperties(structPb.Struct.fromJavaScript(providerProps));
    req.setProvider(provider);
  }
  const res = await call<any>("analyze", req);
  return res.getDiagnosticsList().map((d: any) => ({
    policy: d.getPolicyname(),
    level: d.getEnforcementlevel(),
    message: d.getMessage(),
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
    expect(require("./package.json").version).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe("policy pack served by @pulumi/pulumi's run-policy-pack", () => {
  it("announces the django-deploy pack with every policy mandatory", async () => {
    const info = await call<any>("getAnalyzerInfo", new emptyPb.Empty());
    expect(info.getName()).toBe("django-deploy");
    expect(info.getVersion()).toBe(require("./package.json").version);
    const policies = info.getPoliciesList().map((p: any) => [p.getName(), p.getEnforcementlevel()]);
    const { policies: expected } = await import("./rules");
    expect(policies.map(([name]: [string]) => name).sort()).toEqual(expected.map((p) => p.name).sort());
    for (const [name, level] of policies) {
      expect([name, level]).toEqual([name, analyzerPb.EnforcementLevel.MANDATORY]);
    }
  });

  it("rejects SSH open to the world as a mandatory violation", async () => {
    const diags = await analyze("aws:ec2/securityGroup:SecurityGroup", {
      ingress: [
        { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
        { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] },
      ],
      tags: { Project: "django-deploy", Stack: "test", ManagedBy: "pulumi" },
    });
    expect(diags).toEqual([
      {
        policy: "security-group-world-ingress-web-only",
        level: analyzerPb.EnforcementLevel.MANDATORY,
        message: expect.stringContaining("port 22 must never be open to the world"),
      },
    ]);
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
    expect(await analyze("aws:ec2/eip:Eip", { domain: "vpc" })).toEqual([
      expect.objectContaining({ policy: "required-tags-eip", message: expect.stringContaining("Project, Stack, ManagedBy") }),
    ]);
  });
});
