/**
 * The shared CIDR rules (components/cidr.ts): parsing and canonical form, whole-space coverage of a
 * set of blocks against independent models, and the SSH allow-list findings both the config and
 * the policy pack report.
 */
import * as fc from "fast-check";
import {
  Cidr,
  IpFamily,
  NEAR_WORLD_PREFIX,
  canonicalCidr,
  coversFamily,
  formatCidr,
  isNearWorld,
  parseCidr,
  sshAllowListFindings,
  sshAllowListProblems,
  worldFamilies,
} from "../../components/cidr";

const BITS = { 4: 32, 6: 128 } as const;

/** A block with a random address; host bits cleared, as parseCidr returns it. */
const cidrArb = (family: IpFamily, maxPrefix: number = BITS[family]): fc.Arbitrary<Cidr> =>
  fc
    .record({ value: fc.bigInt({ min: 0n, max: (1n << BigInt(BITS[family])) - 1n }), prefix: fc.integer({ min: 0, max: maxPrefix }) })
    .map(({ value, prefix }) => {
      const host = BigInt(BITS[family] - prefix);
      return { family, prefix, network: (value >> host) << host };
    });

const familyArb = fc.constantFrom<IpFamily>(4, 6);

/** Textual spellings of an IPv6 address other than the canonical one: full, zero-padded, upper case. */
function ipv6Spellings(value: bigint): string[] {
  const words = Array.from({ length: 8 }, (_, i) => (value >> BigInt(112 - 16 * i)) & 0xffffn);
  return [
    words.map((w) => w.toString(16)).join(":"),
    words.map((w) => w.toString(16).padStart(4, "0")).join(":"),
    words.map((w) => w.toString(16).toUpperCase()).join(":"),
  ];
}

describe("parseCidr / canonicalCidr", () => {
  it("recognises every spelling of the IPv6 and IPv4 world", () => {
    const v6 = ["::/0", "0::/0", "::0/0", "0000::/0", "0:0:0:0:0:0:0:0/0", "::0.0.0.0/0", "ffff::/0", " ::/0 "];
    for (const text of v6) expect([text, canonicalCidr(text)]).toEqual([text, "::/0"]);
    for (const text of ["0.0.0.0/0", "255.255.255.255/0", " 0.0.0.0/0"]) expect([text, canonicalCidr(text)]).toEqual([text, "0.0.0.0/0"]);
    for (const text of [...v6, "0.0.0.0/0"]) expect([text, worldFamilies([text]).length]).toEqual([text, 1]);
  });

  it("clears host bits and writes IPv6 the RFC 5952 way", () => {
    expect(canonicalCidr("10.0.0.1/8")).toBe("10.0.0.0/8");
    expect(canonicalCidr("203.0.113.77/24")).toBe("203.0.113.0/24");
    expect(canonicalCidr("2001:DB8:0:0:1:0:0:1/128")).toBe("2001:db8::1:0:0:1/128");
    expect(canonicalCidr("1:0:0:2:0:0:0:3/128")).toBe("1:0:0:2::3/128");
    expect(canonicalCidr("1:2:3:4:5:6:7::/128")).toBe("1:2:3:4:5:6:7:0/128");
    expect(canonicalCidr("::ffff:192.0.2.1/128")).toBe("::ffff:c000:201/128");
    expect(canonicalCidr("2001:db8::/32")).toBe("2001:db8::/32");
  });

  it("rejects what is not a CIDR block", () => {
    const bad = ["", "10.0.0.0", "10.0.0.0/33", "::/129", "010.0.0.0/8", "10.0.0.0/08", "256.0.0.0/8", "1.2.3/8", "1::2::3/64"];
    const more = ["1:2:3:4:5:6:7:8:9/128", "1:2:3:4::5:6:7:8/128", "12345::/16", "1.2.3.4::/0", "::1.2.3.256/128", "g::/16", "10.0.0.0 /8"];
    for (const text of [...bad, ...more]) expect([text, parseCidr(text)]).toEqual([text, undefined]);
  });

  it("canonical form is a fixed point and parses back to the same block", () => {
    fc.assert(
      fc.property(
        familyArb.chain((f) => cidrArb(f)),
        (cidr) => {
          const text = formatCidr(cidr);
          expect(parseCidr(text)).toEqual(cidr);
          expect(canonicalCidr(text)).toBe(text);
          expect(canonicalCidr(canonicalCidr(text)!)).toBe(text);
        },
      ),
    );
  });

  it("every spelling of an IPv6 block canonicalises to the same text", () => {
    fc.assert(
      fc.property(cidrArb(6), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (cidr, hostNoise) => {
        const host = (1n << BigInt(128 - cidr.prefix)) - 1n;
        const address = cidr.network | (hostNoise & host);
        for (const spelling of ipv6Spellings(address)) {
          expect(canonicalCidr(`${spelling}/${cidr.prefix}`)).toBe(formatCidr(cidr));
        }
      }),
    );
  });
});

