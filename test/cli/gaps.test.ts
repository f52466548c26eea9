/**
 * Capture loss through the command line, on real capture bytes: a TCP transfer whose capture
 * missed segments says so per direction in JSON, NDJSON, CSV, the table and the Zeek conn.log
 * (`missed_bytes`, history G/g), and one warning line names the capture with the total.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPcap, tempDir, type PcapRecordSpec } from '../helpers/capture-builders.js';
import { buildTcp, ethernet } from '../helpers/packet-builders.js';
import { runCli } from '../helpers/run-cli.js';

const T0 = 1_764_056_602;

/**
 * One connection, 10.0.0.1:40000 → 10.0.0.2:80 (ISNs 1000 / 5000): handshake, the client sends
 * `segments` segments of 1000 bytes and the server acknowledges each; segments whose index is in
 * `lost` are not in the capture (their ACK is). The server answers 300 bytes, of which the
 * capture misses the last 100 (the client's ACK covers them), or 200 with none missed
 * (`serverLoss` false). FIN both ways.
 */
function connection(sport: number, segments: number, lost: Set<number>, t: number, serverLoss = true): PcapRecordSpec[] {
  const out: PcapRecordSpec[] = [];
  let us = 0;
  const add = (fromClient: boolean, flags: string, seq: number, ack: number, len = 0) => {
    const ends = fromClient ? { src: '10.0.0.1', dst: '10.0.0.2', sport, dport: 80 } : { src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: sport };
    out.push({ tsSec: t, tsFrac: (us += 100), data: ethernet(buildTcp({ ...ends, flags, seq, ack, payload: new Uint8Array(len) })) });
  };
  add(true, 'S', 1000, 0);
  add(false, 'SA', 5000, 1001);
  add(true, 'A', 1001, 5001);
  let c = 1001;
  for (let i = 0; i < segments; i++) {
    if (!lost.has(i)) add(true, 'PA', c, 5001, 1000);
    c += 1000;
    add(false, 'A', 5001, c);
  }
  const sEnd = serverLoss ? 5301 : 5201;
  add(false, 'PA', 5001, c, 200); // 5001..5200 seen; 5201..5300 lost (with serverLoss)
  add(true, 'A', c, sEnd);
  add(true, 'FA', c, sEnd);
  add(false, 'FA', sEnd, c + 1);
  add(true, 'A', c + 1, sEnd + 1);
  return out;
}

let tmp: ReturnType<typeof tempDir>;
let lossy: string;
let clean: string;
let second: string;

beforeAll(() => {
  tmp = tempDir('flowdemux-gaps-');
  lossy = tmp.write('lossy.pcap', buildPcap({}, [...connection(40000, 5, new Set([1, 3]), T0), ...connection(40001, 3, new Set(), T0 + 1)]));
  second = tmp.write('second.pcap', buildPcap({}, connection(40002, 4, new Set([0]), T0 + 2)));
  clean = tmp.write('clean.pcap', buildPcap({}, connection(40003, 3, new Set(), T0, false)));
});

afterAll(() => tmp.cleanup());

const GAP_LINE = /flowdemux: warning: .*TCP flows? ha(s|ve) sequence gaps/g;

describe('flows: capture loss is never silent', () => {
  it('JSON: missedBytes per direction, G/g in the history, one warning naming the capture', async () => {
    const r = await runCli(['flows', lossy, '--format', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    const [lost, ok] = doc.flows;
    expect(lost.toServer.missedBytes).toBe(2000);
    expect(lost.toClient.missedBytes).toBe(100);
    expect(lost.history).toBe('ShADaGdgFf');
    expect(lost.state).toBe('SF');
    // The second connection lost only the server's last 100 bytes.
    expect(ok.toServer.missedBytes).toBe(0);
    expect(ok.toClient.missedBytes).toBe(100);
    expect(doc.warnings).toEqual([
      `${lossy}: 2 TCP flows have sequence gaps: 2,200 bytes were acknowledged or followed by later data but not captured (missed_bytes)`,
    ]);
    expect(r.stderr.match(GAP_LINE)).toHaveLength(1);
  });

  it('NDJSON (streamed) and the JSON document carry the same counts', async () => {
    const nd = await runCli(['flows', lossy, '--format', 'ndjson']);
    const lines = nd.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((f) => [f.toServer.missedBytes, f.toClient.missedBytes])).toEqual([[2000, 100], [0, 100]]);
    expect(nd.stderr.match(GAP_LINE)).toHaveLength(1);
  });

  it('Zeek conn.log: missed_bytes is both directions together', async () => {
    const r = await runCli(['flows', lossy, '--format', 'zeek']);
    const lines = r.stdout.split('\n');
    const fields = lines.find((l) => l.startsWith('#fields'))!.split('\t').slice(1);
    const rows = lines.filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split('\t'));
    const col = (name: string) => rows.map((row) => row[fields.indexOf(name)]);
    expect(col('missed_bytes')).toEqual(['2100', '100']);
    expect(col('history')).toEqual(['ShADaGdgFf', 'ShADadgFf']);
  });

  it('CSV: the two counts are columns of their own (before service and summary)', async () => {
    const r = await runCli(['flows', lossy, '--format', 'csv']);
    const [head, first] = r.stdout.split('\n');
    expect(head!.endsWith(',to_server_missed_bytes,to_client_missed_bytes,service,summary')).toBe(true);
    expect(first!.endsWith(',2000,100,,')).toBe(true);
  });

  it('table: a missed column and its note, only when something was missed', async () => {
    const r = await runCli(['flows', lossy, '--format', 'table']);
    expect(r.stdout).toMatch(/│ state │ missed │/);
    expect(r.stdout).toMatch(/│ SF {4}│ {3}2100 │/);
    expect(r.stdout).toContain('missed: TCP bytes sent but never captured');
    const c = await runCli(['flows', clean, '--format', 'table']);
    expect(c.stdout).not.toContain('missed');
    expect(c.stderr).not.toMatch(GAP_LINE);
  });

  it('several captures as one timeline: one line for all of them', async () => {
    const r = await runCli(['flows', lossy, second, '--format', 'json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.flows.map((f: { toServer: { missedBytes: number } }) => f.toServer.missedBytes)).toEqual([2000, 0, 1000]);
    expect(doc.warnings).toEqual([
      `${lossy} and 1 more: 3 TCP flows have sequence gaps: 3,300 bytes were acknowledged or followed by later data but not captured (missed_bytes)`,
    ]);
    expect(r.stderr.match(GAP_LINE)).toHaveLength(1);
  });

  it('--strict makes the loss an error (exit 3); packets and demux warn too', async () => {
    expect((await runCli(['flows', lossy, '--format', 'json', '--strict'])).code).toBe(3);
    expect((await runCli(['packets', lossy, '--format', 'ndjson'])).stderr.match(GAP_LINE)).toHaveLength(1);
    expect((await runCli(['demux', lossy, '--format', 'json'])).stderr.match(GAP_LINE)).toHaveLength(1);
  });
});
