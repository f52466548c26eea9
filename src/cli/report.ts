/**
 * `flowdemux report CAPTURE.. -o report.html`: the self-contained HTML page of report/html.ts.
 * While reading, the packets of the first --ladders TCP connections are kept (at most
 * LADDER_PACKETS each) for their ladders, with the `packets --explain` line of each (which
 * socket the receiving kernel hands it to); everything else comes from the finished flows.
 */
import { statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { IPPROTO } from '../core/packet.js';
import { explainPacket } from '../demux/explain.js';
import { inputName } from '../pipeline/read.js';
import { renderReportHtml, type ReportLadder } from '../report/html.js';
import { ladderPacket, type LadderPacket } from '../report/ladder.js';
import { noPacketsKept, noPacketsLine, outputErrorText, readCommandFlows, WRITING_REPORT, type CommandResult, type Io } from './command.js';
import { UsageError, VERSION, type Options } from './options.js';
import type { Output } from './output.js';

/** Packets one ladder holds at most: a long connection's ladder shows its start. */
export const LADDER_PACKETS = 500;

/** -o must name a file in a folder that exists (checked before a long read, not after). */
function checkOutputPath(path: string): void {
  if (path === '-') return;
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) throw new UsageError(`--output '${path}' is a folder: name the HTML file to write`);
  const parent = statSync(dirname(path), { throwIfNoEntry: false });
  if (parent === undefined || !parent.isDirectory()) throw new UsageError(`--output '${path}': no folder ${dirname(path)}`);
}

export async function runReport(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const path = options.output!;
  checkOutputPath(path);
  const limit = options.ladders ?? 20;
  const collected = new Map<number, LadderPacket[]>();
  const explained = new Map<number, string[]>();
  const { engine, read, digits } = await readCommandFlows(options, io, out, {
    // Each TCP flow's analysis for the table (the ladders mark their packets themselves).
    engine: { tcpAnalysis: true },
    nextPhase: WRITING_REPORT,
    after: (frame, pkt, ref) => {
      if (ref === null) return undefined;
      let packets = collected.get(ref.id);
      if (packets === undefined) {
        // A connection's ladder starts with its first TCP segment, for the first `limit` of them.
        if (collected.size >= limit || pkt.protocol !== IPPROTO.TCP || ref.via !== 'ports') return undefined;
        collected.set(ref.id, (packets = []));
        explained.set(ref.id, []);
      }
      if (packets.length < LADDER_PACKETS) {
        packets.push(ladderPacket(frame, pkt, ref));
        explained.get(ref.id)!.push(explainPacket(pkt, ref));
      }
      return undefined;
    },
  });
  const summary = engine.summary(inputName(read));
  const warnings = [...read.warnings, ...summary.warnings];
  if (read.captures.length === 0) return { errors: read.errors, warnings };
  const flows = engine.flows();
  const byId = new Map(flows.map((f) => [f.id, f]));
  const ladders: ReportLadder[] = [];
  for (const [id, packets] of collected) {
    const flow = byId.get(id);
    if (flow !== undefined && flow.proto === 'tcp') ladders.push({ flow, packets, explain: explained.get(id) });
  }
  ladders.sort((a, b) => a.flow.id - b.flow.id);
  const html = renderReportHtml({
    captures: read.captures, flows, ladders, ladderLimit: limit, maxLadderPackets: LADDER_PACKETS,
    summary, warnings, digits, version: VERSION, maxRows: options.rows,
  });
  read.progress.done();
  // The page is written all the same (it says 0 flows), as the other commands say so too.
  if (noPacketsKept(read)) io.stderr.write(noPacketsLine(read));
  if (path === '-') {
    out.write(html);
    return { errors: read.errors, warnings };
  }
  try {
    writeFileSync(path, html);
  } catch (err) {
    return { errors: [...read.errors, `cannot write ${path}: ${outputErrorText(err as Error)}`], warnings };
  }
  return { errors: read.errors, warnings };
}
