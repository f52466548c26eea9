/**
 * The JSON shapes of flowdemux's output as TypeScript types, made from docs/json.md (the
 * contract) by scripts/check/json-types.mjs: do not edit by hand, edit the doc and run it.
 */

export interface FlowsDocument {
  /** The captures that could be opened, in command-line order (one, 'live:DEVICE', for 'live'). */
  captures: Capture[];
  /** The flows chosen by the filters: in id order, or in '--sort' order. */
  flows: Flow[];
  /**
   * Every warning of the run, one line each, as also written to stderr: damage read around
   * (prefixed with the capture's path), undecodable link types, flows evicted, capture loss; for
   * 'live', packets dropped by the kernel and processes that could not be seen.
   */
  warnings: string[];
  /** Every packet read, by kind, and the flow table's counts. */
  summary: Summary;
}

export interface Capture {
  /** The capture as named on the command line; '-' for standard input; 'live:DEVICE' for 'live'. */
  path: string;
  /** The file format (after gzip, if any). */
  format: "pcap" | "pcapng" | "live";
  /** The file's byte order; 'null' for 'live'. */
  byteOrder: "LE" | "BE" | null;
  /**
   * Time stamp resolution: 'us' or 'ns' for pcap; for pcapng the finest 'if_tsresol' of its
   * interfaces ('us', 'ns', 'ms', '1e-N', '2^-N'), 'null' when it has no interface block; 'ns' for
   * 'live'.
   */
  precision: string | null;
  /**
   * Link types by tcpdump's names ('EN10MB', 'RAW', 'LINUX_SLL2'...; 'LINKTYPE_N' for a number
   * without a name): one for pcap and 'live', one per interface in order for pcapng.
   */
  linkTypes: string[];
  /** Records read from this capture. */
  packets: number;
  /**
   * Damage read around in this capture (a record cut short, an unknown block...), one line each,
   * without the path.
   */
  warnings: string[];
  /** The file was gzip'd. */
  compressed: boolean;
  /**
   * The snap length: pcap's header field, pcapng's first interface's ('null' when there is none, 0
   * when it says no limit), the one used by 'live'.
   */
  snapLength: number | null;
}

/**
 * One generation of one tuple: both directions of a TCP connection, a UDP socket pair's datagrams,
 * an ICMP request/reply exchange, or the packets of another IP protocol (OSPF, GRE that was not
 * decoded through, ESP, PIM, VRRP, SCTP...) between two addresses, keyed on the protocol and the
 * two addresses as Zeek keys its 'unknown_transport' connections.
 */
