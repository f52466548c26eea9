/**
 * Build frames as bytes for tests: IP packets (IPv4 with options and fragment fields, IPv6 with
 * extension headers) carrying TCP (with options), UDP or ICMP/ICMPv6 (including errors that
 * quote another packet), wrapped in any link layer flowdemux reads.
 *
 *   const syn = buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 9157, dport: 80, flags: 'S',
 *                          seq: 1000, options: [{ kind: 'mss', value: 1460 }] });
 *   const frame = ethernet(syn, { vlans: [100] });           // or sll(syn), nullLink(syn), ...
 *   const f = toFrame(LINKTYPE.ETHERNET, frame, { capturedLength: 54 });
 *
 * The IP version follows the address text (a ':' means IPv6). Checksums are filled in so that
 * tcpdump / tshark show the frames as valid. Every length field can be overridden to build
 * broken packets; nothing here validates.
 */
import type { Frame } from '../../src/core/frame.js';
import { LINKTYPE } from '../../src/core/linktypes.js';
import { parseAddress } from '../../src/parse/format.js';

export type Bytes = Uint8Array;
type Data = Uint8Array | string | number[];

// ---------------------------------------------------------------- small byte helpers

export function bytesOf(d: Data | undefined): Uint8Array {
  if (d === undefined) return new Uint8Array(0);
  if (typeof d === 'string') return new TextEncoder().encode(d);
  return Uint8Array.from(d);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Lowercase hex without separators. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Hex text to bytes; whitespace, ':' and a leading `0x` on a token are ignored. */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/0x/gi, '').replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error('fromHex: not hex');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  put16(b, 0, v);
  return b;
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  put32(b, 0, v);
  return b;
}

/** Internet checksum (RFC 1071) over the concatenation of `parts`. */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd = -1; // a byte left over from the previous part
  for (const p of parts) {
    for (const x of p) {
      if (odd < 0) odd = x;
      else {
        sum += (odd << 8) | x;
        odd = -1;
      }
    }
  }
  if (odd >= 0) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function pseudoHeader(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): Uint8Array {
  if (src.length === 4) return concat(src, dst, Uint8Array.of(0, protocol), u16(length));
  return concat(src, dst, u32(length), Uint8Array.of(0, 0, 0, protocol));
}

// ---------------------------------------------------------------- IP

export interface Ipv4Options {
  src: string;
  dst: string;
  protocol: number;
  payload?: Data;
  ttl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragOffset?: number;
  /** Raw option bytes; padded with EOL (0) to a multiple of 4. */
  options?: Data;
  tos?: number;
  /** Overrides for broken packets. */
  totalLength?: number;
  ihl?: number;
  version?: number;
}

