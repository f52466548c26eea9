/**
 * A worker thread of `flows --jobs N` (shards.ts): one shard of the input. First round: read it
 * and send what the merge needs; second: number the flows as one engine did, then render them
 * (bytes, moved to the main thread) or send them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Flow } from '../core/flow.js';
import { asOneEngine } from '../demux/shards.js';
import { readShard } from '../pipeline/shards.js';
import { ecsLine } from '../report/ecs.js';
import { flowJsonBound, writeFlowJson } from '../report/json.js';
import { flowMatcher } from '../report/select.js';
import { zeekJsonLine } from '../report/zeek.js';
import type { FromShard, ShardFormat, ShardWork, ToShard } from './shards.js';

if (parentPort === null) throw new Error('shard-worker.ts runs as a worker thread of flows --jobs');
const port = parentPort;
const send = (m: FromShard, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const work = workerData as ShardWork;

/** Bytes of a page of rendered flows: a flow never spans two pages. */
const PAGE = 1 << 20;

/**
 * The flows `work.selection` keeps, rendered into pages (new ones as they fill: growing one
 * buffer copied it, and first touches cost here); `spans[3i..3i+2]`: flow i's page, start and
 * end (start = end: not kept).
 */
function render(flows: readonly Flow[], format: ShardFormat, digits: number): { pages: Uint8Array[]; spans: Float64Array } {
  const matches = flowMatcher(work.selection);
  const pages: Uint8Array[] = [];
  let page = new Uint8Array(0);
  let end = 0;
  const room = (n: number) => {
    if (end + n <= page.length) return;
    page = new Uint8Array(Math.max(PAGE, n));
    pages.push(page);
    end = 0;
  };
  const encoder = new TextEncoder();
  const spans = new Float64Array(flows.length * 3);
  for (let i = 0; i < flows.length; i++) {
    const flow = flows[i]!;
    let start = end;
    if (matches(flow)) {
      if (format === 'json' || format === 'ndjson') {
        room(flowJsonBound(flow) + 1);
        start = end;
        end = writeFlowJson(page, end, flow, digits);
        if (format === 'ndjson') page[end++] = 0x0a;
      } else {
        const line = format === 'ecs' ? ecsLine(flow, { digits }) : zeekJsonLine(flow);
        room(line.length * 3);
        start = end;
        end += encoder.encodeInto(line, page.subarray(end)).written;
      }
    }
    spans[i * 3] = pages.length - 1;
    spans[i * 3 + 1] = start;
    spans[i * 3 + 2] = end;
  }
  return { pages, spans };
}

async function main(): Promise<void> {
  const done = await readShard(work.task, undefined, { write: (text: string) => send({ t: 'progress', text }) });
  send({ t: 'read', read: done.read, digits: done.digits, part: done.part });
  const m = await new Promise<ToShard>((resolve) => port.once('message', resolve));
  if (m.t !== 'merge') return;
  asOneEngine(done.flows, m.ids, m.forgotten, done.part.lineages);
  if (work.format === null) {
    send({ t: 'flows', flows: done.flows });
    return;
  }
  const { pages, spans } = render(done.flows, work.format, m.digits);
  send({ t: 'bytes', pages, spans }, [...pages.map((p) => p.buffer as ArrayBuffer), spans.buffer as ArrayBuffer]);
}

main().catch((err: Error) => send({ t: 'error', message: err.message }));
