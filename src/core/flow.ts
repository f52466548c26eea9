/**
 * What the demux engine hands out: finished flow records, the reference returned for each
 * packet, and the summary of packets that belong to no flow. These are plain data; the engine's
 * live state (src/demux/engine.ts) is kept in a different, compact form and becomes a `Flow`
 * once, when the flow ends (or when a snapshot is asked for).
 */
import type { OtherProto } from './ip-protocols.js';
import type { TunnelKind } from './packet.js';

/**
 * tcp, udp, icmp, icmpv6, or another IP protocol's name (core/ip-protocols.ts: `ospf`, `gre`,
 * `ip-proto-253`...): those flows are keyed on the protocol and the two addresses, ports 0.
 */
export type FlowProto = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | OtherProto;

/**
 * Why a flow record exists, i.e. why this generation of the tuple started:
 * - `first`: first traffic on this tuple that the engine remembers;
 * - `syn-after-rst` / `syn-after-fin`: a SYN (no ACK) after the previous connection ended by a
 *   RST, or by FIN both ways (Zeek's rule; tshark keeps a SYN with the old ISN in the old stream);
 * - `new-isn`: a SYN with another initial sequence number while the previous one was open;
 * - `syn-after-midstream`: a SYN on a connection whose start was never seen;
 * - `idle-timeout`: traffic after the previous generation was silent past its idle timeout;
 * - `after-close`: non-SYN traffic after a closed connection was released (stray packets);
 * - `after-eviction`: traffic after the previous generation was evicted by `maxFlows`;
 * - `after-attempt`: traffic after the previous generation's SYN went unanswered for
 *   `tcpAttemptDelay` (Zeek's connection attempt: its attempt timer removed the connection).
 */
export type GenerationReason =
  | 'first'
  | 'syn-after-rst'
  | 'syn-after-fin'
  | 'new-isn'
  | 'syn-after-midstream'
  | 'idle-timeout'
  | 'after-close'
  | 'after-eviction'
  | 'after-attempt';

/**
 * How a flow record ended: `rst` / `fin` (TCP close seen; `fin` means FIN both ways, or a FIN
 * whose peer had sent nothing, Zeek's complete close, or 3 s after a FIN that was its end's first
 * packet while the peer went on, Zeek's partial close), `idle-timeout`, `evicted` (by
 * `maxFlows`), `superseded` (a new connection took the tuple while this one was still open),
 * `attempt-timeout` (a SYN unanswered for `tcpAttemptDelay`, and the tuple was heard again),
 * `capture-end` (still open when the input ended). `null` in a snapshot of a flow that is still
 * open.
 */
export type EndReason = 'rst' | 'fin' | 'idle-timeout' | 'evicted' | 'superseded' | 'capture-end' | 'attempt-timeout';

export interface FlowEndpoint {
  ip: string;
  /** TCP/UDP port; for ICMP the Community ID "port" (type, or counterpart type / code). */
  port: number;
  /**
   * Who held this end's own socket. Live capture only (set by src/host/attribution.ts from
   * /proc); absent for files, for ends on another host and for sockets whose owner could not
   * be seen (another user's process without root, a connection never accepted).
   */
  process?: EndpointProcess;
  /**
   * Live capture, the server end of a TCP connection: the listening socket it was accepted
   * from, and who held that. Apart from `process`: a listener outlives its connections.
   */
  listener?: ListenerProcess;
  /** Live capture, a UDP end: which kind of socket the kernel delivered its datagrams to. */
  socket?: UdpSocketInfo;
}

/** A process seen holding a socket. */
export interface ProcessRef {
  pid: number;
  command: string;
}

/** The listening socket a TCP connection was accepted from, and its owner when visible. */
export interface ListenerProcess {
  /** Its local address as bound: `0.0.0.0:80`, `[::]:80`, `127.0.0.1:80`. */
  socket: string;
  pid?: number;
  command?: string;
  /** Every process holding this listening socket, when there are several (a pre-forked server). */
  pids?: number[];
  /**
   * SO_REUSEPORT: the listening sockets bound to this same address and port (more than one),
   * with their owners. The kernel gives each new connection to one of them, by a hash of its
   * 4-tuple; `pid` is then the owner of the one that took this connection, when known.
   */
  reuseport?: { listeners: number; owners: ProcessRef[] };
}

/**
 * The UDP socket an end's datagrams reached, as the kernel's table shows it:
 * - `connected`: connect() gave it a peer; the kernel finds it by the full 4-tuple, and prefers it
 *   over an unconnected socket on the same port.
 * - `unconnected`: found by local address and port alone (remote 0.0.0.0:0); `bound` says whether
 *   to one address or the wildcard, `dualStack` when it is an IPv6 socket taking IPv4 (v4-mapped).
 */
