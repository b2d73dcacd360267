/** The machine itself: booted, system packages installed, app user and site layout in place. */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { StepGroup, StepGroupArgs } from "./step-group";

export class HostBase extends StepGroup {
  /** The last step: everything after it may assume packages, user and directories. */
  public readonly ready: command.remote.Command;

  constructor(name: string, args: StepGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:host:HostBase", name, args, opts);
    const wait = this.step("wait", { waitForHost: true });
    const packages = this.step("packages", {}, [wait]);
    this.ready = this.step("layout", {}, [packages]);
    this.registerOutputs({ ready: this.ready.id });
  }
}
