/**
 * LiveAttribution's rules (a made-up /proc and a clock the test moves: no timers): when an end is
 * looked up and looked at again, and what is kept; and how the reports show the host fields
 * (process, listener, UDP socket kind): only when present, so files render exactly as before.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LiveAttribution } from '../../src/host/attribution.js';
import { ProcessMap, TCP_STATES } from '../../src/host/procfs.js';
import { buildDemux } from '../../src/demux/groups.js';
import type { Flow, ListenerProcess } from '../../src/core/flow.js';
import { demuxToJson, renderDemuxDot, renderDemuxMermaid, renderDemuxTable } from '../../src/report/demux.js';
import { flowJsonText, flowToJson, renderFlowsJson } from '../../src/report/json.js';
import { processLabel } from '../../src/report/labels.js';
import { renderFlowsTable } from '../../src/report/table.js';
import { FakeProc } from './fake-proc.js';

const L = TCP_STATES.LISTEN;
const E = TCP_STATES.ESTABLISHED;

let proc: FakeProc;
let t: number;
beforeEach(() => {
  proc = new FakeProc();
  t = 5000;
});
afterEach(() => proc.cleanup());

function live(settleMs = 2000): LiveAttribution {
  const map = new ProcessMap({ procRoot: proc.root, clock: () => t, littleEndian: true });
  const a = new LiveAttribution(map, { settleMs, timer: false });
  a.start();
  return a;
}

function flow(id: number, client: [string, number], server: [string, number], more: Partial<Flow> = {}): Flow {
  const c = { packets: 3, wireBytes: 200, ipBytes: 160, payloadBytes: 20 };
  return {
    id, proto: 'tcp', generation: 1, client: { ip: client[0], port: client[1] }, server: { ip: server[0], port: server[1] },
    rolesInferred: false, start: { sec: 1_764_000_000, nsec: 0 }, end: { sec: 1_764_000_001, nsec: 500_000_000 }, duration: 1.5,
    toServer: { ...c }, toClient: { ...c }, state: 'SF', history: 'ShADadFf', communityId: '1:x',
    generationReason: 'first', endReason: 'fin', ipVersion: 4, icmpErrors: 0, icmpError: null, ...more,
  };
}

function connection(serverInode: number, clientInode: number, clientPort = 9157, serverState: number = E): void {
  proc.net({
    tcp: [
      { local: ['127.0.0.1', 80], remote: ['0.0.0.0', 0], state: L, inode: 1000 },
      { local: ['127.0.0.1', 80], remote: ['127.0.0.2', clientPort], state: serverState, inode: serverInode },
      { local: ['127.0.0.2', clientPort], remote: ['127.0.0.1', 80], state: E, inode: clientInode },
    ],
  });
}

describe('LiveAttribution', () => {
  it('looks a new flow up at the next poll, once, and keeps the answer after the sockets are gone', () => {
    connection(1001, 1002);
    proc.process(10, 'server', { 3: 1000, 4: 1001 });
    proc.process(20, 'client', { 3: 1002 });
    const a = live();
    const before = a.map.scans;
    a.noteFlow(1, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    expect(a.pending).toBe(1);
    a.poll();
    expect(a.map.scans).toBe(before + 1);
    a.poll(); // not due again yet
    expect(a.map.scans).toBe(before + 1);
    // The server end is held by the listener's own process: looked at again through the fork
    // window (at 1, 2, 4, ... 256 ms), then settled.
    for (let i = 0; i < 300; i++) {
      t += 1;
      a.poll();
    }
    expect(a.pending).toBe(0);
    expect(a.map.scans).toBe(before + 10);
    const scans = a.map.scans;
    // Gone from /proc by the time the report is made: what was seen is shown.
    proc.net({});
    proc.exit(10);
    proc.exit(20);
    t += 10_000;
    a.finish();
    const f = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    a.attribute(f);
    expect(f.client.process).toEqual({ pid: 20, command: 'client', state: 'running' });
    expect(f.server.process).toEqual({ pid: 10, command: 'server', state: 'running' });
    expect(f.server.listener).toEqual({ socket: '127.0.0.1:80', pid: 10, command: 'server' });
    expect(a.map.scans).toBe(scans);
  });

  it('a server socket not yet accepted is looked at again after 1, 2, 4 ms...; its listener is known from the start', () => {
    // The handshake is done but the server has not called accept(): inode 0.
    connection(0, 1002);
    proc.process(10, 'server', { 3: 1000 });
    proc.process(20, 'client', { 3: 1002 });
    const a = live();
    a.noteFlow(1, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    a.poll();
    expect(a.pending).toBe(1); // the server end waits
    const scans = a.map.scans;
    t += 0.5;
    a.poll(); // not due yet: no scan
    expect(a.map.scans).toBe(scans);
    t += 0.5;
    a.poll(); // 1 ms after the first packet: looked at again, still in the queue
    expect(a.map.scans).toBe(scans + 1);
    expect(a.pending).toBe(1);
    connection(1001, 1002);
    proc.process(10, 'server', { 3: 1000, 4: 1001 });
    t += 1;
    a.poll(); // 2 ms: accepted by a process that is not the listener's only owner? It is: one more look is due
    const f = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    a.attribute(f);
    expect(f.server.process).toEqual({ pid: 10, command: 'server', state: 'running' });
    expect(f.server.listener).toEqual({ socket: '127.0.0.1:80', pid: 10, command: 'server' });
    expect(f.client.process).toEqual({ pid: 20, command: 'client', state: 'running' });
  });

  it('at the SYN only the listener exists: the server end is looked at again until its socket appears', () => {
    proc.net({ tcp: [{ local: ['127.0.0.1', 80], remote: ['0.0.0.0', 0], state: L, inode: 1000 }] });
    proc.process(10, 'server', { 3: 1000 });
    const a = live();
    a.noteFlow(1, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    a.poll();
    expect(a.pending).toBe(1); // not called gone: the handshake has not made the socket yet
    connection(1001, 1002);
    proc.process(10, 'server', { 3: 1000, 4: 1001 });
    proc.process(20, 'client', { 3: 1002 });
    for (let i = 0; i < 100; i++) {
      t += 1;
      a.poll();
    }
    const f = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    a.attribute(f);
    expect(f.server.process).toEqual({ pid: 10, command: 'server', state: 'running' });
  });

  it('a connection nobody accepts is looked at with a doubling gap until settleMs, then keeps its listener and no process', () => {
    connection(0, 1002);
    proc.process(10, 'server', { 3: 1000 });
    proc.process(20, 'client', { 3: 1002 });
    const a = live(1000);
    const scans = a.map.scans;
    a.noteFlow(1, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    for (let i = 0; i < 2000; i++) {
      a.poll();
      t += 1;
    }
    expect(a.pending).toBe(0);
    // Looks at 0, 1, 2, 4, ... 512 ms, then the one past 1000 ms settles it: 12 in all.
    expect(a.map.scans - scans).toBe(12);
    const f = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    a.attribute(f);
    expect(f.client.process).toEqual({ pid: 20, command: 'client', state: 'running' });
    expect(f.server.process).toBeUndefined();
    expect(f.server.listener).toEqual({ socket: '127.0.0.1:80', pid: 10, command: 'server' });
  });

  it('a forking server: the parent holds the new connection first, then its child does; the child is named', () => {
    connection(1001, 1002);
    proc.process(10, 'server', { 3: 1000, 4: 1001 }, 100);
    proc.process(20, 'client', { 3: 1002 });
    const a = live();
    a.noteFlow(1, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    a.poll();
    // Held by the listener's owner: not settled, it may yet hand the connection to a child.
    expect(a.pending).toBe(1);
    proc.process(11, 'server', { 3: 1000, 4: 1001 }, 200); // fork()
    proc.process(10, 'server', { 3: 1000 }, 100); // the parent closes its copy
    t += 1;
    a.poll();
    expect(a.pending).toBe(0);
    const f = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    a.attribute(f);
    expect(f.server.process).toEqual({ pid: 11, command: 'server', state: 'running' });
    expect(f.server.listener).toEqual({ socket: '127.0.0.1:80', pid: 10, command: 'server', pids: [10, 11] });
  });

  it('each generation of a reused 4-tuple gets the process that held it at the time', () => {
    connection(1001, 1002);
    proc.process(10, 'server', { 3: 1000, 4: 1001 });
    proc.process(20, 'first', { 3: 1002 });
    const a = live();
    a.noteFlow(1, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    a.poll();
    // The first connection ends; another process connects from the same port to the same server.
    connection(1011, 1012);
    proc.exit(20);
    proc.process(10, 'server', { 3: 1000, 4: 1011 });
    proc.process(30, 'second', { 3: 1012 });
    t += 1000;
    a.noteFlow(2, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    a.poll();
    a.finish();
    const f1 = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    const f2 = flow(2, ['127.0.0.2', 9157], ['127.0.0.1', 80], { generation: 2 });
    a.attribute(f1);
    a.attribute(f2);
    expect(f1.client.process).toMatchObject({ pid: 20, command: 'first' });
    expect(f2.client.process).toMatchObject({ pid: 30, command: 'second' });
  });

  it('finish answers what is still waiting; roles come from the flow, the server end of a refused connection has none', () => {
    connection(0, 1002, 9157, TCP_STATES.SYN_RECV);
    proc.process(20, 'client', { 3: 1002 });
    const a = live();
    // Noted from the server's side (the first packet seen was its SYN-ACK, say).
    a.noteFlow(1, 'tcp', '127.0.0.1', 80, '127.0.0.2', 9157);
    a.poll();
    expect(a.pending).toBe(1);
    a.finish();
    expect(a.pending).toBe(0);
    const f = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    a.attribute(f);
    expect(f.client.process).toEqual({ pid: 20, command: 'client', state: 'running' });
    expect(f.server.process).toBeUndefined(); // not accepted by anyone: nothing is invented
    const refused = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80], { state: 'REJ' });
    a.attribute(refused);
    expect(refused.server).toEqual({ ip: '127.0.0.1', port: 80 });
    // Forgotten (streaming output): asked again, the map answers from what it knows.
    a.forget(1);
    const again = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    a.attribute(again);
    expect(again.client.process).toEqual({ pid: 20, command: 'client', state: 'running' });
  });

  it('a flood of new tuples: looks coalesce into few rounds, what waits and what is kept stay bounded, the rest is counted and said', () => {
    proc.process(20, 'client', {});
    // 100,000 new tuples a second: a batch of 100 SYNs each millisecond, then a poll. Looking
    // costs CPU time (0.2 ms a measured piece of work here), so the budgets run out.
    let spent = 0;
    const map = new ProcessMap({ procRoot: proc.root, clock: () => t, cost: () => (spent += 0.2), littleEndian: true });
    const a = new LiveAttribution(map, { timer: false, maxWaiting: 100, maxKept: 1000 });
    a.start();
    for (let id = 1; id <= 20_000; id++) {
      a.noteFlow(id, 'tcp', '127.0.0.2', 10_000 + (id % 50_000), '127.0.0.1', 80);
      if (id % 100 === 0) {
        a.poll();
        t += 1;
      }
    }
    expect(a.pending).toBeLessThanOrEqual(100);
    const c = a.counts;
    expect(c.noted).toBe(20_000);
    expect(c.kept).toBeLessThanOrEqual(1000);
    expect(c.givenUp).toBeGreaterThan(0);
    // 200 polls, but the time budget allowed only some rounds (each costs what its clock
    // readings took): the rest waited and coalesced.
    expect(map.scans).toBeLessThan(100);
    expect(a.warnings.join('\n')).toContain(`process names: ${c.givenUp} of 20000 new flows were not looked up in time`);
  });

  it('a flow that ended before its first look is looked up when it is reported', () => {
    connection(1001, 1002);
    proc.process(10, 'server', { 3: 1000, 4: 1001 });
    proc.process(20, 'client', { 3: 1002 });
    const a = live();
    a.noteFlow(1, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    const f = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    a.attribute(f);
    expect(f.client.process).toEqual({ pid: 20, command: 'client', state: 'running' });
  });
});

// ---------------------------------------------------------------------------------------------

const LISTENER: ListenerProcess = { socket: '0.0.0.0:80', pid: 4121, command: 'python3' };

/** The teaching picture with processes: P3 on A, P4 and P5 both on B:80 (a forking python3 here). */
function teachingFlows(): Flow[] {
  const a = flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80]);
  a.client.process = { pid: 300, command: 'curl', state: 'running' };
  a.server.process = { pid: 4121, command: 'python3', state: 'running' };
  a.server.listener = LISTENER;
  const c = flow(2, ['127.0.0.3', 9157], ['127.0.0.1', 80], { start: { sec: 1_764_000_000, nsec: 100 } });
  c.client.process = { state: 'gone' };
  c.server.process = { pid: 4122, command: 'python3', state: 'running', pids: [4121, 4122] };
  c.server.listener = LISTENER;
  return [a, c];
}