export interface UdpSocketInfo {
  kind: 'connected' | 'unconnected';
  /** Its local address as bound: `0.0.0.0:5353`, `127.0.0.1:5353`, `[::]:5353`. */
  bound: string;
  dualStack?: boolean;
}

/**
 * Who owned an end's socket:
 * - `running`: seen in /proc while the flow was live, held by `pid` (`command` is its
 *   /proc/PID/comm). `pids` lists every process holding the socket when there are several; `pid`
 *   is the one that is not also the listener's owner (a forking server's child), else the lowest.
 *   The process may have exited since: the state says what was seen, when it was seen.
 * - `gone`: the socket was closed before its owner could be seen (a connection of a few
 *   milliseconds, whose process closed it before /proc was read); nothing is guessed. `uid` is
 *   the socket's owner uid when the kernel's table still showed the socket.
 */
export type EndpointProcess =
  | { pid: number; command: string; state: 'running'; pids?: number[] }
  | { state: 'gone'; uid?: number };

/** What one end sent. See docs/json.md, `Counters`. */
export interface DirectionCounters {
  packets: number;
  /** Original frame length including the link header (tshark's conversation bytes). */
  wireBytes: number;
  /** IP total length (IPv6: 40 + payload length), Zeek's *_ip_bytes. */
  ipBytes: number;
  /** TCP segment data / UDP payload / ICMP data, retransmissions included. */
  payloadBytes: number;
  /**
   * TCP: bytes this end sent that the capture never saw (sequence gaps: acknowledged by the peer,
   * or below a later segment and never filled), Zeek's missed_bytes for this direction; 0 for
   * UDP and ICMP. See tcp.ts updateGaps.
   */
  missedBytes: number;
}

/** A capture timestamp as integers: seconds since the epoch and nanoseconds within it. */
export interface Timestamp {
  sec: number;
  nsec: number;
}

export interface IcmpErrorNote {
  type: number;
  code: number;
  /** Address of the host that sent the ICMP error (a router, or the peer itself). */
  reporter: string;
}

/**
 * One generation of one tuple. Fields up to `communityId` are docs/json.md's `Flow` (the
 * report turns `start`/`end` into ISO text); the rest are additions.
 */
export interface Flow {
  /** 1, 2, 3... in order of the flow's first packet (tshark's stream number + 1 in spirit). */
  id: number;
  proto: FlowProto;
  /** 1 for the first connection on this tuple, n+1 for each later one. */
  generation: number;
  client: FlowEndpoint;
  server: FlowEndpoint;
  /**
   * No SYN without ACK was seen: the client is the first sender unless Zeek's likely server ports
   * flip it (src/demux/server-ports.ts); ICMP: the first sender, `false` when it sent a request.
   */
  rolesInferred: boolean;
  start: Timestamp;
  end: Timestamp;
  /** end - start in seconds. */
  duration: number;
  toServer: DirectionCounters;
  toClient: DirectionCounters;
  /** Zeek conn_state (S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH). */
  state: string;
  /** Zeek history letters; upper case client, lower case server. */
  history: string;
  /** Community ID v1, seed 0 (the same for every generation of a tuple, by design). */
  communityId: string;

