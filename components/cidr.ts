/**
 * CIDR rules shared by the program's config validation and the CrossGuard policy pack, so that both
 * sides judge an SSH allow-list the same way and word their findings the same way.
 *
 * Pure, Node standard library only (BigInt): the policy pack imports this file from `policy/`.
 *
 * - Parsing is strict: dotted-quad IPv4 without leading zeros, RFC 4291 IPv6 text (hex groups, one
 *   `::`, an optional dotted-quad tail), and a decimal prefix length. Anything else is not a CIDR.
 * - Host bits are accepted and cleared: `10.0.0.1/8` is the network `10.0.0.0/8`. The AWS provider
 *   rejects such a block in a security group rule, so `sshAllowListFindings` reports it (kind
 *   "host-bits") for the config to refuse early; the pack judges the network it denotes.
 * - World: a set of blocks of one family whose union is the whole address space, whatever the
 *   spelling (`::/0`, `0::/0`, `0000::/0`, or `0.0.0.0/1` with `128.0.0.0/1`).
 * - Near-world: a single block wider than {@link NEAR_WORLD_PREFIX} (shorter than IPv4 /8, which is
 *   16,777,216 addresses, or IPv6 /32, a whole ISP allocation). Such a block is no allow-list.
 */

export type IpFamily = 4 | 6;

/** A parsed CIDR block: its family, network address (host bits cleared) and prefix length. */
export interface Cidr {
  readonly family: IpFamily;
  readonly network: bigint;
  readonly prefix: number;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

/** The widest block (shortest prefix) an SSH allow-list may hold, per family. */
export const NEAR_WORLD_PREFIX: Readonly<Record<IpFamily, number>> = { 4: 8, 6: 32 };

const familyName = (family: IpFamily) => (family === 4 ? "IPv4" : "IPv6");

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  // A dotted-quad tail (`::ffff:192.0.2.1`) stands for the last two groups.
  let rest = text;
  let dotted: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    dotted = parseIpv4(text.slice(lastColon + 1));
    if (dotted === undefined) return undefined;
    rest = text.slice(0, lastColon + 1);
    if (!rest.endsWith("::")) rest = rest.slice(0, -1);
  }
  const width = dotted === undefined ? 8 : 6;
  const halves = rest.split("::");
  if (halves.length > 2) return undefined;
  const split = (s: string) => (s === "" ? [] : s.split(":"));
  const head = split(halves[0]);
  const tail = halves.length === 2 ? split(halves[1]) : [];
  const missing = width - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(`0x${group}`);
  }
  return dotted === undefined ? value : (value << 32n) | dotted;
}