export interface Flow {
  /**
   * 1, 2, 3... in the order of the flows' first packets, over all captures read together. Filters
   * leave gaps; they never renumber.
   */
  id: number;
  /**
   * Transport protocol: 'tcp', 'udp', 'icmp', 'icmpv6', or for another IP protocol its IANA
   * keyword in lower case ('igmp', 'gre', 'esp', 'ah', 'eigrp', 'ospf', 'pim', 'vrrp', 'sctp',
   * 'l2tp'...; 'ospf' for IANA's OSPFIGP) or 'ip-proto-N' for a number without one (as
   * 'Packet.proto').
   */
  proto: string;
  /**
   * 1 for the first flow on this tuple, n+1 for each later one (a new connection on the same
   * 4-tuple, traffic after an idle timeout...).
   */
  generation: number;
  /** The end that sent the first SYN without ACK; with no SYN, see 'rolesInferred'. */
  client: Endpoint;
  /** The other end. */
  server: Endpoint;
  /**
   * The client was guessed: no SYN without ACK was seen (UDP, a TCP connection first seen by its
   * SYN-ACK or caught mid-stream). The client is then the first packet's sender, as in Zeek's
   * conn.log, unless that sender's port is one of Zeek's likely server ports and the other's is
   * not (TCP: when both are, a packet without SYN from the lower port), or the receiver is
   * 255.255.255.255; 'history' then starts with '^'. ICMP: the first sender; 'false' when its
   * first packet was a request (echo, router solicitation...). Other IP protocols: the first
   * sender, always 'true'.
   */
  rolesInferred: boolean;
  /** Time of the first packet. */
  start: string;
  /** Time of the last packet. */
  end: string;
  /** 'end' − 'start' in seconds, from the two times as written (6 or 9 fraction digits). */
  duration: number;
  /** What the client sent. */
  toServer: Counters;
  /** What the server sent. */
  toClient: Counters;
  /**
   * Zeek's conn_state: 'S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH',
   * 'SH', 'SHR', 'OTH' (UDP: 'SF', 'S0', 'SHR', 'OTH'; ICMP and other IP protocols: 'OTH').
   */
  state: string;
  /**
   * Zeek's history letters, upper case for the client, lower case for the server ('ShADadFf');
   * empty for ICMP and other IP protocols.
   */
  history: string;
  /** Community ID v1, seed 0 ('1:' and base64): the same for every generation of a tuple. */
  communityId: string;
  /**
   * Why this generation began: first traffic on the tuple; a SYN after the previous connection
   * ended by RST, or by FIN both ways; a SYN with another initial sequence number while the
   * previous one was open; a SYN on a connection whose start was not seen; traffic after the
   * previous generation was idle past its timeout (for UDP to a DNS port, Zeek's DNS session
   * timeout: 10 s); non-SYN traffic after a closed connection was released; traffic after the
   * previous generation was evicted ('--max-flows'); traffic after the previous generation's SYN
   * went unanswered for 5 s (Zeek's connection attempt).
   */
  generationReason: "first" | "syn-after-rst" | "syn-after-fin" | "new-isn" | "syn-after-midstream" | "idle-timeout" | "after-close" | "after-eviction" | "after-attempt";
  /**
   * How it ended: RST; FIN both ways, or a FIN whose peer had sent nothing (Zeek's complete
   * close), or a FIN that was its end's first packet while the peer went on, 3 s after it (Zeek's
   * partial close); idle timeout; evicted by '--max-flows'; a new connection took the tuple while
   * it was open; still open when the input ended; its SYN went unanswered for 5 s and the tuple
   * was heard again (Zeek's attempt timer). 'null' only for a flow still open, which no command
   * writes today (every report is made after the input ended).
   */
  endReason: "rst" | "fin" | "idle-timeout" | "evicted" | "superseded" | "capture-end" | "attempt-timeout" | null;
  /** IP version of the flow's packets (the innermost, for tunnelled traffic). */
  ipVersion: 4 | 6;
  /**
   * ICMP/ICMPv6 errors that quoted a packet of this flow (port unreachable, time exceeded, packet
   * too big...). They are not counted in 'toServer'/'toClient'.
   */
  icmpErrors: number;
  /** The first of those errors; 'null' when 'icmpErrors' is 0. */
  icmpError: IcmpError | null;
  /**
   * The IP protocol number of a flow of another IP protocol (89 for 'ospf'); absent for TCP, UDP,
   * ICMP and ICMPv6.
   */
  ipProtocol?: number;
  /**
   * A flow whose packets carry a tunnel: which one (a UDP flow of VXLAN, Geneve, Teredo...; or a
   * GRE flow whose packets carried nothing a flow can be keyed on, such as ARP). A UDP tunnel's
   * datagrams count here (the tunnel's own flow, Zeek's outer connection) and their inner packets
   * count again in their own flows, which name this one in 'tunnelParents'.
   */
  carries?: "ip-in-ip" | "gre" | "gre-udp" | "vxlan" | "vxlan-gpe" | "geneve" | "teredo" | "gtp-u" | "ayiya" | "pim";
  /** A flow whose packets came through a tunnel: the innermost tunnel (of its first such packet). */
  tunnel?: "ip-in-ip" | "gre" | "gre-udp" | "vxlan" | "vxlan-gpe" | "geneve" | "teredo" | "gtp-u" | "ayiya" | "pim";
  /**
   * What it speaks, recognised from the first bytes each end sent, on any port (Zeek's service
   * names; 'ssl' is TLS). Absent when nothing was recognised.
   */
  service?: "http" | "http2" | "ssl" | "ssh" | "dns" | "quic";
  /**
   * With 'service': the client's first words and the server's answer, 'GET example.com/index.html
   * -> 200', 'sni=example.com alpn=h2 -> tls1.3', 'A example.com -> NOERROR', 'SSH-2.0-OpenSSH_9.2
   * -> SSH-2.0-OpenSSH_9.2', or '-> ...' when only the server spoke first. Printable ASCII without
   * '"' and '\' (anything else from the packet is '?'), at most 120 characters an end.
   */
  summary?: string;
  /**
   * A TCP flow, with 'flows --analysis' (or 'report'): tshark's TCP analysis of the connection,
   * its marks counted, the handshake and the ACK round trips.
   */
  analysis?: TcpAnalysis;
  /**
   * With 'tunnel': the 'id's of the UDP tunnel flows ('carries') right around its packets, first
   * seen first (each direction may have its own), 64 at most; empty when that tunnel is GRE, PIM
   * or IP in IP, which are not flows.
   */
  tunnelParents?: number[];
}

/**
 * The connection's segments analysed one by one in capture order as tshark's TCP analysis does
 * (the marks of each segment are 'Packet.analysis'). Times are seconds, to the nanosecond.
 */
export interface TcpAnalysis {
  /** How many segments carry each mark. */
  marks: TcpMarks;
  /** The three-way handshake's times; 'null' when no SYN followed by an ACK was seen. */
  handshake: Handshake | null;
  /**
   * ACK round trips (tshark's 'tcp.analysis.ack_rtt': from a segment to the ACK that ends exactly
   * where it ends), by the direction of the data.
   */
  ackRtt: AckRtts;
}

/**
 * Each field counts the segments with that mark ('Packet.analysis', tshark's 'tcp.analysis.*'
 * names).
 */
