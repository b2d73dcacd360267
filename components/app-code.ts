/** The code: the parent repository and its submodules checked out at repoRef, as the app user. */
import * as pulumi from "@pulumi/pulumi";
import { StepGroup, StepGroupArgs } from "./step-group";

export interface CheckoutResult {
  commit: string;
  requirements: string;
}

/** The checkout step prints one JSON line: the deployed commit and the sha256 of requirements.txt. */
export function parseCheckoutOutput(stdout: string): CheckoutResult {
  const line = stdout.trim().split("\n").pop() ?? "";
  const parsed = JSON.parse(line) as Partial<CheckoutResult>;
  if (!parsed.commit || !parsed.requirements) throw new Error(`unexpected checkout output: ${line}`);
  return { commit: parsed.commit, requirements: parsed.requirements };
}

export class AppCode extends StepGroup {
  /** Full SHA of the deployed commit of the parent repository. */
  public readonly commit: pulumi.Output<string>;
  /** sha256 of requirements.txt at that commit. */
  public readonly requirementsHash: pulumi.Output<string>;

  constructor(name: string, args: StepGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:app:AppCode", name, args, opts);
    const { repoDeployKey } = args.settings;
    const key = repoDeployKey ? [this.step("deployKey", { secretStdin: pulumi.secret(repoDeployKey + "\n") })] : [];
    const checkout = this.step("checkout", {}, [...(args.after ?? []), ...key]);
    const result = checkout.stdout.apply(parseCheckoutOutput);
    this.commit = result.commit;
    this.requirementsHash = result.requirements;
    this.registerOutputs({ commit: this.commit, requirementsHash: this.requirementsHash });
  }
}
