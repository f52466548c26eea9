/**
 * ProcessMap's rules on a /proc tree made in a temporary directory: real files in the kernel's
 * /proc/net format, real `PID/fd/N` symlinks to `socket:[inode]`, real `PID/comm` files, so that
 * every case is exact and repeatable (shared sockets, TIME_WAIT, the accept queue, UDP wildcard
 * sockets, a process that exits between the reads) and the scans can be counted against a clock
 * the test moves. The same code on the real /proc is tested in live.test.ts.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attributeFlow, attributeFlows } from '../../src/capture/attribution.js';
import { ProcessMap, TCP_STATES } from '../../src/capture/procfs.js';
import type { Flow } from '../../src/demux/types.js';
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

function map(minRescanMs = 200): ProcessMap {
  return new ProcessMap({ procRoot: proc.root, clock, minRescanMs, littleEndian: true });
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
    expect(m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80)).toEqual({ pid: 4300, command: 'curl', state: 'running' });
    expect(m.lookup('tcp', '127.0.0.3', 9157, '127.0.0.1', 80)).toEqual({ pid: 4301, command: 'wget', state: 'running' });
    for (const client of ['127.0.0.2', '127.0.0.3']) {
      expect(m.query('tcp', '127.0.0.1', 80, client, 9157)).toEqual({
        kind: 'process', process: { pid: 4121, command: 'python3', state: 'running' },
        listener: { socket: '0.0.0.0:80', pid: 4121, command: 'python3' }, at: 1000,
      });
    }
    expect(m.scans).toBe(1);
    expect(m.walks).toBe(1);
    expect(m.warnings).toEqual([]);
  });

  it('attributeFlow puts them on the flow: the listener on the server end only', () => {
    teaching(proc);
    const f = flow(1, 'tcp', ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    attributeFlow(f, map());
    expect(f.client).toEqual({ ip: '127.0.0.2', port: 9157, process: { pid: 4300, command: 'curl', state: 'running' } });
    expect(f.server).toEqual({
      ip: '127.0.0.1', port: 80,
      process: { pid: 4121, command: 'python3', state: 'running', listener: { socket: '0.0.0.0:80', pid: 4121, command: 'python3' } },
    });
    // No SYN-ACK (Zeek S0/REJ...): the server never had a connection socket, nothing is named for it.
    const refused = flow(2, 'tcp', ['127.0.0.2', 9157], ['127.0.0.1', 80], 'REJ');
    attributeFlow(refused, map());
    expect(refused.client.process).toEqual({ pid: 4300, command: 'curl', state: 'running' });
    expect(refused.server).toEqual({ ip: '127.0.0.1', port: 80 });
    // ICMP has no sockets to look for.
    const icmp = { ...flow(3, 'udp', ['127.0.0.2', 8], ['127.0.0.1', 0]), proto: 'icmp' as const };
    attributeFlow(icmp, map());
    expect(icmp.client.process).toBeUndefined();
  });

  it('a known tuple is never scanned for again; an unknown one is, at most once per interval', () => {
    teaching(proc);
    const m = map(200);
    for (let i = 0; i < 1000; i++) {
      expect(m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80)?.state).toBe('running');
      expect(m.lookup('tcp', '127.0.0.1', 80, '127.0.0.3', 9157)?.state).toBe('running');
    }
    expect(m.scans).toBe(1);
    // Known from the last scan, though never asked about: no scan either.
    expect(m.lookup('tcp', '127.0.0.3', 9157, '127.0.0.1', 80)).toMatchObject({ pid: 4301 });
    expect(m.scans).toBe(1);

    // Unknown, and the last scan is under 200 ms old: not known yet, and no scan.
    t += 50;
    expect(m.query('tcp', '127.0.0.4', 9157, '127.0.0.1', 80)).toEqual({ kind: 'pending' });
    expect(m.query('tcp', '127.0.0.4', 9157, '127.0.0.1', 80)).toEqual({ kind: 'pending' });
    expect(m.scans).toBe(1);
    // Once the interval has passed: one scan, and a tuple it does not find is gone.
    t += 150;
    expect(m.lookup('tcp', '127.0.0.4', 9157, '127.0.0.1', 80)).toEqual({ state: 'exited' });
    expect(m.scans).toBe(2);
    // Now known as exited: asked again, no scan.
    t += 1000;
    expect(m.lookup('tcp', '127.0.0.4', 9157, '127.0.0.1', 80)).toEqual({ state: 'exited' });
    expect(m.scans).toBe(2);
    // The sockets did not change hands: the second scan checked its cached owners, no fd walk.
    expect(m.walks).toBe(1);
  });

  it('a connection opened after the last scan is found by the scan its lookup triggers', () => {
    teaching(proc);
    const m = map();
    m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80);
    proc.net({
      tcp: [
        { local: ['0.0.0.0', 80], remote: ANY4, state: L, inode: 1000 },
        { local: ['127.0.0.1', 80], remote: ['127.0.0.2', 9158], state: E, inode: 1011 },
        { local: ['127.0.0.2', 9158], remote: ['127.0.0.1', 80], state: E, inode: 1012 },
      ],
    });
    proc.process(4121, 'python3', { 3: 1000, 4: 1011 });
    proc.process(4400, 'nc', { 3: 1012 });
    t += 300;
    expect(m.lookup('tcp', '127.0.0.2', 9158, '127.0.0.1', 80)).toEqual({ pid: 4400, command: 'nc', state: 'running' });
    expect(m.lookup('tcp', '127.0.0.1', 80, '127.0.0.2', 9158)).toEqual({ pid: 4121, command: 'python3', state: 'running' });
    expect(m.scans).toBe(2);
    expect(m.walks).toBe(2); // inode 1011 was new: one walk for the scan
    // The first connection is gone now, but it was seen held by curl: that answer stays.
    expect(m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80)).toEqual({ pid: 4300, command: 'curl', state: 'running' });
    // Asked for a scan newer than now, it is gone.
    t += 300;
    expect(m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80, { notBefore: t })).toEqual({ state: 'exited' });
    expect(m.scans).toBe(3);
  });

  it('after the processes exit, a fresh look says exited (attributeFlows)', () => {
    teaching(proc);
    const m = map();
    const flows = [flow(1, 'tcp', ['127.0.0.2', 9157], ['127.0.0.1', 80]), flow(2, 'tcp', ['127.0.0.3', 9157], ['127.0.0.1', 80])];
    attributeFlows(flows, m);
    expect(flows.map((f) => [f.client.process?.state, f.server.process?.state])).toEqual([['running', 'running'], ['running', 'running']]);
    expect(m.scans).toBe(1);
    // The clients closed first (their side in TIME_WAIT, inode 0), then everything went.
    proc.net({
      tcp: [
        { local: ['127.0.0.2', 9157], remote: ['127.0.0.1', 80], state: TCP_STATES.TIME_WAIT, inode: 0 },
        { local: ['127.0.0.3', 9157], remote: ['127.0.0.1', 80], state: TCP_STATES.TIME_WAIT, inode: 0 },
      ],
    });
    for (const pid of [4121, 4300, 4301]) proc.exit(pid);
    t += 10; // within the rate limit: attributeFlows still makes its one fresh scan
    attributeFlows(flows, m);
    expect(m.scans).toBe(2);
    for (const f of flows) {
      expect(f.client.process).toEqual({ state: 'exited' });
      expect(f.server.process).toEqual({ state: 'exited' });
    }
  });

  it('a socket held by two processes (a forked server) names the lowest pid and lists both', () => {
    teaching(proc);
    proc.process(4122, 'python3', { 3: 1000, 4: 1001 }); // the child after fork, same sockets
    const m = map();
    expect(m.lookup('tcp', '127.0.0.1', 80, '127.0.0.2', 9157)).toEqual({ pid: 4121, command: 'python3', state: 'running', pids: [4121, 4122] });
    expect(m.lookup('tcp', '127.0.0.1', 80, '127.0.0.3', 9157)).toEqual({ pid: 4121, command: 'python3', state: 'running' });
  });

  it('a connection in the accept queue (inode 0, ESTABLISHED) is not yet anyone\'s; TIME_WAIT is exited', () => {
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
    expect(m.query('tcp', '127.0.0.1', 8080, '127.0.0.2', 40000)).toEqual({ kind: 'pending' });
    expect(m.query('tcp', '127.0.0.1', 8080, '127.0.0.2', 40001)).toEqual({ kind: 'pending' });
    // Only sockets held by a process count as known from an earlier scan: the TIME_WAIT tuple
    // waits for its own scan (rate limit), which says what the kernel shows, closed.
    expect(m.query('tcp', '127.0.0.1', 8080, '127.0.0.2', 40002)).toEqual({ kind: 'pending' });
    t += 250;
    expect(m.lookup('tcp', '127.0.0.1', 8080, '127.0.0.2', 40002)).toEqual({ state: 'exited' });
    expect(m.scans).toBe(2);
    // Asked to answer now: the kernel holds it, no process does.
    expect(m.query('tcp', '127.0.0.1', 8080, '127.0.0.2', 40000, { final: true })).toEqual({ kind: 'unknown', reason: 'not-accepted' });
    // Once accepted, a later scan finds its owner.
    proc.net({
      tcp: [
        { local: ['127.0.0.1', 8080], remote: ANY4, state: L, inode: 2000 },
        { local: ['127.0.0.1', 8080], remote: ['127.0.0.2', 40001], state: E, inode: 2001 },
      ],
    });
    proc.process(500, 'slow-server', { 3: 2000, 4: 2001 });
    t += 250;
    expect(m.lookup('tcp', '127.0.0.1', 8080, '127.0.0.2', 40001, { notBefore: t })).toEqual({ pid: 500, command: 'slow-server', state: 'running' });
    expect(m.scans).toBe(3);
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
    expect(m.query('tcp', '127.0.0.1', 38606, '127.0.0.1', 33710)).toMatchObject({
      process: { pid: 600 }, listener: { socket: '[::]:38606', pid: 600 },
    });
    expect(m.lookup('tcp', '127.0.0.1', 33710, '127.0.0.1', 38606)).toMatchObject({ pid: 600 });
    expect(m.query('tcp', '::1', 38607, '::1', 55440)).toMatchObject({ process: { pid: 600 }, listener: { socket: '[::1]:38607' } });
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
    expect(n.query('tcp', '127.0.0.1', 9000, '127.0.0.5', 1234)).toMatchObject({ listener: { socket: '127.0.0.1:9000' } });
    expect(n.query('tcp', '127.0.0.2', 9000, '127.0.0.5', 1235)).toMatchObject({ listener: { socket: '0.0.0.0:9000' } });
    const v6 = n.query('tcp', '::1', 9000, '::1', 1236);
    expect(v6).toEqual({ kind: 'process', process: { pid: 601, command: 'two-listeners', state: 'running' }, at: 1000 });
  });

  it('UDP: a connected socket by its 4-tuple, else the unconnected one on the address, else the wildcard', () => {
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
    expect(m.lookup('udp', '127.0.0.1', 5353, '127.0.0.2', 9157)).toMatchObject({ pid: 700 });
    expect(m.lookup('udp', '127.0.0.9', 5353, '127.0.0.2', 9157)).toMatchObject({ pid: 701 });
    expect(m.lookup('udp', '127.0.0.2', 9157, '127.0.0.1', 5353)).toMatchObject({ pid: 702 });
    // An IPv4 datagram to a dual-stack :: socket, and an IPv6 one.
    expect(m.lookup('udp', '127.0.0.1', 6000, '127.0.0.3', 1)).toMatchObject({ pid: 703, command: 'dual' });
    expect(m.lookup('udp', '::1', 6000, '::1', 2)).toMatchObject({ pid: 703 });
    // No listener for UDP.
    expect(m.query('udp', '127.0.0.1', 5353, '127.0.0.2', 9157))
      .toEqual({ kind: 'process', process: { pid: 700, command: 'resolver', state: 'running' }, at: 1000 });
  });

  it('an address of another host is not looked up at all', () => {
    teaching(proc);
    const m = new ProcessMap({ procRoot: proc.root, clock, isLocal: (ip) => ip.startsWith('127.') });
    expect(m.query('tcp', '192.0.2.9', 80, '127.0.0.2', 9157)).toEqual({ kind: 'unknown', reason: 'not-local' });
    expect(m.query('tcp', '0.0.0.0', 80, '127.0.0.2', 9157)).toEqual({ kind: 'unknown', reason: 'not-local' });
    expect(m.scans).toBe(0);
  });

  it('owners are checked before reuse: a socket passed to another process is found by a new walk', () => {
    teaching(proc);
    const m = map();
    expect(m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80)).toMatchObject({ pid: 4300 });
    expect(m.walks).toBe(1);
    proc.close(3, 4300);
    proc.process(4500, 'inheritor', { 9: 1002 });
    t += 300;
    expect(m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80, { notBefore: t })).toEqual({ pid: 4500, command: 'inheritor', state: 'running' });
    expect(m.walks).toBe(2);
  });

  it('a process that exits between the fd walk and reading its name is not named', () => {
    teaching(proc);
    const m = map();
    m.scan();
    // Walk now (the listener lookup needs owners), then the client process goes away.
    expect(m.lookup('tcp', '127.0.0.3', 9157, '127.0.0.1', 80)).toMatchObject({ pid: 4301 });
    proc.exit(4300);
    t += 300;
    expect(m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80, { notBefore: t })).toEqual({ state: 'exited' });
  });

  it('without /proc: no names, one warning, no throw', () => {
    const m = new ProcessMap({ procRoot: join(proc.root, 'missing'), clock });
    expect(m.lookup('tcp', '127.0.0.2', 9157, '127.0.0.1', 80)).toBeNull();
    expect(m.query('tcp', '127.0.0.2', 9157, '127.0.0.1', 80)).toEqual({ kind: 'unknown', reason: 'no-proc' });
    expect(m.warnings).toHaveLength(1);
    expect(m.warnings[0]).toMatch(/\/proc.*net\/tcp is not readable here \(ENOENT\)/);
    const f = flow(1, 'tcp', ['127.0.0.2', 9157], ['127.0.0.1', 80]);
    attributeFlow(f, m);
    expect(f.client).toEqual({ ip: '127.0.0.2', port: 9157 });
    expect(f.server).toEqual({ ip: '127.0.0.1', port: 80 });
  });
});