export function ipv4(o: Ipv4Options): Uint8Array {
  const opts = bytesOf(o.options);
  const optLen = Math.ceil(opts.length / 4) * 4;
  const hl = 20 + optLen;
  const payload = bytesOf(o.payload);
  const h = new Uint8Array(hl);
  h[0] = ((o.version ?? 4) << 4) | ((o.ihl ?? hl / 4) & 0x0f);
  h[1] = o.tos ?? 0;
  put16(h, 2, o.totalLength ?? hl + payload.length);
  put16(h, 4, o.id ?? 0x1234);
  put16(h, 6, (o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | (((o.fragOffset ?? 0) >> 3) & 0x1fff));
  h[8] = o.ttl ?? 64;
  h[9] = o.protocol;
  h.set(parseAddress(o.src).subarray(0, 4), 12);
  h.set(parseAddress(o.dst).subarray(0, 4), 16);
  h.set(opts, 20);
  put16(h, 10, internetChecksum(h));
  return concat(h, payload);
}

/** IPv6 extension headers, in the order given, between the fixed header and the upper layer. */
export type Ipv6Ext =
  | { type: 'hop' | 'dest' | 'routing' | 'mobility'; data?: Data }
  | { type: 'fragment'; offset?: number; more?: boolean; id?: number }
  | { type: 'ah'; spi?: number; seq?: number; icvLength?: number };

const EXT_NUMBER = { hop: 0, routing: 43, fragment: 44, ah: 51, dest: 60, mobility: 135 } as const;

/** One extension header with next-header `nh`. */
export function ipv6Extension(e: Ipv6Ext, nh: number): Uint8Array {
  switch (e.type) {
    case 'fragment': {
      const b = new Uint8Array(8);
      b[0] = nh;
      put16(b, 2, ((e.offset ?? 0) & 0xfff8) | (e.more ? 1 : 0));
      put32(b, 4, e.id ?? 0xabcd);
      return b;
    }
    case 'ah': {
      const icv = e.icvLength ?? 12; // HMAC-SHA1-96
      const len = 12 + icv;
      const b = new Uint8Array(len);
      b[0] = nh;
      b[1] = len / 4 - 2;
      put32(b, 4, e.spi ?? 0x100);
      put32(b, 8, e.seq ?? 1);
      return b;
    }
    default: {
      let data = bytesOf(e.data);
      if (e.type === 'routing' && e.data === undefined) {
        // Type 4 (segment routing, RFC 8754) with one segment (::1) and none left.
        data = new Uint8Array(22);
        data[0] = 4;
        data[21] = 1;
      }
      // Pad to 2 + data ≡ 0 (mod 8) with a PadN option (or Pad1 for one byte).
      const total = Math.max(8, Math.ceil((2 + data.length) / 8) * 8);
      const b = new Uint8Array(total);
      b[0] = nh;
      b[1] = total / 8 - 1;
      b.set(data, 2);
      const pad = total - 2 - data.length;
      if (pad >= 2 && e.type !== 'routing' && e.type !== 'mobility') {
        b[2 + data.length] = 1; // PadN
        b[3 + data.length] = pad - 2;
      }
      return b;
    }
  }
}

export interface Ipv6Options {
  src: string;
  dst: string;
  /** The upper-layer protocol (after the extension headers). */
  nextHeader: number;
  payload?: Data;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  ext?: Ipv6Ext[];
  /** Override for broken packets. */
  payloadLength?: number;
  version?: number;
}

export function ipv6(o: Ipv6Options): Uint8Array {
  const exts = o.ext ?? [];
  const parts: Uint8Array[] = [];
  for (let i = 0; i < exts.length; i++) {
    const next = i + 1 < exts.length ? EXT_NUMBER[exts[i + 1]!.type] : o.nextHeader;
    parts.push(ipv6Extension(exts[i]!, next));
  }
  const rest = concat(...parts, bytesOf(o.payload));
  const h = new Uint8Array(40);
  put32(h, 0, (((o.version ?? 6) << 28) | ((o.trafficClass ?? 0) << 20) | ((o.flowLabel ?? 0) & 0xfffff)) >>> 0);
  put16(h, 4, o.payloadLength ?? rest.length);
  h[6] = exts.length > 0 ? EXT_NUMBER[exts[0]!.type] : o.nextHeader;
  h[7] = o.hopLimit ?? 64;
  h.set(parseAddress(o.src), 8);
  h.set(parseAddress(o.dst), 24);
  return concat(h, rest);
}

/** Fields of the IP layer a transport builder passes through (the version comes from the addresses). */
export type IpExtras = Partial<Omit<Ipv4Options, 'src' | 'dst' | 'protocol' | 'payload'>> &
  Partial<Omit<Ipv6Options, 'src' | 'dst' | 'nextHeader' | 'payload'>>;

export function isV6(addr: string): boolean {
  return addr.includes(':');
}

/** An IPv4 or IPv6 packet (by the form of `src`) carrying `payload` as `protocol`. */
export function ip(src: string, dst: string, protocol: number, payload: Uint8Array, extra: IpExtras = {}): Uint8Array {
  if (isV6(src)) return ipv6({ ...extra, src, dst, nextHeader: protocol, payload });
  return ipv4({ ...extra, src, dst, protocol, payload });
}

// ---------------------------------------------------------------- TCP

export type TcpOption =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'ws'; shift: number }
  | { kind: 'sackPermitted' }
  | { kind: 'sack'; blocks: Array<[number, number]> }
  | { kind: 'ts'; val: number; ecr: number }
  | { kind: number; data?: Data };

export function tcpOptionBytes(opts: TcpOption[]): Uint8Array {
  const parts: Uint8Array[] = opts.map((o) => {
    switch (o.kind) {
      case 'eol':
        return Uint8Array.of(0);
      case 'nop':
        return Uint8Array.of(1);
      case 'mss':
        return concat(Uint8Array.of(2, 4), u16(o.value));
      case 'ws':
        return Uint8Array.of(3, 3, o.shift);
      case 'sackPermitted':
        return Uint8Array.of(4, 2);
      case 'sack':
        return concat(Uint8Array.of(5, 2 + 8 * o.blocks.length), ...o.blocks.flatMap(([l, r]) => [u32(l), u32(r)]));
      case 'ts':
        return concat(Uint8Array.of(8, 10), u32(o.val), u32(o.ecr));
      default: {
        const data = bytesOf(o.data);
        return concat(Uint8Array.of(o.kind, 2 + data.length), data);
      }
    }
  });
  return concat(...parts);
}

