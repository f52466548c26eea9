/**
 * Flows as a terminal table (cli-table3).
 */
import type CliTable from 'cli-table3';
import { createRequire } from 'node:module';
import type { DemuxSummary, Flow, MarkName, PacketKind } from '../core/flow.js';
import { isoTime } from './time.js';
import { digitsOf, durationText, missedOf, type TimeOptions } from './flow-time.js';
import { endOwnerLabel } from './labels.js';
import { boxedWidth, dropColumns, fitColumns, renderColumns, replaceColumns, wrapText, type Column, type FitStep } from './fit.js';

function endText(ip: string, port: number, proto: Flow['proto']): string {
  // ICMP's type/code are not ports; other IP protocols have none.
  if (proto !== 'tcp' && proto !== 'udp') return ip;
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
  /**
   * The terminal's width: a table wider than this is narrowed (flowsFitSteps) and drawn without
   * the box; absent (piped output), the full boxed table.
   */
  width?: number;
  /** flows --analysis: columns of the TCP analysis (retransmissions, duplicate ACKs, round trips). */
  analysis?: boolean;
}

/** `http GET example.com/ -> 200`: the service and the summary of both ends' first bytes. */
export function saysText(f: Flow): string {
  if (f.service === undefined) return '';
  return f.summary !== undefined && f.summary !== '' ? `${f.service} ${f.summary}` : f.service;
}

const total = (f: Flow, key: 'packets' | 'wireBytes') => String(f.toServer[key] + f.toClient[key]);

/**
 * What goes first when the flows do not fit, least missed first: the bytes each way become one
 * total, the start loses its fraction of a second, the packets each way become one total, then
 * the bytes, the start, what the flow says, the processes (live) and the duration go. What stays: id, proto,
 * client, server, packets, state (and missed); then the addresses are cut in the middle.
 */
function flowsFitSteps(flows: readonly Flow[], starts: readonly string[], oneDate: string | null): FitStep[] {
  return [
    dropColumns('ooo', 'zero win'),
    dropColumns('ack rtt ms'),
    replaceColumns(['bytes →', 'bytes ←'], () => ({ head: 'bytes', cells: flows.map((f) => total(f, 'wireBytes')), align: 'right' })),
    replaceColumns([startHead(oneDate)], () => ({
      head: oneDate ? 'start UTC' : 'start (UTC)',
      // To the second: the time of day, or the date and time when the flows span several dates.
      cells: starts.map((s) => (oneDate ? s.slice(11, 19) : `${s.slice(0, 10)} ${s.slice(11, 19)}`)),
    })),
    replaceColumns(['pkts →', 'pkts ←'], () => ({ head: 'pkts', cells: flows.map((f) => total(f, 'packets')), align: 'right' })),
    dropColumns('bytes'),
    dropColumns(oneDate ? 'start UTC' : 'start (UTC)'),
    dropColumns('says'),
    dropColumns('client process', 'server process'),
    dropColumns('duration'),
  ];
}

/** Milliseconds to 3 decimals (a microsecond). */
const ms = (s: number): string => (s * 1000).toFixed(3);

/** flows --analysis: a few counts and the round trips; empty cells for flows without analysis (not TCP). */
function analysisColumns(flows: readonly Flow[], col: (head: string, align: 'left' | 'right', cell: (f: Flow) => string | number) => Column): Column[] {
  const count = (f: Flow, ...names: MarkName[]) => (f.analysis === undefined ? '' : names.reduce((n, m) => n + f.analysis!.marks[m], 0));
  return [
    col('retrans', 'right', (f) => count(f, 'retransmission', 'fast_retransmission', 'spurious_retransmission')),
    col('dup ack', 'right', (f) => count(f, 'duplicate_ack')),
    col('ooo', 'right', (f) => count(f, 'out_of_order')),
    col('zero win', 'right', (f) => count(f, 'zero_window')),
    col('handshake ms', 'right', (f) => (f.analysis?.handshake == null ? '' : ms(f.analysis.handshake.total))),
    col('ack rtt ms', 'right', (f) => {
      const r = f.analysis?.ackRtt.toServer;
      return r == null ? '' : `${ms(r.min)}/${ms(r.median)}`;
    }),
  ];
}

function startHead(oneDate: string | null): string {
  return oneDate ? `start (${oneDate} UTC)` : 'start (UTC)';
}

/**
 * The terminal table: id (#generation when > 1), proto, client, server, packets and wire bytes
 * each way, start, duration, state, what the flow says (service and summary) when some flow's
 * first bytes were recognised, and the missed bytes when some flow has sequence gaps. Start is the time of day when every flow starts on the same
 * UTC date (the date goes in the column title), else the full ISO time. With a `width` the
 * table fits it (flowsFitSteps).
 */
