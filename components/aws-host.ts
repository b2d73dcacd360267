/**
 * The EC2 host: a security group (80/443 from anywhere, 22 only from the allowed CIDRs), a key pair,
 * an instance on the official Debian 12 AMI (IMDSv2, encrypted gp3 root) and an Elastic IP.
 * The program generates the host's SSH host key and installs it at first boot
 * (components/aws/host-key.ts), so every connection pins it (`hostPublicKey`), unless
 * `bootHostKey: false` (an instance created without one).
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { sshAllowListProblems } from "./cidr";
import { SSH_ALLOW_WORLD_TAG } from "./aws/common";
import { bootHostKey } from "./aws/host-key";

/** The Debian project's AWS account, publisher of the official Debian AMIs. */
export const DEBIAN_AMI_OWNER = "136693071363";

export interface AwsHostArgs {
  instanceType: string;
  rootVolumeGiB: number;
  sshPublicKey: string;
  sshAllowedCidrs: string[];
  /** The stack's explicit opt-in to SSH from the world or near it: tags the group for the policy pack. */
  sshAllowWorld?: boolean;
  sshPort: number;
  protect: boolean;
  tags: Record<string, string>;
  /**
   * Generate the SSH host key and install it at first boot; default true. Turning it on for a
   * running instance created without it replaces the instance (the key is user data, see
   * host-key.ts), which `protect` refuses: such a stack sets sshTrustOnFirstUse (this false).
   */
  bootHostKey?: boolean;
  /** The IAM instance profile the instance runs with (backups to S3 through its role). */
  iamInstanceProfile?: pulumi.Input<string>;
}

/** Graviton families (t4g, m7g, c6gn, …) need the arm64 image. */
export function amiArchitecture(instanceType: string): "arm64" | "x86_64" {
  return /^[a-z]+\d+[a-z]*g[a-z]*(?:-[a-z]+)?\./.test(instanceType) ? "arm64" : "x86_64";
}

/** The newest official Debian 12 AMI for the instance type's architecture (one `getAmi` invoke). */
export function debianAmi(instanceType: string, opts: pulumi.InvokeOutputOptions): pulumi.Output<aws.ec2.GetAmiResult> {
  const arch = amiArchitecture(instanceType);
  return aws.ec2.getAmiOutput(
    {
      owners: [DEBIAN_AMI_OWNER],
      mostRecent: true,
      filters: [
        { name: "name", values: [`debian-12-${arch === "arm64" ? "arm64" : "amd64"}-*`] },
        { name: "architecture", values: [arch] },
        { name: "virtualization-type", values: ["hvm"] },
      ],
    },
    opts,
  );
}

/** IMDSv2 only, and a hop limit of 1 so that containers on the host cannot reach it (FSBP EC2.8). */
export const METADATA_OPTIONS = { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 };

export class AwsHost extends pulumi.ComponentResource {
  public readonly publicIp: pulumi.Output<string>;
  public readonly instanceId: pulumi.Output<string>;
  public readonly securityGroupId: pulumi.Output<string>;
  /** The host's SSH public key line, unless `bootHostKey` is off. */
  public readonly hostPublicKey?: pulumi.Output<string>;

  constructor(name: string, args: AwsHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:host:AwsHost", name, {}, opts);
    const tags = { ...args.tags, Name: name };
    // The policy pack's rule (components/cidr.ts): the config refuses such a list first, with the key named.
    const problems = sshAllowListProblems(args.sshAllowedCidrs, { allowWorld: args.sshAllowWorld === true });
    if (problems.length > 0) throw new Error(`sshAllowedCidrs: ${problems.join("; ")}`);
    const v4 = args.sshAllowedCidrs.filter((c) => !c.includes(":"));
    const v6 = args.sshAllowedCidrs.filter((c) => c.includes(":"));
    const web = (port: number) => ({
      protocol: "tcp",
      fromPort: port,
      toPort: port,
      cidrBlocks: ["0.0.0.0/0"],
      ipv6CidrBlocks: ["::/0"],
      description: "web",
    });

    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        description: `django-deploy ${name}: web from anywhere, SSH from allowed CIDRs only`,
        ingress: [
          web(80),
          web(443),
          { protocol: "tcp", fromPort: args.sshPort, toPort: args.sshPort, cidrBlocks: v4, ipv6CidrBlocks: v6, description: "ssh" },
        ],
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }],
        tags: { ...tags, ...(args.sshAllowWorld ? { [SSH_ALLOW_WORLD_TAG]: "true" } : {}) },
      },
      { parent: this },
    );

    const key = new aws.ec2.KeyPair(`${name}-key`, { publicKey: args.sshPublicKey, tags }, { parent: this });

    const ami = debianAmi(args.instanceType, { parent: this });
    const hostKey = args.bootHostKey !== false ? bootHostKey(name, this) : undefined;

    const instance = new aws.ec2.Instance(
      `${name}-instance`,
      {
        ami: ami.id,
        instanceType: args.instanceType,
        keyName: key.keyName,
        vpcSecurityGroupIds: [sg.id],
        metadataOptions: METADATA_OPTIONS,
        ...(args.iamInstanceProfile ? { iamInstanceProfile: args.iamInstanceProfile } : {}),
        rootBlockDevice: { volumeType: "gp3", volumeSize: args.rootVolumeGiB, encrypted: true, deleteOnTermination: true, tags },
        ...(hostKey ? { userData: hostKey.userData, userDataReplaceOnChange: true } : {}),
        tags,
      },
      // A newer Debian AMI must never replace a running host.
      { parent: this, ignoreChanges: ["ami"], protect: args.protect, ...(hostKey ? { additionalSecretOutputs: ["userData"] } : {}) },
    );

    const eip = new aws.ec2.Eip(`${name}-eip`, { domain: "vpc", instance: instance.id, tags }, { parent: this, protect: args.protect });

    this.publicIp = eip.publicIp;
    this.instanceId = instance.id;
    this.securityGroupId = sg.id;
    this.hostPublicKey = hostKey?.publicKey;
    this.registerOutputs({
      publicIp: this.publicIp,
      instanceId: this.instanceId,
      securityGroupId: this.securityGroupId,
      ...(this.hostPublicKey ? { hostPublicKey: this.hostPublicKey } : {}),
    });
  }
}
