/**
 * flowdemux's conn.log against the conn.log Zeek itself wrote for its test traces (the golden
 * files in test/golden/zeek-conn, README there), through scripts/check/zeek-compare.mjs. The
 * traces are in ../shared/corpus, not in the repository: without it this file checks nothing.
 * Every difference left must have a known cause (issue 16's other items, or a baseline older
 * than a Zeek rule), and the agreement must not fall below what was measured.
 */
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { compareAll } from '../../scripts/check/zeek-compare.mjs';

const CORPUS = new URL('../../../shared/corpus/', import.meta.url).pathname;
const GOLDEN = new URL('./zeek-conn/', import.meta.url).pathname;

/** Causes of difference that are not this comparison's to fix (zeek-compare.mjs names them). */
const KNOWN = [
  /^extra: other IP protocol in a baseline that logs none/,
  /^tunnel: /,
  /^extra: the ends of one of Zeek's, begun at another time/,
  /^history: baseline older than the \^ mark/,
  /^conn_state: baseline older than RSTOS0/,
  /^history: gap or retransmission letters/,
  /^ip_bytes: Zeek keeps the sizes of the packets before its role flip/, // http-on-irc-port-missing-syn
  /^history: baseline older than the g \(content gap\) letter/,
  /^history: X \(Zeek stopped a protocol analyzer on a limit\), not modelled/,
  /^history: X, and \^ from a flip by Zeek's protocol analyzer/,
  /^roles: first seen by its SYN-ACK, whose sender Zeek makes the responder/, // issue item 2
  /^history: \^ \(flip mark\) differs \(issue item 2\)/,
  /^duration: stops at a FIN sent after the peer's RST/, // issue item 1, TCPSessionAdapter's did_close rule
];

interface Result {
  totals: { traces: number; zeek: number; found: number; ours: number; swapped: number; tunnelService: { same: number; of: number } };
  agree: Record<string, { same: number; of: number }>;
  causes: Map<string, string[]>;
}

describe("conn.log against Zeek's own", () => {
  it.runIf(existsSync(CORPUS))('agrees on every connection and field but for known causes', async () => {
    const r = (await (compareAll as (run: unknown, corpus: string) => Promise<Result>)(run, CORPUS));
    const goldens = readdirSync(GOLDEN).filter((n) => n.endsWith('.conn.log'));
    expect(r.totals.traces).toBe(goldens.length);
    // One connection is seen first by its SYN-ACK and not yet flipped as Zeek does (issue item 2).
    expect(r.totals.swapped).toBeLessThanOrEqual(1);
    expect(r.totals.found).toBeGreaterThanOrEqual(155);
    const unknown = [...r.causes.entries()].filter(([cause]) => !KNOWN.some((k) => k.test(cause)));
    expect(unknown).toEqual([]);
    // A tunnel's own connection has Zeek's service name (vxlan, geneve, teredo, gtpv1, ayiya).
    expect(r.totals.tunnelService.of).toBeGreaterThanOrEqual(19);
    expect(r.totals.tunnelService.same).toBe(r.totals.tunnelService.of);
    // The per-field agreement measured when this test was written (README, "Damaged input").
    const floor: Record<string, number> = {
      conn_state: 126, history: 143, orig_pkts: 127, resp_pkts: 128, orig_ip_bytes: 124, resp_ip_bytes: 125, duration: 130,
    };
    for (const [field, n] of Object.entries(floor)) expect(r.agree[field]!.same, field).toBeGreaterThanOrEqual(n);
  }, 120_000);
});
