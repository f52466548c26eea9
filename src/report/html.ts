/**
 * `flowdemux report`: one self-contained HTML page, to open offline in any browser, mail to a
 * colleague or put on a projector. It holds the demux picture (svg-demux.ts) with the demux
 * text beside it, the timeline (timeline.ts), the flows table (sortable and filterable by the
 * page's own small script) and the ladder of each TCP connection with its ends' TCP states
 * (svg-ladder.ts).
 *
 * Safe to open: every text from the capture or the host goes through `xmlText`; the page's
 * Content-Security-Policy allows no network access at all (`default-src 'none'`), and only the
 * page's own script and style sheet, by their SHA-256; no inline event handler, no style
 * attribute, no URL but the page's own fragments.
 *
 * Big captures: what goes in is capped, and the page says what was left out: the picture holds
 * the busiest server ports (`picturePorts`, at most `pictureFlows` flows each), the timeline at
 * most `maxLanes` lanes, the table the first `maxRows` flows, the ladders the first connections
 * the caller collected. The demux text covers every flow.
 */
import { createHash } from 'node:crypto';
import type { CaptureInfo } from '../core/frame.js';
import { linkTypeName } from '../core/linktypes.js';
import type { DemuxSummary, Flow } from '../core/flow.js';
import { buildDemux, endpointText } from '../demux/groups.js';
import { renderDemuxTable } from './demux.js';
import { durationText } from './flow-time.js';
import { REPORT_SCRIPT, REPORT_STYLE } from './html-assets.js';
import type { LadderPacket } from './ladder.js';
import { endOwnerLabel } from './labels.js';
import { renderLadderSvg } from './svg-ladder.js';
import { renderDemuxPicture } from './svg-demux.js';
import { xmlText } from './svg.js';
import { isoTime } from './time.js';
import { renderTimelineSvg } from './timeline.js';

export interface ReportLadder {
  flow: Flow;
  /** Its packets in capture order, at most `maxLadderPackets` of them. */
  packets: LadderPacket[];
  /** Each packet's `packets --explain` line (which socket the receiving kernel hands it to), parallel to `packets`. */
  explain?: string[];
}

export interface HtmlReportInput {
  captures: readonly CaptureInfo[];
  /** The flows the report is about (all of them: the caps below apply here). */
  flows: readonly Flow[];
  /** The ladders collected, in flow id order. */
  ladders: readonly ReportLadder[];
  /** How many ladders were asked for (the first N TCP connections). */
  ladderLimit: number;
  /** Packets a ladder holds at most. */
  maxLadderPackets: number;
  summary?: DemuxSummary;
  warnings?: readonly string[];
  /** Fraction digits of the times. */
  digits?: number;
  /** flowdemux's version, for the page's header. */
  version?: string;
  /** Flows in the table at most (default 1000: a browser lays out a table of 5000 rows in seconds). */
  maxRows?: number;
  /** Timeline lanes at most (default 300). */
  maxLanes?: number;
  /** Server ports in the demux picture at most, the busiest (renderDemuxPicture's default). */
  picturePorts?: number;
  /** Flows of one port in the picture at most (renderDemuxPicture's default). */
  pictureFlows?: number;
}

/** `'sha256-…'` of a script or style sheet's exact text, for the Content-Security-Policy. */
export function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * The page's policy: nothing from anywhere (`default-src 'none'`), the inline script and style
 * sheet by hash only, no <base>, no form submission.
 */
