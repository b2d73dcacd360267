/**
 * The network for several app hosts: a VPC with DNS, an internet gateway, public subnets (load
 * balancer, app hosts) and isolated data subnets (RDS, ElastiCache) in the first `zones`
 * Availability Zones, and the VPC's default security group adopted with no rules (FSBP EC2.2).
 *
 * The data subnets share a route table with no route at all besides the implicit VPC-local one:
 * nothing in them can reach or be reached from the internet. Public subnets route 0.0.0.0/0 (and
 * ::/0) to the internet gateway; they do not hand out public addresses on launch (FSBP EC2.15): a
 * host's public address is its Elastic IP.
 */
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import { canonicalCidr, formatCidr, parseCidr } from "../cidr";
import { Tags, named } from "./common";

export const DEFAULT_VPC_CIDR = "10.0.0.0/16";
/** Each subnet is the VPC block split `SUBNET_NEW_BITS` further: a /16 VPC gets /20 subnets (4,091 usable addresses). */
export const SUBNET_NEW_BITS = 4;

export interface SubnetPlan {
  /** One IPv4 block per zone, in zone order. */
  public: string[];
  data: string[];
}

/**
 * The subnet blocks for `zones` zones: the VPC block is cut into 2^newBits equal blocks; public
 * subnets take the lower half in order, data subnets the upper half. So the blocks never overlap,
 * lie inside the VPC, and adding a zone later leaves every existing subnet's block unchanged.
 */
export function planSubnets(vpcCidr: string, zones: number, newBits = SUBNET_NEW_BITS): SubnetPlan {
  const vpc = parseCidr(vpcCidr);
  if (vpc === undefined || vpc.family !== 4 || canonicalCidr(vpcCidr) !== vpcCidr) {
    throw new Error(`VPC CIDR ${JSON.stringify(vpcCidr)}: expected an IPv4 network in canonical form, such as ${DEFAULT_VPC_CIDR}`);
  }
  // AWS: a VPC block is /16 to /28, a subnet block at most /28.
  if (vpc.prefix < 16 || vpc.prefix + newBits > 28) {
    throw new Error(
      `VPC CIDR ${vpcCidr}: the prefix must be between /16 and /${28 - newBits} to be split into /${vpc.prefix + newBits} subnets`,
    );
  }
  const half = 2 ** (newBits - 1);
  if (!Number.isInteger(zones) || zones < 1 || zones > half) {
    throw new Error(`zones: expected a whole number from 1 to ${half}; got ${zones}`);
  }
  const prefix = vpc.prefix + newBits;
  const size = 1n << BigInt(32 - prefix);
  const block = (i: number) => formatCidr({ family: 4, network: vpc.network + BigInt(i) * size, prefix });
  const indices = Array.from({ length: zones }, (_, i) => i);
  return { public: indices.map(block), data: indices.map((i) => block(half + i)) };
}

/** The `index`-th /64 of the VPC's Amazon-provided IPv6 block (a /56: 256 subnets). */
export function ipv6SubnetCidr(vpcIpv6Cidr: string, index: number): string {
  const vpc = parseCidr(vpcIpv6Cidr);
  if (vpc === undefined || vpc.family !== 6 || vpc.prefix > 64)
    throw new Error(`VPC IPv6 CIDR ${JSON.stringify(vpcIpv6Cidr)}: expected an IPv6 block of /64 or wider`);
  const count = 1n << BigInt(64 - vpc.prefix);
  if (!Number.isInteger(index) || index < 0 || BigInt(index) >= count)
    throw new Error(`IPv6 subnet index ${index}: ${vpcIpv6Cidr} holds ${count} /64 subnets`);
  return formatCidr({ family: 6, network: vpc.network + (BigInt(index) << 64n), prefix: 64 });
}

export interface NetworkArgs {
  /** The VPC's IPv4 block; default 10.0.0.0/16. */
  cidrBlock?: string;
  /** How many Availability Zones (the first ones the region lists as available); default 2, at least 2 for a load balancer. */
  zones?: number;
  /** An Amazon-provided IPv6 block, with a /64 on each public subnet (for a dual-stack load balancer); default true. */
  ipv6?: boolean;
  tags: Tags;
}

