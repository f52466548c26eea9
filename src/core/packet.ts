/**
 * The decoded view of one frame. One instance is reused for every frame (`decodeFrame(frame,
 * pkt)` resets and fills it), so nothing here allocates per packet on the good path.
 * Addresses are offsets into `bytes` (the frame's bytes): valid until the next frame; copy what
 * you keep. Text is made only for display (`formatAddress`).
 */

export type Layer =
  | 'frame' | 'link' | 'vlan' | 'ipv4' | 'ipv6' | 'ipv6-ext' | 'tcp' | 'udp' | 'icmp' | 'icmpv6';

/**
 * An encapsulation the decoder went through to reach the packet the flow is keyed on: IP in IP
 * (IPv4/IPv6 in IPv4/IPv6, protocols 4 and 41), GRE (including ERSPAN, WCCP and Aruba's 802.11),
 * GRE in UDP, PIM Register, and the UDP tunnels VXLAN, VXLAN-GPE, Geneve, Teredo, GTP-U and
 * AYIYA. Link-level encapsulations (VLAN, MPLS, PPPoE, PBB,
 * ...) are not tunnels: they carry the packet, they do not wrap another IP packet.
 */
export type TunnelKind =
  | 'ip-in-ip' | 'gre' | 'gre-udp' | 'vxlan' | 'vxlan-gpe' | 'geneve' | 'teredo' | 'gtp-u' | 'ayiya' | 'pim';

/**
 * Damage is data. `truncated`: a header needs more bytes than there are; `cause` says whether
 * the limit was the captured bytes (`capture`: snap length or a cut record) or a length field in
 * the packet itself (`length-field`, e.g. an IPv4 total length shorter than its header).
 * `malformed`: a field holds an impossible value. `unsupported`: well-formed but not decoded
 * (unknown link type, ESP, an EtherType that is not IP).
 */
export interface Problem {
  kind: 'truncated' | 'malformed' | 'unsupported';
  layer: Layer;
  /** Offset in the frame where the layer (or the bad field) starts. */
  offset: number;
  /** For `truncated`: bytes the header needed, and bytes that were there. */
  need?: number;
  have?: number;
  cause?: 'capture' | 'length-field';
  /** Short human text: "IPv4 IHL 3 < 5", "TCP data offset 4". Fixed strings or numbers only. */
  what: string;
}

export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

/** TCP flag bits as in the header's 13th byte (+ NS in bit 8). */
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80, NS: 0x100 } as const;

export interface Packet {
  // ---- frame ----
  /**
   * The bytes the frame is in; every `*Offset` and `ipEnd` below is a position in `bytes`. The
   * frame starts at `frameOffset` (not 0 when `bytes` is a capture's read buffer, see
   * Frame.offset); Problem offsets are relative to the frame's start, as users count them.
   */
  bytes: Uint8Array;
  frameOffset: number;
  linkType: number;
  capturedLength: number;
  originalLength: number;
  /** capturedLength < originalLength (snap length cut the frame). */
  snapped: boolean;
  /**
   * The frame claimed to be shorter than the IP datagram it carries (`ipEnd` > originalLength).
   * Live capture with `cap` reports no original length, so a GSO frame clipped at 65535 looks
   * complete: the live source then takes `ipEnd` as the frame's length. In a file it means the
   * record's original length or the IP length field lies; `originalLength` is left as recorded.
   */
  ipLongerThanFrame: boolean;

  // ---- link ----
  /** EtherType (or equivalent) of the (innermost) network layer found; 0 when none. */
  etherType: number;
  /**
   * VLAN ids outermost first, including tags inside a tunnelled Ethernet frame (as tshark's
   * `vlan.id` lists every occurrence); `vlanCount` of them are valid (array is reused).
   */
  vlanIds: number[];
  vlanCount: number;
  /** Offset where the (innermost) IP header starts; -1 when no IP layer was found. */
  networkOffset: number;

  // ---- tunnels ----
  /**
   * Tunnel headers decoded through (0: none). When > 0, every IP and transport field below
   * describes the innermost packet (the one the flow is keyed on), not the outer one.
   */
  tunnelDepth: number;
  /** Kind of the innermost tunnel; null when `tunnelDepth` is 0. */
  tunnel: TunnelKind | null;
  /** Offset of the outermost IP header when the packet was tunnelled; -1 otherwise. */
  outerNetworkOffset: number;
  /**
   * A datagram enclosing this packet is a first fragment (more-fragments set): the inner packet
   * continues in later fragments, which are not reassembled, so `ipEnd` is where the fragment
   * ends. Those later fragments carry the outer addresses and are not tied to the inner flow.
   */
  outerFragment: boolean;
  /**
   * A tunnel found in this packet's payload whose inner packet the demux cannot key (ARP in
   * VXLAN, a Teredo bubble): the packet stands for the tunnel's own datagram, and this names the
   * tunnel it carries. null otherwise (also when the inner packet was decoded: see `tunnel`).
   */
  carried: TunnelKind | null;

