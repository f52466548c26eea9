/**
 * src/report/html.ts, without a browser: the page parses (strictly: every element closed, raw
 * text only in its one script and style), holds the demux picture with the listener and both
 * port-80 sockets and their 4-tuples, the timeline, the flows table and the ladders; its
 * Content-Security-Policy allows no network and only the page's own script and style, by hash;
 * caps on big inputs are said in the page.
 */
import { describe, expect, it } from 'vitest';
import type { Flow } from '../../src/core/flow.js';
import type { CaptureInfo } from '../../src/core/frame.js';
import { ladderPacket, type LadderPacket } from '../../src/report/ladder.js';
import { renderReportHtml, type ReportLadder } from '../../src/report/html.js';
import { pictureSelection } from '../../src/report/svg-demux.js';
import { byName, elements, parseHtml, textOf } from '../helpers/markup.js';
import { expectSafePolicy } from '../helpers/report-page.js';
import { runPipeline } from './pipeline.js';

const CAPTURE = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;

async function teaching(): Promise<{ flows: Flow[]; ladders: ReportLadder[]; captures: CaptureInfo[] }> {
  const kept = new Map<number, LadderPacket[]>();
  let packets = 0;
  const { flows } = await runPipeline(CAPTURE, (frame, pkt, ref) => {
    packets++;
    if (ref === null) return;
    if (!kept.has(ref.id)) kept.set(ref.id, []);
    kept.get(ref.id)!.push(ladderPacket(frame, pkt, ref));
  });
  const ladders = flows.filter((f) => f.proto === 'tcp').map((flow) => ({ flow, packets: kept.get(flow.id)! }));
  return { flows, ladders, captures: [{ path: 'fixtures/demux-lo.pcap', format: 'pcap', packets, linkTypes: [1] } as CaptureInfo] };
}

