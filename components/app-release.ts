/**
 * A release: migrate, collectstatic and fixtures at every new commit or settings change, then
 * supervisord brings Gunicorn (graceful HUP), the Celery worker and the one beat up to date.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { StepGroup, StepGroupArgs } from "./step-group";

export interface AppReleaseArgs extends StepGroupArgs {
  commit: pulumi.Input<string>;
  requirementsHash: pulumi.Input<string>;
  settingsFingerprint: pulumi.Input<string>;
}

export class AppRelease extends StepGroup {
  /** The last step: the app's processes run the deployed code. */
  public readonly running: command.remote.Command;

  constructor(name: string, args: AppReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:app:AppRelease", name, args, opts);
    const triggers = [args.commit, args.requirementsHash, args.settingsFingerprint];
    const tasks = this.step("release", { triggers });
    this.running = this.step("supervisor", { triggers }, [tasks]);
    this.registerOutputs({ running: this.running.id });
  }
}
