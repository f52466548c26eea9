/**
 * Other IP protocols (OSPF, PIM, VRRP, IGMP, an unassigned number) are flows, CLI end to end
 * through bin/flowdemux.js: keyed on the protocol and the two addresses, both directions one flow,
 * the first sender the client, a new generation after 60 s idle; `--proto` chooses them; the
 * demux report lists them apart from the port groups; a later fragment follows its first.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPcap, tempDir } from '../helpers/capture-builders.js';
import { buildUdp, ethernet, ip } from '../helpers/packet-builders.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const T0 = 1_764_000_000;
const tmp = tempDir('flowdemux-other-proto-');
afterAll(() => tmp.cleanup());

function flowdemux(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const other = (src: string, dst: string, proto: number, ipBytes: number, extra = {}) => ip(src, dst, proto, new Uint8Array(ipBytes - 20), extra);

/** Packets at T0 + seconds, one Ethernet pcap. */
function capture(name: string, packets: [number, Uint8Array][]): string {
  return tmp.write(name, buildPcap({}, packets.map(([t, p]) => {
    const us = Math.round(t * 1e6);
    return { tsSec: T0 + Math.floor(us / 1e6), tsFrac: us % 1e6, data: ethernet(p) };
  })));
}

const CAPTURE = capture('other.pcap', [
  [0, other('10.0.0.2', '10.0.0.1', 89, 64)],
  [0.2, other('10.0.0.1', '10.0.0.2', 89, 80)],
  [0.5, other('10.0.0.2', '10.0.0.1', 89, 64)],
  [1, other('10.0.0.1', '224.0.0.13', 103, 54)],
  [2, other('10.0.0.1', '224.0.0.18', 112, 40)],
  [3, other('10.0.0.3', '224.0.0.22', 2, 36)],
  [4, other('fe80::1', 'fe80::2', 253, 60)], // IPv6: 40 + 40 bytes
  [5, buildUdp({ src: '10.0.0.9', dst: '10.0.0.1', sport: 40000, dport: 53, payload: new Uint8Array(10) })],
  [60.5, other('10.0.0.2', '10.0.0.1', 89, 64)], // 60 s after the last: still the same flow
  [121, other('10.0.0.1', '10.0.0.2', 89, 64)], // 60.5 s idle: the next generation
]);

interface FlowJson {
  id: number; proto: string; generation: number; generationReason: string; ipProtocol?: number; rolesInferred: boolean;
  client: { ip: string; port: number }; server: { ip: string; port: number };
  toServer: { packets: number; ipBytes: number; payloadBytes: number }; toClient: { packets: number; ipBytes: number };
  state: string; history: string;
}

