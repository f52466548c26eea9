/**
 * src/report/timeline.ts on the teaching capture: one lane per tuple grouped by server port; the
 * two port-80 bars overlap in time and the three 8089 generations follow each other on one lane
 * (compared through the bars' x and width); each bar's <title> names the flow.
 */
import { describe, expect, it } from 'vitest';
import type { Flow } from '../../src/core/flow.js';
import { renderTimelineSvg } from '../../src/report/timeline.js';
import { byName, parseXml, textOf, type Element } from '../helpers/markup.js';
import { runPipeline } from './pipeline.js';

const CAPTURE = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;

interface Bar { flow: number; x: number; end: number; title: string }

/** The groups of the picture: their title, then each lane's label and bars. */
function read(svg: Element): { title: string; lanes: { label: string; bars: Bar[] }[] }[] {
  return byName(svg, 'g').filter((g) => g.attrs.class === 'port-group').map((g) => ({
    title: textOf(g.children[0]!),
    lanes: g.children.filter((c) => c.attrs.class === 'lane').map((lane) => ({
      label: textOf(byName(lane, 'text')[0]!),
      bars: byName(lane, 'rect').filter((r) => r.attrs.class === 'bar').map((r) => ({
        flow: Number(r.attrs['data-flow']),
        x: Number(r.attrs.x),
        end: Number(r.attrs.x) + Number(r.attrs.width),
        title: textOf(byName(r, 'title')[0]!),
      })),
    })),
  }));
}

describe('timeline SVG', () => {
  it('shows the two port-80 flows at once and the three 8089 generations one after another', async () => {
    const { flows } = await runPipeline(CAPTURE);
    const groups = read(parseXml(renderTimelineSvg(flows)));
    expect(groups.map((g) => g.title)).toEqual(['tcp port 8089: 3 flows', 'tcp port 80: 2 flows', 'udp port 5353: 2 flows']);

    const web = groups[1]!.lanes;
    expect(web.map((l) => l.label)).toEqual(['127.0.0.2:9157 → 127.0.0.1:80', '127.0.0.3:9157 → 127.0.0.1:80']);
    const [a, b] = [web[0]!.bars[0]!, web[1]!.bars[0]!];
    expect(a.x < b.end && b.x < a.end, 'port 80 bars overlap').toBe(true);

    const reuse = groups[0]!.lanes;
    expect(reuse).toHaveLength(1);
    const gens = reuse[0]!.bars;
    expect(gens.map((g) => g.flow)).toEqual([3, 4, 5]);
    for (let i = 1; i < gens.length; i++) expect(gens[i - 1]!.end, `generation ${i} ends before ${i + 1} starts`).toBeLessThan(gens[i]!.x);

    expect(a.title).toBe('flow 1: tcp 127.0.0.2:9157 → 127.0.0.1:80, state SF, 11 packets (6 →, 5 ←), 0.612437 s');
    expect(gens[1]!.title).toMatch(/^flow 4 #2: tcp 127\.0\.0\.3:5775 → 127\.0\.0\.1:8089, state \w+, \d+ packets/);
  });

  it('draws at most maxLanes lanes, the busiest ports first, and says what it left out', async () => {
    const { flows } = await runPipeline(CAPTURE);
    const svg = parseXml(renderTimelineSvg(flows, { maxLanes: 2 }));
    const groups = read(svg);
    expect(groups.map((g) => [g.title, g.lanes.length])).toEqual([['tcp port 8089: 3 flows', 1], ['tcp port 80: 2 flows, 1 of its 2 lanes drawn', 1]]);
    expect(byName(svg, 'text').map(textOf)).toContain('3 more lanes (3 flows) of the quieter ports are not drawn');
  });

  it('links each bar when asked, and escapes', async () => {
    const { flows } = await runPipeline(CAPTURE);
    const svg = parseXml(renderTimelineSvg(flows, { link: (f: Flow) => `#flow-${f.id}`, title: '<b>&' }));
    expect(byName(svg, 'a').map((a) => a.attrs.href)).toEqual(expect.arrayContaining(['#flow-1', '#flow-7']));
    expect(textOf(byName(svg, 'title')[0]!)).toBe('<b>&');
    expect(parseXml(renderTimelineSvg([])).name).toBe('svg');
  });
});