export interface TcpMarks {
  /** Retransmissions that are neither fast nor spurious. */
  retransmission: number;
  /** Segments after a gap ("previous segment not captured"). */
  lost_segment: number;
  /** ACKs of data the capture never saw ("ACKed unseen segment"). */
  ack_lost_segment: number;
  /** Keep-alives. */
  keep_alive: number;
  /** Duplicate ACKs. */
  duplicate_ack: number;
  /** Segments advertising a zero window. */
  zero_window: number;
  /** Zero window probes. */
  zero_window_probe: number;
  /** ACKs of zero window probes. */
  zero_window_probe_ack: number;
  /** ACKs of keep-alives. */
  keep_alive_ack: number;
  /** Segments out of order. */
  out_of_order: number;
  /** Fast retransmissions (after 2 or more duplicate ACKs, within 20 ms). */
  fast_retransmission: number;
  /** Window updates. */
  window_update: number;
  /** Segments that filled the peer's advertised window. */
  window_full: number;
  /** Retransmissions of data already acknowledged. */
  spurious_retransmission: number;
}

export interface Handshake {
  /**
   * From the last SYN before the SYN-ACK to the SYN-ACK (a retransmitted SYN does not count its
   * wait); 'null' when no SYN-ACK came between the SYN and the ACK.
   */
  synToSynAck: number | null;
  /** From the last SYN-ACK to the first ACK; 'null' as above. */
  synAckToAck: number | null;
  /** From the last SYN to the first ACK without SYN: tshark's 'tcp.analysis.initial_rtt'. */
  total: number;
}

export interface AckRtts {
  /** The data the client sent, timed by the server's ACKs; 'null' without a sample. */
  toServer: AckRtt | null;
  /** The data the server sent, timed by the client's ACKs. */
  toClient: AckRtt | null;
}

export interface AckRtt {
  /** ACKs that timed a segment. */
  samples: number;
  /** The smallest ACK round trip, seconds. */
  min: number;
  /** The median (of an even count, the mean of the middle two), seconds. */
  median: number;
}

export interface Endpoint {
  /**
   * The address (for tunnelled traffic, the innermost packet's; for IPv6, the final destination of
   * a routing header and the home address of a Home Address option; for IPv4, the final
   * destination of a loose or strict source route).
   */
  ip: string;
  /**
   * TCP/UDP port. ICMP has no ports: this is what Community ID uses in their place. For a
   * request/reply pair the client's is the request type and the server's the reply type (echo: 8
   * and 0; ICMPv6: 128 and 129); for one-way ICMP the client's (the sender's) is the type and the
   * server's the code. Other IP protocols: 0 (the flow's 'ipProtocol' names the protocol).
   */
  port: number;
  /**
   * Live capture, when the end's own socket was found on this host: who held it. Never for files,
   * for an end on another host, or for a server end that never answered the SYN.
   */
  process?: Process;
  /**
   * Live capture, the server end of a TCP connection: the listening socket it was accepted from,
   * when found. Present even when 'process' says 'gone'.
   */
  listener?: Listener;
  /** Live capture, a UDP end: the kind of socket the kernel delivered its datagrams to, when found. */
  socket?: UdpSocket;
}

/** What one end sent. A packet counts in its flow also when the snap length cut it. */
export interface Counters {
  /** Packets (later IP fragments included; ICMP errors not). */
  packets: number;
  /**
   * Bytes on the wire: the original frame length with its link header (tshark's conversation
   * bytes).
   */
  wireBytes: number;
  /** IP total length (IPv6: 40 + payload length): Zeek's 'orig_ip_bytes'/'resp_ip_bytes'. */
  ipBytes: number;
  /**
   * TCP segment data, UDP payload or ICMP data, in bytes, retransmissions included; for another IP
   * protocol, the IP payload (after IPv6 extension headers).
   */
  payloadBytes: number;
  /**
   * TCP: bytes this end sent that the capture never saw (sequence gaps acknowledged by the peer,
   * or below later data and never filled; payload the snap length cut counts too, unless a whole
   * copy was captured), Zeek's 'missed_bytes' for this direction. 0 for UDP and ICMP.
   */
  missedBytes: number;
}

export interface IcmpError {
  /**
   * ICMP or ICMPv6 type: 3 destination unreachable, 11 time exceeded...; ICMPv6: 1 destination
   * unreachable, 2 packet too big, 3 time exceeded...
   */
  type: number;
  /** ICMP or ICMPv6 code (port unreachable: ICMP type 3 code 3, ICMPv6 type 1 code 4). */
  code: number;
  /** Address of the host that sent the error: a router, or the peer itself. */
  reporter: string;
}

/** Live capture: who held an end's socket, as seen in '/proc' while the flow was live. */
export interface Process {
  /**
   * When 'state' is 'running': the process holding the socket (of several, the one that is not
   * also the listener's owner, else the lowest).
   */
  pid?: number;
  /** When 'state' is 'running': its '/proc/PID/comm'. */
  command?: string;
  /**
   * 'running': seen holding the socket (it may have exited since). 'gone': the socket was closed
   * before its owner could be seen; nothing is guessed.
   */
  state: "running" | "gone";
  /**
   * When 'state' is 'running' and several processes hold the socket (a forking server): all of
   * them.
   */
  pids?: number[];
  /** When 'state' is 'gone' and the kernel's table still showed the socket: its owner's uid. */
  uid?: number;
}