const mask = (family: IpFamily, prefix: number): bigint => {
  const bits = BigInt(BITS[family]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
};

interface ParsedText {
  cidr: Cidr;
  hostBits: boolean;
}

function parseWithHostBits(text: string): ParsedText | undefined {
  const match = /^([^/\s]+)\/(0|[1-9]\d{0,2})$/.exec(text.trim());
  if (!match) return undefined;
  const [, address, prefixText] = match;
  const family: IpFamily = address.includes(":") ? 6 : 4;
  const prefix = Number(prefixText);
  if (prefix > BITS[family]) return undefined;
  const value = family === 4 ? parseIpv4(address) : parseIpv6(address);
  if (value === undefined) return undefined;
  const network = value & mask(family, prefix);
  return { cidr: { family, network, prefix }, hostBits: network !== value };
}

/** Parses a CIDR block (surrounding spaces allowed); undefined when it is not one. Host bits are cleared. */
export function parseCidr(text: string): Cidr | undefined {
  return parseWithHostBits(text)?.cidr;
}

function formatIpv6(value: bigint): string {
  const words = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952: compress the longest run (first on a tie) of two or more zero groups.
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best.start < 0) return hex.join(":");
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.length).join(":")}`;
}

/** The canonical text of a block: network address, lowercase, RFC 5952 compression for IPv6. */
export function formatCidr(cidr: Cidr): string {
  const address =
    cidr.family === 4
      ? [24n, 16n, 8n, 0n].map((shift) => ((cidr.network >> shift) & 0xffn).toString()).join(".")
      : formatIpv6(cidr.network);
  return `${address}/${cidr.prefix}`;
}

/** `parseCidr` then `formatCidr`: `0000::/0` → `::/0`, `10.0.0.1/8` → `10.0.0.0/8`; undefined when not a CIDR. */
export function canonicalCidr(text: string): string | undefined {
  const cidr = parseCidr(text);
  return cidr === undefined ? undefined : formatCidr(cidr);
}

/** Number of addresses in a block. */
export const blockSize = (cidr: Cidr): bigint => 1n << BigInt(BITS[cidr.family] - cidr.prefix);

/** True when the blocks of `family` among `cidrs` together cover that family's whole address space. */
export function coversFamily(cidrs: readonly Cidr[], family: IpFamily): boolean {
  const ranges = cidrs
    .filter((c) => c.family === family)
    .map((c) => ({ start: c.network, end: c.network + blockSize(c) }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let reached = 0n;
  for (const { start, end } of ranges) {
    if (start > reached) return false;
    if (end > reached) reached = end;
  }
  return reached === 1n << BigInt(BITS[family]);
}

/** The families (4, 6) whose whole address space the parsable blocks among `cidrs` cover. */
export function worldFamilies(cidrs: readonly string[]): IpFamily[] {
  const parsed = cidrs.map(parseCidr).filter((c): c is Cidr => c !== undefined);
  return ([4, 6] as const).filter((family) => coversFamily(parsed, family));
}

/** True for a block wider than the SSH bound of its family ({@link NEAR_WORLD_PREFIX}); the world included. */
export function isNearWorld(cidr: Cidr): boolean {
  return cidr.prefix < NEAR_WORLD_PREFIX[cidr.family];
}

export type SshFindingKind = "invalid" | "host-bits" | "world" | "near-world";

/** One thing wrong with an SSH allow-list: what kind, the blocks concerned (as written), and a sentence. */
export interface SshFinding {
  readonly kind: SshFindingKind;
  readonly family?: IpFamily;
  readonly cidrs: readonly string[];
  readonly message: string;
}

/** "33,554,432" for IPv4; "2^96" for IPv6, whose counts are too long to read. */
const countText = (cidr: Cidr) => (cidr.family === 4 ? blockSize(cidr).toLocaleString("en-US") : `2^${BITS[cidr.family] - cidr.prefix}`);

const cidrsOf = (items: readonly { cidr: Cidr }[]) => items.map((item) => item.cidr);

/** The blocks of a cover that are needed: narrowest first, a block is dropped while the rest still cover. */
function irredundantCover<T extends { cidr: Cidr }>(items: readonly T[], family: IpFamily): T[] {
  let kept = [...items];
  for (const item of [...items].sort((a, b) => b.cidr.prefix - a.cidr.prefix)) {
    const without = kept.filter((k) => k !== item);
    if (coversFamily(cidrsOf(without), family)) kept = without;
  }
  return kept;
}

const list = (items: readonly string[]) =>
  items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;

/**
 * Everything wrong with a list of CIDR blocks allowed to reach SSH, in order: blocks that are no
 * CIDR, blocks with host bits set, a family whose whole space the list covers (one finding naming
 * the blocks that cover it), and, in a family not covered, each block wider than the bound.
 * Messages name the blocks as written and never end with a full stop, so callers can add a hint.
 */
export function sshAllowListFindings(cidrs: readonly string[]): SshFinding[] {
  const findings: SshFinding[] = [];
  const parsed: { text: string; cidr: Cidr }[] = [];
  for (const text of cidrs) {
    const result = parseWithHostBits(text);
    if (result === undefined) {
      findings.push({
        kind: "invalid",
        cidrs: [text],
        message: `${JSON.stringify(text)} is not a CIDR block such as 203.0.113.4/32 or 2001:db8::/48`,
      });
      continue;
    }
    if (result.hostBits) {
      findings.push({
        kind: "host-bits",
        family: result.cidr.family,
        cidrs: [text],
        message: `${text.trim()} has host bits set: the network is ${formatCidr(result.cidr)}`,
      });
    }
    parsed.push({ text: text.trim(), cidr: result.cidr });
  }
  for (const family of [4, 6] as const) {
    const mine = parsed.filter((p) => p.cidr.family === family);
    if (coversFamily(cidrsOf(mine), family)) {
      const texts = irredundantCover(mine, family).map((p) => p.text);
      const verb = texts.length === 1 ? "opens" : "together open";
      findings.push({
        kind: "world",
        family,
        cidrs: texts,
        message: `${list(texts)} ${verb} SSH to the whole ${familyName(family)} internet`,
      });
      continue;
    }
    for (const { text, cidr } of mine.filter((p) => isNearWorld(p.cidr))) {
      const bound = NEAR_WORLD_PREFIX[family];
      findings.push({
        kind: "near-world",
        family,
        cidrs: [text],
        message:
          `${text} is wider than /${bound}: it opens SSH to ${countText(cidr)} ${familyName(family)} addresses ` +
          `(an SSH allow-list holds ${familyName(family)} blocks of /${bound} or narrower)`,
      });
    }
  }
  return findings;
}

/**
 * The problems of an SSH allow-list as sentences. With `allowWorld` (the stack's explicit opt-in),
 * world and near-world blocks are accepted; invalid blocks and host bits never are.
 */
export function sshAllowListProblems(cidrs: readonly string[], options: { allowWorld?: boolean } = {}): string[] {
  return sshAllowListFindings(cidrs)
    .filter((f) => !(options.allowWorld && (f.kind === "world" || f.kind === "near-world")))
    .map((f) => f.message);
}
