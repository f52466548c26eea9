/**
 * flows agrees with tshark on every fixture: the committed `NAME.flows.json` beside each capture
 * holds tshark's conversations (scripts/fixtures/golden.sh). Differences of rule are asserted as
 * flowdemux's own rule, not skipped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareWithTshark, type Difference, type TsharkFlows } from '../../src/tools/tshark-compare.js';
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

/**
 * Where flowdemux counts differently from tshark on purpose (README, "Differences from tshark").
 * Each rule is checked as flowdemux's own rule: the differences must be exactly the ones it
 * explains, with the numbers it predicts.
 */
interface Rule {
  why: string;
  check: (diffs: Difference[], capture: string) => Promise<void>;
}

/** Later IP fragments (offset > 0) per flow, from flowdemux's own packet output. */
async function laterFragments(capture: string): Promise<number> {
  const r = await runCli(['packets', capture, '--format', 'ndjson']);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((p) => p.fragment && p.fragment.offset > 0).length;
}

const fragments: Rule = {
  why: 'later IP fragments count with the flow of their first fragment (tshark, reassembly off, leaves them out)',
  async check(diffs, capture) {
    expect(diffs).toHaveLength(1);
    const m = /flowdemux (\d+) pkts\/\d+ B → (\d+) pkts\/\d+ B ←, tshark (\d+) pkts\/\d+ B → (\d+) pkts/.exec(diffs[0]!.detail);
    expect(m).not.toBeNull();
    const [ours, theirs] = [Number(m![1]) + Number(m![2]), Number(m![3]) + Number(m![4])];
    expect(ours - theirs).toBe(await laterFragments(capture));
  },
};

const nullAf10: Rule = {
  why: "NULL frames with AF 10 (Linux's AF_INET6) are decoded as IPv6; tshark shows them as data",
  async check(diffs, capture) {
    expect(diffs.map((d) => d.detail)).toEqual(['flowdemux has 1 flow(s) that tshark does not list']);
    const r = await runCli(['packets', capture, '--format', 'ndjson']);
    const v6 = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((p) => p.ipVersion === 6);
    expect(v6.length).toBeGreaterThan(0);
  },
};

const RULES: Record<string, Rule> = {
  'crafted/ipv4-udp-fragments-in-order.pcap': fragments,
  'crafted/ipv4-udp-fragments-last-first.pcap': fragments,
  'crafted/ipv6-udp-fragments.pcap': fragments,
  'crafted/null-be-af-2-10-24-28-30.pcap': nullAf10,
  'crafted/null-le-af-2-10-24-28-30.pcap': nullAf10,
  'crafted/null-le-file-be-af-values.pcap': nullAf10,
};

/** Captures flowdemux refuses where tshark reads nothing without complaint. */
const REFUSED: Record<string, RegExp> = {
  'damaged/zero-bytes.pcap': /zero-bytes\.pcap: empty file/,
};

const cases = goldenFiles(FIXTURES)
  .map((g) => ({ golden: g, capture: g.slice(0, -'.flows.json'.length), name: g.slice(FIXTURES.length) }))
  .filter((c) => existsSync(c.capture) && !c.capture.endsWith('.txt'));

describe('flows agree with tshark conversations', () => {
  it('has golden files', () => expect(cases.length).toBeGreaterThan(20));
  for (const c of cases) {
    const name = c.name.replace('.flows.json', '');
    const rule = RULES[name];
    it(rule ? `${name} (rule: ${rule.why})` : name, async () => {
      const tshark = JSON.parse(readFileSync(c.golden, 'utf8')) as TsharkFlows;
      const r = await runCli(['flows', c.capture, '--format', 'json']);
      if (REFUSED[name]) {
        expect([r.code, r.stdout]).toEqual([1, '']);
        expect(r.stderr).toMatch(REFUSED[name]!);
        return;
      }
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      const cmp = compareWithTshark(doc.flows, tshark);
      if (rule) {
        await rule.check(cmp.differences, c.capture);
      } else {
        expect(cmp.differences).toEqual([]);
        expect(cmp.exact + cmp.byRule).toBe(cmp.total);
      }
    });
  }
});
