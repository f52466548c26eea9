/**
 * The timeline: when each flow was open, as SVG. One lane per tuple (protocol and the two
 * ends), so that the generations of a reused 4-tuple follow each other on one lane; lanes
 * grouped by server port, the busiest ports first; a bar per flow from its first packet to its
 * last, with a `<title>` (the tooltip: id, tuple, state, packets). "Two connections at once on
 * port 80" is two bars over each other; "three, one after another, on 8089" three bars one after
 * the other on one lane.
 *
 * A bar's x and width are the flow's start and end on one linear time axis (a flow of one
 * packet gets a minimum width to stay visible). TCP bars are green, UDP purple, others grey,
 * each with its own fill pattern for print; a refused flow is a dotted outline.
 */
import type { Flow } from '../core/flow.js';
import { endpointText } from '../demux/groups.js';
import { durationText } from './flow-time.js';
import { FILL, linesWidth, num, PALETTE, svgDocument, svgText, xmlText } from './svg.js';

export interface TimelineOptions {
  /** Lanes drawn at most; the rest are counted in a line under the picture (default 300). */
  maxLanes?: number;
  /** Total width in px (default 960). */
  width?: number;
  /** `id` of the root `<svg>`. */
  id?: string;
  /** A link for a flow's bar (`#flow-4` in the HTML report), or null for none. */
  link?: (flow: Flow) => string | null;
  title?: string;
}

/** One lane: a tuple's flows in time order. */
interface Lane {
  label: string;
  flows: Flow[];
}

interface PortGroup {
  title: string;
  lanes: Lane[];
  flows: number;
  firstId: number;
}

const FONT = 11;
const LANE_H = 18;
const BAR_H = 12;
const GROUP_H = 22;
const AXIS_H = 30;
const TOP = 34;
const MIN_BAR = 2;

const BAR_LOOK: Record<string, { fill: string; stroke: string }> = {
  tcp: { fill: PALETTE.connection, stroke: '#00694d' },
  udp: { fill: PALETTE.udp, stroke: '#8f4f76' },
  other: { fill: '#999999', stroke: '#555555' },
};

function endText(f: Flow, which: 'client' | 'server'): string {
  const e = f[which];
  return f.proto === 'tcp' || f.proto === 'udp' ? endpointText(e) : e.ip;
}

/** The tuple that names a lane: generations of one 4-tuple share it. */
function laneKey(f: Flow): string {
  return `${f.proto}|${endText(f, 'client')}|${endText(f, 'server')}|${f.ipProtocol ?? ''}`;
}

function groupKey(f: Flow): string {
  return f.proto === 'tcp' || f.proto === 'udp' ? `${f.proto}|${f.server.port}` : `${f.proto}|${f.ipProtocol ?? ''}`;
}

function groupTitle(f: Flow): string {
  if (f.proto === 'tcp' || f.proto === 'udp') return `${f.proto} port ${f.server.port}`;
  return `${f.proto} (no ports)`;
}

/** The tooltip of a bar: `flow 4 #2: tcp 127.0.0.3:5775 → 127.0.0.1:8089, state SF, 10 packets (6 →, 4 ←), 0.3 s`. */
export function barTitle(f: Flow): string {
  const gen = f.generation > 1 ? ` #${f.generation}` : '';
  const packets = f.toServer.packets + f.toClient.packets;
  return `flow ${f.id}${gen}: ${f.proto} ${endText(f, 'client')} → ${endText(f, 'server')}, state ${f.state}, `
    + `${packets} packets (${f.toServer.packets} →, ${f.toClient.packets} ←), ${durationText(f, 6)} s`;
}

/** Flows into port groups (busiest first) of tuple lanes (first flow first). */
export function timelineGroups(flows: readonly Flow[]): PortGroup[] {
  const groups = new Map<string, PortGroup & { byTuple: Map<string, Lane> }>();
  for (const f of flows) {
    const gk = groupKey(f);
    let g = groups.get(gk);
    if (g === undefined) {
      g = { title: groupTitle(f), lanes: [], flows: 0, firstId: f.id, byTuple: new Map() };
      groups.set(gk, g);
    }
    g.flows++;
    const lk = laneKey(f);
    let lane = g.byTuple.get(lk);
    if (lane === undefined) {
      lane = { label: `${endText(f, 'client')} → ${endText(f, 'server')}`, flows: [] };
      g.byTuple.set(lk, lane);
      g.lanes.push(lane);
    }
    lane.flows.push(f);
  }
  return [...groups.values()]
    .map(({ byTuple: _, ...g }) => g)
    .sort((a, b) => b.flows - a.flows || a.firstId - b.firstId);
}

const seconds = (t: { sec: number; nsec: number }, base: { sec: number; nsec: number }) => (t.sec - base.sec) + (t.nsec - base.nsec) / 1e9;

