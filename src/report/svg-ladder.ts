/**
 * One connection's ladder as SVG: the terminal ladder's content (report/ladder.ts: frame number,
 * time since the flow's first packet, flags on the arrow, relative seq/ack, window, length and
 * TCP analysis marks after it) drawn as a sequence diagram, the client's line on the left, the
 * server's on the right, one arrow a packet. Every text is a `<text>`, so it can be selected and
 * searched in the page; analysis marks are in vermillion and bold, so they stand out in print too.
 * Beside each line, that end's TCP state after the packet (tcp-states.ts): bold where the packet
 * changed it.
 */
import type { Flow } from '../core/flow.js';
import { arrowLabel, infoText, relativeNumbers, titleOf, type LadderPacket } from './ladder.js';
import { arrowMarker, linesWidth, num, PALETTE, svgDocument, svgText } from './svg.js';
import { relativeText } from './time.js';
import { tcpStates } from './tcp-states.js';

const FONT = 11;
const ROW = 22;
const TOP = 76;
const ARROW_W = 260;

export interface LadderSvgOptions {
  digits?: number;
  /** Prefix of the ids inside the SVG (its arrow marker), unique in a page. */
  idPrefix?: string;
  /** Packets drawn at most (default all); the picture says how many more there were. */
  maxPackets?: number;
}

/** The ladder of `flow` (its `packets` in capture order) as a standalone SVG document. */
export function renderLadderSvg(flow: Flow, packets: readonly LadderPacket[], opts: LadderSvgOptions = {}): string {
  const digits = opts.digits ?? 6;
  const idp = opts.idPrefix ?? 'fd-ladder-';
  const { title, client, server } = titleOf(flow);
  const total = flow.toServer.packets + flow.toClient.packets;
  const shown = packets.slice(0, opts.maxPackets ?? packets.length);
  const rel = relativeNumbers(shown);
  const base = shown[0];
  const rows = shown.map((p, i) => ({
    head: `${p.frame}  ${base === undefined ? '' : relativeText(p.sec, p.nsec, base.sec, base.nsec, digits)}`,
    label: arrowLabel(p),
    info: infoText(p, rel[i]!),
    toServer: p.toServer,
  }));
  // Each end's TCP state after each packet, beside its line (a TCP connection only).
  const states = flow.proto === 'tcp' ? tcpStates(shown) : null;
  const stateW = states === null ? 0 : linesWidth(['SYN-RECEIVED'], FONT) + 12;
  const headW = Math.max(linesWidth(['No.  Time'], FONT), linesWidth(rows.map((r) => r.head), FONT)) + 16;
  const left = 16 + headW + Math.max(stateW, linesWidth([client], FONT) / 2 - 20);
  const right = left + Math.max(ARROW_W, linesWidth(rows.map((r) => r.label), FONT) + 40, (linesWidth([client], FONT) + linesWidth([server], FONT)) / 2 + 30);
  const infoX = right + Math.max(12 + stateW, linesWidth([server], FONT) / 2 - 20) + 12;
  const infoW = linesWidth(rows.map((r) => r.info), FONT);
  const bottom = TOP + rows.length * ROW + 8;
  const body: string[] = [
    svgText(16, 20, [title], { size: 12, weight: 'bold', fill: PALETTE.ink }),
    svgText(16, TOP - 12, ['No.  Time'], { size: FONT, fill: PALETTE.grey }),
    svgText(left, 44, [client], { size: FONT, anchor: 'middle', weight: 'bold', fill: PALETTE.ink }),
    svgText(right, 44, [server], { size: FONT, anchor: 'middle', weight: 'bold', fill: PALETTE.ink }),
    `<line x1="${num(left)}" y1="${TOP - 6}" x2="${num(left)}" y2="${num(bottom)}" stroke="${PALETTE.grey}" stroke-width="1.5"/>`,
    `<line x1="${num(right)}" y1="${TOP - 6}" x2="${num(right)}" y2="${num(bottom)}" stroke="${PALETTE.grey}" stroke-width="1.5"/>`,
  ];
  if (states !== null) {
    const note = states.assumed ? ' (assumed: no SYN seen)' : '';
    body.push(`<g class="states initial">${svgText(left - 8, TOP - 12, [states.initial.client + note], { size: 10, anchor: 'end', fill: PALETTE.grey })}`
      + `${svgText(right + 8, TOP - 12, [states.initial.server], { size: 10, fill: PALETTE.grey })}</g>`);
  }
  let before = states === null ? null : { client: states.initial.client, server: states.initial.server };
  rows.forEach((r, i) => {
    const y = TOP + i * ROW + 14;
    const c = states?.client[i] ?? null;
    const s = states?.server[i] ?? null;
    if (c !== null && s !== null && before !== null) {
      // A state that changed with this packet in bold; one that stayed in grey.
      const look = (now: string, was: string) => (now === was ? { fill: PALETTE.grey } : { fill: PALETTE.ink, weight: 'bold' as const });
      body.push(`<g class="states">${svgText(left - 8, y + 4, [c], { size: 10, anchor: 'end', ...look(c, before.client) })}`
        + `${svgText(right + 8, y + 4, [s], { size: 10, ...look(s, before.server) })}</g>`);
      before = { client: c, server: s };
    }
    const [x1, x2] = r.toServer ? [left, right - 2] : [right, left + 2];
    const marksAt = r.info.indexOf('  [');
    const numbers = marksAt < 0 ? r.info : r.info.slice(0, marksAt);
    const marks = marksAt < 0 ? '' : r.info.slice(marksAt + 2);
    const parts = [
      svgText(16, y, [r.head], { size: FONT, fill: PALETTE.ink }),
      `<line x1="${num(x1)}" y1="${num(y)}" x2="${num(x2)}" y2="${num(y)}" stroke="${PALETTE.ink}" stroke-width="1.2" marker-end="url(#${idp}arrow)"/>`,
      svgText((left + right) / 2, y - 4, [r.label], { size: FONT, anchor: 'middle', fill: PALETTE.ink }),
      svgText(infoX, y + 4, [numbers], { size: FONT, fill: PALETTE.ink }),
    ];
    if (marks !== '') {
      parts.push(svgText(infoX + linesWidth([`${numbers}  `], FONT), y + 4, [marks], { size: FONT, weight: 'bold', fill: PALETTE.closed }));
    }
    body.push(`<g class="packet ${r.toServer ? 'to-server' : 'to-client'}">${parts.join('')}</g>`);
  });
  let height = bottom + 8;
  if (shown.length < total) {
    const what = shown.length === 0 ? 'no packets of this flow were collected' : `the first ${shown.length} of its ${total} packets are drawn`;
    body.push(svgText(16, height + 10, [`(${what})`], { size: FONT, fill: PALETTE.ink }));
    height += 20;
  }
  return svgDocument({
    width: Math.max(infoX + infoW + 16, linesWidth([title], 12) + 32),
    height,
    title,
    desc: 'One arrow a packet, client on the left, server on the right; relative sequence numbers as Wireshark shows them.',
    defs: arrowMarker(`${idp}arrow`, PALETTE.ink),
  }, body);
}

