/**
 * World-open ingress: inline security group rules, aws.ec2.SecurityGroupRule,
 * aws.vpc.SecurityGroupIngressRule, rules of one group judged together across resources, and the
 * SSH opt-in (tag django-deploy:ssh-allow-world=true) reported as advisory.
 */
import * as fc from "fast-check";
import { coversFamily, parseCidr } from "../components/cidr";
import { StackResource, TYPES, run, runStack } from "./harness";
import { Permission, SSH_ALLOW_WORLD_TAG, judgeIngress, judgeWorldPorts } from "./rules";

const web = (port: number, ...cidrs: string[]) => ({
  protocol: "tcp",
  fromPort: port,
  toPort: port,
  cidrBlocks: cidrs.length > 0 ? cidrs : ["0.0.0.0/0"],
});
const tcp = (fromPort: number, toPort: number, cidrBlocks: string[]) => ({ protocol: "tcp", fromPort, toPort, cidrBlocks });
const optIn = { [SSH_ALLOW_WORLD_TAG]: "true" };
const NOT_OPTED_IN = `port 22 must never be open to the world unless the stack opts in (sshAllowWorld: true, which tags the security group ${SSH_ALLOW_WORLD_TAG}=true).`;

const inline = (props: Record<string, unknown>) => run("security-group-world-ingress-web-only", TYPES.securityGroup, props);

describe("judgeWorldPorts", () => {
  it("allows exactly TCP/UDP 80 and 443, and calls TCP 22 alone SSH", () => {
    expect(judgeWorldPorts("tcp", 80, 80)).toEqual({ verdict: "ok" });
    expect(judgeWorldPorts("6", 443, 443)).toEqual({ verdict: "ok" });
    expect(judgeWorldPorts("udp", 443, 443)).toEqual({ verdict: "ok" });
    expect(judgeWorldPorts("tcp", 22, 22)).toEqual({ verdict: "ssh" });
  });

  it("rejects port ranges, SSH among other ports, all protocols and non-TCP/UDP", () => {
    const text = (...args: Parameters<typeof judgeWorldPorts>) => {
      const v = judgeWorldPorts(...args);
      return v.verdict === "problem" ? v.text : v.verdict;
    };
    expect(text("tcp", 0, 65535)).toMatch(/^opens SSH among tcp ports 0-65535; port 22 must never/);
    expect(text("udp", 22, 22)).toMatch(/^opens udp port 22; only TCP\/UDP 80\/443/);
    expect(text("tcp", 8000, 8000)).toMatch(/^opens tcp port 8000/);
    expect(text("tcp", 443, 80)).toMatch(/^opens tcp ports 80-443/);
    expect(text("-1", 0, 0)).toMatch(/^allows all protocols and ports/);
    expect(text("all", undefined, undefined)).toMatch(/^allows all protocols/);
    expect(text("icmp", -1, -1)).toMatch(/^allows protocol "icmp"/);
    expect(text("tcp", undefined, undefined)).toMatch(/no explicit port/);
  });
});

