/**
 * The network plan (components/aws/network.ts), pure: subnet blocks lie inside the VPC, never
 * overlap, have the planned size, and stay put when zones are added; IPv6 /64s likewise.
 */
import * as fc from "fast-check";
import { formatCidr, parseCidr } from "../../components/cidr";
import { DEFAULT_VPC_CIDR, SUBNET_NEW_BITS, ipv6SubnetCidr, planSubnets } from "../../components/aws/network";

/** [first, last] address of a block. */
const range = (text: string): [bigint, bigint] => {
  const c = parseCidr(text)!;
  const bits = c.family === 4 ? 32 : 128;
  return [c.network, c.network + (1n << BigInt(bits - c.prefix)) - 1n];
};
const inside = (inner: string, outer: string) => {
  const [a, b] = range(inner);
  const [c, d] = range(outer);
  return c <= a && b <= d;
};
const overlap = (x: string, y: string) => {
  const [a, b] = range(x);
  const [c, d] = range(y);
  return a <= d && c <= b;
};

/** Any canonical IPv4 VPC block from /16 to /24, and a zone count that fits it. */
const vpcArb = fc
  .record({ value: fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), prefix: fc.integer({ min: 16, max: 28 - SUBNET_NEW_BITS }) })
  .map(({ value, prefix }) => formatCidr({ family: 4, prefix, network: (value >> BigInt(32 - prefix)) << BigInt(32 - prefix) }));
const zonesArb = fc.integer({ min: 1, max: 2 ** (SUBNET_NEW_BITS - 1) });

describe("planSubnets", () => {
  test("the default VPC with 2 zones: /20 public subnets first, data subnets in the upper half", () => {
    expect(planSubnets(DEFAULT_VPC_CIDR, 2)).toEqual({
      public: ["10.0.0.0/20", "10.0.16.0/20"],
      data: ["10.0.128.0/20", "10.0.144.0/20"],
    });
  });

  test("property: every block lies inside the VPC, has the planned prefix, and no two overlap", () => {
    fc.assert(
      fc.property(vpcArb, zonesArb, (vpc, zones) => {
        const plan = planSubnets(vpc, zones);
        const all = [...plan.public, ...plan.data];
        expect(plan.public).toHaveLength(zones);
        expect(plan.data).toHaveLength(zones);
        for (const block of all) {
          expect(inside(block, vpc)).toBe(true);
          expect(parseCidr(block)!.prefix).toBe(parseCidr(vpc)!.prefix + SUBNET_NEW_BITS);
        }
        for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) expect(overlap(all[i], all[j])).toBe(false);
      }),
    );
  });

  test("property: adding zones keeps every existing subnet's block (no subnet is replaced)", () => {
    fc.assert(
      fc.property(vpcArb, zonesArb, zonesArb, (vpc, a, b) => {
        const [few, many] = [Math.min(a, b), Math.max(a, b)];
        const small = planSubnets(vpc, few);
        const large = planSubnets(vpc, many);
        expect(large.public.slice(0, few)).toEqual(small.public);
        expect(large.data.slice(0, few)).toEqual(small.data);
      }),
    );
  });

  test.each([
    ["10.0.0.1/16", 2, /canonical/],
    ["2001:db8::/48", 2, /IPv4/],
    ["10.0.0.0", 2, /canonical/],
    ["10.0.0.0/8", 2, /between \/16/],
    ["10.0.0.0/26", 2, /between \/16/],
    [DEFAULT_VPC_CIDR, 0, /zones/],
    [DEFAULT_VPC_CIDR, 9, /zones/],
    [DEFAULT_VPC_CIDR, 1.5, /zones/],
  ])("refuses %s with %s zones", (vpc, zones, message) => {
    expect(() => planSubnets(vpc, zones)).toThrow(message);
  });
});

describe("ipv6SubnetCidr", () => {
  test("the i-th /64 of an Amazon /56", () => {
    expect(ipv6SubnetCidr("2001:db8:1234:5600::/56", 0)).toBe("2001:db8:1234:5600::/64");
    expect(ipv6SubnetCidr("2001:db8:1234:5600::/56", 2)).toBe("2001:db8:1234:5602::/64");
    expect(ipv6SubnetCidr("2001:db8:1234:5600::/56", 255)).toBe("2001:db8:1234:56ff::/64");
  });

  test("property: distinct indices give distinct /64s inside the block", () => {
    const blockArb = fc.bigInt({ min: 0n, max: (1n << 56n) - 1n }).map((v) => formatCidr({ family: 6, prefix: 56, network: v << 72n }));
    fc.assert(
      fc.property(blockArb, fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 2, maxLength: 8 }), (block, indices) => {
        const subnets = indices.map((i) => ipv6SubnetCidr(block, i));
        expect(new Set(subnets).size).toBe(indices.length);
        for (const s of subnets) expect(inside(s, block)).toBe(true);
      }),
    );
  });

  test("refuses an index outside the block and a non-IPv6 block", () => {
    expect(() => ipv6SubnetCidr("2001:db8:1234:5600::/56", 256)).toThrow(/holds 256/);
    expect(() => ipv6SubnetCidr("10.0.0.0/16", 0)).toThrow(/IPv6/);
  });
});
