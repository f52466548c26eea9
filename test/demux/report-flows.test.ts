/**
 * src/report/flows.ts: every output format of `flowdemux flows`, and the selection functions,
 * on flows made by the real engine from hand-made packets.
 */
import { describe, expect, it } from 'vitest';
import type { CaptureInfo } from '../../src/core/frame.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { Flow } from '../../src/core/flow.js';
import { CSV_COLUMNS, csvField, renderFlowsCsv } from '../../src/report/csv.js';
import { durationSeconds } from '../../src/report/flow-time.js';
import { flowToNdjsonLine, renderFlowsJson } from '../../src/report/json.js';
import { filterFlows, selectFlows, sortFlows } from '../../src/report/select.js';
import { renderFlowsTable } from '../../src/report/table.js';
import { renderZeekConnLog, zeekUid } from '../../src/report/zeek.js';
import { Conversation, feed } from './packets.js';

const T0 = 1_764_056_602;

/** Flow 1: the design.md TCP example; 2: IPv6 UDP; 3: ICMP echo; 4: big UDP; 5: a second TCP generation. */
function sample(): { flows: Flow[]; engine: DemuxEngine } {
  const engine = new DemuxEngine();
  const c = new Conversation(engine, '127.0.0.2:9157', '127.0.0.1:80');
  c.c('S');
  c.wait(0.1).s('SA');
  c.c('A');
  c.c('PA', { len: 37 });
  c.s('A');
  c.s('PA', { len: 71 });
  c.wait(0.201262).s('FA');
  c.c('FA');
  feed(engine, { proto: 17, src: '2001:db8::1', sport: 5353, dst: '2001:DB8::2', dport: 53, len: 20 }, T0 + 1, 5);
  feed(engine, { proto: 1, src: '192.0.2.7', dst: '198.51.100.1', icmpType: 8, len: 56 }, T0 + 2, 0);
  for (let i = 0; i < 3; i++) feed(engine, { proto: 17, src: '10.1.1.1', sport: 40000, dst: '10.1.1.2', dport: 9000, len: 1400 }, T0 - 5, 0);
  c.wait(1);
  c.cSeq = 77;
  c.c('S');
  engine.finish();
  return { flows: engine.flows(), engine };
}

const capture: CaptureInfo = {
  path: 'lo.pcap', format: 'pcap', compressed: false, byteOrder: 'LE', precision: 'us', linkTypes: [1, 276],
  snapLength: 262144, packets: 131, warnings: ['cut short at offset 9000'],
};

