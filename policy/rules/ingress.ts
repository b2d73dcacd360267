/**
 * World-open ingress, judged on the shared CIDR rules (components/cidr.ts): a set of blocks whose
 * union is a whole address family counts as the world, however it is spelled or split, and SSH
 * from a block wider than the SSH bound counts as near-world (AWS FSBP EC2.13, EC2.18, EC2.19).
 *
 * Only TCP/UDP 80 and 443 may be open to the world, one port per rule. SSH (TCP 22 on its own) to
 * the world or near it is accepted only where the stack opted in (see SSH_ALLOW_WORLD_TAG): those
 * findings come back as kind "ssh" so that a policy can report them as a violation or as advisory.
 *
 * Pure: permissions in, findings out. Which resource holds a permission is the caller's business.
 */
import { Cidr, IpFamily, coversFamily, parseCidr, sshAllowListFindings } from "../../components/cidr";
import { show } from "./common";

/** Ports that may be reachable from the whole internet. */
export const WORLD_OPEN_PORTS: readonly number[] = [80, 443];
export const SSH_PORT = 22;
/** The tag (value "true") by which a security group opts in to SSH from the world: `sshAllowWorld: true`. */
export const SSH_ALLOW_WORLD_TAG = "django-deploy:ssh-allow-world";

export type ProtocolKind = "all" | "tcp" | "udp" | "other";

/** A protocol as the AWS API takes it ("tcp", "6", "-1", "all", "icmp", …), normalised. */
export function protocolKind(protocol: string | undefined | null): ProtocolKind {
  const p = normalProtocol(protocol);
  if (p === "-1" || p === "all") return "all";
  if (p === "tcp" || p === "6") return "tcp";
  if (p === "udp" || p === "17") return "udp";
  return "other";
}

const normalProtocol = (protocol: string | undefined | null) =>
  String(protocol ?? "")
    .trim()
    .toLowerCase();

/** One ingress permission: which blocks may reach which protocol and ports. */
export interface Permission {
  /** How messages name it: "ingress[1]", or a resource name. */
  readonly label: string;
  /** What is judged on its own elsewhere: combinations within one owner are not reported here. */
  readonly owner: string;
  readonly protocol: string | undefined | null;
  readonly fromPort: number | undefined | null;
  readonly toPort: number | undefined | null;
  readonly cidrs: readonly string[];
}

/**
 * "violation": not allowed, full stop. "ssh": SSH (TCP 22) open to the world or to a near-world
 * block, which the stack may accept with the opt-in tag.
 */
export interface IngressFinding {
  readonly kind: "violation" | "ssh";
  readonly message: string;
  /** Owners of the permissions that make the opening: an SSH opt-in must cover each of them. */
  readonly owners: readonly string[];
}

type PortVerdict = { verdict: "ok" } | { verdict: "ssh" } | { verdict: "problem"; text: string };

/** What opening `kind` ports from..to to the world amounts to. */
export function judgeWorldPorts(
  protocol: string | undefined | null,
  fromPort: number | undefined | null,
  toPort: number | undefined | null,
): PortVerdict {
  const kind = protocolKind(protocol);
  const allowed = `only TCP/UDP ${WORLD_OPEN_PORTS.join("/")} may be open to the world`;
  if (kind === "all") return { verdict: "problem", text: `allows all protocols and ports (protocol ${show(protocol)}); ${allowed}` };
  if (kind === "other") return { verdict: "problem", text: `allows protocol ${show(protocol)}; ${allowed}` };
  if (typeof fromPort !== "number" || typeof toPort !== "number") {
    return { verdict: "problem", text: `on ${kind} has no explicit port (so all ports); ${allowed}` };
  }
  const [from, to] = fromPort <= toPort ? [fromPort, toPort] : [toPort, fromPort];
  const range = from === to ? `port ${from}` : `ports ${from}-${to}`;
  if (kind === "tcp" && from === SSH_PORT && to === SSH_PORT) return { verdict: "ssh" };
  if (kind === "tcp" && from <= SSH_PORT && SSH_PORT <= to) {
    return { verdict: "problem", text: `opens SSH among tcp ${range}; port 22 must never be open to the world, and ${allowed}` };
  }
  if (from !== to || !WORLD_OPEN_PORTS.includes(from)) return { verdict: "problem", text: `opens ${kind} ${range}; ${allowed}` };
  return { verdict: "ok" };
}

/** True when the permission lets TCP port 22 through. */
function reachesSsh(p: Permission): boolean {
  const kind = protocolKind(p.protocol);
  if (kind === "all") return true;
  if (kind !== "tcp") return false;
  if (typeof p.fromPort !== "number" || typeof p.toPort !== "number") return true;
  return Math.min(p.fromPort, p.toPort) <= SSH_PORT && SSH_PORT <= Math.max(p.fromPort, p.toPort);
}

const prefixed = (label: string, text: string) => (label === "" ? text : `${label}: ${text}`);

const joinList = (items: readonly string[]) =>
  items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;

function source(cover: readonly string[]): string {
  return cover.length === 1 ? cover[0] : `${joinList(cover)} (together the whole ${cover[0].includes(":") ? "IPv6" : "IPv4"} internet)`;
}

