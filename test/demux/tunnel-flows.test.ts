/**
 * A UDP tunnel's own datagrams are a flow (Zeek's outer connection) beside the flows of the
 * packets inside, which name it in `tunnelParents`; `--no-tunnel-flows` counts a tunnelled packet
 * in its inner flow only. On the crafted tunnel captures, through the CLI's JSON.
 */
import { describe, expect, it } from 'vitest';
import type { Flow } from '../../src/core/json-types.js';
import { runCli } from '../helpers/run-cli.js';

const CRAFTED = new URL('../../fixtures/crafted/', import.meta.url).pathname;

interface Doc {
  flows: Flow[];
  summary: { packets: number; inFlows: number; flows: number; byKind: Record<string, number> };
}

async function flowsOf(capture: string, ...args: string[]): Promise<Doc> {
  const r = await runCli(['flows', `${CRAFTED}${capture}`, '--format', 'json', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Doc;
}

const packets = (f: Flow) => f.toServer.packets + f.toClient.packets;
const byKindTotal = (d: Doc) => Object.values(d.summary.byKind).reduce((a, b) => a + b, 0);

describe('tunnel flows', () => {
  it('VXLAN: every datagram counts in its UDP flow, the TCP inside in its own, naming it as parent', async () => {
    const doc = await flowsOf('vxlan-eth-tcp-and-arp.pcap');
    const outer = doc.flows.filter((f) => f.carries !== undefined);
    const inner = doc.flows.filter((f) => f.tunnel !== undefined);
    expect(outer.map((f) => [f.proto, f.server.port, f.carries])).toEqual(outer.map(() => ['udp', 4789, 'vxlan']));
    // Every frame of the capture is a VXLAN datagram: the tunnel flows hold them all.
    expect(outer.reduce((n, f) => n + packets(f), 0)).toBe(doc.summary.packets);
    expect(inner).toHaveLength(1);
    expect([inner[0]!.proto, inner[0]!.tunnel]).toEqual(['tcp', 'vxlan']);
    const parents = inner[0]!.tunnelParents!.map((id) => doc.flows.find((f) => f.id === id)!);
    expect(parents.map((f) => f.carries)).toEqual(['vxlan']);
    // The parent carried exactly the inner flow's packets, each way (ARP went through the others).
    expect([parents[0]!.toServer.packets, parents[0]!.toClient.packets]).toEqual([inner[0]!.toServer.packets, inner[0]!.toClient.packets]);
    // The summary counts each frame once, under its inner packet's kind.
    expect(byKindTotal(doc)).toBe(doc.summary.packets);
    expect(doc.summary.inFlows).toBe(doc.summary.packets);
    expect(doc.summary.flows).toBe(doc.flows.length);
  });

  it('--no-tunnel-flows: the inner flows alone, counted the same', async () => {
    const [all, innerOnly] = [await flowsOf('vxlan-eth-tcp-and-arp.pcap'), await flowsOf('vxlan-eth-tcp-and-arp.pcap', '--no-tunnel-flows')];
    expect(innerOnly.flows.some((f) => f.carries !== undefined || f.tunnel !== undefined)).toBe(false);
    const tcp = (d: Doc) => d.flows.filter((f) => f.proto === 'tcp').map((f) => [f.client, f.server, f.toServer, f.toClient, f.history]);
    expect(tcp(innerOnly)).toEqual(tcp(all));
    // Without tunnel flows each frame is in exactly one flow: the flows' packets add up to the frames.
    expect(innerOnly.flows.reduce((n, f) => n + packets(f), 0)).toBe(innerOnly.summary.packets);
    expect(innerOnly.summary.byKind).toEqual(all.summary.byKind);
  });

  it('GTP-U, Geneve and Teredo are tunnel flows too; GRE is not a flow (no parent)', async () => {
    for (const [capture, kind] of [['gtpu-ext-ipv4-tcp.pcap', 'gtp-u'], ['geneve-ipv6-udp.pcap', 'geneve'], ['teredo-ipv6-udp-and-bubble.pcap', 'teredo']] as const) {
      const doc = await flowsOf(capture);
      const outer = doc.flows.filter((f) => f.carries === kind);
      expect(outer.length, capture).toBeGreaterThan(0);
      const inner = doc.flows.filter((f) => f.tunnel === kind);
      expect(inner.length, capture).toBeGreaterThan(0);
      for (const f of inner) expect(f.tunnelParents!.every((id) => outer.some((o) => o.id === id)), capture).toBe(true);
      expect(byKindTotal(doc), capture).toBe(doc.summary.packets);
    }
    const gre = await flowsOf('gre-key-ipv4-tcp-and-ospf.pcap');
    const inner = gre.flows.filter((f) => f.tunnel === 'gre');
    expect(inner.length).toBeGreaterThan(0);
    expect(inner.every((f) => f.tunnelParents!.length === 0)).toBe(true);
    expect(gre.flows.some((f) => f.carries !== undefined)).toBe(false);
  });

  it("the NDJSON and CSV writers carry the same flows (the byte writer holds to flowToJson's keys)", async () => {
    const json = await flowsOf('vxlan-eth-tcp-and-arp.pcap');
    const r = await runCli(['flows', `${CRAFTED}vxlan-eth-tcp-and-arp.pcap`, '--format', 'ndjson']);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type?: string } & Partial<Flow>).filter((o) => o.id !== undefined);
    expect(lines.map((f) => [f.id, f.carries, f.tunnel, f.tunnelParents])).toEqual(json.flows.map((f) => [f.id, f.carries, f.tunnel, f.tunnelParents]));
  });
});
