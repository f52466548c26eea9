/** `flowdemux flows`: packets into flows by tuple, reported as table, JSON, NDJSON, CSV or Zeek. */
import type { Frame } from '../capture/frame.js';
import { DemuxEngine } from '../demux/engine.js';
import type { DemuxOptions, Flow, FlowRef } from '../demux/types.js';
import type { Packet } from '../parse/packet.js';
import { tryParseAddress } from '../parse/format.js';
import {
  filterFlows, flowsCsvChunks, flowsJsonChunks, flowToNdjsonLine, renderFlowsTable, selectFlows, zeekConnLogChunks,
  type FlowSelection,
} from '../report/flows.js';
import type { CommandResult, Io } from './main.js';
import { UsageError, type Options } from './options.js';
import type { Output } from './output.js';
import { timeDigits } from './packets.js';
import { noPacketsLine, readCaptures, type ReadResult } from './read.js';

/** Engine options from the command line: one --idle-timeout for every protocol. */
export function engineOptions(options: Options, extra: DemuxOptions = {}): DemuxOptions {
  const o: DemuxOptions = { ...extra };
  if (options.idleTimeout !== undefined) {
    o.tcpIdleTimeout = o.udpIdleTimeout = o.icmpIdleTimeout = options.idleTimeout;
  }
  if (options.maxFlows !== undefined) o.maxFlows = options.maxFlows;
  return o;
}

export function flowSelection(options: Options): FlowSelection {
  if (options.host !== undefined && tryParseAddress(options.host) === null) {
    throw new UsageError(`--host '${options.host}' is not an IPv4 or IPv6 address`);
  }
  return { proto: options.proto, port: options.port, host: options.host, sort: options.sort, limit: options.limit };
}

export interface FlowRead {
  engine: DemuxEngine;
  read: ReadResult;
  /** Fraction digits for times (6, or 9 when a capture has nanoseconds). */
  digits: number;
}

/**
 * Reads the captures through a demux engine; shared by flows, demux and ladder. `after` runs
 * after each packet was ingested and may return a promise to wait on (output backpressure).
 */
export async function readFlows(
  options: Options, io: Io, out: Output,
  hooks: {
    engine?: DemuxOptions;
    after?: (ref: FlowRef | null, frame: Frame, pkt: Packet) => Promise<void> | undefined;
    onDigits?: (digits: number) => void;
  } = {},
): Promise<FlowRead> {
  const engine = new DemuxEngine(engineOptions(options, hooks.engine));
  const after = hooks.after;
  const state: FlowRead = { engine, read: undefined as unknown as ReadResult, digits: 6 };
  state.read = await readCaptures(
    options.captures,
    (frame, pkt) => {
      const ref = engine.ingest(pkt, frame.tsSec, frame.tsNsec);
      return after?.(ref, frame, pkt);
    },
    {
      progress: options.progress ?? Boolean(io.stderr.isTTY),
      stdin: io.stdin,
      shouldStop: () => out.closed,
      onStart: (captures) => {
        state.digits = timeDigits(captures);
        hooks.onDigits?.(state.digits);
      },
    },
  );
  engine.finish();
  return state;
}

async function writeChunks(out: Output, chunks: Iterable<string>): Promise<void> {
  for (const c of chunks) {
    const wait = out.write(c);
    if (wait) await wait;
    if (out.closed) return;
  }
}

export async function runFlows(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const selection = flowSelection(options);
  // NDJSON without sorting streams: each flow is written when it ends, and not kept.
  const streaming = options.format === 'ndjson' && selection.sort === undefined && selection.limit === undefined;
  let pending: Promise<void> | undefined;
  let streamDigits = 6;
  const onFlowEnd = (flow: Flow) => {
    if (filterFlows([flow], selection).length === 0) return;
    const w = out.write(flowToNdjsonLine(flow, { digits: streamDigits }));
    if (w) pending = w;
  };
  const { engine, read, digits } = await readFlows(options, io, out, {
    engine: streaming ? { onFlowEnd } : {},
    onDigits: (d) => (streamDigits = d),
    after: () => {
      const p = pending;
      pending = undefined;
      return p;
    },
  });
  const summary = engine.summary();
  const warnings = [...read.warnings, ...summary.warnings];
  if (read.captures.length > 0) {
    if (streaming) {
      if (pending) await pending;
    } else {
      const flows = selectFlows(engine.flows(), selection);
      switch (options.format) {
        case 'json':
          await writeChunks(out, flowsJsonChunks(flows, read.captures, warnings, { digits, summary }));
          break;
        case 'ndjson':
          await writeChunks(out, (function* () { for (const f of flows) yield flowToNdjsonLine(f, { digits }); })());
          break;
        case 'csv':
          await writeChunks(out, flowsCsvChunks(flows, { digits }));
          break;
        case 'zeek':
          await writeChunks(out, zeekConnLogChunks(flows));
          break;
        default:
          if (flows.length === 0 && read.packets === 0) io.stderr.write(noPacketsLine(read));
          else out.write(renderFlowsTable(flows, { digits, summary }));
      }
    }
  }
  return { errors: read.errors, warnings };
}
