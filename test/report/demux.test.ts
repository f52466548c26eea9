/**
 * src/report/demux.ts: JSON, the text table, DOT and Mermaid, on hand-made flow records that
 * exercise what the seed capture does not (IPv6, role clashes, refused connections, single
 * ports, ICMP, long lists). The DOT is rendered by Graphviz when `dot` is installed.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildDemux } from '../../src/demux/groups.js';
import type { Flow } from '../../src/core/flow.js';
import {
  demuxToJson, dotString, mermaidString, renderDemuxDot, renderDemuxJson, renderDemuxMermaid, renderDemuxTable,
} from '../../src/report/demux.js';

const T0 = 1_764_056_602;

function split(text: string): { ip: string; port: number } {
  const m = /^\[(.*)\]:(\d+)$/.exec(text) ?? /^(.*):(\d+)$/.exec(text);
  if (!m) throw new Error(text);
  return { ip: m[1]!, port: Number(m[2]) };
}

function flow(id: number, proto: Flow['proto'], client: string, server: string, opts: Partial<Flow> & { at?: number } = {}): Flow {
  const { at: _at, ...o } = opts;
  const c = { packets: 2, wireBytes: 120, ipBytes: 80, payloadBytes: 10 };
  const at = Math.round((_at ?? id) * 1e3); // milliseconds after T0
  const start = { sec: T0 + Math.floor(at / 1000), nsec: (at % 1000) * 1e6 };
  const endMs = at + 500;
  const end = { sec: T0 + Math.floor(endMs / 1000), nsec: (endMs % 1000) * 1e6 };
  return {
    id, proto, generation: 1, client: split(client), server: split(server), rolesInferred: proto === 'udp',
    start, end, duration: 0.5,
    toServer: { ...c }, toClient: { ...c }, state: 'SF', history: 'ShADadFf', communityId: '1:x',
    generationReason: 'first', endReason: 'fin', ipVersion: client.startsWith('[') ? 6 : 4, icmpErrors: 0, icmpError: null,
    ...o,
  };
}

/** IPv6 web server with two clients at once, a reused tuple, a refused port, a role clash, UDP, ICMP. */
function sample(): Flow[] {
  return [
    flow(1, 'tcp', '[2001:db8::2]:9157', '[2001:db8::1]:443', { at: 1 }),
    flow(2, 'tcp', '[2001:db8::3]:9157', '[2001:db8::1]:443', { at: 1.2 }),
    flow(3, 'tcp', '[2001:db8::3]:40000', '[2001:db8::2]:9157', { at: 5 }),
    flow(4, 'tcp', '10.0.0.2:5555', '10.0.0.1:81', { state: 'REJ' }),
    flow(5, 'udp', '10.0.0.2:40000', '10.0.0.1:53'),
    flow(6, 'icmp', '10.0.0.2:8', '10.0.0.1:0'),
    flow(7, 'tcp', '[2001:db8::3]:40000', '[2001:db8::2]:9157', { at: 9, generation: 2 }),
  ];
}

