/**
 * Every fixture decodes as tshark decodes it: the committed `NAME.packets.tsv` (tshark's fields,
 * one row a frame; fixtures/README.md says how it was made) against flowdemux's decoder, field by
 * field, for every frame of every capture tshark could open.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCapture } from '../../src/capture/open.js';
import { formatAddress } from '../../src/parse/format.js';
import { decodeFrame } from '../../src/parse/decode.js';
import { newPacket, type Packet } from '../../src/core/packet.js';
import type { Frame } from '../../src/core/frame.js';

const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;

function tsvFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsvFiles(p));
    else if (name.endsWith('.packets.tsv')) out.push(p);
  }
  return out.sort();
}

const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, '0')}`;

/** flowdemux's view of a frame in tshark's field names and spelling ('' = no value). */
function ours(frame: Frame, pkt: Packet): Record<string, string> {
  const o: Record<string, string> = {
    'frame.number': String(frame.number),
    'frame.time_epoch': `${frame.tsSec}.${String(frame.tsNsec).padStart(9, '0')}`,
    'frame.len': String(frame.originalLength),
    'frame.cap_len': String(frame.capturedLength),
  };
  if (pkt.vlanCount > 0) {
    // tshark files tags by TPID; ours are in order, outermost first: compare as one list.
    o['vlan.all'] = pkt.vlanIds.slice(0, pkt.vlanCount).join(',');
  }
  // The header's own addresses (an IPv6 routing header or home address option makes the flow's
  // end points, srcAddrOffset/dstAddrOffset, differ from them; tshark's fields are the header's).
  // But tshark's ip.dst is an IPv4 source route's final destination (the header's is ip.cur_rt).
  const net = pkt.networkOffset;
  if (pkt.ipVersion === 4) {
    o['ip.src'] = formatAddress(pkt.bytes, net + 12, 4);
    o['ip.dst'] = formatAddress(pkt.bytes, pkt.dstAddrOffset, 4);
    o['ip.len'] = String(pkt.ipLength);
    o['ip.hdr_len'] = String(pkt.ipHeaderLength);
    o['ip.id'] = hex(pkt.ipId, 4);
    o['ip.flags.mf'] = pkt.moreFragments ? '1' : '0';
    o['ip.frag_offset'] = String(pkt.fragmentOffset / 8);
    o['ip.ttl'] = String(pkt.ttl);
  } else if (pkt.ipVersion === 6) {
    o['ipv6.src'] = formatAddress(pkt.bytes, net + 8, 16);
    o['ipv6.dst'] = formatAddress(pkt.bytes, net + 24, 16);
    o['ipv6.plen'] = String(pkt.ipLength - 40);
  }
  const quoted = pkt.icmpType >= 0 && pkt.quotedProtocol >= 0;
  const proto = quoted ? pkt.quotedProtocol : pkt.protocol;
  const ports = quoted ? pkt.quotedAddrLength > 0 : pkt.portsRead;
  if (proto === 6 && ports) {
    o['tcp.srcport'] = String(quoted ? pkt.quotedSrcPort : pkt.srcPort);
    o['tcp.dstport'] = String(quoted ? pkt.quotedDstPort : pkt.dstPort);
  }
  if (proto === 17 && ports) {
    o['udp.srcport'] = String(quoted ? pkt.quotedSrcPort : pkt.srcPort);
    o['udp.dstport'] = String(quoted ? pkt.quotedDstPort : pkt.dstPort);
  }
  if (pkt.protocol === 6 && pkt.hasPorts && !quoted) {
    o['tcp.seq_raw'] = String(pkt.tcpSeq);
    o['tcp.ack_raw'] = String(pkt.tcpAck);
    o['tcp.flags'] = hex(pkt.tcpFlags, 4);
    o['tcp.window_size_value'] = String(pkt.tcpWindow);
    o['tcp.hdr_len'] = String(pkt.tcpHeaderLength);
    o['tcp.len'] = String(pkt.payloadLength);
    if (pkt.mss >= 0) o['tcp.options.mss_val'] = String(pkt.mss);
    if (pkt.windowScale >= 0) o['tcp.options.wscale.shift'] = String(pkt.windowScale);
    if (pkt.hasTimestamps) {
      o['tcp.options.timestamp.tsval'] = String(pkt.tsVal);
      o['tcp.options.timestamp.tsecr'] = String(pkt.tsEcr);
    }
  }
  if (pkt.protocol === 17 && pkt.hasPorts && !quoted) o['udp.length'] = String(pkt.udpLength);
  if (pkt.icmpType >= 0) {
    const v6 = pkt.protocol === 58;
    o[v6 ? 'icmpv6.type' : 'icmp.type'] = String(pkt.icmpType);
    o[v6 ? 'icmpv6.code' : 'icmp.code'] = String(pkt.icmpCode);
  }
  return o;
}

