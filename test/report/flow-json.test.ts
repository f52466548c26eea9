/** The direct JSON writer of a flow says exactly what JSON.stringify of the flow object says. */
import { describe, expect, it } from 'vitest';
import { flowJsonText, flowToJson } from '../../src/report/json.js';
import { runPipeline } from './pipeline.js';

const FIX = new URL('../../fixtures/', import.meta.url).pathname;

describe('flowJsonText', () => {
  for (const name of ['demux-lo.pcap', 'demux-lo-ns.pcap', 'crafted/icmp-echo-and-port-unreachable.pcap',
    'crafted/icmpv6-echo-and-packet-too-big-tcp.pcap', 'crafted/tcp-midstream-no-syn.pcap', 'crafted/raw229-ipv6.pcap']) {
    it(`equals JSON.stringify(flowToJson) on ${name}`, async () => {
      const { flows } = await runPipeline(FIX + name);
      expect(flows.length).toBeGreaterThan(0);
      for (const digits of [6, 9]) {
        for (const f of flows) expect(flowJsonText(f, { digits })).toBe(JSON.stringify(flowToJson(f, { digits })));
      }
      if (name.startsWith('crafted/icmp')) expect(flows.some((f) => f.icmpError !== null)).toBe(true);
    });
  }
});
