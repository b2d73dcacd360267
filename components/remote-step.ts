/**
 * One remote step: a rendered bash script run as root over SSH with pulumi-command, following the
 * project's rules: no secret in the command string (secrets go on stdin), `logging: "none"` and
 * secret outputs for steps that handle secrets, no remote `delete` (a destroy must never depend on
 * a host that may already be gone), and no previous output passed back in the environment.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { stepCommand } from "./host-files";

export interface HostConnection {
  host: pulumi.Input<string>;
  port: number;
  user: string;
  /** A secret Output (config.ts makes it one): it is never wrapped again here. */
  privateKey: pulumi.Output<string>;
  /**
   * The host key (an authorized_keys line) every connection checks: pulumi-command refuses any
   * other, and offers only that key's algorithm. Unset only for host-wait under trust on first use.
   */
  hostKey?: pulumi.Input<string>;
}

export interface RemoteStepArgs {
  connection: HostConnection;
  /** The step's bash script (see host-files.ts); it becomes the readable command string. */
  script: pulumi.Input<string>;
  /** Secret material the script reads from standard input (a secret Output, see secret-files.ts). */
  secretStdin?: pulumi.Output<string>;
  /** Values that, when changed, re-run the step (pulumi-command replaces the resource). */
  triggers?: pulumi.Input<unknown>[];
  /** Keep retrying the connection: the first step waits for a host that may still be booting. */
  waitForHost?: boolean;
  /** The step reads a secret but prints none of it: its outputs stay public and it logs (plan.ts publicOutput). */
  publicOutput?: boolean;
}

/**
 * Dials host-wait makes before it gives up. pulumi-command retries every dial error alike, a host
 * key mismatch included (connection.go dialWithRetry: -1 retries forever), so the wait is bounded
 * by count: back-off is 0.1 s ×1.5 up to 5 s, so a fast failure (refused, or a key that does not
 * match) gives up after about 2.5 minutes, while dials that time out while an instance boots
 * (perDialTimeout 30 s each) wait about 20 minutes.
 */
export const HOST_WAIT_DIAL_LIMIT = 40;

/** Build the connection object field by field: an unexpected field can make pulumi-command print it. */
export function connectionArgs(c: HostConnection, waitForHost = false): command.types.input.remote.ConnectionArgs {
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    privateKey: c.privateKey,
    ...(c.hostKey !== undefined ? { hostKey: c.hostKey } : {}),
    // A new EC2 instance takes minutes to accept SSH; pulumi-command's default gives up after 10 dials.
    dialErrorLimit: waitForHost ? HOST_WAIT_DIAL_LIMIT : 10,
    perDialTimeout: waitForHost ? 30 : 15,
  };
}

export function remoteStep(name: string, args: RemoteStepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
  const secret = args.secretStdin !== undefined && !args.publicOutput;
  return new command.remote.Command(
    name,
    {
      connection: connectionArgs(args.connection, args.waitForHost),
      create: pulumi.output(args.script).apply(stepCommand),
      ...(args.secretStdin ? { stdin: args.secretStdin } : {}),
      ...(args.triggers ? { triggers: args.triggers } : {}),
      logging: secret ? "none" : "stdoutAndStderr",
      addPreviousOutputInEnv: false,
    },
    secret ? { ...opts, additionalSecretOutputs: ["stdout", "stderr"] } : opts,
  );
}
