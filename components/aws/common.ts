/**
 * What the scale-out components (components/aws/*) share: tags, the SSH opt-in tag, security group
 * rule shapes. Pure.
 */

/** Tags every taggable resource carries (the policy pack requires Project, Stack, ManagedBy). */
export type Tags = Record<string, string>;

/**
 * The tag (value "true") by which a security group opts in to SSH from the world; the policy pack
 * reads the same key (policy/rules/ingress.ts SSH_ALLOW_WORLD_TAG; a test keeps the two equal).
 */
export const SSH_ALLOW_WORLD_TAG = "django-deploy:ssh-allow-world";

/** The component's tags plus a Name (what the AWS console lists). */
export const named = (tags: Tags, name: string): Tags => ({ ...tags, Name: name });

/** IPv4 and IPv6 blocks apart, as a security group rule takes them. */
export function splitFamilies(cidrs: readonly string[]): { cidrBlocks: string[]; ipv6CidrBlocks: string[] } {
  return { cidrBlocks: cidrs.filter((c) => !c.includes(":")), ipv6CidrBlocks: cidrs.filter((c) => c.includes(":")) };
}

/** One TCP port from the whole internet, IPv4 and IPv6 (only 80 and 443 may be: the policy pack). */
export const worldTcp = (port: 80 | 443, description: string) => ({
  protocol: "tcp",
  fromPort: port,
  toPort: port,
  cidrBlocks: ["0.0.0.0/0"],
  ipv6CidrBlocks: ["::/0"],
  description,
});

/** One TCP port from the members of other security groups only (no CIDR at all). */
export const fromGroups = <T>(port: number, groups: T[], description: string) => ({
  protocol: "tcp",
  fromPort: port,
  toPort: port,
  securityGroups: groups,
  description,
});

/** Everything out, IPv4 and IPv6. */
export const ALL_EGRESS = { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] };

/**
 * A component name fit for the AWS names Pulumi derives from it (`<name>-<suffix>-<7 random>`):
 * S3 buckets, RDS and ElastiCache identifiers take only lower case letters, digits and hyphens, and
 * load balancers, target groups and replication groups at most 32 to 40 characters.
 */
export function requireDnsLabel(what: string, name: string): void {
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(name) || name.endsWith("-") || name.includes("--")) {
    throw new Error(
      `${what} name ${JSON.stringify(name)}: use 1-20 lower case letters, digits and single hyphens, starting with a letter (AWS names derive from it)`,
    );
  }
}
