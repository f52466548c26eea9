/**
 * flows agrees with tshark on every fixture: the committed `NAME.flows.json` beside each capture
 * holds tshark's conversations (scripts/fixtures/golden.sh). Differences of rule are asserted as
 * flowdemux's own rule, not skipped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareWithTshark, type TsharkFlows } from '../../src/tools/tshark-compare.js';
import { runCli } from '../helpers/run-cli.js';

const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;

function goldenFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...goldenFiles(p));
    else if (name.endsWith('.flows.json')) out.push(p);
  }
  return out.sort();
}

/** Fixtures where flowdemux splits or counts differently from tshark on purpose (see README). */
const RULE_DIFFERENCES: Record<string, string> = {};

const cases = goldenFiles(FIXTURES)
  .map((g) => ({ golden: g, capture: g.slice(0, -'.flows.json'.length), name: g.slice(FIXTURES.length) }))
  .filter((c) => existsSync(c.capture) && !c.capture.endsWith('.txt'));

describe('flows agree with tshark conversations', () => {
  it('has golden files', () => expect(cases.length).toBeGreaterThan(20));
  for (const c of cases) {
    it(c.name.replace('.flows.json', ''), async () => {
      const tshark = JSON.parse(readFileSync(c.golden, 'utf8')) as TsharkFlows;
      const r = await runCli(['flows', c.capture, '--format', 'json']);
      if (tshark.tshark_rc !== 0 && r.code === 1) return; // neither could read it: checked in the damaged tests
      expect(r.code === 0 || r.code === 1).toBe(true);
      const doc = JSON.parse(r.stdout);
      const cmp = compareWithTshark(doc.flows, tshark);
      expect(cmp.differences, RULE_DIFFERENCES[c.name] ?? 'no difference expected').toEqual([]);
      expect(cmp.exact + cmp.byRule).toBe(cmp.total);
    });
  }
});
