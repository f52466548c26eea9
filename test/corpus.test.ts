/**
 * The corpus check over ../shared/corpus (real public captures, many malformed on purpose):
 * no crash and no hang on any file. Runs the compiled CLI (`npm test` builds it first) in a
 * worker, one file at a time with a time bound. The corpus is not part of the repository; where
 * it is absent this file says so and checks the bundled fixtures folder instead.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const CORPUS = new URL('../../shared/corpus/', import.meta.url).pathname;
const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
// Imported from dist: the check runs the CLI in worker threads, which need compiled JavaScript.
const { checkCorpus, formatReport } = await import(new URL('../dist/tools/corpus-check.js', import.meta.url).href);

describe('corpus check', () => {
  const folder = existsSync(CORPUS) ? CORPUS : FIXTURES;
  it(`packets over every capture in ${existsSync(CORPUS) ? '../shared/corpus' : 'fixtures (no ../shared/corpus here)'}: no crash, no hang`, async () => {
    const report = await checkCorpus(folder, { timeoutMs: 15_000, command: 'packets' });
    console.log(formatReport(report));
    expect(report.files).toBeGreaterThan(0);
    expect(report.crashes).toEqual([]);
    expect(report.hangs).toEqual([]);
  }, 600_000);

  it.runIf(existsSync(CORPUS))('flows over ../shared/corpus: no crash, no hang, >= 99% of tshark\'s TCP/UDP conversations agree', async () => {
    const report = await checkCorpus(CORPUS, { timeoutMs: 15_000, command: 'flows' });
    console.log(formatReport(report).split('\n').slice(0, 4).join('\n'));
    expect(report.crashes).toEqual([]);
    expect(report.hangs).toEqual([]);
    const a = report.agreement;
    expect(a.files).toBeGreaterThan(1000);
    // Every remaining difference is a documented rule (README, "Differences from tshark").
    expect((a.exact + a.byRule) / a.total).toBeGreaterThanOrEqual(0.99);
  }, 600_000);
});