/** Live capture: the listening socket a TCP connection was accepted from. */
export interface Listener {
  /** Its local address as bound: '0.0.0.0:80', '[::]:80', '127.0.0.1:80'. */
  socket: string;
  /**
   * When its owner was seen: the process that holds it (with SO_REUSEPORT, the owner of the
   * listener that took this connection).
   */
  pid?: number;
  /** With 'pid': that process's '/proc/PID/comm'. */
  command?: string;
  /** When several processes hold it (a pre-forked server): all of them. */
  pids?: number[];
  /** When several listening sockets share this address and port (SO_REUSEPORT). */
  reuseport?: ReusePort;
}

export interface ReusePort {
  /**
   * How many listening sockets are bound to the address and port; the kernel gives each new
   * connection to one of them by a hash of its 4-tuple.
   */
  listeners: number;
  /** Their owners, where seen. */
  owners: ProcessRef[];
}

export interface ProcessRef {
  /** Process id. */
  pid: number;
  /** Its '/proc/PID/comm'. */
  command: string;
}

/** Live capture: the UDP socket an end's datagrams reached, as the kernel's table shows it. */
export interface UdpSocket {
  /**
   * 'connected': connect() gave it a peer; the kernel finds it by the 4-tuple, before any
   * unconnected socket on the port. 'unconnected': found by local address and port alone.
   */
  kind: "connected" | "unconnected";
  /** Its local address as bound: '0.0.0.0:5353', '127.0.0.1:5353', '[::]:5353'. */
  bound: string;
  /** When it is an IPv6 socket that took these IPv4 datagrams (v4-mapped). */
  dualStack?: true;
}

export interface Summary {
  /**
   * Every packet read, from all captures; with '--filter', every packet that matched it (the
   * others never reach the flows).
   */
  packets: number;
  /** The same packets by kind: the kinds add up to 'packets'. */
  byKind: PacketKinds;
  /**
   * Packets counted in some flow's counters (TCP, UDP, ICMP and other-protocol flows, later
   * fragments matched to their flow).
   */
  inFlows: number;
  /** ICMP errors noted on the flow they quote ('Flow.icmpErrors'). */
  icmpErrorsAttached: number;
  /** Flow records made, before '--proto'/'--port'/'--host'/'--limit' chose among them. */
  flows: number;
  /** Flows still open; 0 in every output today (the input has ended). */
  openFlows: number;
  /**
   * Flows ended early because more than '--max-flows' were open at once (the least recently active
   * first).
   */
  evicted: number;
  /**
   * The flow table's own warnings (evictions, fragment table overflow, capture loss); they are
   * also in the document's 'warnings'.
   */
  warnings: string[];
}

/** Every packet read is counted under exactly one kind. */
export interface PacketKinds {
  /** TCP packets with ports, in a flow. */
  tcp: number;
  /** UDP packets with ports, in a flow. */
  udp: number;
  /** ICMP messages: in an ICMP flow, or noted on the flow an error quotes. */
  icmp: number;
  /** The same for ICMPv6. */
  icmpv6: number;
  /** Later IP fragments counted with their first fragment's flow. */
  fragment: number;
  /** Later fragments whose first fragment had not been seen (yet). */
  "fragment-pending": number;
  /** Fragments that could not be tied to a flow. */
  "fragment-unmatched": number;
  /** Frames without an IP layer (ARP, LLDP, undecodable link types...). */
  "non-ip": number;
  /** IP packets whose transport header could not be read. */
  damaged: number;
  /**
   * IP carrying a protocol without ports (GRE that was not decoded through, ESP, OSPF, SCTP...),
   * in the flow of its protocol and addresses.
   */
  "other-ip-protocol": number;
  /**
   * With '--checksums validate' only (else 0): packets dropped for a wrong IPv4 header checksum,
   * and TCP segments with a wrong checksum (history 'C'/'c', not counted in their flow), as Zeek
   * treats them.
   */
  "bad-checksum": number;
}

