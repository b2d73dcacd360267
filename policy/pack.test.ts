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

async function analyze(type: string, props: Record<string, unknown>, providerProps?: Record<string, unknown>): Promise<Diagnostic[]> {
  const req = new analyzerPb.AnalyzeRequest();
  req.setType(type);
  req.setName("r");
  req.setUrn(urnOf(type, "r"));
  req.setProperties(Struct.fromJavaScript(props as Parameters<typeof Struct.fromJavaScript>[0]));
  req.setOptions(new analyzerPb.AnalyzerResourceOptions());
  if (providerProps) req.setProvider(provider(providerProps));
  return diagnostics(await unary<analyzerPb.AnalyzeResponse>((cb) => client!.analyze(req, cb)));
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
  it("announces the django-deploy pack with every policy mandatory", async () => {
    const info = await unary<analyzerPb.AnalyzerInfo>((cb) => client!.getAnalyzerInfo(new Empty(), cb));
    expect(info.getName()).toBe("django-deploy");
    expect(info.getVersion()).toBe(packVersion);
    const policies = info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()] as const);
    const { policies: expected } = await import("./rules");
    expect(policies.map(([name]) => name).sort()).toEqual(expected.map((p) => p.name).sort());
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
});
