/**
 * `flowdemux report CAPTURE.. -o report.html`: the self-contained HTML page of report/html.ts
 * (`live --report FILE` writes the same page at the end of a capture; both use report-page.ts).
 * While reading, the packets of the first --ladders TCP connections are kept (at most
 * LADDER_PACKETS each) for their ladders, with the `packets --explain` line of each (which
 * socket the receiving kernel hands it to); everything else comes from the finished flows.
 */
import { inputName } from '../pipeline/read.js';
import { renderReportHtml } from '../report/html.js';
import { noPacketsKept, noPacketsLine, readCommandFlows, WRITING_REPORT, type CommandResult, type Io } from './command.js';
import { VERSION, type Options } from './options.js';
import type { Output } from './output.js';
import { checkOutputPath, LADDER_PACKETS, LadderCollector, writeReportFile } from './report-page.js';

export async function runReport(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const path = options.output!;
  checkOutputPath(path, 'the HTML file');
  const limit = options.ladders ?? 20;
  const collector = new LadderCollector(limit);
  const { engine, read, digits } = await readCommandFlows(options, io, out, {
    // Each TCP flow's analysis for the table (the ladders mark their packets themselves).
    engine: { tcpAnalysis: true },
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

