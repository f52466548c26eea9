/**
 * What `report` and `live --report` share to write the HTML page: the ladders collected while
 * reading or capturing (LadderCollector), the check of the file's folder before a long read or
 * capture, and the write with its one-line error.
 */
import { writeFileSync } from 'node:fs';
import type { Flow, FlowRef } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import { IPPROTO, type Packet } from '../core/packet.js';
import { explainPacket } from '../demux/explain.js';
import type { ReportLadder } from '../report/html.js';
import { ladderPacket, type LadderPacket } from '../report/ladder.js';
import { checkOutputPath, outputErrorText } from './command.js';

export { checkOutputPath };

/** Packets one ladder holds at most: a long connection's ladder shows its start. */
export const LADDER_PACKETS = 500;

/**
 * The packets of the first `limit` TCP connections (LADDER_PACKETS each at most), with each
 * one's `packets --explain` line, as they are read or captured: the report's ladders.
 */
export class LadderCollector {
  private readonly packets = new Map<number, LadderPacket[]>();
  private readonly explained = new Map<number, string[]>();

  constructor(readonly limit: number) {}

  /** Called for every packet the engine placed. */
  add(frame: Frame, pkt: Packet, ref: FlowRef | null): void {
    if (ref === null) return;
    let packets = this.packets.get(ref.id);
    if (packets === undefined) {
      // A connection's ladder starts with its first TCP segment, for the first `limit` of them.
      if (this.packets.size >= this.limit || pkt.protocol !== IPPROTO.TCP || ref.via !== 'ports') return;
      this.packets.set(ref.id, (packets = []));
      this.explained.set(ref.id, []);
    }
    if (packets.length < LADDER_PACKETS) {
      packets.push(ladderPacket(frame, pkt, ref));
      this.explained.get(ref.id)!.push(explainPacket(pkt, ref));
    }
  }

  /** The ladders of those of `flows` collected, in flow id order. */
  ladders(flows: readonly Flow[]): ReportLadder[] {
    const byId = new Map(flows.map((f) => [f.id, f]));
    const out: ReportLadder[] = [];
    for (const [id, packets] of this.packets) {
      const flow = byId.get(id);
      if (flow !== undefined && flow.proto === 'tcp') out.push({ flow, packets, explain: this.explained.get(id) });
    }
    return out.sort((a, b) => a.flow.id - b.flow.id);
  }
}

/** Writes the page; the one-line error when it cannot be written, else null. */
export function writeReportFile(path: string, html: string): string | null {
  try {
    writeFileSync(path, html);
    return null;
  } catch (err) {
    return `cannot write ${path}: ${outputErrorText(err as Error)}`;
  }
}