describe("security-group-world-ingress-web-only (inline ingress)", () => {
  it("passes 80/443 from the world, SSH from a trusted range, and a group without ingress", async () => {
    const props = {
      ingress: [web(80), web(443), web(443, "::/0"), web(22, "203.0.113.7/32"), web(22, "2001:db8::/32")],
      egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }],
    };
    expect(await inline(props)).toEqual([]);
    expect(await inline({})).toEqual([]);
  });

  it("fails SSH open to 0.0.0.0/0 or to any spelling of ::/0, once per family", async () => {
    for (const v6 of ["::/0", "0::/0", "::0/0", "0000::/0"]) {
      const props = { ingress: [web(80), { ...web(22), ipv6CidrBlocks: [v6] }] };
      expect(await inline(props)).toEqual([
        `ingress[1]: 0.0.0.0/0 opens SSH to the whole IPv4 internet; ${NOT_OPTED_IN}`,
        `ingress[1]: ${v6} opens SSH to the whole IPv6 internet; ${NOT_OPTED_IN}`,
      ]);
    }
  });

  it("counts blocks that together cover a family as the world, within one rule", async () => {
    expect(await inline({ ingress: [web(8000, "0.0.0.0/1", "128.0.0.0/1")] })).toEqual([
      "ingress[0]: ingress from 0.0.0.0/1 and 128.0.0.0/1 (together the whole IPv4 internet) opens tcp port 8000; only TCP/UDP 80/443 may be open to the world.",
    ]);
    expect(await inline({ ingress: [{ ...web(22, "10.0.0.0/8"), ipv6CidrBlocks: ["::/1", "8000::/1"] }] })).toEqual([
      `ingress[0]: ::/1 and 8000::/1 together open SSH to the whole IPv6 internet; ${NOT_OPTED_IN}`,
    ]);
  });

  it("counts blocks of several rules for the same port as the world", async () => {
    // Each half is near-world on its own, and the two together are the world.
    expect(await inline({ ingress: [web(22, "0.0.0.0/1"), web(443), web(22, "128.0.0.0/1")] })).toEqual([
      expect.stringMatching(/^ingress\[0\]: 0\.0\.0\.0\/1 is wider than \/8/),
      expect.stringMatching(/^ingress\[2\]: 128\.0\.0\.0\/1 is wider than \/8/),
      `ingress[0] and ingress[2] together: 0.0.0.0/1 and 128.0.0.0/1 together open SSH to the whole IPv4 internet; ${NOT_OPTED_IN}`,
    ]);
    // A rule whose blocks add nothing to the cover is not named.
    expect(await inline({ ingress: [web(8000, "0.0.0.0/1"), web(8000, "192.0.2.0/24"), web(8000, " 128.0.0.0/1")] })).toEqual([
      "ingress[0] and ingress[2] together: ingress from 0.0.0.0/1 and 128.0.0.0/1 (together the whole IPv4 internet) opens tcp port 8000; only TCP/UDP 80/443 may be open to the world.",
    ]);
    // Overlapping ranges: only the ports both rules reach are open to everyone.
    expect(await inline({ ingress: [tcp(1000, 2000, ["0.0.0.0/1"]), tcp(1500, 3000, ["128.0.0.0/1"])] })).toEqual([
      "ingress[0] and ingress[1] together: ingress from 0.0.0.0/1 and 128.0.0.0/1 (together the whole IPv4 internet) opens tcp ports 1500-2000; only TCP/UDP 80/443 may be open to the world.",
    ]);
    // An all-protocol rule reaches every TCP port.
    const all = { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/1"] };
    expect((await inline({ ingress: [all, web(22, "128.0.0.0/1")] })).slice(2)).toEqual([
      `ingress[0] and ingress[1] together: 0.0.0.0/1 and 128.0.0.0/1 together open SSH to the whole IPv4 internet; ${NOT_OPTED_IN}`,
    ]);
    // Web ports split over rules stay allowed.
    expect(await inline({ ingress: [web(443, "0.0.0.0/1"), web(443, "128.0.0.0/1"), web(8000, "0.0.0.0/1")] })).toEqual([]);
  });

  it("fails SSH from a block wider than IPv4 /8 or IPv6 /32, on any rule that reaches port 22", async () => {
    expect(await inline({ ingress: [web(22, "10.0.0.0/7"), { ...tcp(0, 65535, []), ipv6CidrBlocks: ["2001::/16"] }] })).toEqual([
      `ingress[0]: 10.0.0.0/7 is wider than /8: it opens SSH to 33,554,432 IPv4 addresses (an SSH allow-list holds IPv4 blocks of /8 or narrower); ${NOT_OPTED_IN}`,
      `ingress[1]: 2001::/16 is wider than /32: it opens SSH to 2^112 IPv6 addresses (an SSH allow-list holds IPv6 blocks of /32 or narrower); ${NOT_OPTED_IN}`,
    ]);
    expect(await inline({ ingress: [web(443, "0.0.0.0/1"), web(22, "10.0.0.0/8"), web(22, "2001:db8::/32")] })).toEqual([]);
  });

  it("fails any other port, port ranges and all traffic from the world, and blocks it cannot parse", async () => {
    const props = { ingress: [web(8000), { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }, web(80, "0.0.0.0/00")] };
    expect(await inline(props)).toEqual([
      "ingress[0]: ingress from 0.0.0.0/0 opens tcp port 8000; only TCP/UDP 80/443 may be open to the world.",
      'ingress[1]: ingress from 0.0.0.0/0 allows all protocols and ports (protocol "-1"); only TCP/UDP 80/443 may be open to the world.',
      'ingress[2]: "0.0.0.0/00" is not a CIDR block such as 203.0.113.4/32 or 2001:db8::/48; the policy cannot judge it.',
    ]);
  });

  it("accepts SSH to the world or near it when the group carries the opt-in tag, and nothing more", async () => {
    const ssh = [web(80), { ...web(22), ipv6CidrBlocks: ["::/0"] }, web(22, "10.0.0.0/7")];
    expect(await inline({ ingress: ssh, tags: optIn })).toEqual([]);
    expect(await inline({ ingress: [web(22, "0.0.0.0/1"), web(22, "128.0.0.0/1")], tags: optIn })).toEqual([]);
    expect(await inline({ ingress: [tcp(0, 65535, ["0.0.0.0/0"]), web(8000)], tags: optIn })).toEqual([
      expect.stringMatching(/^ingress\[0\]: ingress from 0\.0\.0\.0\/0 opens SSH among tcp ports 0-65535/),
      expect.stringMatching(/^ingress\[1\]: ingress from 0\.0\.0\.0\/0 opens tcp port 8000/),
    ]);
    for (const value of ["false", "yes", "TRUE"]) {
      expect(await inline({ ingress: [web(22)], tags: { [SSH_ALLOW_WORLD_TAG]: value } })).toEqual([
        `ingress[0]: 0.0.0.0/0 opens SSH to the whole IPv4 internet; ${NOT_OPTED_IN}`,
      ]);
    }
  });

  it("reads the tags only when an SSH finding needs them (they may be unknown during preview)", async () => {
    const props = {
      ingress: [web(443)],
      get tags(): never {
        throw new Error("unknown during preview");
      },
    };
    expect(await inline(props)).toEqual([]);
  });
});

