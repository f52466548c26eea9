/**
 * `flowdemux flows`: packets into flows by tuple, reported as table, JSON, NDJSON, CSV, Zeek
 * (conn.log as TSV or JSON lines), ECS documents or Parquet; to standard output or --output FILE.
 */
import type { CaptureInfo } from '../core/frame.js';
import type { Flow } from '../core/flow.js';
import type { ShardFormat } from './shards.js';
import { flowsCsvChunks } from '../report/csv.js';
import { flowsJsonChunks, flowsJsonHead, flowsJsonTail, type FlowsDocumentOptions } from '../report/json.js';
import { FlowJsonStore } from '../report/json-store.js';
import { flowMatcher, selectFlows } from '../report/select.js';
import { renderFlowsTable } from '../report/table.js';
import { zeekConnLogChunks } from '../report/zeek.js';
import {
  WRITING_REPORT, flowLineWriter, flowSelection, isLineFormat, openOutputFile, outputErrorText, noPacketsKept, noPacketsLine, readCommandFlows, writeReport, type CommandResult, type Io,
} from './command.js';
import { UsageError, VERSION, type Options } from './options.js';
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

/**
 * The JSON document with the flows kept in `store`, in id order: the same bytes as
 * flowsJsonChunks. Stops when the reader went away.
 */
async function writeStoredDocument(
  out: Output, body: (out: Output) => Promise<boolean>, captures: readonly CaptureInfo[], warnings: readonly string[], opts: FlowsDocumentOptions,
): Promise<void> {
  const wait = out.write(flowsJsonHead(captures));
  if (wait) await wait;
  const any = await body(out);
  if (!out.closed) out.write(flowsJsonTail(any, warnings, opts));
}

/** The flows kept in `store` as the document's array items, in id order; whether there was any. */
async function writeStore(out: Output, store: FlowJsonStore): Promise<boolean> {
  let any = false;
  for (let id = 1, top = store.maxId; id <= top && !out.closed; id++) {
    const n = store.size(id);
    if (n === 0) continue;
    const buf = out.reserve(n + 2);
    let p = out.end;
    if (any) buf[p++] = 0x2c; // ,
    buf[p++] = 0x0a; // \n
    any = true;
    const wait = out.commit(store.copyTo(id, buf, p));
    if (wait) await wait;
    else if ((id & 4095) === 0) await out.settle();
  }
  return any;
}

export async function runFlows(options: Options, io: Io, stdout: Output): Promise<CommandResult> {
  const parquet = options.format === 'parquet';
  const toFile = options.output !== undefined && options.output !== '-';
  if (parquet && !toFile && io.stdout.isTTY === true) {
    throw new UsageError('--format parquet writes binary: name a file with --output FILE (or send it to a file or pipe: > flows.parquet)');
  }
  // Checked (and the file made) before the captures are read, not after a long read.
  const file = toFile ? openOutputFile(options.output!) : null;
  const out = file?.out ?? stdout;
  let result: CommandResult & { wrote?: boolean };
  try {
    result = await writeFlows(options, io, out, file !== null);
  } finally {
    if (file) await file.close();
  }
  if (file) {
    if (file.out.error) result.errors.push(`cannot write ${options.output}: ${outputErrorText(file.out.error)}`);
    // No capture could be read: no file is left behind, as nothing would be in it.
    else if (file.out.closed === false && result.errors.length > 0 && !result.wrote) file.remove();
  }
  return result;
}

async function writeFlows(options: Options, io: Io, out: Output, toFile: boolean): Promise<CommandResult & { wrote?: boolean }> {
  const selection = flowSelection(options);
  const unordered = selection.sort === undefined && selection.limit === undefined;
  // NDJSON (and the other line formats) without sorting streams: each flow is written when it
  // ends, and not kept. Parquet too: a row group at a time.
  // The Parquet writer (and its library, ~70 ms to load) only when asked for.
  const parquet = options.format === 'parquet'
    ? new (await import('../report/parquet.js')).FlowParquetWriter((bytes) => out.writeBytes(bytes), { createdBy: `flowdemux ${VERSION}`, capture: options.captureLabel, analysis: options.analysis })
    : null;
  const streaming = (isLineFormat(options.format) || parquet !== null) && unordered;
  const writeLine = parquet ? (_out: Output, flow: Flow) => parquet.add(flow) : flowLineWriter(options.format);
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
      const w = writeLine(out, flow, streamDigits);
      if (w) pending = w;
    };
  const onDigits = (d: number) => {
    streamDigits = d;
    if (store) store.digits = d;
  };
  const after = () => {
    const p = pending;
    pending = undefined;
    return p;
  };
  // --jobs N on one input: its flows over N threads; the line formats and JSON rendered there.
  const jobs = options.each ? 1 : options.jobs ?? 1;
  const threadFormat = (store !== null || (streaming && parquet === null)) ? options.format as ShardFormat : null;
  const sharded = jobs > 1 ? await (await import('./shards.js')).readShardedFlows(options, io, jobs, threadFormat, selection) : null;
  if (sharded !== null) {
    onDigits(sharded.digits);
    if (streaming && sharded.write === null) {
      for (const flow of sharded.handedOut) {
        onFlowEnd(flow);
        const wait = after();
        if (wait) await wait;
        if (out.closed) break;
      }
    }
  }
  const { engine, read, digits } = sharded ?? await readCommandFlows(options, io, out, {
    engine: streaming || store ? { onFlowEnd } : {}, // --analysis: engineSettings
    // From a pipe, a closed connection is written when it is over, not when later traffic
    // (or the end of the input) releases it.
    endOnClose: streaming,
    nextPhase: streaming ? undefined : WRITING_REPORT,
    onDigits,
    after,
  });
  const summary = engine.summary(inputName(read));
  const warnings = [...read.warnings, ...summary.warnings];
  if (read.captures.length > 0 && streaming) {
    if (sharded?.write) await sharded.write(out);
    if (pending) await pending;
    if (parquet) await parquet.finish();
  } else if (read.captures.length > 0) {
    await writeReport(read, io, async (beforeOutput) => {
      if (store) {
        beforeOutput();
        await writeStoredDocument(out, sharded?.write ?? ((o) => writeStore(o, store)), read.captures, warnings, { digits, summary });
        return;
      }
      const flows = selectFlows(engine.flows(), selection);
      if (options.format !== 'table') beforeOutput();
      switch (options.format) {
        case 'json':
          await writeChunks(out, flowsJsonChunks(flows, read.captures, warnings, { digits, summary }));
          break;
        case 'ndjson':
        case 'zeek-json':
        case 'ecs':
          for (const f of flows) {
            const wait = writeLine(out, f, digits);
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
        case 'parquet':
          for (const f of flows) {
            const wait = parquet!.add(f);
            if (wait) await wait;
            if (out.closed) break;
          }
          await parquet!.finish();
          break;
        default: {
          if (flows.length === 0 && noPacketsKept(read)) {
            read.progress.done();
            io.stderr.write(noPacketsLine(read));
            return;
          }
          const table = renderFlowsTable(flows, { digits, summary, width: toFile ? undefined : reportWidth(io.stdout), analysis: options.analysis });
          beforeOutput();
          out.write(table);
        }
      }
    });
  }
  return { errors: read.errors, warnings, wrote: read.captures.length > 0 };
}