describe('reports with process fields', () => {
  it('JSON: process and listener apart on each end, design.md key order, and the fast writer agrees with JSON.stringify', () => {
    const [a, c] = teachingFlows() as [Flow, Flow];
    expect(JSON.parse(flowJsonText(a)).client).toEqual({ ip: '127.0.0.2', port: 9157, process: { pid: 300, command: 'curl', state: 'running' } });
    expect(flowJsonText(a)).toContain('"server":{"ip":"127.0.0.1","port":80,"process":{"pid":4121,"command":"python3","state":"running"},'
      + '"listener":{"socket":"0.0.0.0:80","pid":4121,"command":"python3"}}');
    expect(flowJsonText(c)).toContain('"client":{"ip":"127.0.0.3","port":9157,"process":{"state":"gone"}}');
    // A UDP end with its socket kind, an SO_REUSEPORT listener group.
    const u = { ...flow(5, ['127.0.0.2', 9157], ['127.0.0.1', 5353]), proto: 'udp' as const };
    u.server.socket = { kind: 'unconnected', bound: '[::]:5353', dualStack: true };
    const r = flow(6, ['127.0.0.2', 9158], ['127.0.0.1', 8443]);
    r.server.listener = { socket: '127.0.0.1:8443', pid: 801, command: 'worker', reuseport: { listeners: 2, owners: [{ pid: 800, command: 'worker' }, { pid: 801, command: 'worker' }] } };
    expect(flowJsonText(u)).toContain('"server":{"ip":"127.0.0.1","port":5353,"socket":{"kind":"unconnected","bound":"[::]:5353","dualStack":true}}');
    expect(JSON.parse(flowJsonText(r)).server.listener.reuseport).toEqual({ listeners: 2, owners: [{ pid: 800, command: 'worker' }, { pid: 801, command: 'worker' }] });
    // A process picks its own name: quotes, a newline, an escape character and a C1 control.
    const odd = flow(3, ['127.0.0.2', 1], ['127.0.0.1', 2]);
    odd.client.process = { pid: 1, command: 'a"b\n\x1b[31m\u009b', state: 'running' };
    for (const f of [a, c, u, r]) expect(flowJsonText(f)).toBe(JSON.stringify(flowToJson(f)));
    expect(JSON.parse(flowJsonText(odd))).toEqual(flowToJson(odd));
    expect(JSON.parse(flowJsonText(odd)).client.process.command).toBe('a"b\n\x1b[31m\u009b');
    expect(flowJsonText(odd)).not.toMatch(/[\x1b\u009b]/);
    expect(processLabel(odd.client.process)).toBe('a"b\\x0a\\x1b[31m\\x9b (pid 1)');
    // No process: the same text as a capture file gives.
    const plain = flow(4, ['127.0.0.2', 1], ['127.0.0.1', 2]);
    expect(renderFlowsJson([plain], [], [])).not.toContain('process');
  });

  it('table: the process columns appear only when some end has a process or a listener; a gone socket says so', () => {
    const flows = teachingFlows();
    const gone = flow(3, ['127.0.0.4', 9157], ['127.0.0.1', 80]);
    gone.client.process = { state: 'gone' };
    gone.server.process = { state: 'gone' };
    gone.server.listener = LISTENER;
    const table = renderFlowsTable([...flows, gone]);
    const head = table.split('\n')[1]!;
    expect(head.indexOf('client process')).toBeGreaterThan(head.indexOf('client '));
    expect(head.indexOf('server process')).toBeGreaterThan(head.indexOf('server '));
    expect(table).toContain('curl (pid 300)');
    expect(table).toMatch(/│ python3 \(pid 4121\)\s+│/);
    expect(table).toContain('python3 (pid 4122, also held by 4121) via listener python3 (pid 4121)');
    expect(table).toContain('gone before lookup; listener python3 (pid 4121)');
    expect(table).not.toContain('exited');
    const plain = renderFlowsTable([flow(1, ['127.0.0.2', 9157], ['127.0.0.1', 80])]);
    expect(plain).not.toContain('process');
  });

  it('demux: sockets named after their processes, the listener\'s real binding and owner, P3 on the client port', () => {
    const report = buildDemux(teachingFlows());
    const json = demuxToJson(report) as { groups: { sockets: Record<string, unknown>[] }[] };
    expect(json.groups[0]!.sockets).toEqual([
      { kind: 'listen', local: '127.0.0.1:80', flows: [1, 2], bound: '0.0.0.0:80', process: { pid: 4121, command: 'python3', state: 'running' } },
      { kind: 'connection', local: '127.0.0.1:80', remote: '127.0.0.2:9157', flows: [1], generations: 1, process: { pid: 4121, command: 'python3', state: 'running' } },
      { kind: 'connection', local: '127.0.0.1:80', remote: '127.0.0.3:9157', flows: [2], generations: 1, process: { pid: 4122, command: 'python3', state: 'running', pids: [4121, 4122] } },
    ]);
    const text = renderDemuxTable(report);
    expect(text).toContain('takes the SYN of flows 1, 2; held by python3 (pid 4121), bound to 0.0.0.0:80');
    expect(text).toContain('flow 1; held by python3 (pid 4121), peer curl (pid 300)');
    expect(text).toContain('flow 2; held by python3 (pid 4122, also held by 4121), peer gone before lookup');
    const dot = renderDemuxDot(report);
    expect(dot).toContain('s1 [label="listen\\n127.0.0.1:80\\nbound to 0.0.0.0:80\\npython3 (pid 4121)"');
    expect(dot).toContain('[label="tcp 9157\\ncurl (pid 300)"');
    expect(dot).toContain('[label="tcp 9157\\nclosed before its owner was seen"');
    const mermaid = renderDemuxMermaid(report);
    expect(mermaid).toContain('python3 (pid 4121)');
    expect(mermaid).toContain('curl (pid 300)');
    // An SO_REUSEPORT group: the listen row says how the kernel picks.
    const r = teachingFlows();
    for (const f of r) f.server.listener = { ...LISTENER, reuseport: { listeners: 2, owners: [{ pid: 4121, command: 'python3' }, { pid: 4200, command: 'python3' }] } };
    const rText = renderDemuxTable(buildDemux(r));
    expect(rText).toContain('SO_REUSEPORT group of 2 listeners (python3 (pid 4121), python3 (pid 4200)): the kernel gives each connection to one of them by a hash of its 4-tuple');
    expect(JSON.stringify(demuxToJson(buildDemux(r)))).toContain('"reuseport":{"listeners":2,"owners":[{"pid":4121,"command":"python3"},{"pid":4200,"command":"python3"}]}');
    // Without processes nothing of this appears.
    const plain = buildDemux(teachingFlows().map((f) => ({ ...f, client: { ip: f.client.ip, port: f.client.port }, server: { ip: f.server.ip, port: f.server.port } })));
    for (const out of [renderDemuxTable(plain), renderDemuxDot(plain), renderDemuxMermaid(plain), JSON.stringify(demuxToJson(plain))]) {
      expect(out).not.toMatch(/pid|process|bound to [0-9]|"bound"|REUSEPORT/);
    }
  });
});
