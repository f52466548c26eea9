/** `flowdemux follow`: one flow's bytes both ways, in order, as tshark's `-z follow` gives them. */
import type { FlowRef } from '../core/flow.js';
import { formatAddress } from '../parse/format.js';
import { heldPayloadEnd, newPacket, TCP_FLAG, type Packet } from '../core/packet.js';
import { StreamReassembler } from '../demux/stream.js';
import { packetOfFlow } from '../pipeline/flows.js';
import { inputName } from '../pipeline/read.js';
import { FollowWriter, RawFollowWriter, type FollowDirection, type FollowFormat } from '../report/follow.js';
import { checkFlowGeneration, noSuchFlow, readCommandFlows, type CommandResult, type Io } from './command.js';
import { UsageError, type Options } from './options.js';
import type { Output } from './output.js';

const TCP = 6;
const UDP = 17;

/** `ip:port`, IPv6 in brackets. */
function endText(pkt: Packet, src: boolean): string {
  const ip = formatAddress(pkt.bytes, src ? pkt.srcAddrOffset : pkt.dstAddrOffset, pkt.addrLength);
  const port = src ? pkt.srcPort : pkt.dstPort;
  return pkt.addrLength === 16 ? `[${ip}]:${port}` : `${ip}:${port}`;
}


export async function runFollow(options: Options, io: Io, out: Output): Promise<CommandResult> {
  const flow = options.flow!;
  const format = (options.format ?? 'text') as FollowFormat;
  const direction = (options.direction ?? 'both') as FollowDirection;
  if (format === 'raw' && io.stdout.isTTY === true) {
    throw new UsageError('--format raw writes the stream\'s bytes as they are: send them to a file or a pipe (> stream.bin), or use --format text or hex');
  }
  const writer = format === 'raw'
    ? new RawFollowWriter(direction, (bytes) => out.writeBytes(bytes))
    : new FollowWriter(format, direction, (text) => out.write(text));
  const stream = new StreamReassembler(writer);
  const layer = newPacket();
  const layerRef: FlowRef = { id: 0, generation: 0, toServer: true, via: 'ports' };
  let seen = false;
  let proto = -1;
  const { engine, read } = await readCommandFlows(options, io, out, {
    // Only this flow's packets matter: the engine hands every flow away as it ends.
    engine: { onFlowEnd: () => undefined },
    after: (_frame, inner, innerRef, eng) => {
      const view = packetOfFlow(eng, inner, innerRef, flow.id, layer, layerRef);
      // An ICMP error quoting the flow, or a later IP fragment, carries none of its stream.
      if (view === null || view[1].via !== 'ports') return undefined;
      const [pkt, ref] = view;
      if (!seen) {
        seen = true;
        checkFlowGeneration(flow, ref.generation);
        proto = pkt.protocol;
        if (proto !== TCP && proto !== UDP) {
          throw new UsageError(`follow reads TCP and UDP streams: flow ${flow.id} is ${pkt.protocol === 1 || pkt.protocol === 58 ? 'ICMP' : `IP protocol ${pkt.protocol}`}`);
        }
        if (format !== 'raw') {
          const [client, server] = ref.toServer ? [endText(pkt, true), endText(pkt, false)] : [endText(pkt, false), endText(pkt, true)];
          out.write(`follow: flow ${flow.id}${ref.generation > 1 ? `#${ref.generation}` : ''}, ${proto === TCP ? 'tcp' : 'udp'} `
            + `${client} ==> ${server} (==> the client's bytes, <== the server's)\n`);
        }
      }
      const held = pkt.bytes.subarray(pkt.payloadOffset, heldPayloadEnd(pkt));
      if (proto === TCP) {
        const f = pkt.tcpFlags;
        stream.segment(ref.toServer, {
          syn: (f & TCP_FLAG.SYN) !== 0, fin: (f & TCP_FLAG.FIN) !== 0, rst: (f & TCP_FLAG.RST) !== 0, ack: (f & TCP_FLAG.ACK) !== 0,
        }, pkt.tcpSeq, pkt.tcpAck, held, pkt.payloadLength);
      } else {
        stream.datagram(ref.toServer, held, pkt.payloadLength);
      }
      return undefined;
    },
  });
  stream.finish();
  if (writer instanceof FollowWriter) writer.end();
  const warnings = [...read.warnings, ...engine.summary(inputName(read)).warnings];
  if (read.captures.length === 0) return { errors: read.errors, warnings };
  if (!seen) throw noSuchFlow(flow, read, engine.summary().flows, options.keep !== undefined);
  const [toServer, toClient] = writer.missing;
  if (toServer! + toClient! > 0) {
    warnings.push(`flow ${flow.id}: ${toServer! + toClient!} bytes of the stream were not captured `
      + `(${toServer} sent by the client, ${toClient} by the server): the gaps are marked${format === 'raw' ? ' in text and hex; raw leaves them out' : ''}`);
  }
  return { errors: read.errors, warnings };
}