/** Each permission on its own: its blocks that are no CIDR, its world families, its near-world SSH. */
export function judgeAlone(p: Permission): IngressFinding[] {
  const findings: IngressFinding[] = [];
  const push = (kind: IngressFinding["kind"], text: string) => findings.push({ kind, message: prefixed(p.label, text), owners: [p.owner] });
  for (const f of sshAllowListFindings(p.cidrs)) {
    if (f.kind === "invalid") {
      push("violation", `${f.message}; the policy cannot judge it.`);
    } else if (f.kind === "world") {
      const judged = judgeWorldPorts(p.protocol, p.fromPort, p.toPort);
      if (judged.verdict === "ssh") push("ssh", f.message);
      if (judged.verdict === "problem") push("violation", `ingress from ${source(f.cidrs)} ${judged.text}.`);
    } else if (f.kind === "near-world" && reachesSsh(p)) {
      push("ssh", f.message);
    }
  }
  return findings;
}

const parsedOf = (p: Permission, family: IpFamily): Cidr[] =>
  p.cidrs.map(parseCidr).filter((c): c is Cidr => c !== undefined && c.family === family);

/** True when the blocks of `family` in these permissions together cover the family. */
const coversWith = (perms: readonly Permission[], family: IpFamily) =>
  coversFamily(
    perms.flatMap((p) => parsedOf(p, family)),
    family,
  );

const MAX_PORT = 65535;

/** The port range a permission reaches in its protocol; the whole range when it names none. */
function portRange(p: Permission): [number, number] {
  if (protocolKind(p.protocol) === "all" || typeof p.fromPort !== "number" || typeof p.toPort !== "number") return [0, MAX_PORT];
  return [Math.max(0, Math.min(p.fromPort, p.toPort)), Math.min(MAX_PORT, Math.max(p.fromPort, p.toPort))];
}

/** Protocol buckets: tcp, udp, each other protocol named, and "*" (what only all-protocol rules reach). */
function bucketOf(p: Permission): string {
  const kind = protocolKind(p.protocol);
  return kind === "other" ? `other:${normalProtocol(p.protocol)}` : kind === "all" ? "*" : kind;
}

interface Opening {
  bucket: string;
  from: number;
  to: number;
  members: Permission[];
}

/** Where the permissions of several owners together, and no owner alone, cover `family`. */
function jointOpenings(perms: readonly Permission[], family: IpFamily): Opening[] {
  const withFamily = perms.filter((p) => parsedOf(p, family).length > 0);
  const buckets = new Set(["*", ...withFamily.map(bucketOf)]);
  const openings: Opening[] = [];
  for (const bucket of buckets) {
    const reach = withFamily.filter((p) => bucketOf(p) === bucket || bucketOf(p) === "*");
    const ported = bucket === "tcp" || bucket === "udp";
    const points = [...new Set([0, MAX_PORT + 1, ...(ported ? reach.flatMap((p) => [portRange(p)[0], portRange(p)[1] + 1]) : [])])].sort(
      (a, b) => a - b,
    );
    for (let i = 0; i + 1 < points.length; i++) {
      const [from, to] = ported ? [points[i], points[i + 1] - 1] : [0, MAX_PORT];
      const members = reach.filter((p) => !ported || (portRange(p)[0] <= from && to <= portRange(p)[1]));
      const covers = (ps: Permission[]) => coversWith(ps, family);
      const owners = [...new Set(members.map((p) => p.owner))];
      const anyOwnerAlone = owners.some((o) => covers(members.filter((p) => p.owner === o)));
      const allProtocolRulesAlone = bucket !== "*" && covers(members.filter((p) => bucketOf(p) === "*"));
      if (covers(members) && !anyOwnerAlone && !allProtocolRulesAlone) {
        const last = openings[openings.length - 1];
        const same = last && last.bucket === bucket && last.to + 1 === from && last.members.length === members.length;
        if (same && last.members.every((m, j) => m === members[j])) last.to = to;
        else openings.push({ bucket, from, to, members });
      }
    }
  }
  return openings;
}

/** The blocks of `family` that make the members' union the world, fewest needed (narrowest dropped first). */
function coverTexts(members: readonly Permission[], family: IpFamily): string[] {
  const texts = members.flatMap((p) => p.cidrs.filter((t) => parseCidr(t)?.family === family));
  return (
    sshAllowListFindings(texts)
      .find((f) => f.kind === "world" && f.family === family)
      ?.cidrs.slice() ?? texts
  );
}

/**
 * Openings to the world that only several owners' permissions make together (two inline rules of
 * a group, or separate rule resources of one group). Each owner alone is for `judgeAlone`.
 */
export function judgeTogether(perms: readonly Permission[]): IngressFinding[] {
  const findings: IngressFinding[] = [];
  for (const family of [4, 6] as const) {
    for (const opening of jointOpenings(perms, family)) {
      const cover = coverTexts(opening.members, family);
      // Name, and ask the opt-in of, only the permissions whose blocks make up the cover.
      const contributors = opening.members.filter((m) => m.cidrs.some((c) => cover.includes(c.trim())));
      const labels = joinList([...new Set(contributors.map((m) => m.label))]);
      const owners = [...new Set(contributors.map((m) => m.owner))];
      const protocol = opening.bucket === "*" ? "-1" : opening.bucket.replace(/^other:/, "");
      const judged = judgeWorldPorts(protocol, opening.from, opening.to);
      if (judged.verdict === "ssh") {
        const shared = sshAllowListFindings(cover).find((f) => f.kind === "world");
        findings.push({ kind: "ssh", message: `${labels} together: ${shared?.message ?? joinList(cover)}`, owners });
      } else if (judged.verdict === "problem") {
        findings.push({ kind: "violation", message: `${labels} together: ingress from ${source(cover)} ${judged.text}.`, owners });
      }
    }
  }
  return findings;
}

/** Every finding for a set of permissions: each alone, then what they open only together. */
export function judgeIngress(perms: readonly Permission[]): IngressFinding[] {
  return [...perms.flatMap(judgeAlone), ...judgeTogether(perms)];
}
