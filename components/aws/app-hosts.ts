/**
 * Several app hosts behind the load balancer: `count` EC2 instances on the official Debian 12 AMI
 * (IMDSv2, encrypted gp3 root), spread over the public subnets in turn, each with an Elastic IP for
 * SSH, a program-generated SSH host key (host-key.ts) and a registration in the load balancer's
 * target group; one security group for all of them and one key pair.
 *
 * The security group: SSH only from `sshAllowedCidrs` (tagged as opted in to the world only when
 * the stack said so), HTTP 80 only from members of the load balancer's security group (a group
 * reference, no CIDR: nothing else reaches nginx, not even from inside the VPC), all egress.
 * Port 443 is not open: the load balancer terminates TLS.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { sshAllowListProblems } from "../cidr";
import { METADATA_OPTIONS, debianAmi } from "../aws-host";
import { ALL_EGRESS, SSH_ALLOW_WORLD_TAG, Tags, fromGroups, named, splitFamilies } from "./common";
import { bootHostKey } from "./host-key";

export interface AppHostsArgs {
  /** How many hosts (at least 1). */
  count: number;
  instanceType: string;
  rootVolumeGiB: number;
  vpcId: pulumi.Input<string>;
  /** Public subnets (Network.publicSubnetIds); host i goes to subnet i mod their number. */
  subnetIds: pulumi.Input<string>[];
  sshPublicKey: string;
  sshAllowedCidrs: string[];
  sshPort: number;
  /** The stack's explicit opt-in to SSH from the world (sshAllowWorld): tags the group for the policy pack. */
  sshAllowWorld: boolean;
  /** LoadBalancer.securityGroupId: the only source allowed to port 80. */
  loadBalancerSecurityGroupId: pulumi.Input<string>;
  /** LoadBalancer.targetGroupArn: every host is registered there on port 80. */
  targetGroupArn: pulumi.Input<string>;
  /** HostRole.instanceProfileName. */
  instanceProfileName: pulumi.Input<string>;
  /** Pulumi `protect` on the instances and their Elastic IPs. */
  protect: boolean;
  tags: Tags;
}

export interface AppHost {
  /** The instance's resource name, `${name}-${i}`. */
  name: string;
  instanceId: pulumi.Output<string>;
  /** The Elastic IP: the address every SSH connection uses. */
  publicIp: pulumi.Output<string>;
  privateIp: pulumi.Output<string>;
  /** The host's SSH host key line ("ssh-ed25519 AAAA…"), for `connection.hostKey`. Not secret. */
  hostPublicKey: pulumi.Output<string>;
}

/** Which subnet (index) each of `count` hosts goes to: round robin, so the hosts spread over the zones. */
export function spreadOverSubnets(count: number, subnets: number): number[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`count: expected a whole number of hosts, at least 1; got ${count}`);
  if (!Number.isInteger(subnets) || subnets < 1) throw new Error("subnetIds: at least one subnet is needed");
  return Array.from({ length: count }, (_, i) => i % subnets);
}

/** The group's inline ingress: SSH from the allow-list, HTTP from the load balancer's group only. */
export function appHostIngress<T>(sshAllowedCidrs: readonly string[], sshPort: number, loadBalancerGroup: T, sshAllowWorld: boolean) {
  const problems = sshAllowListProblems(sshAllowedCidrs, { allowWorld: sshAllowWorld });
  if (sshAllowedCidrs.length === 0) problems.push("list at least one CIDR block: the program connects over SSH");
  if (problems.length > 0) throw new Error(`sshAllowedCidrs: ${problems.join("; ")}`);
  return [
    { protocol: "tcp", fromPort: sshPort, toPort: sshPort, ...splitFamilies(sshAllowedCidrs), description: "ssh" },
    fromGroups(80, [loadBalancerGroup], "http from the load balancer"),
  ];
}

export class AppHosts extends pulumi.ComponentResource {
  public readonly hosts: AppHost[];
  public readonly securityGroupId: pulumi.Output<string>;
  public readonly instanceIds: pulumi.Output<string>[];

  constructor(name: string, args: AppHostsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:aws:AppHosts", name, {}, opts);
    const placement = spreadOverSubnets(args.count, args.subnetIds.length);
    const ingress = appHostIngress(args.sshAllowedCidrs, args.sshPort, args.loadBalancerSecurityGroupId, args.sshAllowWorld);
    const parent = { parent: this };

    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `django-deploy ${name}: HTTP from the load balancer only, SSH from allowed CIDRs only`,
        ingress,
        egress: [ALL_EGRESS],
        tags: { ...named(args.tags, `${name}-sg`), ...(args.sshAllowWorld ? { [SSH_ALLOW_WORLD_TAG]: "true" } : {}) },
      },
      parent,
    );
    const key = new aws.ec2.KeyPair(`${name}-key`, { publicKey: args.sshPublicKey, tags: named(args.tags, `${name}-key`) }, parent);
    const ami = debianAmi(args.instanceType, parent);

    this.hosts = placement.map((subnet, i): AppHost => {
      const hostName = `${name}-${i}`;
      const tags = named(args.tags, hostName);
      const hostKey = bootHostKey(hostName, this);
      const instance = new aws.ec2.Instance(
        hostName,
        {
          ami: ami.id,
          instanceType: args.instanceType,
          subnetId: args.subnetIds[subnet],
          vpcSecurityGroupIds: [sg.id],
          keyName: key.keyName,
          iamInstanceProfile: args.instanceProfileName,
          metadataOptions: METADATA_OPTIONS,
          rootBlockDevice: { volumeType: "gp3", volumeSize: args.rootVolumeGiB, encrypted: true, deleteOnTermination: true, tags },
          userData: hostKey.userData,
          // The host key lives in the user data, which cloud-init applies once per instance.
          userDataReplaceOnChange: true,
          tags,
        },
        // A newer Debian AMI must never replace a running host.
        { parent: this, ignoreChanges: ["ami"], protect: args.protect, additionalSecretOutputs: ["userData"] },
      );
      const eip = new aws.ec2.Eip(
        `${hostName}-eip`,
        { domain: "vpc", instance: instance.id, tags: named(args.tags, `${hostName}-eip`) },
        { parent: this, protect: args.protect },
      );
      new aws.lb.TargetGroupAttachment(
        `${hostName}-target`,
        { targetGroupArn: args.targetGroupArn, targetId: instance.id, port: 80 },
        parent,
      );
      return {
        name: hostName,
        instanceId: instance.id,
        publicIp: eip.publicIp,
        privateIp: instance.privateIp,
        hostPublicKey: hostKey.publicKey,
      };
    });

    this.securityGroupId = sg.id;
    this.instanceIds = this.hosts.map((h) => h.instanceId);
    this.registerOutputs({
      securityGroupId: this.securityGroupId,
      hosts: this.hosts.map(({ name: n, instanceId, publicIp, privateIp, hostPublicKey }) => ({
        name: n,
        instanceId,
        publicIp,
        privateIp,
        hostPublicKey,
      })),
    });
  }
}
