/** The host a site runs on: the EC2 instance the program creates, or the server the user names. */
import * as pulumi from "@pulumi/pulumi";
import type { HostTarget } from "./config";
import { AwsHost } from "./aws-host";

export interface Host {
  /** The address every step connects to. */
  address: pulumi.Input<string>;
  /** The EC2 resources, when the program creates the host (steps wait for them). */
  server?: AwsHost;
  /** The host key every connection checks, when known before the first connection. */
  hostKey?: string;
}

export function provisionHost(target: HostTarget, sshPort: number, opts: { instanceProfileName?: pulumi.Input<string> } = {}): Host {
  switch (target.kind) {
    case "ec2": {
      const tags = { Project: pulumi.getProject(), Stack: pulumi.getStack(), ManagedBy: "pulumi" };
      const server = new AwsHost("server", {
        instanceType: target.instanceType,
        rootVolumeGiB: target.rootVolumeGiB,
        sshPublicKey: target.sshPublicKey,
        sshAllowedCidrs: target.sshAllowedCidrs,
        sshPort,
        protect: target.protect,
        tags,
        ...(opts.instanceProfileName ? { iamInstanceProfile: opts.instanceProfileName } : {}),
      });
      return { address: server.publicIp, server };
    }
    case "existing":
      return { address: target.host, ...(target.sshHostKey ? { hostKey: target.sshHostKey } : {}) };
    default: {
      const unknown: never = target;
      throw new Error(`unknown host target ${JSON.stringify(unknown)}`);
    }
  }
}
