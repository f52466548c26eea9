/**
 * `flows --format zeek-json` (conn.log as Zeek writes it with JSON logs on) against the TSV
 * writer's conn.log of the same capture, on every fixture: the same records, field for field,
 * with Zeek's JSON rules (a `-` in TSV is a key left out; times and intervals are doubles whose
 * six-digit text is the TSV's; dotted keys, flat, in conn.log's order). Both stay conn.log's
 * fields only under --analysis (Zeek has none for it).
 */
import { describe, expect, it } from 'vitest';
import { captureFiles, tcpCaptureFiles } from '../helpers/fixture-files.js';
import { runCli } from '../helpers/run-cli.js';
import { connLogRows } from '../helpers/conn-log.js';

const NUMERIC = new Set(['id.orig_p', 'id.resp_p', 'orig_bytes', 'resp_bytes', 'missed_bytes', 'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes']);

describe('flows --format zeek-json', () => {
  const files = captureFiles();

  it('holds the TSV conn.log\'s records on every fixture', async () => {
    let records = 0;
    let timed = 0;
    for (const file of files) {
      const tsv = await runCli(['flows', file, '--format', 'zeek']);
      const json = await runCli(['flows', file, '--format', 'zeek-json']);
      expect(json.code, file).toBe(tsv.code);
      const { fields, rows } = connLogRows(tsv.stdout);
      const lines = json.stdout.split('\n').filter((l) => l !== '');
      expect(lines.length, file).toBe(rows.length);
      // Streamed as flows end: matched by uid, not by line.
      const byUid = new Map(lines.map((l) => {
        const o = JSON.parse(l) as Record<string, unknown>;
        return [o.uid as string, { o, keys: Object.keys(o) }];
      }));
      for (const row of rows) {
        const got = byUid.get(row.uid!);
        expect(got, `${file} ${row.uid}`).toBeDefined();
        const { o, keys } = got!;
        // Keys are conn.log's fields that are set, in its order.
        expect(keys, `${file} ${row.uid}`).toEqual(fields.filter((f) => row[f] !== '-'));
        for (const f of keys) {
          const want = row[f]!;
          const v = o[f];
          if (f === 'ts' || f === 'duration') {
            expect(typeof v).toBe('number');
            expect((v as number).toFixed(6), `${file} ${row.uid} ${f}`).toBe(want);
            if (f === 'duration') timed++;
          } else if (NUMERIC.has(f)) {
            expect(v, `${file} ${row.uid} ${f}`).toBe(Number(want));
          } else if (f === 'tunnel_parents') {
            expect(v).toEqual(want.split(','));
          } else {
            // history is the one field the TSV writer escapes; none here needs it.
            expect(v, `${file} ${row.uid} ${f}`).toBe(want);
          }
        }
        records++;
      }
    }
    // 190 records in the fixtures when this was written, most with a duration.
    expect(records).toBeGreaterThanOrEqual(190);
    expect(timed).toBeGreaterThan(100);
  }, 240_000);

  it('writes a whole second as Zeek does (1764000000.0) and the duration as the difference of doubles', async () => {
    const r = await runCli(['flows', 'fixtures/crafted/icmp-time-exceeded-quoting-tcp.pcap', '--format', 'zeek-json']);
    expect(r.stdout).toBe('{"ts":1764000000.0,"uid":"C000001","id.orig_h":"192.0.2.1","id.orig_p":40700,"id.resp_h":"198.51.100.7",'
      + '"id.resp_p":80,"proto":"tcp","conn_state":"S0","missed_bytes":0,"history":"S","orig_pkts":1,"orig_ip_bytes":40,'
      + '"resp_pkts":0,"resp_ip_bytes":0,"community_id":"1:Zya+wny0l77GP/b4AHiRie6eobI="}\n');
    const lo = await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'zeek-json']);
    const first = lo.stdout.split('\n').map((l) => (l === '' ? null : JSON.parse(l) as Record<string, number | string>)).find((o) => o?.uid === 'C000001')!;
    // 1795597644.291118 to 1795597644.903526 (the TSV's 0.612408), as two doubles subtracted.
    expect(first.duration).toBe(1795597644.903526 - 1795597644.291118);
  });

  it('--analysis changes neither conn.log (TSV nor JSON), streamed or sorted', async () => {
    let analysed = 0;
    for (const file of tcpCaptureFiles()) {
      // The same run's flows do carry the analysis: the option reached the engine.
      const nd = await runCli(['flows', file, '--format', 'ndjson', '--analysis']);
      analysed += nd.stdout.split('\n').filter((l) => l !== '' && (JSON.parse(l) as { analysis?: unknown }).analysis !== undefined).length;
      for (const format of ['zeek', 'zeek-json']) {
        // Sorted (written once the input has ended, another path): the top folder's captures.
        for (const extra of file.includes('/crafted/') ? [[]] : [[], ['--sort', 'bytes']]) {
          const plain = await runCli(['flows', file, '--format', format, ...extra]);
          const withAnalysis = await runCli(['flows', file, '--format', format, '--analysis', ...extra]);
          const what = `${file} ${format} ${extra.join(' ')}`;
          expect(withAnalysis.code, what).toBe(plain.code);
          expect(withAnalysis.stdout, what).toBe(plain.stdout);
          expect(withAnalysis.stderr, what).toBe(plain.stderr);
        }
      }
    }
    expect(analysed).toBeGreaterThan(40);
  }, 240_000);
});