describe('JSON', () => {
  it("design.md's keys first, in its order, then the additions; endpoints as text, IPv6 in brackets", () => {
    const doc = JSON.parse(renderDemuxJson(buildDemux(sample()), { warnings: ['w'] }));
    // closedPortFlows: the sample has a refused connection (flow 4).
    expect(Object.keys(doc)).toEqual(['groups', 'singles', 'portRoleClashes', 'unported', 'closedPortFlows', 'warnings']);
    expect(doc.closedPortFlows).toBe(1);
    const g = doc.groups[0];
    expect(Object.keys(g).slice(0, 7)).toEqual(['proto', 'port', 'flows', 'concurrent', 'keyNeeded', 'differBy', 'sockets']);
    expect(g).toMatchObject({ proto: 'tcp', port: 443, flows: [1, 2], concurrent: true, keyNeeded: '4-tuple', differBy: ['client.ip'] });
    expect(g.sockets).toEqual([
      { kind: 'listen', local: '[2001:db8::1]:443', flows: [1, 2] },
      { kind: 'connection', local: '[2001:db8::1]:443', remote: '[2001:db8::2]:9157', flows: [1], generations: 1 },
      { kind: 'connection', local: '[2001:db8::1]:443', remote: '[2001:db8::3]:9157', flows: [2], generations: 1 },
    ]);
    expect(doc.groups[1]).toMatchObject({ port: 9157, flows: [3, 7], keyNeeded: '4-tuple+time', differBy: [], concurrent: false });
    expect(doc.singles.map((s: { port: number }) => s.port)).toEqual([81, 53]);
    expect(doc.singles[0]).toMatchObject({ refused: [4], keyNeeded: 'port', closedPort: [4] });
    expect(doc.singles[0].sockets).toEqual([
      { kind: 'closed', local: doc.singles[0].sockets[0].local, flows: [4], peers: doc.singles[0].sockets[0].peers, answers: ['rst'], openedLater: false },
    ]);
    expect(doc.singles[1].sockets).toEqual([
      { kind: 'unconnected', local: '10.0.0.1:53', peers: ['10.0.0.2:40000'], flows: [5], peerFlows: [[5]] },
    ]);
    expect(doc.portRoleClashes).toEqual([
      { proto: 'tcp', port: 9157, asServer: [3, 7], asClient: [1, 2], sameHost: ['2001:db8::2'], inferred: false },
    ]);
    expect(doc.unported).toEqual([6]);
    expect(doc.warnings).toEqual(['w']);
  });

  it('one group a line, and the text parses to the same document', () => {
    const report = buildDemux(sample());
    const text = renderDemuxJson(report);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(demuxToJson(report))));
    const lines = text.split('\n');
    expect(lines.filter((l) => l.startsWith('{"proto":"tcp","port":443,'))).toHaveLength(1);
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('an empty capture: empty lists', () => {
    expect(JSON.parse(renderDemuxJson(buildDemux([])))).toEqual({ groups: [], singles: [], portRoleClashes: [], unported: [] });
  });
});

describe('table', () => {
  const text = renderDemuxTable(buildDemux(sample()));

  it('each shared port says why the port is not enough and which key is', () => {
    expect(text).toContain('tcp port 443 on 2001:db8::1: 2 connections, 2 open at once\n'
      + '  the port alone is ambiguous; key needed: 4-tuple (the flows differ by client.ip)\n');
    expect(text).toContain('tcp port 9157 on 2001:db8::2: 2 connections, one after another\n'
      + '  the port alone is ambiguous; key needed: 4-tuple+time (one 4-tuple was used again: only time tells those flows apart)\n');
    expect(text).toMatch(/ {4}connection {2}\[2001:db8::2\]:9157 ⇄ \[2001:db8::3\]:40000 {2}flows 3, 7: one after another, a new socket each time\n/);
  });

  it('singles, refused connections, role clashes, ICMP and the legend', () => {
    expect(text).toContain('One flow each (the port alone finds the socket, where there is one):\n');
    expect(text).toContain('  tcp 10.0.0.1:81  flow 4 from 10.0.0.2:5555   closed port: no socket (SYN answered by RST)\n');
    expect(text).toContain('  udp 10.0.0.1:53  flow 5 from 10.0.0.2:40000  1 udp socket\n');
    expect(text).toContain('  tcp 9157: server port in flows 3, 7, client port in flows 1, 2 (both roles on 2001:db8::2)\n');
    expect(text).toContain('ICMP flow 6 ');
    expect(text).toContain('key needed: the smallest key that tells a port\'s flows apart, port < address+port < 4-tuple < 4-tuple+time\n');
  });

  it('long lists are cut, with a count of what was left out', () => {
    const many: Flow[] = [];
    for (let i = 1; i <= 30; i++) many.push(flow(i, 'tcp', `10.0.1.${i}:40000`, '10.0.0.1:80', { at: 1 }));
    const t = renderDemuxTable(buildDemux(many), { maxSockets: 5, maxIds: 3 });
    expect(t).toContain('tcp port 80 on 10.0.0.1: 30 connections, 30 open at once\n');
    expect(t).toContain('takes the SYN of flows 1, 2, 3, … (+27 more)\n');
    expect(t).toContain('    … 26 more sockets\n');
    expect(t.split('\n').filter((l) => l.startsWith('    connection'))).toHaveLength(4);
  });

  it('UDP peers sharing one socket, and ports nobody shares', () => {
    const t = renderDemuxTable(buildDemux([
      flow(1, 'udp', '10.0.0.2:40000', '10.0.0.1:53'),
      flow(2, 'udp', '10.0.0.3:40000', '10.0.0.1:53'),
    ]));
    expect(t).toContain('  but an unconnected UDP socket is found by address+port only: the peers share ONE socket,\n');
    expect(t).toContain('    udp socket  10.0.0.1:53 ◀ 10.0.0.2:40000  flow 1\n'
      + '                            ◀ 10.0.0.3:40000  flow 2\n');
    const lone = renderDemuxTable(buildDemux([flow(1, 'tcp', '10.0.0.2:40000', '10.0.0.1:22')]));
    expect(lone).toContain('No server port is shared by several flows: the port alone tells every flow apart.');
    expect(renderDemuxTable(buildDemux([]))).toContain('No TCP or UDP flows.');
  });
});

