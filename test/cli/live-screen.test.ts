/**
 * `flowdemux live` on a real terminal (a pseudo-terminal of 80 columns), for real on lo as root:
 * the redraw happens in place on the alternate screen (entered, left, never a full-screen
 * clear), the final report is printed on the normal screen once the alternate one is left,
 * whether --count or Ctrl-C ended the capture, and every line fits the terminal.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { runOnPty, visibleLines, type PtyRun } from '../helpers/pty.js';

const isRoot = process.getuid?.() === 0;
const PORT = 30490;
const CLIENT_PORT = 30491;
const COLS = 80;
const ENTER = '\x1b[?1049h';
const LEAVE = '\x1b[?1049l';

const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function bound(port: number, address = '127.0.0.1'): Promise<Socket> {
  const s = createSocket('udp4');
  sockets.push(s);
  await new Promise<void>((r) => s.bind(port, address, r));
  return s;
}

/** An echo server and a client; `ping()` resolves when the reply came back (two packets on lo). */
async function echo(): Promise<() => Promise<void>> {
  const server = await bound(PORT);
  server.on('message', (m, rinfo) => server.send(m, rinfo.port, rinfo.address));
  const client = await bound(CLIENT_PORT, '127.0.0.2');
  return () => new Promise<void>((resolve) => {
    client.once('message', () => resolve());
    client.send('ping', PORT, '127.0.0.1');
  });
}

/** What the command showed after it left the alternate screen: the normal screen's report. */
function afterLeaving(screen: string): string {
  expect(screen).toContain(ENTER);
  expect(screen.lastIndexOf(LEAVE)).toBeGreaterThan(screen.indexOf(ENTER));
  expect(screen).not.toContain('\x1b[2J');
  // The report's lines; stderr's messages (`flowdemux: ...`) are one line each by design.
  for (const l of visibleLines(screen).filter((x) => !x.startsWith('flowdemux: '))) expect([...l].length, l).toBeLessThanOrEqual(COLS);
  return visibleLines(screen.slice(screen.lastIndexOf(LEAVE))).join('\n');
}

function live(args: string[]): PtyRun {
  return runOnPty(['live', '-i', 'lo', '--filter', `udp port ${PORT}`, '--no-boost', ...args], COLS, 30);
}

describe.runIf(isRoot)('flowdemux live on a terminal (root)', () => {
  it('--count: alternate screen entered and left, the final table on the normal screen', async () => {
    const run = live(['--count', '4']);
    await run.shown('; Ctrl-C stops');
    if (run.screen().includes('optional `cap` package')) return; // cap not built here
    const ping = await echo();
    await ping();
    await ping();
    const { code, screen } = await run.done;
    expect(code, screen).toBe(0);
    const report = afterLeaving(screen);
    expect(report).toContain('127.0.0.2:30491');
    expect(report).toContain('127.0.0.1:30490');
    expect(report).toContain('1 flow shown; 4 packets read');
  });

  it('redraws in place while capturing, and Ctrl-C prints the final report', async () => {
    const run = live([]);
    await run.shown('; Ctrl-C stops');
    if (run.screen().includes('optional `cap` package')) return;
    const ping = await echo();
    // Traffic until a redraw has shown the flow (the view redraws once a second when packets come).
    while (!/packets on lo[^]*127\.0\.0\.2:30491/.test(run.screen())) await ping();
    run.type('\x03');
    const { code, screen } = await run.done;
    expect(code, screen).toBe(0);
    // The redraw: cursor home, then each line cleared to its end, on the alternate screen.
    const alternate = screen.slice(screen.indexOf(ENTER), screen.lastIndexOf(LEAVE));
    expect(alternate).toContain('\x1b[H');
    expect(alternate).toContain('\x1b[K');
    const report = afterLeaving(screen);
    expect(report).toMatch(/1 flow shown; \d+ packets read/);
    expect(report).toContain('127.0.0.2:30491');
    expect(report).toMatch(/flowdemux: \d+ packets captured.*\(signal\)/);
  });
});