const FLAG_LETTERS: Record<string, number> = {
  F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, '.': 0x10, U: 0x20, E: 0x40, C: 0x80, W: 0x80, N: 0x100,
};

/** "S", "SA", "S.", "FA", "PA", "R" (letters F S R P A/. U E C/W N) or a number with NS as 0x100. */
export function tcpFlagBits(flags: string | number | undefined): number {
  if (flags === undefined) return 0x10;
  if (typeof flags === 'number') return flags;
  let v = 0;
  for (const c of flags) {
    const bit = FLAG_LETTERS[c.toUpperCase()] ?? FLAG_LETTERS[c];
    if (bit === undefined) throw new Error(`tcp flag letter ${c}`);
    v |= bit;
  }
  return v;
}

export interface TcpSegmentOptions {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** Letters ("S", "SA", "PA", "F.") or bits; default "A". */
  flags?: string | number;
  window?: number;
  urgent?: number;
  /** Option list or raw option bytes; padded with EOL (0) to a multiple of 4. */
  options?: TcpOption[] | Data;
  payload?: Data;
  /** Override the data offset (in 32-bit words) for broken headers. */
  dataOffset?: number;
}

/** TCP header + payload; with `src`/`dst` address bytes the checksum is filled in. */
export function tcpSegment(o: TcpSegmentOptions, src?: Uint8Array, dst?: Uint8Array): Uint8Array {
  const opts =
    Array.isArray(o.options) && o.options.length > 0 && typeof o.options[0] === 'object'
      ? tcpOptionBytes(o.options as TcpOption[])
      : bytesOf(o.options as Data | undefined);
  const optLen = Math.ceil(opts.length / 4) * 4;
  const hl = 20 + optLen;
  const flags = tcpFlagBits(o.flags);
  const h = new Uint8Array(hl);
  put16(h, 0, o.sport);
  put16(h, 2, o.dport);
  put32(h, 4, o.seq ?? 0);
  put32(h, 8, o.ack ?? 0);
  h[12] = ((o.dataOffset ?? hl / 4) << 4) | ((flags >> 8) & 1);
  h[13] = flags & 0xff;
  put16(h, 14, o.window ?? 65535);
  put16(h, 18, o.urgent ?? 0);
  h.set(opts, 20);
  const seg = concat(h, bytesOf(o.payload));
  if (src !== undefined && dst !== undefined) put16(seg, 16, internetChecksum(pseudoHeader(src, dst, 6, seg.length), seg));
  return seg;
}

export interface Endpoints {
  src: string;
  dst: string;
  /** IP-layer fields: ttl, id, df, mf, fragOffset, options (v4); hopLimit, ext (v6); overrides. */
  ip?: IpExtras;
}

/** A TCP segment in an IPv4 or IPv6 packet (by address form), checksums filled in. */
export function buildTcp(o: Endpoints & TcpSegmentOptions): Uint8Array {
  const seg = tcpSegment(o, parseAddress(o.src), parseAddress(o.dst));
  return ip(o.src, o.dst, 6, seg, o.ip);
}

// ---------------------------------------------------------------- UDP

export interface UdpOptions {
  sport: number;
  dport: number;
  payload?: Data;
  /** Override the UDP length field. */
  length?: number;
}

export function udpDatagram(o: UdpOptions, src?: Uint8Array, dst?: Uint8Array): Uint8Array {
  const payload = bytesOf(o.payload);
  const d = new Uint8Array(8 + payload.length);
  put16(d, 0, o.sport);
  put16(d, 2, o.dport);
  put16(d, 4, o.length ?? d.length);
  d.set(payload, 8);
  if (src !== undefined && dst !== undefined) {
    const c = internetChecksum(pseudoHeader(src, dst, 17, d.length), d);
    put16(d, 6, c === 0 ? 0xffff : c);
  }
  return d;
}

export function buildUdp(o: Endpoints & UdpOptions): Uint8Array {
  return ip(o.src, o.dst, 17, udpDatagram(o, parseAddress(o.src), parseAddress(o.dst)), o.ip);
}

