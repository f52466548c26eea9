/**
 * Frames captured on this project's machine (Linux 6.18, tcpdump 4.99.3) while Python sockets
 * talked over loopback:
 *   tcpdump --immediate-mode -i lo  -y EN10MB     -w real-EN10MB.pcap      (Ethernet, zero MACs)
 *   tcpdump --immediate-mode -i any -y LINUX_SLL  -w real-LINUX_SLL.pcap
 *   tcpdump --immediate-mode -i any -y LINUX_SLL2 -w real-LINUX_SLL2.pcap
 * The `tcpdump -nvXX` output of each frame is beside its bytes. (TCP checksums show as
 * "incorrect": loopback leaves them to a checksum offload that never happens.)
 */
import { describe, expect, it } from 'vitest';
import { decodeBytes, decodeFrame } from '../../src/parse/decode.js';
import { formatAddress, formatTcpFlags } from '../../src/parse/format.js';
import { newPacket, TCP_FLAG } from '../../src/core/packet.js';
import { fromHex, toFrame } from '../helpers/packet-builders.js';

const pkt = newPacket();
const src = (): string => formatAddress(pkt.bytes, pkt.srcAddrOffset, pkt.addrLength);
const dst = (): string => formatAddress(pkt.bytes, pkt.dstAddrOffset, pkt.addrLength);