describe("coversFamily", () => {
  /**
   * Brute-force model: with prefixes of at most K bits, the space splits into 2^K blocks of equal
   * size and each CIDR covers whole blocks; the set covers the space iff every block starts with
   * the network bits of some CIDR.
   */
  const K = 8;
  function bruteForceCovers(cidrs: Cidr[], family: IpFamily): boolean {
    const shift = BigInt(BITS[family] - K);
    for (let block = 0n; block < 1n << BigInt(K); block++) {
      const covered = cidrs.some(
        (c) => c.family === family && block >> BigInt(K - c.prefix) === c.network >> (shift + BigInt(K - c.prefix)),
      );
      if (!covered) return false;
    }
    return true;
  }

  it("agrees with the brute-force model on blocks of up to /8", () => {
    fc.assert(
      fc.property(
        familyArb,
        fc.array(
          familyArb.chain((f) => cidrArb(f, K)),
          { maxLength: 24 },
        ),
        (family, cidrs) => {
          expect(coversFamily(cidrs, family)).toBe(bruteForceCovers(cidrs, family));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("agrees with the brute-force model on sets built to cover (halves of halves of the world)", () => {
    // A random binary partition of the space: it covers; drop any one piece and it does not.
    const partition = (family: IpFamily, depth: number): fc.Arbitrary<Cidr[]> => {
      const split = (network: bigint, prefix: number, budget: number): fc.Arbitrary<Cidr[]> =>
        budget === 0 || prefix === K
          ? fc.constant([{ family, network, prefix }])
          : fc.boolean().chain((leaf) => {
              if (leaf) return fc.constant([{ family, network, prefix }]);
              const half = 1n << BigInt(BITS[family] - prefix - 1);
              return fc
                .tuple(split(network, prefix + 1, budget - 1), split(network + half, prefix + 1, budget - 1))
                .map(([a, b]) => [...a, ...b]);
            });
      return split(0n, 0, depth);
    };
    fc.assert(
      fc.property(
        familyArb.chain((f) => fc.tuple(fc.constant(f), partition(f, 6), fc.nat())),
        ([family, pieces, pick]) => {
          expect(coversFamily(pieces, family)).toBe(true);
          expect(bruteForceCovers(pieces, family)).toBe(true);
          const without = pieces.filter((_, i) => i !== pick % pieces.length);
          expect(coversFamily(without, family)).toBe(bruteForceCovers(without, family));
          expect(coversFamily(without, family)).toBe(false);
        },
      ),
    );
  });

  it("agrees with an interval model at any prefix length: splitting a block into its halves changes nothing", () => {
    fc.assert(
      fc.property(
        familyArb.chain((f) => fc.tuple(fc.constant(f), fc.array(cidrArb(f, BITS[f] - 1), { minLength: 1, maxLength: 12 }), fc.nat())),
        ([family, cidrs, pick]) => {
          const target = cidrs[pick % cidrs.length];
          const half = 1n << BigInt(BITS[family] - target.prefix - 1);
          const halves: Cidr[] = [
            { family, network: target.network, prefix: target.prefix + 1 },
            { family, network: target.network + half, prefix: target.prefix + 1 },
          ];
          const split = [...cidrs.filter((c) => c !== target), ...halves];
          expect(coversFamily(split, family)).toBe(coversFamily(cidrs, family));
        },
      ),
    );
  });

  it("sees a gap of a single address: the complement of one address covers all but it", () => {
    // For an address a, the siblings of a's enclosing blocks at /1 … /BITS cover everything but a.
    fc.assert(
      fc.property(
        familyArb.chain((f) => fc.tuple(fc.constant(f), fc.bigInt({ min: 0n, max: (1n << BigInt(BITS[f])) - 1n }))),
        ([family, address]) => {
          const bits = BITS[family];
          const siblings: Cidr[] = Array.from({ length: bits }, (_, i) => {
            const prefix = i + 1;
            const host = BigInt(bits - prefix);
            return { family, prefix, network: ((address >> host) ^ 1n) << host };
          });
          expect(coversFamily(siblings, family)).toBe(false);
          expect(coversFamily([...siblings, { family, prefix: bits, network: address }], family)).toBe(true);
        },
      ),
    );
  });

  it("counts only the asked family, and sees the world split into halves or quarters", () => {
    const parse = (texts: string[]) => texts.map((t) => parseCidr(t)!);
    expect(coversFamily(parse(["0.0.0.0/1", "128.0.0.0/1"]), 4)).toBe(true);
    expect(coversFamily(parse(["0.0.0.0/1", "128.0.0.0/1"]), 6)).toBe(false);
    expect(coversFamily(parse(["::/1", "8000::/1"]), 6)).toBe(true);
    expect(coversFamily(parse(["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]), 4)).toBe(true);
    expect(coversFamily(parse(["0.0.0.0/2", "128.0.0.0/1"]), 4)).toBe(false);
    expect(coversFamily(parse(["::/2", "4000::/2", "8000::/2", "c000::/3"]), 6)).toBe(false);
    expect(coversFamily([], 4)).toBe(false);
    expect(worldFamilies(["0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1", "not a cidr"])).toEqual([4, 6]);
  });
});

describe("SSH allow-list findings", () => {
  it("accepts ordinary allow-lists", () => {
    expect(sshAllowListProblems(["203.0.113.4/32", "198.51.100.0/24", "10.0.0.0/8", "2001:db8::/32", "2001:db8:1::/48"])).toEqual([]);
  });

  it("reports the world, however it is spelled or split, once per family and naming the blocks that cover it", () => {
    expect(sshAllowListProblems(["0.0.0.0/0"])).toEqual(["0.0.0.0/0 opens SSH to the whole IPv4 internet"]);
    expect(sshAllowListProblems(["0::/0"])).toEqual(["0::/0 opens SSH to the whole IPv6 internet"]);
    expect(sshAllowListProblems(["0.0.0.0/1", "203.0.113.4/32", "128.0.0.0/1"])).toEqual([
      "0.0.0.0/1 and 128.0.0.0/1 together open SSH to the whole IPv4 internet",
    ]);
    const both = sshAllowListFindings(["::/1", "8000::/1", "0.0.0.0/0"]);
    expect(both.map((f) => [f.kind, f.family, f.cidrs])).toEqual([
      ["world", 4, ["0.0.0.0/0"]],
      ["world", 6, ["::/1", "8000::/1"]],
    ]);
  });

  it("reports each block wider than the bound (IPv4 /8, IPv6 /32)", () => {
    expect(NEAR_WORLD_PREFIX).toEqual({ 4: 8, 6: 32 });
    expect(sshAllowListProblems(["10.0.0.0/7", "2001::/16", "2001:db8::/32", "10.0.0.0/8"])).toEqual([
      "10.0.0.0/7 is wider than /8: it opens SSH to 33,554,432 IPv4 addresses (an SSH allow-list holds IPv4 blocks of /8 or narrower)",
      "2001::/16 is wider than /32: it opens SSH to 2^112 IPv6 addresses (an SSH allow-list holds IPv6 blocks of /32 or narrower)",
    ]);
  });

  it("reports blocks that are no CIDR and blocks with host bits, even with the world opt-in", () => {
    const problems = [
      '"203.0.113.4" is not a CIDR block such as 203.0.113.4/32 or 2001:db8::/48',
      "203.0.113.4/24 has host bits set: the network is 203.0.113.0/24",
    ];
    expect(sshAllowListProblems(["203.0.113.4", "203.0.113.4/24", "0.0.0.0/0", "10.0.0.0/7"], { allowWorld: true })).toEqual(problems);
  });

  it("near-world is exactly a prefix shorter than the bound, and the world findings agree with coversFamily", () => {
    fc.assert(
      fc.property(
        fc.array(
          familyArb.chain((f) => cidrArb(f)),
          { maxLength: 8 },
        ),
        (cidrs) => {
          const findings = sshAllowListFindings(cidrs.map(formatCidr));
          for (const family of [4, 6] as const) {
            const world = findings.some((f) => f.kind === "world" && f.family === family);
            expect(world).toBe(coversFamily(cidrs, family));
            const near = findings.filter((f) => f.kind === "near-world" && f.family === family).length;
            const expected = world ? 0 : cidrs.filter((c) => c.family === family && c.prefix < NEAR_WORLD_PREFIX[family]).length;
            expect(near).toBe(expected);
          }
          for (const c of cidrs) expect(isNearWorld(c)).toBe(c.prefix < NEAR_WORLD_PREFIX[c.family]);
        },
      ),
    );
  });

  it("names in a world finding only blocks that are needed: each one's removal uncovers the family", () => {
    fc.assert(
      fc.property(fc.array(cidrArb(4, 3), { maxLength: 12 }), (cidrs) => {
        const texts = cidrs.map(formatCidr);
        const world = sshAllowListFindings(texts).find((f) => f.kind === "world");
        if (world === undefined) return;
        const named = world.cidrs.map((t) => parseCidr(t)!);
        expect(coversFamily(named, 4)).toBe(true);
        named.forEach((_, i) =>
          expect(
            coversFamily(
              named.filter((__, j) => j !== i),
              4,
            ),
          ).toBe(false),
        );
      }),
    );
  });
});