describe("security-group-rule-world-ingress-web-only (aws.ec2.SecurityGroupRule)", () => {
  const rule = (over: Record<string, unknown>) => ({ type: "ingress", securityGroupId: "sg-1", ...web(443), ...over });
  const check = (props: Record<string, unknown>) => run("security-group-rule-world-ingress-web-only", TYPES.securityGroupRule, props);

  it("passes HTTPS from the world, and egress anywhere", async () => {
    expect(await check(rule({}))).toEqual([]);
    expect(await check(rule({ type: "egress", protocol: "-1", fromPort: 0, toPort: 0 }))).toEqual([]);
  });

  it("fails SSH from the world over IPv4 or IPv6; it has no tags, so no opt-in", async () => {
    expect(await check(rule({ fromPort: 22, toPort: 22 }))).toEqual([`0.0.0.0/0 opens SSH to the whole IPv4 internet; ${NOT_OPTED_IN}`]);
    const v6 = rule({ fromPort: 22, toPort: 22, cidrBlocks: undefined, ipv6CidrBlocks: ["0::/0"] });
    expect(await check(v6)).toEqual([`0::/0 opens SSH to the whole IPv6 internet; ${NOT_OPTED_IN}`]);
    expect(await check({ ...rule({ fromPort: 22, toPort: 22 }), tags: optIn })).toHaveLength(1);
  });
});

describe("vpc-ingress-rule-world-ingress-web-only (aws.vpc.SecurityGroupIngressRule)", () => {
  const rule = (over: Record<string, unknown>) => ({
    securityGroupId: "sg-1",
    ipProtocol: "tcp",
    fromPort: 80,
    toPort: 80,
    cidrIpv4: "0.0.0.0/0",
    ...over,
  });
  const check = (props: Record<string, unknown>) => run("vpc-ingress-rule-world-ingress-web-only", TYPES.ingressRule, props);

  it("passes HTTP from the world and SSH from a trusted range", async () => {
    expect(await check(rule({}))).toEqual([]);
    expect(await check(rule({ fromPort: 22, toPort: 22, cidrIpv4: "198.51.100.0/24" }))).toEqual([]);
  });

  it("fails SSH from ::/0 unless the rule carries the opt-in tag, and all traffic from 0.0.0.0/0", async () => {
    const ssh = rule({ fromPort: 22, toPort: 22, cidrIpv4: undefined, cidrIpv6: "::/0" });
    expect(await check(ssh)).toEqual([`::/0 opens SSH to the whole IPv6 internet; ${NOT_OPTED_IN}`]);
    expect(await check({ ...ssh, tags: optIn })).toEqual([]);
    expect(await check(rule({ ipProtocol: "-1", fromPort: undefined, toPort: undefined }))).toEqual([
      'ingress from 0.0.0.0/0 allows all protocols and ports (protocol "-1"); only TCP/UDP 80/443 may be open to the world.',
    ]);
  });
});

