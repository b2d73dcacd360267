/**
 * Instantiates a step plan: one component resource per plan component (type tokens from
 * plan.ts), one remote command per step, wired by the plan's dependencies, triggers and secret
 * inputs. Nothing here decides what runs: that is the plan's job (plan.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { Settings } from "./config";
import { renderStepScript } from "./host-files";
import { COMPONENTS, ComponentName, ExternalDependency, PlannedStep, SecretInput, StepValue } from "./plan";
import { HostConnection, remoteStep } from "./remote-step";

/** A component of the plan: the parent of its steps. */
export class StepGroup extends pulumi.ComponentResource {
  /** The group's steps, by step name. */
  public readonly steps: Record<string, command.remote.Command>;

  constructor(type: string, name: string, steps: Record<string, command.remote.Command>, opts?: pulumi.ComponentResourceOptions) {
    super(type, name, {}, opts);
    this.steps = steps;
  }

  /** Called once every step of the group is registered. */
  public finish(): void {
    this.registerOutputs(Object.fromEntries(Object.entries(this.steps).map(([name, step]) => [name, step.id])));
  }
}

export interface SiteStepsArgs {
  settings: Settings;
  plan: PlannedStep[];
  /**
   * How to reach the host. Without `hostKey` (trust on first use), the step that produces the
   * `hostKey` value (host-wait) connects unchecked and every later step checks the key it printed.
   */
  connection: HostConnection;
  /** Secret standard input per secret input (see secret-files.ts). */
  stdin: Partial<Record<SecretInput, pulumi.Output<string>>>;
  /** Values known before any step runs (e.g. the settings fingerprint). */
  values: Partial<Record<StepValue, pulumi.Input<string>>>;
  /** Resources outside the plan that steps may wait for. */
  external: Partial<Record<ExternalDependency, pulumi.Resource | pulumi.Resource[]>>;
  /** Appended to every resource name: host N ≥ 2 of a fleet is "-hN" (site-plan.ts); host 1 keeps the plain names. */
  suffix?: string;
}

export interface SiteSteps {
  groups: Partial<Record<ComponentName, StepGroup>>;
  steps: Record<string, command.remote.Command>;
  /** A value, given or printed by a step; throws when the plan has no step that produces it. */
  value(name: StepValue): pulumi.Output<string>;
  /** A step of the plan; throws when the plan has no such step. */
  step(name: string): command.remote.Command;
}

/** A step's last line of output: the JSON object of the values it produces. */
export function parseProduced(step: string, stdout: string, names: readonly StepValue[]): Record<string, string> {
  const line = stdout.trim().split("\n").pop() ?? "";
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`${step}: unexpected output (want a JSON line with ${names.join(", ")}): ${line}`);
  }
  const missing = names.filter((n) => typeof parsed[n] !== "string");
  if (missing.length > 0) throw new Error(`${step}: output lacks ${missing.join(", ")}: ${line}`);
  return Object.fromEntries(names.map((n) => [n, parsed[n] as string]));
}

/** Create every step of the plan, in order, under its component. */
export function instantiateSteps(args: SiteStepsArgs): SiteSteps {
  const groups: Partial<Record<ComponentName, StepGroup>> = {};
  const steps: Record<string, command.remote.Command> = {};
  const values: Partial<Record<StepValue, pulumi.Output<string>>> = Object.fromEntries(
    Object.entries(args.values).map(([k, v]) => [k, pulumi.output(v)]),
  );
  for (const step of args.plan) {
    const suffix = args.suffix ?? "";
    const group = (groups[step.component] ??= new StepGroup(COMPONENTS[step.component].type, `${step.component}${suffix}`, {}));
    const valueOf = (v: StepValue) => {
      const out = values[v];
      if (!out) throw new Error(`step ${step.name} triggers on ${v}, which no earlier step produces`);
      return out;
    };
    const stdin = step.stdin ? args.stdin[step.stdin] : undefined;
    if (step.stdin && !stdin) throw new Error(`step ${step.name} reads ${step.stdin} on stdin, which is not configured`);
    const dependsOn = [...step.after.map((n) => steps[n]), ...step.external.flatMap((e) => args.external[e] ?? [])];
    // A step that reads values gets its script once they are known (in a preview: unknown, so changed).
    const script = step.reads.length
      ? pulumi
          .all(step.reads.map(valueOf))
          .apply((vs) => renderStepScript(args.settings, step, Object.fromEntries(step.reads.map((v, i) => [v, vs[i]]))))
      : renderStepScript(args.settings, step);
    // Trust on first use: no step but the one that learns the key connects without checking one.
    const pinned = args.connection.hostKey !== undefined || step.produces.includes("hostKey");
    const connection = pinned ? args.connection : { ...args.connection, hostKey: valueOf("hostKey") };
    const cmd = remoteStep(
      `${step.name}${suffix}`,
      {
        connection,
        script,
        ...(stdin ? { secretStdin: stdin } : {}),
        ...(step.triggers.length ? { triggers: step.triggers.map(valueOf) } : {}),
        waitForHost: step.waitForHost,
        publicOutput: step.publicOutput,
      },
      { parent: group, dependsOn },
    );
    steps[step.name] = cmd;
    group.steps[step.name] = cmd;
    if (step.produces.length > 0) {
      const produced = cmd.stdout.apply((out) => parseProduced(step.name, out, step.produces));
      for (const v of step.produces) values[v] = produced.apply((p) => p[v]);
    }
  }
  for (const g of Object.values(groups)) g.finish();
  return {
    groups,
    steps,
    value: (name) => {
      const out = values[name];
      if (!out) throw new Error(`no step of this plan produces ${name}`);
      return out;
    },
    step: (name) => {
      const cmd = steps[name];
      if (!cmd) throw new Error(`this plan has no step ${name}`);
      return cmd;
    },
  };
}