/** A tick step of 1, 2 or 5 × 10^k seconds giving about `want` ticks over `span`. */
function tickStep(span: number, want: number): number {
  const raw = span / want;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/** The timeline as a standalone SVG document. */
export function renderTimelineSvg(flows: readonly Flow[], opts: TimelineOptions = {}): string {
  const maxLanes = opts.maxLanes ?? 300;
  const width = opts.width ?? 960;
  const title = opts.title ?? 'When each flow was open: one lane per tuple, grouped by server port';
  const groups = timelineGroups(flows);
  // Keep whole lanes, busiest ports first, up to maxLanes.
  let lanesLeft = maxLanes;
  let hiddenLanes = 0;
  let hiddenFlows = 0;
  const shown: (PortGroup & { allLanes: number })[] = [];
  for (const g of groups) {
    const take = Math.max(0, Math.min(lanesLeft, g.lanes.length));
    lanesLeft -= take;
    for (const l of g.lanes.slice(take)) {
      hiddenLanes++;
      hiddenFlows += l.flows.length;
    }
    if (take > 0) shown.push({ ...g, lanes: g.lanes.slice(0, take), allLanes: g.lanes.length });
  }
  const labels = shown.flatMap((g) => g.lanes.map((l) => l.label));
  const labelW = Math.min(linesWidth(labels, FONT), 46 * 0.61 * FONT) + 24;
  const x0 = labelW;
  const plotW = Math.max(200, width - x0 - 16);
  let t0 = flows[0]?.start ?? { sec: 0, nsec: 0 };
  let span = 0;
  for (const f of flows) if (seconds(f.start, t0) < 0) t0 = f.start;
  for (const f of flows) span = Math.max(span, seconds(f.end, t0));
  if (span <= 0) span = 1e-6;
  const xOf = (s: number) => x0 + (s / span) * plotW;

  const body: string[] = [svgText(16, 20, [title], { size: 13, weight: 'bold', fill: PALETTE.ink })];
  let y = TOP;
  for (const g of shown) {
    const more = g.lanes.length < g.allLanes ? `, ${g.lanes.length} of its ${g.allLanes} lanes drawn` : '';
    body.push(`<g class="port-group">${svgText(16, y + 15, [`${g.title}: ${g.flows} flow${g.flows === 1 ? '' : 's'}${more}`], { size: 12, weight: 'bold', fill: PALETTE.ink })}`);
    y += GROUP_H;
    for (const lane of g.lanes) {
      const parts = [
        `<rect x="${num(x0)}" y="${num(y)}" width="${num(plotW)}" height="${LANE_H}" fill="${FILL.client}" fill-opacity="0.5"/>`,
        svgText(24, y + 13, [lane.label], { size: FONT, fill: PALETTE.ink }),
      ];
      for (const f of lane.flows) {
        const bx = xOf(seconds(f.start, t0));
        const bw = Math.max(MIN_BAR, xOf(seconds(f.end, t0)) - bx);
        const look = BAR_LOOK[f.proto === 'tcp' || f.proto === 'udp' ? f.proto : 'other']!;
        const refused = f.state === 'REJ';
        const fill = refused ? 'none' : look.fill;
        const dash = refused ? ' stroke-dasharray="2 2"' : '';
        const bar = `<rect class="bar" data-flow="${f.id}" x="${num(bx)}" y="${num(y + (LANE_H - BAR_H) / 2)}" width="${num(bw)}" height="${BAR_H}" `
          + `fill="${fill}" stroke="${refused ? PALETTE.closed : look.stroke}" stroke-width="1"${dash}><title>${xmlText(barTitle(f))}</title></rect>`;
        const href = opts.link?.(f) ?? null;
        parts.push(href === null ? bar : `<a href="${xmlText(href)}">${bar}</a>`);
        // The generation number beside a later generation's bar, where there is room.
        if (f.generation > 1) parts.push(svgText(bx + bw + 2, y + 12, [`#${f.generation}`], { size: 9, fill: PALETTE.ink }));
      }
      body.push(`<g class="lane">${parts.join('')}</g>`);
      y += LANE_H;
    }
    body.push('</g>');
    y += 4;
  }
  // The time axis under the lanes: seconds since the first packet.
  const step = tickStep(span, Math.max(2, Math.floor(plotW / 90)));
  const axis: string[] = [`<line x1="${num(x0)}" y1="${num(y + 4)}" x2="${num(x0 + plotW)}" y2="${num(y + 4)}" stroke="${PALETTE.grey}"/>`];
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  for (let s = 0; s <= span + step / 1e6; s += step) {
    const x = xOf(s);
    axis.push(`<line x1="${num(x)}" y1="${num(TOP)}" x2="${num(x)}" y2="${num(y + 8)}" stroke="#bbbbbb" stroke-width="0.5"/>`);
    axis.push(svgText(x, y + 20, [`${s.toFixed(digits)} s`], { size: 10, anchor: 'middle', fill: PALETTE.grey }));
  }
  body.push(`<g class="axis">${axis.join('')}</g>`);
  y += AXIS_H;
  if (hiddenLanes > 0) {
    body.push(svgText(16, y + 12, [`${hiddenLanes} more lanes (${hiddenFlows} flows) of the quieter ports are not drawn`], { size: 11, fill: PALETTE.ink }));
    y += 20;
  }
  if (flows.length === 0) {
    body.push(svgText(16, y + 12, ['No flows.'], { size: 11, fill: PALETTE.ink }));
    y += 20;
  }
  return svgDocument({
    width, height: y + 8, title, id: opts.id,
    desc: 'Seconds since the capture\'s first flow on the horizontal axis; a bar from a flow\'s first packet to its last.',
  }, body);
}
