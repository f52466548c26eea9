/**
 * `demux --format svg`: the demux picture of `--format dot` drawn by flowdemux itself, so that
 * no Graphviz is needed on the user's machine. The graph is the one DOT and Mermaid draw
 * (`buildGraph` in demux.ts: hosts holding ports and sockets, flows into server ports, server
 * ports fanning out to sockets); @dagrejs/dagre lays it out (ranks left to right, hosts as
 * clusters) and this module writes plain SVG from the positions.
 *
 * How each kind reads without colour: the listener is a dashed box with rounded corners, a TCP
 * connection socket a plain box, the UDP socket a box with a thick border, a closed port a
 * dotted box whose label says so; flows are thick arrows, SYNs to the listener dashed, the
 * kernel's lookup thin. A port that several flows share has a thick border and says its key.
 */
import dagre, { type EdgeLabel, type GraphLabel, type NodeLabel } from '@dagrejs/dagre';
import type { Flow } from '../core/flow.js';
import { buildDemux, type DemuxReport } from '../demux/groups.js';
import { buildGraph, DEFAULT_TITLE, portLabel, type DrawingOptions, type Edge, type PortNode, type SocketNode } from './demux.js';
import { arrowMarker, FILL, linesWidth, num, PALETTE, svgDocument, svgText } from './svg.js';

const FONT = 11;
const LINE = 14;
const PAD_X = 10;
const PAD_Y = 7;
const EDGE_FONT = 10;
/** A host's box is drawn this far inside the cluster dagre computed (dagre puts clusters side by side without a gap). */
const HOST_INSET = 4;
/** Room above the layout for the picture's title. */
const TITLE_H = 24;
/** Room for the note under the title. */
const NOTE_H = 18;

interface Box {
  lines: string[];
  width: number;
  height: number;
}

function box(text: string): Box {
  const lines = text.split('\n');
  return { lines, width: linesWidth(lines, FONT) + 2 * PAD_X, height: lines.length * LINE + 2 * PAD_Y };
}

const SOCKET_LOOK: Record<SocketNode['kind'], { stroke: string; width: number; dash?: string; rx: number }> = {
  listen: { stroke: PALETTE.listen, width: 1.5, dash: '6 3', rx: 8 },
  connection: { stroke: PALETTE.connection, width: 1.5, rx: 0 },
  unconnected: { stroke: PALETTE.udp, width: 3.5, rx: 0 },
  closed: { stroke: PALETTE.closed, width: 2, dash: '2 3', rx: 0 },
};

const EDGE_LOOK: Record<Edge['style'], { stroke: string; width: number; dash?: string }> = {
  flow: { stroke: PALETTE.ink, width: 2 },
  syn: { stroke: PALETTE.listen, width: 1.5, dash: '6 3' },
  demux: { stroke: PALETTE.grey, width: 1 },
};

export interface SvgDrawingOptions extends DrawingOptions {
  /** A line under the title (what the picture leaves out). */
  note?: string;
  /** Prefix of the ids inside the SVG (markers), so that several pictures can share one HTML page. */
  idPrefix?: string;
  /** `id` of the root `<svg>`. */
  id?: string;
}