  // ---- IP (the innermost IP header: the one that carries the transport) ----
  /** 0 when no IP header was decoded. */
  ipVersion: 0 | 4 | 6;
  /**
   * Offsets of source / destination address in `bytes`; length 4 or 16. These are the transport's
   * end points: for IPv6, a routing header with segments left gives the final destination and a
   * Home Address option the source (RFC 8200 §8.1, RFC 6275), for IPv4 a loose or strict source
   * route with hops left the final destination (RFC 791), as the pseudo-header uses them;
   * otherwise the IP header's fields.
   */
  srcAddrOffset: number;
  dstAddrOffset: number;
  addrLength: 0 | 4 | 16;
  /** IPv4 total length; IPv6 40 + payload length (+ jumbo). What Zeek calls ip bytes. */
  ipLength: number;
  /**
   * The IP length field was 0 (IPv4 TSO, IPv6 BIG TCP / jumbo without the hop-by-hop option),
   * so `ipLength` was taken from the frame's original length minus the link header.
   */
  ipLengthFromFrame: boolean;
  /** IPv4: IHL*4. IPv6: 40 + the extension headers walked (transportOffset - networkOffset). */
  ipHeaderLength: number;
  ttl: number;
  /** IPv4 identification, or IPv6 fragment header identification (0 if none). */
  ipId: number;
  /** IPv4 DF bit. */
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes. */
  fragmentOffset: number;
  /** True when this is a fragment (MF set or offset > 0). */
  isFragment: boolean;
  /** The upper-layer protocol number (after IPv6 extension headers): 6, 17, 1, 58, ... */
  protocol: number;
  /** Offset / end of the transport header+payload within `bytes` (end clamped to captured). */
  transportOffset: number;
  /** Where the IP datagram ends according to its length field (may be past capturedLength). */
  ipEnd: number;

  // ---- transport ----
  /** True when TCP or UDP ports were decoded (false for ICMP: see icmpType/icmpCode). */
  hasPorts: boolean;
  /**
   * srcPort/dstPort hold the header's ports: set with `hasPorts`, and also when the transport
   * header was cut after its first 4 bytes (ports shown, packet not put in a flow).
   */
  portsRead: boolean;
  srcPort: number;
  dstPort: number;
  /** TCP */
  tcpSeq: number;
  tcpAck: number;
  tcpFlags: number;
  tcpWindow: number;
  tcpHeaderLength: number;
  /** TCP options; -1 when absent. */
  mss: number;
  windowScale: number;
  sackPermitted: boolean;
  /** SACK blocks as [left, right] pairs flattened; `sackCount` pairs valid. */
  sackBlocks: number[];
  sackCount: number;
  tsVal: number;
  tsEcr: number;
  hasTimestamps: boolean;
  /** UDP length field. */
  udpLength: number;
  /**
   * Payload length, counted from length fields (not from the captured bytes): TCP: IP payload
   * end - (transport offset + data offset*4); UDP: UDP length - 8 when that fits the IP payload,
   * else IP payload - 8 (see transport.ts); ICMP: bytes after the 8-byte ICMP header; a later
   * fragment, ESP or any other protocol: the whole IP payload after the extension headers.
   */
  payloadLength: number;
  /** Where that payload starts in `bytes` (may be past capturedLength). */
  payloadOffset: number;

  /** ICMP / ICMPv6; -1 when not ICMP. */
  icmpType: number;
  icmpCode: number;
  /** ICMP/ICMPv6 echo (and timestamp/information) identifier; -1 for other messages. */
  icmpId: number;
  /** ICMP error: the quoted IP header (offsets in `bytes`), protocol and ports; quotedProtocol -1 when none. */
  quotedProtocol: number;
  quotedSrcAddrOffset: number;
  quotedDstAddrOffset: number;
  quotedAddrLength: 0 | 4 | 16;
  quotedSrcPort: number;
  quotedDstPort: number;

  /** Damage found while decoding; empty on a clean packet (array reused). */
  problems: Problem[];
}

/**
 * Where the payload the capture holds ends in `pkt.bytes`: the payload's end by its length
 * fields, or the frame's captured end when the snap length cut it first (never before
 * `payloadOffset`).
 */
export function heldPayloadEnd(pkt: Packet): number {
  const end = pkt.payloadOffset + pkt.payloadLength;
  const captured = pkt.frameOffset + pkt.capturedLength;
  return end <= captured ? end : captured > pkt.payloadOffset ? captured : pkt.payloadOffset;
}

export function newPacket(): Packet {
  return {
    bytes: new Uint8Array(0), frameOffset: 0, linkType: 0, capturedLength: 0, originalLength: 0, snapped: false,
    ipLongerThanFrame: false,
    etherType: 0, vlanIds: [], vlanCount: 0, networkOffset: -1,
    tunnelDepth: 0, tunnel: null, outerNetworkOffset: -1, outerFragment: false, carried: null,
    ipVersion: 0, srcAddrOffset: 0, dstAddrOffset: 0, addrLength: 0, ipLength: 0, ipLengthFromFrame: false,
    ipHeaderLength: 0,
    ttl: 0, ipId: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0, isFragment: false,
    protocol: -1, transportOffset: 0, ipEnd: 0,
    hasPorts: false, portsRead: false, srcPort: 0, dstPort: 0,
    tcpSeq: 0, tcpAck: 0, tcpFlags: 0, tcpWindow: 0, tcpHeaderLength: 0,
    mss: -1, windowScale: -1, sackPermitted: false, sackBlocks: [], sackCount: 0,
    tsVal: 0, tsEcr: 0, hasTimestamps: false,
    udpLength: 0, payloadLength: 0, payloadOffset: 0,
    icmpType: -1, icmpCode: -1, icmpId: -1, quotedProtocol: -1, quotedSrcAddrOffset: 0, quotedDstAddrOffset: 0,
    quotedAddrLength: 0, quotedSrcPort: 0, quotedDstPort: 0,
    problems: [],
  };
}
