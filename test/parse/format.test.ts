import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  formatAddress, formatIPv4, formatIPv6, formatTcpFlags, formatTcpFlagsCompact, parseAddress, tryParseAddress,
} from '../../src/parse/format.js';
import { fromHex } from '../helpers/packet-builders.js';

const v6 = (h: string): string => formatIPv6(fromHex(h), 0);

describe('formatIPv6 (RFC 5952)', () => {
  it.each([
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    // two runs of two zero groups: the first is compressed (§4.2.3)
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['fe800000000000000000000000000001', 'fe80::1'],
    // the longer run wins even when it comes second
    ['20010000000100000000000000000001', '2001:0:1::1'],
    // a single zero group is not compressed (§4.2.2)
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    // lowercase, no leading zeros (§4.1, §4.3)
    ['2001 0DB8 00AB 0C00 000d 0e00 0f00 1000', '2001:db8:ab:c00:d:e00:f00:1000'],
    ['20010db8000000000000000000000000', '2001:db8::'],
    ['00010000000000000000000000000000', '1::'],
    ['ffffffffffffffffffffffffffffffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    // ::ffff:0:0/96 only: IPv4-compatible (deprecated) and other /96s stay hex
    ['000000000000000000000000c0000201', '::c000:201'],
    ['0064ff9b0000000000000000c0000201', '64:ff9b::c000:201'],
  ])('%s → %s', (h, text) => {
    expect(v6(h)).toBe(text);
  });

  it('reads at an offset', () => {
    const b = fromHex('ffff' + '20010db8000000000000000000000001' + 'ffff');
    expect(formatIPv6(b, 2)).toBe('2001:db8::1');
    expect(formatAddress(b, 2, 16)).toBe('2001:db8::1');
  });
});

describe('formatIPv4 / formatAddress', () => {
  it('dotted quad at an offset', () => {
    const b = Uint8Array.of(9, 192, 0, 2, 1, 255, 255, 255, 255);
    expect(formatIPv4(b, 1)).toBe('192.0.2.1');
    expect(formatAddress(b, 5, 4)).toBe('255.255.255.255');
  });
  it('other lengths print as hex bytes', () => {
    expect(formatAddress(Uint8Array.of(0, 0x1b, 0xff), 0, 3)).toBe('00:1b:ff');
    expect(formatAddress(Uint8Array.of(), 0, 0)).toBe('');
  });
});

describe('parseAddress', () => {
  it.each([
    ['127.0.0.1', '7f000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:DB8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1::', '00010000000000000000000000000000'],
    ['1:2:3:4:5:6::8', '00010002000300040005000600000008'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
  ])('%s', (text, h) => {
    expect(Buffer.from(parseAddress(text)).toString('hex')).toBe(h);
  });

  it.each([
    '', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-1', 'a.b.c.d', ':::', '1:::2', '1::2::3',
    '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', '1:2:3:4:5:6:7::8', 'fe80::1%eth0', '[::1]',
    '::1.2.3', '1.2.3.4::',
  ])('rejects %j', (text) => {
    expect(tryParseAddress(text)).toBeNull();
    expect(() => parseAddress(text)).toThrow(/not an IPv4 or IPv6 address/);
  });

  it('round-trips any 16 bytes through formatIPv6 (property)', () => {
    // Bias towards zero groups so that `::` placement and ties get exercised.
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const b = new Uint8Array(16);
        groups.forEach((g, i) => {
          b[2 * i] = g >> 8;
          b[2 * i + 1] = g & 0xff;
        });
        const text = formatIPv6(b, 0);
        expect(parseAddress(text)).toEqual(b);
        // RFC 5952 shape: lowercase, at most one '::', no group with a leading zero
        expect(text).toBe(text.toLowerCase());
        expect(text.split('::').length).toBeLessThanOrEqual(2);
        expect(text).not.toMatch(/(^|:)0[0-9a-f]/);
      }),
    );
  });

  it('round-trips any 4 bytes through formatIPv4 (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => {
        expect(parseAddress(formatIPv4(b, 0))).toEqual(b);
      }),
    );
  });
});

describe('TCP flags text', () => {
  it.each([
    [0x02, 'SYN', 'S'],
    [0x12, 'SYN, ACK', 'S.'],
    [0x10, 'ACK', '.'],
    [0x18, 'PSH, ACK', 'P.'],
    [0x11, 'FIN, ACK', 'F.'],
    [0x04, 'RST', 'R'],
    [0x14, 'RST, ACK', 'R.'],
    [0xc2, 'SYN, ECE, CWR', 'SEW'],
    [0x110, 'ACK, AE', '.e'],
    [0x1ff, 'FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE', 'FSRP.UEWe'],
    [0, '<None>', 'none'],
  ])('%i → %s / %s', (flags, long, compact) => {
    // The long form is tshark 4.0's Info column, the compact one tcpdump's "Flags [..]" (checked
    // against tshark 4.0.17 / tcpdump 4.99.3 on frames built by the test helpers; 4.99.3 does not
    // print AE at all, 'e' is what current tcpdump's tcp_flag_values table prints).
    expect(formatTcpFlags(flags)).toBe(long);
    expect(formatTcpFlagsCompact(flags)).toBe(compact);
  });
});
