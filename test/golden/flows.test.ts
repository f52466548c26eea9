/**
 * flows agrees with tshark on every fixture: the committed `NAME.flows.json` beside each capture
 * holds tshark's conversations (scripts/fixtures/golden.sh). Differences of rule are asserted as
 * flowdemux's own rule, not skipped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { Flow } from '../../src/core/flow.js';
import { decodeBytes } from '../../src/parse/decode.js';
import { newPacket } from '../../src/core/packet.js';
import { buildUdp, ethernet } from '../helpers/packet-builders.js';
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

/**
 * tshark's conversations and flowdemux's flows for a capture, and the differences split into
 * tshark conversations flowdemux has no flow for, and flows of flowdemux's that tshark lacks.
 */
async function bothSides(diffs: Difference[], capture: string) {
  const tshark = JSON.parse(readFileSync(`${capture}.flows.json`, 'utf8')) as TsharkFlows;
  // tshark's answers count a tunnelled frame for its innermost transport only (fixtures/README.md).
  const r = await runCli(['flows', capture, '--format', 'json', '--no-tunnel-flows']);
  const flows = (JSON.parse(r.stdout) as { flows: Flow[] }).flows;
  const missing = diffs.filter((d) => d.detail.startsWith('flowdemux has 0 flow(s)'));
  const extra = diffs.filter((d) => d.detail === 'flowdemux has 1 flow(s) that tshark does not list');
  return { tshark, flows, missing, extra };
}

/**
 * A tunnelled frame with nothing to key a flow on (ARP in VXLAN, a Teredo bubble) is the tunnel's
 * own UDP packet for flowdemux, counted in the tunnel's UDP flow. tshark counts it in the same UDP
 * stream but names the conversation with the addresses of the innermost header it dissected (the
 * inner MACs, the inner IPv6 addresses) and the outer ports. So each such tshark conversation is
 * one of flowdemux's tunnel flows: same ports, same packets and bytes each way.
 */
const tunnelNotKeyable: Rule = {
  why: "tunnel packets with no inner flow stay in the tunnel's UDP flow (tshark names it with the inner addresses)",
  async check(diffs, capture) {
    const { tshark, flows, missing, extra } = await bothSides(diffs, capture);
    const ends = (x: string, y: string) => (x < y ? `${x} ${y}` : `${y} ${x}`);
    expect(missing.length).toBeGreaterThan(0);
    expect(missing.length + extra.length).toBe(diffs.length);
    const spare = flows.filter((f) => extra.some((d) => d.ends === ends(`${f.client.ip}|${f.client.port}`, `${f.server.ip}|${f.server.port}`)));
    expect(spare).toHaveLength(extra.length);
    for (const d of missing) {
      const c = tshark.conversations.find((x) => ends(x.a, x.b) === d.ends)!;
      const [aPort, bPort] = [c.a, c.b].map((e) => Number(e.slice(e.lastIndexOf('|') + 1)));
      const i = spare.findIndex((f) => f.proto === c.proto && (
        (f.client.port === aPort && f.server.port === bPort && f.toServer.packets === c.frames_ab && f.toServer.wireBytes === c.bytes_ab
          && f.toClient.packets === c.frames_ba && f.toClient.wireBytes === c.bytes_ba)
        || (f.server.port === aPort && f.client.port === bPort && f.toClient.packets === c.frames_ab && f.toClient.wireBytes === c.bytes_ab
          && f.toServer.packets === c.frames_ba && f.toServer.wireBytes === c.bytes_ba)));
      expect(i, `${d.ends}: one of flowdemux's tunnel flows counts it`).toBeGreaterThanOrEqual(0);
      spare.splice(i, 1);
    }
    expect(spare).toEqual([]);
  },
};

/**
 * Teredo on a port other than 3544 is found by its content, as Zeek finds it; tshark's Teredo
 * heuristic is off by default, so it counts those datagrams as a UDP conversation of data. Each
 * such conversation is one of flowdemux's inner flows (TCP inside), frame for frame each way.
 */
const teredoByContent: Rule = {
  why: 'Teredo on another port is decoded by content, as Zeek does (tshark: UDP data)',
  async check(diffs, capture) {
    const { tshark, flows, missing, extra } = await bothSides(diffs, capture);
    expect(missing.map((d) => d.proto)).toEqual(['udp']);
    expect(extra.map((d) => d.proto)).toEqual(['tcp']);
    expect(diffs).toHaveLength(2);
    const c = tshark.conversations.find((x) => x.proto === 'udp' && [x.a, x.b].join(' ').includes('|32900'))!;
    const tcp = flows.filter((f) => f.proto === 'tcp');
    expect(tcp).toHaveLength(1);
    const f = tcp[0]!;
    expect([f.toServer.packets, f.toServer.wireBytes, f.toClient.packets, f.toClient.wireBytes])
      .toEqual([c.frames_ab, c.bytes_ab, c.frames_ba, c.bytes_ba]);
  },
};

