/** `flowdemux demux` (which key tells a port's flows apart) and `flowdemux ladder` (one connection). */
import { buildDemux } from '../demux/groups.js';
import type { Flow, FlowRef } from '../core/flow.js';
import { newPacket } from '../core/packet.js';
import { packetOfFlow } from '../pipeline/flows.js';
import { renderDemuxDot, renderDemuxJson, renderDemuxMermaid, renderDemuxTable } from '../report/demux.js';
import { filterFlows } from '../report/select.js';
import { renderDemuxPicture } from '../report/svg-demux.js';
import { ladderPacket, renderLadder, renderLadderJson, renderLadderMermaid, type LadderPacket } from '../report/ladder.js';
import {
  WRITING_REPORT, checkFlowGeneration, flowSelection, noPacketsKept, noPacketsLine, noSuchFlow, readCommandFlows, writeReport,
  type CommandResult, type Io,
} from './command.js';
import { inputName } from '../pipeline/read.js';
import type { Options } from './options.js';
import type { Output } from './output.js';
import { reportWidth } from './terminal.js';
import { wrapText } from '../report/fit.js';

export async function runDemux(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const selection = flowSelection(options);
  const { engine, read } = await readCommandFlows(options, io, out, { nextPhase: WRITING_REPORT });
  const summary = engine.summary(inputName(read));
  const warnings = [...read.warnings, ...summary.warnings];
  if (read.captures.length === 0) return { errors: read.errors, warnings };
  await writeReport(read, io, (beforeOutput) => {
    const selected = filterFlows(engine.flows(), selection);
    const report = buildDemux(selected);
    let text: string;
    switch (options.format) {
      case 'json':
        text = renderDemuxJson(report, { captures: read.captures, warnings, summary });
        break;
      case 'dot':
        text = renderDemuxDot(report);
        break;
      case 'mermaid':
        text = renderDemuxMermaid(report);
        break;
      case 'svg':
        // The busiest ports only, on a big capture (the picture says so).
        text = renderDemuxPicture(selected).svg;
        break;
      default: {
        if (noPacketsKept(read)) {
          read.progress.done();
          io.stderr.write(noPacketsLine(read));
          return;
        }
        // On a terminal, long lines are wrapped under their own indentation, not by the terminal.
        text = wrapText(renderDemuxTable(report), reportWidth(io.stdout));
      }
    }
    beforeOutput();
    out.write(text);
  });
  return { errors: read.errors, warnings };
}

export async function runLadder(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const flow = options.flow!;
  const id = flow.id;
  const packets: LadderPacket[] = [];
  let target: Flow | null = null;
  const layer = newPacket();
  const layerRef: FlowRef = { id: 0, generation: 0, toServer: true, via: 'ports' };
  // Only the one flow is kept: the engine streams every other flow away as it ends.
  const { engine, read, digits } = await readCommandFlows(options, io, out, {
    engine: { onFlowEnd: (f) => { if (f.id === id) target = f; } },
    after: (frame, pkt, ref, eng) => {
      // A UDP tunnel's flow: its datagrams, not the packets inside them.
      const view = packetOfFlow(eng, pkt, ref, id, layer, layerRef);
      if (view !== null) packets.push(ladderPacket(frame, view[0], view[1]));
      return undefined;
    },
  });
  const warnings = [...read.warnings, ...engine.summary(inputName(read)).warnings];
  if (read.captures.length === 0) return { errors: read.errors, warnings };
  if (target === null) throw noSuchFlow(flow, read, engine.summary().flows, options.keep !== undefined);
  checkFlowGeneration(flow, (target as Flow).generation);
  const render = options.format === 'json' ? renderLadderJson : options.format === 'mermaid' ? renderLadderMermaid : renderLadder;
  out.write(render(target, packets, { digits, fit: reportWidth(io.stdout) }));
  return { errors: read.errors, warnings };
}