/**
 * A tunnelled frame: tshark's fields are each protocol's first occurrence, so the outer packet's
 * where it has that protocol (IPv4 of a GRE or VXLAN packet, the UDP of a VXLAN packet) and the
 * inner packet's for the others (the inner TCP; the inner IPv6 of 6in4). VLAN tags: all of them.
 */
function oursTunnelled(frame: Frame, inner: Packet, outer: Packet): Record<string, string> {
  const o = ours(frame, outer);
  const families = new Set(Object.keys(o).map((k) => k.split('.')[0]));
  for (const [k, v] of Object.entries(ours(frame, inner))) {
    if (k === 'vlan.all' || !families.has(k.split('.')[0])) o[k] = v;
  }
  return o;
}

/** tshark's row reduced to the fields compared (and the VLAN tags merged in wire order). */
function theirs(row: Record<string, string>, fields: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  // In an ICMP error tshark's tcp.*/udp.* fields are the quoted header's: flowdemux decodes its
  // ports only (what the demux needs), so compare those.
  const icmpError = (row['icmp.type'] || row['icmpv6.type']) && (row['tcp.srcport'] || row['udp.srcport']);
  for (const f of fields) {
    if (!row[f]) continue;
    if (icmpError && /^(tcp|udp)\./.test(f) && !f.endsWith('port')) continue;
    o[f] = row[f]!;
  }
  const tags = [row['ieee8021ad.id'], row['vlan.id']].filter(Boolean).join(',');
  if (tags) o['vlan.all'] = tags;
  return o;
}

const COMPARED = [
  'frame.number', 'frame.time_epoch', 'frame.len', 'frame.cap_len',
  'ip.src', 'ip.dst', 'ip.len', 'ip.hdr_len', 'ip.id', 'ip.flags.mf', 'ip.frag_offset', 'ip.ttl',
  'ipv6.src', 'ipv6.dst', 'ipv6.plen',
  'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.window_size_value', 'tcp.hdr_len', 'tcp.len',
  'tcp.options.mss_val', 'tcp.options.wscale.shift', 'tcp.options.timestamp.tsval', 'tcp.options.timestamp.tsecr',
  'udp.srcport', 'udp.dstport', 'udp.length', 'icmp.type', 'icmp.code', 'icmpv6.type', 'icmpv6.code',
];

/**
 * Frames where flowdemux decodes more or less than tshark on purpose; each entry names the
 * frame and the fields, and why. Everything else must be equal.
 */
interface Expected {
  frame: number;
  why: string;
  /** Fields (flowdemux's value, or undefined where it has none) that differ from tshark's. */
  ours: Record<string, string | undefined>;
}
const AF10 = 'NULL with AF 10 (Linux AF_INET6) is decoded as IPv6; tshark shows it as data';
const EXPECTED_DIFFERENCES: Record<string, Expected[]> = {
  'crafted/teredo-ipv6-udp-and-bubble.pcap': [{
    frame: 3, why: 'a Teredo bubble (IPv6 with no next header) has nothing to key a flow on: flowdemux describes the packet as the tunnel\'s UDP packet; tshark also shows the inner IPv6 header',
    ours: { 'ipv6.src': undefined, 'ipv6.dst': undefined, 'ipv6.plen': undefined },
  }],
  'crafted/null-be-af-2-10-24-28-30.pcap': [{ frame: 2, why: AF10, ours: { 'ipv6.src': '2001:db8::1' } }],
  'crafted/null-le-af-2-10-24-28-30.pcap': [{ frame: 2, why: AF10, ours: { 'ipv6.src': '2001:db8::1' } }],
  'crafted/null-le-file-be-af-values.pcap': [{ frame: 2, why: AF10, ours: { 'ipv6.src': '2001:db8::1' } }],
  'damaged/ipv4-ihl-3.pcap': [{
    frame: 2, why: 'IHL 3 (< 5): flowdemux reports the IPv4 header malformed and takes nothing from it; tshark shows the bogus header length',
    ours: { 'ip.hdr_len': undefined },
  }],
  'damaged/tcp-data-offset-4.pcap': [{
    frame: 2, why: 'TCP data offset 4 (< 5): flowdemux keeps the fixed 20-byte header (flags, ack, window) and counts no payload; tshark stops after the sequence number and counts the rest as payload',
    ours: { 'tcp.ack_raw': '0', 'tcp.flags': '0x0002', 'tcp.window_size_value': '64240', 'tcp.len': '0' },
  }],
};

