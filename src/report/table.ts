/**
 * Flows as a terminal table (cli-table3).
 */
import type CliTable from 'cli-table3';
import { createRequire } from 'node:module';
import type { DemuxSummary, Flow, PacketKind } from '../core/flow.js';
import { isoTime } from './time.js';
import { digitsOf, durationText, missedOf, type TimeOptions } from './flow-time.js';
import { endOwnerLabel } from './labels.js';

function endText(ip: string, port: number, proto: Flow['proto']): string {
  if (proto === 'icmp' || proto === 'icmpv6') return ip; // type/code are not ports
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

const KIND_ORDER: PacketKind[] = [
  'icmp', 'icmpv6', 'fragment-pending', 'fragment-unmatched', 'non-ip', 'damaged', 'other-ip-protocol',
];

// cli-table3 (and the string-width tables it loads) takes about 10 ms to load: only the table
// format needs it, so the JSON and NDJSON runs skip it.
let tableClass: typeof CliTable | undefined;
function loadTable(): typeof CliTable {
  tableClass ??= createRequire(import.meta.url)('cli-table3') as typeof CliTable;
  return tableClass;
}

export interface TableOptions extends TimeOptions {
  /** Adds a line counting the packets that are in no flow. */
  summary?: DemuxSummary;
}

/**
 * The terminal table: id (#generation when > 1), proto, client, server, packets and wire bytes
 * each way, start, duration, state, and the missed bytes when some flow has sequence gaps. Start is the time of day when every flow starts on the same
 * UTC date (the date goes in the column title), else the full ISO time.
 */
export function renderFlowsTable(flows: readonly Flow[], opts?: TableOptions): string {
  const digits = digitsOf(opts);
  const starts = flows.map((f) => isoTime(f.start.sec, f.start.nsec, digits));
  const dates = new Set(starts.map((s) => s.slice(0, 10)));
  const oneDate = dates.size === 1 ? [...dates][0]! : null;
  // Live capture with process attribution: each end's process after its address (files have none).
  const procs = flows.some((f) => f.client.process !== undefined || f.server.process !== undefined || f.server.listener !== undefined);
  const proc = endOwnerLabel;
  // Capture loss: a `missed` column only when some flow has sequence gaps.
  const missedTotal = (f: Flow) => missedOf(f.toServer) + missedOf(f.toClient);
  const gaps = flows.some((f) => missedTotal(f) > 0);
  const Table = loadTable();
  const table = new Table({
    head: ['id', 'proto', 'client', ...(procs ? ['client process'] : []), 'server', ...(procs ? ['server process'] : []),
      'pkts →', 'bytes →', 'pkts ←', 'bytes ←', oneDate ? `start (${oneDate} UTC)` : 'start (UTC)', 'duration', 'state',
      ...(gaps ? ['missed'] : [])],
    colAligns: ['right', 'left', 'left', ...(procs ? ['left' as const] : []), 'left', ...(procs ? ['left' as const] : []),
      'right', 'right', 'right', 'right', 'left', 'right', 'left', ...(gaps ? ['right' as const] : [])],
    style: { head: [], border: [], compact: true },
  });
  flows.forEach((f, i) => {
    const start = starts[i]!;
    table.push([
      f.generation > 1 ? `${f.id} #${f.generation}` : String(f.id),
      f.proto,
      endText(f.client.ip, f.client.port, f.proto) + (f.rolesInferred ? ' ?' : ''),
      ...(procs ? [proc(f.client)] : []),
      endText(f.server.ip, f.server.port, f.proto),
      ...(procs ? [proc(f.server)] : []),
      f.toServer.packets, f.toServer.wireBytes, f.toClient.packets, f.toClient.wireBytes,
      oneDate ? start.slice(11, -1) : start,
      durationText(f, digits),
      f.state,
      ...(gaps ? [missedTotal(f) > 0 ? missedTotal(f) : ''] : []),
    ]);
  });
  let out = table.toString() + '\n';
  if (flows.some((f) => f.rolesInferred)) out += '? client guessed: no SYN seen (higher port taken as the client)\n';
  if (gaps) out += 'missed: TCP bytes sent but never captured (sequence gaps), both ways; missedBytes per direction in --format json\n';
  const s = opts?.summary;
  if (s) {
    const parts = KIND_ORDER.filter((k) => s.byKind[k] > 0).map((k) => `${s.byKind[k]} ${k}`);
    out += `${flows.length} flow${flows.length === 1 ? '' : 's'} shown; ${s.packets} packets read`;
    out += parts.length > 0 ? `; without ports: ${parts.join(', ')}\n` : '\n';
  }
  return out;
}
