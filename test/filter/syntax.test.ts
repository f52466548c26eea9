/**
 * The filter language: its tree (precedence, repeated qualifiers, directions, nets), its errors
 * (where and what), and its answers on real packets of the fixtures, frame by frame.
 */
import { describe, expect, it } from 'vitest';
import { openCapture } from '../../src/capture/open.js';
import { newPacket } from '../../src/core/packet.js';
import { compileFilter } from '../../src/filter/match.js';
import { FilterError, parseFilter, type FilterNode } from '../../src/filter/syntax.js';
import { decodeFrame } from '../../src/parse/decode.js';
import { formatAddress } from '../../src/parse/format.js';
import { FIXTURES } from '../helpers/fixture-files.js';

/** The tree in a short text: (a and b), !a, port[dir,proto]=lo-hi, net[dir]=addr/len, vlan#i=id. */
function show(n: FilterNode): string {
  switch (n.kind) {
    case 'and':
    case 'or':
      return `(${show(n.left)} ${n.kind} ${show(n.right)})`;
    case 'not':
      return `!${show(n.operand)}`;
    case 'proto':
      return n.proto;
    case 'vlan':
      return `vlan#${n.index}${n.id === null ? '' : `=${n.id}`}`;
    case 'net':
      return `net[${n.dir}]=${formatAddress(n.addr, 0, n.addr.length)}/${n.prefix}`;
    case 'port':
      return `port[${n.dir},${n.proto ?? '*'}]=${n.low}${n.high === n.low ? '' : `-${n.high}`}`;
  }
}

const tree = (text: string) => show(parseFilter(text));

function error(text: string): { message: string; at: number } {
  try {
    parseFilter(text);
  } catch (err) {
    if (err instanceof FilterError) return { message: err.message, at: err.at };
    throw err;
  }
  throw new Error(`'${text}' parsed`);
}

/** The frame numbers of a fixture the filter keeps, decoding every frame as the pipeline does. */
async function matching(capture: string, text: string): Promise<number[]> {
  const test = compileFilter(text);
  const src = await openCapture(`${FIXTURES}${capture}`, 0);
  const pkt = newPacket();
  const out: number[] = [];
  for await (const batch of src.batches()) {
    for (const frame of batch) {
      decodeFrame(frame, pkt);
      if (test(pkt)) out.push(frame.number);
    }
  }
  return out;
}

describe('filter syntax', () => {
  it('not binds tightest; and and or are one level, grouped from the left (pcap-filter(7))', () => {
    expect(tree('port 53 or port 80 and host 10.0.0.1')).toBe('((port[src or dst,*]=53 or port[src or dst,*]=80) and net[src or dst]=10.0.0.1/32)');
    expect(tree('host 10.0.0.1 and port 80 or port 53')).toBe('((net[src or dst]=10.0.0.1/32 and port[src or dst,*]=80) or port[src or dst,*]=53)');
    expect(tree('not tcp and udp')).toBe('(!tcp and udp)');
    expect(tree('! (tcp || udp) && ip6')).toBe('(!(tcp or udp) and ip6)');
    expect(tree('not not icmp')).toBe('!!icmp');
  });

  it('a bare value repeats the qualifiers of the primitive before it, not its not', () => {
    expect(tree('port 80 or 443')).toBe('(port[src or dst,*]=80 or port[src or dst,*]=443)');
    expect(tree('tcp dst port 80 or 8089 or 8090')).toBe('((port[dst,tcp]=80 or port[dst,tcp]=8089) or port[dst,tcp]=8090)');
    expect(tree('not host 10.0.0.1 and 10.0.0.2')).toBe('(!net[src or dst]=10.0.0.1/32 and net[src or dst]=10.0.0.2/32)');
    expect(tree('src net 10.0.0.0/8 or 192.168.0.0/16')).toBe('(net[src]=10.0.0.0/8 or net[src]=192.168.0.0/16)');
    expect(tree('udp portrange 5000-5010 or (6000-6010)')).toBe('(port[src or dst,udp]=5000-5010 or port[src or dst,udp]=6000-6010)');
    // A primitive with some keywords of its own repeats none (libpcap reads 'dst 5353' as a host).
    expect(tree('src port 9157 or dst 10.0.0.1')).toBe('(port[src,*]=9157 or net[dst]=10.0.0.1/32)');
  });

  it('directions, types implied by the value, and the forms of a net', () => {
    expect(tree('src or dst port 9157')).toBe('port[src or dst,*]=9157');
    expect(tree('dst and src port 9157')).toBe('port[src and dst,*]=9157');
    expect(tree('src 10.0.0.1')).toBe('net[src]=10.0.0.1/32');
    expect(tree('dst 10.0.0.0/8')).toBe('net[dst]=10.0.0.0/8');
    expect(tree('ip6 host 2001:DB8::1')).toBe('net[src or dst]=2001:db8::1/128');
    expect(tree('net 10.1.0.0 mask 255.255.0.0')).toBe('net[src or dst]=10.1.0.0/16');
    expect(tree('net 172.16')).toBe('net[src or dst]=172.16.0.0/16');
    expect(tree('net 2001:db8::/32')).toBe('net[src or dst]=2001:db8::/32');
    expect(tree('portrange 9000-8000')).toBe('port[src or dst,*]=8000-9000');
    expect(tree('vlan 100 and vlan and vlan 300')).toBe('((vlan#0=100 and vlan#1) and vlan#2=300)');
  });

  it.each([
    ['tcp port 80 and', 'the expression ends where a primitive was expected', 15],
    ['(port 80 or port 53', "'(' at character 1 is not closed", 19],
    ['port 80)', "')' without '('", 7],
    ['port 80 port 53', "expected 'and' or 'or' before 'port'", 8],
    ['tcp prot 80', "unknown word 'prot'", 4],
    ['TCP or udp', "unknown word 'TCP': keywords are lowercase, as in tcpdump", 0],
    ['ether host 02:00:00:00:00:01', "'ether' (link-layer (MAC) addresses) is not supported on files", 0],
    ['tcp[13] & 2 != 0', "byte offsets ('proto[offset]') are not supported on files", 3],
    ['greater 100', "'greater' (packet lengths) is not supported on files", 0],
    ['udp and len > 100', "'len' (packet lengths) is not supported on files", 8],
    ['gateway router', "'gateway' (gateway tests, which need name resolution) is not supported on files", 0],
    ['host example.com', "host names are not resolved ('example.com')", 5],
    ['port http', "port names are not looked up ('http')", 5],
    ['host 10.0.0.0/8', "'host' takes one address, not a net", 5],
    ['net 10.0.0.1/8', "non-network bits set in '10.0.0.1/8'", 4],
    ['tcp host 10.0.0.1', "'tcp' cannot qualify 'host'", 9],
    ['ip6 net 10.0.0.0/8', "'ip6' cannot qualify the IPv4 address", 8],
    ['icmp port 80', "'icmp' takes no qualifiers", 5],
    ['10.0.0.1', "'10.0.0.1' needs a keyword before it", 0],
    ['(port 80) or 443', "'443' needs a keyword before it", 13],
    ['src port 9157 or dst 5353', "'5353' needs a type before it", 21],
    ['port 65536', "'65536' is not a port", 5],
    ['vlan 4096', "'4096' is not a VLAN id", 5],
    ['', 'the expression is empty', 0],
    ['host 10.0.0.1 $ port 80', "unexpected character '$'", 14],
  ])('refuses %j: %s, at %i', (text, message, at) => {
    const e = error(text);
    expect(e.message).toContain(message);
    expect(e.at).toBe(at);
  });
});

