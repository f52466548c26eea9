/**
 * fast-check arbitraries for whole captures, and the damage done to them, for the fuzz suite.
 *
 * A capture is generated as a plain description (so fast-check can shrink it), built into
 * bytes with the test builders, and built together with a map of every length field in it:
 * where it sits, how wide it is, and what value would claim one byte more than there is. The
 * damage then sets some of those fields to 0, 1, their maximum or "just past the end", flips
 * random bits, and cuts the file at a random point, in that order (length edits are placed on
 * the intact layout; flips and the cut land anywhere).
 */
import fc from 'fast-check';
import { LINKTYPE } from '../../src/core/linktypes.js';
import {
  buildPcap, concatBytes, gzip, ngBlock, ngEPB, ngIDB, ngOption, ngPB, ngSHB, ngSPB, type ByteOrder,
} from '../helpers/capture-builders.js';
import {
  buildEcho, buildIcmpError, buildTcp, buildUdp, ethernet, loopLink, nullLink, quoteOf, rawLink, sll, sll2,
  type Ipv6Ext, type TcpOption,
} from '../helpers/packet-builders.js';

// ---------------------------------------------------------------- descriptions

type TransportSpec =
  | { kind: 'tcp'; sport: number; dport: number; flags: number; seq: number; ack: number; options: TcpOption[]; payload: number }
  | { kind: 'udp'; sport: number; dport: number; payload: number }
  | { kind: 'echo'; id: number; seq: number; reply: boolean; payload: number }
  | { kind: 'icmp-error'; /** Index into the error types of the IP version. */ type: number; code: number; inner: 'tcp' | 'udp'; sport: number; dport: number; quoteAll: boolean };

export interface FrameSpec {
  v6: boolean;
  src: number;
  dst: number;
  transport: TransportSpec;
  /** IPv4: raw option bytes (NOP, record route, router alert, timestamp). */
  v4options: number[];
  frag: { mf: boolean; offset: number } | null;
  ipId: number;
  /** IPv6 extension headers before the upper layer. */
  ext: Ipv6Ext[];
  /** Ethernet only: VLAN tags (802.1Q; with qinq the outer one is 802.1ad). */
  vlans: number[];
  qinq: boolean;
  /** LINKTYPE_NULL: host byte order of the AF word. */
  nullBE: boolean;
  /** Seconds since the previous frame (often 0 so flows form). */
  gap: number;
}

export type CaptureSpec =
  | { format: 'pcap'; order: ByteOrder; ns: boolean; linkType: number; frames: FrameSpec[] }
  | {
      format: 'pcapng';
      order: ByteOrder;
      ifaces: { linkType: number; tsresol: number | undefined }[];
      /** Block kind and interface (index into ifaces, taken modulo) for each frame. */
      frames: { block: 'epb' | 'spb' | 'pb'; iface: number; frame: FrameSpec }[];
      /** A second section after the first, in the other byte order, repeating the first frame. */
      secondSection: boolean;
    };

/** Every link type the fuzz builds frames for (all that flowdemux decodes). */
export const FUZZ_LINK_TYPES = [
  LINKTYPE.ETHERNET, LINKTYPE.LINUX_SLL, LINKTYPE.LINUX_SLL2, LINKTYPE.NULL, LINKTYPE.LOOP,
  LINKTYPE.RAW, LINKTYPE.RAW_12, LINKTYPE.RAW_14, LINKTYPE.IPV4, LINKTYPE.IPV6,
] as const;

const V4 = ['10.0.0.1', '10.0.0.2', '192.168.1.7', '127.0.0.1'];
const V6 = ['fd00::1', 'fd00::2', '2001:db8::7', '::1'];
const PORTS = [80, 443, 53, 5353, 9157, 8089, 5775, 40000];

const port = fc.oneof(fc.constantFrom(...PORTS), fc.integer({ min: 0, max: 65535 }));

const tcpOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  fc.constant<TcpOption>({ kind: 'eol' }),
  fc.integer({ min: 0, max: 65535 }).map((value): TcpOption => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 20 }).map((shift): TcpOption => ({ kind: 'ws', shift })),
  fc.constant<TcpOption>({ kind: 'sackPermitted' }),
  fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }).map((blocks): TcpOption => ({ kind: 'sack', blocks })),
  fc.tuple(fc.nat(), fc.nat()).map(([val, ecr]): TcpOption => ({ kind: 'ts', val, ecr })),
  fc.record({ kind: fc.integer({ min: 9, max: 254 }), data: fc.uint8Array({ maxLength: 6 }) }),
);