  generationReason: GenerationReason;
  endReason: EndReason | null;
  ipVersion: 4 | 6;
  /** ICMP errors that quoted a packet of this flow (not counted in the packet counters). */
  icmpErrors: number;
  /** The first of them. */
  icmpError: IcmpErrorNote | null;
  /**
   * ICMP/ICMPv6 port unreachable errors among them, by the end the quoted datagram was sent to:
   * that end's port had no socket. Absent when there were none (and in flows JSON, which shows
   * `icmpErrors`/`icmpError` only); the demux picture reads it (src/demux/groups.ts).
   */
  portUnreachable?: { toServer: number; toClient: number };
  /**
   * TCP, both ends closed (a FIN or RST from each): the time of the packet that closed the
   * second. Zeek's clock stops there, so conn.log's duration ends there; `end` goes on to the
   * last packet (a final ACK), as tshark's conversation does. Absent otherwise, and in JSON.
   */
  closedAt?: Timestamp;
  /** The IP protocol number, for a flow of another IP protocol (not TCP, UDP or ICMP); absent otherwise. */
  ipProtocol?: number;
  /** A UDP flow whose datagrams carry a tunnel (VXLAN, Geneve, Teredo, GTP-U...): which. */
  carries?: TunnelKind;
  /**
   * With `carries`: datagrams of both ends carried it. Zeek's Teredo analyzer confirms the
   * protocol (conn.log's service) only then. Absent in JSON.
   */
  carriesBothWays?: boolean;
  /** A flow whose packets came through a tunnel: the innermost one (of its first such packet). */
  tunnel?: TunnelKind;
  /**
   * With `tunnel`: the ids of the UDP tunnel flows (`carries`) right around its packets, first
   * seen first, 64 at most; empty when that tunnel is GRE or IP in IP (not a flow).
   */
  tunnelParents?: number[];
  /**
   * What it speaks, from the first bytes of its ends, on any port (Zeek's service names: http,
   * ssl, ssh, dns, quic; http2); absent when nothing was recognised.
   */
  service?: 'http' | 'http2' | 'ssl' | 'ssh' | 'dns' | 'quic';
  /** With `service`: the client's first words and the server's answer (`GET example.com/ -> 200`). */
  summary?: string;
  /**
   * With `service`: both ends' first bytes said it. Zeek names HTTP, TLS and SSH in conn.log only
   * then (its signatures want the request and the answer). Absent in JSON.
   */
  serviceBothWays?: boolean;
  /** TCP, with DemuxOptions.tcpAnalysis: the TCP analysis of the connection (docs/json.md, `TcpAnalysis`). */
  analysis?: TcpAnalysisSummary;
}

/** The TCP analysis marks by the names of tshark's `tcp.analysis.*` fields. */
export type MarkName =
  | 'retransmission' | 'lost_segment' | 'ack_lost_segment' | 'keep_alive' | 'duplicate_ack' | 'zero_window'
  | 'zero_window_probe' | 'zero_window_probe_ack' | 'keep_alive_ack' | 'out_of_order' | 'fast_retransmission'
  | 'window_update' | 'window_full' | 'spurious_retransmission';

/** ACK round trips of the data one direction sent (the other side's ACKs), in seconds. */
export interface AckRtt {
  samples: number;
  min: number;
  median: number;
}

/** What the analysis says of a whole connection (flows' `analysis`, docs/json.md). */
export interface TcpAnalysisSummary {
  /** How many segments carry each mark (tshark's names). */
  marks: Record<MarkName, number>;
  /**
   * The handshake, in seconds, as tshark times it: from the last SYN before the SYN-ACK
   * (a retransmitted SYN does not count its wait) to the SYN-ACK, from the last SYN-ACK to the
   * first ACK, and `total`, SYN to ACK (tshark's `tcp.analysis.initial_rtt`). Null when a part
   * was not seen.
   */
  handshake: { synToSynAck: number | null; synAckToAck: number | null; total: number } | null;
  /**
   * tshark's `tcp.analysis.ack_rtt` gathered per direction of the data: `toServer` for data the
   * client sent (timed by the server's ACKs), `toClient` the other way. Null without a sample.
   */
  ackRtt: { toServer: AckRtt | null; toClient: AckRtt | null };
}

/** How a packet reached its flow. */
export type FlowVia = 'ports' | 'fragment' | 'icmp-error';

/** Returned by `ingest` for a packet that was assigned to a flow. The object is reused. */
export interface FlowRef {
  id: number;
  generation: number;
  /** The packet went from client to server (for an ICMP error: it was sent to the server). */
  toServer: boolean;
  via: FlowVia;
}

/**
 * Every packet ingested is counted under exactly one kind, so that the kinds add up to
 * `packets` and nothing is lost silently:
 * tcp / udp: in a flow by its ports; icmp / icmpv6: ICMP messages (in an ICMP flow when those
 * are on, or attached to the flow an error quotes); fragment: a later IP fragment counted with
 * its first fragment's flow; fragment-pending: a later fragment whose first fragment has not been
 * seen yet; fragment-unmatched: a fragment that could not be tied to a flow (first fragment never
 * seen, transport header split across fragments, or its flow already gone); non-ip: no IP layer
 * (ARP, LLDP, unsupported link types); damaged: an IP packet whose transport header could not be
 * read; other-ip-protocol: IP carrying something without ports (GRE, ESP, OSPF, SCTP...), in a
 * flow of its protocol and addresses; bad-checksum (only with `--checksums validate`): a wrong
 * IPv4 header checksum (the packet is dropped, as Zeek drops it) or a wrong TCP checksum
 * (history `C`/`c`, not counted in its flow).
 */
export type PacketKind =
  | 'tcp'
  | 'udp'
  | 'icmp'
  | 'icmpv6'
  | 'fragment'
  | 'fragment-pending'
  | 'fragment-unmatched'
  | 'non-ip'
  | 'damaged'
  | 'other-ip-protocol'
  | 'bad-checksum';