// ---------------------------------------------------------------- ICMP

export interface IcmpOptions {
  type: number;
  code?: number;
  /** Bytes 4-7 of the header ("rest of header"): id << 16 | seq for echo, MTU for packet-too-big. */
  rest?: number;
  payload?: Data;
}

/** ICMP over IPv4, ICMPv6 over IPv6 (by address form). */
export function buildIcmp(o: Endpoints & IcmpOptions): Uint8Array {
  const payload = bytesOf(o.payload);
  const m = new Uint8Array(8 + payload.length);
  m[0] = o.type;
  m[1] = o.code ?? 0;
  put32(m, 4, o.rest ?? 0);
  m.set(payload, 8);
  const v6 = isV6(o.src);
  const src = parseAddress(o.src);
  const dst = parseAddress(o.dst);
  put16(m, 2, v6 ? internetChecksum(pseudoHeader(src, dst, 58, m.length), m) : internetChecksum(m));
  return ip(o.src, o.dst, v6 ? 58 : 1, m, o.ip);
}

export function buildEcho(o: Endpoints & { id: number; seq: number; reply?: boolean; payload?: Data }): Uint8Array {
  const v6 = isV6(o.src);
  const type = v6 ? (o.reply ? 129 : 128) : o.reply ? 0 : 8;
  return buildIcmp({ ...o, type, rest: ((o.id << 16) | o.seq) >>> 0 });
}

/**
 * The part of `packet` an ICMP error quotes: by default the IP header(s) + 8 bytes, as RFC 792
 * routers do (IPv6 hosts quote as much as fits; pass `length` for that).
 */
export function quoteOf(packet: Uint8Array, length?: number): Uint8Array {
  if (length !== undefined) return packet.slice(0, length);
  if (packet[0]! >> 4 === 4) return packet.slice(0, (packet[0]! & 0x0f) * 4 + 8);
  return packet.slice(0, 48);
}

/** An ICMP(v6) error (destination unreachable, packet too big, time exceeded, ...) quoting `quote`. */
export function buildIcmpError(o: Endpoints & { type: number; code?: number; rest?: number; quote: Uint8Array }): Uint8Array {
  return buildIcmp({ ...o, payload: o.quote });
}

// ---------------------------------------------------------------- link layers

function etherTypeFor(payload: Uint8Array): number {
  return payload.length > 0 && payload[0]! >> 4 === 6 ? 0x86dd : 0x0800;
}

export interface EthernetOptions {
  dst?: Data;
  src?: Data;
  /** Default: from the payload's IP version nibble. */
  etherType?: number;
  /** VLAN ids, outermost first. */
  vlans?: number[];
  /** TPID of each tag (default 0x8100 for all, e.g. [0x88a8, 0x8100] for QinQ). */
  tpids?: number[];
  /** Priority code point put in every tag. */
  pcp?: number;
  /** Pad to the 60-byte Ethernet minimum, as a NIC would. */
  pad?: boolean;
}

export function ethernet(payload: Uint8Array, o: EthernetOptions = {}): Uint8Array {
  const vlans = o.vlans ?? [];
  const h = new Uint8Array(14 + 4 * vlans.length);
  h.set(o.dst !== undefined ? bytesOf(o.dst) : [0x02, 0, 0, 0, 0, 0x02], 0);
  h.set(o.src !== undefined ? bytesOf(o.src) : [0x02, 0, 0, 0, 0, 0x01], 6);
  let p = 12;
  vlans.forEach((id, i) => {
    put16(h, p, o.tpids?.[i] ?? 0x8100);
    put16(h, p + 2, ((o.pcp ?? 0) << 13) | (id & 0x0fff));
    p += 4;
  });
  put16(h, p, o.etherType ?? etherTypeFor(payload));
  const f = concat(h, payload);
  if (o.pad && f.length < 60) return concat(f, new Uint8Array(60 - f.length));
  return f;
}

export interface SllOptions {
  /** Default: from the payload's IP version nibble. */
  protocol?: number;
  /** 0 to us, 4 outgoing, ... */
  packetType?: number;
  arphrd?: number;
  addr?: Data;
}