const transport: fc.Arbitrary<TransportSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    kind: fc.constant('tcp' as const), sport: port, dport: port,
    flags: fc.oneof(fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14), fc.integer({ min: 0, max: 0x1ff })),
    seq: fc.nat(), ack: fc.nat(), options: fc.array(tcpOption, { maxLength: 5 }), payload: fc.integer({ min: 0, max: 40 }),
  }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('udp' as const), sport: port, dport: port, payload: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({
    kind: fc.constant('echo' as const), id: fc.integer({ min: 0, max: 65535 }), seq: fc.integer({ min: 0, max: 65535 }),
    reply: fc.boolean(), payload: fc.integer({ min: 0, max: 16 }),
  }) },
  { weight: 1, arbitrary: fc.record({
    kind: fc.constant('icmp-error' as const), type: fc.nat({ max: 2 }), code: fc.integer({ min: 0, max: 4 }),
    inner: fc.constantFrom('tcp' as const, 'udp' as const), sport: port, dport: port, quoteAll: fc.boolean(),
  }) },
);

/** IPv4 options: NOP, record route (7), router alert (148), timestamp (68). */
const v4option = fc.oneof(
  fc.constant([1]),
  fc.integer({ min: 1, max: 3 }).map((n) => [7, 3 + 4 * n, 4, ...new Array<number>(4 * n).fill(0)]),
  fc.constant([148, 4, 0, 0]),
  fc.constant([68, 8, 5, 0, 0, 0, 0, 1]),
);

const ext: fc.Arbitrary<Ipv6Ext> = fc.oneof(
  fc.record({ type: fc.constantFrom('hop' as const, 'dest' as const), data: fc.uint8Array({ maxLength: 12 }) }).map((e): Ipv6Ext => ({ type: e.type, data: e.data })),
  fc.constant<Ipv6Ext>({ type: 'routing' }),
  fc.record({ offset: fc.integer({ min: 0, max: 8191 }).map((n) => n * 8), more: fc.boolean(), id: fc.nat() })
    .map((f): Ipv6Ext => ({ type: 'fragment', ...f })),
  fc.constant<Ipv6Ext>({ type: 'ah' }),
);

export const frameSpec: fc.Arbitrary<FrameSpec> = fc.record({
  v6: fc.boolean(),
  src: fc.nat({ max: 3 }),
  dst: fc.nat({ max: 3 }),
  transport,
  v4options: fc.oneof({ weight: 3, arbitrary: fc.constant([] as number[]) }, { weight: 1, arbitrary: fc.array(v4option, { maxLength: 3 }).map((a) => a.flat().slice(0, 40)) }),
  frag: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.record({ mf: fc.boolean(), offset: fc.integer({ min: 0, max: 8191 }).map((n) => n * 8) }) }),
  ipId: fc.integer({ min: 0, max: 65535 }),
  ext: fc.oneof({ weight: 3, arbitrary: fc.constant([] as Ipv6Ext[]) }, { weight: 1, arbitrary: fc.array(ext, { maxLength: 3 }) }),
  vlans: fc.oneof({ weight: 3, arbitrary: fc.constant([] as number[]) }, { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 4095 }), { minLength: 1, maxLength: 2 }) }),
  qinq: fc.boolean(),
  nullBE: fc.boolean(),
  gap: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 400 })),
});

const linkType = fc.constantFrom(...FUZZ_LINK_TYPES);

