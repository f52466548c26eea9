/**
 * ProcessMap's rules on a /proc tree made in a temporary directory: real files in the kernel's
 * /proc/net format, real `PID/fd/N` symlinks to `socket:[inode]`, real `PID/comm` and `PID/stat`
 * files, so that every case is exact and repeatable (shared sockets, TIME_WAIT, the accept queue,
 * UDP wildcard and connected sockets, SO_REUSEPORT groups, a process that exits between the
 * reads) and the reads can be counted. A made-up tree is read through the tables (the kernel's
 * netlink lookup answers only for the real /proc, tested in live*.test.ts).
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attributeFlow, attributeFlows } from '../../src/host/attribution.js';
import { ProcessMap, TCP_STATES, type Attribution } from '../../src/host/procfs.js';
import type { Flow } from '../../src/core/flow.js';
import { FakeProc } from './fake-proc.js';

const L = TCP_STATES.LISTEN;
const E = TCP_STATES.ESTABLISHED;
const ANY4: [string, number] = ['0.0.0.0', 0];
const ANY6: [string, number] = ['::', 0];

/** The teaching picture on loopback: two clients from port 9157 on .2 and .3 to one server port 80. */
function teaching(p: FakeProc): void {
  p.net({
    tcp: [
      { local: ['0.0.0.0', 80], remote: ANY4, state: L, inode: 1000 },
      { local: ['127.0.0.1', 80], remote: ['127.0.0.2', 9157], state: E, inode: 1001 },
      { local: ['127.0.0.2', 9157], remote: ['127.0.0.1', 80], state: E, inode: 1002 },
      { local: ['127.0.0.1', 80], remote: ['127.0.0.3', 9157], state: E, inode: 1003 },
      { local: ['127.0.0.3', 9157], remote: ['127.0.0.1', 80], state: E, inode: 1004 },
    ],
  });
  p.process(4121, 'python3', { 0: '/dev/null', 3: 1000, 4: 1001, 5: 1003 });
  p.process(4300, 'curl', { 3: 1002, 7: 'pipe:[55]' });
  p.process(4301, 'wget', { 3: 1004 });
}

let proc: FakeProc;
let t: number;
const clock = () => t;
beforeEach(() => {
  proc = new FakeProc();
  t = 1000;
});
afterEach(() => proc.cleanup());

function map(): ProcessMap {
  return new ProcessMap({ procRoot: proc.root, clock, littleEndian: true });
}

/** A fresh look (new processes, then the tables) and one end's answer. */
function ask(m: ProcessMap, proto: 'tcp' | 'udp', lip: string, lport: number, rip: string, rport: number): Attribution {
  m.refresh();
  return m.resolve(proto, lip, lport, rip, rport);
}

/** The process part of an answer. */
function owner(a: Attribution): unknown {
  return a.kind === 'process' ? a.process : a;
}

function flow(id: number, proto: 'tcp' | 'udp', client: [string, number], server: [string, number], state = 'SF'): Flow {
  const c = { packets: 1, wireBytes: 60, ipBytes: 40, payloadBytes: 0 };
  return {
    id, proto, generation: 1, client: { ip: client[0], port: client[1] }, server: { ip: server[0], port: server[1] },
    rolesInferred: proto === 'udp', start: { sec: 1, nsec: 0 }, end: { sec: 2, nsec: 0 }, duration: 1,
    toServer: { ...c }, toClient: { ...c }, state, history: 'ShAD', communityId: '1:x',
    generationReason: 'first', endReason: null, ipVersion: client[0].includes(':') ? 6 : 4, icmpErrors: 0, icmpError: null,
  };
}

