/**
 * The README's DuckDB recipes ("Flows in a query engine"), run as written by
 * scripts/query/recipes.mjs with DuckDB's npm package over the Parquet files of every fixture
 * capture (one file a capture, read as one view), and their answers checked against the same
 * answers computed here from each capture's NDJSON flows: top talkers, TCP connections per
 * server port per minute, 4-tuples reused within 60 s.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type * as J from '../../src/core/json-types.js';
import { captureFiles } from '../helpers/fixture-files.js';
import { tempDir } from '../helpers/capture-builders.js';
import { isoNanos } from '../helpers/iso-nanos.js';
import { runCli } from '../helpers/run-cli.js';
// @ts-expect-error a plain .mjs script without types
import { openRecipes, readmeRecipes } from '../../scripts/query/recipes.mjs';

interface Recipes {
  recipes: { name: string; sql: string }[];
  run(name: string): Promise<Record<string, string | number | null>[]>;
  close(): void;
}

const tmp = tempDir('flowdemux-recipes-');
afterAll(() => tmp.cleanup());

/** Byte-wise order of ASCII text, as DuckDB sorts VARCHAR. */
const textOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** DuckDB's text of a TIMESTAMP_NS at a whole minute: `2026-11-25 09:07:00`. */
function minuteText(minute: bigint): string {
  return new Date(Number(minute) * 60_000).toISOString().slice(0, 19).replace('T', ' ');
}

describe("the README's DuckDB recipes", () => {
  it('are in the README: the view and the three questions', () => {
    expect((readmeRecipes() as { name: string }[]).map((r) => r.name)).toEqual([
      'the flows of every capture', 'top talkers', 'connections per server port per minute', '4-tuples reused within 60 s',
    ]);
  });

  it("answer as the flows' JSON does, over every fixture's Parquet at once", async () => {
    const byFile = new Map<string, J.Flow[]>();
    let n = 0;
    for (const capture of captureFiles()) {
      const nd = await runCli(['flows', capture, '--format', 'ndjson']);
      if (nd.stdout === '') continue;
      const file = `c${n++}.parquet`;
      const pq = await runCli(['flows', capture, '--format', 'parquet', '-o', join(tmp.dir, file)]);
      expect(pq.code, capture).toBe(nd.code);
      byFile.set(file, nd.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as J.Flow));
    }
    const all = [...byFile.values()].flat();
    expect(all.length).toBeGreaterThanOrEqual(190);

    const q = (await openRecipes(join(tmp.dir, '*.parquet'))) as Recipes;
    try {
      // Top talkers: each address's IP bytes sent and received, as client and as server.
      const talk = new Map<string, { sent: number; received: number; flows: number }>();
      const count = (ip: string, sent: number, received: number) => {
        const t = talk.get(ip) ?? { sent: 0, received: 0, flows: 0 };
        t.sent += sent;
        t.received += received;
        t.flows++;
        talk.set(ip, t);
      };
      for (const f of all) {
        count(f.client.ip, f.toServer.ipBytes, f.toClient.ipBytes);
        count(f.server.ip, f.toClient.ipBytes, f.toServer.ipBytes);
      }
      const top = [...talk].map(([ip, t]) => ({ ip, ...t, bytes: t.sent + t.received }))
        .sort((a, b) => b.bytes - a.bytes || textOrder(a.ip, b.ip)).slice(0, 10);
      const gotTop = (await q.run('top talkers')).map((r) => ({
        ip: r.ip, sent: Number(r.sent), received: Number(r.received), flows: Number(r.flows), bytes: Number(r.bytes),
      }));
      expect(gotTop).toEqual(top);

      // TCP connections per server port per minute of their start.
      const perMinute = new Map<string, { server_port: number; minute: bigint; connections: number }>();
      for (const f of all) {
        if (f.proto !== 'tcp') continue;
        const minute = isoNanos(f.start) / 60_000_000_000n;
        const key = `${f.server.port}/${minute}`;
        const e = perMinute.get(key) ?? { server_port: f.server.port, minute, connections: 0 };
        e.connections++;
        perMinute.set(key, e);
      }
      const minutes = [...perMinute.values()]
        .sort((a, b) => (a.minute < b.minute ? -1 : a.minute > b.minute ? 1 : a.server_port - b.server_port))
        .map((e) => ({ server_port: e.server_port, minute: minuteText(e.minute), connections: e.connections }));
      const gotMinutes = (await q.run('connections per server port per minute'))
        .map((r) => ({ server_port: Number(r.server_port), minute: String(r.minute), connections: Number(r.connections) }));
      expect(gotMinutes).toEqual(minutes);
      expect(minutes.length).toBeGreaterThan(5);

      // 4-tuples reused within 60 s: consecutive TCP flows of one tuple in one capture.
      const reused: { file: string; id: number; next_id: number; gap: number }[] = [];
      for (const [file, flows] of byFile) {
        const tuples = new Map<string, J.Flow[]>();
        for (const f of flows) {
          if (f.proto !== 'tcp') continue;
          const key = `${f.client.ip} ${f.client.port} ${f.server.ip} ${f.server.port}`;
          tuples.set(key, [...(tuples.get(key) ?? []), f]);
        }
        for (const list of tuples.values()) {
          list.sort((a, b) => {
            const d = isoNanos(a.start) - isoNanos(b.start);
            return d < 0n ? -1 : d > 0n ? 1 : a.id - b.id;
          });
          for (let i = 0; i + 1 < list.length; i++) {
            const gap = isoNanos(list[i + 1]!.start) - isoNanos(list[i]!.end);
            if (gap <= 60_000_000_000n) reused.push({ file, id: list[i]!.id, next_id: list[i + 1]!.id, gap: Number(gap) / 1e9 });
          }
        }
      }
      reused.sort((a, b) => textOrder(a.file, b.file) || a.id - b.id);
      const gotReused = await q.run('4-tuples reused within 60 s');
      expect(gotReused.map((r) => ({ file: r.file, id: Number(r.id), next_id: Number(r.next_id) })))
        .toEqual(reused.map(({ file, id, next_id }) => ({ file, id, next_id })));
      // The JSON's times are cut to the capture's digits; the file keeps every nanosecond.
      gotReused.forEach((r, i) => expect(Math.abs(Number(r.gap_s) - reused[i]!.gap)).toBeLessThan(2e-6));
      expect(reused.length).toBeGreaterThan(3);
    } finally {
      q.close();
    }
  }, 240_000);
});
