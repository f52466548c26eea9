/**
 * What the measures need of each flow besides its record: the TCP sequence analysis (its
 * retransmissions), the handshake's round trip and whether the flow reused a 4-tuple still in
 * TIME-WAIT. The reader feeds the collector each packet the engine put in a flow (`packet`) and
 * each flow as it ends (`flowEnded`, the engine's onFlowEnd); a flow's segments are analysed and
 * dropped when it ends, so memory holds the segments of the open connections only.
 */
import type { Flow, FlowRef, Timestamp } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import { IPPROTO, TCP_FLAG, type Packet } from '../core/packet.js';
import { analyzeTcp, TCP_A, type TcpSegment } from '../demux/tcp-analysis.js';

/** 2 * MSL as Linux has it (TCP_TIMEWAIT_LEN, 60 s): how long a closed connection's end stays in TIME-WAIT. */
export const TIME_WAIT_S = 60;

const RETRANSMITTED = TCP_A.RETRANSMISSION | TCP_A.FAST_RETRANSMISSION | TCP_A.SPURIOUS_RETRANSMISSION;

export interface FlowFacts {
  flow: Flow;
  /** TCP segments marked retransmission, fast retransmission or spurious retransmission (Wireshark's words); 0 for others. */
  retransmissions: number;
  /**
   * TCP: milliseconds from the client's first SYN to its ACK of the server's SYN-ACK (what
   * connect() waited, a lost SYN included); null when the handshake was not seen to finish.
   */
  handshakeRttMs: number | null;
  /**
   * A new generation of a 4-tuple whose previous connection closed by FIN both ways less than
   * TIME_WAIT_S before: the seconds between that close and this flow's start; null otherwise.
   */
  reusedAfterS: number | null;
  /** The previous generation that was still in TIME-WAIT, with `reusedAfterS`. */
  reusedFrom: Flow | null;
}

const seconds = (t: Timestamp) => t.sec + t.nsec / 1e9;

/** Collects the segments of TCP flows while reading (only when a rule needs them) and makes the facts. */
export class FactsCollector {
  private readonly segments = new Map<number, TcpSegment[]>();
  private readonly analysed = new Map<number, { retransmissions: number; handshakeRttMs: number | null }>();
  private readonly ended: Flow[] = [];

  /** `keepSegments`: keep TCP segments (a rule asks for retransmissions or handshake round trips). */
  constructor(private readonly keepSegments: boolean) {}

  /** A packet the engine assigned (pipeline `after`); only TCP segments counted in their flow by ports. */
  packet(frame: Frame, pkt: Packet, ref: FlowRef | null): void {
    if (!this.keepSegments || ref === null || ref.via !== 'ports' || pkt.protocol !== IPPROTO.TCP) return;
    let list = this.segments.get(ref.id);
    if (list === undefined) this.segments.set(ref.id, (list = []));
    list.push({
      frame: frame.number, sec: frame.tsSec, nsec: frame.tsNsec, toServer: ref.toServer, flags: pkt.tcpFlags, seq: pkt.tcpSeq,
      ack: pkt.tcpAck, window: pkt.tcpWindow, windowScale: pkt.windowScale, payloadLength: pkt.payloadLength,
    });
  }

  /** A flow ended (the engine's onFlowEnd): its segments are analysed and let go. */
  flowEnded(flow: Flow): void {
    this.ended.push(flow);
    const list = this.segments.get(flow.id);
    if (list === undefined) return;
    this.segments.delete(flow.id);
    this.analysed.set(flow.id, {
      retransmissions: analyzeTcp(list).filter((a) => (a.flags & RETRANSMITTED) !== 0).length,
      handshakeRttMs: handshakeRtt(list),
    });
  }

  /** Every flow that ended (in id order) with its facts; `open` adds flows still open (none after the engine's finish). */
  facts(open: readonly Flow[] = []): FlowFacts[] {
    for (const f of open) this.flowEnded(f);
    const flows = this.ended.slice().sort((a, b) => a.id - b.id);
    const previous = previousGenerations(flows);
    return flows.map((flow) => {
      const a = this.analysed.get(flow.id);
      const before = previous.get(flow);
      let reusedAfterS: number | null = null;
      if (before !== undefined && flow.generationReason === 'syn-after-fin') {
        const gap = seconds(flow.start) - seconds(before.closedAt ?? before.end);
        if (gap < TIME_WAIT_S) reusedAfterS = Math.max(0, gap);
      }
      return {
        flow,
        retransmissions: a?.retransmissions ?? 0,
        handshakeRttMs: a?.handshakeRttMs ?? null,
        reusedAfterS,
        reusedFrom: reusedAfterS === null ? null : before!,
      };
    });
  }
}

/** Each flow's previous generation on its tuple, among `flows`. */
function previousGenerations(flows: readonly Flow[]): Map<Flow, Flow> {
  const byTuple = new Map<string, Flow>();
  const out = new Map<Flow, Flow>();
  for (const f of flows) {
    const ends = [`${f.client.ip} ${f.client.port}`, `${f.server.ip} ${f.server.port}`].sort();
    const key = `${f.proto} ${ends[0]} ${ends[1]}`;
    const before = byTuple.get(key);
    if (before !== undefined && before.generation === f.generation - 1) out.set(f, before);
    byTuple.set(key, f);
  }
  return out;
}

/**
 * Client's first SYN to the client's ACK of the server's SYN-ACK (ack = its seq + 1), in ms; null
 * when one of the three was not seen.
 */
function handshakeRtt(segments: readonly TcpSegment[]): number | null {
  const { SYN, ACK } = TCP_FLAG;
  let syn: TcpSegment | null = null;
  let synAckSeq = -1;
  for (const s of segments) {
    const flags = s.flags & (SYN | ACK);
    if (s.toServer && flags === SYN && syn === null) syn = s;
    else if (!s.toServer && flags === (SYN | ACK) && syn !== null) synAckSeq = s.seq;
    else if (s.toServer && flags === ACK && synAckSeq >= 0 && s.ack === ((synAckSeq + 1) >>> 0)) {
      return ((s.sec - syn!.sec) * 1e9 + (s.nsec - syn!.nsec)) / 1e6;
    }
  }
  return null;
}