describe('ProcessMap on a made-up /proc', () => {
  it('names both ends of each connection, the two server sockets of port 80 and their listener', () => {
    teaching(proc);
    const m = map();
    m.start();
    expect(owner(m.resolve('tcp', '127.0.0.2', 9157, '127.0.0.1', 80))).toEqual({ pid: 4300, command: 'curl', state: 'running' });
    expect(owner(m.resolve('tcp', '127.0.0.3', 9157, '127.0.0.1', 80))).toEqual({ pid: 4301, command: 'wget', state: 'running' });
    for (const client of ['127.0.0.2', '127.0.0.3']) {
      expect(m.resolve('tcp', '127.0.0.1', 80, client, 9157)).toEqual({
        kind: 'process', process: { pid: 4121, command: 'python3', state: 'running' },
        listener: { socket: '0.0.0.0:80', pid: 4121, command: 'python3' }, inode: client === '127.0.0.2' ? 1001 : 1003, at: 1000,
      });
    }
    // One read of the tables and one walk of every process answered all four ends.
    expect(m.scans).toBe(1);
    expect(m.owners.counts.fullWalks).toBe(1);
    expect(m.warnings).toEqual([]);
  });

  it('attributeFlow puts them on the flow: process and listener apart, the listener on the server end only', () => {
    teaching(proc);
    const m = map();
    m.start();
    const f = flow(1, 'tcp', ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    attributeFlow(f, m);
    expect(f.client).toEqual({ ip: '127.0.0.2', port: 9157, process: { pid: 4300, command: 'curl', state: 'running' } });
    expect(f.server).toEqual({
      ip: '127.0.0.1', port: 80,
      process: { pid: 4121, command: 'python3', state: 'running' },
      listener: { socket: '0.0.0.0:80', pid: 4121, command: 'python3' },
    });
    // No SYN-ACK (Zeek S0/REJ...): the server never had a connection socket, nothing is named for it.
    const refused = flow(2, 'tcp', ['127.0.0.2', 9157], ['127.0.0.1', 80], 'REJ');
    attributeFlow(refused, m);
    expect(refused.client.process).toEqual({ pid: 4300, command: 'curl', state: 'running' });
    expect(refused.server).toEqual({ ip: '127.0.0.1', port: 80 });
    // ICMP has no sockets to look for.
    const icmp = { ...flow(3, 'udp', ['127.0.0.2', 8], ['127.0.0.1', 0]), proto: 'icmp' as const };
    attributeFlow(icmp, m);
    expect(icmp.client.process).toBeUndefined();
  });

  it('a new process is found by reading only the new processes, not every process again', () => {
    teaching(proc);
    const m = map();
    m.start();
    const links = m.owners.counts.links;
    proc.net({
      tcp: [
        { local: ['0.0.0.0', 80], remote: ANY4, state: L, inode: 1000 },
        { local: ['127.0.0.1', 80], remote: ['127.0.0.2', 9158], state: E, inode: 1011 },
        { local: ['127.0.0.2', 9158], remote: ['127.0.0.1', 80], state: E, inode: 1012 },
      ],
    });
    proc.process(4400, 'nc', { 0: '/dev/null', 3: 1012 });
    t += 1;
    expect(owner(ask(m, 'tcp', '127.0.0.2', 9158, '127.0.0.1', 80))).toEqual({ pid: 4400, command: 'nc', state: 'running' });
    expect(m.owners.counts.fullWalks).toBe(1);
    // nc's two links, nothing else.
    expect(m.owners.counts.links - links).toBe(2);
    // The server's new socket: its listener's owner is read again (a threaded server accepts
    // in the listener's process), not every process.
    proc.process(4121, 'python3', { 0: '/dev/null', 3: 1000, 4: 1011 }, 4121);
    expect(owner(ask(m, 'tcp', '127.0.0.1', 80, '127.0.0.2', 9158))).toEqual({ pid: 4121, command: 'python3', state: 'running' });
    expect(m.owners.counts.fullWalks).toBe(1);
  });

  it('a socket seen held just before the table was read is named even if it closed meanwhile', () => {
    const m = map();
    m.start();
    // curl starts and connects; the look-up round reads the new process first...
    proc.process(4600, 'curl', { 3: 1500 });
    proc.net({ tcp: [{ local: ['127.0.0.2', 40000], remote: ['127.0.0.1', 80], state: E, inode: 1500 }] });
    t += 1;
    m.refresh();
    // ...and curl has closed it by the time the answer is put together: it was seen held.
    proc.close(3, 4600);
    expect(owner(m.resolve('tcp', '127.0.0.2', 40000, '127.0.0.1', 80))).toEqual({ pid: 4600, command: 'curl', state: 'running' });
    // A later round no longer takes that old sight: the socket has to be held now.
    t += 1;
    m.refresh();
    m.owners.fullWalk();
    expect(owner(m.resolve('tcp', '127.0.0.2', 40000, '127.0.0.1', 80))).toEqual({ state: 'gone', uid: 0 });
  });

  it('a process seen before it opened its socket is read again while it is young', () => {
    const m = map();
    m.start();
    // curl has started but not connected when a round reads the new processes...
    proc.process(4700, 'curl', { 0: '/dev/null' });
    t += 1;
    m.refresh();
    // ...then it connects: the next round finds it although it is no longer new.
    proc.process(4700, 'curl', { 0: '/dev/null', 3: 1600 });
    proc.net({ tcp: [{ local: ['127.0.0.2', 40001], remote: ['127.0.0.1', 80], state: E, inode: 1600 }] });
    t += 1;
    expect(owner(ask(m, 'tcp', '127.0.0.2', 40001, '127.0.0.1', 80))).toEqual({ pid: 4700, command: 'curl', state: 'running' });
    expect(m.owners.counts.fullWalks).toBe(1);
  });

  it('after the processes exit, a fresh look says gone (attributeFlows); the listener, still held, is named', () => {
    teaching(proc);
    const m = map();
    m.start();
    const flows = [flow(1, 'tcp', ['127.0.0.2', 9157], ['127.0.0.1', 80]), flow(2, 'tcp', ['127.0.0.3', 9157], ['127.0.0.1', 80])];
    attributeFlows(flows, m);
    expect(flows.map((f) => [f.client.process?.state, f.server.process?.state])).toEqual([['running', 'running'], ['running', 'running']]);
    // The clients closed first (their side in TIME_WAIT, inode 0), then the connections went.
    proc.net({
      tcp: [
        { local: ['0.0.0.0', 80], remote: ANY4, state: L, inode: 1000 },
        { local: ['127.0.0.2', 9157], remote: ['127.0.0.1', 80], state: TCP_STATES.TIME_WAIT, inode: 0 },
        { local: ['127.0.0.3', 9157], remote: ['127.0.0.1', 80], state: TCP_STATES.TIME_WAIT, inode: 0 },
      ],
    });
    proc.process(4121, 'python3', { 0: '/dev/null', 3: 1000 });
    for (const pid of [4300, 4301]) proc.exit(pid);
    t += 10;
    attributeFlows(flows, m);
    for (const f of flows) {
      expect(f.client.process).toEqual({ state: 'gone' });
      expect(f.server.process).toEqual({ state: 'gone' });
      expect(f.server.listener).toEqual({ socket: '0.0.0.0:80', pid: 4121, command: 'python3' });
    }
  });

  it('a socket held by a forking server and its child names the child, lists both; the listener names the parent', () => {
    teaching(proc);
    // The child after fork holds the listener and the connection too; it started later.
    proc.process(4122, 'python3', { 3: 1000, 4: 1001 }, 9999);
    const m = map();
    m.start();
    expect(m.resolve('tcp', '127.0.0.1', 80, '127.0.0.2', 9157)).toMatchObject({
      process: { pid: 4122, command: 'python3', state: 'running', pids: [4121, 4122] },
      listener: { socket: '0.0.0.0:80', pid: 4121, command: 'python3', pids: [4121, 4122] },
    });
    expect(owner(m.resolve('tcp', '127.0.0.1', 80, '127.0.0.3', 9157))).toEqual({ pid: 4121, command: 'python3', state: 'running' });
  });

  it('an SO_REUSEPORT group: every listener and owner, and the one held by the accepting process', () => {
    proc.net({
      tcp: [
        { local: ['127.0.0.1', 8443], remote: ANY4, state: L, inode: 5000 },
        { local: ['127.0.0.1', 8443], remote: ANY4, state: L, inode: 5001 },
        { local: ['127.0.0.1', 8443], remote: ['127.0.0.2', 50000], state: E, inode: 5002 },
      ],
    });
    proc.process(800, 'worker', { 3: 5000 });
    proc.process(801, 'worker', { 3: 5001, 4: 5002 });
    const m = map();
    m.start();
    expect(m.resolve('tcp', '127.0.0.1', 8443, '127.0.0.2', 50000)).toMatchObject({
      process: { pid: 801, command: 'worker', state: 'running' },
      listener: {
        socket: '127.0.0.1:8443', pid: 801, command: 'worker',
        reuseport: { listeners: 2, owners: [{ pid: 800, command: 'worker' }, { pid: 801, command: 'worker' }] },
      },
    });
    // Not accepted yet: the group, but which listener took it is not known.
    proc.net({
      tcp: [
        { local: ['127.0.0.1', 8443], remote: ANY4, state: L, inode: 5000 },
        { local: ['127.0.0.1', 8443], remote: ANY4, state: L, inode: 5001 },
        { local: ['127.0.0.1', 8443], remote: ['127.0.0.2', 50001], state: E, inode: 0 },
      ],
    });
    t += 1;
    const waiting = ask(m, 'tcp', '127.0.0.1', 8443, '127.0.0.2', 50001);
    expect(waiting).toEqual({
      kind: 'pending', at: 1001,
      listener: { socket: '127.0.0.1:8443', reuseport: { listeners: 2, owners: [{ pid: 800, command: 'worker' }, { pid: 801, command: 'worker' }] } },
    });
  });

  it('a connection in the accept queue (inode 0, ESTABLISHED) or its handshake is not yet anyone\'s; TIME_WAIT is gone', () => {
    proc.net({
      tcp: [
        { local: ['127.0.0.1', 8080], remote: ANY4, state: L, inode: 2000 },
        { local: ['127.0.0.1', 8080], remote: ['127.0.0.2', 40000], state: E, inode: 0 },
        { local: ['127.0.0.1', 8080], remote: ['127.0.0.2', 40001], state: TCP_STATES.SYN_RECV, inode: 0 },
        { local: ['127.0.0.1', 8080], remote: ['127.0.0.2', 40002], state: TCP_STATES.TIME_WAIT, inode: 0 },
      ],
    });
    proc.process(500, 'slow-server', { 3: 2000 });
    const m = map();
    m.start();
    const listener = { socket: '127.0.0.1:8080', pid: 500, command: 'slow-server' };
    expect(m.resolve('tcp', '127.0.0.1', 8080, '127.0.0.2', 40000)).toEqual({ kind: 'pending', listener, at: 1000 });
    expect(m.resolve('tcp', '127.0.0.1', 8080, '127.0.0.2', 40001)).toEqual({ kind: 'pending', listener, at: 1000 });
    expect(m.resolve('tcp', '127.0.0.1', 8080, '127.0.0.2', 40002)).toEqual({ kind: 'process', process: { state: 'gone' }, listener, inode: 0, at: 1000 });
    // Once accepted, a later look finds its owner.
    proc.net({
      tcp: [
        { local: ['127.0.0.1', 8080], remote: ANY4, state: L, inode: 2000 },
        { local: ['127.0.0.1', 8080], remote: ['127.0.0.2', 40001], state: E, inode: 2001 },
      ],
    });
    proc.process(500, 'slow-server', { 3: 2000, 4: 2001 });
    t += 250;
    expect(owner(ask(m, 'tcp', '127.0.0.1', 8080, '127.0.0.2', 40001))).toEqual({ pid: 500, command: 'slow-server', state: 'running' });
  });

  it('IPv4 connections of a dual-stack :: listener are found through their ::ffff: entries', () => {
    proc.net({
      tcp6: [
        { local: ['::', 38606], remote: ANY6, state: L, inode: 3000 },
        { local: ['::ffff:127.0.0.1', 38606], remote: ['::ffff:127.0.0.1', 33710], state: E, inode: 3001 },
        { local: ['::1', 38607], remote: ANY6, state: L, inode: 3002 },
        { local: ['::1', 38607], remote: ['::1', 55440], state: E, inode: 3003 },
      ],
      tcp: [{ local: ['127.0.0.1', 33710], remote: ['127.0.0.1', 38606], state: E, inode: 3004 }],
    });
    proc.process(600, 'node', { 20: 3000, 25: 3001, 21: 3002, 27: 3003, 24: 3004 });
    const m = map();
    m.start();
    expect(m.resolve('tcp', '127.0.0.1', 38606, '127.0.0.1', 33710)).toMatchObject({
      process: { pid: 600 }, listener: { socket: '[::]:38606', pid: 600 },
    });
    expect(owner(m.resolve('tcp', '127.0.0.1', 33710, '127.0.0.1', 38606))).toMatchObject({ pid: 600 });
    expect(m.resolve('tcp', '::1', 38607, '::1', 55440)).toMatchObject({ process: { pid: 600 }, listener: { socket: '[::1]:38607' } });
    // An IPv6 flow is never matched to an IPv4 wildcard listener, and the other way round a
    // specific address beats the wildcard.
    proc.net({
      tcp: [
        { local: ['0.0.0.0', 9000], remote: ANY4, state: L, inode: 3100 },
        { local: ['127.0.0.1', 9000], remote: ANY4, state: L, inode: 3101 },
        { local: ['127.0.0.1', 9000], remote: ['127.0.0.5', 1234], state: E, inode: 3102 },
        { local: ['127.0.0.2', 9000], remote: ['127.0.0.5', 1235], state: E, inode: 3103 },
      ],
      tcp6: [{ local: ['::1', 9000], remote: ['::1', 1236], state: E, inode: 3104 }],
    });
    proc.process(601, 'two-listeners', { 3: 3100, 4: 3101, 5: 3102, 6: 3103, 7: 3104 });
    const n = map();
    n.start();
    expect(n.resolve('tcp', '127.0.0.1', 9000, '127.0.0.5', 1234)).toMatchObject({ listener: { socket: '127.0.0.1:9000' } });
    expect(n.resolve('tcp', '127.0.0.2', 9000, '127.0.0.5', 1235)).toMatchObject({ listener: { socket: '0.0.0.0:9000' } });
    expect(n.resolve('tcp', '::1', 9000, '::1', 1236))
      .toEqual({ kind: 'process', process: { pid: 601, command: 'two-listeners', state: 'running' }, inode: 3104, at: 1000 });
  });

  it('UDP: a connected socket by its 4-tuple, else the unconnected one on the address, else the wildcard; each says its kind', () => {
    proc.net({
      udp: [
        { local: ['127.0.0.1', 5353], remote: ANY4, state: 7, inode: 4000 },
        { local: ['0.0.0.0', 5353], remote: ANY4, state: 7, inode: 4001 },
        { local: ['127.0.0.2', 9157], remote: ['127.0.0.1', 5353], state: 1, inode: 4002 },
      ],
      udp6: [{ local: ['::', 6000], remote: ANY6, state: 7, inode: 4003 }],
    });
    proc.process(700, 'resolver', { 3: 4000 });
    proc.process(701, 'avahi', { 3: 4001 });
    proc.process(702, 'dig', { 3: 4002 });
    proc.process(703, 'dual', { 3: 4003 });
    const m = map();
    m.start();
    expect(m.resolve('udp', '127.0.0.1', 5353, '127.0.0.2', 9157)).toEqual({
      kind: 'process', process: { pid: 700, command: 'resolver', state: 'running' },
      socket: { kind: 'unconnected', bound: '127.0.0.1:5353' }, inode: 4000, at: 1000,
    });
    expect(m.resolve('udp', '127.0.0.9', 5353, '127.0.0.2', 9157)).toMatchObject({
      process: { pid: 701 }, socket: { kind: 'unconnected', bound: '0.0.0.0:5353' },
    });
    expect(m.resolve('udp', '127.0.0.2', 9157, '127.0.0.1', 5353)).toMatchObject({
      process: { pid: 702 }, socket: { kind: 'connected', bound: '127.0.0.2:9157' },
    });
    // An IPv4 datagram to a dual-stack :: socket, and an IPv6 one.
    expect(m.resolve('udp', '127.0.0.1', 6000, '127.0.0.3', 1)).toMatchObject({
      process: { pid: 703, command: 'dual' }, socket: { kind: 'unconnected', bound: '[::]:6000', dualStack: true },
    });
    expect(m.resolve('udp', '::1', 6000, '::1', 2)).toMatchObject({ process: { pid: 703 }, socket: { kind: 'unconnected', bound: '[::]:6000' } });
  });

  it('an address of another host is not looked up at all', () => {
    teaching(proc);
    const m = new ProcessMap({ procRoot: proc.root, clock, isLocal: (ip) => ip.startsWith('127.') });
    expect(m.resolve('tcp', '192.0.2.9', 80, '127.0.0.2', 9157)).toEqual({ kind: 'unknown', reason: 'not-local' });
    expect(m.resolve('tcp', '0.0.0.0', 80, '127.0.0.2', 9157)).toEqual({ kind: 'unknown', reason: 'not-local' });
    expect(m.scans).toBe(0);
  });

  it('owners are checked before reuse: a socket passed to another process is found by a new walk', () => {
    teaching(proc);
    const m = map();
    m.start();
    expect(owner(m.resolve('tcp', '127.0.0.2', 9157, '127.0.0.1', 80))).toMatchObject({ pid: 4300 });
    proc.close(3, 4300);
    proc.process(4500, 'inheritor', { 9: 1002 });
    t += 300;
    expect(owner(ask(m, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80))).toEqual({ pid: 4500, command: 'inheritor', state: 'running' });
  });

  it('a process that exits between the fd walk and reading its name is not named', () => {
    teaching(proc);
    const m = map();
    m.start();
    proc.exit(4300);
    expect(owner(m.resolve('tcp', '127.0.0.2', 9157, '127.0.0.1', 80))).toEqual({ state: 'gone', uid: 0 });
  });

  it('looking may take a share of the time, with a burst: no fixed rate', () => {
    teaching(proc);
    // Each measured piece of looking costs 2 ms (a cost clock that moves by 2 at each reading);
    // the wall clock moves only when the test moves it.
    let c = 0;
    const m = new ProcessMap({ procRoot: proc.root, clock, cost: () => (c += 2), littleEndian: true, share: 0.25, burstMs: 20 });
    // The burst: several rounds at once, then the budget says no...
    let rounds = 0;
    while (m.refreshIfDue() && rounds < 1000) rounds++;
    expect(rounds).toBeGreaterThan(1);
    expect(rounds).toBeLessThanOrEqual(11);
    // ...but a new connection's first look may still borrow up to one more burst.
    expect(m.refreshIfDue(['tcp'], true)).toBe(true);
    // Once the time the share gives back has passed, yes again.
    expect(m.scanDueAt).toBeGreaterThan(t);
    t = m.scanDueAt + 1;
    expect(m.refreshIfDue()).toBe(true);
    // A look that costs nothing never runs out.
    const free = new ProcessMap({ procRoot: proc.root, clock, littleEndian: true });
    for (let i = 0; i < 50; i++) expect(free.refreshIfDue()).toBe(true);
    expect(free.scans).toBe(50);
  });

  it('without /proc: no names, one warning, no throw', () => {
    const m = new ProcessMap({ procRoot: join(proc.root, 'missing'), clock });
    m.start();
    expect(ask(m, 'tcp', '127.0.0.2', 9157, '127.0.0.1', 80)).toEqual({ kind: 'unknown', reason: 'no-proc' });
    expect(m.warnings).toHaveLength(1);
    expect(m.warnings[0]).toMatch(/\/proc.*net\/tcp is not readable here \(ENOENT\)/);
    const f = flow(1, 'tcp', ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    attributeFlow(f, m);
    expect(f.client).toEqual({ ip: '127.0.0.2', port: 9157 });
    expect(f.server).toEqual({ ip: '127.0.0.1', port: 80 });
  });
});