describe("rules of one group across resources (stack policies)", () => {
  const sg = (name: string, props: Record<string, unknown> = {}): StackResource => ({ type: TYPES.securityGroup, name, props });
  const ingressRule = (name: string, sgName: string | undefined, props: Record<string, unknown>): StackResource => ({
    type: TYPES.ingressRule,
    name,
    props: { securityGroupId: sgName === undefined ? "sg-0123" : `id-of-${sgName}`, ipProtocol: "tcp", ...props },
    propertyDependencies: sgName === undefined ? undefined : { securityGroupId: [sgName] },
  });
  const half = (name: string, cidrIpv4: string, extra: Record<string, unknown> = {}) =>
    ingressRule(name, "web", { fromPort: 22, toPort: 22, cidrIpv4, ...extra });
  const joint = (resources: StackResource[]) => runStack("security-group-joint-world-ingress-web-only", resources);
  const optIns = (resources: StackResource[]) => runStack("security-group-ssh-world-opt-in", resources);

  it("reports on the group what its rule resources open only together", async () => {
    const resources = [sg("web", { ingress: [web(443)] }), half("ssh-a", "0.0.0.0/1"), half("ssh-b", "128.0.0.0/1")];
    expect(await joint(resources)).toEqual([
      `web: ssh-a and ssh-b together: 0.0.0.0/1 and 128.0.0.0/1 together open SSH to the whole IPv4 internet; ${NOT_OPTED_IN}`,
    ]);
    const inlineAndRule = [
      sg("web", { ingress: [tcp(8000, 8000, ["0.0.0.0/1"])] }),
      ingressRule("r", "web", { fromPort: 8000, toPort: 8000, cidrIpv4: "128.0.0.0/1" }),
    ];
    expect(await joint(inlineAndRule)).toEqual([
      "web: web ingress[0] and r together: ingress from 0.0.0.0/1 and 128.0.0.0/1 (together the whole IPv4 internet) opens tcp port 8000; only TCP/UDP 80/443 may be open to the world.",
    ]);
  });

  it("groups rules by a literal group id too, and leaves rules of different groups alone", async () => {
    const literal = [
      ingressRule("a", undefined, { fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/1" }),
      ingressRule("b", undefined, { fromPort: 22, toPort: 22, cidrIpv4: "128.0.0.0/1" }),
    ];
    expect(await joint(literal)).toEqual([
      expect.stringMatching(/^a: a and b together: 0\.0\.0\.0\/1 and 128\.0\.0\.0\/1 together open SSH/),
    ]);
    const apart = [
      sg("one"),
      sg("two"),
      ingressRule("a", "one", { fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/1" }),
      ingressRule("b", "two", { fromPort: 22, toPort: 22, cidrIpv4: "128.0.0.0/1" }),
    ];
    expect(await joint(apart)).toEqual([]);
  });

  it("does not repeat what one resource opens on its own (the resource policies report that)", async () => {
    expect(await joint([sg("web", { ingress: [web(22, "0.0.0.0/1"), web(22, "128.0.0.0/1")] }), half("ssh-a", "0.0.0.0/1")])).toEqual([]);
  });

  it("accepts a joint SSH opening when every resource involved opted in, and reports it as advisory", async () => {
    const tagged = [sg("web"), half("ssh-a", "0.0.0.0/1", { tags: optIn }), half("ssh-b", "128.0.0.0/1", { tags: optIn })];
    expect(await joint(tagged)).toEqual([]);
    expect(await optIns(tagged)).toEqual([
      expect.stringMatching(/^ssh-a: ssh-a: 0\.0\.0\.0\/1 is wider than \/8: .*; accepted/),
      expect.stringMatching(/^ssh-b: ssh-b: 128\.0\.0\.0\/1 is wider than \/8: .*; accepted/),
      `web: ssh-a and ssh-b together: 0.0.0.0/1 and 128.0.0.0/1 together open SSH to the whole IPv4 internet; accepted: the stack opted in (${SSH_ALLOW_WORLD_TAG}=true, from sshAllowWorld: true).`,
    ]);
    const oneTagged = [sg("web"), half("ssh-a", "0.0.0.0/1", { tags: optIn }), half("ssh-b", "128.0.0.0/1")];
    expect(await joint(oneTagged)).toHaveLength(1);
    expect(await optIns(oneTagged)).toEqual([expect.stringMatching(/^ssh-a: ssh-a: 0\.0\.0\.0\/1 is wider than \/8: .*; accepted/)]);
  });

  it("lists every opted-in SSH opening of the stack as advisory, and nothing else", async () => {
    const resources = [
      sg("host", { ingress: [web(443), { ...web(22), ipv6CidrBlocks: ["::/0"] }], tags: optIn }),
      sg("other", { ingress: [web(22)] }),
      ingressRule("v6", "other", { fromPort: 22, toPort: 22, cidrIpv6: "2001::/16", tags: optIn }),
    ];
    expect(await optIns(resources)).toEqual([
      expect.stringMatching(/^host: host ingress\[1\]: 0\.0\.0\.0\/0 opens SSH to the whole IPv4 internet; accepted/),
      expect.stringMatching(/^host: host ingress\[1\]: ::\/0 opens SSH to the whole IPv6 internet; accepted/),
      expect.stringMatching(/^v6: v6: 2001::\/16 is wider than \/32: .*; accepted/),
    ]);
  });
});

describe("judgeIngress against a port-by-port model", () => {
  const pool = ["0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2", "192.0.2.0/24"];
  const portArb = fc.constantFrom(21, 22, 23, 80, 443, 8000);
  const permArb = (i: number) =>
    fc.record({ a: portArb, b: portArb, cidrs: fc.subarray(pool, { minLength: 1 }) }).map(({ a, b, cidrs }): Permission => ({
      label: `ingress[${i}]`,
      owner: `ingress[${i}]`,
      protocol: "tcp",
      fromPort: Math.min(a, b),
      toPort: Math.max(a, b),
      cidrs,
    }));
  const permsArb = fc.integer({ min: 1, max: 5 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => permArb(i))));

  /** Ports (among those the rules name, and one past each) that the union of the rules reaching them opens to all of IPv4. */
  const worldPorts = (perms: Permission[]) => {
    // Coverage is constant between rule boundaries; each boundary and its neighbours, with the
    // special ports, meet every stretch and every port that is judged apart.
    const boundaries = perms.flatMap((p) => [p.fromPort!, p.toPort! + 1]);
    const candidates = [...new Set([22, 80, 443, ...boundaries.flatMap((b) => [b - 1, b, b + 1])])];
    return candidates.filter((port) => {
      const reaching = perms.filter((p) => p.fromPort! <= port && port <= p.toPort!);
      return coversFamily(
        reaching.flatMap((p) => p.cidrs.map((c) => parseCidr(c)!)),
        4,
      );
    });
  };

  /** A rule reaching port 22 from a block wider than /8, in a rule whose blocks do not cover IPv4 on their own. */
  const nearWorldSsh = (perms: Permission[]) =>
    perms.some((p) => {
      const cidrs = p.cidrs.map((c) => parseCidr(c)!);
      return p.fromPort! <= 22 && 22 <= p.toPort! && !coversFamily(cidrs, 4) && cidrs.some((c) => c.prefix < 8);
    });

  it("finds something exactly when a port other than 80/443 is open to the world, or SSH to a near-world block", () => {
    fc.assert(
      fc.property(permsArb, (perms) => {
        const open = worldPorts(perms);
        const findings = judgeIngress(perms);
        expect(findings.length > 0).toBe(open.some((p) => p !== 80 && p !== 443) || nearWorldSsh(perms));
        if (findings.some((f) => f.kind === "ssh")) expect(open.includes(22) || nearWorldSsh(perms)).toBe(true);
        if (findings.some((f) => f.kind === "violation"))
          expect(open.some((p) => p !== 80 && p !== 443 && p !== 22) || open.includes(22)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
