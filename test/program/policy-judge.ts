/**
 * Runs every policy of the pack on a program run's registrations, as `pulumi preview --policy-pack
 * policy` would judge them without the CLI: each custom resource (inputs with secrets unwrapped,
 * `protect` as the engine receives it) through every resource policy, and all of them together
 * through every stack policy, with their dependencies and property dependencies (which resource
 * each input was computed from) as `PolicyResource`s.
 */
import type { PolicyResource, ResourceValidationArgs } from "@pulumi/policy";
import { policies } from "../../policy/rules";
import { ProgramRun, Registration, unwrap } from "./harness";

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

/** Every violation the pack reports for a run, as "<policy> <resource or URN>: <message>". */
export async function judge(run: Pick<ProgramRun, "registrations">): Promise<string[]> {
  const custom = run.registrations.filter((r) => r.custom);
  const found: string[] = [];

  // Stack policies see every resource with its (property) dependencies among the others.
  const resources = new Map<string, PolicyResource>();
  for (const r of custom) {
    const props = unwrap(r.inputs) as Record<string, unknown>;
    resources.set(r.urn, {
      type: r.type,
      props,
      urn: r.urn,
      name: r.name,
      opts: opts(r),
      dependencies: [],
      propertyDependencies: {},
      isType: (cls) => tokenOf(cls) === r.type,
      asType: ((cls: unknown) => (tokenOf(cls) === r.type ? props : undefined)) as PolicyResource["asType"],
    });
  }
  const among = (urns: string[]) => urns.flatMap((u) => resources.get(u) ?? []);
  for (const r of custom) {
    const resource = resources.get(r.urn)!;
    resource.dependencies = among(r.options.dependencies);
    resource.propertyDependencies = Object.fromEntries(Object.entries(r.propertyDependencies).map(([k, urns]) => [k, among(urns)]));
  }

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
      try {
        await policy.validateStack(
          { resources: [...resources.values()], stackTags: new Map(), getConfig: <T extends object>() => ({}) as T, notApplicable },
          (message, urn) => found.push(`${policy.name} ${urn ?? "(stack)"}: ${message}`),
        );
      } catch (e) {
        if (!(e instanceof NotApplicable)) throw e;
      }
    }
  }
  return found;
}

/** True when the adapter above runs every policy of the pack (each is a resource or a stack policy). */
export const everyPolicyJudged = () => policies.map((p) => [p.name, "validateResource" in p || "validateStack" in p] as const);