export interface DemuxSummary {
  packets: number;
  byKind: Record<PacketKind, number>;
  /** Packets counted in a flow's counters (tcp, udp, ICMP and other-protocol flows, matched fragments). */
  inFlows: number;
  /** ICMP errors attached to the flow they quote. */
  icmpErrorsAttached: number;
  /** Flow records created so far. */
  flows: number;
  /** Flows open right now. */
  openFlows: number;
  /** Flows finished early because `maxFlows` was reached. */
  evicted: number;
  /** Lossy things the engine did (evictions, fragment table overflow). One line each. */
  warnings: string[];
}

export interface DemuxOptions {
  /** Seconds of silence that end a TCP flow (default 300, Zeek's tcp_inactivity_timeout). */
  tcpIdleTimeout?: number;
  /** Seconds of silence that end a UDP flow (default 60, Zeek's udp_inactivity_timeout). */
  udpIdleTimeout?: number;
  /** Seconds of silence that end an ICMP flow (default 60, Zeek's icmp_inactivity_timeout). */
  icmpIdleTimeout?: number;
  /**
   * Seconds of silence that end a flow of another IP protocol (OSPF, GRE, ESP...; default 60,
   * Zeek's unknown_ip_inactivity_timeout).
   */
  otherIdleTimeout?: number;
  /**
   * Seconds a TCP connection that ended (RST, or FIN both ways) stays in the table for its
   * trailing packets (last ACK, retransmitted FIN) before it is released (default 5, Zeek's
   * tcp_close_delay / tcp_reset_delay). A SYN ends the wait at once.
   */
  tcpCloseLinger?: number;
  /**
   * Seconds after which a SYN its peer never answered ends the connection (default 5, Zeek's
   * tcp_attempt_delay; 0: never): a later packet of the tuple starts a new generation
   * (`after-attempt`), as Zeek logs a new connection.
   */
  tcpAttemptDelay?: number;
  /**
   * Cap on flows held open at once; the least recently active is evicted (default 250,000: live
   * state is about 550 bytes a flow, so about 140 MB at the cap).
   */
  maxFlows?: number;
  /**
   * Tuples remembered after their flow was released, so that later traffic gets generation
   * n+1 and the right reason (default 65,536). Oldest forgotten first.
   */
  maxRemembered?: number;
  /** Seconds a fragment waits for the rest of its datagram's fragments (default 60, RFC 8200's reassembly time). */
  fragmentTimeout?: number;
  /** Cap on datagrams tracked for fragments (default 65,536); the oldest is dropped. */
  maxFragmentDatagrams?: number;
  /** Make ICMP/ICMPv6 flows keyed as Community ID maps type/code to ports (default true). */
  icmpFlows?: boolean;
  /**
   * A UDP tunnel's own datagrams (VXLAN, Geneve, Teredo, GTP-U) are a flow too, as Zeek's outer
   * connection, besides the inner packets' flows (default true). false: a tunnelled packet counts
   * only in its innermost flow (as tshark's conversations with one stream a frame), so totals over
   * flows count no packet twice.
   */
  tunnelFlows?: boolean;
  /** Community ID seed (default 0). */
  communityIdSeed?: number;
  /**
   * Called with each flow when it ends. When set, finished flows are not kept: `flows()` then
   * returns only the open ones (streaming use, bounded memory).
   */
  onFlowEnd?: (flow: Flow) => void;
  /**
   * With onFlowEnd: hand a TCP connection over as soon as it is over (a RST, or FIN both ways
   * with both FINs acknowledged) rather than when it is released (`tcpCloseLinger` of capture
   * time later, which on a live pipe means only when later traffic arrives, or at the end). It
   * still lingers for stray packets (a retransmitted FIN, a late RST): they keep their flow id,
   * but the flow is not handed over again, so its record does not count them. For streaming
   * input; files keep the default (false), which counts every packet in its flow.
   */
  endOnClose?: boolean;
  /**
   * Run Wireshark's TCP sequence analysis on every TCP flow as its segments go by
   * (demux/tcp-analysis.ts): each segment's marks are in `DemuxEngine.lastAnalysis` until the
   * next packet, and each TCP flow's record gets `analysis` (the counts of each mark, the
   * handshake and the ACK round trips). `'marks'`: the marks only, no ACK round trips kept for
   * the medians (bounded memory, for a command that streams packets). Off by default: it costs
   * a few hundred bytes a connection and time on every segment.
   */
  tcpAnalysis?: boolean | 'marks';
}
