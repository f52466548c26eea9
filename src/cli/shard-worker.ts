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

/** The flows `work.selection` keeps, rendered one after another; `ends[i]`: where flow i's bytes end. */
function render(flows: readonly Flow[], format: ShardFormat, digits: number): { bytes: Uint8Array; ends: Float64Array } {
  const matches = flowMatcher(work.selection);
  let buf = new Uint8Array(1 << 20);
  let end = 0;
  const room = (n: number) => {
    if (end + n <= buf.length) return;
    const grown = new Uint8Array(Math.max(buf.length * 2, end + n));
    grown.set(buf.subarray(0, end));
    buf = grown;
  };
  const encoder = new TextEncoder();
  const ends = new Float64Array(flows.length);
  for (let i = 0; i < flows.length; i++) {
    const flow = flows[i]!;
    if (matches(flow)) {
      if (format === 'json' || format === 'ndjson') {
        room(flowJsonBound(flow) + 1);
        end = writeFlowJson(buf, end, flow, digits);
        if (format === 'ndjson') buf[end++] = 0x0a;
      } else {
        const line = format === 'ecs' ? ecsLine(flow, { digits }) : zeekJsonLine(flow);
        room(line.length * 3);
        end += encoder.encodeInto(line, buf.subarray(end)).written;
      }
    }
    ends[i] = end;
  }
  return { bytes: buf.subarray(0, end), ends };
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
  const { bytes, ends } = render(done.flows, work.format, m.digits);
  send({ t: 'bytes', bytes, ends }, [bytes.buffer as ArrayBuffer, ends.buffer as ArrayBuffer]);
}

main().catch((err: Error) => send({ t: 'error', message: err.message }));
