/**
 * `flows --analysis`'s handshake `total` against tshark's `tcp.analysis.initial_rtt`, connection
 * by connection: the committed fixtures/golden/initial-rtt.tsv (scripts/fixtures/initial-rtt-golden.mjs)
 * holds tshark's value for every TCP stream it times in every bundled capture and in the corpus
 * captures of test/golden/tcp-analysis.test.ts (../shared/corpus, read in place; those run only
 * where the corpus is). Streams and flows are matched by client and server address and port
 * (tshark's client: the sender of the first SYN), in order of appearance when a 4-tuple is used
 * again; every flow flowdemux gives a handshake must be a stream tshark times, with the same
 * nanoseconds, and the other way round.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type * as J from '../../src/core/json-types.js';
import { runCli } from '../helpers/run-cli.js';

const GOLDEN = 'fixtures/golden/initial-rtt.tsv';
const CORPUS = new URL('../../../shared/corpus/', import.meta.url).pathname;

/** Capture name (as in the golden) -> 4-tuple -> the handshake round trips, in order of appearance. */
type Timed = Map<string, string[]>;

function readGolden(): Map<string, Timed> {
  const out = new Map<string, Timed>();
  for (const line of readFileSync(GOLDEN, 'utf8').trimEnd().split('\n').slice(1)) {
    const named = /^# capture (.*): \d+ frames$/.exec(line);
    if (named) {
      out.set(named[1]!, new Map());
      continue;
    }
    const [capture, , cip, cport, sip, sport, rtt] = line.split('\t');
    const timed = out.get(capture!)!;
    const key = `${cip} ${cport} > ${sip} ${sport}`;
    timed.set(key, [...(timed.get(key) ?? []), rtt!]);
  }
  return out;
}

/** flows --analysis's handshakes of a capture, keyed and ordered as the golden's. */
async function ours(path: string): Promise<Timed> {
  const r = await runCli(['flows', path, '--format', 'ndjson', '--analysis', '--sort', 'start']);
  const timed: Timed = new Map();
  for (const l of r.stdout.split('\n')) {
    if (l === '') continue;
    const f = JSON.parse(l) as J.Flow;
    if (f.analysis?.handshake == null) continue;
    const key = `${f.client.ip} ${f.client.port} > ${f.server.ip} ${f.server.port}`;
    timed.set(key, [...(timed.get(key) ?? []), f.analysis.handshake.total.toFixed(9)]);
  }
  return timed;
}

/**
 * Connections flowdemux times where tshark has no stream of their own, by design, each with why:
 * a 4-tuple and which of its handshakes (0: the first), left out before comparing. Everything
 * else must agree.
 */
const DIFFERENCES: Record<string, { drop: [key: string, nth: number][]; why: string }> = {
  'fixtures/crafted/tcp-reuse-rst-same-isn-new-isn.pcap': {
    drop: [['192.0.2.1 40900 > 198.51.100.7 8089', 1]],
    why: 'a SYN repeating the old ISN after a RST: tshark keeps it in the old stream (a retransmission there, whose '
      + 'initial_rtt is the first handshake\'s); flowdemux starts generation 2 with it and times its handshake',
  },
  'corpus/suricata-verify__base64-decode-5885__input.pcap': {
    drop: [['192.168.100.67 57558 > 142.251.39.35 443', 1]],
    why: 'as above: after a RST, a SYN with an old ISN stays in tshark\'s stream 11; flowdemux\'s generation 2 '
      + '(syn-after-rst) has a handshake of its own, 27.950 ms',
  },
  'fixtures/crafted/teredo-port-32900-ipv6-tcp-and-lookalikes.pcap': {
    drop: [['2001:0:4137:9e50:8000:f12a:b9c8:2815 1286 > 2001:db8::7 80', 0]],
    why: 'Teredo on a port other than 3544: tshark decodes Teredo on its port only, so sees no TCP; flowdemux '
      + 'knows it by its bytes (README, tunnels) and times the IPv6 connection inside',
  },
};

const golden = readGolden();

describe('handshake round trip (flows --analysis) against tshark\'s tcp.analysis.initial_rtt', () => {
  it('the golden times handshakes of many captures, the corpus\'s among them', () => {
    const timed = [...golden.values()].reduce((n, t) => n + [...t.values()].flat().length, 0);
    expect(timed).toBeGreaterThan(100);
    expect([...golden.keys()].filter((c) => c.startsWith('corpus/')).length).toBeGreaterThanOrEqual(9);
  });

  for (const [name, want] of golden) {
    const path = name.startsWith('corpus/') ? CORPUS + name.slice('corpus/'.length) : name;
    it.runIf(existsSync(path))(name, async () => {
      const got = await ours(path);
      for (const [key, nth] of DIFFERENCES[name]?.drop ?? []) {
        const list = got.get(key);
        expect(list?.[nth], `${name}: ${key} #${nth}, ${DIFFERENCES[name]!.why}`).toBeDefined();
        list!.splice(nth, 1);
        if (list!.length === 0) got.delete(key);
      }
      expect(Object.fromEntries(got), name).toEqual(Object.fromEntries(want));
    });
  }
});
