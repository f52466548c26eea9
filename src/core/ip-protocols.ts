/**
 * Names for the IP protocols that flowdemux keeps as flows without ports ("other IP protocols":
 * everything but TCP, UDP, ICMP and ICMPv6). A name is the IANA keyword of the protocol number,
 * lower case (ospf for IANA's OSPFIGP, as tshark and tcpdump call it); a number without one here
 * is `ip-proto-N`, the name `packets` already gives it.
 */

/** The other IP protocols seen on real networks, by number. */
const NAMED = [
  [2, 'igmp'], [4, 'ipv4'], [8, 'egp'], [9, 'igp'], [41, 'ipv6'], [46, 'rsvp'], [47, 'gre'], [50, 'esp'], [51, 'ah'],
  [59, 'ipv6-nonxt'], [88, 'eigrp'], [89, 'ospf'], [94, 'ipip'], [97, 'etherip'], [98, 'encap'], [103, 'pim'],
  [108, 'ipcomp'], [112, 'vrrp'], [115, 'l2tp'], [124, 'isis'], [132, 'sctp'], [136, 'udplite'], [137, 'mpls-in-ip'],
] as const;

/** The `proto` of a flow of another IP protocol. */
export type OtherProto = (typeof NAMED)[number][1] | `ip-proto-${number}`;

const NAMES: ReadonlyMap<number, OtherProto> = new Map(NAMED);

const NUMBERS: ReadonlyMap<string, number> = new Map([...NAMES].map(([n, name]) => [name, n]));

/** A flow's `proto`: the name of any IP protocol number, as flows, packets and --proto spell it. */
export function ipProtocolName(protocol: number): 'tcp' | 'udp' | 'icmp' | 'icmpv6' | OtherProto {
  switch (protocol) {
    case 6: return 'tcp';
    case 17: return 'udp';
    case 1: return 'icmp';
    case 58: return 'icmpv6';
    default: return otherProtocolName(protocol);
  }
}

/** The name of an other IP protocol's flows (`proto` in flows JSON). */
export function otherProtocolName(protocol: number): OtherProto {
  return NAMES.get(protocol) ?? `ip-proto-${protocol}`;
}

/** The protocol number a name stands for (a name above or `ip-proto-N`), or -1 when it is none of the other protocols. */
export function otherProtocolNumber(name: string): number {
  const known = NUMBERS.get(name);
  if (known !== undefined) return known;
  const m = /^ip-proto-(\d{1,3})$/.exec(name);
  const n = m === null ? -1 : Number(m[1]);
  return n >= 0 && n <= 255 && n !== 1 && n !== 6 && n !== 17 && n !== 58 ? n : -1;
}
