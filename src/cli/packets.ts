/** `flowdemux packets`: one line a packet, as a table or NDJSON. */
import type { CaptureInfo } from '../capture/frame.js';
import { PACKET_TABLE_HEADER, packetJson, packetTableLine, type PacketLineContext } from '../report/packets.js';
import type { CommandResult, Io } from './main.js';
import type { Options } from './options.js';
import type { Output } from './output.js';
import { readCaptures } from './read.js';

/** Fraction digits for times: nanoseconds when any capture has them. */
export function timeDigits(captures: CaptureInfo[]): number {
  return captures.some((c) => c.precision !== null && c.precision !== 'us' && c.precision !== 'ms') ? 9 : 6;
}

export async function runPackets(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const ctx: PacketLineContext = { baseSec: -1, baseNsec: 0, digits: 6, multi: options.captures.length > 1 };
  const table = options.format === 'table';
  const result = await readCaptures(
    options.captures,
    (frame, pkt) => {
      if (ctx.baseSec < 0) {
        ctx.baseSec = frame.tsSec;
        ctx.baseNsec = frame.tsNsec;
        if (table) out.write(PACKET_TABLE_HEADER + '\n');
      }
      return table ? out.write(packetTableLine(frame, pkt, null, ctx)) : out.write(packetJson(frame, pkt, null, ctx.digits));
    },
    {
      progress: options.progress ?? Boolean(io.stderr.isTTY),
      stdin: io.stdin,
      shouldStop: () => out.closed,
      onStart: (captures) => {
        ctx.digits = timeDigits(captures);
      },
    },
  );
  if (result.packets === 0 && result.captures.length > 0) {
    io.stderr.write(`flowdemux: no packets in ${result.captures.map((c) => c.path).join(', ')}\n`);
  }
  return { errors: result.errors, warnings: result.warnings };
}
