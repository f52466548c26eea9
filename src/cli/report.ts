/**
 * `flowdemux report CAPTURE.. -o report.html`: the self-contained HTML page of report/html.ts
 * (`live --report FILE` writes the same page at the end of a capture, with LadderCollector).
 * While reading, the packets of the first --ladders TCP connections are kept (at most
 * LADDER_PACKETS each) for their ladders, with the `packets --explain` line of each (which
 * socket the receiving kernel hands it to); everything else comes from the finished flows.
 */
import { statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Flow, FlowRef } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import { IPPROTO, type Packet } from '../core/packet.js';
import { explainPacket } from '../demux/explain.js';
import { inputName } from '../pipeline/read.js';
import { renderReportHtml, type ReportLadder } from '../report/html.js';
import { ladderPacket, type LadderPacket } from '../report/ladder.js';
import { noPacketsKept, noPacketsLine, outputErrorText, readCommandFlows, WRITING_REPORT, type CommandResult, type Io } from './command.js';
import { UsageError, VERSION, type Options } from './options.js';
import type { Output } from './output.js';

/** Packets one ladder holds at most: a long connection's ladder shows its start. */
export const LADDER_PACKETS = 500;

/**
 * A file to write a page to must be in a folder that exists (checked before a long read or a
 * capture, not after). `option` names the option in the message.
 */
export function checkOutputPath(path: string, option = '--output'): void {
  if (path === '-') return;
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) throw new UsageError(`${option} '${path}' is a folder: name the HTML file to write`);
  const parent = statSync(dirname(path), { throwIfNoEntry: false });
  if (parent === undefined || !parent.isDirectory()) throw new UsageError(`${option} '${path}': no folder ${dirname(path)}`);
}

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

export async function runReport(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const path = options.output!;
  checkOutputPath(path);
  const limit = options.ladders ?? 20;
  const collector = new LadderCollector(limit);
  const { engine, read, digits } = await readCommandFlows(options, io, out, {
    nextPhase: WRITING_REPORT,
    after: (frame, pkt, ref) => {
      collector.add(frame, pkt, ref);
      return undefined;
    },
  });
  const summary = engine.summary(inputName(read));
  const warnings = [...read.warnings, ...summary.warnings];
  if (read.captures.length === 0) return { errors: read.errors, warnings };
  const flows = engine.flows();
  const html = renderReportHtml({
    captures: read.captures, flows, ladders: collector.ladders(flows), ladderLimit: limit, maxLadderPackets: LADDER_PACKETS,
    summary, warnings, digits, version: VERSION, maxRows: options.rows,
  });
  read.progress.done();
  // The page is written all the same (it says 0 flows), as the other commands say so too.
  if (noPacketsKept(read)) io.stderr.write(noPacketsLine(read));
  if (path === '-') {
    out.write(html);
    return { errors: read.errors, warnings };
  }
  const failed = writeReportFile(path, html);
  return { errors: failed === null ? read.errors : [...read.errors, failed], warnings };
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