export function renderFlowsTable(flows: readonly Flow[], opts?: TableOptions): string {
  const digits = digitsOf(opts);
  const starts = flows.map((f) => isoTime(f.start.sec, f.start.nsec, digits));
  const dates = new Set(starts.map((s) => s.slice(0, 10)));
  const oneDate = dates.size === 1 ? [...dates][0]! : null;
  // Live capture with process attribution: each end's process after its address (files have none).
  const procs = flows.some((f) => f.client.process !== undefined || f.server.process !== undefined || f.server.listener !== undefined);
  // Capture loss: a `missed` column only when some flow has sequence gaps.
  const missedTotal = (f: Flow) => missedOf(f.toServer) + missedOf(f.toClient);
  const gaps = flows.some((f) => missedTotal(f) > 0);
  // What the flows speak (services.ts), when some flow's first bytes said it.
  const says = flows.some((f) => f.service !== undefined);
  const col = (head: string, align: 'left' | 'right', cell: (f: Flow, i: number) => string | number, cut?: Column['cut'], min?: number): Column =>
    ({ head, align, cells: flows.map((f, i) => String(cell(f, i))), cut, min });
  const end = (e: Flow['client'], f: Flow) => endText(e.ip, e.port, f.proto);
  const cols: Column[] = [
    col('id', 'right', (f) => (f.generation > 1 ? `${f.id} #${f.generation}` : String(f.id))),
    col('proto', 'left', (f) => f.proto),
    col('client', 'left', (f) => end(f.client, f) + (f.rolesInferred ? ' ?' : ''), 'middle', 15),
    ...(procs ? [col('client process', 'left', (f) => endOwnerLabel(f.client), 'end', 12)] : []),
    col('server', 'left', (f) => end(f.server, f), 'middle', 15),
    ...(procs ? [col('server process', 'left', (f) => endOwnerLabel(f.server), 'end', 12)] : []),
    col('pkts →', 'right', (f) => f.toServer.packets),
    col('bytes →', 'right', (f) => f.toServer.wireBytes),
    col('pkts ←', 'right', (f) => f.toClient.packets),
    col('bytes ←', 'right', (f) => f.toClient.wireBytes),
    col(startHead(oneDate), 'left', (_f, i) => (oneDate ? starts[i]!.slice(11, -1) : starts[i]!)),
    col('duration', 'right', (f) => durationText(f, digits)),
    col('state', 'left', (f) => f.state),
    ...(says ? [col('says', 'left', saysText, 'end', 12)] : []),
    ...(gaps ? [col('missed', 'right', (f) => (missedTotal(f) > 0 ? missedTotal(f) : ''))] : []),
    ...(opts?.analysis === true ? analysisColumns(flows, col) : []),
  ];
  const width = opts?.width;
  let out: string;
  if (width === undefined || boxedWidth(cols) <= width) {
    const Table = loadTable();
    const table = new Table({
      head: cols.map((c) => c.head),
      colAligns: cols.map((c) => c.align ?? 'left'),
      style: { head: [], border: [], compact: true },
    });
    for (let i = 0; i < flows.length; i++) table.push(cols.map((c) => c.cells[i]!));
    out = table.toString() + '\n';
  } else {
    out = renderColumns(fitColumns(cols, width, flowsFitSteps(flows, starts, oneDate)), width);
  }
  let notes = '';
  if (flows.some((f) => f.rolesInferred)) notes += '? client guessed: no SYN seen (the first sender, unless only the other end has a known server port, as Zeek guesses)\n';
  if (opts?.analysis === true) {
    notes += 'retrans: retransmissions (plain, fast, spurious); ooo: out of order; handshake: SYN to ACK; '
      + "ack rtt: the server's ACKs of the client's data, smallest/median (tshark's ack_rtt); all in --format json\n";
  }
  if (gaps) notes += 'missed: TCP bytes sent but never captured (sequence gaps), both ways; missedBytes per direction in --format json\n';
  const s = opts?.summary;
  if (s) {
    const parts = KIND_ORDER.filter((k) => s.byKind[k] > 0).map((k) => `${s.byKind[k]} ${k}`);
    notes += `${flows.length} flow${flows.length === 1 ? '' : 's'} shown; ${s.packets} packets read`;
    notes += parts.length > 0 ? `; without ports: ${parts.join(', ')}` : '';
    // --checksums validate: dropped (IP header) or left out of their flow's counts (TCP).
    const bad = s.byKind['bad-checksum'];
    notes += bad > 0 ? `; ${bad} not counted for a wrong checksum\n` : '\n';
  }
  return out + wrapText(notes, width);
}
