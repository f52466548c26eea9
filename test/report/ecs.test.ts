/**
 * `flows --format ecs` against `--format ndjson` of the same capture, on every fixture: one ECS
 * document a flow, nested as ECS documents are, each field the flow's own value (addresses,
 * ports, IP bytes, packets, times, the duration in nanoseconds, Community ID, the IANA number),
 * the sums ECS defines for network.bytes/packets, and only ECS's field sets plus `flowdemux`.
 * With --analysis, `flowdemux.tcp_analysis` holds the JSON's `analysis` with its times in ns.
 */
import { describe, expect, it } from 'vitest';
import type * as J from '../../src/core/json-types.js';
import { flowToEcs } from '../../src/report/ecs.js';
import { runPipeline } from './pipeline.js';
import { captureFiles, tcpCaptureFiles } from '../helpers/fixture-files.js';
import { runCli } from '../helpers/run-cli.js';
import { isoNanos, secondsNanos } from '../helpers/iso-nanos.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A capture's flows from `--format ndjson` and its ECS documents, paired (both stream in one order). */
async function ndjsonAndEcs(file: string, extra: string[] = []): Promise<{ flow: J.Flow; doc: Doc; where: string }[]> {
  const nd = await runCli(['flows', file, '--format', 'ndjson', ...extra]);
  const ecs = await runCli(['flows', file, '--format', 'ecs', ...extra]);
  expect(ecs.code, file).toBe(nd.code);
  const flows = nd.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as J.Flow);
  const lines = ecs.stdout.split('\n').filter((l) => l !== '');
  expect(lines.length, file).toBe(flows.length);
  return flows.map((flow, i) => ({ flow, doc: JSON.parse(lines[i]!) as Doc, where: `${file} flow ${flow.id}` }));
}

const IANA: Record<string, string> = { tcp: '6', udp: '17', icmp: '1', icmpv6: '58' };

describe('flows --format ecs', () => {
  it('holds each flow\'s values, as ECS names them, on every fixture', async () => {
    let docs = 0;
    let withProtocol = 0;
    for (const file of captureFiles()) {
      for (const { flow: f, doc: d, where } of await ndjsonAndEcs(file)) {
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

  it('--analysis: flowdemux.tcp_analysis is the JSON\'s analysis, marks by tshark\'s names, times in ns', async () => {
    let analysed = 0;
    let withHandshake = 0;
    let withRtt = 0;
    let withMarks = 0;
    for (const file of tcpCaptureFiles()) {
      for (const { flow: f, doc: d, where } of await ndjsonAndEcs(file, ['--analysis'])) {
        expect(d.flowdemux.flow_id, where).toBe(f.id);
        const a = f.analysis;
        if (f.proto !== 'tcp') {
          expect(a, where).toBeUndefined();
          expect(d.flowdemux.tcp_analysis, where).toBeUndefined();
          continue;
        }
        expect(a, where).toBeDefined();
        const want: Record<string, unknown> = { ...a!.marks };
        if (a!.handshake !== null) {
          const h = a!.handshake;
          want.handshake = {
            ...(h.synToSynAck === null ? {} : { syn_to_synack: secondsNanos(h.synToSynAck) }),
            ...(h.synAckToAck === null ? {} : { synack_to_ack: secondsNanos(h.synAckToAck) }),
            total: secondsNanos(h.total),
          };
          withHandshake++;
        }
        const rtt = (r: J.AckRtt | null) => (r === null ? {} : { samples: r.samples, min: secondsNanos(r.min), median: secondsNanos(r.median) });
        if (a!.ackRtt.toServer !== null || a!.ackRtt.toClient !== null) {
          want.ack_rtt = {
            ...(a!.ackRtt.toServer === null ? {} : { source: rtt(a!.ackRtt.toServer) }),
            ...(a!.ackRtt.toClient === null ? {} : { destination: rtt(a!.ackRtt.toClient) }),
          };
          withRtt++;
        }
        if (Object.values(a!.marks).some((n) => n > 0)) withMarks++;
        expect(d.flowdemux.tcp_analysis, where).toEqual(want);
        // Integers only: ECS durations are longs of nanoseconds.
        expect(JSON.stringify(d.flowdemux.tcp_analysis), where).not.toMatch(/\d\.\d/);
        analysed++;
      }
    }
    expect(analysed).toBeGreaterThan(40);
    expect(withHandshake).toBeGreaterThan(10);
    expect(withRtt).toBeGreaterThan(10);
    expect(withMarks).toBeGreaterThan(3);
  }, 240_000);

  it('--analysis: a handshake or ACK round trip not seen is left out, not null', async () => {
    const { flows } = await runPipeline('fixtures/lo-zero-window-keepalive.pcap', undefined, { tcpAnalysis: true });
    const f = { ...flows[0]!, analysis: structuredClone(flows[0]!.analysis!) };
    f.analysis.handshake = { synToSynAck: null, synAckToAck: null, total: 0.000123456 };
    f.analysis.ackRtt = { toServer: null, toClient: { samples: 3, min: 0.000001, median: 1.5 } };
    const t = (flowToEcs(f) as Doc).flowdemux.tcp_analysis;
    expect(t.handshake).toEqual({ total: 123456 });
    expect(t.ack_rtt).toEqual({ destination: { samples: 3, min: 1000, median: 1_500_000_000 } });
    f.analysis.handshake = null;
    f.analysis.ackRtt = { toServer: null, toClient: null };
    const bare = (flowToEcs(f) as Doc).flowdemux.tcp_analysis;
    expect(Object.keys(bare)).toEqual(Object.keys(f.analysis.marks));
  });

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
