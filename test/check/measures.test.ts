/**
 * Every measure and operator of `check`, through the library's `check()` on real bytes: the
 * loopback fixtures (demux-lo.pcap: port 80 with two clients, port 8089's 4-tuple used three
 * times; closed-ports.pcap: SYNs answered by RST) and a capture made packet by packet for the
 * rest (check-capture.ts says what each of its flows is).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { check, flows, RulesError, type Flow, type RuleSpec, type Verdict } from '../../src/api/index.js';
import { tempDir } from '../helpers/capture-builders.js';
import { CHECK_CAPTURE } from './check-capture.js';

const LO = 'fixtures/demux-lo.pcap';
const CLOSED = 'fixtures/closed-ports.pcap';
const tmp = tempDir('flowdemux-check-');
afterAll(() => tmp.cleanup());
const CRAFTED = tmp.write('crafted.pcap', CHECK_CAPTURE);

/** One rule's verdict. */
async function verdict(capture: string, expectText: string, flows?: string): Promise<Verdict> {
  const rule: RuleSpec = { name: 'r', expect: expectText };
  if (flows !== undefined) rule.flows = flows;
  const r = await check(capture, [rule]);
  return r.verdicts[0]!;
}

/** The measured value, and the flows that broke the rule (`4#2`). */
async function measured(capture: string, expectText: string, flows?: string): Promise<[number | string[], boolean, string[]]> {
  const v = await verdict(capture, expectText, flows);
  return [v.value, v.pass, v.broke.map((b) => (b.generation > 1 ? `${b.id}#${b.generation}` : String(b.id)))];
}