export interface Packet {
  /** Index of the capture it came from, in command-line order, from 0. */
  capture: number;
  /** Its number within that capture, from 1 (tshark's 'frame.number'). */
  frame: number;
  /** Its time stamp. */
  ts: string;
  /** Its link type, by name (as in 'Capture.linkTypes'). */
  link: string;
  /**
   * pcapng: the interface id of its block; 0 for pcap, live capture, and a pcapng simple packet
   * block.
   */
  interface: number;
  /** Length on the wire in bytes, link header included. */
  wireLength: number;
  /** Bytes captured (less than 'wireLength' when the snap length cut it). */
  capturedLength: number;
  /**
   * When it had VLAN tags (802.1Q, 802.1ad): their ids, outermost first, tags inside a tunnelled
   * Ethernet frame included.
   */
  vlan?: number[];
  /** When an IP header was read. 'src' to 'proto' come with it. */
  ipVersion?: 4 | 6;
  /**
   * With 'ipVersion': source address (for IPv6, the Home Address option's address when there is
   * one).
   */
  src?: string;
  /**
   * With 'ipVersion': destination address (for IPv6, a routing header's final destination when
   * there is one; for IPv4, a loose or strict source route's).
   */
  dst?: string;
  /** With 'ipVersion': IPv4 total length; IPv6 40 + payload length. Bytes. */
  ipLength?: number;
  /** With 'ipVersion': IPv4 TTL or IPv6 hop limit. */
  ttl?: number;
  /**
   * With 'ipVersion': 'tcp', 'udp', 'icmp', 'icmpv6', or for any other protocol (after IPv6
   * extension headers) its name as in 'Flow.proto' ('ospf', 'gre'...) or 'ip-proto-N'.
   */
  proto?: string;
  /** When the packet is an IP fragment (more-fragments set, or an offset above 0). */
  fragment?: Fragment;
  /**
   * When no IP header was read but the link layer named what it carries: the EtherType, as a
   * number (2054 is ARP, 0x0806).
   */
  etherType?: number;
  /**
   * When TCP or UDP ports were read (the header's first 4 bytes; also when the rest was cut off):
   * source port.
   */
  srcPort?: number;
  /** With 'srcPort': destination port. */
  dstPort?: number;
  /**
   * When the TCP header's fixed 20 bytes, or the UDP header, were read: payload bytes, from the
   * length fields (not from the bytes captured).
   */
  payloadLength?: number;
  /** When the TCP header's fixed 20 bytes were read. */
  tcp?: TcpHeader;
  /** When it is an ICMP or ICMPv6 message. */
  icmp?: Icmp;
  /**
   * A TCP segment that tshark's TCP analysis marks: the marks by the names of tshark's
   * 'tcp.analysis.*' fields, in this order: 'retransmission', 'lost_segment' (previous segment not
   * captured), 'ack_lost_segment' (ACKed unseen segment), 'keep_alive', 'duplicate_ack',
   * 'zero_window', 'zero_window_probe', 'zero_window_probe_ack', 'keep_alive_ack', 'out_of_order',
   * 'fast_retransmission', 'window_update', 'window_full', 'spurious_retransmission'. A
   * retransmitted segment is one of 'retransmission', 'fast_retransmission' or
   * 'spurious_retransmission' (tshark also sets its 'retransmission' field on the other two). Each
   * flow is analysed on its own, packet by packet in capture order (src/demux/tcp-analysis.ts).
   */
  analysis?: string[];
  /** With 'duplicate_ack' in 'analysis': which ACK it repeats. */
  duplicateAck?: DuplicateAck;
  /**
   * A TCP segment whose ACK number is exactly where a segment of the other side ended: that
   * segment's frame (tshark's 'tcp.analysis.acks_frame'; of several ending there, the oldest).
   * 'ackRtt' comes with it.
   */
  acksFrame?: number;
  /**
   * With 'acksFrame': seconds from that segment to this ACK (tshark's 'tcp.analysis.ack_rtt');
   * never 0 (tshark then shows neither).
   */
  ackRtt?: number;
  /** When the packet went to a flow (an ICMP error: the flow whose packet it quotes). */
  flow?: FlowRef;
  /**
   * A packet inside UDP tunnels (VXLAN, Geneve, Teredo, GTP-U): the ids of the tunnels' own flows,
   * which count its frame too, outermost first. '--flow' with one of them shows that tunnel's
   * datagrams instead.
   */
  tunnelFlows?: number[];
  /**
   * With '--explain': in words, which socket the kernel hands the packet to and why. Text for
   * people.
   */
  socket?: string;
  /** When damage was found while decoding. */
  problems?: Problem[];
}

export interface DuplicateAck {
  /** The frame that first carried this ACK (tshark's 'tcp.analysis.duplicate_ack_frame'). */
  of: number;
  /**
   * Which duplicate it is since then: 1, 2, 3... ('tcp.analysis.duplicate_ack_num'); Info's 'TCP
   * Dup ACK 12#1'.
   */
  number: number;
}

export interface Fragment {
  /** IPv4 identification, or the IPv6 fragment header's identification. */
  id: number;
  /** Fragment offset in bytes (tshark shows it in 8-byte units). */
  offset: number;
  /** The more-fragments flag. */
  more: boolean;
}

export interface TcpHeader {
  /**
   * The flags that are set, comma-separated, in the order SYN, FIN, RST, PSH, ACK, URG, ECE, CWR,
   * NS ('SYN,ACK'); empty when none.
   */
  flags: string;
  /** Sequence number, raw (not relative). */
  seq: number;
  /** Acknowledgment number, raw (also when ACK is not set). */
  ack: number;
  /** Window field, raw (not scaled). */
  window: number;
  /**
   * When the window's scale factor is known (the flow's handshake was seen, or this is a SYN):
   * what 'window' is multiplied by, 2^shift; 1 for a SYN (never scaled) and when the handshake did
   * not agree on scaling. Absent: unknown (tshark's "window size scaling factor: -1").
   */
  windowFactor?: number;
  /**
   * With 'windowFactor': the window in bytes, 'window' × 'windowFactor' (tshark's
   * 'tcp.window_size').
   */
  windowScaled?: number;
  /** When it has an MSS option: the MSS in bytes. */
  mss?: number;
  /** When it has a window scale option: the shift count. */
  windowScale?: number;
  /** When it has a SACK-permitted option. */
  sackPermitted?: true;
  /** When it has a SACK option: the blocks' edges as one flat list, left, right, left, right... */
  sack?: number[];
  /** When it has a timestamps option: '[TSval, TSecr]'. */
  timestamps?: number[];
}

