/**
 * The TCP analysis in `packets` and `flows --analysis`, end to end: the compiled CLI run as a
 * process on fixtures/crafted/tcp-analysis-events.pcap (one connection with every mark), checked
 * against tshark's answer for that capture (its committed .analysis.tsv, written by
 * scripts/fixtures/analysis-golden.mjs): the marks of each frame, each mark's count, the ACK
 * round trips and the handshake (tshark's initial_rtt, 0.02 s there).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const EVENTS = new URL('../../fixtures/crafted/tcp-analysis-events.pcap', import.meta.url).pathname;

function flowdemux(args: string[]) {
  // A hang guard only: the runs take well under a second.
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** tshark's Info words to its field names (the names `analysis` uses). */
const FIELD_OF: Record<string, string> = {
  'TCP Retransmission': 'retransmission', 'TCP Previous segment not captured': 'lost_segment',
  'TCP ACKed unseen segment': 'ack_lost_segment', 'TCP Keep-Alive': 'keep_alive', 'TCP Dup ACK': 'duplicate_ack',
  'TCP ZeroWindow': 'zero_window', 'TCP ZeroWindowProbe': 'zero_window_probe', 'TCP ZeroWindowProbeAck': 'zero_window_probe_ack',
  'TCP Keep-Alive ACK': 'keep_alive_ack', 'TCP Out-Of-Order': 'out_of_order', 'TCP Fast Retransmission': 'fast_retransmission',
  'TCP Window Update': 'window_update', 'TCP Window Full': 'window_full', 'TCP Spurious Retransmission': 'spurious_retransmission',
};

/** tshark's rows: frame -> [field names sorted, acks_frame, ack_rtt]. */
function golden(): Map<number, { names: string[]; words: string[]; acks: number | null; rtt: number | null }> {
  const [, , ...rows] = readFileSync(`${EVENTS}.analysis.tsv`, 'utf8').trimEnd().split('\n');
  return new Map(rows.map((r) => {
    const [frame, text, acks, rtt] = r.split('\t');
    const words = text === '' ? [] : text!.split(' | ');
    const names = words.map((w) => FIELD_OF[w.replace(/ \d+#\d+$/, '')]!).sort();
    return [Number(frame), { names, words, acks: acks ? Number(acks) : null, rtt: rtt ? Number(rtt) : null }];
  }));
}

describe('TCP analysis in packets and flows', () => {
  it('packets --format ndjson: each segment\'s analysis, duplicate ACK and ACK round trip, as tshark gives them', () => {
    const r = flowdemux(['packets', EVENTS, '--format', 'ndjson']);
    expect(r.code).toBe(0);
    const want = golden();
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(33);
    for (const o of lines) {
      const w = want.get(o.frame as number);
      expect([...((o.analysis as string[] | undefined) ?? [])].sort(), `frame ${o.frame}`).toEqual(w?.names ?? []);
      expect(o.acksFrame ?? null, `frame ${o.frame}`).toBe(w?.acks ?? null);
      expect(o.ackRtt ?? null, `frame ${o.frame}`).toBe(w?.rtt ?? null);
    }
    expect(lines[8]!.duplicateAck).toEqual({ of: 8, number: 1 });
    expect(lines[9]!.duplicateAck).toEqual({ of: 8, number: 2 });
  });

  it('packets table: the marks in tshark\'s words at the end of the info, on the frames tshark marks', () => {
    const r = flowdemux(['packets', EVENTS]);
    expect(r.code).toBe(0);
    const want = golden();
    const rows = r.stdout.trimEnd().split('\n').slice(1);
    for (const row of rows) {
      const frame = Number(row.split(' ')[0]);
      const marks = [...row.matchAll(/\[(TCP [^\]]+)\]/g)].map((m) => m[1]!).sort();
      expect(marks, `frame ${frame}`).toEqual([...(want.get(frame)?.words ?? [])].sort());
    }
    expect(rows[8]).toMatch(/len=0 \[TCP Dup ACK 8#1\]$/);
  });

  it('flows --analysis: each mark counted, the handshake and the ACK round trips each way', () => {
    const r = flowdemux(['flows', EVENTS, '--analysis', '--format', 'json']);
    expect(r.code).toBe(0);
    const flow = JSON.parse(r.stdout).flows[0];
    const counts: Record<string, number> = Object.fromEntries(Object.values(FIELD_OF).map((n) => [n, 0]));
    for (const w of golden().values()) for (const n of w.names) counts[n]!++;
    expect(flow.analysis.marks).toEqual(counts);
    expect(flow.analysis.handshake).toEqual({ synToSynAck: 0.01, synAckToAck: 0.01, total: 0.02 });
    // tshark times 10 ACKs there, of both ends' data.
    const { toServer, toClient } = flow.analysis.ackRtt;
    expect(toServer.samples + toClient.samples).toBe(10);
    expect(Math.min(toServer.min, toClient.min)).toBe(Math.min(...[...golden().values()].filter((w) => w.rtt !== null).map((w) => w.rtt!)));
  });

  it('flows without --analysis: no analysis; --format csv --analysis: the 23 columns after the others', () => {
    const plain = JSON.parse(flowdemux(['flows', EVENTS, '--format', 'json']).stdout).flows[0];
    expect(plain.analysis).toBeUndefined();
    const csv = flowdemux(['flows', EVENTS, '--analysis', '--format', 'csv']).stdout.trimEnd().split('\n').map((l) => l.split(','));
    const head = csv[0]!;
    expect(head.slice(-23, -9)).toEqual(Object.values(FIELD_OF));
    const row = Object.fromEntries(head.map((h, i) => [h, csv[1]![i]]));
    expect([row.duplicate_ack, row.fast_retransmission, row.handshake_total]).toEqual(['2', '1', '0.02']);
  });

  it('flows --analysis table: the retransmissions, duplicate ACKs and handshake in ms', () => {
    const r = flowdemux(['flows', EVENTS, '--analysis']);
    expect(r.stdout).toMatch(/retrans │ dup ack │ ooo │ zero win │ handshake ms │\s+ack rtt ms/);
    expect(r.stdout).toMatch(/│\s+3 │\s+2 │\s+1 │\s+2 │\s+20\.000 │/);
  });

  it('flows --analysis: each direction\'s ACK round trips are those packets gives that direction\'s ACKs (a client at the higher address too)', () => {
    // demux-lo.pcap flow 1: client 127.0.0.2:9157, server 127.0.0.1:80 (the engine's end A is the server).
    const LO = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;
    const flow = JSON.parse(flowdemux(['flows', LO, '--analysis', '--format', 'json']).stdout).flows[0];
    const acks = flowdemux(['packets', LO, '--flow', '1', '--format', 'ndjson']).stdout.trimEnd().split('\n')
      .map((l) => JSON.parse(l) as { src: string; ackRtt?: number }).filter((p) => p.ackRtt !== undefined);
    const summary = (from: string) => {
      const r = acks.filter((p) => p.src === from).map((p) => p.ackRtt!).sort((a, b) => a - b);
      return { samples: r.length, min: r[0], median: r[r.length >> 1] };
    };
    expect(flow.client.ip).toBe('127.0.0.2');
    // Odd counts here (3 each way), so the median is the middle one.
    expect(flow.analysis.ackRtt.toServer).toEqual(summary(flow.server.ip));
    expect(flow.analysis.ackRtt.toClient).toEqual(summary(flow.client.ip));
  });
});
