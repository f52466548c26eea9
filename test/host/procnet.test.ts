/**
 * The /proc/net/{tcp,tcp6,udp,udp6} parser on lines copied from this project's Linux test host
 * (x86-64, little-endian) while node sockets were open on ports 38605-38609 (0x96CD-0x96D1):
 * an IPv4 listener and connection, a dual-stack `::` listener whose IPv4 connections show as
 * ::ffff:127.0.0.1 in tcp6, an IPv6-only ::1 listener, TIME_WAIT leftovers (inode 0), and
 * UDP sockets bound to 127.0.0.3, to ::, and connected to documentation addresses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProcNet, parseProcNetAddress, socketIp, TCP_STATES } from '../../src/host/procfs.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 0100007F:96CD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 427607 1 0000000052384d76 100 0 0 10 0                    
   2: 0100007F:83AE 0100007F:96CE 01 00000000:00000000 00:00000000 00000000     0        0 427612 2 0000000067ce67bb 20 0 0 10 -1                    
   3: 0100007F:96CD 0200007F:96D0 01 00000000:00000000 00:00000000 00000000     0        0 427611 1 000000008edf06ee 20 0 0 10 -1                    
   4: 0200007F:96D0 0100007F:96CD 01 00000000:00000000 00:00000000 00000000     0        0 427610 2 000000001142dc5c 20 0 0 10 -1                    
`;

const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:96CF 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 427609 1 0000000066438e8c 100 0 0 10 0
   1: 00000000000000000000000000000000:96CE 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 427608 1 000000006898fba1 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:96CE 0000000000000000FFFF00000100007F:839C 06 00000000:00000000 03:0000163E 00000000     0        0 0 3 0000000010404354
   7: 0000000000000000FFFF00000100007F:96CE 0000000000000000FFFF00000100007F:83AE 01 00000000:00000000 00:00000000 00000000     0        0 427613 1 00000000d28c30d5 20 0 0 10 -1
   8: 00000000000000000000000001000000:D890 00000000000000000000000001000000:96CF 01 00000000:00000000 00:00000000 00000000     0        0 427614 2 0000000027b7189f 20 0 0 10 -1
   9: 00000000000000000000000001000000:96CF 00000000000000000000000001000000:D890 01 00000000:00000000 00:00000000 00000000     0        0 427615 1 00000000b6704c63 20 0 0 10 -1
  10: 00000000000000000000000001000000:96CF 00000000000000000000000001000000:CD7A 06 00000000:00000000 03:000015FA 00000000     0        0 0 3 00000000327afb1a
`;

const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
 5277: 0300007F:96D1 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 427616 2 000000008875c00c 0        
 5271: 020200C0:96CB 076433C6:0035 01 00000000:00000000 00:00000000 00000000     0        0 433351 2 000000008875c00c 0        
`;

const UDP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 5277: 00000000000000000000000000000000:96D1 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 427617 2 00000000aedf00e9 0
 5271: 000000FD000000000000000002000000:96CB B80D01200000A3852E8A000034737003:0009 01 00000000:00000000 00:00000000 00000000     0        0 433350 2 00000000aedf00e9 0
`;

describe('parseProcNetAddress', () => {
  it('IPv4: one 32-bit word printed as a little-endian integer, the port as plain hex', () => {
    expect(parseProcNetAddress('0100007F:96CD', true)).toEqual({ ip: '127.0.0.1', port: 38605 });
    expect(parseProcNetAddress('020200C0:96CB', true)).toEqual({ ip: '192.0.2.2', port: 38603 });
    expect(parseProcNetAddress('076433C6:0035', true)).toEqual({ ip: '198.51.100.7', port: 53 });
    expect(parseProcNetAddress('00000000:0000', true)).toEqual({ ip: '0.0.0.0', port: 0 });
    // The same text from a big-endian host is the bytes in order.
    expect(parseProcNetAddress('7F000001:0050', false)).toEqual({ ip: '127.0.0.1', port: 80 });
  });

  it('IPv6: four words, each byte-reversed on a little-endian host', () => {
    expect(parseProcNetAddress('00000000000000000000000001000000:96CF', true)).toEqual({ ip: '::1', port: 38607 });
    expect(parseProcNetAddress('00000000000000000000000000000000:96CE', true)).toEqual({ ip: '::', port: 38606 });
    expect(parseProcNetAddress('000000FD000000000000000002000000:96CB', true)).toEqual({ ip: 'fd00::2', port: 38603 });
    expect(parseProcNetAddress('B80D01200000A3852E8A000034737003:0009', true))
      .toEqual({ ip: '2001:db8:85a3::8a2e:370:7334', port: 9 });
    expect(parseProcNetAddress('20010DB885A3000000008A2E03707334:0009', false))
      .toEqual({ ip: '2001:db8:85a3::8a2e:370:7334', port: 9 });
  });

  it('IPv4-mapped IPv6 in mixed notation, and socketIp turns it into the IPv4 a capture shows', () => {
    const a = parseProcNetAddress('0000000000000000FFFF00000100007F:83AE', true);
    expect(a).toEqual({ ip: '::ffff:127.0.0.1', port: 33710 });
    expect(socketIp(a!.ip)).toBe('127.0.0.1');
    expect(socketIp('0.0.0.0')).toBe('*4');
    expect(socketIp('::')).toBe('*6');
    expect(socketIp('::1')).toBe('::1');
    expect(socketIp('2001:db8::1')).toBe('2001:db8::1');
  });

  it('refuses text of any other shape', () => {
    for (const bad of ['', '0100007F', '0100007F:96C', '0100007F:96CDX', '0100007G:96CD', '100007F:96CD',
      '0000000000000000000000000100000:96CF', '0100007F 96CD', ':96CD']) {
      expect(parseProcNetAddress(bad, true)).toBeNull();
    }
  });
});

describe('parseProcNet', () => {
  it('tcp: listener and both sockets of one connection, with state, uid and inode', () => {
    const { entries, skipped } = parseProcNet(TCP, true);
    expect(skipped).toBe(0);
    expect(entries).toEqual([
      { localIp: '127.0.0.1', localPort: 38605, remoteIp: '0.0.0.0', remotePort: 0, state: TCP_STATES.LISTEN, uid: 0, inode: 427607 },
      { localIp: '127.0.0.1', localPort: 33710, remoteIp: '127.0.0.1', remotePort: 38606, state: TCP_STATES.ESTABLISHED, uid: 0, inode: 427612 },
      { localIp: '127.0.0.1', localPort: 38605, remoteIp: '127.0.0.2', remotePort: 38608, state: 1, uid: 0, inode: 427611 },
      { localIp: '127.0.0.2', localPort: 38608, remoteIp: '127.0.0.1', remotePort: 38605, state: 1, uid: 0, inode: 427610 },
    ]);
  });

  it('tcp6: ::1 and :: listeners, IPv4-mapped connections of the dual-stack one, TIME_WAIT with inode 0', () => {
    const { entries, skipped } = parseProcNet(TCP6, true);
    expect(skipped).toBe(0);
    expect(entries.map((e) => [e.localIp, e.localPort, e.remoteIp, e.remotePort, e.state, e.inode])).toEqual([
      ['::1', 38607, '::', 0, 0x0a, 427609],
      ['::', 38606, '::', 0, 0x0a, 427608],
      ['::ffff:127.0.0.1', 38606, '::ffff:127.0.0.1', 33692, TCP_STATES.TIME_WAIT, 0],
      ['::ffff:127.0.0.1', 38606, '::ffff:127.0.0.1', 33710, 1, 427613],
      ['::1', 55440, '::1', 38607, 1, 427614],
      ['::1', 38607, '::1', 55440, 1, 427615],
      ['::1', 38607, '::1', 52602, 6, 0],
    ]);
  });

  it('udp and udp6: unconnected (state 7, remote all zero) and connected sockets; the extra columns are ignored', () => {
    expect(parseProcNet(UDP, true).entries).toEqual([
      { localIp: '127.0.0.3', localPort: 38609, remoteIp: '0.0.0.0', remotePort: 0, state: 7, uid: 0, inode: 427616 },
      { localIp: '192.0.2.2', localPort: 38603, remoteIp: '198.51.100.7', remotePort: 53, state: 1, uid: 0, inode: 433351 },
    ]);
    expect(parseProcNet(UDP6, true).entries).toEqual([
      { localIp: '::', localPort: 38609, remoteIp: '::', remotePort: 0, state: 7, uid: 0, inode: 427617 },
      { localIp: 'fd00::2', localPort: 38603, remoteIp: '2001:db8:85a3::8a2e:370:7334', remotePort: 9, state: 1, uid: 0, inode: 433350 },
    ]);
  });

  it('damaged lines are counted and skipped, the good ones kept; an empty file is no entries', () => {
    const lines = TCP.split('\n');
    const text = [
      lines[0], lines[1],
      '   1: 0100007F:96CD 00000000:0000 0A 00000000:00000000', // cut short
      '   5: 0100007F:96CD 0000000000000000000000000100007F:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1', // mixed widths
      '   6: 0100007F:96CD 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000     0        0 42 1', // bad state
      '   7: 0100007F:96CD 00000000:0000 0A 00000000:00000000 00:00000000 00000000     x        0 42 1', // bad uid
      'garbage',
      lines[2],
    ].join('\n');
    const { entries, skipped } = parseProcNet(text, true);
    expect(skipped).toBe(5);
    expect(entries.map((e) => e.inode)).toEqual([427607, 427612]);
    expect(parseProcNet('', true)).toEqual({ entries: [], skipped: 0 });
    expect(parseProcNet(lines[0]!, true)).toEqual({ entries: [], skipped: 0 });
  });

  it.skipIf(!existsSync('/proc/net/tcp'))("reads this host's own /proc/net files without a skipped line", () => {
    for (const f of ['tcp', 'tcp6', 'udp', 'udp6']) {
      if (!existsSync(`/proc/net/${f}`)) continue;
      const text = readFileSync(`/proc/net/${f}`, 'latin1');
      const { entries, skipped } = parseProcNet(text);
      expect(skipped, f).toBe(0);
      expect(entries.length, f).toBe(text.split('\n').filter((l) => /^\s*[0-9]+:/.test(l)).length);
    }
  });
});