describe('JSON', () => {
  it('the document and flow objects have design.md keys, in its order, then the additions', () => {
    const { flows, engine } = sample();
    const text = renderFlowsJson(flows, [capture], ['w1'], { summary: engine.summary() });
    const doc = JSON.parse(text);
    expect(Object.keys(doc)).toEqual(['captures', 'flows', 'warnings', 'summary']);
    expect(doc.captures).toEqual([{
      path: 'lo.pcap', format: 'pcap', byteOrder: 'LE', precision: 'us', linkTypes: ['EN10MB', 'LINUX_SLL2'],
      packets: 131, warnings: ['cut short at offset 9000'], compressed: false, snapLength: 262144,
    }]);
    expect(doc.warnings).toEqual(['w1']);
    expect(doc.summary.byKind.icmp).toBe(1);
    const f = doc.flows[0];
    expect(Object.keys(f).slice(0, 15)).toEqual([
      'id', 'proto', 'generation', 'client', 'server', 'rolesInferred', 'start', 'end', 'duration',
      'toServer', 'toClient', 'state', 'history', 'communityId', 'generationReason',
    ]);
    expect(Object.keys(f.client)).toEqual(['ip', 'port']);
    expect(Object.keys(f.toServer)).toEqual(['packets', 'wireBytes', 'ipBytes', 'payloadBytes', 'missedBytes']);
    expect(f).toMatchObject({
      id: 1, proto: 'tcp', generation: 1, client: { ip: '127.0.0.2', port: 9157 }, server: { ip: '127.0.0.1', port: 80 },
      rolesInferred: false, start: '2025-11-25T07:43:22.900203Z', end: '2025-11-25T07:43:23.201465Z', duration: 0.301262,
      toServer: { packets: 4, wireBytes: 54 * 3 + 91, ipBytes: 40 * 3 + 77, payloadBytes: 37, missedBytes: 0 },
      toClient: { packets: 4, wireBytes: 54 * 3 + 125, ipBytes: 40 * 3 + 111, payloadBytes: 71, missedBytes: 0 },
      state: 'SF', history: 'ShADadfF', endReason: 'fin',
    });
    expect(f.communityId).toMatch(/^1:[A-Za-z0-9+/]{27}=$/);
    expect(doc.flows.map((x: { id: number }) => x.id)).toEqual([1, 2, 3, 4, 5]);
    expect(doc.flows[1].server.ip).toBe('2001:db8::2'); // RFC 5952 text
  });

  it('an empty document is valid JSON', () => {
    expect(JSON.parse(renderFlowsJson([], [], []))).toEqual({ captures: [], flows: [], warnings: [] });
  });

  it('nanosecond digits when asked; durations agree with the printed times', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 1000, dst: '10.0.0.2', dport: 53 }, T0, 123_456_789);
    feed(engine, { proto: 17, src: '10.0.0.2', sport: 53, dst: '10.0.0.1', dport: 1000 }, T0 + 2, 1);
    engine.finish();
    const [f] = engine.flows();
    const ns = JSON.parse(flowToNdjsonLine(f!, { digits: 9 }));
    expect(ns.start).toBe('2025-11-25T07:43:22.123456789Z');
    expect(ns.end).toBe('2025-11-25T07:43:24.000000001Z');
    expect(ns.duration).toBe(1.876543212);
    const us = JSON.parse(flowToNdjsonLine(f!));
    expect(us.start).toBe('2025-11-25T07:43:22.123456Z');
    expect(us.duration).toBe(1.876544); // 24.000000 − 22.123456
    expect(durationSeconds(f!, 6)).toBe(1.876544);
  });

  it('NDJSON: one line a flow, each parseable', () => {
    const { flows } = sample();
    const lines = flows.map((f) => flowToNdjsonLine(f));
    for (const l of lines) {
      expect(l.endsWith('\n')).toBe(true);
      expect(l.slice(0, -1)).not.toContain('\n');
      expect(JSON.parse(l).id).toBeGreaterThan(0);
    }
  });
});

describe('CSV', () => {
  it('RFC 4180 quoting', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(null)).toBe('');
    expect(csvField(42)).toBe('42');
  });

  it('header and one row a flow with the same number of fields', () => {
    const { flows } = sample();
    const text = renderFlowsCsv(flows);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe(CSV_COLUMNS.join(','));
    expect(lines).toHaveLength(flows.length + 1);
    for (const l of lines) expect(l.split(',')).toHaveLength(CSV_COLUMNS.length);
    expect(lines[1]).toBe('1,tcp,1,first,127.0.0.2,9157,127.0.0.1,80,false,2025-11-25T07:43:22.900203Z,'
      + `2025-11-25T07:43:23.201465Z,0.301262,4,253,197,37,4,287,231,71,SF,ShADadfF,${flows[0]!.communityId},fin,0,0,0,,`); // no service recognised in this engine-made flow
    expect(renderFlowsCsv(flows, { eol: '\r\n' }).split('\r\n')).toHaveLength(flows.length + 2);
  });
});