describe('measures on the teaching capture (demux-lo.pcap)', () => {
  it('connections and flows: TCP flows, every flow', async () => {
    expect(await measured(LO, 'connections <= 1')).toEqual([5, false, ['1', '2', '3', '4#2', '5#3']]);
    expect(await measured(LO, 'connections <= 1', 'tcp port 80 and host 127.0.0.2')).toEqual([1, true, []]);
    expect(await measured(LO, 'flows == 7')).toEqual([7, true, []]);
    expect(await measured(LO, 'flows < 2', 'udp')).toEqual([2, false, ['6', '7']]);
  });

  it('packets and bytes: both ways, wire bytes', async () => {
    // 60 packets in the capture, all in flows; flows 6 and 7 are the UDP ones (4 datagrams each).
    expect(await measured(LO, 'packets == 60')).toEqual([60, true, []]);
    expect(await measured(LO, 'packets > 8', 'udp port 5353')).toEqual([8, false, ['6', '7']]);
    // The same sums as the flows' own counters (wire bytes both ways).
    const all: Flow[] = [];
    for await (const f of flows(LO)) all.push(f);
    const bytes = (f: Flow) => f.toServer.wireBytes + f.toClient.wireBytes;
    const flow1 = await verdict(LO, 'bytes == 0', 'tcp and src port 9157 and src host 127.0.0.2');
    expect(flow1.broke.map((b) => [b.id, b.detail])).toEqual([[1, `${bytes(all.find((f) => f.id === 1)!)} bytes`]]);
    expect((await verdict(LO, 'bytes > 0')).value).toBe(all.reduce((n, f) => n + bytes(f), 0));
  });

  it('resets: the connection on 8089 ended by RST; reused-in-time-wait: only the generation after a FIN close', async () => {
    expect(await measured(LO, 'resets == 0')).toEqual([1, false, ['3']]);
    // 4#2 follows a RST (no TIME-WAIT); 5#3 follows 4#2's FIN close 0.121 s before.
    const reused = await verdict(LO, 'reused-in-time-wait == 0');
    expect(reused.broke.map((b) => [b.id, b.generation])).toEqual([[5, 3]]);
    expect(reused.broke[0]!.detail).toMatch(/^generation 3, 0\.12\d s after 4#2 closed/);
    expect(await measured(LO, 'reused-in-time-wait == 0', 'port 80')).toEqual([0, true, []]);
  });

  it('servers: in a list, == and != a set, and compared as a number', async () => {
    expect(await measured(LO, 'servers in [127.0.0.1:80, 127.0.0.1:8089, 127.0.0.1:5353]')).toEqual([
      ['127.0.0.1:80', '127.0.0.1:8089', '127.0.0.1:5353'], true, [],
    ]);
    // An address alone allows any port.
    expect((await verdict(LO, 'servers in [127.0.0.1]')).pass).toBe(true);
    expect(await measured(LO, 'servers in [127.0.0.1:8089]', 'tcp')).toEqual([['127.0.0.1:80', '127.0.0.1:8089'], false, ['1', '2']]);
    expect((await verdict(LO, 'servers == [127.0.0.1:80, 127.0.0.1:8089]', 'tcp')).pass).toBe(true);
    const missing = await verdict(LO, 'servers == [127.0.0.1:80, 127.0.0.1:8089, 127.0.0.1:5432]', 'tcp');
    expect([missing.pass, missing.missing, missing.broke]).toEqual([false, ['127.0.0.1:5432'], []]);
    expect((await verdict(LO, 'servers != [127.0.0.1:80, 127.0.0.1:8089]', 'tcp')).pass).toBe(false);
    expect((await verdict(LO, 'servers != [127.0.0.1:80]', 'tcp')).pass).toBe(true);
    expect(await measured(LO, 'servers <= 2')).toEqual([3, false, ['1', '3', '6']]);
    expect((await verdict(LO, 'servers >= 3')).pass).toBe(true);
  });

  it('every operator on one value (5 connections)', async () => {
    const pass = async (e: string) => (await verdict(LO, e)).pass;
    expect(await Promise.all(['connections == 5', 'connections != 4', 'connections < 6', 'connections <= 5', 'connections > 4',
      'connections >= 5', 'connections in [1, 5]'].map(pass))).toEqual([true, true, true, true, true, true, true]);
    expect(await Promise.all(['connections == 4', 'connections != 5', 'connections < 5', 'connections <= 4', 'connections > 5',
      'connections >= 6', 'connections in [1, 2]', 'connections in []'].map(pass))).toEqual([false, false, false, false, false, false, false, false]);
  });
});

describe('refused and resets on closed ports (closed-ports.pcap)', () => {
  it('two SYNs answered by RST: refused, reset and incomplete', async () => {
    expect(await measured(CLOSED, 'refused == 0')).toEqual([2, false, ['3', '6']]);
    expect(await measured(CLOSED, 'resets == 0')).toEqual([2, false, ['3', '6']]);
    expect(await measured(CLOSED, 'incomplete == 0')).toEqual([2, false, ['3', '6']]);
    // The port opened later: the connection to 8091 that worked is none of them.
    expect(await measured(CLOSED, 'refused == 1', 'dst port 8091')).toEqual([1, true, []]);
    expect((await verdict(CLOSED, 'refused == 0')).broke[0]!.detail).toBe('SYN answered by RST (REJ Sr)');
  });
});

describe('measures on a capture made for them', () => {
  it('incomplete: S0, OTH (started before the capture) and REJ; not a handshake whose SYN was sent twice', async () => {
    expect(await measured(CRAFTED, 'incomplete == 0')).toEqual([3, false, ['3', '4', '7']]);
  });

  it('resets: a client RST after the handshake and a refused SYN; refused: only the latter', async () => {
    expect(await measured(CRAFTED, 'resets <= 1')).toEqual([2, false, ['2', '7']]);
    expect(await measured(CRAFTED, 'refused <= 0')).toEqual([1, false, ['7']]);
  });

  it('retransmissions: data sent twice, and a SYN sent again', async () => {
    const v = await verdict(CRAFTED, 'retransmissions == 0');
    expect(v.value).toBe(2);
    expect(v.broke.map((b) => [b.id, b.detail])).toEqual([[1, '1 retransmission'], [2, '1 retransmission']]);
    expect(await measured(CRAFTED, 'retransmissions == 0', 'ip6')).toEqual([0, true, []]);
  });

  it('max-handshake-rtt: first SYN to the ACK of the SYN-ACK, in ms; an upper bound names every flow above it', async () => {
    expect((await verdict(CRAFTED, 'max-handshake-rtt == 1002')).pass).toBe(true);
    const v = await verdict(CRAFTED, 'max-handshake-rtt < 10 ms');
    expect(v.broke.map((b) => [b.id, b.detail])).toEqual([[1, 'handshake 20 ms'], [2, 'handshake 1002 ms']]);
    expect(await measured(CRAFTED, 'max-handshake-rtt <= 5', 'ip6')).toEqual([5, true, []]);
    // Not below a bound: the largest is named.
    expect(await measured(CRAFTED, 'max-handshake-rtt > 2000')).toEqual([1002, false, ['2']]);
    // No handshake among the flows: 0.
    expect(await measured(CRAFTED, 'max-handshake-rtt == 0', 'udp or port 22')).toEqual([0, true, []]);
  });

  it('max-duration: seconds, first to last packet', async () => {
    expect(await measured(CRAFTED, 'max-duration <= 1 s')).toEqual([1.5, false, ['1', '2', '5']]);
    expect(await measured(CRAFTED, 'max-duration < 1.2', 'tcp port 8080')).toEqual([1.102, true, []]);
  });

  it('reused-in-time-wait: 10 s after the close counts, 69 s does not', async () => {
    const v = await verdict(CRAFTED, 'reused-in-time-wait == 0');
    expect(v.broke.map((b) => [b.id, b.generation, b.detail])).toEqual([[8, 2, 'generation 2, 10 s after 5 closed (TIME-WAIT is 60 s)']]);
    expect(await measured(CRAFTED, 'reused-in-time-wait == 0', 'tcp port 80')).toEqual([0, true, []]);
  });

  it('servers: TCP and UDP server ends, IPv6 in brackets, in the order flows first went to them', async () => {
    expect((await verdict(CRAFTED, 'servers == 6')).value).toEqual(6);
    expect(await measured(CRAFTED, 'servers in [10.0.0.2, 10.0.0.3:443, 10.0.0.9:53, [2001:db8::2]:8080]')).toEqual([
      ['10.0.0.2:80', '10.0.0.3:443', '10.0.0.2:22', '[2001:db8::2]:8080', '10.0.0.9:53', '10.0.0.2:81'], true, [],
    ]);
    expect(await measured(CRAFTED, 'servers in [10.0.0.2:80, 2001:db8::2]', 'tcp and not port 22 and not port 81 and not port 443')).toEqual([
      ['10.0.0.2:80', '[2001:db8::2]:8080'], true, [],
    ]);
  });

  it('flows selections: direction, nets, protocols, IPv6, as a flow\'s packets would match', async () => {
    const selected = async (flows: string) => (await verdict(CRAFTED, 'flows >= 0', flows)).selected;
    expect(await selected('src host 10.0.0.2')).toBe(5); // A, B, D, G and A#2
    // Only the ways that carried packets: C's server never answered, F's never either.
    expect(await selected('src host 10.0.0.3')).toBe(0);
    expect(await selected('src port 53')).toBe(0);
    expect(await selected('dst port 53')).toBe(1);
    expect(await selected('src host 10.0.0.1 and dst port 80')).toBe(3);
    expect(await selected('dst host 10.0.0.1 and src port 80')).toBe(3);
    expect(await selected('net 10.0.0.0/31')).toBe(6);
    expect(await selected('ip6 and tcp port 8080')).toBe(2);
    expect(await selected('net 2001:db8::/32')).toBe(2);
    expect(await selected('udp')).toBe(1);
    expect(await selected('icmp or icmp6')).toBe(0);
    // C's only packet goes to 443: no way of it passes.
    expect(await selected('portrange 40000-40002 and not dst port 443')).toBe(3);
    expect(await selected('src and dst net 10.0.0.0/8')).toBe(7);
  });
});

describe('the rules as YAML text, and what is refused', () => {
  it('takes the rules file text, and gives JUnit', async () => {
    const r = await check(LO, '- name: keep-alive\n  flows: tcp port 8089\n  expect: connections <= 1\n- name: no udp\n  expect: flows == 0\n  flows: udp\n');
    expect([r.pass, r.verdicts.map((v) => v.pass)]).toEqual([false, [false, false]]);
    expect(r.junit).toContain('<testsuite name="fixtures/demux-lo.pcap" tests="2" failures="2"');
  });

  it('a bad rule throws RulesError before reading', async () => {
    await expect(check('no-such.pcap', [{ name: 'x', expect: 'conections <= 1' }])).rejects.toThrow(RulesError);
    await expect(check(LO, '- name: x\n  expect: connections <= 1\n  flows: tcp-syn\n')).rejects.toThrow(/^rules:3: rule 'x': bad flows 'tcp-syn'/);
  });
});