const RULES: Record<string, Rule> = {
  'crafted/teredo-port-32900-ipv6-tcp-and-lookalikes.pcap': teredoByContent,
  'crafted/vxlan-eth-tcp-and-arp.pcap': tunnelNotKeyable,
  'crafted/teredo-ipv6-udp-and-bubble.pcap': tunnelNotKeyable,
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
      // tshark's answers count a tunnelled frame for its innermost transport only (fixtures/README.md).
      const r = await runCli(['flows', c.capture, '--format', 'json', '--no-tunnel-flows']);
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

describe('differences of rule counted as agreement (same sums)', () => {
  it("tshark splits an SNMP exchange (UDP 161) after its first frame; flowdemux keys UDP on the 5-tuple: one flow", async () => {
    const capture = join(FIXTURES, 'crafted/snmp-get-udp161.pcap');
    const tshark = JSON.parse(readFileSync(`${capture}.flows.json`, 'utf8')) as TsharkFlows;
    expect(tshark.conversations.map((c) => c.frames_ab + c.frames_ba)).toEqual([1, 3]);
    const r = await runCli(['flows', capture, '--format', 'json']);
    const flows = (JSON.parse(r.stdout) as { flows: Flow[] }).flows;
    expect(flows.map((f) => [f.proto, f.client.port, f.server.port, f.toServer.packets, f.toClient.packets])).toEqual([['udp', 54500, 161, 2, 2]]);
    const cmp = compareWithTshark(flows, tshark);
    expect([cmp.total, cmp.exact, cmp.byRule, cmp.differences]).toEqual([2, 0, 2, []]);
    // Not for any other port: the same split elsewhere is a difference.
    const moved = { ...tshark, conversations: tshark.conversations.map((c) => ({ ...c, a: c.a.replace('|161', '|1161'), b: c.b.replace('|161', '|1161') })) };
    const elsewhere = compareWithTshark(flows.map((f) => ({ ...f, server: { ...f.server, port: 1161 } })), moved);
    expect([elsewhere.byRule, elsewhere.differences.length]).toEqual([0, 1]);
  });

  it("a tunnel tshark does not decode (Teredo on another port) is its UDP conversation: the tunnel's own flow matches it", async () => {
    const capture = join(FIXTURES, 'crafted/teredo-port-32900-ipv6-tcp-and-lookalikes.pcap');
    const tshark = JSON.parse(readFileSync(`${capture}.flows.json`, 'utf8')) as TsharkFlows;
    const r = await runCli(['flows', capture, '--format', 'json']);
    const flows = (JSON.parse(r.stdout) as { flows: Flow[] }).flows;
    const tunnel = flows.filter((f) => f.carries === 'teredo');
    expect(tunnel.length).toBeGreaterThan(0);
    const cmp = compareWithTshark(flows, tshark);
    expect(cmp.exact + cmp.byRule).toBe(cmp.total);
    expect(cmp.byRule).toBeGreaterThanOrEqual(tunnel.length);
    // What is left: the flows inside the tunnel, which tshark (not decoding it) does not list.
    expect(cmp.differences.every((d) => d.detail.endsWith('that tshark does not list'))).toBe(true);
    const inner = flows.filter((f) => f.tunnel === 'teredo');
    expect(cmp.differences).toHaveLength(inner.length);
  });

  it("tshark's portmapper opens a conversation to a service for any client port (RPC); flowdemux keys UDP on the 5-tuple", () => {
    // zeek__nfs__nfs_write.pcap in the public corpus: mountd (:20048) answering three client
    // sockets is one tshark stream. Here: the same three sockets, three flows.
    const engine = new DemuxEngine();
    const p = newPacket();
    let t = 1_700_000_000;
    for (const port of [50172, 776, 741]) {
      for (const [src, sport, dst, dport] of [['192.168.122.1', port, '192.168.122.219', 20048], ['192.168.122.219', 20048, '192.168.122.1', port]] as const) {
        const f = ethernet(buildUdp({ src, dst, sport, dport, payload: 'rpc' }));
        engine.ingest(decodeBytes(1, f, f.length, f.length, p), t++, 0);
      }
    }
    engine.finish();
    // (No SYN in UDP: the roles are guessed, so each flow's ports are compared sorted.)
    expect(engine.flows().map((f) => [[f.client.port, f.server.port].sort((x, y) => x - y), f.toServer.packets + f.toClient.packets])).toEqual([
      [[20048, 50172], 2], [[776, 20048], 2], [[741, 20048], 2]]);
  });
});
