/** `flowdemux packets`: one line a packet, as a table or NDJSON, with the flow it demuxes to. */
import { statSync } from 'node:fs';
import { NoSocketLookahead } from '../demux/closed.js';
import { explainPacket } from '../demux/explain.js';
import { WindowScales } from '../demux/window-scale.js';
import { PACKET_TABLE_HEADER, PACKET_TABLE_HEADER_NARROW, packetJson, packetTableLine, type PacketLineContext } from '../report/packets.js';
import type { FlowRef } from '../core/flow.js';
import { newPacket, type Packet } from '../core/packet.js';
import type { DemuxEngine } from '../demux/engine.js';
import { packetOfFlow } from '../pipeline/flows.js';
import { packetFlowMatcher } from '../report/select.js';
import {
  checkFlowGeneration, flowSelection, noPacketsKept, noPacketsLine, noSuchFlow, readCommandFlows, type CommandResult, type Io,
} from './command.js';
import { inputName, readCaptures } from '../pipeline/read.js';
import type { Options } from './options.js';
import type { Output } from './output.js';
import { reportWidth } from './terminal.js';
import { cutText, wrapLine } from '../report/fit.js';

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * `--explain` on files: which datagrams and SYNs found no socket (closed port) is only known from
 * the answer that follows them, so the files are read ahead first (src/demux/closed.ts). A pipe
 * cannot be read twice: there the explanation says it at the answer (the ICMP error) instead.
 */
async function noSocketLookahead(options: Options): Promise<NoSocketLookahead | null> {
  const paths = options.captures;
  if (!options.explain || paths.length === 0 || !paths.every(isFile)) return null;
  const ahead = new NoSocketLookahead(paths.length > 1);
  // Errors and warnings are the main pass's to report.
  // With --filter, the answers are those the filtered capture would hold.
  const read = { progress: false, filter: options.keep };
  await readCaptures(paths, (_frame, pkt) => ahead.collect(pkt), read);
  if (!ahead.needed) return null;
  await readCaptures(paths, (frame, pkt) => ahead.resolve(frame, pkt), read);
  return ahead;
}

/**
 * Which packets are printed, and as what (every one the filter kept, without these options):
 * --flow, then --proto/--port/--host by the packet's flow, as `flows` selects flows. --flow ID#N
 * checks the generation at the flow's first packet, before any of its lines. A UDP tunnel's flow
 * (--flow of a VXLAN flow) shows its datagrams, not the packets inside them.
 */
function packetSelection(options: Options): ((pkt: Packet, ref: FlowRef | null, engine: DemuxEngine) => [Packet, FlowRef | null] | null) | null {
  const sel = flowSelection(options);
  const byFlow = sel.proto === undefined && sel.port === undefined && sel.host === undefined ? null : packetFlowMatcher(sel);
  const flow = options.flow;
  if (flow === undefined) return byFlow === null ? null : (pkt, ref) => (byFlow(pkt, ref) ? [pkt, ref] : null);
  let checked = false;
  const layer = newPacket();
  const layerRef: FlowRef = { id: 0, generation: 0, toServer: true, via: 'ports' };
  return (pkt, ref, engine) => {
    const view = packetOfFlow(engine, pkt, ref, flow.id, layer, layerRef);
    if (view === null) return null;
    if (!checked) {
      checkFlowGeneration(flow, view[1].generation);
      checked = true;
    }
    return byFlow === null || byFlow(view[0], view[1]) ? view : null;
  };
}

/** Narrower terminals get the narrow layout: the full one leaves Info less than ~30 columns. */
const NARROW_BELOW = 130;

export async function runPackets(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const select = packetSelection(options);
  let shown = 0;
  const ctx: PacketLineContext = { baseSec: -1, baseNsec: 0, digits: 6, multi: options.captures.length > 1, windows: new WindowScales() };
  const ahead = await noSocketLookahead(options);
  const table = options.format === 'table';
  // On a terminal: each packet on one line cut at its width (the terminal would wrap it), the
  // explanation wrapped under it; below NARROW_BELOW columns without the link and wire columns.
  const width = table ? reportWidth(io.stdout) : undefined;
  ctx.narrow = width !== undefined && width < NARROW_BELOW;
  const fit = width === undefined ? (t: string) => t
    : (t: string) => t.split('\n').map((l, i) => (i === 0 ? cutText(l, width) : wrapLine(l, width).join('\n'))).join('\n');
  // Packets written to the terminal as they are read are the progress: no line to mix with them.
  const quiet = table && io.stdout.isTTY && options.progress === undefined ? { ...options, progress: false } : options;
  const { engine, read } = await readCommandFlows(quiet, io, out, {
    // Flows are only needed for their ids here: a no-op onFlowEnd keeps the engine from
    // holding finished flows, so memory stays bounded on any capture.
    // The TCP analysis, segment by segment: marks only (no round trips kept for medians).
    engine: { onFlowEnd: () => undefined, tcpAnalysis: 'marks' },
    onDigits: (d) => (ctx.digits = d),
    after: (frame, inner, innerRef, engine) => {
      let pkt = inner;
      let ref = innerRef;
      if (select !== null) {
        const view = select(inner, innerRef, engine);
        if (view === null) return undefined;
        [pkt, ref] = view;
      }
      // The tunnels' own flows that counted the frame too, when the packet shown is the inner one.
      const tunnels = pkt === inner ? engine.outerIds() : undefined;
      shown++;
      if (ctx.baseSec < 0) {
        ctx.baseSec = frame.tsSec;
        ctx.baseNsec = frame.tsNsec;
        if (table) out.write(fit((ctx.narrow ? PACKET_TABLE_HEADER_NARROW : PACKET_TABLE_HEADER) + '\n'));
      }
      const why = options.explain ? explainPacket(pkt, ref, ahead?.note(frame)) : undefined;
      // The engine's analysis is of the innermost TCP segment: not of a tunnel's datagram shown instead.
      const analysis = pkt === inner && ref !== null && ref.via === 'ports' ? engine.lastAnalysis : null;
      return out.write(table ? fit(packetTableLine(frame, pkt, ref, ctx, why, analysis))
        : packetJson(frame, pkt, ref, ctx.digits, why, ctx.windows, tunnels, analysis));
    },
  });
  if (read.captures.length > 0 && options.flow !== undefined && shown === 0 && !out.closed) {
    throw noSuchFlow(options.flow, read, engine.summary().flows, options.keep !== undefined);
  }
  if (noPacketsKept(read) && read.captures.length > 0) {
    io.stderr.write(noPacketsLine(read));
  }
  return { errors: read.errors, warnings: [...read.warnings, ...engine.summary(inputName(read)).warnings] };
}