/** LINKTYPE_LINUX_SLL (113). */
export function sll(payload: Uint8Array, o: SllOptions = {}): Uint8Array {
  const h = new Uint8Array(16);
  const addr = o.addr !== undefined ? bytesOf(o.addr) : Uint8Array.of(0, 0, 0, 0, 0, 0);
  put16(h, 0, o.packetType ?? 0);
  put16(h, 2, o.arphrd ?? 772); // ARPHRD_LOOPBACK
  put16(h, 4, addr.length);
  h.set(addr.subarray(0, 8), 6);
  put16(h, 14, o.protocol ?? etherTypeFor(payload));
  return concat(h, payload);
}

/** LINKTYPE_LINUX_SLL2 (276). */
export function sll2(payload: Uint8Array, o: SllOptions & { ifindex?: number } = {}): Uint8Array {
  const h = new Uint8Array(20);
  const addr = o.addr !== undefined ? bytesOf(o.addr) : Uint8Array.of(0, 0, 0, 0, 0, 0);
  put16(h, 0, o.protocol ?? etherTypeFor(payload));
  put32(h, 4, o.ifindex ?? 1);
  put16(h, 8, o.arphrd ?? 772);
  h[10] = o.packetType ?? 0;
  h[11] = addr.length;
  h.set(addr.subarray(0, 8), 12);
  return concat(h, payload);
}

/** LINKTYPE_NULL (0): address family in the capturing host's byte order (default little-endian). */
export function nullLink(payload: Uint8Array, o: { af?: number; order?: 'le' | 'be' } = {}): Uint8Array {
  const af = o.af ?? (etherTypeFor(payload) === 0x86dd ? 30 : 2);
  const h = o.order === 'be' ? u32(af) : Uint8Array.of(af & 0xff, (af >> 8) & 0xff, (af >> 16) & 0xff, af >>> 24);
  return concat(h, payload);
}

/** LINKTYPE_LOOP (108): address family in network byte order. */
export function loopLink(payload: Uint8Array, o: { af?: number } = {}): Uint8Array {
  const af = o.af ?? (etherTypeFor(payload) === 0x86dd ? 24 : 2);
  return concat(u32(af), payload);
}

/** Raw IP link types (101, 12, 14, 228, 229): the packet itself. */
export function rawLink(payload: Uint8Array): Uint8Array {
  return payload.slice();
}

/** Every link type flowdemux decodes. */
export const LINK_TYPES: readonly number[] = [
  LINKTYPE.NULL, LINKTYPE.ETHERNET, LINKTYPE.RAW_12, LINKTYPE.RAW_14, LINKTYPE.RAW, LINKTYPE.LOOP,
  LINKTYPE.LINUX_SLL, LINKTYPE.IPV4, LINKTYPE.IPV6, LINKTYPE.LINUX_SLL2,
];

/** Length of the link header `wrap` puts in front for `linkType` (Ethernet without tags). */
export function linkHeaderLength(linkType: number): number {
  switch (linkType) {
    case LINKTYPE.ETHERNET:
      return 14;
    case LINKTYPE.LINUX_SLL:
      return 16;
    case LINKTYPE.LINUX_SLL2:
      return 20;
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP:
      return 4;
    default:
      return 0;
  }
}

/** Wrap an IP packet in the link layer of `linkType` with default fields. */
export function wrap(linkType: number, packet: Uint8Array): Uint8Array {
  switch (linkType) {
    case LINKTYPE.ETHERNET:
      return ethernet(packet);
    case LINKTYPE.LINUX_SLL:
      return sll(packet);
    case LINKTYPE.LINUX_SLL2:
      return sll2(packet);
    case LINKTYPE.NULL:
      return nullLink(packet);
    case LINKTYPE.LOOP:
      return loopLink(packet);
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_12:
    case LINKTYPE.RAW_14:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
      return rawLink(packet);
    default:
      throw new Error(`wrap: no builder for link type ${linkType}`);
  }
}

/** A Frame as capture sources yield it; by default whole (captured = original = bytes.length). */
export function toFrame(
  linkType: number,
  bytes: Uint8Array,
  o: Partial<Omit<Frame, 'linkType' | 'bytes'>> = {},
): Frame {
  const capturedLength = o.capturedLength ?? bytes.length;
  return {
    linkType,
    tsSec: o.tsSec ?? 1_700_000_000,
    tsNsec: o.tsNsec ?? 0,
    capturedLength,
    originalLength: o.originalLength ?? bytes.length,
    bytes: bytes.subarray(0, capturedLength),
    offset: 0,
    interfaceId: o.interfaceId ?? 0,
    sourceIndex: o.sourceIndex ?? 0,
    number: o.number ?? 1,
    fileOffset: o.fileOffset ?? 0,
  };
}