export function reportCsp(): string {
  return [
    "default-src 'none'",
    `script-src ${cspHash(REPORT_SCRIPT)}`,
    `style-src ${cspHash(REPORT_STYLE)}`,
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function endText(f: Flow, which: 'client' | 'server'): string {
  return f.proto === 'tcp' || f.proto === 'udp' ? endpointText(f[which]) : f[which].ip;
}

interface Column {
  head: string;
  numeric: boolean;
  cell: (f: Flow) => { text: string; v?: number | string; mono?: boolean };
}

/**
 * The columns of `flows`, both directions counted, and what the flow speaks (JSON's service and
 * summary); from live capture, each end's process after its address, as the flows table has them.
 */
function columns(digits: number, processes: boolean): Column[] {
  const n = (text: string, v: number) => ({ text, v });
  const owner = (which: 'client' | 'server'): Column[] => (processes
    ? [{ head: `${which} process`, numeric: false, cell: (f) => ({ text: endOwnerLabel(f[which]) }) }]
    : []);
  return [
    { head: 'id', numeric: true, cell: (f) => n(f.generation > 1 ? `${f.id} #${f.generation}` : String(f.id), f.id) },
    { head: 'proto', numeric: false, cell: (f) => ({ text: f.proto }) },
    { head: 'client', numeric: false, cell: (f) => ({ text: endText(f, 'client'), mono: true }) },
    ...owner('client'),
    { head: 'server', numeric: false, cell: (f) => ({ text: endText(f, 'server'), mono: true }) },
    ...owner('server'),
    { head: 'start (UTC)', numeric: false, cell: (f) => ({ text: isoTime(f.start.sec, f.start.nsec, digits), mono: true }) },
    { head: 'duration', numeric: true, cell: (f) => n(durationText(f, digits), f.duration) },
    { head: 'pkts →', numeric: true, cell: (f) => n(String(f.toServer.packets), f.toServer.packets) },
    { head: 'pkts ←', numeric: true, cell: (f) => n(String(f.toClient.packets), f.toClient.packets) },
    { head: 'bytes →', numeric: true, cell: (f) => n(String(f.toServer.wireBytes), f.toServer.wireBytes) },
    { head: 'bytes ←', numeric: true, cell: (f) => n(String(f.toClient.wireBytes), f.toClient.wireBytes) },
    { head: 'state', numeric: false, cell: (f) => ({ text: f.state, mono: true }) },
    { head: 'history', numeric: false, cell: (f) => ({ text: f.history, mono: true }) },
    // From the packets' bytes (an HTTP target, a TLS server name): text, escaped like any other.
    { head: 'service', numeric: false, cell: (f) => ({ text: f.service ?? '' }) },
    { head: 'summary', numeric: false, cell: (f) => ({ text: f.summary ?? '' }) },
    ...analysisColumns(),
  ];
}

const ms = (s: number): string => (s * 1000).toFixed(3);

/**
 * A TCP flow's analysis (flows --analysis): the retransmissions of every kind, each mark seen
 * with its count (by tshark's names, so the filter finds `duplicate_ack`), the handshake and the
 * ACK round trips of each direction's data (smallest/median, sorted by the median), in ms. Empty
 * for flows without one.
 */
function analysisColumns(): Column[] {
  const rtt = (f: Flow, which: 'toServer' | 'toClient') => {
    const r = f.analysis?.ackRtt[which];
    return r == null ? { text: '' } : { text: `${ms(r.min)} / ${ms(r.median)}`, v: r.median };
  };
  return [
    {
      head: 'retrans', numeric: true, cell: (f) => {
        const m = f.analysis?.marks;
        if (m === undefined) return { text: '' };
        const n = m.retransmission + m.fast_retransmission + m.spurious_retransmission;
        return { text: String(n), v: n };
      },
    },
    {
      head: 'TCP analysis', numeric: false, cell: (f) => ({
        text: f.analysis === undefined ? '' : Object.entries(f.analysis.marks).filter(([, n]) => n > 0).map(([name, n]) => `${name} ${n}`).join(', '),
        mono: true,
      }),
    },
    {
      head: 'handshake ms', numeric: true,
      cell: (f) => (f.analysis?.handshake == null ? { text: '' } : { text: ms(f.analysis.handshake.total), v: f.analysis.handshake.total }),
    },
    { head: 'ACK RTT → ms', numeric: true, cell: (f) => rtt(f, 'toServer') },
    { head: 'ACK RTT ← ms', numeric: true, cell: (f) => rtt(f, 'toClient') },
  ];
}

function flowTable(flows: readonly Flow[], laddered: ReadonlySet<number>, digits: number, maxRows: number): string[] {
  const processes = flows.some((f) => f.client.process !== undefined || f.server.process !== undefined || f.server.listener !== undefined);
  const cols = columns(digits, processes);
  const out: string[] = [
    '<p><label for="flow-filter">Filter (every word must appear in the row): </label>'
      + '<input id="flow-filter" type="search" placeholder="e.g. tcp 8089 SF"/> <span id="flow-count" aria-live="polite"></span></p>',
    // Wider than the page (the analysis columns): the table scrolls in its own box, the page does not.
    '<div class="table-scroll"><table id="flow-table">',
    `<thead><tr>${cols.map((c) => `<th scope="col"${c.numeric ? ' data-type="number"' : ''}><button type="button">${xmlText(c.head)}</button></th>`).join('')}</tr></thead>`,
    '<tbody>',
  ];
  for (const f of flows.slice(0, maxRows)) {
    const cells = cols.map((c, i) => {
      const v = c.cell(f);
      const cls = c.numeric ? ' class="n"' : v.mono ? ' class="m"' : '';
      const data = v.v !== undefined ? ` data-v="${xmlText(String(v.v))}"` : '';
      const text = i === 0 && laddered.has(f.id) ? `<a href="#flow-${f.id}">${xmlText(v.text)}</a>` : xmlText(v.text);
      return `<td${cls}${data}>${text}</td>`;
    });
    out.push(`<tr id="row-${f.id}">${cells.join('')}</tr>`);
  }
  out.push('</tbody>', '</table></div>');
  return out;
}

/** Under a ladder: each packet's number and which socket takes it (`packets --explain`). */
function explainTable(l: ReportLadder): string {
  if (l.explain === undefined || l.explain.length === 0) return '';
  const rows = l.explain.map((text, i) => `<tr><td class="n">${l.packets[i]!.frame}</td><td class="m">${xmlText(text)}</td></tr>`);
  return '<table class="explain"><caption>Which socket the receiving host hands each packet to (packets --explain)</caption>'
    + `<thead><tr><th scope="col">No.</th><th scope="col">socket</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function captureLine(c: CaptureInfo): string {
  return `${c.path} (${c.format}, ${plural(c.packets, 'packet')}, ${c.linkTypes.map(linkTypeName).join(', ')})`;
}

/** The whole page. */
export function renderReportHtml(input: HtmlReportInput): string {
  const digits = input.digits ?? 6;
  const flows = input.flows;
  const maxRows = input.maxRows ?? 1000;
  const maxLanes = input.maxLanes ?? 300;
  const laddered = new Set(input.ladders.map((l) => l.flow.id));
  const tcp = flows.filter((f) => f.proto === 'tcp').length;
  const names = input.captures.map((c) => c.path).join(', ');
  const title = `flowdemux report: ${names}`;
  const packets = input.captures.reduce((n, c) => n + c.packets, 0);

  // What was left out, said once at the top and again where it applies.
  const leftOut: string[] = [];
  const picture = renderDemuxPicture(flows, { ports: input.picturePorts, perPort: input.pictureFlows, idPrefix: 'demux-', id: 'demux-svg' });
  if (picture.leftOut !== null) leftOut.push(`${picture.leftOut} (the demux text counts them all).`);
  const lanes = new Set(flows.map((f) => `${f.proto}|${endText(f, 'client')}|${endText(f, 'server')}`)).size;
  if (lanes > maxLanes) leftOut.push(`The timeline draws ${maxLanes} of ${lanes} lanes, the busiest ports first.`);
  if (flows.length > maxRows) leftOut.push(`The table lists the first ${maxRows} of ${plural(flows.length, 'flow')}.`);
  if (tcp > input.ladders.length) {
    const first = input.ladders.length > 0 ? ` (flows ${input.ladders[0]!.flow.id} to ${input.ladders[input.ladders.length - 1]!.flow.id})` : '';
    leftOut.push(`Ladders are drawn for the first ${plural(input.ladders.length, 'TCP connection')}${first} of ${tcp}`
      + ` (--ladders ${input.ladderLimit}).`);
  }
  const cut = input.ladders.filter((l) => l.packets.length < l.flow.toServer.packets + l.flow.toClient.packets).length;
  if (cut > 0) leftOut.push(`${plural(cut, 'ladder')} show only the first ${input.maxLadderPackets} packets of their connection.`);

  const body: string[] = [];
  body.push(`<header><h1>${xmlText(title)}</h1>`);
  body.push(`<p>${plural(packets, 'packet')}, ${plural(flows.length, 'flow')} (${tcp} TCP). Made by flowdemux${input.version !== undefined ? ` ${xmlText(input.version)}` : ''}; `
    + 'this page works offline and loads nothing.</p>');
  body.push(`<ul>${input.captures.map((c) => `<li><code>${xmlText(captureLine(c))}</code></li>`).join('')}</ul>`);
  if (leftOut.length > 0) body.push(`<div class="note" id="left-out"><p><strong>Left out to keep the page small:</strong></p><ul>${leftOut.map((l) => `<li>${xmlText(l)}</li>`).join('')}</ul></div>`);
  const warnings = input.warnings ?? [];
  if (warnings.length > 0) body.push(`<div class="note"><p><strong>Warnings:</strong></p><ul>${warnings.map((w) => `<li>${xmlText(w)}</li>`).join('')}</ul></div>`);
  body.push('<nav><a href="#demux">Demux</a><a href="#timeline">Timeline</a><a href="#flows">Flows</a><a href="#ladders">Ladders</a></nav>');
  body.push('</header>');

  body.push('<section id="demux"><h2>How the receiving host sorts the packets into sockets</h2>');
  body.push(`<figure>${picture.svg}</figure>`);
  body.push('<details><summary>The same as text (flowdemux demux)</summary>');
  body.push(`<pre>${xmlText(renderDemuxTable(buildDemux(flows)))}</pre></details>`);
  body.push('</section>');

  body.push('<section id="timeline"><h2>Timeline</h2>');
  body.push('<p>A bar from a flow\'s first packet to its last; generations of one 4-tuple on one lane. Hover a bar for the flow, click it for its ladder or row.</p>');
  const link = (f: Flow) => (laddered.has(f.id) ? `#flow-${f.id}` : `#row-${f.id}`);
  body.push(`<figure>${renderTimelineSvg(flows, { id: 'timeline-svg', maxLanes, link })}</figure>`);
  body.push('</section>');

  body.push(`<section id="flows"><h2>Flows</h2>`);
  body.push(...flowTable(flows, laddered, digits, maxRows));
  if (flows.some((f) => f.analysis !== undefined)) {
    body.push('<p class="note">TCP flows carry tshark\'s TCP analysis: <em>retrans</em> counts retransmissions (plain, fast and spurious), '
      + '<em>TCP analysis</em> each mark its segments got (the ladders show which), <em>handshake</em> is SYN to ACK, and the ACK round '
      + 'trips are smallest / median: → of the client\'s data (the server\'s ACKs), ← of the server\'s.</p>');
  }
  if (flows.length > maxRows) body.push(`<p class="note">The first ${maxRows} of ${plural(flows.length, 'flow')}; flowdemux flows lists them all.</p>`);
  body.push('</section>');

  body.push('<section id="ladders"><h2>Ladders of the TCP connections</h2>');
  if (input.ladders.length === 0) body.push('<p>No TCP connections.</p>');
  for (const l of input.ladders) {
    const f = l.flow;
    const summary = `flow ${f.id}${f.generation > 1 ? ` #${f.generation}` : ''}: ${endText(f, 'client')} → ${endText(f, 'server')}, ${f.state}, ${plural(f.toServer.packets + f.toClient.packets, 'packet')}`;
    body.push(`<details id="flow-${f.id}"><summary>${xmlText(summary)}</summary><figure>`
      + `${renderLadderSvg(f, l.packets, { digits, idPrefix: `ladder-${f.id}-` })}</figure>${explainTable(l)}</details>`);
  }
  if (tcp > input.ladders.length) body.push(`<p class="note">${xmlText(leftOut.find((t) => t.startsWith('Ladders')) ?? '')} flowdemux ladder --flow ID draws any of them.</p>`);
  body.push('</section>');

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8"/>',
    `<meta http-equiv="Content-Security-Policy" content="${xmlText(reportCsp())}"/>`,
    '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
    '<meta name="referrer" content="no-referrer"/>',
    `<title>${xmlText(title)}</title>`,
    `<style>${REPORT_STYLE}</style>`,
    '</head>',
    '<body>',
    ...body,
    `<script>${REPORT_SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