/** Node ids a drawing defines and uses. */
function ids(text: string, def: RegExp, use: RegExp): { defined: Set<string>; used: Set<string> } {
  const defined = new Set<string>();
  const used = new Set<string>();
  for (const line of text.split('\n')) {
    const d = def.exec(line);
    if (d) defined.add(d[1]!);
    const u = use.exec(line);
    if (u) {
      used.add(u[1]!);
      used.add(u[2]!);
    }
  }
  return { defined, used };
}

const hasDot = spawnSync('dot', ['-V']).error === undefined;

describe('DOT', () => {
  const dot = renderDemuxDot(buildDemux(sample()), { title: 'a "quoted" \\ title' });

  it('made-up ids only; addresses live in quoted labels', () => {
    const { defined, used } = ids(dot, /^ {4}([a-z]\d+) \[label=/, /^ {2}([a-z]\d+) -> ([a-z]\d+) \[/);
    expect(defined.size).toBeGreaterThan(0);
    for (const id of used) expect(defined.has(id)).toBe(true);
    expect(dot).toContain('label="host 2001:db8::1";');
    expect(dot).toContain('[label="tcp socket\\n[2001:db8::1]:443 ⇄ [2001:db8::2]:9157", shape=box];');
    expect(dot).toContain('label="a \\"quoted\\" \\\\ title"');
    // The clashing port is marked on the host that uses it both ways.
    expect(dot).toMatch(/label="tcp 9157\\nkey: 4-tuple\+time\\nport number in both roles", [^\n]*color=red/);
  });

  it('dotString escapes quotes, backslashes and newlines', () => {
    expect(dotString('a"b\\c\nd')).toBe('"a\\"b\\\\c\\nd"');
  });

  it.skipIf(!hasDot)('renders with Graphviz (dot -Tsvg) [skipped when Graphviz is not installed]', () => {
    const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('<svg');
    expect(r.stdout).toContain('[2001:db8::1]:443');
    expect(r.stdout).toContain('host 10.0.0.1');
  });
});

describe('Mermaid', () => {
  const mmd = renderDemuxMermaid(buildDemux(sample()));

  it('a flowchart with one subgraph a host, made-up ids, and balanced blocks', () => {
    const lines = mmd.split('\n');
    expect(lines.slice(0, 4)).toEqual(['---', 'title: "flowdemux: how the receiving host sorts packets into sockets"', '---', 'flowchart LR']);
    expect(lines.filter((l) => /^ {2}subgraph h\d+\["host [^"]+"\]$/.test(l))).toHaveLength(5);
    expect(lines.filter((l) => l === '  end')).toHaveLength(5);
    const { defined, used } = ids(mmd, /^ {4}([a-z]\d+)[[({]/, /^ {2}([a-z]\d+) (?:-->|==>|-\.->)\|"[^"]*"\| ([a-z]\d+)$/);
    for (const id of used) expect(defined.has(id)).toBe(true);
    expect(used.size).toBeGreaterThan(0);
    // Every label is one quoted string without a raw quote inside.
    for (const l of lines.slice(4)) expect((l.match(/"/g) ?? []).length % 2).toBe(0);
    expect(mmd).toContain('["tcp socket<br/>[2001:db8::1]:443 ⇄ [2001:db8::2]:9157"]');
  });

  it('mermaidString turns markup characters into entity codes', () => {
    expect(mermaidString('a "b" <c> #1 & d\ne')).toBe('"a #34;b#34; #60;c#62; #35;1 #38; d<br/>e"');
  });
});
