/**
 * Property tests (fast-check):
 *   1. any bytes under any link type: decodeBytes never throws, every problem is well formed, the
 *      offsets it reports stay inside the captured bytes, and a reused Packet decodes exactly as a
 *      fresh one (the reset forgets everything);
 *   2. every strict prefix of the headers of a valid frame gives exactly one 'truncated' problem,
 *      cause 'capture', on the layer the cut falls in, with the layers before it intact;
 *   3. values round-trip builders → decoder;
 *   4. a frame decoded where it lies inside a larger buffer (Frame.offset, as the pcap reader
 *      yields it) decodes exactly as the frame alone: positions shifted, problems unchanged.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LINKTYPE } from '../../src/core/linktypes.js';
import type { Frame } from '../../src/core/frame.js';
import { decodeBytes, decodeFrame } from '../../src/parse/decode.js';
import { formatAddress } from '../../src/parse/format.js';
import { newPacket, type Layer, type Packet } from '../../src/core/packet.js';
import {
  buildTcp, buildUdp, ethernet, ipv4, ipv6, ipv6Extension, LINK_TYPES, linkHeaderLength, quoteOf, tcpOptionBytes,
  tcpSegment, udpDatagram, buildEcho, buildIcmpError, wrap, type Ipv6Ext, type TcpOption,
} from '../helpers/packet-builders.js';

const LAYERS: ReadonlySet<Layer> = new Set<Layer>(['frame', 'link', 'vlan', 'ipv4', 'ipv6', 'ipv6-ext', 'tcp', 'udp', 'icmp', 'icmpv6']);

/** Every field as a plain value; arrays only up to their valid counts. */
function snapshot(p: Packet): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (k === 'bytes') continue;
    if (k === 'vlanIds') out[k] = p.vlanIds.slice(0, p.vlanCount);
    else if (k === 'sackBlocks') out[k] = p.sackBlocks.slice(0, 2 * p.sackCount);
    else if (k === 'problems') out[k] = p.problems.map((x) => ({ ...x }));
    else out[k] = v;
  }
  return out;
}

function checkInvariants(p: Packet): void {
  const cap = p.capturedLength;
  for (const pr of p.problems) {
    expect(['truncated', 'malformed', 'unsupported']).toContain(pr.kind);
    expect(LAYERS.has(pr.layer)).toBe(true);
    expect(Number.isInteger(pr.offset)).toBe(true);
    expect(pr.offset).toBeGreaterThanOrEqual(0);
    expect(pr.offset).toBeLessThanOrEqual(cap);
    expect(typeof pr.what).toBe('string');
    expect(pr.what.length).toBeGreaterThan(0);
    expect(pr.what).not.toBe('internal decoder error');
    if (pr.kind === 'truncated') {
      expect(Number.isInteger(pr.need) && Number.isInteger(pr.have)).toBe(true);
      expect(pr.have!).toBeGreaterThanOrEqual(0);
      expect(pr.need!).toBeGreaterThan(pr.have!);
      expect(['capture', 'length-field']).toContain(pr.cause);
      if (pr.cause === 'capture') expect(pr.offset + pr.have!).toBe(cap);
    } else {
      expect(pr.need).toBeUndefined();
      expect(pr.cause).toBeUndefined();
    }
  }
  expect(p.vlanCount).toBeLessThanOrEqual(8);
  expect(p.sackCount).toBeLessThanOrEqual(4);
  expect(p.payloadLength).toBeGreaterThanOrEqual(0);
  if (p.ipVersion !== 0) {
    expect(p.addrLength).toBe(p.ipVersion === 4 ? 4 : 16);
    expect(p.dstAddrOffset + p.addrLength).toBeLessThanOrEqual(cap);
    // The transport is bounded by the frame; a datagram claiming more is flagged, never silent.
    expect(p.ipEnd).toBeLessThanOrEqual(Math.max(p.originalLength, p.capturedLength));
    // (A packet inside a tunnel is bounded by its outer datagram instead, which is checked above.)
    if (p.tunnelDepth === 0 && p.networkOffset + p.ipLength > Math.max(p.originalLength, p.capturedLength) && !p.ipLengthFromFrame) {
      expect(p.ipLongerThanFrame).toBe(true);
    }
  }
  if (p.hasPorts) expect(p.transportOffset + 8).toBeLessThanOrEqual(cap);
  if (p.icmpType >= 0) expect(p.transportOffset + 8).toBeLessThanOrEqual(cap);
  if (p.quotedAddrLength !== 0) expect(p.quotedDstAddrOffset + p.quotedAddrLength).toBeLessThanOrEqual(cap);
}