export interface Icmp {
  /** ICMP or ICMPv6 type. */
  type: number;
  /** ICMP or ICMPv6 code. */
  code: number;
  /** When it is an error that quotes an IP header. */
  quoted?: QuotedHeader;
}

/** The header of the packet an ICMP error is about. */
export interface QuotedHeader {
  /** Its protocol, named as 'Packet.proto'. */
  proto: string;
  /** Its source address. */
  src: string;
  /** Its destination address. */
  dst: string;
  /**
   * Its TCP/UDP source port; 0 when it is neither TCP nor UDP, or the quote stops before the
   * ports.
   */
  srcPort: number;
  /** Its destination port, likewise. */
  dstPort: number;
}

export interface FlowRef {
  /** The flow's 'id' (as in 'flows'). */
  id: number;
  /** The flow's 'generation'. */
  generation: number;
}

/** Damage found while decoding: the packet is still counted where it can be. */
export interface Problem {
  /**
   * 'truncated': a header needs more bytes than there are. 'malformed': a field holds an
   * impossible value. 'unsupported': well-formed but not decoded.
   */
  kind: "truncated" | "malformed" | "unsupported";
  /** The layer it was found in. */
  layer: "frame" | "link" | "vlan" | "ipv4" | "ipv6" | "ipv6-ext" | "tcp" | "udp" | "icmp" | "icmpv6";
  /** Where that layer (or the bad field) starts, in bytes from the start of the frame. */
  offset: number;
  /** When 'kind' is 'truncated': the bytes the header needed. */
  need?: number;
  /** When 'kind' is 'truncated': the bytes that were there. */
  have?: number;
  /**
   * When 'kind' is 'truncated': what set the limit, the bytes captured (snap length, a cut record)
   * or a length field in the packet itself.
   */
  cause?: "capture" | "length-field";
  /** What was wrong, in a few words ('TCP header cut'). Text for people. */
  what: string;
}

export interface DemuxDocument {
  /** Server ports shared by more than one flow: TCP before UDP, then by port. */
  groups: Group[];
  /** Server ports with one flow (the port alone finds its socket), in the same order. */
  singles: Group[];
  /** Port numbers that are a server port in one flow and a client port in another. */
  portRoleClashes: PortRoleClash[];
  /**
   * Ids of the flows without ports (ICMP, and other IP protocols such as OSPF or GRE), which no
   * group holds.
   */
  unported: number[];
  /** When some TCP or UDP flow found no socket (its server port was closed): how many. */
  closedPortFlows?: number;
  /** As in 'FlowsDocument'. */
  captures: Capture[];
  /** As in 'FlowsDocument'. */
  warnings: string[];
  /** As in 'FlowsDocument' (all flows, before the filters). */
  summary: Summary;
}

/**
 * One (protocol, server port). The server address is not part of the group: flows to two addresses
 * on one port are one group whose flows differ by 'server.ip'. Client and server are the flows'
 * own, except for a UDP flow whose datagrams all went to its guessed "client" end, which answered
 * with ICMP port unreachable: that end is the one being reached, so the picture swaps the ends,
 * while the flow record keeps its guess.
 */
export interface Group {
  /** Protocol. */
  proto: "tcp" | "udp";
  /** The server port. */
  port: number;
  /** Its flows' ids, in id order. */
  flows: number[];
  /**
   * Some two of its flows were open at the same instant (each open from its first to its last
   * packet, ends included).
   */
  concurrent: boolean;
  /**
   * The smallest key that tells every two of its flows apart: 'port' for one flow; '4-tuple+time'
   * when a 4-tuple was used again, one flow after another; '4-tuple' when two flows went to one
   * server address; else (one flow per server address) 'address+port'.
   */
  keyNeeded: "port" | "address+port" | "4-tuple" | "4-tuple+time";
  /**
   * The fields that take more than one value among its flows, in this order; empty for generations
   * of one tuple.
   */
  differBy: "client.ip"[] | "client.port" | "server.ip";
  /**
   * What the server host would hold, told apart by 'kind'. TCP, per server address: the listener,
   * then a connection socket per 4-tuple. UDP: one unconnected socket per server address, whatever
   * the peer. Then a 'closed' entry per address where flows found no socket.
   */
  sockets: ListenSocket[] | ConnectionSocket | UnconnectedSocket | ClosedPort;
  /** The most flows open at one instant. */
  maxConcurrent: number;
  /** What the kernel looks sockets up by: '4-tuple' for TCP, 'address+port' for UDP. */
  kernelKey: "4-tuple" | "address+port";
  /** The server addresses, in the order of their first flow. */
  serverIps: string[];
  /** 4-tuples that carried more than one flow (generations). */
  reusedTuples: number;
  /** TCP flows whose SYN was answered by a RST (Zeek's 'REJ'): no server socket. Empty for UDP. */
  refused: number[];
  /** Some flow's client and server were guessed (always so for UDP). */
  rolesInferred: boolean;
  /**
   * When some of its flows found no socket (a SYN answered by a RST, or datagrams answered only by
   * ICMP port unreachable): their ids.
   */
  closedPort?: number[];
  /**
   * When some of its UDP flows got ICMP port unreachable only part of the time (a socket was
   * bound, or closed, while they went on): their ids.
   */
  partlyClosedPort?: number[];
  /**
   * When some of its flows were recognised from their first bytes: what they speak (each flow's
   * 'service': 'http', 'ssl', 'ssh', 'dns', 'quic', 'http2'), each once, in the order of the first
   * flow saying it.
   */
  services?: string[];
}

