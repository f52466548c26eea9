/** `flowdemux flows`: packets into flows by tuple, reported as table, JSON, NDJSON, CSV or Zeek. */
import type { CaptureInfo, Frame } from '../capture/frame.js';
import { DemuxEngine } from '../demux/engine.js';
import type { DemuxOptions, Flow, FlowRef } from '../demux/types.js';
import type { Packet } from '../parse/packet.js';
import { tryParseAddress } from '../parse/format.js';
import {
  FlowJsonStore, flowJsonBound, flowMatcher, flowsCsvChunks, flowsJsonChunks, flowsJsonHead, flowsJsonTail,
  renderFlowsTable, selectFlows, writeFlowJson, zeekConnLogChunks, type FlowSelection, type FlowsDocumentOptions,
} from '../report/flows.js';
import type { CommandResult, Io } from './main.js';
import { UsageError, type Options } from './options.js';
import type { Output } from './output.js';
import { timeDigits } from './packets.js';
import { inputName, noPacketsLine, readCaptures, type ReadResult } from './read.js';

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
 * With a streaming input (a pipe or FIFO: see FrameSource.streaming), whatever the command
 * queued on `out` is sent after every batch, as its packets arrived, and with `endOnClose` the
 * engine hands over each TCP connection when it is over (DemuxOptions.endOnClose).
 */
export async function readFlows(
  options: Options, io: Io, out: Output,
  hooks: {
    engine?: DemuxOptions;
    /** With a streaming input: DemuxEngine.handOverOnClose (needs `engine.onFlowEnd`). */
    endOnClose?: boolean;
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
      progress: options.progress ?? (io.stderr.isTTY ? 'auto' : false),
      stdin: io.stdin,
      shouldStop: () => out.closed,
      onStart: (captures, streaming) => {
        if (streaming && hooks.endOnClose === true) engine.handOverOnClose();
        state.digits = timeDigits(captures);
        hooks.onDigits?.(state.digits);
      },
      afterBatch: () => out.sendQueued(),
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

/** One flow's JSON and a newline, rendered straight into the output's pending bytes. */
function writeFlowLine(out: Output, flow: Flow, digits: number): Promise<void> | undefined {
  const buf = out.reserve(flowJsonBound(flow) + 1);
  const end = writeFlowJson(buf, out.end, flow, digits);
  buf[end] = 0x0a; // \n
  return out.commit(end + 1);
}

/**
 * The JSON document with the flows kept in `store`, in id order: the same bytes as
 * flowsJsonChunks. Stops when the reader went away.
 */
async function writeStoredDocument(
  out: Output, store: FlowJsonStore, captures: readonly CaptureInfo[], warnings: readonly string[], opts: FlowsDocumentOptions,
): Promise<void> {
  let wait = out.write(flowsJsonHead(captures));
  if (wait) await wait;
  let any = false;
  for (let id = 1, top = store.maxId; id <= top && !out.closed; id++) {
    const n = store.size(id);
    if (n === 0) continue;
    const buf = out.reserve(n + 2);
    let p = out.end;
    if (any) buf[p++] = 0x2c; // ,
    buf[p++] = 0x0a; // \n
    any = true;
    wait = out.commit(store.copyTo(id, buf, p));
    if (wait) await wait;
    else if ((id & 4095) === 0) await out.settle();
  }
  if (!out.closed) out.write(flowsJsonTail(any, warnings, opts));
}

export async function runFlows(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const selection = flowSelection(options);
  const unordered = selection.sort === undefined && selection.limit === undefined;
  // NDJSON without sorting streams: each flow is written when it ends, and not kept.
  const streaming = options.format === 'ndjson' && unordered;
  // JSON without sorting keeps each flow's bytes, not the flow, until the document is written.
  const store = options.format === 'json' && unordered ? new FlowJsonStore() : null;
  const matches = flowMatcher(selection);
  let pending: Promise<void> | undefined;
  let streamDigits = 6;
  const onFlowEnd = store
    ? (flow: Flow) => {
      if (matches(flow)) store.add(flow);
    }
    : (flow: Flow) => {
      if (!matches(flow)) return;
      const w = writeFlowLine(out, flow, streamDigits);
      if (w) pending = w;
    };
  const { engine, read, digits } = await readFlows(options, io, out, {
    engine: streaming || store ? { onFlowEnd } : {},
    // From a pipe, a closed connection is written when it is over, not when later traffic
    // (or the end of the input) releases it.
    endOnClose: streaming,
    onDigits: (d) => {
      streamDigits = d;
      if (store) store.digits = d;
    },
    after: () => {
      const p = pending;
      pending = undefined;
      return p;
    },
  });
  const summary = engine.summary(inputName(read));
  const warnings = [...read.warnings, ...summary.warnings];
  if (read.captures.length > 0) {
    if (streaming) {
      if (pending) await pending;
    } else if (store) {
      await writeStoredDocument(out, store, read.captures, warnings, { digits, summary });
    } else {
      const flows = selectFlows(engine.flows(), selection);
      switch (options.format) {
        case 'json':
          await writeChunks(out, flowsJsonChunks(flows, read.captures, warnings, { digits, summary }));
          break;
        case 'ndjson':
          for (const f of flows) {
            const wait = writeFlowLine(out, f, digits);
            if (wait) await wait;
            if (out.closed) break;
          }
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
