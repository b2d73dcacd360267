/**
 * The policy pack against the program's real registrations: index.ts runs under mocks with the dev
 * and the prod stack files, and every registered resource (inputs with secrets unwrapped, `protect`
 * as the engine receives it) goes through every policy of the pack, resource policies and stack
 * policies alike — what `pulumi preview --policy-pack policy` would judge, without the CLI.
 */
import type { PolicyResource, ResourceValidationArgs } from "@pulumi/policy";
import { policies } from "../../policy/rules";
import { ProgramRun, Registration, runProgram, stackConfig, unwrap } from "./harness";

const tokenOf = (cls: unknown) => (cls as { __pulumiType?: string }).__pulumiType;

const opts = (r: Registration) => ({
  protect: r.options.protect,
  ignoreChanges: r.options.ignoreChanges,
  aliases: [],
  additionalSecretOutputs: r.options.additionalSecretOutputs,
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
});

class NotApplicable extends Error {}
const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

/** Every violation the pack reports for a run, as "<policy> <resource>: <message>". */
async function judge(run: ProgramRun): Promise<string[]> {
  const custom = run.registrations.filter((r) => r.custom);
  const found: string[] = [];
  for (const policy of policies) {
    if ("validateResource" in policy && policy.validateResource) {
      const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
      for (const r of custom) {
        const props = unwrap(r.inputs) as Record<string, unknown>;
        const args: ResourceValidationArgs = {
          type: r.type,
          props,
          urn: r.urn,
          name: r.name,
          opts: opts(r),
          provider: undefined,
          stackTags: new Map(),
          isType: (cls) => tokenOf(cls) === r.type,
          asType: ((cls: unknown) => (tokenOf(cls) === r.type ? props : undefined)) as ResourceValidationArgs["asType"],
          getConfig: <T extends object>() => ({}) as T,
          notApplicable,
        };
        for (const validate of validations) {
          try {
            await validate(args, (message) => found.push(`${policy.name} ${r.name}: ${message}`));
          } catch (e) {
            if (!(e instanceof NotApplicable)) throw e;
          }
        }
      }
    }
    if ("validateStack" in policy) {
      const resources: PolicyResource[] = custom.map((r) => {
        const props = unwrap(r.inputs) as Record<string, unknown>;
        return {
          type: r.type,
          props,
          urn: r.urn,
          name: r.name,
          opts: opts(r),
          dependencies: [],
          propertyDependencies: {},
          isType: (cls) => tokenOf(cls) === r.type,
          asType: ((cls: unknown) => (tokenOf(cls) === r.type ? props : undefined)) as PolicyResource["asType"],
        };
      });
      try {
        await policy.validateStack(
          { resources, stackTags: new Map(), getConfig: <T extends object>() => ({}) as T, notApplicable },
          (message, urn) => found.push(`${policy.name} ${urn ?? "(stack)"}: ${message}`),
        );
      } catch (e) {
        if (!(e instanceof NotApplicable)) throw e;
      }
    }
  }
  return found;
}

describe.each(["dev", "prod"])("the %s stack's registrations pass every policy of the pack", (stack) => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(stackConfig(stack), { stack });
    expect(run.error).toBeUndefined();
  });

  test("no violation, mandatory or advisory", async () => {
    expect(await judge(run)).toEqual([]);
  });

  test("the same registrations with IMDSv1 and SSH open to the world are caught (so a clean result means something)", async () => {
    const broken = {
      ...run,
      registrations: run.registrations.map((r) => {
        if (r.type === "aws:ec2/instance:Instance")
          return { ...r, inputs: { ...r.inputs, metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 1 } } };
        if (r.type === "aws:ec2/securityGroup:SecurityGroup") {
          const ingress = (r.inputs.ingress as Record<string, unknown>[]).map((rule) =>
            rule.description === "ssh" ? { ...rule, cidrBlocks: ["0.0.0.0/0"] } : rule,
          );
          return { ...r, inputs: { ...r.inputs, ingress } };
        }
        return r;
      }),
    };
    const found = await judge(broken);
    expect(found).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ec2-instance-imdsv2 server-instance: /), expect.stringMatching(/server-sg: .*SSH/)]),
    );
  });
});

test("every policy of the pack is a resource or a stack policy (none is skipped by the adapter above)", () => {
  for (const p of policies) {
    expect([p.name, "validateResource" in p || "validateStack" in p]).toEqual([p.name, true]);
  }
});
