/** Base of the components that converge one concern of the host with a few remote steps. */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Settings } from "./config";
import { StepName, renderStepScript } from "./host-files";
import { HostConnection, RemoteStepArgs, remoteStep } from "./remote-step";

export interface StepGroupArgs {
  settings: Settings;
  connection: HostConnection;
  /** Host files rendered once for the whole program (see renderHostFiles). */
  files: Record<string, string>;
  /** Resources that must be in place before this group's first step. */
  after?: pulumi.Input<pulumi.Resource>[];
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export abstract class StepGroup extends pulumi.ComponentResource {
  protected constructor(
    type: string,
    private readonly groupName: string,
    protected readonly args: StepGroupArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(type, groupName, {}, opts);
  }

  /** Add the step `<component name>-<step>`, running after `dependsOn` (default: the group's `after`). */
  protected step(
    step: StepName,
    extra: Omit<RemoteStepArgs, "connection" | "script"> = {},
    dependsOn: pulumi.Input<pulumi.Resource>[] = this.args.after ?? [],
  ): command.remote.Command {
    const script = renderStepScript(this.args.settings, step, this.args.files);
    return remoteStep(
      `${this.groupName}-${kebab(step)}`,
      { connection: this.args.connection, script, ...extra },
      { parent: this, dependsOn },
    );
  }
}
