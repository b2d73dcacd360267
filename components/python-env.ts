/** The site's environment: the virtualenv ENV, the server settings (.server.envrc) and runinenv.sh. */
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { renderServerEnv } from "./host-files";
import { StepGroup, StepGroupArgs } from "./step-group";

export interface PythonEnvArgs extends StepGroupArgs {
  /** sha256 of requirements.txt: ENV is re-synced exactly when it changes. */
  requirementsHash: pulumi.Input<string>;
}

export class PythonEnv extends StepGroup {
  /** Fingerprint of .server.envrc (secret): steps that must restart on new settings use it as a trigger. */
  public readonly settingsFingerprint: pulumi.Output<string>;
  /** The last step: ENV, settings and wrapper are all in place. */
  public readonly ready: command.remote.Command;

  constructor(name: string, args: PythonEnvArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:app:PythonEnv", name, args, opts);
    const envrc = renderServerEnv(args.settings);
    const venv = this.step("venv", { triggers: [args.requirementsHash] });
    const serverEnv = this.step("serverEnv", { secretStdin: pulumi.secret(envrc) }, [venv]);
    this.ready = this.step("runinenv", {}, [serverEnv]);
    this.settingsFingerprint = pulumi.secret(createHash("sha256").update(envrc).digest("hex"));
    this.registerOutputs({ settingsFingerprint: this.settingsFingerprint });
  }
}
