/** `flowdemux packets`: one line a packet, as a table or NDJSON, with the flow it demuxes to. */
import type { CaptureInfo } from '../capture/frame.js';
import { explainPacket } from '../demux/explain.js';
import { PACKET_TABLE_HEADER, packetJson, packetTableLine, type PacketLineContext } from '../report/packets.js';
import { readFlows } from './flows.js';
import type { CommandResult, Io } from './main.js';
import { noPacketsLine } from './read.js';
import type { Options } from './options.js';
import type { Output } from './output.js';

/** Fraction digits for times: nanoseconds when any capture has them. */
export function timeDigits(captures: CaptureInfo[]): number {
  return captures.some((c) => c.precision !== null && c.precision !== 'us' && c.precision !== 'ms') ? 9 : 6;
}

export async function runPackets(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const ctx: PacketLineContext = { baseSec: -1, baseNsec: 0, digits: 6, multi: options.captures.length > 1 };
  const table = options.format === 'table';
  const { engine, read } = await readFlows(options, io, out, {
    // Flows are only needed for their ids here: a no-op onFlowEnd keeps the engine from
    // holding finished flows, so memory stays bounded on any capture.
    engine: { onFlowEnd: () => undefined },
    onDigits: (d) => (ctx.digits = d),
    after: (ref, frame, pkt) => {
      if (ctx.baseSec < 0) {
        ctx.baseSec = frame.tsSec;
        ctx.baseNsec = frame.tsNsec;
        if (table) out.write(PACKET_TABLE_HEADER + '\n');
      }
      const why = options.explain ? explainPacket(pkt, ref) : undefined;
      return out.write(table ? packetTableLine(frame, pkt, ref, ctx, why) : packetJson(frame, pkt, ref, ctx.digits, why));
    },
  });
  if (read.packets === 0 && read.captures.length > 0) {
    io.stderr.write(noPacketsLine(read));
  }
  return { errors: read.errors, warnings: [...read.warnings, ...engine.summary().warnings] };
}
