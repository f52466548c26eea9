/**
 * What the fuzz suite found, kept as plain tests (shrunk by hand to the smallest capture that
 * shows it). The other findings are checked where they belong: stderr on a full disk in
 * output-faults.test.ts, file names with C1 controls in JSON and in "no packets in" in
 * terminal.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { LINKTYPE } from '../../src/core/linktypes.js';
import { buildPcap, concatBytes, ngEPB, ngIDB, ngSHB, payload, tempDir } from '../helpers/capture-builders.js';
import { buildUdp, ethernet, nullLink } from '../helpers/packet-builders.js';
import { collectGarbage, stderrProblems, timedRun } from './checks.js';

const tmp = tempDir('flowdemux-regress-');
afterAll(() => tmp.cleanup());

const udp = ethernet(buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53, payload: 'q' }));
const CLAIM = 200_000_000;

function packetsOf(stdout: string): { frame: number; capturedLength: number }[] {
  return stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('fuzz regressions', () => {
  // Found by the pipeline fuzz: memory held after a run grew by up to 256 MB, because the read
  // window allocated a buffer as large as the length a damaged header claimed before reading.
  for (const viaStdin of [false, true]) {
    it(`a record claiming ${CLAIM / 1e6} MB in a tiny capture costs kilobytes (${viaStdin ? 'stdin' : 'file'})`, async () => {
      const pcap = buildPcap({ snapLength: 0xffffffff }, [
        { tsSec: 1, tsFrac: 0, data: udp },
        { tsSec: 2, tsFrac: 0, data: udp, capLen: CLAIM },
      ]);
      const epb = ngEPB('LE', { iface: 0, ts: 2n, data: udp });
      new DataView(epb.buffer).setUint32(4, CLAIM, true); // the block's total length
      const pcapng = concatBytes(ngSHB('LE'), ngIDB('LE', { linkType: LINKTYPE.ETHERNET }), ngEPB('LE', { iface: 0, ts: 1n, data: udp }), epb);
      for (const [bytes, warning] of [[pcap, /last record at offset \d+ is cut short/], [pcapng, /last block at offset \d+ is cut short/]] as const) {
        collectGarbage();
        const r = await timedRun(['packets', viaStdin ? '-' : tmp.write('claim.cap', bytes), '--format', 'ndjson'], viaStdin ? bytes : undefined);
        expect(r.code).toBe(0);
        expect(stderrProblems(r.stderr)).toEqual([]);
        expect(r.stderr).toMatch(warning);
        expect(packetsOf(r.stdout)).toHaveLength(1);
        expect(r.bufferGrowth, `buffers grew by ${(r.bufferGrowth / 1e6).toFixed(1)} MB`).toBeLessThan(16 * 1024 * 1024);
      }
    });

    it(`records larger than one read (3 MB) still come through whole (${viaStdin ? 'stdin' : 'file'})`, async () => {
      const big = ethernet(buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53, payload: payload(3_000_000 - 42, 9) }));
      const pcap = buildPcap({ snapLength: 0xffffffff }, [
        { tsSec: 1, tsFrac: 0, data: udp }, { tsSec: 2, tsFrac: 0, data: big }, { tsSec: 3, tsFrac: 0, data: udp },
      ]);
      const pcapng = concatBytes(ngSHB('BE'), ngIDB('BE', { linkType: LINKTYPE.ETHERNET }),
        ...[udp, big, udp].map((data, i) => ngEPB('BE', { iface: 0, ts: BigInt(i), data })));
      for (const bytes of [pcap, pcapng]) {
        const r = await timedRun(['packets', viaStdin ? '-' : tmp.write('big.cap', bytes), '--format', 'ndjson'], viaStdin ? bytes : undefined);
        expect(r.code).toBe(0);
        expect(r.stderr).toBe('');
        expect(packetsOf(r.stdout).map((p) => p.capturedLength)).toEqual([udp.length, big.length, udp.length]);
      }
    });
  }

  // Found by the pipeline fuzz (a bit flip in a BSD loopback header): a frame of a decoded link
  // type carrying another address family was reported as "link type 0 (NULL) is not decoded".
  it('a BSD loopback frame of another address family does not make its link type "not decoded"', async () => {
    const ip = buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53 });
    const nul = tmp.write('null.pcap', buildPcap({ linkType: LINKTYPE.NULL }, [
      { tsSec: 1, tsFrac: 0, data: nullLink(ip) }, { tsSec: 2, tsFrac: 0, data: nullLink(ip, { af: 7 }) },
    ]));
    const r = await timedRun(['packets', nul, '--format', 'ndjson']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const pkts = packetsOf(r.stdout) as unknown as { problems?: { kind: string; what: string }[] }[];
    expect(pkts[1]!.problems).toEqual([expect.objectContaining({ kind: 'unsupported', what: 'BSD loopback address family is not IP' })]);
    // A link type without a decoder is still reported, once.
    const other = tmp.write('other.pcap', buildPcap({ linkType: 147 }, [{ tsSec: 1, tsFrac: 0, data: ip }, { tsSec: 2, tsFrac: 0, data: ip }]));
    const o = await timedRun(['packets', other, '--format', 'ndjson']);
    expect(o.stderr).toMatch(/^flowdemux: warning: .*other\.pcap: link type 147 \(LINKTYPE_147\) is not decoded: 2 frames counted without headers\n$/);
  });
});
