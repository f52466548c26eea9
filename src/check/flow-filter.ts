/**
 * A rule's `flows:` selection: the tcpdump-style filter of `--filter` (filter/syntax.ts), asked
 * of a flow instead of a packet. A flow is selected when its packets would match: every packet
 * of a flow goes one of two ways, client to server or back, with the same protocol, addresses
 * and ports, so the filter is evaluated on the header of each way that carried packets, and the
 * flow is selected when one matches (`src host A` selects the flows A sent packets in, whichever
 * end A is; `dst port 53` does not select a DNS server's flow that only ever answered).
 *
 * What a flow record cannot answer is refused, with the part named: words that need a single
 * packet (TCP flags, lengths, byte offsets: syntax.ts refuses those already), VLAN tags (a flow
 * does not keep them) and SCTP ports (an SCTP flow is keyed on its addresses only). Ports are a
 * TCP or UDP flow's; an ICMP flow's "ports" (Community ID's type and code) match no port word,
 * as an ICMP packet matches none.
 */
import type { Flow } from '../core/flow.js';
import { otherProtocolNumber } from '../core/ip-protocols.js';
import { tryParseAddress } from '../parse/format.js';
import { FilterError, parseFilter, type Direction, type FilterNode } from '../filter/syntax.js';

export type FlowTest = (flow: Flow) => boolean;

/** One way of a flow as a packet header would show it. */
interface Way {
  ipVersion: 4 | 6;
  protocol: number;
  src: Uint8Array;
  dst: Uint8Array;
  /** -1 for flows without ports (ICMP and the other IP protocols). */
  srcPort: number;
  dstPort: number;
}

const PROTOCOL: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };
const SCTP = 132;

/** Parses `text` and compiles it for flows; throws FilterError (with the character offset) when it cannot. */
export function compileFlowFilter(text: string): FlowTest {
  const test = compileNode(parseFilter(text), text);
  return (flow) => {
    const [there, back] = ways(flow);
    // A flow with no packet counted (all of them dropped for a bad checksum) has both ways.
    const none = flow.toServer.packets === 0 && flow.toClient.packets === 0;
    return ((none || flow.toServer.packets > 0) && test(there)) || ((none || flow.toClient.packets > 0) && test(back));
  };
}

/** The two ways of a flow: client to server, server to client. */
function ways(f: Flow): [Way, Way] {
  const c = tryParseAddress(f.client.ip) ?? new Uint8Array(0);
  const s = tryParseAddress(f.server.ip) ?? new Uint8Array(0);
  const protocol = PROTOCOL[f.proto] ?? otherProtocolNumber(f.proto);
  const ported = f.proto === 'tcp' || f.proto === 'udp';
  const cp = ported ? f.client.port : -1;
  const sp = ported ? f.server.port : -1;
  return [
    { ipVersion: f.ipVersion, protocol, src: c, dst: s, srcPort: cp, dstPort: sp },
    { ipVersion: f.ipVersion, protocol, src: s, dst: c, srcPort: sp, dstPort: cp },
  ];
}

type WayTest = (w: Way) => boolean;

/** The character offset of a word in the filter text, for the refusal (0 when not found). */
function offsetOf(text: string, word: string): number {
  return Math.max(0, text.indexOf(word));
}

function compileNode(node: FilterNode, text: string): WayTest {
  switch (node.kind) {
    case 'and': {
      const a = compileNode(node.left, text);
      const b = compileNode(node.right, text);
      return (w) => a(w) && b(w);
    }
    case 'or': {
      const a = compileNode(node.left, text);
      const b = compileNode(node.right, text);
      return (w) => a(w) || b(w);
    }
    case 'not': {
      const a = compileNode(node.operand, text);
      return (w) => !a(w);
    }
    case 'vlan':
      throw new FilterError("'vlan' looks at a packet's tags, which a flow does not keep", offsetOf(text, 'vlan'));
    case 'proto':
      switch (node.proto) {
        case 'ip':
          return (w) => w.ipVersion === 4;
        case 'ip6':
          return (w) => w.ipVersion === 6;
        case 'icmp':
          return (w) => w.ipVersion === 4 && w.protocol === 1;
        case 'icmp6':
          return (w) => w.ipVersion === 6 && w.protocol === 58;
        default: {
          const n = node.proto === 'tcp' ? 6 : node.proto === 'udp' ? 17 : SCTP;
          return (w) => w.protocol === n;
        }
      }
    case 'net':
      return byDirection(node.dir, prefixTest(node.addr, node.prefix));
    case 'port': {
      if (node.proto === 'sctp') {
        throw new FilterError("'sctp' ports: an SCTP flow is keyed on its addresses only, its ports are not known", offsetOf(text, 'sctp'));
      }
      const proto = node.proto === 'tcp' ? 6 : node.proto === 'udp' ? 17 : -1;
      const { low, high } = node;
      const carries = (w: Way) => w.srcPort >= 0 && (proto < 0 || w.protocol === proto);
      const inRange = (p: number) => p >= low && p <= high;
      switch (node.dir) {
        case 'src':
          return (w) => carries(w) && inRange(w.srcPort);
        case 'dst':
          return (w) => carries(w) && inRange(w.dstPort);
        case 'src or dst':
          return (w) => carries(w) && (inRange(w.srcPort) || inRange(w.dstPort));
        case 'src and dst':
          return (w) => carries(w) && inRange(w.srcPort) && inRange(w.dstPort);
      }
    }
  }
}

/** An address test: the first `prefix` bits equal `addr`'s (an IPv4 net matches only IPv4 addresses). */
function prefixTest(addr: Uint8Array, prefix: number): (a: Uint8Array) => boolean {
  return (a) => {
    if (a.length !== addr.length) return false;
    let bits = prefix;
    for (let i = 0; bits > 0; i++, bits -= 8) {
      const mask = bits >= 8 ? 0xff : (0xff00 >> bits) & 0xff;
      if ((a[i]! & mask) !== (addr[i]! & mask)) return false;
    }
    return true;
  };
}

function byDirection(dir: Direction, at: (a: Uint8Array) => boolean): WayTest {
  switch (dir) {
    case 'src':
      return (w) => at(w.src);
    case 'dst':
      return (w) => at(w.dst);
    case 'src or dst':
      return (w) => at(w.src) || at(w.dst);
    case 'src and dst':
      return (w) => at(w.src) && at(w.dst);
  }
}
