/**
 * Text for display and filters: addresses (RFC 5952 for IPv6) and TCP flags. Called once per
 * flow or per printed line, never in the decode loop.
 */
import { TCP_FLAG } from '../core/packet.js';

export function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * RFC 5952 §4: lowercase hex, no leading zeros in a group, the longest run of two or more zero
 * groups written as `::` (the first such run on a tie, a single zero group stays `0`), and
 * §5: an IPv4-mapped address (::ffff:0:0/96) in mixed notation, `::ffff:192.0.2.1`.
 */
export function formatIPv6(b: Uint8Array, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(b, off + 12)}`;
  }
  let bestStart = -1;
  let bestLength = 1; // a run must be longer than this to be compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** An address of `len` bytes (4 or 16) at `off`; any other length prints as hex bytes. */
export function formatAddress(b: Uint8Array, off: number, len: number): string {
  if (len === 4) return formatIPv4(b, off);
  if (len === 16) return formatIPv6(b, off);
  const parts: string[] = [];
  for (let i = 0; i < len; i++) parts.push((b[off + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

// Bit order (FIN first) is the order tshark's Info column and tcpdump both list flags in.
const FLAG_NAMES: ReadonlyArray<readonly [number, string, string]> = [
  [TCP_FLAG.FIN, 'FIN', 'F'],
  [TCP_FLAG.SYN, 'SYN', 'S'],
  [TCP_FLAG.RST, 'RST', 'R'],
  [TCP_FLAG.PSH, 'PSH', 'P'],
  [TCP_FLAG.ACK, 'ACK', '.'],
  [TCP_FLAG.URG, 'URG', 'U'],
  [TCP_FLAG.ECE, 'ECE', 'E'],
  [TCP_FLAG.CWR, 'CWR', 'W'],
  // Bit 8, NS in RFC 3540, renamed AE (Accurate ECN) by RFC 9768: tshark 4.0 shows "AE" and
  // current tcpdump "e".
  [TCP_FLAG.NS, 'AE', 'e'],
];

/** tshark's Info column: "SYN, ACK", "FIN, PSH, ACK"; "<None>" when no flag is set. */
export function formatTcpFlags(flags: number): string {
  const names: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if ((flags & bit) !== 0) names.push(name);
  return names.length === 0 ? '<None>' : names.join(', ');
}

/** tcpdump's `Flags [...]`: "S", "S.", "P.", "F.", "SEW"; "none" when no flag is set. */
export function formatTcpFlagsCompact(flags: number): string {
  let s = '';
  for (const [bit, , letter] of FLAG_NAMES) if ((flags & bit) !== 0) s += letter;
  return s === '' ? 'none' : s;
}

/**
 * Parse dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and a trailing dotted quad) into its
 * 4 or 16 bytes, or null. Zone ids (`%eth0`) and brackets are not accepted.
 */
export function tryParseAddress(text: string): Uint8Array | null {
  if (text.includes(':')) return parseIPv6(text);
  return parseIPv4(text);
}

/** As `tryParseAddress`, but throws an Error naming the text when it is not an address. */
export function parseAddress(text: string): Uint8Array {
  const a = tryParseAddress(text);
  if (a === null) throw new Error(`not an IPv4 or IPv6 address: ${JSON.stringify(text)}`);
  return a;
}

function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // Decimal only, no leading zeros: "010" is octal to inet_aton and decimal elsewhere.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

function parseGroups(text: string, allowTrailingV4: boolean): number[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (allowTrailingV4 && i === parts.length - 1 && p.includes('.')) {
      const v4 = parseIPv4(p);
      if (v4 === null) return null;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      groups.push(parseInt(p, 16));
    }
  }
  return groups;
}

function parseIPv6(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (head === null || tail === null) return null;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null; // "::" stands for at least one zero group
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (all === null || all.length !== 8) return null;
    groups = all;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}
