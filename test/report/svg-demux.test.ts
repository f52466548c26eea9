/**
 * src/report/svg-demux.ts: the demux picture as SVG, laid out by flowdemux. On the teaching
 * capture it is well-formed XML holding, as selectable text, the listener and both port-80
 * sockets with their 4-tuples; nodes do not overlap; text from the host is escaped.
 */
import { describe, expect, it } from 'vitest';
import { buildDemux } from '../../src/demux/groups.js';
import type { Flow } from '../../src/core/flow.js';
import { renderDemuxPicture, renderDemuxSvg } from '../../src/report/svg-demux.js';
import { xmlText } from '../../src/report/svg.js';
import { byName, parseXml, textOf, type Element } from '../helpers/markup.js';
import { runCli } from '../helpers/run-cli.js';
import { runPipeline } from './pipeline.js';

const CAPTURE = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;
const CLOSED = new URL('../../fixtures/closed-ports.pcap', import.meta.url).pathname;

/** The text of each `<g class="socket ...">`, lines joined by a space. */
function socketTexts(svg: Element, kind: string): string[] {
  return byName(svg, 'g')
    .filter((g) => g.attrs.class === `socket ${kind}`)
    .map((g) => byName(g, 'tspan').map(textOf).join(' ') || textOf(byName(g, 'text')[0]!));
}

interface Rect { x: number; y: number; w: number; h: number }

function rectOf(g: Element): Rect {
  const r = byName(g, 'rect')[0]!;
  return { x: Number(r.attrs.x), y: Number(r.attrs.y), w: Number(r.attrs.width), h: Number(r.attrs.height) };
}

const overlap = (a: Rect, b: Rect) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe('demux --format svg', () => {
  it('draws the listener and one socket per port-80 connection, with the 4-tuples as text', async () => {
    const { flows } = await runPipeline(CAPTURE);
    const svg = parseXml(renderDemuxSvg(buildDemux(flows)));
    expect(svg.name).toBe('svg');
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(svg.children[0]!.name).toBe('title');
    expect(socketTexts(svg, 'listen')).toEqual(expect.arrayContaining(['listen 127.0.0.1:80', 'listen 127.0.0.1:8089']));
    const tcp = socketTexts(svg, 'connection');
    expect(tcp).toEqual(expect.arrayContaining([
      'tcp socket 127.0.0.1:80 ⇄ 127.0.0.2:9157',
      'tcp socket 127.0.0.1:80 ⇄ 127.0.0.3:9157',
      'tcp socket 127.0.0.1:8089 ⇄ 127.0.0.3:5775 3 generations',
    ]));
    expect(socketTexts(svg, 'unconnected')).toEqual(['udp socket 127.0.0.1:5353 2 peers']);
    const hosts = byName(svg, 'g').filter((g) => g.attrs.class === 'host').map((g) => textOf(g));
    expect(hosts.sort()).toEqual(['host 127.0.0.1', 'host 127.0.0.2', 'host 127.0.0.3']);
    // The shared port says its key; the flows on the arrows name the flows.
    const shared = byName(svg, 'g').filter((g) => g.attrs.class === 'port shared').map((g) => byName(g, 'tspan').map(textOf).join(' '));
    expect(shared).toEqual(expect.arrayContaining(['tcp 80 key: 4-tuple', 'tcp 8089 key: 4-tuple+time']));
    const edgeTexts = byName(svg, 'g').filter((g) => g.attrs.class?.startsWith('edge')).map(textOf);
    expect(edgeTexts).toEqual(expect.arrayContaining(['flow 1', 'flow 2', 'flows 3, 4, 5', 'SYN', 'address+port']));
  });

  it('lays out nodes without overlaps, inside the picture', async () => {
    const { flows } = await runPipeline(CAPTURE);
    const svg = parseXml(renderDemuxSvg(buildDemux(flows)));
    const nodes = byName(svg, 'g').filter((g) => /^(socket|port) /.test(g.attrs.class ?? '')).map(rectOf);
    expect(nodes.length).toBe(6 + 4 + 4);
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) expect(overlap(nodes[i]!, nodes[j]!), `nodes ${i} and ${j}`).toBe(false);
    }
    const [w, h] = [Number(svg.attrs.width), Number(svg.attrs.height)];
    for (const n of nodes) expect(n.x >= 0 && n.y >= 0 && n.x + n.w <= w && n.y + n.h <= h).toBe(true);
  });

  it('draws closed ports as their own dotted box', async () => {
    const { flows } = await runPipeline(CLOSED);
    const svg = parseXml(renderDemuxSvg(buildDemux(flows)));
    const closed = byName(svg, 'g').filter((g) => g.attrs.class === 'socket closed');
    expect(closed.length).toBeGreaterThan(0);
    for (const g of closed) {
      expect(textOf(g)).toContain('closed port: no socket');
      expect(byName(g, 'rect')[0]!.attrs['stroke-dasharray']).toBeDefined();
    }
  });

  it('escapes what it draws (process names come from the host)', () => {
    const at = { sec: 1_764_056_602, nsec: 0 };
    const c = { packets: 1, wireBytes: 60, ipBytes: 40, payloadBytes: 0 };
    const f: Flow = {
      id: 1, proto: 'tcp', generation: 1, rolesInferred: false, start: at, end: at, duration: 0,
      client: { ip: '10.0.0.2', port: 4000, process: { pid: 7, command: '"><img src=x onerror=alert(1)>', state: 'running' } },
      server: { ip: '10.0.0.1', port: 80 },
      toServer: c, toClient: c, state: 'SF', history: 'ShADadFf', communityId: '1:x', generationReason: 'first', endReason: 'fin',
      ipVersion: 4, icmpErrors: 0, icmpError: null,
    } as Flow;
    const text = renderDemuxSvg(buildDemux([f]), { title: '<script>alert(1)</script>' });
    const svg = parseXml(text);
    expect(byName(svg, 'img')).toEqual([]);
    expect(byName(svg, 'script')).toEqual([]);
    expect(textOf(byName(svg, 'title')[0]!)).toBe('<script>alert(1)</script>');
    expect(text).not.toContain('<img');
    // Shown as the text it is, on the client's port.
    expect(byName(svg, 'tspan').map(textOf)).toContain('"><img src=x onerror=alert(1)> (pid 7)');
    expect(xmlText('a\u0000b<')).toBe('a\ufffdb&#60;');
  });

  it('draws the busiest ports only, and says so under the title', async () => {
    const { flows } = await runPipeline(CAPTURE);
    expect(renderDemuxPicture(flows)).toEqual({ svg: renderDemuxSvg(buildDemux(flows)), leftOut: null });
    const { svg, leftOut } = renderDemuxPicture(flows, { ports: 2, perPort: 1 });
    expect(leftOut).toBe('The picture holds the 2 busiest of 3 server ports, at most 1 flows each: 5 flows with ports are not drawn');
    const doc = parseXml(svg);
    expect(textOf(byName(doc, 'g').find((g) => g.attrs.class === 'note')!)).toBe(leftOut);
    // Port 8089 (3 flows) and then port 80 (2, the first flow of each): flows 3 and 1.
    expect(socketTexts(doc, 'connection')).toEqual(['tcp socket 127.0.0.1:80 ⇄ 127.0.0.2:9157', 'tcp socket 127.0.0.1:8089 ⇄ 127.0.0.3:5775']);
  });

  it('is what the CLI writes', async () => {
    const r = await runCli(['demux', CAPTURE, '--format', 'svg']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const { flows } = await runPipeline(CAPTURE);
    expect(r.stdout).toBe(renderDemuxSvg(buildDemux(flows)));
  });
});
