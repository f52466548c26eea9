/**
 * Tables that fit the terminal, end to end: bin/flowdemux.js on a real pseudo-terminal of 60, 80
 * and 120 columns. Every line the terminal shows is at most that wide (no row wrapped by the
 * terminal) and the fields a reader needs are still there; piped, the output is the full table.
 */
import { describe, expect, it } from 'vitest';
import { runOnPty, visibleLines } from '../helpers/pty.js';
import { runCli } from '../helpers/run-cli.js';

async function onPty(args: string[], cols: number, env?: Record<string, string>): Promise<string[]> {
  const run = runOnPty(args, cols, 40, env);
  const { code, screen } = await run.done;
  expect(code, screen).toBe(0);
  // The report's lines; a message on stderr ('flowdemux: warning: ...') is one line by design,
  // which a narrow terminal may wrap, as it wraps tcpdump's and tshark's.
  const lines = visibleLines(screen).filter((l) => !l.startsWith('flowdemux: '));
  for (const l of lines) expect([...l].length, `${args.join(' ')} at ${cols}: ${l}`).toBeLessThanOrEqual(cols);
  return lines;
}

describe('on a terminal, every table fits its width', () => {
  it('packets at 140 columns: the full layout, cut at the edge', async () => {
    const lines = await onPty(['packets', 'fixtures/demux-lo.pcap'], 140);
    expect(lines[0]).toMatch(/^No\. +Time Link +Source/);
    expect(lines[1]).toMatch(/^1 +0\.000000 EN10MB +127\.0\.0\.2:9157 .* 74 1 +\[SYN\] seq=2945892926 .*…$/);
  });

  it('COLUMNS overrides the terminal width, as for ls', async () => {
    const lines = await onPty(['flows', 'fixtures/demux-lo.pcap'], 120, { COLUMNS: '70' });
    expect(Math.max(...lines.map((l) => [...l].length))).toBeLessThanOrEqual(70);
  });

  it('piped, the full boxed table whatever COLUMNS says', async () => {
    const before = process.env.COLUMNS;
    process.env.COLUMNS = '60';
    const piped = await runCli(['flows', 'fixtures/demux-lo.pcap']).finally(() => {
      if (before === undefined) delete process.env.COLUMNS;
      else process.env.COLUMNS = before;
    });
    expect(piped.stdout).toContain('│ pkts → │ bytes → │ pkts ← │ bytes ← │ start (2026-11-25 UTC) │');
  });

  for (const cols of [60, 80, 120]) {
    it(`flows at ${cols} columns: ids, addresses with ports, packets, state`, async () => {
      const lines = await onPty(['flows', 'fixtures/demux-lo.pcap'], cols);
      const text = lines.join('\n');
      for (const key of ['127.0.0.2:9157', '127.0.0.3:5775', '127.0.0.1:8089', '127.0.0.1:5353', '4 #2', '5 #3', 'RSTO', 'SF', 'pkts', 'state']) {
        expect(text).toContain(key);
      }
      // One line a flow: the rows were not wrapped.
      expect(lines.filter((l) => /^\s*\d( #\d)?\s+(tcp|udp)\s/.test(l.replace(/^│/, '')))).toHaveLength(7);
    });

    it(`ladder at ${cols} columns: one arrow a packet, its numbers and TCP analysis still there`, async () => {
      const lines = await onPty(['ladder', 'fixtures/crafted/tcp-analysis-events.pcap', '--flow', '1'], cols);
      const text = lines.join('\n');
      expect(lines.filter((l) => /^\d+ +\d+\.\d{6} +\|/.test(l))).toHaveLength(33);
      for (const key of ['192.0.2.1:40300', 'seq=201 ack=101', '[TCP Previous segment not captured]', '[TCP Dup ACK 8#2]', '[TCP Fast Retransmission]']) {
        expect(text.replace(/\n +/g, ' ')).toContain(key);
      }
      // The numbers stay on their arrow's line when the arrows can narrow enough for them.
      if (cols >= 80) expect(text).toMatch(/^7 +0\.060000 +\|◀─+ ACK ─+\| +seq=201 ack=101 win=16000 \(2000×8\) len=100$/m);
    });

    it(`demux at ${cols} columns: every socket and flow still named`, async () => {
      const text = (await onPty(['demux', 'fixtures/closed-ports.pcap'], cols)).join('\n');
      for (const key of ['tcp port 8091', '127.0.0.1:8091', '127.0.0.3:40005', '[::1]:9999', 'flow 6', 'closed port']) expect(text).toContain(key);
    });

    it(`packets --explain at ${cols} columns: one line a packet, the explanation wrapped`, async () => {
      const lines = await onPty(['packets', 'fixtures/demux-lo.pcap', '--explain'], cols);
      const packetLines = lines.filter((l) => /^\d+ +\d+\.\d{6} /.test(l));
      expect(packetLines).toHaveLength(60);
      // Narrower than 130 columns: no link or wire column, so the flow and the info start stay.
      expect(packetLines[0]).toMatch(/^1 +0\.000000 +127\.0\.0\.2:9157 +127\.0\.0\.1:80/);
      if (cols >= 80) expect(packetLines[0]).toMatch(/ tcp +1 +\[/);
      expect(lines.join('\n')).toContain('↳ listener 127.0.0.1:80');
    });

    it(`interfaces at ${cols} columns`, async () => {
      const text = (await onPty(['interfaces'], cols)).join('\n');
      expect(text).toMatch(/^lo\s+yes\s+127\.0\.0\.1\/8/m);
    });
  }
});
