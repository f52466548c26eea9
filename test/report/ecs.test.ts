/**
 * `flows --format ecs` against `--format ndjson` of the same capture, on every fixture: one ECS
 * document a flow, nested as ECS documents are, each field the flow's own value (addresses,
 * ports, IP bytes, packets, times, the duration in nanoseconds, Community ID, the IANA number),
 * the sums ECS defines for network.bytes/packets, and only ECS's field sets plus `flowdemux`.
 */
import { describe, expect, it } from 'vitest';
import type * as J from '../../src/core/json-types.js';
import { flowToEcs } from '../../src/report/ecs.js';
import { runPipeline } from './pipeline.js';
import { captureFiles } from '../helpers/fixture-files.js';
import { runCli } from '../helpers/run-cli.js';
import { isoNanos } from '../helpers/iso-nanos.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const IANA: Record<string, string> = { tcp: '6', udp: '17', icmp: '1', icmpv6: '58' };

describe('flows --format ecs', () => {
  it('holds each flow\'s values, as ECS names them, on every fixture', async () => {
    let docs = 0;
    let withProtocol = 0;
    for (const file of captureFiles()) {
      const nd = await runCli(['flows', file, '--format', 'ndjson']);
      const ecs = await runCli(['flows', file, '--format', 'ecs']);
      expect(ecs.code, file).toBe(nd.code);
      const flows = nd.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as J.Flow);
      const lines = ecs.stdout.split('\n').filter((l) => l !== '');
      expect(lines.length, file).toBe(flows.length);
      // Both stream as flows end, in the same order.
      for (let i = 0; i < flows.length; i++) {
        const f = flows[i]!;
        const d = JSON.parse(lines[i]!) as Doc;
        const where = `${file} flow ${f.id}`;
        expect(Object.keys(d), where).toEqual(['@timestamp', 'ecs', 'event', 'source', 'destination', 'network', 'flowdemux']);
        expect(d['@timestamp'], where).toBe(f.start);
        expect(d.event.kind).toBe('event');
        expect(d.event.category).toEqual(['network']);
        expect(d.event.type, where).toEqual(f.endReason === 'fin' || f.endReason === 'rst' ? ['connection', 'end'] : ['connection']);
        expect(d.event.start, where).toBe(f.start);
        expect(d.event.end, where).toBe(f.end);
        expect(BigInt(d.event.duration), where).toBe(isoNanos(f.end) - isoNanos(f.start));
        const ported = f.proto === 'tcp' || f.proto === 'udp';
        expect(d.source, where).toEqual({ ip: f.client.ip, ...(ported ? { port: f.client.port } : {}), bytes: f.toServer.ipBytes, packets: f.toServer.packets });
        expect(d.destination, where).toEqual({ ip: f.server.ip, ...(ported ? { port: f.server.port } : {}), bytes: f.toClient.ipBytes, packets: f.toClient.packets });
        expect(d.network.transport, where).toBe(f.proto === 'icmpv6' ? 'ipv6-icmp' : f.proto);
        expect(d.network.type).toBe(`ipv${f.ipVersion}`);
        expect(d.network.iana_number, where).toBe(IANA[f.proto] ?? String(f.ipProtocol));
        expect(d.network.community_id).toBe(f.communityId);
        expect(d.network.bytes).toBe(d.source.bytes + d.destination.bytes);
        expect(d.network.packets).toBe(d.source.packets + d.destination.packets);
        if (f.service !== undefined) {
          withProtocol++;
          expect(d.network.protocol, where).toBe(f.service === 'ssl' ? 'tls' : f.service);
        } else {
          expect(d.network.protocol).toBeUndefined();
        }
        expect(d.flowdemux, where).toEqual({
          flow_id: f.id, generation: f.generation, generation_reason: f.generationReason, end_reason: f.endReason,
          conn_state: f.state, history: f.history, roles_inferred: f.rolesInferred,
          source_payload_bytes: f.toServer.payloadBytes, destination_payload_bytes: f.toClient.payloadBytes,
        });
        docs++;
      }
    }
    expect(docs).toBeGreaterThanOrEqual(190);
    expect(withProtocol).toBeGreaterThan(5);
  }, 240_000);

  it('nanosecond captures: times with 9 digits, the duration to the nanosecond', async () => {
    const r = await runCli(['flows', 'fixtures/crafted/pcap-ns-be-udp.pcap', '--format', 'ecs']);
    const d = JSON.parse(r.stdout.split('\n')[0]!) as Doc;
    expect(d.event.start).toMatch(/\.\d{9}Z$/);
    expect(BigInt(d.event.duration)).toBe(isoNanos(d.event.end) - isoNanos(d.event.start));
  });

  it('process fields: the client\'s owner, else the server\'s; both when both were seen', async () => {
    const { flows: [flow] } = await runPipeline('fixtures/demux-lo.pcap');
    const f = { ...flow!, client: { ...flow!.client }, server: { ...flow!.server } };
    expect(flowToEcs(f).process).toBeUndefined();
    f.server.process = { pid: 4242, command: 'nginx', state: 'running' };
    let d = flowToEcs(f) as Doc;
    expect(d.process).toEqual({ pid: 4242, name: 'nginx' });
    expect(d.flowdemux.process_end).toBe('destination');
    f.client.process = { pid: 777, command: 'curl', state: 'running' };
    d = flowToEcs(f) as Doc;
    expect(d.process).toEqual({ pid: 777, name: 'curl' });
    expect(d.flowdemux.process_end).toBe('source');
    expect(d.flowdemux.destination_process).toEqual({ pid: 4242, name: 'nginx' });
    // A socket closed before its owner was seen names no process.
    f.client.process = { state: 'gone' };
    f.server.process = { state: 'gone', uid: 0 };
    expect(flowToEcs(f).process).toBeUndefined();
  });
});
