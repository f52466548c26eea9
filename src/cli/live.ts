/**
 * `flowdemux live` and `flowdemux interfaces`.
 *
 * live: capture on a device (default lo) through the same decode and demux code as files. On a
 * terminal the flow table is redrawn about once a second; when piped, only the final report is
 * printed (or, with --format ndjson, zeek-json or ecs, one line per flow as it ends). Stops at --count,
 * --duration, Ctrl-C or SIGTERM, then closes the -w file and prints the final report.
 *
 * With --rules (check while capturing), the final report is the verdict of each rule over the
 * flows captured, as `check` writes it (and --junit), and the exit code is check's.
 *
 * With --report FILE, the HTML page of `report` is written at the end too, of the flows the
 * output shows, with each end's process where it was seen.
 */
import { LiveAttribution } from '../host/attribution.js';
import { boostPriority } from '../host/priority.js';
import { warmUpDecodeAndEngine } from '../host/warm-up.js';
import { linkTypeName } from '../core/linktypes.js';
import { listInterfaces } from '../capture/interfaces.js';
import { LiveCaptureError, stopOnSignals, type LiveSource } from '../capture/live.js';
import { PcapWriteError, PcapWriter } from '../capture/pcap-writer.js';
import { DemuxEngine } from '../demux/engine.js';
import { buildDemux } from '../demux/groups.js';
import { renderDemuxDot, renderDemuxMermaid, renderDemuxTable } from '../report/demux.js';
import type { Flow } from '../core/flow.js';
import { openLiveCapture } from '../pipeline/live.js';
import { pump } from '../pipeline/pump.js';
import { badChecksumLines } from '../pipeline/read.js';
import { flowsJsonChunks } from '../report/json.js';
import { filterFlows, selectFlows, sortFlows } from '../report/select.js';
import { renderFlowsTable } from '../report/table.js';
import { cutToFit, fitColumns, renderColumns, wrapText, type Column } from '../report/fit.js';
import { LiveScreen, reportRows, reportWidth } from './terminal.js';
import { engineSettings } from '../pipeline/flows.js';
import { flowLineWriter, flowSelection, isLineFormat, loadRulesFile, writeVerdicts, type CommandResult, type Io } from './command.js';
import { FactsCollector } from '../check/facts.js';
import { evaluate, needsSegments } from '../check/measures.js';
import { UsageError, VERSION, type Options } from './options.js';
import { checkOutputPath, LADDER_PACKETS, LadderCollector, writeReportFile } from './report-page.js';
import { renderReportHtml } from '../report/html.js';
import { safeText, type Output } from './output.js';

const REDRAW_MS = 1000;
/** --report: the ladders of the first this many TCP connections (report's --ladders default). */
const REPORT_LADDERS = 20;
/** Rows of the redrawn table at most: the flows with the most recent activity. */
const LIVE_ROWS = 20;
/** Lines of the redraw that are not flows: the capture line, the table's head, two notes, one spare. */
const LIVE_CHROME = 5;