export const captureSpec: fc.Arbitrary<CaptureSpec> = fc.oneof(
  fc.record({
    format: fc.constant('pcap' as const),
    order: fc.constantFrom<ByteOrder>('LE', 'BE'),
    ns: fc.boolean(),
    linkType,
    frames: fc.array(frameSpec, { minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    format: fc.constant('pcapng' as const),
    order: fc.constantFrom<ByteOrder>('LE', 'BE'),
    ifaces: fc.array(fc.record({ linkType, tsresol: fc.constantFrom(undefined, 6, 9, 0x80 | 20, 3) }), { minLength: 1, maxLength: 3 }),
    frames: fc.array(
      fc.record({ block: fc.constantFrom('epb' as const, 'epb' as const, 'spb' as const, 'pb' as const), iface: fc.nat({ max: 2 }), frame: frameSpec }),
      { minLength: 1, maxLength: 8 },
    ),
    secondSection: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  }),
);

// ---------------------------------------------------------------- length fields

/**
 * A length field in the built file. The length it claims is `value * unit + add` bytes from
 * `base`; `ends` are the offsets that claim could run past (the end of the enclosing header,
 * of the frame, of the file).
 */
export interface LengthField {
  name: string;
  offset: number;
  /** Bytes (1, 2, 4), or a 4-bit field: 'hi' (bits 7-4 of the byte) or 'lo' (bits 3-0). */
  width: 1 | 2 | 4 | 'hi' | 'lo';
  le: boolean;
  base: number;
  unit: number;
  add: number;
  ends: number[];
}

function shifted(fields: LengthField[], by: number): LengthField[] {
  return fields.map((f) => ({ ...f, offset: f.offset + by, base: f.base + by, ends: f.ends.map((e) => e + by) }));
}

function maxOf(f: LengthField): number {
  return f.width === 1 ? 0xff : f.width === 2 ? 0xffff : f.width === 4 ? 0xffffffff : 0xf;
}

export function writeField(bytes: Uint8Array, f: LengthField, value: number): void {
  if (f.offset < 0 || f.offset + (typeof f.width === 'number' ? f.width : 1) > bytes.length) return;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (f.width) {
    case 1: bytes[f.offset] = value & 0xff; break;
    case 2: dv.setUint16(f.offset, value & 0xffff, f.le); break;
    case 4: dv.setUint32(f.offset, value >>> 0, f.le); break;
    case 'hi': bytes[f.offset] = (bytes[f.offset]! & 0x0f) | ((value & 0xf) << 4); break;
    case 'lo': bytes[f.offset] = (bytes[f.offset]! & 0xf0) | (value & 0xf); break;
  }
}

export type LengthValue = 'zero' | 'one' | 'max' | 'pastEnd';

/** The value for `which`: for pastEnd, the smallest claim longer than the chosen end allows. */
export function fieldValue(f: LengthField, which: LengthValue, endPick: number): number {
  switch (which) {
    case 'zero': return 0;
    case 'one': return 1;
    case 'max': return maxOf(f);
    case 'pastEnd': {
      const end = f.ends[endPick % f.ends.length]!;
      const room = end - f.base - f.add;
      const v = room < 0 ? 0 : Math.floor(room / f.unit) + 1;
      return Math.min(v, maxOf(f));
    }
  }
}

// ---------------------------------------------------------------- building frames

interface Built {
  bytes: Uint8Array;
  fields: LengthField[];
}

const be = { le: false } as const;

/** Length fields of an IP packet at offset 0 of `p` (recursing into an ICMP error's quote). */
function ipFields(p: Uint8Array, frameEnd: number, prefix = ''): LengthField[] {
  const out: LengthField[] = [];
  if (p.length < 1) return out;
  const version = p[0]! >> 4;
  let proto: number;
  let l4: number;
  if (version === 4) {
    const hl = (p[0]! & 0x0f) * 4;
    out.push({ name: `${prefix}ipv4.ihl`, offset: 0, width: 'lo', ...be, base: 0, unit: 4, add: 0, ends: [frameEnd] });
    out.push({ name: `${prefix}ipv4.totalLength`, offset: 2, width: 2, ...be, base: 0, unit: 1, add: 0, ends: [frameEnd] });
    for (let o = 20; o < hl && o < p.length;) {
      const kind = p[o]!;
      if (kind === 0) break;
      if (kind === 1) { o++; continue; }
      out.push({ name: `${prefix}ipv4.option${kind}.length`, offset: o + 1, width: 1, ...be, base: o, unit: 1, add: 0, ends: [hl, frameEnd] });
      o += Math.max(2, p[o + 1] ?? 2);
    }
    proto = p[9] ?? 0;
    l4 = hl;
    // Later fragments carry no transport header.
    if (((p[6]! << 8) | p[7]!) & 0x1fff) return out;
  } else {
    out.push({ name: `${prefix}ipv6.payloadLength`, offset: 4, width: 2, ...be, base: 0, unit: 1, add: 40, ends: [frameEnd] });
    let nh = p[6] ?? 59;
    let o = 40;
    for (;;) {
      if (nh === 0 || nh === 60 || nh === 43 || nh === 135) {
        out.push({ name: `${prefix}ipv6.ext${nh}.length`, offset: o + 1, width: 1, ...be, base: o, unit: 8, add: 8, ends: [frameEnd] });
        nh = p[o] ?? 59;
        o += ((p[o + 1] ?? 0) + 1) * 8;
      } else if (nh === 51) {
        out.push({ name: `${prefix}ipv6.ah.length`, offset: o + 1, width: 1, ...be, base: o, unit: 4, add: 8, ends: [frameEnd] });
        nh = p[o] ?? 59;
        o += ((p[o + 1] ?? 0) + 2) * 4;
      } else if (nh === 44) {
        const later = (((p[o + 2] ?? 0) << 8) | (p[o + 3] ?? 0)) & 0xfff8;
        nh = p[o] ?? 59;
        o += 8;
        if (later) return out;
      } else break;
      if (o >= p.length) return out;
    }
    proto = nh;
    l4 = o;
  }
  if (proto === 6 && l4 + 13 <= p.length) {
    const doff = (p[l4 + 12]! >> 4) * 4;
    out.push({ name: `${prefix}tcp.dataOffset`, offset: l4 + 12, width: 'hi', ...be, base: l4, unit: 4, add: 0, ends: [frameEnd] });
    for (let o = l4 + 20; o < l4 + doff && o < p.length;) {
      const kind = p[o]!;
      if (kind === 0) break;
      if (kind === 1) { o++; continue; }
      out.push({ name: `${prefix}tcp.option${kind}.length`, offset: o + 1, width: 1, ...be, base: o, unit: 1, add: 0, ends: [l4 + doff, frameEnd] });
      o += Math.max(2, p[o + 1] ?? 2);
    }
  } else if (proto === 17 && l4 + 6 <= p.length) {
    out.push({ name: `${prefix}udp.length`, offset: l4 + 4, width: 2, ...be, base: l4, unit: 1, add: 0, ends: [frameEnd] });
  } else if ((proto === 1 || proto === 58) && l4 + 8 < p.length && prefix === '') {
    const type = p[l4]!;
    const isError = proto === 1 ? type === 3 || type === 11 || type === 12 : type < 128;
    if (isError) out.push(...shifted(ipFields(p.subarray(l4 + 8), frameEnd - (l4 + 8), 'quoted.'), l4 + 8));
  }
  return out;
}

function address(v6: boolean, i: number): string {
  return (v6 ? V6 : V4)[i % 4]!;
}

/** The IP packet a FrameSpec describes (version forced by raw IPv4/IPv6 link types). */
export function buildIp(s: FrameSpec, forceV6?: boolean): Uint8Array {
  const v6 = forceV6 ?? s.v6;
  const src = address(v6, s.src);
  const dst = address(v6, s.dst);
  const ip = v6
    ? { ext: [...s.ext, ...(s.frag ? [{ type: 'fragment' as const, offset: s.frag.offset, more: s.frag.mf, id: s.ipId }] : [])] }
    : { options: s.v4options, id: s.ipId, mf: s.frag?.mf, fragOffset: s.frag?.offset };
  const t = s.transport;
  switch (t.kind) {
    case 'tcp':
      return buildTcp({ src, dst, ip, sport: t.sport, dport: t.dport, flags: t.flags, seq: t.seq, ack: t.ack, options: t.options, payload: new Uint8Array(t.payload).fill(0x41) });
    case 'udp':
      return buildUdp({ src, dst, ip, sport: t.sport, dport: t.dport, payload: new Uint8Array(t.payload).fill(0x1b) });
    case 'echo':
      return buildEcho({ src, dst, ip, id: t.id, seq: t.seq, reply: t.reply, payload: new Uint8Array(t.payload).fill(7) });
    case 'icmp-error': {
      const inner = t.inner === 'tcp'
        ? buildTcp({ src: dst, dst: src, sport: t.sport, dport: t.dport, flags: 'S', options: [{ kind: 'mss', value: 1460 }] })
        : buildUdp({ src: dst, dst: src, sport: t.sport, dport: t.dport, payload: 'q' });
      // Unreachable, time exceeded, parameter problem (v4); unreachable, time exceeded, too big (v6).
      const type = (v6 ? [1, 3, 2] : [3, 11, 12])[t.type % 3]!;
      return buildIcmpError({ src, dst, ip, type, code: t.code, quote: t.quoteAll ? inner : quoteOf(inner) });
    }
  }
}

/** A frame of `linkType` with every length field in it (link header included). */
export function buildFrame(linkType: number, s: FrameSpec): Built {
  const forceV6 = linkType === LINKTYPE.IPV4 ? false : linkType === LINKTYPE.IPV6 ? true : undefined;
  const ip = buildIp(s, forceV6);
  let bytes: Uint8Array;
  switch (linkType) {
    case LINKTYPE.ETHERNET:
      bytes = ethernet(ip, { vlans: s.vlans, tpids: s.qinq && s.vlans.length === 2 ? [0x88a8, 0x8100] : undefined });
      break;
    case LINKTYPE.LINUX_SLL: bytes = sll(ip); break;
    case LINKTYPE.LINUX_SLL2: bytes = sll2(ip); break;
    case LINKTYPE.NULL: bytes = nullLink(ip, { order: s.nullBE ? 'be' : 'le' }); break;
    case LINKTYPE.LOOP: bytes = loopLink(ip); break;
    default: bytes = rawLink(ip);
  }
  const at = bytes.length - ip.length;
  const fields = shifted(ipFields(ip, ip.length), at);
  if (linkType === LINKTYPE.LINUX_SLL) {
    fields.push({ name: 'sll.addrLength', offset: 4, width: 2, ...be, base: 6, unit: 1, add: 0, ends: [14, bytes.length] });
  } else if (linkType === LINKTYPE.LINUX_SLL2) {
    fields.push({ name: 'sll2.addrLength', offset: 11, width: 1, ...be, base: 12, unit: 1, add: 0, ends: [20, bytes.length] });
  }
  return { bytes, fields };
}

// ---------------------------------------------------------------- building captures

function frameTime(frames: { gap: number }[]): number[] {
  let t = 1_700_000_000;
  return frames.map((f) => (t += f.gap));
}

export function buildCapture(spec: CaptureSpec): Built {
  const le = spec.order === 'LE';
  const fields: LengthField[] = [];
  if (spec.format === 'pcap') {
    const times = frameTime(spec.frames);
    const frames = spec.frames.map((f) => buildFrame(spec.linkType, f));
    const bytes = buildPcap(
      { byteOrder: spec.order, precision: spec.ns ? 'ns' : 'us', linkType: spec.linkType },
      frames.map((f, i) => ({ tsSec: times[i]!, tsFrac: (i * 137) % 1000, data: f.bytes })),
    );
    fields.push({ name: 'pcap.snapLength', offset: 16, width: 4, le, base: 24, unit: 1, add: 0, ends: [bytes.length] });
    let o = 24;
    for (const f of frames) {
      const data = o + 16;
      fields.push({ name: 'pcap.caplen', offset: o + 8, width: 4, le, base: data, unit: 1, add: 0, ends: [data + f.bytes.length, bytes.length] });
      fields.push({ name: 'pcap.origlen', offset: o + 12, width: 4, le, base: data, unit: 1, add: 0, ends: [data + f.bytes.length] });
      fields.push(...shifted(f.fields, data));
      o = data + f.bytes.length;
    }
    return { bytes, fields };
  }

  const parts: Uint8Array[] = [];
  const blockFields: LengthField[][] = [];
  const blockLe: boolean[] = [];
  const add = (block: Uint8Array, inner: LengthField[] = [], blockIsLe = le) => {
    parts.push(block);
    blockFields.push(inner);
    blockLe.push(blockIsLe);
  };
  add(ngSHB(spec.order, { options: concatBytes(ngOption(spec.order, 4, new TextEncoder().encode('fuzz')), new Uint8Array(4)) }));
  spec.ifaces.forEach((i) => {
    const idb = ngIDB(spec.order, { linkType: i.linkType, tsresol: i.tsresol, snapLength: 0 });
    const inner: LengthField[] = [];
    if (i.tsresol !== undefined) {
      inner.push({ name: 'idb.option.length', offset: 8 + 8 + 2, width: 2, le, base: 8 + 8 + 4, unit: 1, add: 0, ends: [idb.length - 4] });
    }
    add(idb, inner);
  });
  const times = frameTime(spec.frames.map((f) => f.frame));
  spec.frames.forEach((f, n) => {
    const ifaceIndex = f.block === 'spb' ? 0 : f.iface % spec.ifaces.length;
    const frame = buildFrame(spec.ifaces[ifaceIndex]!.linkType, f.frame);
    // Timestamps in µs: readers apply each interface's resolution, so values only need to grow.
    const ts = BigInt(times[n]!) * 1_000_000n + BigInt(n);
    if (f.block === 'spb') {
      const block = ngSPB(spec.order, { data: frame.bytes });
      add(block, [
        { name: 'spb.origlen', offset: 8, width: 4, le, base: 12, unit: 1, add: 0, ends: [12 + frame.bytes.length] },
        ...shifted(frame.fields, 12),
      ]);
    } else {
      const block = f.block === 'epb'
        ? ngEPB(spec.order, { iface: ifaceIndex, ts, data: frame.bytes })
        : ngPB(spec.order, { iface: ifaceIndex, ts, data: frame.bytes });
      add(block, [
        { name: `${f.block}.caplen`, offset: 20, width: 4, le, base: 28, unit: 1, add: 0, ends: [28 + frame.bytes.length, block.length - 4] },
        { name: `${f.block}.origlen`, offset: 24, width: 4, le, base: 28, unit: 1, add: 0, ends: [28 + frame.bytes.length] },
        ...shifted(frame.fields, 28),
      ]);
    }
  });
  // An unknown block in the middle (readers must skip it by its length).
  if (spec.frames.length > 1) {
    parts.splice(parts.length - 1, 0, ngBlock(spec.order, 0x0bad, Uint8Array.of(1, 2, 3, 4, 5)));
    blockFields.splice(blockFields.length - 1, 0, []);
    blockLe.splice(blockLe.length - 1, 0, le);
  }
  if (spec.secondSection) {
    const other: ByteOrder = le ? 'BE' : 'LE';
    const linkType = spec.ifaces[0]!.linkType;
    const frame = buildFrame(linkType, spec.frames[0]!.frame);
    add(ngSHB(other), [], !le);
    add(ngIDB(other, { linkType }), [], !le);
    const block = ngEPB(other, { iface: 0, ts: BigInt(times[times.length - 1]!) * 1_000_000n + 999n, data: frame.bytes });
    add(block, [
      { name: 'epb2.caplen', offset: 20, width: 4, le: !le, base: 28, unit: 1, add: 0, ends: [28 + frame.bytes.length, block.length - 4] },
      ...shifted(frame.fields, 28),
    ], !le);
  }
  const bytes = concatBytes(...parts);
  let o = 0;
  parts.forEach((block, i) => {
    const total = block.length;
    const ble = blockLe[i]!;
    fields.push({ name: 'block.length', offset: o + 4, width: 4, le: ble, base: o, unit: 1, add: 0, ends: [o + total, bytes.length] });
    fields.push({ name: 'block.trailingLength', offset: o + total - 4, width: 4, le: ble, base: o, unit: 1, add: 0, ends: [o + total, bytes.length] });
    fields.push(...shifted(blockFields[i]!, o));
    o += total;
  });
  return { bytes, fields };
}

// ---------------------------------------------------------------- damage

export interface Damage {
  lengths: { field: number; value: LengthValue; end: number }[];
  flips: { at: number; bit: number }[];
  /** Cut the file at this fraction of its length (null: keep it whole). */
  cut: number | null;
  gzip: boolean;
}

export const damage: fc.Arbitrary<Damage> = fc.record({
  lengths: fc.array(
    fc.record({ field: fc.nat(), value: fc.constantFrom<LengthValue>('zero', 'one', 'max', 'pastEnd', 'pastEnd'), end: fc.nat({ max: 3 }) }),
    { maxLength: 3 },
  ),
  flips: fc.oneof(fc.constant<{ at: number; bit: number }[]>([]), fc.array(fc.record({ at: fc.nat(), bit: fc.nat({ max: 7 }) }), { minLength: 1, maxLength: 6 })),
  // Per mille of the length, uniform (fc.double would favour 0 and tiny fractions).
  cut: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 1000 }).map((n) => n / 1000) }),
  gzip: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

/** Applies `d` to a copy of the built capture; `log` names what was done (for failure messages). */
export function applyDamage(built: Built, d: Damage, log: string[] = []): Uint8Array {
  const bytes = built.bytes.slice();
  for (const l of d.lengths) {
    if (built.fields.length === 0) break;
    const f = built.fields[l.field % built.fields.length]!;
    const v = fieldValue(f, l.value, l.end);
    writeField(bytes, f, v);
    log.push(`${f.name}@${f.offset}=${v} (${l.value})`);
  }
  for (const x of d.flips) {
    if (bytes.length === 0) break;
    const at = x.at % bytes.length;
    bytes[at] = bytes[at]! ^ (1 << x.bit);
    log.push(`flip ${at}.${x.bit}`);
  }
  let out: Uint8Array = bytes;
  if (d.cut !== null) {
    const at = Math.floor(d.cut * bytes.length);
    out = bytes.subarray(0, at);
    log.push(`cut at ${at}/${bytes.length}`);
  }
  if (d.gzip) {
    out = gzip(out);
    log.push('gzip');
  }
  return out;
}

