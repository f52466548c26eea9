/**
 * Demux engine throughput on a synthetic workload shaped like the project's target
 * (100,000 TCP flows, 2,000,000 packets, 1,000 connections interleaved at a time, each a full
 * handshake, 14 data segments and a FIN close). One Packet object and one byte buffer are
 * reused, as the decoder does, so this measures the engine alone.
 *
 *   npx vitest bench --run test/demux/engine.bench.ts
 *
 * packets/s = hz × 2,000,000.
 */
import { bench, describe } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import { newPacket, TCP_FLAG } from '../../src/core/packet.js';

const FLOWS = 100_000;
const PER_FLOW = 20;
const CONCURRENT = 1_000;

const { SYN, ACK, FIN, PSH } = TCP_FLAG;
// What each packet of a connection is: [from client?, flags, payload].
const SCRIPT: [boolean, number, number][] = [
  [true, SYN, 0], [false, SYN | ACK, 0], [true, ACK, 0],
  ...Array.from({ length: 14 }, (_, i): [boolean, number, number] => [i % 3 !== 2, PSH | ACK, i % 3 === 2 ? 0 : 1000]),
  [true, FIN | ACK, 0], [false, FIN | ACK, 0], [true, ACK, 0],
];

function run(streaming: boolean): number {
  const engine = new DemuxEngine(streaming ? { onFlowEnd: () => {} } : {});
  const pkt = newPacket();
  // Client address at 0, server address at 4: packets from the server swap the offsets.
  const bytes = new Uint8Array(8);
  pkt.bytes = bytes;
  pkt.ipVersion = 4;
  pkt.addrLength = 4;
  pkt.protocol = 6;
  pkt.hasPorts = true;
  let sec = 1_764_056_602;
  let nsec = 0;
  let n = 0;
  for (let base = 0; base < FLOWS; base += CONCURRENT) {
    for (let step = 0; step < PER_FLOW; step++) {
      const [fromClient, flags, len] = SCRIPT[step]!;
      for (let k = 0; k < CONCURRENT; k++) {
        const flow = base + k;
        bytes[0] = 10;
        bytes[1] = (flow >> 16) & 255;
        bytes[2] = (flow >> 8) & 255;
        bytes[3] = flow & 255;
        bytes[4] = 192;
        bytes[5] = 0;
        bytes[6] = 2;
        bytes[7] = 1 + (flow & 7);
        const cport = 1024 + (flow % 60000);
        const sport = (flow & 1) === 0 ? 80 : 443;
        pkt.srcAddrOffset = fromClient ? 0 : 4;
        pkt.dstAddrOffset = fromClient ? 4 : 0;
        pkt.srcPort = fromClient ? cport : sport;
        pkt.dstPort = fromClient ? sport : cport;
        pkt.tcpFlags = flags;
        pkt.tcpSeq = fromClient ? 1000 + step * 1000 : 5000 + step * 1000;
        pkt.tcpAck = 1;
        pkt.tcpWindow = 65535;
        pkt.payloadLength = len;
        pkt.ipLength = 40 + len;
        pkt.originalLength = 54 + len;
        engine.ingest(pkt, sec, nsec);
        n++;
        nsec += 1000;
        if (nsec >= 1e9) {
          nsec -= 1e9;
          sec++;
        }
      }
    }
  }
  engine.finish();
  return n;
}

describe('demux engine, 100k flows / 2M packets', () => {
  bench('streaming (onFlowEnd)', () => {
    run(true);
  }, { iterations: 3, time: 0, warmupIterations: 1, warmupTime: 0 });
  bench('keeping flows for flows()', () => {
    run(false);
  }, { iterations: 3, time: 0, warmupIterations: 1, warmupTime: 0 });
});