describe('Zeek conn.log', () => {
  it('header lines as Zeek writes them, rows matching #fields', () => {
    const { flows } = sample();
    const text = renderZeekConnLog(flows, { open: { sec: T0, nsec: 0 }, close: { sec: T0 + 60, nsec: 0 } });
    const lines = text.trimEnd().split('\n');
    expect(lines.slice(0, 6)).toEqual([
      '#separator \\x09',
      '#set_separator\t,',
      '#empty_field\t(empty)',
      '#unset_field\t-',
      '#path\tconn',
      '#open\t2025-11-25-07-43-22',
    ]);
    const fields = lines[6]!.split('\t');
    expect(fields[0]).toBe('#fields');
    expect(fields.slice(1)).toEqual(['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'service',
      'duration', 'orig_bytes', 'resp_bytes', 'conn_state', 'local_orig', 'local_resp', 'missed_bytes', 'history',
      'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes', 'tunnel_parents', 'community_id']);
    const types = lines[7]!.split('\t');
    expect(types[0]).toBe('#types');
    expect(types).toHaveLength(fields.length);
    expect(lines.at(-1)).toBe('#close\t2025-11-25-07-44-22');
    const rows = lines.slice(8, -1).map((l) => l.split('\t'));
    expect(rows).toHaveLength(flows.length);
    for (const r of rows) expect(r).toHaveLength(fields.length - 1);
    const row = Object.fromEntries(fields.slice(1).map((k, i) => [k, rows[0]![i]]));
    expect(row).toMatchObject({
      ts: '1764056602.900203', uid: 'C000001', 'id.orig_h': '127.0.0.2', 'id.orig_p': '9157', 'id.resp_h': '127.0.0.1',
      'id.resp_p': '80', proto: 'tcp', service: '-', duration: '0.301262', orig_bytes: '37', resp_bytes: '71',
      conn_state: 'SF', missed_bytes: '0', history: 'ShADadfF', orig_pkts: '4', orig_ip_bytes: '197', resp_pkts: '4',
      resp_ip_bytes: '231', tunnel_parents: '-', community_id: flows[0]!.communityId,
    });
    // A one-packet flow has no duration: Zeek leaves duration and byte counts unset.
    const udp = rows[1]!;
    expect([udp[8], udp[9], udp[10], udp[11]]).toEqual(['-', '-', '-', 'S0']);
  });

  it('default #open/#close from the flows; deterministic uids', () => {
    const { flows } = sample();
    const text = renderZeekConnLog(flows);
    expect(text).toContain('#open\t2025-11-25-07-43-17\n'); // the UDP flow started 5 s earlier
    expect(zeekUid(1)).toBe('C000001');
    expect(zeekUid(62)).toBe('C000010');
    expect(new Set([1, 2, 61, 62, 3843, 3844].map(zeekUid)).size).toBe(6);
  });
});

