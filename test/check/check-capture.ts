/**
 * A capture made for the measures of `check`, packet by packet (Ethernet, classic pcap, µs),
 * one flow for each thing a rule asks about. Times are seconds from the start.
 *
 *   A   tcp 10.0.0.1:40000 → 10.0.0.2:80       handshake 20 ms; 100 bytes sent twice (a retransmission); FIN both ways
 *   B   tcp 10.0.0.1:40001 → 10.0.0.2:80       SYN lost and sent again 1 s later: handshake 1002 ms, 1 retransmission; client RST
 *   C   tcp 10.0.0.1:40002 → 10.0.0.3:443      a SYN, never answered (S0)
 *   D   tcp 10.0.0.4:5000 ⇄ 10.0.0.2:22        data only, started before the capture (OTH)
 *   E   tcp [2001:db8::1]:40003 → [2001:db8::2]:8080   handshake 5 ms, FIN both ways at 7.1 s
 *   F   udp 10.0.0.1:5353 → 10.0.0.9:53        one datagram
 *   G   tcp 10.0.0.1:40004 → 10.0.0.2:81       SYN answered by RST (REJ)
 *   E#2 the same IPv6 4-tuple again 10 s after E closed: reused in TIME-WAIT
 *   A#2 the same 4-tuple as A 69 s after A closed: reused, but after TIME-WAIT (60 s)
 */
import { buildPcap, type PcapRecordSpec } from '../helpers/capture-builders.js';
import { buildTcp, buildUdp, ethernet } from '../helpers/packet-builders.js';

const records: PcapRecordSpec[] = [];
const BASE = 1_790_000_000;

function at(t: number, packet: Uint8Array): void {
  const us = Math.round(t * 1e6);
  records.push({ tsSec: BASE + Math.floor(us / 1e6), tsFrac: us % 1e6, data: ethernet(packet) });
}

type Seg = { flags: string; seq: number; ack?: number; payload?: Uint8Array };

/** A TCP conversation: `c(t, seg)` from client to server, `s(t, seg)` back. */
function conversation(client: string, cport: number, server: string, sport: number) {
  return {
    c: (t: number, o: Seg) => at(t, buildTcp({ src: client, dst: server, sport: cport, dport: sport, ...o })),
    s: (t: number, o: Seg) => at(t, buildTcp({ src: server, dst: client, sport, dport: cport, ...o })),
  };
}

/** SYN, SYN-ACK, ACK from `t`, `rttMs` from the SYN to the ACK; returns the time of the ACK. */
function handshake(x: ReturnType<typeof conversation>, t: number, rttMs: number, cisn: number, sisn: number): number {
  x.c(t, { flags: 'S', seq: cisn });
  x.s(t + rttMs / 2000, { flags: 'SA', seq: sisn, ack: cisn + 1 });
  x.c(t + rttMs / 1000, { flags: 'A', seq: cisn + 1, ack: sisn + 1 });
  return t + rttMs / 1000;
}

/** FIN from the client, FIN-ACK back, last ACK. */
function close(x: ReturnType<typeof conversation>, t: number, cseq: number, sseq: number): void {
  x.c(t, { flags: 'FA', seq: cseq, ack: sseq });
  x.s(t + 0.001, { flags: 'FA', seq: sseq, ack: cseq + 1 });
  x.c(t + 0.002, { flags: 'A', seq: cseq + 1, ack: sseq + 1 });
}

const data = new Uint8Array(100).fill(0x61);

// A
const a = conversation('10.0.0.1', 40000, '10.0.0.2', 80);
handshake(a, 0, 20, 1000, 5000);
a.c(0.03, { flags: 'PA', seq: 1001, ack: 5001, payload: data });
a.c(0.5, { flags: 'PA', seq: 1001, ack: 5001, payload: data });
a.s(0.6, { flags: 'A', seq: 5001, ack: 1101 });
close(a, 1.0, 1101, 5001);
// B
const b = conversation('10.0.0.1', 40001, '10.0.0.2', 80);
b.c(2.0, { flags: 'S', seq: 7000 });
handshake(b, 3.0, 2, 7000, 9000);
b.c(3.5, { flags: 'R', seq: 7001 });
// C
conversation('10.0.0.1', 40002, '10.0.0.3', 443).c(4.0, { flags: 'S', seq: 100 });
// D
const d = conversation('10.0.0.4', 5000, '10.0.0.2', 22);
d.c(5.0, { flags: 'PA', seq: 300, ack: 400, payload: data });
d.s(5.01, { flags: 'A', seq: 400, ack: 400 });
// E
const e = conversation('2001:db8::1', 40003, '2001:db8::2', 8080);
handshake(e, 6.0, 5, 20_000, 30_000);
close(e, 7.1, 20_001, 30_001);
// F
at(8.0, buildUdp({ src: '10.0.0.1', dst: '10.0.0.9', sport: 5353, dport: 53, payload: new Uint8Array(30) }));
// G
const g = conversation('10.0.0.1', 40004, '10.0.0.2', 81);
g.c(9.0, { flags: 'S', seq: 500 });
g.s(9.0001, { flags: 'RA', seq: 0, ack: 501 });
// E#2: 10 s after E's close (its FIN-ACK at 7.101)
handshake(e, 17.101, 5, 40_000, 50_000);
close(e, 17.2, 40_001, 50_001);
// A#2: 69 s after A's close
handshake(a, 70.001, 1, 60_000, 70_000);
close(a, 70.1, 60_001, 70_001);

/** The capture's bytes. */
export const CHECK_CAPTURE = buildPcap({}, records);

