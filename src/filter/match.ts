/**
 * A parsed filter (syntax.ts) as one test on the decoded packet: a tree of small closures made
 * once, with every address already in numbers, so that a packet costs a few calls and compares,
 * never an allocation or a string.
 *
 * What a primitive looks at, on the decoded packet (core/packet.ts):
 * - the innermost IP header and transport, the ones the packet's flow is keyed on and its line
 *   shows: a tunnelled packet (IP in IP, GRE, VXLAN, ...) is matched by its inner packet, where
 *   libpcap matches the outer headers only;
 * - through VLAN tags, MPLS labels and PPPoE, which libpcap needs keywords (`vlan and ...`) for;
 *   `vlan [id]` still counts tags as libpcap does: the n-th `vlan` of the expression, from the
 *   left, looks at the n-th tag, outermost first;
 * - `tcp`, `udp`, `sctp`, `icmp6` and ports after the IPv6 extension headers (libpcap looks at the
 *   fixed header's next header only, and a fragment header for the protocol words);
 * - ports only in a packet that carries its own transport header: a later IP fragment has none
 *   and no port matches it, as in libpcap (its flow still gets it when it passes another way);
 * - an ICMP error is matched by its own header, not the one it quotes (`port 80` does not match
 *   a port unreachable about port 80), as in libpcap;
 * - host and net: IPv4 addresses match IPv4 packets, IPv6 addresses IPv6 packets; a packet
 *   without IP matches no host, net, port or protocol word.
 */
import { IPPROTO, type Packet } from '../core/packet.js';
import { parseFilter, type Direction, type FilterNode } from './syntax.js';

export type PacketTest = (pkt: Packet) => boolean;

const SCTP = 132;

/** Parses and compiles `text`; throws syntax.ts's FilterError when it cannot. */
export function compileFilter(text: string): PacketTest {
  return compile(parseFilter(text));
}

export function compile(node: FilterNode): PacketTest {
  switch (node.kind) {
    case 'and': {
      const a = compile(node.left);
      const b = compile(node.right);
      return (p) => a(p) && b(p);
    }
    case 'or': {
      const a = compile(node.left);
      const b = compile(node.right);
      return (p) => a(p) || b(p);
    }
    case 'not': {
      const a = compile(node.operand);
      return (p) => !a(p);
    }
    case 'proto':
      return protoTest(node.proto);
    case 'vlan': {
      const { id, index } = node;
      if (id === null) return (p) => p.vlanCount > index;
      return (p) => p.vlanCount > index && p.vlanIds[index] === id;
    }
    case 'net':
      return node.addr.length === 4 ? ipv4Net(node.addr, node.prefix, node.dir) : ipv6Net(node.addr, node.prefix, node.dir);
    case 'port':
      return portTest(node.proto, node.low, node.high, node.dir);
  }
}

function protoTest(proto: 'ip' | 'ip6' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmp6'): PacketTest {
  switch (proto) {
    case 'ip':
      return (p) => p.ipVersion === 4;
    case 'ip6':
      return (p) => p.ipVersion === 6;
    case 'icmp':
      return (p) => p.ipVersion === 4 && p.protocol === IPPROTO.ICMP;
    case 'icmp6':
      return (p) => p.ipVersion === 6 && p.protocol === IPPROTO.ICMPV6;
    default: {
      const n = proto === 'tcp' ? IPPROTO.TCP : proto === 'udp' ? IPPROTO.UDP : SCTP;
      return (p) => p.ipVersion !== 0 && p.protocol === n;
    }
  }
}

/** Both ends, or either, or one, from a test of one address offset. */
function byDirection(dir: Direction, at: (p: Packet, offset: number) => boolean): PacketTest {
  switch (dir) {
    case 'src':
      return (p) => at(p, p.srcAddrOffset);
    case 'dst':
      return (p) => at(p, p.dstAddrOffset);
    case 'src or dst':
      return (p) => at(p, p.srcAddrOffset) || at(p, p.dstAddrOffset);
    case 'src and dst':
      return (p) => at(p, p.srcAddrOffset) && at(p, p.dstAddrOffset);
  }
}

function ipv4Net(addr: Uint8Array, prefix: number, dir: Direction): PacketTest {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const want = (((addr[0]! << 24) | (addr[1]! << 16) | (addr[2]! << 8) | addr[3]!) & mask) >>> 0;
  return byDirection(dir, (p, o) => {
    if (p.addrLength !== 4) return false;
    const b = p.bytes;
    return (((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) & mask) >>> 0 === want;
  });
}

function ipv6Net(addr: Uint8Array, prefix: number, dir: Direction): PacketTest {
  // Whole bytes of the prefix compared as they are, then the one partial byte under its mask.
  const whole = prefix >> 3;
  const partialMask = (0xff00 >> (prefix & 7)) & 0xff;
  const partial = addr[whole] ?? 0;
  return byDirection(dir, (p, o) => {
    if (p.addrLength !== 16) return false;
    const b = p.bytes;
    for (let i = 0; i < whole; i++) if (b[o + i] !== addr[i]) return false;
    return partialMask === 0 || (b[o + whole]! & partialMask) === partial;
  });
}

/**
 * The packet's own transport ports are readable: TCP and UDP as decoded (not a later fragment),
 * SCTP (not decoded otherwise) from its first four bytes when they were captured.
 */
function srcPortOf(p: Packet): number {
  if (p.portsRead) return p.srcPort;
  return sctpPortsCaptured(p) ? (p.bytes[p.transportOffset]! << 8) | p.bytes[p.transportOffset + 1]! : -1;
}

function dstPortOf(p: Packet): number {
  if (p.portsRead) return p.dstPort;
  return sctpPortsCaptured(p) ? (p.bytes[p.transportOffset + 2]! << 8) | p.bytes[p.transportOffset + 3]! : -1;
}

function sctpPortsCaptured(p: Packet): boolean {
  return p.protocol === SCTP && p.fragmentOffset === 0 && p.transportOffset + 4 <= p.frameOffset + p.capturedLength;
}

function portTest(proto: 'tcp' | 'udp' | 'sctp' | null, low: number, high: number, dir: Direction): PacketTest {
  const carries: PacketTest = proto === null
    ? (p) => p.protocol === IPPROTO.TCP || p.protocol === IPPROTO.UDP || p.protocol === SCTP
    : protoTest(proto);
  const inRange = (port: number) => port >= low && port <= high;
  switch (dir) {
    case 'src':
      return (p) => p.ipVersion !== 0 && carries(p) && inRange(srcPortOf(p));
    case 'dst':
      return (p) => p.ipVersion !== 0 && carries(p) && inRange(dstPortOf(p));
    case 'src or dst':
      return (p) => p.ipVersion !== 0 && carries(p) && (inRange(srcPortOf(p)) || inRange(dstPortOf(p)));
    case 'src and dst':
      return (p) => p.ipVersion !== 0 && carries(p) && inRange(srcPortOf(p)) && inRange(dstPortOf(p));
  }
}
