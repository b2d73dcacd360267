/** VPC default security groups (FSBP EC2.2): adopted for every VPC, and with no rules. */
import { StackResource, TYPES, run, runStack } from "./harness";

describe("vpc-default-security-group-closed", () => {
  const check = (props: Record<string, unknown>) => run("vpc-default-security-group-closed", TYPES.defaultSecurityGroup, props);

  it("passes an adopted default group without rules", async () => {
    expect(await check({ vpcId: "vpc-1" })).toEqual([]);
    expect(await check({ vpcId: "vpc-1", ingress: [], egress: [] })).toEqual([]);
  });

  it("fails a default group that keeps or adds rules, inbound or outbound", async () => {
    const selfIngress = { protocol: "-1", fromPort: 0, toPort: 0, self: true };
    expect(await check({ vpcId: "vpc-1", ingress: [selfIngress] })).toEqual([
      expect.stringContaining("must allow no traffic (FSBP EC2.2); it declares 1 ingress and 0 egress rule(s)"),
    ]);
    const egress = { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] };
    expect(await check({ vpcId: "vpc-1", egress: [egress] })).toEqual([expect.stringContaining("0 ingress and 1 egress")]);
  });

  it("applies to the default group only", async () => {
    expect(await run("vpc-default-security-group-closed", TYPES.securityGroup, { ingress: [{}] })).toBe("not-applicable");
  });
});

describe("vpc-default-security-group-adopted", () => {
  const vpc = (name: string, id = `vpc-${name}`): StackResource => ({ type: TYPES.vpc, name, props: { cidrBlock: "10.0.0.0/16", id } });
  const adopter = (name: string, vpcName?: string, vpcId?: string): StackResource => ({
    type: TYPES.defaultSecurityGroup,
    name,
    props: { vpcId: vpcId ?? `vpc-${vpcName}` },
    propertyDependencies: vpcName === undefined ? undefined : { vpcId: [vpcName] },
  });
  const check = (resources: StackResource[]) => runStack("vpc-default-security-group-adopted", resources);

  it("passes a stack without VPCs, and VPCs whose default group is adopted (by dependency or by id)", async () => {
    expect(await check([])).toEqual([]);
    expect(await check([vpc("main"), adopter("main-default", "main")])).toEqual([]);
    expect(await check([vpc("imported", "vpc-0abc"), adopter("imported-default", undefined, "vpc-0abc")])).toEqual([]);
  });

  it("reports each VPC whose default group nobody adopts", async () => {
    expect(await check([vpc("main"), vpc("other"), adopter("main-default", "main")])).toEqual([
      expect.stringMatching(/^other: VPC other has no aws\.ec2\.DefaultSecurityGroup.*\(FSBP EC2\.2\)\.$/),
    ]);
  });

  it("does not read VPC ids when every VPC is matched by dependency (ids are unknown during preview)", async () => {
    const unknownId: StackResource = {
      type: TYPES.vpc,
      name: "new",
      props: {
        get id(): never {
          throw new Error("unknown during preview");
        },
      },
    };
    expect(await check([unknownId, adopter("new-default", "new")])).toEqual([]);
  });
});