describe('table', () => {
  it('columns, inferred-role mark and the summary line', () => {
    const { flows, engine } = sample();
    const text = renderFlowsTable(flows, { summary: engine.summary() });
    const lines = text.split('\n');
    expect(lines[1]).toMatch(/id.*proto.*client.*server.*pkts →.*bytes →.*pkts ←.*bytes ←.*start \(2025-11-25 UTC\).*duration.*state/);
    const row1 = lines.find((l) => /│\s+1 │/.test(l))!;
    expect(row1).toMatch(/tcp\s+│ 127\.0\.0\.2:9157\s+│ 127\.0\.0\.1:80\s+│\s+4 │\s+253 │\s+4 │\s+287 │ 07:43:22\.900203\s+│ 0\.301262 │ SF/);
    expect(text).toContain('[2001:db8::1]:5353 ?');
    expect(text).toContain('5 #2');
    expect(text).toMatch(/5 flows shown; 14 packets read; without ports: 1 icmp\n$/);
  });

  it('with a width: the boxed table when it fits, else columns given up in order and long addresses cut in the middle', () => {
    const { flows, engine } = sample();
    const full = renderFlowsTable(flows, { summary: engine.summary() });
    expect(renderFlowsTable(flows, { summary: engine.summary(), width: 1000 })).toBe(full);
    const heads = (w: number) => renderFlowsTable(flows, { width: w }).split('\n')[0]!.trim().split(/\s{2,}/);
    // In order: the bytes each way become one total, the start loses its fraction, the packets
    // each way become one total, then bytes, start and duration go.
    expect(heads(120)).toEqual(['id', 'proto', 'client', 'server', 'pkts →', 'pkts ←', 'bytes', 'start (2025-11-25 UTC)', 'duration', 'state']);
    expect(heads(110)).toEqual(['id', 'proto', 'client', 'server', 'pkts →', 'pkts ←', 'bytes', 'start UTC', 'duration', 'state']);
    expect(heads(100)).toEqual(['id', 'proto', 'client', 'server', 'pkts', 'bytes', 'start UTC', 'duration', 'state']);
    expect(heads(90)).toEqual(['id', 'proto', 'client', 'server', 'pkts', 'start UTC', 'duration', 'state']);
    expect(heads(80)).toEqual(['id', 'proto', 'client', 'server', 'pkts', 'duration', 'state']);
    expect(heads(60)).toEqual(['id', 'proto', 'client', 'server', 'pkts', 'state']);

    const v6 = new DemuxEngine();
    const long = '2001:db8:85a3:1234:5678:8a2e:370:7334';
    feed(v6, { proto: 6, src: long, sport: 40000, dst: '2001:db8:85a3:1234:5678:8a2e:370:1', dport: 443 }, T0, 0);
    v6.finish();
    for (const width of [60, 80]) {
      const text = renderFlowsTable(v6.flows(), { width });
      for (const line of text.split('\n')) expect([...line].length, line).toBeLessThanOrEqual(width);
      // Cut in the middle: where the address starts and its port stay.
      expect(text).toMatch(/\[2001:db[^ ]*…[^ ]*:40000/);
      expect(text).toMatch(/…[^ ]*\]:443/);
    }
  });

  it('time of day when all flows share a date', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 1000, dst: '10.0.0.2', dport: 53 }, T0, 0);
    engine.finish();
    const text = renderFlowsTable(engine.flows());
    expect(text).toContain('start (2025-11-25 UTC)');
    expect(text).toContain('07:43:22.000000');
  });
});

describe('table across dates', () => {
  it('full ISO start times when flows start on different UTC dates', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 1000, dst: '10.0.0.2', dport: 53 }, T0, 0);
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 1001, dst: '10.0.0.2', dport: 53 }, T0 + 86_400, 0);
    engine.finish();
    const text = renderFlowsTable(engine.flows());
    expect(text).toContain('start (UTC)');
    expect(text).toContain('2025-11-25T07:43:22.000000Z');
    expect(text).toContain('2025-11-26T07:43:22.000000Z');
  });
});

describe('selection', () => {
  it('proto, port and host filters', () => {
    const { flows } = sample();
    expect(filterFlows(flows, { proto: 'tcp' }).map((f) => f.id)).toEqual([1, 5]);
    expect(filterFlows(flows, { proto: 'icmp' }).map((f) => f.id)).toEqual([3]);
    expect(filterFlows(flows, { port: 53 }).map((f) => f.id)).toEqual([2]);
    expect(filterFlows(flows, { port: 8 }).map((f) => f.id)).toEqual([]); // ICMP types are not ports
    expect(filterFlows(flows, { host: '2001:DB8:0:0::2' }).map((f) => f.id)).toEqual([2]);
    expect(filterFlows(flows, { host: '127.0.0.1', port: 80 }).map((f) => f.id)).toEqual([1, 5]);
    expect(filterFlows(flows, { host: '127.0.0.9' })).toEqual([]);
  });

  it('sort by start, bytes, packets; limit', () => {
    const { flows } = sample();
    expect(sortFlows(flows, 'start').map((f) => f.id)).toEqual([4, 1, 2, 3, 5]);
    expect(sortFlows(flows, 'bytes').map((f) => f.id)).toEqual([4, 1, 3, 2, 5]);
    expect(sortFlows(flows, 'packets').map((f) => f.id)).toEqual([1, 4, 2, 3, 5]);
    expect(selectFlows(flows, { sort: 'bytes', limit: 2 }).map((f) => f.id)).toEqual([4, 1]);
    expect(selectFlows(flows, { proto: 'udp', limit: 0 })).toEqual([]);
    expect(flows.map((f) => f.id)).toEqual([1, 2, 3, 4, 5]); // input untouched
  });
});
