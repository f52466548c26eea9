/**
 * --filter against tcpdump: for every row of fixtures/golden/filters.tsv (tcpdump 4.99.3 /
 * libpcap 1.10.3's answers, made by scripts/fixtures/filter-golden.mjs), the frames the compiled
 * filter keeps, read through the pipeline as the commands read them, are the frames tcpdump kept.
 * Where flowdemux decides otherwise on purpose (src/filter/README.md), the row is listed below
 * with its own answer and the reason, and tcpdump's answer must still be what the file says.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../src/filter/match.js';
import { readCaptures } from '../../src/pipeline/read.js';
import { FIXTURES } from '../helpers/fixture-files.js';

const rows = readFileSync(`${FIXTURES}golden/filters.tsv`, 'utf8').split('\n').slice(1, -1)
  .map((line) => {
    const [capture, expression, frames] = line.split('\t') as [string, string, string];
    return { capture, expression, frames };
  });

/**
 * Rows where flowdemux answers otherwise on purpose, by capture: expression -> [flowdemux's
 * frames, tcpdump's frames]. Every other row must agree.
 */
const DIFFERENT: Record<string, { why: string; rows: Record<string, [string, string]> }> = {
  // libpcap reads headers at fixed offsets: without a `vlan` keyword for each tag, a tagged
  // frame's EtherType is the tag's, so no IP primitive matches it; flowdemux reads through tags.
  'crafted/eth-vlan-8021q-tcp.pcap': {
    why: 'IP and TCP read through one VLAN tag',
    rows: {
      'host 192.0.2.1': ['1,2,3,4,5,6,7,8', ''], 'src host 198.51.100.7': ['2,5,7', ''],
      'net 198.51.100.0/24': ['1,2,3,4,5,6,7,8', ''], 'tcp': ['1,2,3,4,5,6,7,8', ''], 'ip': ['1,2,3,4,5,6,7,8', ''],
      'not ip and not ip6': ['', '1,2,3,4,5,6,7,8'], 'port 443 or 8080': ['1,2,3,4,5,6,7,8', ''],
      'portrange 40000-41000': ['1,2,3,4,5,6,7,8', ''],
    },
  },
  'crafted/eth-qinq-88a8-8100-udp.pcap': {
    why: 'IP and UDP read through two tags (`vlan and udp` looks past one tag only in libpcap)',
    rows: {
      'host 192.0.2.1': ['1,2', ''], 'src host 198.51.100.7': ['2', ''], 'net 198.51.100.0/24': ['1,2', ''],
      'udp': ['1,2', ''], 'ip': ['1,2', ''], 'not ip and not ip6': ['', '1,2'], 'vlan and udp': ['1,2', ''],
    },
  },
  'crafted/eth-vlan-3tags-ipv6-udp.pcap': {
    why: 'IPv6 and UDP read through three tags',
    rows: {
      'host 2001:db8::7': ['1,2', ''], 'net 2001:db8::/32': ['1,2', ''], 'udp': ['1,2', ''], 'ip6': ['1,2', ''],
      'not ip and not ip6': ['', '1,2'], 'vlan and udp': ['1,2', ''],
    },
  },
  // libpcap matches the outer headers; flowdemux the inner packet its flow is keyed on (frames
  // 1 and 2 carry ARP, no inner IP: they are matched by the outer UDP packet).
  'crafted/vxlan-eth-tcp-and-arp.pcap': {
    why: 'a VXLAN packet is matched by its inner packet',
    rows: {
      'host 192.0.2.1': ['3,4,5,6,7,8,9,10', ''], 'src host 198.51.100.7': ['4,7,9', ''],
      'net 198.51.100.0/24': ['3,4,5,6,7,8,9,10', ''], 'udp': ['1,2', '1,2,3,4,5,6,7,8,9,10'],
      'tcp': ['3,4,5,6,7,8,9,10', ''], 'port 443 or 8080': ['3,4,5,6,7,8,9,10', ''],
    },
  },
  // libpcap's `udp` looks at the fixed IPv6 header's next header (and a fragment header right
  // after it); flowdemux at the transport after every extension header.
  'crafted/ipv6-hop-routing-fragment-destopts-udp.pcap': {
    why: 'UDP found after the IPv6 extension headers',
    rows: { 'udp': ['1,2', ''] },
  },
};

async function kept(capture: string, expression: string): Promise<string> {
  const frames: number[] = [];
  await readCaptures([`${FIXTURES}${capture}`], (frame) => void frames.push(frame.number), { progress: false, filter: compileFilter(expression) });
  return frames.join(',');
}

describe('--filter keeps the frames tcpdump keeps', () => {
  it('the golden file has rows for several captures and link types', () => {
    expect(rows.length).toBeGreaterThan(300);
    expect(new Set(rows.map((r) => r.capture)).size).toBeGreaterThan(10);
  });

  it.each(rows.filter((r) => r.frames !== '-').map((r) => [r.capture, r.expression, r.frames]))('%s: %s', async (capture, expression, frames) => {
    const known = DIFFERENT[capture]?.rows[expression];
    const ours = await kept(capture, expression);
    if (known === undefined) {
      expect(ours).toBe(frames);
    } else {
      expect(frames, `tcpdump's answer (${DIFFERENT[capture]!.why})`).toBe(known[1]);
      expect(ours, DIFFERENT[capture]!.why).toBe(known[0]);
    }
  });
});