// ------------------------------------------------------------------ valid frame specs

interface Spec {
  linkType: number;
  vlans: number[];
  v6: boolean;
  src: string;
  dst: string;
  v4Options: number[];
  ext: Ipv6Ext[];
  frag: 'none' | 'first' | 'later';
  transport:
    | { kind: 'tcp'; sport: number; dport: number; seq: number; ack: number; flags: number; window: number; options: TcpOption[]; payload: number }
    | { kind: 'udp'; sport: number; dport: number; payload: number }
    | { kind: 'echo'; id: number; seq: number; payload: number }
    | { kind: 'error'; quoteTcp: boolean; sport: number; dport: number };
}

const port = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const addr4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatAddress(b, 0, 4));
const addr6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatAddress(b, 0, 16));

const tcpOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  fc.integer({ min: 0, max: 0xffff }).map((value): TcpOption => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 14 }).map((shift): TcpOption => ({ kind: 'ws', shift })),
  fc.constant<TcpOption>({ kind: 'sackPermitted' }),
  fc.tuple(u32, u32).map(([val, ecr]): TcpOption => ({ kind: 'ts', val, ecr })),
  fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 3 }).map((blocks): TcpOption => ({ kind: 'sack', blocks })),
);
// At most 40 option bytes.
const tcpOptions = fc.array(tcpOption, { maxLength: 6 }).filter((o) => tcpOptionBytes(o).length <= 40);

const ext6: fc.Arbitrary<Ipv6Ext> = fc.oneof(
  fc.constantFrom<Ipv6Ext>({ type: 'hop' }, { type: 'dest' }, { type: 'routing' }),
  fc.uint8Array({ maxLength: 20 }).map((d): Ipv6Ext => ({ type: 'dest', data: new Uint8Array([1, d.length, ...d]) })),
  fc.integer({ min: 0, max: 64 }).map((n): Ipv6Ext => ({ type: 'ah', icvLength: 4 * (n % 8) })),
);

const transport: fc.Arbitrary<Spec['transport']> = fc.oneof(
  fc.record({
    kind: fc.constant('tcp' as const), sport: port, dport: port, seq: u32, ack: u32,
    flags: fc.integer({ min: 0, max: 0x1ff }), window: port, options: tcpOptions, payload: fc.integer({ min: 0, max: 64 }),
  }),
  fc.record({ kind: fc.constant('udp' as const), sport: port, dport: port, payload: fc.integer({ min: 0, max: 64 }) }),
  fc.record({ kind: fc.constant('echo' as const), id: port, seq: port, payload: fc.integer({ min: 0, max: 16 }) }),
  fc.record({ kind: fc.constant('error' as const), quoteTcp: fc.boolean(), sport: port, dport: port }),
);

const spec: fc.Arbitrary<Spec> = fc
  .record({
    linkType: fc.constantFrom(...LINK_TYPES),
    vlans: fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 3 }),
    v6: fc.boolean(),
    a4: fc.tuple(addr4, addr4),
    a6: fc.tuple(addr6, addr6),
    v4Options: fc.integer({ min: 0, max: 10 }).map((n) => new Array<number>(4 * n).fill(1)),
    ext: fc.array(ext6, { maxLength: 4 }),
    frag: fc.constantFrom('none' as const, 'none' as const, 'first' as const, 'later' as const),
    transport,
  })
  .map((r) => ({
    linkType: r.linkType,
    vlans: r.linkType === LINKTYPE.ETHERNET ? r.vlans : [],
    v6: r.v6,
    src: r.v6 ? r.a6[0] : r.a4[0],
    dst: r.v6 ? r.a6[1] : r.a4[1],
    v4Options: r.v6 ? [] : r.v4Options,
    ext: r.v6 ? r.ext : [],
    // an ICMP error fragment would hide the quote: keep errors whole
    frag: r.transport.kind === 'error' ? ('none' as const) : r.frag,
    transport: r.transport,
  }))
  // LINKTYPE_IPV4 / IPV6 hold their own version (the cross-version leniency has its own test)
  .filter((s) => !(s.linkType === LINKTYPE.IPV4 && s.v6) && !(s.linkType === LINKTYPE.IPV6 && !s.v6));