export interface ListenSocket {
  /** A listening TCP socket. */
  kind: "listen";
  /**
   * The address and port the clients used (the socket may be bound to the wildcard, which a
   * capture cannot show).
   */
  local: string;
  /** The connections whose SYN it took (not those whose SYN was not seen). */
  flows: number[];
  /** Live capture (not written today): the address it is really bound to, '0.0.0.0:80'. */
  bound?: string;
  /** Live capture (not written today): several listening sockets on this binding (SO_REUSEPORT). */
  reuseport?: ReusePort;
  /** Live capture (not written today): who holds it. */
  process?: Process;
}

export interface ConnectionSocket {
  /** A TCP connection socket, found by the 4-tuple. */
  kind: "connection";
  /** Server address and port. */
  local: string;
  /** Client address and port. */
  remote: string;
  /**
   * Every flow (generation) on this 4-tuple, in id order: a new socket each time, one after
   * another.
   */
  flows: number[];
  /** How many (the length of 'flows'). */
  generations: number;
  /** Live capture (not written today): who held it (the last generation's that is known). */
  process?: Process;
}

export interface UnconnectedSocket {
  /** A UDP socket found by address and port alone: every peer's datagrams reach this one socket. */
  kind: "unconnected";
  /** Server address and port. */
  local: string;
  /**
   * The peers (address and port), in the order of their first flow; the application tells them
   * apart by what recvfrom() returns.
   */
  peers: string[];
  /** Its flows' ids. */
  flows: number[];
  /** The flows of each peer, parallel to 'peers'. */
  peerFlows: number[][];
  /** Live capture (not written today): the address it is really bound to, '0.0.0.0:5353'. */
  bound?: string;
  /** Live capture (not written today): an IPv6 socket that took these IPv4 datagrams. */
  dualStack?: true;
  /**
   * Live capture (not written today): flows whose datagrams went to a connected socket instead
   * (found by the 4-tuple, preferred by the kernel).
   */
  connectedFlows?: number[];
  /** Live capture (not written today): who holds it. */
  process?: Process;
}

/**
 * Not a socket: the lack of one. The host answered each SYN with a RST, each datagram with ICMP or
 * ICMPv6 port unreachable.
 */
export interface ClosedPort {
  /** No socket had this address and port. */
  kind: "closed";
  /** The server address and port the flows tried. */
  local: string;
  /** The flows that found no socket, in id order. */
  flows: number[];
  /** Their client ends (address and port), parallel to 'flows'. */
  peers: string[];
  /** How each was refused, parallel to 'flows'. */
  answers: "rst"[] | "port-unreachable";
  /** Every refused flow ended before the first flow a socket took: the socket was opened later. */
  openedLater: boolean;
}

/**
 * A port number used in both roles (a port number names a socket, not a service). TCP and UDP are
 * separate.
 */
export interface PortRoleClash {
  /** Protocol. */
  proto: "tcp" | "udp";
  /** The port number. */
  port: number;
  /** Flows where it is the server port. */
  asServer: number[];
  /** Flows where it is the client port. */
  asClient: number[];
  /** Addresses that used it in both roles; may be empty. */
  sameHost: string[];
  /** A flow involved had its roles guessed, which can itself be the cause. */
  inferred: boolean;
}

export interface LadderDocument {
  /** The flow, as 'flows --format json' writes it. */
  flow: Flow;
  /** Its packets in capture order (an ICMP error about the flow included). */
  packets: LadderRow[];
}