/** The demux picture as a standalone SVG document. */
export function renderDemuxSvg(report: DemuxReport, opts: SvgDrawingOptions = {}): string {
  const graph = buildGraph(report);
  const idp = opts.idPrefix ?? 'fd-';
  const title = opts.title ?? DEFAULT_TITLE;
  const g = new dagre.graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ compound: true, multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: 70, edgesep: 12, marginx: 16, marginy: 20 });
    const ports = new Map<string, PortNode>();
  const sockets = new Map<string, SocketNode>();
  const boxes = new Map<string, Box>();
  for (const h of graph.hosts) {
    g.setNode(h.id, { width: 0, height: 0 });
    for (const p of h.ports) {
      const b = box(portLabel(p));
      boxes.set(p.id, b);
      ports.set(p.id, p);
      g.setNode(p.id, { width: b.width, height: b.height });
      g.setParent(p.id, h.id);
    }
    for (const s of h.sockets) {
      const b = box(s.label);
      boxes.set(s.id, b);
      sockets.set(s.id, s);
      g.setNode(s.id, { width: b.width, height: b.height });
      g.setParent(s.id, h.id);
    }
  }
  graph.edges.forEach((e, i) => {
    const w = linesWidth([e.label], EDGE_FONT) + 6;
    g.setEdge(e.from, e.to, { width: w, height: EDGE_FONT + 4, labelpos: 'c', minlen: 1 }, `e${i}`);
  });
  dagre.layout(g);
  const layout = g.graph();

  const body: string[] = [];
  for (const h of graph.hosts) {
    const n = g.node(h.id);
    const label = `host ${h.ip}`;
    const x = n.x! - n.width / 2 + HOST_INSET;
    const y = n.y! - n.height / 2 + HOST_INSET;
    body.push(`<g class="host"><rect x="${num(x)}" y="${num(y)}" width="${num(n.width - 2 * HOST_INSET)}" height="${num(n.height - 2 * HOST_INSET)}" rx="10" `
      + `fill="none" stroke="#999999" stroke-width="1"/>`
      // The title on the top border, as a fieldset's legend: dagre leaves no room for it inside.
      + `<rect x="${num(x + 8)}" y="${num(y - 7)}" width="${num(linesWidth([label], 12) + 8)}" height="14" fill="#ffffff"/>`
      + svgText(x + 12, y + 4, [label], { size: 12, weight: 'bold', fill: PALETTE.ink }) + '</g>');
  }
  graph.edges.forEach((e, i) => {
    const d = g.edge({ v: e.from, w: e.to, name: `e${i}` });
    const pts = d.points ?? [];
    if (pts.length < 2) return;
    const look = EDGE_LOOK[e.style];
    const path = pts.map((p: { x: number; y: number }, k: number) => `${k === 0 ? 'M' : 'L'}${num(p.x)},${num(p.y)}`).join(' ');
    const dash = look.dash !== undefined ? ` stroke-dasharray="${look.dash}"` : '';
    const parts = [`<path d="${path}" fill="none" stroke="${look.stroke}" stroke-width="${look.width}"${dash} marker-end="url(#${idp}arrow-${e.style})"/>`];
    if (d.x !== undefined && d.y !== undefined) {
      const w = d.width ?? 0;
      parts.push(`<rect x="${num(d.x - w / 2)}" y="${num(d.y - EDGE_FONT / 2 - 3)}" width="${num(w)}" height="${num(EDGE_FONT + 5)}" fill="#ffffff" fill-opacity="0.85"/>`);
      parts.push(svgText(d.x, d.y + EDGE_FONT / 2 - 1, [e.label], { size: EDGE_FONT, anchor: 'middle', fill: look.stroke }));
    }
    body.push(`<g class="edge ${e.style}">${parts.join('')}</g>`);
  });
  for (const [id, b] of boxes) {
    const n = g.node(id);
    const x = n.x! - b.width / 2;
    const y = n.y! - b.height / 2;
    const rect = (stroke: string, width: number, rx: number, fill: string, dash?: string) =>
      `<rect x="${num(x)}" y="${num(y)}" width="${num(b.width)}" height="${num(b.height)}" rx="${rx}" fill="${fill}" `
      + `stroke="${stroke}" stroke-width="${width}"${dash !== undefined ? ` stroke-dasharray="${dash}"` : ''}/>`;
    const text = svgText(x + PAD_X, y + PAD_Y + FONT, b.lines, { size: FONT, lineHeight: LINE, fill: PALETTE.ink });
    const p = ports.get(id);
    if (p !== undefined) {
      const fill = p.shared ? FILL.shared : p.key !== null ? FILL.server : FILL.client;
      const stroke = p.clash ? PALETTE.closed : p.shared ? PALETTE.shared : PALETTE.grey;
      const kind = p.shared ? 'port shared' : p.key !== null ? 'port server' : 'port client';
      body.push(`<g class="${kind}">${rect(stroke, p.shared || p.clash ? 3 : 1, 12, fill)}${text}</g>`);
      continue;
    }
    const s = sockets.get(id)!;
    const look = SOCKET_LOOK[s.kind];
    body.push(`<g class="socket ${s.kind}">${rect(look.stroke, look.width, look.rx, FILL.white, look.dash)}${text}</g>`);
  }
  const legendTop = (layout.height ?? 0) + 4;
  const legend = legendRows(legendTop);
  // The title above the layout, which moves down to make room for it.
  const top = TITLE_H + (opts.note !== undefined ? NOTE_H : 0);
  const framed = [
    svgText(16, 20, [title], { size: 13, weight: 'bold', fill: PALETTE.ink }),
    ...(opts.note !== undefined ? [`<g class="note">${svgText(16, 20 + NOTE_H, [opts.note], { size: 11, fill: PALETTE.ink })}</g>`] : []),
    `<g transform="translate(0,${top})">`, ...body, ...legend.parts, '</g>',
  ];
  const defs = (Object.keys(EDGE_LOOK) as Edge['style'][]).map((k) => arrowMarker(`${idp}arrow-${k}`, EDGE_LOOK[k].stroke)).join('');
  return svgDocument({
    width: Math.max(layout.width ?? 0, legend.width, linesWidth([opts.note ?? ''], 11) + 32),
    height: top + legendTop + legend.height,
    title,
    desc: 'Hosts with their ports; arrows from client ports to the server port they reached, labelled with the flows; '
      + 'from the server port to the sockets the kernel hands those packets to.',
    id: opts.id,
    defs,
  }, framed);
}