interface Built {
  bytes: Uint8Array;
  /** Header regions in frame order: [start, end, layer]. */
  regions: Array<[number, number, Layer]>;
  protocol: number;
}

function build(s: Spec): Built {
  const regions: Array<[number, number, Layer]> = [];
  const src = s.src;
  const dst = s.dst;
  const t = s.transport;
  let seg: Uint8Array;
  let protocol: number;
  const thdr: Array<[number, number, Layer]> = []; // relative to the transport start
  const icmpLayer: Layer = s.v6 ? 'icmpv6' : 'icmp';
  if (t.kind === 'tcp') {
    seg = tcpSegment({ ...t, payload: new Uint8Array(t.payload) });
    protocol = 6;
    thdr.push([0, 20 + Math.ceil(tcpOptionBytes(t.options).length / 4) * 4, 'tcp']);
  } else if (t.kind === 'udp') {
    seg = udpDatagram({ ...t, payload: new Uint8Array(t.payload) });
    protocol = 17;
    thdr.push([0, 8, 'udp']);
  } else if (t.kind === 'echo') {
    // strip the IP header the builder adds: only the ICMP message is wanted here
    const whole = buildEcho({ src, dst, id: t.id, seq: t.seq, payload: new Uint8Array(t.payload) });
    seg = whole.subarray(s.v6 ? 40 : 20);
    protocol = s.v6 ? 58 : 1;
    thdr.push([0, 8, icmpLayer]);
  } else {
    const original = t.quoteTcp
      ? buildTcp({ src: dst, dst: src, sport: t.sport, dport: t.dport, flags: 'S' })
      : buildUdp({ src: dst, dst: src, sport: t.sport, dport: t.dport, payload: 'q' });
    const quote = s.v6 ? original : quoteOf(original);
    const whole = buildIcmpError({ src, dst, type: s.v6 ? 1 : 3, code: s.v6 ? 4 : 3, quote });
    seg = whole.subarray(s.v6 ? 40 : 20);
    protocol = s.v6 ? 58 : 1;
    const qip = s.v6 ? 40 : 20;
    thdr.push([0, 8, icmpLayer], [8, 8 + qip, icmpLayer], [8 + qip, 16 + qip, icmpLayer]);
  }

  let packet: Uint8Array;
  const ipRegions: Array<[number, number, Layer]> = [];
  let hasTransport = true;
  if (!s.v6) {
    const ihl = 20 + s.v4Options.length;
    const later = s.frag === 'later';
    packet = ipv4({ src, dst, protocol, options: s.v4Options, mf: s.frag === 'first', fragOffset: later ? 1480 : 0, payload: seg });
    ipRegions.push([0, 20, 'ipv4']);
    if (ihl > 20) ipRegions.push([20, ihl, 'ipv4']);
    hasTransport = !later;
  } else {
    const ext = [...s.ext];
    if (s.frag !== 'none') ext.push({ type: 'fragment', offset: s.frag === 'later' ? 1232 : 0, more: s.frag === 'first' });
    packet = ipv6({ src, dst, nextHeader: protocol, ext, payload: seg });
    ipRegions.push([0, 40, 'ipv6']);
    let o = 40;
    for (const e of ext) {
      const len = ipv6Extension(e, 0).length;
      ipRegions.push([o, o + len, 'ipv6-ext']);
      o += len;
    }
    hasTransport = s.frag !== 'later';
  }
  const bytes = s.linkType === LINKTYPE.ETHERNET ? ethernet(packet, { vlans: s.vlans }) : wrap(s.linkType, packet);
  const n = linkHeaderLength(s.linkType) + 4 * s.vlans.length;
  if (s.linkType === LINKTYPE.ETHERNET) {
    regions.push([0, 14, 'link']);
    s.vlans.forEach((_, i) => regions.push([14 + 4 * i, 18 + 4 * i, 'vlan']));
  } else if (n > 0) regions.push([0, n, 'link']);
  for (const [a, b, l] of ipRegions) regions.push([n + a, n + b, l]);
  const tp = n + (ipRegions[ipRegions.length - 1]![1]);
  if (hasTransport) for (const [a, b, l] of thdr) regions.push([tp + a, tp + b, l]);
  return { bytes, regions, protocol };
}