function flowsJson(...args: string[]): { flows: FlowJson[]; summary: { byKind: Record<string, number>; inFlows: number; packets: number } } {
  const r = flowdemux(['flows', CAPTURE, '--format', 'json', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

describe('other IP protocols are flows', () => {
  it('keyed on protocol and addresses, both directions one flow, the first sender the client, generations after 60 s idle', () => {
    const { flows, summary } = flowsJson();
    const brief = flows.map((f) => [f.id, f.proto, f.ipProtocol, f.generation, f.generationReason, f.client.ip, f.client.port, f.server.ip,
      f.server.port, f.toServer.packets, f.toServer.ipBytes, f.toClient.packets, f.toClient.ipBytes, f.state, f.history, f.rolesInferred]);
    expect(brief).toEqual([
      [1, 'ospf', 89, 1, 'first', '10.0.0.2', 0, '10.0.0.1', 0, 3, 192, 1, 80, 'OTH', '', true],
      [2, 'pim', 103, 1, 'first', '10.0.0.1', 0, '224.0.0.13', 0, 1, 54, 0, 0, 'OTH', '', true],
      [3, 'vrrp', 112, 1, 'first', '10.0.0.1', 0, '224.0.0.18', 0, 1, 40, 0, 0, 'OTH', '', true],
      [4, 'igmp', 2, 1, 'first', '10.0.0.3', 0, '224.0.0.22', 0, 1, 36, 0, 0, 'OTH', '', true],
      [5, 'ip-proto-253', 253, 1, 'first', 'fe80::1', 0, 'fe80::2', 0, 1, 80, 0, 0, 'OTH', '', true],
      [6, 'udp', undefined, 1, 'first', '10.0.0.9', 40000, '10.0.0.1', 53, 1, 38, 0, 0, 'S0', 'D', true],
      [7, 'ospf', 89, 2, 'idle-timeout', '10.0.0.1', 0, '10.0.0.2', 0, 1, 64, 0, 0, 'OTH', '', true],
    ]);
    // The IP payload is the payload of a protocol flowdemux does not read.
    expect(flows[0]!.toServer.payloadBytes).toBe(3 * 44);
    // Every packet is in a flow, and still counted under its kind.
    expect(summary.packets).toBe(10);
    expect(summary.inFlows).toBe(10);
    expect(summary.byKind['other-ip-protocol']).toBe(9);
    expect(summary.byKind.udp).toBe(1);
  });

  it('--proto other chooses them all, a name or ip-proto-N one of them; a name that is none is refused', () => {
    expect(flowsJson('--proto', 'other').flows.map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 7]);
    expect(flowsJson('--proto', 'ospf').flows.map((f) => f.id)).toEqual([1, 7]);
    expect(flowsJson('--proto', 'ip-proto-89').flows.map((f) => f.id)).toEqual([1, 7]);
    expect(flowsJson('--proto', 'ip-proto-253').flows.map((f) => f.id)).toEqual([5]);
    expect(flowsJson('--proto', 'udp').flows.map((f) => f.id)).toEqual([6]);
    const bad = flowdemux(['flows', CAPTURE, '--proto', 'ospv']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('--proto');
  });

  it('the table shows addresses without ports; the demux report lists them apart, keyed as raw sockets are', () => {
    const table = flowdemux(['flows', CAPTURE, '--proto', 'vrrp']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/vrrp\s+│ 10\.0\.0\.1 \?\s+│ 224\.0\.0\.18\s+│/);
    const demux = flowdemux(['demux', CAPTURE]);
    expect(demux.code).toBe(0);
    expect(demux.stdout).toContain('No ports, other IP protocols: flows 1, 2, 3, 4, 5, 7');
    expect(demux.stdout).toContain('the key is protocol + addresses');
    expect(demux.stdout).not.toContain('ICMP flows');
    const json = JSON.parse(flowdemux(['demux', CAPTURE, '--format', 'json']).stdout);
    expect(json.unported).toEqual([1, 2, 3, 4, 5, 7]);
  });

  it('packets names the protocol as its flow does, and says which flow each packet is in', () => {
    const r = flowdemux(['packets', CAPTURE, '--format', 'ndjson', '--proto', 'other']);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { frame: number; proto: string; flow?: { id: number; generation: number } });
    expect(rows.map((p) => [p.frame, p.proto, p.flow?.id, p.flow?.generation])).toEqual([
      [1, 'ospf', 1, 1], [2, 'ospf', 1, 1], [3, 'ospf', 1, 1], [4, 'pim', 2, 1], [5, 'vrrp', 3, 1], [6, 'igmp', 4, 1],
      [7, 'ip-proto-253', 5, 1], [9, 'ospf', 1, 1], [10, 'ospf', 7, 2],
    ]);
  });

  it("a later fragment of an OSPF datagram is counted in its first fragment's flow", () => {
    const file = capture('frag.pcap', [
      [0, other('10.0.0.1', '10.0.0.2', 89, 1020, { id: 77, mf: true })],
      [0.001, other('10.0.0.1', '10.0.0.2', 89, 520, { id: 77, fragOffset: 1000 })],
    ]);
    const r = JSON.parse(flowdemux(['flows', file, '--format', 'json']).stdout);
    expect(r.flows.map((f: FlowJson) => [f.proto, f.toServer.packets, f.toServer.ipBytes])).toEqual([['ospf', 2, 1540]]);
    expect(r.summary.byKind).toMatchObject({ 'other-ip-protocol': 1, fragment: 1 });
  });
});