/**
 * Frames flowdemux decodes through a tunnel that tshark leaves as UDP data: Teredo on a port other
 * than 3544, found by content as Zeek finds it (tshark's Teredo heuristic is off by default).
 * Those frames must be that tunnel's, and decoded without going through it they must agree with
 * tshark field for field.
 */
const TUNNEL_BY_CONTENT: Record<string, { frames: number[]; tunnel: string }> = {
  'crafted/teredo-port-32900-ipv6-tcp-and-lookalikes.pcap': { frames: [1, 2, 3, 4, 5, 6], tunnel: 'teredo' },
};

const cases = tsvFiles(FIXTURES).map((tsv) => ({ tsv, capture: tsv.slice(0, -'.packets.tsv'.length), name: tsv.slice(FIXTURES.length, -'.packets.tsv'.length) }))
  .filter((c) => existsSync(c.capture));

describe('every fixture decodes as tshark decodes it', () => {
  it('has tshark answers for the fixtures', () => expect(cases.length).toBeGreaterThan(40));
  for (const c of cases) {
    it(c.name, async () => {
      const [head, ...rows] = readFileSync(c.tsv, 'utf8').trimEnd().split('\n');
      const names = head!.split('\t');
      const expected = rows.filter((r) => r.length > 0).map((r) => {
        const cells = r.split('\t');
        return Object.fromEntries(names.map((n, i) => [n, cells[i] ?? '']));
      });
      let source;
      try {
        source = await openCapture(c.capture, 0);
      } catch {
        expect(expected).toEqual([]); // refused (empty file): tshark found no frames either
        return;
      }
      const pkt = newPacket();
      const outer = newPacket();
      const got: Record<string, string>[] = [];
      const byContent = TUNNEL_BY_CONTENT[c.name];
      const tunnels: (string | null)[] = [];
      for await (const batch of source.batches()) {
        for (const frame of batch) {
          decodeFrame(frame, pkt);
          if (byContent?.frames.includes(frame.number)) {
            tunnels.push(pkt.tunnel);
            got.push(ours(frame, decodeFrame(frame, outer, 0)));
            continue;
          }
          got.push(pkt.tunnelDepth === 0 ? ours(frame, pkt) : oursTunnelled(frame, pkt, decodeFrame(frame, outer, 0)));
        }
      }
      if (byContent) expect(tunnels).toEqual(byContent.frames.map(() => byContent.tunnel));
      expect(got.length).toBe(expected.length);
      const known = EXPECTED_DIFFERENCES[c.name] ?? [];
      for (let i = 0; i < expected.length; i++) {
        const want = theirs(expected[i]!, COMPARED);
        const mine = got[i]!;
        // An SPB has no timestamp in the file: tshark prints none.
        if (!want['frame.time_epoch']) delete mine['frame.time_epoch'];
        const rule = known.find((k) => k.frame === i + 1);
        if (rule) {
          // flowdemux's own rule for this frame: its values are the stated ones...
          for (const [field, value] of Object.entries(rule.ours)) {
            expect(mine[field], `frame ${i + 1} ${field}: ${rule.why}`).toBe(value);
            delete mine[field];
            delete want[field];
          }
          // ... and every other field still agrees (AF 10: tshark has no IP layer at all).
          if (rule.why !== AF10) expect(mine, `frame ${i + 1}`).toEqual(want);
          continue;
        }
        expect(mine, `frame ${i + 1}`).toEqual(want);
      }
    });
  }
});