describe('the HTML report', () => {
  it('is one well-formed page with a strict policy', async () => {
    const t = await teaching();
    const doc = parseHtml(renderReportHtml({ ...t, ladderLimit: 20, maxLadderPackets: 500 }));
    expect(doc.name).toBe('html');
    expectSafePolicy(doc);
    expect(textOf(byName(doc, 'title')[0]!)).toBe('flowdemux report: fixtures/demux-lo.pcap');
    expect(byName(doc, 'code').map(textOf)).toContain('fixtures/demux-lo.pcap (pcap, 60 packets, EN10MB)');
  });

  it('holds the demux picture with the listener and both port-80 sockets, the timeline, the table and the ladders', async () => {
    const t = await teaching();
    const doc = parseHtml(renderReportHtml({ ...t, ladderLimit: 20, maxLadderPackets: 500 }));
    const byId = (id: string) => [...elements(doc)].find((e) => e.attrs.id === id)!;
    const demux = byId('demux-svg');
    const sockets = byName(demux, 'g').filter((g) => g.attrs.class?.startsWith('socket ')).map((g) => byName(g, 'tspan').map(textOf).join(' '));
    expect(sockets).toEqual(expect.arrayContaining([
      'listen 127.0.0.1:80', 'tcp socket 127.0.0.1:80 ⇄ 127.0.0.2:9157', 'tcp socket 127.0.0.1:80 ⇄ 127.0.0.3:9157',
    ]));
    // The timeline's bars link to the ladders of TCP flows and to the table rows of the others.
    const links = byName(byId('timeline-svg'), 'a').map((a) => a.attrs.href);
    expect(links).toEqual(['#flow-3', '#flow-4', '#flow-5', '#flow-1', '#flow-2', '#row-6', '#row-7']);
    const rows = byName(byId('flow-table'), 'tr').filter((r) => r.attrs.id?.startsWith('row-'));
    expect(rows.map((r) => textOf(r.children[2]!))).toEqual(['127.0.0.2:9157', '127.0.0.3:9157', '127.0.0.3:5775', '127.0.0.3:5775', '127.0.0.3:5775', '127.0.0.2:9157', '127.0.0.3:9157']);
    expect(textOf(rows[3]!.children[0]!)).toBe('4 #2');
    const ladders = byName(doc, 'details').filter((d) => d.attrs.id?.startsWith('flow-'));
    expect(ladders.map((d) => d.attrs.id)).toEqual(['flow-1', 'flow-2', 'flow-3', 'flow-4', 'flow-5']);
    const first = byName(ladders[0]!, 'g').filter((g) => g.attrs.class?.startsWith('packet'));
    expect(first).toHaveLength(11);
    expect(textOf(first[0]!)).toContain('SYN');
    expect(textOf(first[0]!)).toContain('seq=0 win=65495 len=0');
    // Each end's TCP state beside the packets: the client's FIN (packet 15) makes it FIN-WAIT-1, the server CLOSE-WAIT.
    const states = byName(ladders[0]!, 'g').filter((g) => g.attrs.class === 'states').map((g) => byName(g, 'text').map(textOf).join(' '));
    expect(states[7]).toBe('FIN-WAIT-1 CLOSE-WAIT');
    // Every id in the page is unique (several SVGs share it: their markers are prefixed).
    const ids = [...elements(doc)].map((e) => e.attrs.id).filter((x) => x !== undefined);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...elements(doc)].some((e) => e.attrs.id === 'left-out')).toBe(false);
  });

  it('gives each end\'s process a column when the flows have them (live capture), escaped', async () => {
    const t = await teaching();
    const plain = parseHtml(renderReportHtml({ ...t, ladderLimit: 20, maxLadderPackets: 500 }));
    expect(byName(byName(plain, 'thead')[0]!, 'th').map(textOf)).not.toContain('client process');
    const flows = t.flows.map((f) => (f.id === 1
      ? { ...f, client: { ...f.client, process: { pid: 7, command: '<script>x</script>', state: 'running' as const } },
          server: { ...f.server, process: { pid: 8, command: 'srv', state: 'running' as const }, listener: { socket: '127.0.0.1:80', pid: 8, command: 'srv' } } }
      : f));
    const doc = parseHtml(renderReportHtml({ ...t, flows, ladderLimit: 20, maxLadderPackets: 500 }));
    const heads = byName(byName(doc, 'thead')[0]!, 'th').map(textOf);
    expect(heads.slice(0, 6)).toEqual(['id', 'proto', 'client', 'client process', 'server', 'server process']);
    const first = byName(doc, 'tbody')[0]!.children[0]!.children.map(textOf);
    expect(first.slice(2, 6)).toEqual(['127.0.0.2:9157', '<script>x</script> (pid 7)', '127.0.0.1:80', 'srv (pid 8)']);
    // The other flows' ends: no process known, an empty cell.
    expect(byName(doc, 'tbody')[0]!.children[1]!.children.map(textOf).slice(3, 6)).toEqual(['', '127.0.0.1:80', '']);
    expect(byName(doc, 'script')).toHaveLength(1);
  });

  it('caps what a big capture puts in, and says so', async () => {
    const t = await teaching();
    const doc = parseHtml(renderReportHtml({
      ...t, ladders: t.ladders.slice(0, 2), ladderLimit: 2, maxLadderPackets: 500, maxRows: 3, maxLanes: 2, picturePorts: 1, pictureFlows: 1,
    }));
    const note = [...elements(doc)].find((e) => e.attrs.id === 'left-out')!;
    const items = byName(note, 'li').map(textOf);
    expect(items).toEqual([
      'The picture holds the 1 busiest of 3 server ports, at most 1 flows each: 6 flows with ports are not drawn (the demux text counts them all).',
      'The timeline draws 2 of 5 lanes, the busiest ports first.',
      'The table lists the first 3 of 7 flows.',
      'Ladders are drawn for the first 2 TCP connections (flows 1 to 2) of 5 (--ladders 2).',
    ]);
    expect(byName(doc, 'tbody')[0]!.children).toHaveLength(3);
    expect(pictureSelection(t.flows, 1, 1).flows.map((f) => f.id)).toEqual([3]);
  });

  it('shows each TCP flow\'s analysis in the table and the marks of its packets in its ladder, as tshark gives them', async () => {
    const events = new URL('../../fixtures/crafted/tcp-analysis-events.pcap', import.meta.url).pathname;
    const packets: LadderPacket[] = [];
    const { flows } = await runPipeline(events, (frame, pkt, ref) => {
      if (ref !== null) packets.push(ladderPacket(frame, pkt, ref));
    }, { tcpAnalysis: true });
    const captures = [{ path: 'tcp-analysis-events.pcap', format: 'pcap', packets: packets.length, linkTypes: [1] } as CaptureInfo];
    const doc = parseHtml(renderReportHtml({ flows, ladders: [{ flow: flows[0]!, packets }], captures, ladderLimit: 20, maxLadderPackets: 500 }));
    const table = [...elements(doc)].find((e) => e.attrs.id === 'flow-table')!;
    const heads = byName(table, 'th').map(textOf);
    const row = byName(table, 'tr').find((r) => r.attrs.id === 'row-1')!;
    const cell = (head: string) => textOf(row.children[heads.indexOf(head)]!);
    // tshark's answer for this capture (its .analysis.tsv): 3 retransmissions of the three kinds, 2 duplicate ACKs...
    expect(cell('retrans')).toBe('3');
    expect(cell('TCP analysis')).toContain('duplicate_ack 2');
    expect(cell('TCP analysis')).toContain('fast_retransmission 1');
    expect(cell('handshake ms')).toBe('20.000');
    expect(cell('ACK RTT → ms')).toBe('10.000 / 10.000');
    // The ladder writes the marks in tshark's words beside their packets (frame 9: the first duplicate of frame 8's ACK).
    const ladder = [...elements(doc)].find((e) => e.attrs.id === 'flow-1')!;
    const lines = byName(ladder, 'g').filter((g) => g.attrs.class?.startsWith('packet')).map((g) => byName(g, 'text').map(textOf).join(' '));
    expect(lines[8]).toContain('[TCP Dup ACK 8#1]');
    expect(lines[10]).toContain('[TCP Fast Retransmission]');
  });
});