describe('filter answers on real packets', () => {
  // demux-lo.pcap (fixtures/README.md): frames 1-22 port 80 (127.0.0.2 and .3, both port 9157),
  // 23-52 port 8089 (127.0.0.3:5775), 53-60 UDP 5353 (.2 and .3 from port 9157).
  it('precedence decides what is kept: (5353 or 80) and host .3, not 5353 or (80 and host .3)', async () => {
    const kept = await matching('demux-lo.pcap', 'port 5353 or port 80 and host 127.0.0.3');
    const grouped = await matching('demux-lo.pcap', '(port 5353 or port 80) and host 127.0.0.3');
    const other = await matching('demux-lo.pcap', 'port 5353 or (port 80 and host 127.0.0.3)');
    expect(kept).toEqual(grouped);
    expect(other).not.toEqual(kept);
    expect(other.filter((n) => n >= 53)).toEqual([53, 54, 55, 56, 57, 58, 59, 60]);
    expect(kept.filter((n) => n >= 53)).toEqual([55, 56, 59, 60]);
  });

  it('directions on both ends: src and dst port 9157 matches nothing, src or dst port 9157 the client packets both ways', async () => {
    expect(await matching('demux-lo.pcap', 'src and dst port 9157')).toEqual([]);
    const either = await matching('demux-lo.pcap', 'src or dst port 9157');
    expect(either).toEqual(await matching('demux-lo.pcap', 'port 9157'));
    expect(either).toEqual([...Array.from({ length: 22 }, (_, i) => i + 1), ...[53, 54, 55, 56, 57, 58, 59, 60]]);
    expect(await matching('demux-lo.pcap', 'portrange 8000-9000')).toEqual(Array.from({ length: 30 }, (_, i) => i + 23));
  });

  it('ICMP errors are matched by their own header, IPv6 by IPv6 addresses (closed-ports.pcap)', async () => {
    // Frames 1-4: UDP to 127.0.0.1:9999 and its ICMP port unreachable (twice); 5-6 the same on ::1;
    // 10 another port unreachable (for 9998).
    expect(await matching('closed-ports.pcap', 'port 9999')).toEqual([1, 3, 5]);
    expect(await matching('closed-ports.pcap', 'icmp')).toEqual([2, 4, 10]);
    expect(await matching('closed-ports.pcap', 'icmp6 or host ::1')).toEqual([5, 6]);
    expect(await matching('closed-ports.pcap', 'ip6 net ::/127')).toEqual([5, 6]);
  });

  it('a later IP fragment has no ports: port matches the first fragment only, udp all', async () => {
    // ipv4-udp-fragments-in-order.pcap: 1 first fragment (udp 55000 -> 9999), 2-3 later ones, 4 the answer.
    expect(await matching('crafted/ipv4-udp-fragments-in-order.pcap', 'port 9999')).toEqual([1, 4]);
    expect(await matching('crafted/ipv4-udp-fragments-in-order.pcap', 'udp')).toEqual([1, 2, 3, 4]);
  });

  it('vlan: the n-th vlan of the expression is the n-th tag; headers are read through the tags', async () => {
    // eth-qinq-88a8-8100-udp.pcap: outer tag 200, inner 100, UDP inside.
    expect(await matching('crafted/eth-qinq-88a8-8100-udp.pcap', 'vlan 200 and vlan 100')).toEqual([1, 2]);
    expect(await matching('crafted/eth-qinq-88a8-8100-udp.pcap', 'vlan 100')).toEqual([]);
    expect(await matching('crafted/eth-qinq-88a8-8100-udp.pcap', 'udp and host 192.0.2.1')).toEqual([1, 2]);
    expect(await matching('demux-lo.pcap', 'vlan')).toEqual([]);
  });
});
