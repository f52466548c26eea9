/**
 * Who is the originator when a flow's first packet is not a SYN: Zeek's rule, so that conn.log
 * and the JSON name the same client as Zeek does.
 *
 * Zeek (IPBasedAnalyzer::NewConn and the TCP and UDP analyzers' WantConnection) keeps the first
 * packet's sender as the originator, and flips the roles only on its `likely_server_ports`:
 * - UDP: when the sender's port is a likely server port and the receiver's is not;
 * - TCP without a bare SYN (a SYN-ACK, or any packet caught mid-stream): when the sender's port
 *   is a likely server port and the receiver's is not; when both are, only for a packet without
 *   SYN whose source port is the lower one (a SYN-ACK between two such ports is left alone, so
 *   that a stealth scan's answers are not turned around);
 * - never when the receiver is the IPv4 limited broadcast 255.255.255.255 (Zeek's IsBroadcast):
 *   a broadcast address is not made an originator;
 * - ICMP never flips: the first sender is the originator.
 *
 * `likely_server_ports` is not in Zeek's core: each protocol script of the default set adds its
 * ports to it (`redef likely_server_ports += { ports }`). The lists below are those ports, per
 * transport, as the default scripts (`zeek -r trace`, no `-b`) register them. Analyzers that add
 * none (IRC, RFB, WebSocket, the file analyzers...) are absent on purpose, and DHCP adds 67/udp
 * only. Zeek's test baselines agree: an HTTP SYN-ACK from 80 to 6669 (IRC's port) is flipped,
 * which the rule below does only when 6669 is not listed. Zeek's newest analyzer framework adds
 * every port an analyzer registers (Analyzer::register_for_ports, unless registered as not a
 * server port); should that reach IRC's ports, they belong here.
 *
 * Looked up once per flow, at its first packet: a table of 65536 bytes per transport.
 */

/** TCP ports Zeek's default scripts add to likely_server_ports (one comment per analyzer). */
const TCP_PORTS = [
  21, 2811, // FTP
  22, // SSH
  25, 587, // SMTP
  79, // Finger
  80, 81, 631, 1080, 3128, 8000, 8080, 8888, // HTTP (1080 is SOCKS's too)
  88, // Kerberos
  110, // POP3
  135, // DCE-RPC
  139, 445, // SMB
  143, // IMAP
  389, 3268, // LDAP
  443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223, // SSL/TLS
  502, // Modbus
  1434, 3306, // MySQL
  3389, // RDP
  5222, 5269, // XMPP
  5432, // PostgreSQL
  6379, // Redis
  20000, // DNP3
  53, // DNS
];

/** UDP ports Zeek's default scripts add to likely_server_ports. */
const UDP_PORTS = [
  53, 137, 5353, 5355, // DNS, NetBIOS name service, mDNS, LLMNR
  67, // DHCP (the server's port only)
  88, // Kerberos
  123, // NTP
  161, 162, // SNMP
  389, // LDAP
  443, // DTLS, QUIC
  514, // Syslog
  1812, // RADIUS
  2123, 2152, // GTPv1
  3544, // Teredo
  4789, // VXLAN
  5060, // SIP
  5072, // AYIYA
  6081, // Geneve
  20000, // DNP3
];

function table(ports: readonly number[]): Uint8Array {
  const t = new Uint8Array(65536);
  for (const p of ports) t[p] = 1;
  return t;
}

const TCP_TABLE = table(TCP_PORTS);
const UDP_TABLE = table(UDP_PORTS);

/** A port Zeek's default scripts list in likely_server_ports, for TCP (6) or UDP (17). */
export function isLikelyServerPort(proto: number, port: number): boolean {
  if (proto === 6) return TCP_TABLE[port] === 1;
  if (proto === 17) return UDP_TABLE[port] === 1;
  return false;
}

/** The UDP ports Zeek's DNS analyzer is attached to by the responder's port (its dns/main.zeek). */
export function isDnsPort(port: number): boolean {
  return port === 53 || port === 137 || port === 5353 || port === 5355;
}

/**
 * Zeek's decision for a flow whose first packet is not a bare SYN: true when the receiver of
 * that packet is the originator. `synAck`: the packet has SYN and ACK (TCP). `toBroadcast`: the
 * receiver is 255.255.255.255.
 */
export function zeekFlipsFirstPacket(proto: number, srcPort: number, dstPort: number, synAck: boolean, toBroadcast: boolean): boolean {
  if (toBroadcast || !isLikelyServerPort(proto, srcPort)) return false;
  if (!isLikelyServerPort(proto, dstPort)) return true;
  // Both plausible: UDP keeps the sender; TCP flips a packet without SYN towards the higher port.
  return proto === 6 && !synAck && srcPort < dstPort;
}

/** The IPv4 limited broadcast address at `off` in `bytes` (`len` 4). */
export function isLimitedBroadcast(bytes: Uint8Array, off: number, len: number): boolean {
  return len === 4 && bytes[off] === 255 && bytes[off + 1] === 255 && bytes[off + 2] === 255 && bytes[off + 3] === 255;
}
