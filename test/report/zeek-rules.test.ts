/**
 * Zeek's rules for conn.log, each on a small crafted capture, against the conn.log those rules
 * give (test/golden/zeek-rules/NAME.conn.log, written from Zeek's source: server-ports.ts and
 * flow-state.ts `closedAt` say where each rule comes from). The capture goes through the CLI's
 * `flows --format zeek`; the golden files hold the columns the rules decide.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPcap, tempDir, type PcapRecordSpec } from '../helpers/capture-builders.js';
import { buildEcho, buildTcp, buildUdp, concat, ethernet, fromHex, ip } from '../helpers/packet-builders.js';
import { runCli } from '../helpers/run-cli.js';
import { connLogRows } from '../helpers/conn-log.js';

const GOLDEN = new URL('../golden/zeek-rules/', import.meta.url).pathname;
const T0 = 1_700_000_000;
const tmp = tempDir('flowdemux-zeek-rules-');
afterAll(() => tmp.cleanup());

/** Packets at T0 + seconds, as one Ethernet pcap (µs). */
function capture(name: string, packets: [number, Uint8Array][]): string {
  const records: PcapRecordSpec[] = packets.map(([t, ip]) => {
    const us = Math.round(t * 1e6);
    return { tsSec: T0 + Math.floor(us / 1e6), tsFrac: us % 1e6, data: ethernet(ip) };
  });
  return tmp.write(name, buildPcap({}, records));
}

const rows = (text: string) => connLogRows(text).rows;

async function expectGolden(name: string, packets: [number, Uint8Array][], args: string[] = [], stderr: string[] = []): Promise<void> {
  const path = capture(`${name}.pcap`, packets);
  const r = await runCli(['flows', path, '--format', 'zeek', ...args]);
  expect(r.stderr).toBe(stderr.map((line) => `flowdemux: warning: ${path}: ${line}\n`).join(''));
  const golden = rows(readFileSync(`${GOLDEN}${name}.conn.log`, 'utf8'));
  const cols = Object.keys(golden[0]!);
  const ours = rows(r.stdout).map((row) => Object.fromEntries(cols.map((c) => [c, row[c]])));
  expect(ours).toEqual(golden);
}

const tcp = (t: number, src: string, dst: string, flags: string, seq: number, ack: number, len = 0): [number, Uint8Array] => {
  const [sip, sport] = src.split(':');
  const [dip, dport] = dst.split(':');
  return [t, buildTcp({ src: sip!, dst: dip!, sport: Number(sport), dport: Number(dport), flags, seq, ack, payload: new Uint8Array(len) })];
};

/** The packet with one byte changed: a checksum made wrong (IPv4: 10 is the header checksum). */
const spoil = ([t, ip]: [number, Uint8Array], at: number): [number, Uint8Array] => {
  const out = Uint8Array.from(ip);
  out[at]! ^= 0x5a;
  return [t, out];
};

const udp = (t: number, src: string, dst: string, len: number): [number, Uint8Array] => {
  const [sip, sport] = src.split(/:(?=\d+$)/);
  const [dip, dport] = dst.split(/:(?=\d+$)/);
  return [t, buildUdp({ src: sip!, dst: dip!, sport: Number(sport), dport: Number(dport), payload: new Uint8Array(len) })];
};

