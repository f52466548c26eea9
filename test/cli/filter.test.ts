/**
 * --filter on files and packets' --port/--host/--proto/--flow, end to end: the compiled CLI run
 * as a process on the fixtures (demux-lo.pcap: flows 1-2 port 80, 3, 4#2, 5#3 on one 4-tuple to
 * port 8089, 6-7 UDP 5353; closed-ports.pcap: UDP to closed ports answered by ICMP errors).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/fixture-files.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const SEED = `${FIXTURES}demux-lo.pcap`;
const CLOSED = `${FIXTURES}closed-ports.pcap`;

function flowdemux(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `packets --format ndjson` as [frame, flow id#generation] pairs. */
function packetLines(args: string[], input?: Uint8Array): { code: number | null; frames: number[]; flows: string[]; stderr: string } {
  const r = flowdemux(['packets', ...args, '--format', 'ndjson'], input);
  const lines = r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  return {
    code: r.code,
    frames: lines.map((l) => l.frame),
    flows: lines.map((l) => (l.flow ? `${l.flow.id}#${l.flow.generation}` : '-')),
    stderr: r.stderr,
  };
}

/** tcpdump's frames for a row of fixtures/golden/filters.tsv. */
function golden(capture: string, expression: string): number[] {
  const row = readFileSync(`${FIXTURES}golden/filters.tsv`, 'utf8').split('\n')
    .map((l) => l.split('\t')).find((c) => c[0] === capture && c[1] === expression);
  if (row === undefined) throw new Error(`no golden row for ${capture} '${expression}'`);
  return row[2] === '' ? [] : row[2]!.split(',').map(Number);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('--filter on files', () => {
  it('packets keeps the frames tcpdump keeps, with their numbers in the file', () => {
    const expr = 'tcp port 80 and host 127.0.0.2 or port 5353';
    const r = packetLines([SEED, '--filter', expr]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.frames).toEqual(golden('demux-lo.pcap', expr));
    // Flows are made of the kept packets only: the port 80 flow of 127.0.0.2 is flow 1, the two
    // UDP flows 2 and 3 (without the filter they are 6 and 7).
    expect(new Set(r.flows)).toEqual(new Set(['1#1', '2#1', '3#1']));
  });

  it('-f is --filter; the table shows the original numbers too', () => {
    const r = flowdemux(['packets', SEED, '-f', 'udp and src host 127.0.0.3']);
    expect(r.code).toBe(0);
    const numbers = r.stdout.trim().split('\n').slice(1).map((l) => Number(l.split(/\s+/)[0]));
    expect(numbers).toEqual([55, 59]);
  });

  it('flows: flows are built from the matching packets only, counted as such', () => {
    const r = flowdemux(['flows', SEED, '--filter', 'port 8089 and not tcp[13] = 0', '--format', 'json']);
    expect(r.code).toBe(2); // refused up front: nothing read, nothing written
    expect(r.stdout).toBe('');
    const doc = JSON.parse(flowdemux(['flows', SEED, '--filter', 'port 8089 and src host 127.0.0.3', '--format', 'json']).stdout);
    expect(doc.flows.map((f: { id: number; generation: number }) => `${f.id}#${f.generation}`)).toEqual(['1#1', '2#2', '3#3']);
    // Only the client's packets passed: nothing counted from the server.
    expect(doc.flows.every((f: { toClient: { packets: number } }) => f.toClient.packets === 0)).toBe(true);
    expect(doc.summary.packets).toBe(golden('demux-lo.pcap', 'port 8089 and src host 127.0.0.3').length);
  });

  it('demux shows only the ports of the matching packets', () => {
    const r = flowdemux(['demux', SEED, '--filter', 'portrange 8000-9000']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tcp port 8089 on 127.0.0.1: 3 connections, one after another');
    expect(r.stdout).not.toContain('port 80 ');
    expect(r.stdout).not.toContain('5353');
  });

  it('ladder: --flow counts the flows of the matching packets', () => {
    const r = flowdemux(['ladder', SEED, '--filter', 'port 8089', '--flow', '2#2']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toContain('flow 2: tcp 127.0.0.3:5775 → 127.0.0.1:8089');
    const numbers = r.stdout.trim().split('\n').slice(3).map((l) => Number(l.split(/\s+/)[0]));
    expect(numbers).toEqual(range(31, 41));
  });

  it('from stdin, as from a file', () => {
    const r = packetLines(['-', '-f', 'dst port 5353'], readFileSync(SEED));
    expect(r.code).toBe(0);
    expect(r.frames).toEqual(golden('demux-lo.pcap', 'dst port 5353'));
  });

  it('a filter no packet matches: one stderr line, exit 0', () => {
    const r = flowdemux(['packets', SEED, '--filter', 'host 10.9.9.9']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`flowdemux: none of the 60 packets in ${SEED} match the filter\n`);
    expect(flowdemux(['demux', SEED, '--filter', 'host 10.9.9.9']).stderr).toContain('match the filter');
  });

  it.each([
    ['packets', "ether host 02:00:00:00:00:01", "'ether' (link-layer (MAC) addresses) is not supported on files"],
    ['flows', 'len > 100', "'len' (packet lengths) is not supported on files"],
    ['demux', 'tcp[13] & 2 != 0', "byte offsets ('proto[offset]') are not supported on files (at character 4)"],
    ['packets', 'tcp port 80 and', 'the expression ends where a primitive was expected (at character 16)'],
    ['flows', 'host example.com', "host names are not resolved ('example.com')"],
  ])('%s refuses %j up front: one line naming the part, exit 2', (cmd, expr, message) => {
    const args = cmd === 'ladder' ? [cmd, SEED, '--flow', '1'] : [cmd, SEED];
    const r = flowdemux([...args, '--filter', expr]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.stderr).toContain(`flowdemux: --filter '${expr}': `);
    expect(r.stderr).toContain(message);
  });

  it.each(['packets', 'flows', 'demux', 'ladder'])('%s --help shows --filter with an example and where it is evaluated', (cmd) => {
    const help = flowdemux([cmd, '--help']).stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/-f, --filter/);
    expect(help).toContain("tcpdump's syntax");
    expect(help).toContain('evaluates it on each decoded packet (live hands it to libpcap)');
    expect(help).toMatch(/--filter '|-f '/);
  });

  it('live --help says its filter is compiled by libpcap', () => {
    expect(flowdemux(['live', '--help']).stdout).toContain('compiled by libpcap');
  });
});

describe('packets --port, --host, --proto, --flow', () => {
  it('--port selects the packets of flows with that port, ICMP errors about them included', () => {
    // UDP to 127.0.0.1:9999 (frames 1, 3) and ::1 (5), each answered by an ICMP error (2, 4, 6).
    const byFlow = packetLines([CLOSED, '--port', '9999']);
    expect(byFlow.code).toBe(0);
    expect(byFlow.frames).toEqual([1, 2, 3, 4, 5, 6]);
    // --filter is per packet, as tcpdump: the errors have no port of their own.
    expect(packetLines([CLOSED, '--filter', 'port 9999']).frames).toEqual([1, 3, 5]);
  });

  it('--host and --proto as flows has them, and the flow ids of flows', () => {
    const r = packetLines([SEED, '--host', '127.0.0.2', '--proto', 'udp']);
    expect(r.frames).toEqual([53, 54, 57, 58]);
    expect(new Set(r.flows)).toEqual(new Set(['6#1']));
    const flows = JSON.parse(flowdemux(['flows', SEED, '--host', '127.0.0.2', '--proto', 'udp', '--format', 'json']).stdout);
    expect(flows.flows.map((f: { id: number }) => f.id)).toEqual([6]);
    expect(packetLines([SEED, '--port', '80', '--host', '127.0.0.3']).frames).toEqual(golden('demux-lo.pcap', 'port 80 and host 127.0.0.3'));
  });

  it('--flow takes an id as flows prints it: 4, 4#2 or "4 #2"', () => {
    expect(packetLines([SEED, '--flow', '4']).frames).toEqual(range(31, 41));
    expect(packetLines([SEED, '--flow', '4#2']).frames).toEqual(range(31, 41));
    expect(packetLines([SEED, '--flow', '4 #2']).frames).toEqual(range(31, 41));
    expect(packetLines([SEED, '--flow', '3', '--port', '8089']).frames).toEqual(range(23, 30));
    expect(packetLines([SEED, '--flow', '3', '--port', '80']).frames).toEqual([]);
  });

  it('a generation that is not the flow\'s is a usage error naming both, for packets and ladder', () => {
    const p = flowdemux(['packets', SEED, '--flow', '4#3']);
    expect(p.code).toBe(2);
    expect(p.stdout).toBe('');
    expect(p.stderr).toBe('flowdemux: --flow 4#3: flow 4 is 4#2, generation 2 of its tuple, not #3\n');
    const l = flowdemux(['ladder', SEED, '--flow', '1#2']);
    expect(l.code).toBe(2);
    expect(l.stderr).toBe('flowdemux: --flow 1#2: flow 1 is generation 1 of its tuple, not #2\n');
    expect(flowdemux(['ladder', SEED, '--flow', '5#3']).code).toBe(0);
  });

  it('a flow that is not there, or not a flow id, is a usage error', () => {
    const p = flowdemux(['packets', SEED, '--flow', '99']);
    expect(p.code).toBe(2);
    expect(p.stderr).toBe(`flowdemux: no flow 99 in ${SEED} (7 flows; see flowdemux flows)\n`);
    const f = flowdemux(['ladder', SEED, '--flow', '4', '--filter', 'port 80']);
    expect(f.stderr).toBe(`flowdemux: no flow 4 in ${SEED} (2 flows from the packets that match the filter; see flowdemux flows)\n`);
    const bad = flowdemux(['packets', SEED, '--flow', '4#x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--flow '4#x' is not a flow id");
  });
});