/** The key under the picture: one sample of each socket and arrow, with its meaning. */
function legendRows(top: number): { parts: string[]; width: number; height: number } {
  const parts: string[] = [];
  const items: [string, string][] = [
    ['listen', 'listening socket (takes SYNs)'],
    ['connection', 'TCP socket, one per 4-tuple'],
    ['unconnected', 'UDP socket, all peers'],
    ['closed', 'closed port: no socket'],
  ];
  let x = 16;
  const y = top + 8;
  for (const [kind, text] of items) {
    const look = SOCKET_LOOK[kind as SocketNode['kind']];
    const dash = look.dash !== undefined ? ` stroke-dasharray="${look.dash}"` : '';
    parts.push(`<rect x="${num(x)}" y="${num(y)}" width="22" height="14" rx="${Math.min(look.rx, 5)}" fill="#ffffff" stroke="${look.stroke}" stroke-width="${look.width}"${dash}/>`);
    parts.push(svgText(x + 28, y + 11, [text], { size: 10, fill: PALETTE.ink }));
    x += 28 + linesWidth([text], 10) + 18;
  }
  const width = x;
  x = 16;
  const y2 = y + 24;
  const edges: [Edge['style'], string][] = [['flow', 'flows (packets of a client port)'], ['syn', 'SYN to the listener'], ['demux', "the kernel's lookup"]];
  for (const [style, text] of edges) {
    const look = EDGE_LOOK[style];
    const dash = look.dash !== undefined ? ` stroke-dasharray="${look.dash}"` : '';
    parts.push(`<line x1="${num(x)}" y1="${num(y2 + 7)}" x2="${num(x + 22)}" y2="${num(y2 + 7)}" stroke="${look.stroke}" stroke-width="${look.width}"${dash}/>`);
    parts.push(svgText(x + 28, y2 + 11, [text], { size: 10, fill: PALETTE.ink }));
    x += 28 + linesWidth([text], 10) + 18;
  }
  return { parts: [`<g class="legend">${parts.join('')}</g>`], width: Math.max(width, x), height: 56 };
}

/**
 * The flows of the demux picture: the `ports` busiest server ports (by flows), at most
 * `perPort` flows of each (the first ones). Returns them and how many flows were left out.
 */
export function pictureSelection(flows: readonly Flow[], ports: number, perPort: number): { flows: Flow[]; ports: number; left: number } {
  const byPort = new Map<string, Flow[]>();
  let portless = 0;
  for (const f of flows) {
    if (f.proto !== 'tcp' && f.proto !== 'udp') {
      portless++;
      continue;
    }
    const k = `${f.proto}|${f.server.port}`;
    let l = byPort.get(k);
    if (l === undefined) byPort.set(k, (l = []));
    l.push(f);
  }
  const busiest = [...byPort.values()].sort((a, b) => b.length - a.length || a[0]!.id - b[0]!.id).slice(0, ports);
  const kept = busiest.flatMap((l) => l.slice(0, perPort)).sort((a, b) => a.id - b.id);
  return { flows: kept, ports: byPort.size, left: flows.length - portless - kept.length };
}

export interface PictureOptions extends SvgDrawingOptions {
  /** Server ports drawn at most, the busiest (default 8). */
  ports?: number;
  /** Flows of one port drawn at most, the first ones (default 12). */
  perPort?: number;
}

/**
 * The demux picture of `flows`, kept to a size a layout and a reader can take: the busiest
 * server ports, the first flows of each (a picture of a million sockets is neither laid out nor
 * read). `leftOut` says what was not drawn (also written under the title), null when nothing.
 */
export function renderDemuxPicture(flows: readonly Flow[], opts: PictureOptions = {}): { svg: string; leftOut: string | null } {
  const ports = opts.ports ?? 8;
  const perPort = opts.perPort ?? 12;
  const picked = pictureSelection(flows, ports, perPort);
  const leftOut = picked.left > 0
    ? `The picture holds the ${Math.min(picked.ports, ports)} busiest of ${picked.ports} server ports, at most ${perPort} flows each: `
      + `${picked.left} flow${picked.left === 1 ? '' : 's'} with ports are not drawn`
    : null;
  return { svg: renderDemuxSvg(buildDemux(picked.flows), { ...opts, note: leftOut ?? undefined }), leftOut };
}
