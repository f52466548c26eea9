/** `flowdemux flows`: packets into flows by tuple, reported as table, JSON, NDJSON, CSV or Zeek. */
import type { CaptureInfo } from '../core/frame.js';
import type { Flow } from '../core/flow.js';
import { flowsCsvChunks } from '../report/csv.js';
import { flowJsonBound, flowsJsonChunks, flowsJsonHead, flowsJsonTail, writeFlowJson, type FlowsDocumentOptions } from '../report/json.js';
import { FlowJsonStore } from '../report/json-store.js';
import { flowMatcher, selectFlows } from '../report/select.js';
import { renderFlowsTable } from '../report/table.js';
import { zeekConnLogChunks } from '../report/zeek.js';
import {
  WRITING_REPORT, flowSelection, noPacketsKept, noPacketsLine, readCommandFlows, writeReport, type CommandResult, type Io,
} from './command.js';
import type { Options } from './options.js';
import type { Output } from './output.js';
import { reportWidth } from './terminal.js';
import { inputName } from '../pipeline/read.js';

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
  const { engine, read, digits } = await readCommandFlows(options, io, out, {
    engine: streaming || store ? { onFlowEnd } : {}, // --analysis: engineSettings
    // From a pipe, a closed connection is written when it is over, not when later traffic
    // (or the end of the input) releases it.
    endOnClose: streaming,
    nextPhase: streaming ? undefined : WRITING_REPORT,
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
  if (read.captures.length > 0 && streaming) {
    if (pending) await pending;
  } else if (read.captures.length > 0) {
    await writeReport(read, io, async (beforeOutput) => {
      if (store) {
        beforeOutput();
        await writeStoredDocument(out, store, read.captures, warnings, { digits, summary });
        return;
      }
      const flows = selectFlows(engine.flows(), selection);
      if (options.format !== 'table') beforeOutput();
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
          await writeChunks(out, flowsCsvChunks(flows, { digits, analysis: options.analysis }));
          break;
        case 'zeek':
          await writeChunks(out, zeekConnLogChunks(flows, { checksums: options.checksums }));
          break;
        default: {
          if (flows.length === 0 && noPacketsKept(read)) {
            read.progress.done();
            io.stderr.write(noPacketsLine(read));
            return;
          }
          const table = renderFlowsTable(flows, { digits, summary, width: reportWidth(io.stdout), analysis: options.analysis });
          beforeOutput();
          out.write(table);
        }
      }
    });
  }
  return { errors: read.errors, warnings };
}