describe('real loopback frames', () => {
  it('Ethernet IPv4 TCP SYN with MSS, SACK-permitted, timestamps, window scale', () => {
    // 08:51:19.735869 IP (tos 0x0, ttl 64, id 59800, offset 0, flags [DF], proto TCP (6), length 60)
    //     127.0.0.2.47188 > 127.0.0.1.47111: Flags [S], cksum 0xfe31 (incorrect -> 0xb69d), seq 2778078866,
    //     win 65495, options [mss 65495,sackOK,TS val 1883698324 ecr 0,nop,wscale 10], length 0
    // 	0x0000:  0000 0000 0000 0000 0000 0000 0800 4500  ..............E.
    // 	0x0010:  003c e998 4000 4006 5320 7f00 0002 7f00  .<..@.@.S.......
    // 	0x0020:  0001 b854 b807 a596 1e92 0000 0000 a002  ...T............
    // 	0x0030:  ffd7 fe31 0000 0204 ffd7 0402 080a 7046  ...1..........pF
    // 	0x0040:  f494 0000 0000 0103 030a                 ..........
    const bytes = fromHex(
      '00000000000000000000000008004500003ce9984000400653207f0000027f00' +
        '0001b854b807a5961e9200000000a002ffd7fe3100000204ffd70402080a7046' +
        'f494000000000103030a',
    );
    decodeFrame(toFrame(1, bytes), pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.etherType).toBe(0x0800);
    expect(pkt.networkOffset).toBe(14);
    expect(pkt.ipVersion).toBe(4);
    expect(src()).toBe('127.0.0.2');
    expect(dst()).toBe('127.0.0.1');
    expect(pkt.ipLength).toBe(60);
    expect(pkt.ipId).toBe(59800);
    expect(pkt.ttl).toBe(64);
    expect(pkt.dontFragment).toBe(true);
    expect(pkt.isFragment).toBe(false);
    expect(pkt.protocol).toBe(6);
    expect(pkt.hasPorts).toBe(true);
    expect([pkt.srcPort, pkt.dstPort]).toEqual([47188, 47111]);
    expect(pkt.tcpSeq).toBe(2778078866); // > 2^31: must stay unsigned
    expect(pkt.tcpAck).toBe(0);
    expect(formatTcpFlags(pkt.tcpFlags)).toBe('SYN');
    expect(pkt.tcpWindow).toBe(65495);
    expect(pkt.tcpHeaderLength).toBe(40);
    expect(pkt.mss).toBe(65495);
    expect(pkt.sackPermitted).toBe(true);
    expect(pkt.hasTimestamps).toBe(true);
    expect(pkt.tsVal).toBe(1883698324);
    expect(pkt.tsEcr).toBe(0);
    expect(pkt.windowScale).toBe(10);
    expect(pkt.payloadLength).toBe(0);
    expect(pkt.payloadOffset).toBe(74);
    expect(pkt.ipEnd).toBe(74);
  });

  it('Ethernet ICMP port unreachable quoting the UDP datagram', () => {
    // 08:51:19.786182 IP (tos 0xc0, ttl 64, id 39489, offset 0, flags [none], proto ICMP (1), length 61)
    //     127.0.0.1 > 127.0.0.1: ICMP 127.0.0.1 udp port 47999 unreachable, length 41
    // 	IP (tos 0x0, ttl 64, id 28130, offset 0, flags [DF], proto UDP (17), length 33)
    //     127.0.0.1.47184 > 127.0.0.1.47999: UDP, length 5
    // 	0x0000:  0000 0000 0000 0000 0000 0000 0800 45c0  ..............E.
    // 	0x0010:  003d 9a41 0000 4001 e1bc 7f00 0001 7f00  .=.A..@.........
    // 	0x0020:  0001 0303 6d2d 0000 0000 4500 0021 6de2  ....m-....E..!m.
    // 	0x0030:  4000 4011 cee7 7f00 0001 7f00 0001 b850  @.@............P
    // 	0x0040:  bb7f 000d fe20 7069 6e67 3f              ......ping?
    const bytes = fromHex(
      '000000000000000000000000080045c0003d9a4100004001e1bc7f0000017f00' +
        '000103036d2d00000000450000216de240004011cee77f0000017f000001b850' +
        'bb7f000dfe2070696e673f',
    );
    decodeFrame(toFrame(1, bytes), pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.protocol).toBe(1);
    expect(pkt.hasPorts).toBe(false);
    expect([pkt.icmpType, pkt.icmpCode]).toEqual([3, 3]);
    expect(pkt.quotedProtocol).toBe(17);
    expect(pkt.quotedAddrLength).toBe(4);
    expect(formatAddress(bytes, pkt.quotedSrcAddrOffset, 4)).toBe('127.0.0.1');
    expect(pkt.quotedSrcAddrOffset).toBe(42 + 12);
    expect(pkt.quotedDstAddrOffset).toBe(42 + 16);
    expect([pkt.quotedSrcPort, pkt.quotedDstPort]).toEqual([47184, 47999]);
    expect(pkt.ipLength).toBe(61);
    expect(pkt.payloadLength).toBe(61 - 20 - 8);
  });

  it('Ethernet ICMPv6 port unreachable quoting the UDP datagram', () => {
    // 08:51:19.836385 IP6 (flowlabel 0x1bbaf, hlim 64, next-header ICMPv6 (58) payload length: 59) ::1 > ::1:
    //     [icmp6 sum ok] ICMP6, destination unreachable, unreachable port, ::1 udp port 47999
    // 	0x0000:  0000 0000 0000 0000 0000 0000 86dd 6001  ..............`.
    // 	0x0010:  bbaf 003b 3a40 0000 0000 0000 0000 0000  ...;:@..........
    // 	0x0020:  0000 0000 0001 0000 0000 0000 0000 0000  ................
    // 	0x0030:  0000 0000 0001 0104 7daa 0000 0000 6007  ........}.....`.
    // 	0x0040:  038e 000b 1140 0000 0000 0000 0000 0000  .....@..........
    // 	0x0050:  0000 0000 0001 0000 0000 0000 0000 0000  ................
    // 	0x0060:  0000 0000 0001 b918 bb7f 000b 001e 7636  ..............v6
    // 	0x0070:  21                                       !
    const bytes = fromHex(
      '00000000000000000000000086dd6001bbaf003b3a4000000000000000000000' +
        '0000000000010000000000000000000000000000000101047daa000000006007' +
        '038e000b11400000000000000000000000000000000100000000000000000000' +
        '000000000001b918bb7f000b001e763621',
    );
    decodeFrame(toFrame(1, bytes), pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.ipVersion).toBe(6);
    expect(src()).toBe('::1');
    expect(pkt.ipLength).toBe(40 + 59);
    expect(pkt.protocol).toBe(58);
    expect([pkt.icmpType, pkt.icmpCode]).toEqual([1, 4]);
    expect(pkt.quotedProtocol).toBe(17);
    expect(pkt.quotedAddrLength).toBe(16);
    expect(formatAddress(bytes, pkt.quotedDstAddrOffset, 16)).toBe('::1');
    expect([pkt.quotedSrcPort, pkt.quotedDstPort]).toEqual([47384, 47999]);
  });

  it('Ethernet IPv6 TCP SYN', () => {
    // 08:51:19.886549 IP6 (flowlabel 0x9f1f6, hlim 64, next-header TCP (6) payload length: 40) ::1.58914 > ::1.47998:
    //     Flags [S], cksum 0x0030 (incorrect -> 0x7f1c), seq 159642846, win 65476,
    //     options [mss 65476,sackOK,TS val 1704380783 ecr 0,nop,wscale 10], length 0
    // 	0x0000:  0000 0000 0000 0000 0000 0000 86dd 6009  ..............`.
    // 	0x0010:  f1f6 0028 0640 0000 0000 0000 0000 0000  ...(.@..........
    // 	0x0020:  0000 0000 0001 0000 0000 0000 0000 0000  ................
    // 	0x0030:  0000 0000 0001 e622 bb7e 0983 f4de 0000  .......".~......
    // 	0x0040:  0000 a002 ffc4 0030 0000 0204 ffc4 0402  .......0........
    // 	0x0050:  080a 6596 c96f 0000 0000 0103 030a       ..e..o........
    const bytes = fromHex(
      '00000000000000000000000086dd6009f1f60028064000000000000000000000' +
        '00000000000100000000000000000000000000000001e622bb7e0983f4de0000' +
        '0000a002ffc4003000000204ffc40402080a6596c96f000000000103030a',
    );
    decodeFrame(toFrame(1, bytes), pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.ipVersion).toBe(6);
    expect(pkt.ttl).toBe(64);
    expect(pkt.ipHeaderLength).toBe(40);
    expect(pkt.transportOffset).toBe(54);
    expect([pkt.srcPort, pkt.dstPort]).toEqual([58914, 47998]);
    expect(pkt.tcpSeq).toBe(159642846);
    expect(pkt.tcpFlags).toBe(TCP_FLAG.SYN);
    expect(pkt.mss).toBe(65476);
    expect(pkt.windowScale).toBe(10);
    expect(pkt.tsVal).toBe(1704380783);
  });

  it('Linux cooked v1 (any) IPv4 TCP SYN', () => {
    // 08:51:22.102398 IP (tos 0x0, ttl 64, id 1076, offset 0, flags [DF], proto TCP (6), length 60)
    //     127.0.0.2.47189 > 127.0.0.1.47112: Flags [S], cksum 0xfe31 (incorrect -> 0xb606), seq 2176268750,
    //     win 65495, options [mss 65495,sackOK,TS val 2383405059 ecr 0,nop,wscale 10], length 0
    // 	0x0000:  0000 0304 0006 0000 0000 0000 0000 0800  ................
    // 	0x0010:  4500 003c 0434 4000 4006 3885 7f00 0002  E..<.4@.@.8.....
    // 	0x0020:  7f00 0001 b855 b808 81b7 39ce 0000 0000  .....U....9.....
    // 	0x0030:  a002 ffd7 fe31 0000 0204 ffd7 0402 080a  .....1..........
    // 	0x0040:  8e0f e003 0000 0000 0103 030a            ............
    const bytes = fromHex(
      '000003040006000000000000000008004500003c04344000400638857f000002' +
        '7f000001b855b80881b739ce00000000a002ffd7fe3100000204ffd70402080a' +
        '8e0fe003000000000103030a',
    );
    decodeBytes(113, bytes, 76, 76, pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.networkOffset).toBe(16);
    expect(src()).toBe('127.0.0.2');
    expect([pkt.srcPort, pkt.dstPort]).toEqual([47189, 47112]);
    expect(pkt.tcpSeq).toBe(2176268750);
    expect(pkt.tsVal).toBe(2383405059);
  });

  it('Linux cooked v2 (any) IPv6 TCP SYN', () => {
    // 08:51:24.618616 lo    In  IP6 (flowlabel 0xdc0cc, hlim 64, next-header TCP (6) payload length: 40)
    //     ::1.52748 > ::1.47998: Flags [S], cksum 0x0030 (incorrect -> 0x2f9f), seq 1622996636, win 65476,
    //     options [mss 65476,sackOK,TS val 2649268153 ecr 0,nop,wscale 10], length 0
    // 	0x0000:  86dd 0000 0000 0001 0304 0006 0000 0000  ................
    // 	0x0010:  0000 0000 600d c0cc 0028 0640 0000 0000  ....`....(.@....
    // 	0x0020:  0000 0000 0000 0000 0000 0001 0000 0000  ................
    // 	0x0030:  0000 0000 0000 0000 0000 0001 ce0c bb7e  ...............~
    // 	0x0040:  60bc f69c 0000 0000 a002 ffc4 0030 0000  `............0..
    // 	0x0050:  0204 ffc4 0402 080a 9de8 9fb9 0000 0000  ................
    // 	0x0060:  0103 030a                                ....
    const bytes = fromHex(
      '86dd000000000001030400060000000000000000600dc0cc0028064000000000' +
        '00000000000000000000000100000000000000000000000000000001ce0cbb7e' +
        '60bcf69c00000000a002ffc4003000000204ffc40402080a9de89fb900000000' +
        '0103030a',
    );
    decodeBytes(276, bytes, 100, 100, pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.etherType).toBe(0x86dd);
    expect(pkt.networkOffset).toBe(20);
    expect(dst()).toBe('::1');
    expect([pkt.srcPort, pkt.dstPort]).toEqual([52748, 47998]);
    expect(pkt.tcpSeq).toBe(1622996636);
    expect(pkt.mss).toBe(65476);
  });

  it('the SYN cut by a 60-byte snap length keeps addresses, ports and flags', () => {
    const bytes = fromHex(
      '00000000000000000000000008004500003ce9984000400653207f0000027f00' +
        '0001b854b807a5961e9200000000a002ffd7fe3100000204ffd70402080a7046' +
        'f494000000000103030a',
    );
    decodeBytes(1, bytes.subarray(0, 60), 60, 74, pkt);
    expect(pkt.snapped).toBe(true);
    expect(pkt.originalLength).toBe(74);
    expect(src()).toBe('127.0.0.2');
    expect([pkt.srcPort, pkt.dstPort]).toEqual([47188, 47111]);
    expect(pkt.tcpFlags).toBe(TCP_FLAG.SYN);
    expect(pkt.tcpSeq).toBe(2778078866);
    // The MSS option (bytes 54..57) is wholly present and still read; the rest is cut.
    expect(pkt.mss).toBe(65495);
    expect(pkt.hasTimestamps).toBe(false);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'tcp', offset: 34, need: 40, have: 26, cause: 'capture', what: 'TCP options cut' },
    ]);
  });
});