describe("conn.log follows Zeek's rules", () => {
  it('roles of a TCP connection first seen by its SYN-ACK, and the clock that stops at the close', async () => {
    // Client and server of each connection.
    const [c, s] = ['10.0.0.1:40000', '10.0.0.2:80'];
    const [c2, s2] = ['10.0.1.1:40000', '10.0.1.2:9090'];
    const [c3, s3] = ['10.0.2.1:40000', '10.0.2.2:80'];
    await expectGolden('syn-ack-first', [
      // Port 80 is a likely server port: the SYN-ACK's sender is the responder from the start (^h),
      // and the last ACK after FIN both ways does not lengthen the duration (0.5 s, not 0.6).
      tcp(0, s, c, 'SA', 5000, 1001),
      tcp(0.1, c, s, 'A', 1001, 5001),
      tcp(0.2, c, s, 'PA', 1001, 5001, 10),
      tcp(0.3, s, c, 'PA', 5001, 1011, 20),
      tcp(0.4, s, c, 'FA', 5021, 1011),
      tcp(0.5, c, s, 'FA', 1011, 5022),
      tcp(0.6, s, c, 'A', 5022, 1012),
      // Neither port is a likely server port: the SYN-ACK's sender stays the originator (H).
      tcp(1, s2, c2, 'SA', 7000, 3001),
      tcp(1.1, c2, s2, 'A', 3001, 7001),
      // A RST closes one end only: the other end's later packets still count in the duration.
      tcp(2, c3, s3, 'S', 100, 0),
      tcp(2.1, s3, c3, 'SA', 900, 101),
      tcp(2.2, c3, s3, 'A', 101, 901),
      tcp(2.3, c3, s3, 'R', 101, 0),
      tcp(2.4, s3, c3, 'PA', 901, 101, 5),
    ]);
  });

  it("timers that split a tuple: Zeek's attempt timer, and a FIN whose peer was silent", async () => {
    const [c, s] = ['10.1.0.1:50000', '10.1.0.2:22'];
    const [c2, s2] = ['10.2.0.1:40001', '10.2.0.2:80'];
    const [c3, s3] = ['10.4.0.1:40002', '10.4.0.2:80'];
    await expectGolden('timers', [
      // A half-duplex client: its SYN is never answered, so 5 s after it the connection is over
      // (S0, SDA); the data that follows is a new connection, without SYN (DF, SH).
      tcp(0, c, s, 'S', 100, 0),
      tcp(1, c, s, 'PA', 101, 1, 10),
      tcp(2, c, s, 'A', 111, 1),
      tcp(6, c, s, 'PA', 111, 1, 10),
      tcp(7, c, s, 'FA', 121, 1),
      // A FIN from a peer that had sent nothing completes the close: the ACK just after belongs
      // to it, a RST 10 s later is a connection of its own.
      tcp(20, s2, c2, 'FA', 900, 300),
      tcp(20.0003, c2, s2, 'A', 300, 901),
      tcp(30, c2, s2, 'R', 300, 0),
      // Caught mid-stream: the client's first packet is its FIN while the server is sending (a
      // partial close): 3 s after it the connection is over, the server's data at 5 s is new.
      tcp(35, s3, c3, 'PA', 5000, 700, 100),
      tcp(36, c3, s3, 'FA', 700, 5100),
      tcp(37, s3, c3, 'PA', 5100, 701, 100),
      tcp(40, s3, c3, 'PA', 5200, 701, 100),
      // DNS over UDP: Zeek's DNS analyzer ends the session when a run of its timer (10 s after
      // the start, then every 10 s) finds it idle for 9 s: the query at 55 is a new connection.
      udp(40, '10.3.0.1:40000', '10.3.0.2:53', 30),
      udp(40.01, '10.3.0.2:53', '10.3.0.1:40000', 60),
      udp(55, '10.3.0.1:40000', '10.3.0.2:53', 30),
      // mDNS: idle 5 s at the run at 70 (kept), 15 s at the run at 80: the packet at 81 is new.
      ...[60, 65, 81].map((t) => udp(t, '10.3.0.3:5353', '224.0.0.251:5353', 100)),
    ]);
  });

  it('UDP and ICMP: the first sender is the originator unless its port is a likely server port', async () => {
    await expectGolden('udp-icmp-roles', [
      // A DNS answer before its query: 53 is a likely server port, the receiver is the originator.
      udp(0, '192.168.1.1:53', '192.168.1.52:54585', 60),
      udp(0.01, '192.168.1.52:54585', '192.168.1.1:53', 30),
      // Neither port is a server port: the first sender, even from the lower port.
      udp(1, '10.0.0.2:5000', '10.0.0.1:33434', 12),
      udp(1.5, '10.0.0.1:33434', '10.0.0.2:5000', 12),
      // DHCP: the client's broadcast; the server's broadcast answer from port 67 is not flipped,
      // because its receiver, 255.255.255.255, is never made an originator.
      udp(2, '0.0.0.0:68', '255.255.255.255:67', 300),
      udp(2.1, '192.168.1.1:67', '255.255.255.255:68', 300),
      // DHCPv6 to its multicast group: the first sender.
      udp(3, 'fe80::1:546', 'ff02::1:2:547', 100),
      // An echo reply seen before its request: the replier is the originator (orig_p 0).
      [4, buildEcho({ src: '10.9.0.2', dst: '10.9.0.1', id: 7, seq: 1, reply: true })],
      [4.1, buildEcho({ src: '10.9.0.1', dst: '10.9.0.2', id: 7, seq: 2 })],
    ]);
  });

  it('--checksums validate: a wrong IPv4 header drops the packet, a wrong TCP/UDP checksum is C/c', async () => {
    const [c, s] = ['10.6.0.1:40000', '10.6.0.2:80'];
    const [q, r] = ['10.6.2.1:5000', '10.6.2.2:53'];
    const tcpSum = 20 + 16;
    const udpSum = 20 + 6;
    const noSum = udp(5, '10.6.4.1:6000', '10.6.4.2:7000', 8);
    noSum[1][udpSum] = 0;
    noSum[1][udpSum + 1] = 0;
    await expectGolden('bad-checksums', [
      // The client's data arrives with a wrong TCP checksum, then again right: C, not counted
      // (orig_pkts 5), and the connection goes on as if the bad one had not been there.
      tcp(0, c, s, 'S', 1000, 0),
      tcp(0.1, s, c, 'SA', 5000, 1001),
      tcp(0.2, c, s, 'A', 1001, 5001),
      spoil(tcp(0.3, c, s, 'PA', 1001, 5001, 10), tcpSum),
      tcp(0.4, c, s, 'PA', 1001, 5001, 10),
      tcp(0.5, s, c, 'PA', 5001, 1011, 20),
      tcp(0.6, c, s, 'FA', 1011, 5021),
      tcp(0.7, s, c, 'FA', 5021, 1012),
      tcp(0.8, c, s, 'A', 1012, 5022),
      // A SYN with a wrong checksum alone: the connection exists, with nothing but its C.
      spoil(tcp(2, '10.6.1.1:40001', '10.6.1.2:80', 'S', 1, 0), tcpSum),
      // DNS: a query whose IP header checksum is wrong is dropped before anything sees it; a
      // query with a wrong UDP checksum is counted (orig_pkts 2) but adds C, not to the duration.
      udp(3, q, r, 30),
      spoil(udp(3.005, q, r, 30), 10),
      udp(3.01, r, q, 60),
      spoil(udp(3.5, q, r, 30), udpSum),
      // Dropped for its IP header: no connection at all.
      spoil(udp(4, '10.6.3.1:6000', '10.6.3.2:7000', 8), 10),
      // A UDP checksum 0 over IPv4 means none: nothing wrong.
      noSum,
    ], ['--checksums', 'validate'], [
      '2 packets with a wrong IPv4 header checksum dropped (first: packet 12), as Zeek drops them (--checksums validate)',
      '3 packets with a wrong TCP, UDP or ICMP checksum (first: packet 4): history C/c and left out of the connection as Zeek does '
        + '(--checksums validate; on the sending host checksums are often left to offload)',
    ]);
  });

  it('the conn.log header says which checksum mode made it', async () => {
    const path = capture('mode.pcap', [udp(0, '10.7.0.1:5000', '10.7.0.2:53', 10)]);
    const header = async (...args: string[]) => (await runCli(['flows', path, '--format', 'zeek', ...args])).stdout.split('\n')
      .filter((l) => l.startsWith('#')).map((l) => l.split('\t')[0]);
    const zeekOrder = ['#separator \\x09', '#set_separator', '#empty_field', '#unset_field', '#path', '#open'];
    expect(await header()).toEqual([...zeekOrder, '#checksums', '#fields', '#types', '#close']);
    const mode = async (...args: string[]) => (await runCli(['flows', path, '--format', 'zeek', ...args])).stdout.match(/^#checksums\t(.*)$/m)![1];
    expect(await mode()).toBe('ignore');
    expect(await mode('--checksums', 'validate')).toBe('validate');
  });

  it("other IP protocols are Zeek's unknown_transport: keyed on the addresses and the protocol, the first sender the originator", async () => {
    const other = (t: number, src: string, dst: string, proto: number, ipBytes: number): [number, Uint8Array] =>
      [t, ip(src, dst, proto, new Uint8Array(ipBytes - 20))];
    await expectGolden('other-protocols', [
      // As in Zeek's own baseline for its vntag trace: protocol 253 in both port fields, no payload counted.
      other(0, '1.1.1.1', '1.1.2.1', 253, 100),
      other(0, '1.1.1.1', '1.1.2.1', 253, 100),
      other(0.000001, '1.1.1.1', '1.1.2.1', 253, 100),
      // OSPF both ways between two routers: one connection, the first sender its originator.
      other(1, '10.0.0.2', '10.0.0.1', 89, 64),
      other(1.2, '10.0.0.1', '10.0.0.2', 89, 64),
      other(1.5, '10.0.0.2', '10.0.0.1', 89, 64),
      // To multicast groups: OSPF hello, PIM hello, VRRP advertisement, IGMP report.
      other(2, '10.0.0.1', '224.0.0.5', 89, 64),
      other(3, '10.0.0.1', '224.0.0.13', 103, 54),
      other(4, '10.0.0.1', '224.0.0.18', 112, 40),
      other(4, '10.0.0.3', '224.0.0.22', 2, 36),
      // 61.1 s after its last packet (unknown_ip_inactivity_timeout is 60 s): a new connection, whose first sender is the other router.
      other(62.6, '10.0.0.1', '10.0.0.2', 89, 64),
    ]);
  });
  it("tunnels: a UDP tunnel's own connection (service) and the inner ones naming it in tunnel_parents", async () => {
    const vxlan = fromHex('08000000 00007b00'); // I flag, VNI 123
    const geneve = fromHex('00006558 00000100'); // no options, Ethernet inside, VNI 1
    const over = (t: number, src: string, dst: string, header: Uint8Array, frame: Uint8Array): [number, Uint8Array] => {
      const [sip, sport] = src.split(':');
      const [dip, dport] = dst.split(':');
      return [t, buildUdp({ src: sip!, dst: dip!, sport: Number(sport), dport: Number(dport), payload: concat(header, frame) })];
    };
    const echo = (src: string, dst: string, seq: number, reply = false) =>
      ethernet(buildEcho({ src, dst, id: 1, seq, reply, payload: new Uint8Array(56) }));
    const [a, b] = ['192.168.56.11', '192.168.56.12'];
    const arp = ethernet(new Uint8Array(28), { etherType: 0x0806, dst: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] });
    const dns = (t: number, src: string, dst: string, len: number) => udp(t, src, dst, len)[1];
    await expectGolden('tunnels', [
      // As in Zeek's vxlan trace: an echo and its reply, each way through its own VXLAN source
      // port (two outer connections, both parents of the inner ICMP one), then a VXLAN datagram
      // carrying ARP: nothing inside to key, a VXLAN connection all the same.
      over(0, `${b}:38071`, `${a}:4789`, vxlan, echo('10.0.0.1', '10.0.0.2', 1)),
      over(0.001, `${a}:48134`, `${b}:4789`, vxlan, echo('10.0.0.2', '10.0.0.1', 1, true)),
      over(1, `${b}:38071`, `${a}:4789`, vxlan, echo('10.0.0.1', '10.0.0.2', 2)),
      over(1.001, `${a}:48134`, `${b}:4789`, vxlan, echo('10.0.0.2', '10.0.0.1', 2, true)),
      over(2, `${b}:40908`, `${a}:4789`, vxlan, arp),
      // Geneve carrying VXLAN carrying DNS: each tunnel is the parent of the one inside it.
      over(3, '127.0.0.1:11803', '127.0.0.1:6081', geneve, ethernet(
        over(3, '127.0.0.1:26383', '127.0.0.1:4789', vxlan, ethernet(dns(3, '172.16.11.201:36872', '1.1.1.1:53', 30)))[1])),
      over(3.5, '127.0.0.1:11803', '127.0.0.1:6081', geneve, ethernet(
        over(3.5, '127.0.0.1:26383', '127.0.0.1:4789', vxlan, ethernet(dns(3.5, '1.1.1.1:53', '172.16.11.201:36872', 50)))[1])),
      // TCP in GRE: GRE is no connection of Zeek's (tunnel.log names it), so no parent here.
      [4, ip('10.9.0.1', '10.9.0.2', 47, concat(fromHex('00000800'), tcp(4, '172.16.0.1:40000', '172.16.0.2:80', 'S', 1, 0)[1]))],
    ]);
  });
});