export class Network extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly vpcCidrBlock: pulumi.Output<string>;
  /** One per zone. Each one also waits for the subnet's route to the internet gateway (see below). */
  public readonly publicSubnetIds: pulumi.Output<string>[];
  /** One per zone, with no route out of the VPC. */
  public readonly dataSubnetIds: pulumi.Output<string>[];
  public readonly availabilityZones: pulumi.Output<string>[];
  public readonly ipv6: boolean;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:aws:Network", name, {}, opts);
    const cidrBlock = args.cidrBlock ?? DEFAULT_VPC_CIDR;
    const zones = args.zones ?? 2;
    const plan = planSubnets(cidrBlock, zones); // throws before any resource exists
    const ipv6 = args.ipv6 ?? true;
    const parent = { parent: this };

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock,
        enableDnsSupport: true,
        enableDnsHostnames: true,
        assignGeneratedIpv6CidrBlock: ipv6,
        tags: named(args.tags, `${name}-vpc`),
      },
      parent,
    );
    // AWS's default group lets its members reach each other and everything out; adopted with no
    // ingress and no egress, it allows nothing (FSBP EC2.2). Every resource gets a group of its own.
    new aws.ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: vpc.id, tags: named(args.tags, `${name}-default-sg`) }, parent);
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: named(args.tags, `${name}-igw`) }, parent);

    const available = aws.getAvailabilityZonesOutput(
      { state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] },
      parent,
    );
    const zone = (i: number) =>
      available.names.apply((names) => {
        if (names.length < zones)
          throw new Error(`zones: ${zones} requested, the region has ${names.length} available (${names.join(", ")})`);
        return names[i];
      });

    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public-rt`,
      {
        vpcId: vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }, ...(ipv6 ? [{ ipv6CidrBlock: "::/0", gatewayId: igw.id }] : [])],
        tags: named(args.tags, `${name}-public-rt`),
      },
      parent,
    );
    // `routes: []` (not unset): the table's routes are managed, and there are none besides the local one.
    const dataRoutes = new aws.ec2.RouteTable(
      `${name}-data-rt`,
      { vpcId: vpc.id, routes: [], tags: named(args.tags, `${name}-data-rt`) },
      parent,
    );

    const subnet = (tier: "public" | "data", i: number, routeTable: aws.ec2.RouteTable) => {
      const subnetName = `${name}-${tier}-${i}`;
      const s = new aws.ec2.Subnet(
        subnetName,
        {
          vpcId: vpc.id,
          availabilityZone: zone(i),
          cidrBlock: plan[tier][i],
          mapPublicIpOnLaunch: false,
          ...(tier === "public" && ipv6
            ? { ipv6CidrBlock: vpc.ipv6CidrBlock.apply((block) => ipv6SubnetCidr(block, i)), assignIpv6AddressOnCreation: false }
            : {}),
          tags: { ...named(args.tags, subnetName), "django-deploy:tier": tier },
        },
        parent,
      );
      const association = new aws.ec2.RouteTableAssociation(`${subnetName}-rt`, { subnetId: s.id, routeTableId: routeTable.id }, parent);
      // The id handed out carries the association (and through it the route table and the internet
      // gateway) as dependencies: an internet-facing load balancer or an Elastic IP created in the
      // subnet before its route to the gateway exists is refused by AWS.
      return pulumi.all([s.id, association.id]).apply(([id]) => id);
    };

    const indices = Array.from({ length: zones }, (_, i) => i);
    this.vpcId = vpc.id;
    this.vpcCidrBlock = vpc.cidrBlock;
    this.publicSubnetIds = indices.map((i) => subnet("public", i, publicRoutes));
    this.dataSubnetIds = indices.map((i) => subnet("data", i, dataRoutes));
    this.availabilityZones = indices.map(zone);
    this.ipv6 = ipv6;
    this.registerOutputs({
      vpcId: this.vpcId,
      vpcCidrBlock: this.vpcCidrBlock,
      publicSubnetIds: this.publicSubnetIds,
      dataSubnetIds: this.dataSubnetIds,
      availabilityZones: this.availabilityZones,
    });
  }
}