const LINK_FIELDS = ['etherType', 'networkOffset', 'vlanCount', 'vlanIds'];
const IP_FIELDS = [
  'ipVersion', 'srcAddrOffset', 'dstAddrOffset', 'addrLength', 'ipLength', 'ipEnd', 'ttl', 'ipId', 'dontFragment',
  'moreFragments', 'fragmentOffset', 'isFragment',
];
const TCP_FIXED = ['hasPorts', 'srcPort', 'dstPort', 'tcpSeq', 'tcpAck', 'tcpFlags', 'tcpWindow', 'tcpHeaderLength'];
const ICMP_FIXED = ['icmpType', 'icmpCode', 'icmpId'];

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

describe('properties', () => {
  it('1. any bytes, any link type: no throw, well-formed problems, reuse = fresh', () => {
    const reused = newPacket();
    const validFrame = spec.map((s) => build(s).bytes);
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 128 }),
      // valid frames with a few bytes overwritten: reaches deep into the decoders
      fc
        .tuple(validFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }))
        .map(([f, edits]) => {
          const g = f.slice();
          for (const [i, v] of edits) if (g.length > 0) g[i % g.length] = v;
          return g;
        }),
    );
    const linkType = fc.oneof(fc.constantFrom(...LINK_TYPES), fc.integer({ min: 0, max: 300 }));
    fc.assert(
      fc.property(linkType, bytes, fc.nat(), fc.oneof(fc.nat({ max: 200 }), fc.nat({ max: 70000 })), fc.uint8Array({ maxLength: 80 }), (lt, b, cut, orig, other) => {
        const cap = b.length === 0 ? 0 : cut % (b.length + 1);
        const fresh = newPacket();
        expect(() => decodeBytes(lt, b, cap, orig, fresh)).not.toThrow();
        checkInvariants(fresh);
        // dirty the reused packet with something else first
        decodeBytes(lt, other, other.length, other.length, reused);
        decodeBytes(LINKTYPE.ETHERNET, b, b.length, b.length, reused);
        decodeBytes(lt, b, cap, orig, reused);
        expect(snapshot(reused)).toEqual(snapshot(fresh));
      }),
      { numRuns: 3000 },
    );
  });

  it('1b. valid frames decode without problems', () => {
    const p = newPacket();
    fc.assert(
      fc.property(spec, (s) => {
        const { bytes, protocol } = build(s);
        decodeBytes(s.linkType, bytes, bytes.length, bytes.length, p);
        expect(p.problems).toEqual([]);
        expect(p.protocol).toBe(protocol);
        checkInvariants(p);
      }),
      { numRuns: 500 },
    );
  });

  it('2. every strict prefix of the headers: exactly one truncated/capture problem on the right layer', () => {
    const p = newPacket();
    fc.assert(
      fc.property(spec, (s) => {
        const { bytes, regions } = build(s);
        decodeBytes(s.linkType, bytes, bytes.length, bytes.length, p);
        const full = snapshot(p);
        const headersEnd = regions.length > 0 ? regions[regions.length - 1]![1] : 0;
        for (let c = 0; c < headersEnd; c++) {
          decodeBytes(s.linkType, bytes, c, bytes.length, p);
          const region = regions.find(([a, b]) => a <= c && c < b);
          // raw IP (101/12/14) with no byte at all: the version is unknown, so the frame is cut
          const versionless = s.linkType === LINKTYPE.RAW || s.linkType === LINKTYPE.RAW_12 || s.linkType === LINKTYPE.RAW_14;
          const layer: Layer = c === 0 && versionless ? 'frame' : region![2];
          expect(p.problems.length, `cut at ${c}`).toBe(1);
          const pr = p.problems[0]!;
          expect([pr.kind, pr.cause, pr.layer], `cut at ${c}`).toEqual(['truncated', 'capture', layer]);
          expect(pr.offset + pr.have!).toBe(c);
          expect(pr.need!).toBeGreaterThan(pr.have!);
          expect(p.snapped).toBe(true);
          const cut = snapshot(p);
          const inIp = layer === 'ipv4' || layer === 'ipv6' || layer === 'ipv6-ext';
          const inTransport = layer === 'tcp' || layer === 'udp' || layer === 'icmp' || layer === 'icmpv6';
          if (inIp || inTransport) expect(pick(cut, LINK_FIELDS)).toEqual(pick(full, LINK_FIELDS));
          if (layer === 'ipv6-ext' || (layer === 'ipv4' && c >= region![0] && region![0] > (full['networkOffset'] as number))) {
            // cut in the IPv4 options / an extension header: the fixed header counts
            expect(pick(cut, ['ipVersion', 'srcAddrOffset', 'dstAddrOffset', 'addrLength', 'ipLength'])).toEqual(
              pick(full, ['ipVersion', 'srcAddrOffset', 'dstAddrOffset', 'addrLength', 'ipLength']),
            );
          }
          if (inTransport) {
            expect(pick(cut, [...IP_FIELDS, 'protocol', 'transportOffset'])).toEqual(pick(full, [...IP_FIELDS, 'protocol', 'transportOffset']));
            const start = region![0];
            if (layer === 'tcp' && c - start >= 20) expect(pick(cut, TCP_FIXED)).toEqual(pick(full, TCP_FIXED));
            if ((layer === 'icmp' || layer === 'icmpv6') && c - (full['transportOffset'] as number) >= 8) {
              expect(pick(cut, ICMP_FIXED)).toEqual(pick(full, ICMP_FIXED));
            }
          }
        }
        // and the whole headers (payload cut or not) are clean
        decodeBytes(s.linkType, bytes, headersEnd, bytes.length, p);
        expect(p.problems).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('3. TCP fields round-trip through builders and decoder', () => {
    const p = newPacket();
    fc.assert(
      fc.property(
        fc.boolean(), addr4, addr4, addr6, addr6, port, port, u32, u32, fc.integer({ min: 0, max: 0x1ff }), port,
        fc.integer({ min: 0, max: 0xffff }), fc.option(fc.integer({ min: 0, max: 14 })), fc.option(fc.tuple(u32, u32)),
        fc.integer({ min: 0, max: 300 }), fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 3 }),
        (v6, s4, d4, s6, d6, sport, dport, seq, ack, flags, window, mss, ws, ts, payload, vlans) => {
          const src = v6 ? s6 : s4;
          const dst = v6 ? d6 : d4;
          const options: TcpOption[] = [{ kind: 'mss', value: mss }];
          if (ws !== null) options.push({ kind: 'ws', shift: ws });
          if (ts !== null) options.push({ kind: 'ts', val: ts[0], ecr: ts[1] });
          const f = ethernet(buildTcp({ src, dst, sport, dport, seq, ack, flags, window, options, payload: new Uint8Array(payload) }), { vlans });
          decodeBytes(1, f, f.length, f.length, p);
          expect(p.problems).toEqual([]);
          expect(p.vlanIds.slice(0, p.vlanCount)).toEqual(vlans);
          expect(formatAddress(f, p.srcAddrOffset, p.addrLength)).toBe(src);
          expect(formatAddress(f, p.dstAddrOffset, p.addrLength)).toBe(dst);
          expect([p.srcPort, p.dstPort, p.tcpSeq, p.tcpAck, p.tcpFlags, p.tcpWindow]).toEqual([sport, dport, seq, ack, flags, window]);
          expect([p.mss, p.windowScale, p.hasTimestamps]).toEqual([mss, ws ?? -1, ts !== null]);
          if (ts !== null) expect([p.tsVal, p.tsEcr]).toEqual(ts);
          expect(p.payloadLength).toBe(payload);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('3b. UDP and quoted ports round-trip', () => {
    const p = newPacket();
    fc.assert(
      fc.property(fc.boolean(), addr4, addr4, addr6, addr6, port, port, fc.integer({ min: 0, max: 200 }), fc.constantFrom(...LINK_TYPES),
        (v6, s4, d4, s6, d6, sport, dport, payload, lt) => {
          const src = v6 ? s6 : s4;
          const dst = v6 ? d6 : d4;
          if ((lt === LINKTYPE.IPV4 && v6) || (lt === LINKTYPE.IPV6 && !v6)) return;
          const udp = buildUdp({ src, dst, sport, dport, payload: new Uint8Array(payload) });
          const f = wrap(lt, udp);
          decodeBytes(lt, f, f.length, f.length, p);
          expect(p.problems).toEqual([]);
          expect([p.srcPort, p.dstPort, p.udpLength, p.payloadLength]).toEqual([sport, dport, payload + 8, payload]);
          expect(formatAddress(f, p.srcAddrOffset, p.addrLength)).toBe(src);
          const err = wrap(lt, buildIcmpError({ src: dst, dst: src, type: v6 ? 1 : 3, code: v6 ? 4 : 3, quote: quoteOf(udp) }));
          decodeBytes(lt, err, err.length, err.length, p);
          expect(p.problems).toEqual([]);
          expect([p.quotedProtocol, p.quotedSrcPort, p.quotedDstPort]).toEqual([17, sport, dport]);
          expect(formatAddress(err, p.quotedSrcAddrOffset, p.quotedAddrLength)).toBe(src);
          expect(formatAddress(err, p.quotedDstAddrOffset, p.quotedAddrLength)).toBe(dst);
        }),
      { numRuns: 500 },
    );
  });
  it('4. a frame inside a larger buffer (Frame.offset) decodes as the frame alone, positions shifted', () => {
    // Fields that are positions in `bytes`, with their reset values (left as they are when unset).
    const positions: [keyof Packet, number][] = [
      ['networkOffset', -1], ['outerNetworkOffset', -1], ['srcAddrOffset', 0], ['dstAddrOffset', 0],
      ['transportOffset', 0], ['ipEnd', 0], ['payloadOffset', 0], ['quotedSrcAddrOffset', 0], ['quotedDstAddrOffset', 0],
    ];
    const validFrame = spec.map((s) => build(s).bytes);
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 128 }),
      fc
        .tuple(validFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 0, maxLength: 4 }))
        .map(([f, edits]) => {
          const g = f.slice();
          for (const [i, v] of edits) if (g.length > 0) g[i % g.length] = v;
          return g;
        }),
    );
    const linkType = fc.oneof(fc.constantFrom(...LINK_TYPES), fc.integer({ min: 0, max: 300 }));
    const alone = newPacket();
    const inside = newPacket();
    fc.assert(
      fc.property(linkType, bytes, fc.nat(), fc.nat({ max: 70000 }), fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }),
        (lt, b, cut, orig, before, after) => {
          const cap = b.length === 0 ? 0 : cut % (b.length + 1);
          // The frame's captured bytes between unrelated ones, which must never be read.
          const buf = new Uint8Array(before.length + cap + after.length);
          buf.set(before, 0);
          buf.set(b.subarray(0, cap), before.length);
          buf.set(after, before.length + cap);
          const frame: Frame = {
            linkType: lt, tsSec: 0, tsNsec: 0, capturedLength: cap, originalLength: orig, bytes: buf, offset: before.length,
            interfaceId: 0, sourceIndex: 0, number: 1, fileOffset: 0,
          };
          decodeBytes(lt, b.subarray(0, cap), cap, orig, alone);
          decodeFrame(frame, inside);
          // (checkInvariants counts positions from 0: it holds for `alone`, which `inside` must equal.)
          checkInvariants(alone);
          const k = before.length;
          const expected = snapshot(alone);
          expected.frameOffset = k;
          for (const [field, unset] of positions) {
            const v = alone[field] as number;
            if (!(v === unset && inside[field] === unset)) expected[field] = v + k;
          }
          expect(snapshot(inside)).toEqual(expected);
        }),
      { numRuns: 3000 },
    );
  });
});