export interface LadderRow {
  /** Its number within its capture, from 1 (as 'Packet.frame'). */
  frame: number;
  /** Its time stamp. */
  ts: string;
  /** Seconds since the flow's first packet. */
  time: number;
  /** Which way it went (an ICMP error: toward which end). */
  direction: "to-server" | "to-client";
  /**
   * How it reached the flow: by its ports, as a later IP fragment, or as an ICMP error quoting a
   * packet of the flow.
   */
  via: "ports" | "fragment" | "icmp-error";
  /** Its protocol, named as 'Packet.proto'. */
  proto: string;
  /** Payload bytes (as 'Packet.payloadLength'; a fragment: its IP payload). */
  len: number;
  /** A TCP segment: its flags, as 'TcpHeader.flags'. 'seq' to 'analysis' come with it. */
  flags?: string;
  /**
   * Relative sequence number: 0 at the sender's SYN (Wireshark's rule; without a SYN the sender's
   * first segment is 1).
   */
  seq?: number;
  /** Relative acknowledgment number; 'null' when the ACK flag is off. */
  ack?: number | null;
  /** The window it advertised. */
  window?: LadderWindow;
  /**
   * When tshark's TCP analysis would mark it: the marks in tshark's words, in the order of its
   * Info column ('TCP Retransmission', 'TCP Spurious Retransmission', 'TCP Fast Retransmission',
   * 'TCP Out-Of-Order', 'TCP Previous segment not captured', 'TCP ACKed unseen segment', 'TCP Dup
   * ACK 12#1' (the first duplicate of the ACK sent in frame 12), 'TCP ZeroWindow', 'TCP
   * ZeroWindowProbe', 'TCP ZeroWindowProbeAck', 'TCP Keep-Alive', 'TCP Keep-Alive ACK', 'TCP
   * Window Update', 'TCP Window Full').
   */
  analysis?: string[];
  /** An ICMP or ICMPv6 message: its type. */
  icmpType?: number;
  /** With 'icmpType': its code. */
  icmpCode?: number;
  /** A later IP fragment ('via' '"fragment"'): its offset in bytes. */
  fragmentOffset?: number;
}

export interface LadderWindow {
  /** The window field as sent. */
  raw: number;
  /**
   * What 'raw' is multiplied by (as 'TcpHeader.windowFactor'); 'null' when unknown (the handshake
   * was not captured).
   */
  factor: number | null;
  /** The window in bytes, 'raw' × 'factor'; 'null' when the factor is unknown. */
  scaled: number | null;
}

export interface InterfacesDocument {
  /**
   * 'libpcap': the devices 'live -i' can open. 'os': the operating system's interfaces, when
   * libpcap's list is not available.
   */
  source: "libpcap" | "os";
  /** The devices. */
  interfaces: Interface[];
  /** When 'source' is 'os': why libpcap's list is not shown. */
  reason?: string;
}

export interface Interface {
  /** The name 'live -i' takes ('lo', 'eth0', 'any'). */
  name: string;
  /**
   * IPv4 and IPv6 addresses as 'address/prefix' ('127.0.0.1/8'); a bare address when the netmask
   * is unknown.
   */
  addresses: string[];
  /** A loopback device. */
  loopback: boolean;
  /** When libpcap has one (pseudo-devices: 'Pseudo-device that captures on all interfaces'). */
  description?: string;
}

export interface CheckDocument {
  /**
   * The captures that could be opened, in command-line order (one, 'live:DEVICE', for 'live
   * --rules').
   */
  captures: Capture[];
  /** The rules file, as named on the command line. */
  rules: string;
  /** Rules that passed. */
  passed: number;
  /** Rules that failed: the exit code is 4 when this is not 0. */
  failed: number;
  /** One a rule, in the rules file's order. */
  verdicts: Verdict[];
  /** Every warning of the run, one line each, as also written to stderr. */
  warnings: string[];
}

export interface Verdict {
  /** The rule's 'name'. */
  name: string;
  /** The rule's 'flows' selection (filter syntax); 'null' when it has none (every flow). */
  flows: string | null;
  /** The rule's 'expect', as written: 'MEASURE OPERATOR VALUE'. */
  expect: string;
  /** The rule held. */
  pass: boolean;
  /**
   * The measure of 'expect': 'connections', 'flows', 'packets', 'bytes', 'resets', 'refused',
   * 'incomplete', 'reused-in-time-wait', 'retransmissions', 'max-handshake-rtt', 'max-duration' or
   * 'servers'.
   */
  measure: string;
  /**
   * What was measured over the selected flows: a count, a sum, the largest value
   * ('max-handshake-rtt' in milliseconds, 'max-duration' in seconds, 0 when no flow has one); for
   * 'servers' compared with a list, the server ends ('ADDRESS:PORT', IPv6 in brackets) in the
   * order flows first went to them, and compared with a number, how many there are.
   */
  value: number | string[];
  /** How many flows the 'flows' selection took. */
  selected: number;
  /**
   * For a failed rule, the flows that broke it: those counted (or adding to a sum), those over an
   * upper bound of a largest value (else the largest), those to a server not in the list; empty
   * for a rule that passed.
   */
  broke: BrokenFlow[];
  /** For a failed 'servers == [...]': the listed ends no flow went to; empty otherwise. */
  missing: string[];
}

export interface BrokenFlow {
  /** The flow's id, as in 'flows'. */
  id: number;
  /** Its generation on its tuple (1 for the first connection). */
  generation: number;
  /** As the flow's 'proto'. */
  proto: string;
  /** The client end, 'ADDRESS:PORT' (IPv6 in brackets). */
  client: string;
  /** The server end, 'ADDRESS:PORT'. */
  server: string;
  /**
   * Why it counts, in a few words for people ('RST (RSTO ShADadR)', 'handshake 12.5 ms'): not part
   * of the contract.
   */
  detail: string;
}
