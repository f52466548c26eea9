/**
 * Golden files of `flowdemux demux` on the seed capture and on closed-ports.pcap: the table, JSON, DOT and Mermaid in
 * fixtures/golden/, made by the real pipeline (capture → decoder → engine → groups → report).
 * After an intended change of output, regenerate them and review the diff:
 *
 *   UPDATE_GOLDEN=1 npx vitest run test/report/demux-golden.test.ts
 *
 * The DOT is also rendered by Graphviz (`dot -Tsvg`) when `dot` is installed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDemux, type DemuxReport } from '../../src/demux/groups.js';
import { renderDemuxDot, renderDemuxJson, renderDemuxMermaid, renderDemuxTable } from '../../src/report/demux.js';
import { runPipeline } from './pipeline.js';

const GOLDEN = new URL('../../fixtures/golden/', import.meta.url).pathname;
const CAPTURE = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;
const CLOSED = new URL('../../fixtures/closed-ports.pcap', import.meta.url).pathname;
const update = process.env.UPDATE_GOLDEN === '1';
const hasDot = spawnSync('dot', ['-V']).error === undefined;

function golden(name: string, actual: string): void {
  const path = GOLDEN + name;
  if (update || !existsSync(path)) {
    if (!update) throw new Error(`${path} is missing: run with UPDATE_GOLDEN=1 to write it`);
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  expect(actual, `${name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it)`).toBe(readFileSync(path, 'utf8'));
}

/** The four goldens of one capture, and its DOT through Graphviz showing `texts`. */
function goldenSuite(name: string, capture: string, texts: string[]): void {
  describe(`demux on fixtures/${name}.pcap`, () => {
    let report: DemuxReport;
    beforeAll(async () => {
      report = buildDemux((await runPipeline(capture)).flows);
    });

    it('table', () => golden(`${name}.demux.table`, renderDemuxTable(report)));
    it('json', () => golden(`${name}.demux.json`, renderDemuxJson(report)));
    it('dot', () => golden(`${name}.demux.dot`, renderDemuxDot(report)));
    it('mermaid', () => golden(`${name}.demux.mmd`, renderDemuxMermaid(report)));

    it.skipIf(!hasDot)('the golden DOT renders with Graphviz (dot -Tsvg) [skipped when Graphviz is not installed]', () => {
      const dot = readFileSync(GOLDEN + `${name}.demux.dot`, 'utf8');
      const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      // Every host, port and socket label made it into the picture (Graphviz writes '-' as &#45;).
      const svg = r.stdout.replace(/&#45;/g, '-');
      for (const text of texts) expect(svg).toContain(text);
    });
  });
}

goldenSuite('demux-lo', CAPTURE, ['host 127.0.0.1', 'host 127.0.0.2', 'host 127.0.0.3', 'key: 4-tuple+time', '127.0.0.1:5353', '2 peers']);
goldenSuite('closed-ports', CLOSED, ['host ::1', 'closed port: no socket', '127.0.0.1:8090', 'ICMPv6 port unreachable', '(opened later)']);