export async function runLive(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const selection = flowSelection(options);
  const format = options.format ?? 'table';
  const interactive = format === 'table' && Boolean(io.stdout.isTTY);
  // Asked again at every redraw and at the end: the terminal may be resized while capturing.
  const width = () => (format === 'table' ? reportWidth(io.stdout) : undefined);
  const rows = () => reportRows(io.stdout);

  // The rules, --report, then -w: a bad rules file or an unwritable path fails before anything is captured.
  const rules = options.rules === undefined ? null : loadRulesFile(options.rules);
  if (options.report === '-') throw new UsageError("--report needs a file name: the report on standard output is live's own");
  if (options.report !== undefined) checkOutputPath(options.report, 'the HTML file', '--report');
  const ladders = options.report === undefined ? null : new LadderCollector(REPORT_LADDERS);
  const facts = rules === null ? null : new FactsCollector(needsSegments(rules));
  let writer: PcapWriter | null = null;
  if (options.write !== undefined) {
    try {
      writer = PcapWriter.open(options.write);
    } catch (err) {
      if (err instanceof PcapWriteError) return { errors: [err.message], warnings: [] };
      throw err;
    }
  }

  let source: LiveSource;
  try {
    source = openLiveCapture({
      device: options.interface,
      filter: options.filter,
      count: options.count,
      durationMs: options.duration !== undefined ? Math.round(options.duration * 1000) : undefined,
    });
  } catch (err) {
    writer?.abort();
    if (err instanceof LiveCaptureError) return { errors: [err.message], warnings: [], exitCode: err.exitCode };
    throw err;
  }
  const unhook = stopOnSignals(source);
  // Both ends of a loopback flow are sockets of this host: name their processes (issue 8).
  const attribution = new LiveAttribution();
  // Listeners and bound sockets with their owners, before the first packet.
  attribution.start(options.interface);
  // Looked up while they are open: short connections need this process scheduled promptly.
  const boost = options.boost ? boostPriority() : null;

  // NDJSON, conn.log JSON and ECS: a line a flow as each ends.
  const streaming = isLineFormat(format);
  const writeLine = flowLineWriter(format);
  /** --report with streaming output: each flow as it was attributed when it ended. */
  const streamed = streaming && options.report !== undefined ? new Map<number, Flow>() : null;
  let pending: Promise<void> | undefined;
  const engine = new DemuxEngine(
    engineSettings(options, streaming
      ? {
          // A line as soon as a connection is over (FIN both ways acknowledged, or a RST), not
          // when its record is released after the close delay.
          endOnClose: true,
          onFlowEnd: (flow: Flow) => {
            attribution.attribute(flow);
            attribution.forget(flow.id);
            // --report: the flow as attributed now; the engine lets go of an ended flow when
            // streaming, so the page's flows are kept here (memory grows with them, as without ndjson).
            streamed?.set(flow.id, flow);
            if (filterFlows([flow], selection).length === 0) return;
            const w = writeLine(out, flow, 9);
            if (w) pending = w;
          },
        }
      : {}),
  );
  warmUpDecodeAndEngine(attribution);
  // Said always, as tcpdump's "listening on": a script or a test waits for this line to know
  // that packets are being captured from now on.
  io.stderr.write(
    `flowdemux: capturing on ${safeText(options.interface)} (${linkTypeName(source.linkType)})` +
      `${options.filter ? ` with filter '${safeText(options.filter)}'` : ''}; Ctrl-C stops\n`,
  );

  let lastDraw = Date.now();
  const errors: string[] = [];
  /** --checksums validate: the line about packets with wrong checksums, at the end. */
  const checksumWarnings: string[] = [];
  const screen = interactive ? new LiveScreen(out, rows) : null;
  try {
    screen?.enter();
    const pumped = await pump(source.batches(), engine, {
      checksums: options.checksums === 'validate',
      each: (frame, pkt, ref) => {
        if (writer) writer.write(frame);
        attribution.notePacket(ref, pkt);
        facts?.packet(frame, pkt, ref);
        ladders?.add(frame, pkt, ref);
      },
      afterBatch: async () => {
        attribution.poll();
        // NDJSON: the lines of the flows that ended go out now, not when the buffer fills.
        if (streaming && !out.closed) pending ??= out.sendQueued();
        if (pending) {
          await pending;
          pending = undefined;
        }
        if (interactive && !out.closed && Date.now() - lastDraw >= REDRAW_MS) {
          lastDraw = Date.now();
          const fit = Math.max(1, Math.min(LIVE_ROWS, rows() - LIVE_CHROME));
          const recent = sortFlows(filterFlows(engine.flows(), selection), 'start').slice(-fit);
          for (const f of recent) attribution.attribute(f);
          screen?.draw(`${new Date().toISOString()}  ${source.stats.received} packets on ${options.interface}\n` +
            renderFlowsTable(recent, { digits: 6, width: width(), analysis: options.analysis }));
          await out.flush();
        }
      },
      stop: () => out.closed,
    });
    const bad = pumped.badChecksums.get(0);
    if (bad !== undefined) checksumWarnings.push(...badChecksumLines(options.interface, bad));
  } catch (err) {
    if (!(err instanceof PcapWriteError)) throw err;
    errors.push(err.message);
    source.stop();
  } finally {
    // Back to the normal screen, as it was, whatever ended the capture (an error included).
    screen?.leave();
    unhook();
    boost?.restore();
  }
  // The normal screen is back before anything else is said (stderr is not buffered).
  if (screen) await out.flush();
  // One last look at /proc before the open flows are finished (and streamed, for ndjson).
  attribution.finish();
  try {
    writer?.close();
  } catch (err) {
    if (!(err instanceof PcapWriteError)) throw err;
    errors.push(err.message);
  }

  engine.finish();
  const summary = engine.summary();
  let ruleFailed = false;
  if (rules !== null && facts !== null) {
    const all = facts.facts(engine.flows());
    const verdicts = rules.map((r) => evaluate(r, all));
    const warnings = [...source.info.warnings, ...checksumWarnings, ...summary.warnings];
    errors.push(...writeVerdicts(options, out, verdicts, [source.info], warnings));
    ruleFailed = verdicts.some((v) => !v.pass);
  } else if (!streaming) {
    const flows = selectFlows(engine.flows(), selection);
    for (const f of flows) attribution.attribute(f);
    const warnings = [...source.info.warnings, ...checksumWarnings, ...summary.warnings, ...attribution.warnings];
    if (format === 'json') {
      for (const chunk of flowsJsonChunks(flows, [source.info], warnings, { digits: 9, summary })) out.write(chunk);
    } else if (format === 'dot' || format === 'mermaid') {
      const report = buildDemux(flows);
      out.write(format === 'dot' ? renderDemuxDot(report) : renderDemuxMermaid(report));
    } else {
      const w = width();
      out.write(renderFlowsTable(flows, { digits: 6, summary, width: w, analysis: options.analysis }));
      // The demux picture of what was captured: which key tells each port's flows apart.
      if (flows.length > 0) {
        out.write('\n' + wrapText(renderDemuxTable(buildDemux(flows)), w));
      }
    }
  } else if (pending) {
    await pending;
  }
  if (options.report !== undefined && ladders !== null) {
    // The page of what was captured, with each end's process where it was seen (streaming
    // output attributed each flow as it ended; the other outputs above, or here).
    const open = engine.flows().filter((f) => !streamed?.has(f.id));
    for (const f of open) attribution.attribute(f);
    const flows = selectFlows(streamed === null ? open : [...streamed.values(), ...open], selection);
    const html = renderReportHtml({
      captures: [source.info], flows, ladders: ladders.ladders(flows), ladderLimit: REPORT_LADDERS, maxLadderPackets: LADDER_PACKETS,
      summary, digits: 6, version: VERSION,
      warnings: [...source.info.warnings, ...checksumWarnings, ...summary.warnings, ...attribution.warnings],
    });
    const failed = writeReportFile(options.report, html);
    if (failed !== null) errors.push(failed);
  }
  // As tcpdump does at the end, always: what was captured, and what the kernel dropped when
  // that can be known.
  const kernel = source.stats.kernelDropped !== undefined ? `, ${source.stats.kernelDropped} dropped by kernel` : '';
  io.stderr.write(`flowdemux: ${source.stats.received} packets captured${kernel} (${source.stopReason ?? 'stop'})` +
    `${options.write ? `, written to ${safeText(options.write)}` : ''}\n`);
  attribution.close();
  return { errors, warnings: [...source.info.warnings, ...checksumWarnings, ...summary.warnings, ...attribution.warnings], ruleFailed };
}

export async function runInterfaces(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const list = listInterfaces();
  if (options.format === 'json') {
    out.write(JSON.stringify(list, null, 1) + '\n');
  } else {
    // Each fact in its own column: a device without addresses shows none, not its description.
    // On a narrow terminal the description is cut first, then the addresses.
    const cols: Column[] = [
      { head: 'name', cells: list.interfaces.map((i) => i.name) },
      { head: 'loopback', cells: list.interfaces.map((i) => (i.loopback ? 'yes' : '')) },
      { head: 'addresses', cells: list.interfaces.map((i) => i.addresses.join(', ')), min: 20, cut: 'end' },
      { head: 'description', cells: list.interfaces.map((i) => i.description ?? ''), min: 11, cut: 'end' },
    ];
    const width = reportWidth(io.stdout);
    out.write(renderColumns(width === undefined ? cols : fitColumns(cols, width, [cutToFit('description', width)]), width));
  }
  const warnings = list.source === 'os' && list.reason ? [`showing the OS's interfaces: ${list.reason}`] : [];
  return { errors: [], warnings };
}
