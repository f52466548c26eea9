/**
 * Live capture names a short connection's processes only if it looks within a few milliseconds
 * of the first packet. The first packets of a run also pay for V8 compiling the decoder and the
 * engine on their first call (a few milliseconds): the first curl of a run was missed for that.
 * So before capturing, one made-up TCP connection on loopback (SYN, SYN-ACK, ACK, data, FIN
 * both ways) is decoded and fed to a throwaway engine: the code is then ready, and nothing of
 * it is kept or reported.
 */
import type { Frame } from '../core/frame.js';
import { DemuxEngine } from '../demux/engine.js';
import { decodeFrame } from '../parse/decode.js';
import { newPacket } from '../core/packet.js';
import type { LiveAttribution } from './attribution.js';

const ETHERNET = 1;
const SYN = 0x02;
const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;

/** An Ethernet/IPv4/TCP frame from a:ap to b:bp (addresses as 4 bytes), with `len` bytes of data. */
function tcpFrame(a: number[], ap: number, b: number[], bp: number, flags: number, seq: number, ack: number, len: number, t: number): Frame {
  const bytes = new Uint8Array(14 + 20 + 20 + len);
  const v = new DataView(bytes.buffer);
  v.setUint16(12, 0x0800);
  const ip = 14;
  bytes[ip] = 0x45;
  v.setUint16(ip + 2, 40 + len);
  bytes[ip + 8] = 64;
  bytes[ip + 9] = 6;
  bytes.set(a, ip + 12);
  bytes.set(b, ip + 16);
  const tcp = ip + 20;
  v.setUint16(tcp, ap);
  v.setUint16(tcp + 2, bp);
  v.setUint32(tcp + 4, seq >>> 0);
  v.setUint32(tcp + 8, ack >>> 0);
  bytes[tcp + 12] = 5 << 4;
  bytes[tcp + 13] = flags;
  v.setUint16(tcp + 14, 65535);
  return {
    linkType: ETHERNET, tsSec: 1, tsNsec: t, capturedLength: bytes.length, originalLength: bytes.length, bytes, offset: 0,
    interfaceId: 0, sourceIndex: 0, number: t, fileOffset: 0,
  };
}

/**
 * Runs a made-up loopback connection through the decoder and a throwaway engine, and through
 * `attribution`'s per-packet and per-batch calls when given (which then forgets it all).
 */
export function warmUpDecodeAndEngine(attribution?: LiveAttribution): void {
  const c = [127, 0, 0, 1];
  const s = [127, 0, 0, 1];
  const frames = [
    tcpFrame(c, 40000, s, 9, SYN, 100, 0, 0, 1),
    tcpFrame(s, 9, c, 40000, SYN | ACK, 500, 101, 0, 2),
    tcpFrame(c, 40000, s, 9, ACK, 101, 501, 0, 3),
    tcpFrame(c, 40000, s, 9, PSH | ACK, 101, 501, 10, 4),
    tcpFrame(s, 9, c, 40000, ACK, 501, 111, 0, 5),
    tcpFrame(c, 40000, s, 9, FIN | ACK, 111, 501, 0, 6),
    tcpFrame(s, 9, c, 40000, FIN | ACK, 501, 112, 0, 7),
    tcpFrame(c, 40000, s, 9, ACK, 112, 502, 0, 8),
  ];
  const engine = new DemuxEngine();
  const pkt = newPacket();
  for (const f of frames) {
    decodeFrame(f, pkt);
    const ref = engine.ingest(pkt, f.tsSec, f.tsNsec);
    if (attribution !== undefined) {
      attribution.notePacket(ref, pkt);
      attribution.poll();
    }
  }
  engine.finish();
  for (const flow of engine.flows()) attribution?.attribute(flow);
  attribution?.forgetAll();
}
