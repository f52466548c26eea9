/**
 * `flowdemux live` as a child process (the built CLI): `capturing` resolves when it says it
 * captures (its first stderr line, as tcpdump's "listening on"), so packets sent after that are
 * seen. No sleep decides anything.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;

export function startCli(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let ready: () => void;
  const capturing = new Promise<void>((r) => (ready = r));
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.includes('; Ctrl-C stops\n')) ready();
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      ready();
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, capturing, done };
}

/**
 * One datagram from 127.0.0.2:clientPort, then one from 127.0.0.3:clientPort, to
 * 127.0.0.1:serverPort, each waiting for the server's echo: two peers of one UDP socket, from
 * the same port.
 */
export async function datagramsFromTwoPeers(serverPort: number, clientPort: number): Promise<void> {
  for (const address of ['127.0.0.2', '127.0.0.3']) {
    const u = createSocket('udp4');
    await new Promise<void>((r) => u.bind(clientPort, address, r));
    const reply = new Promise((r) => u.once('message', r));
    u.send('q', serverPort, '127.0.0.1');
    await reply;
    u.close();
  }
}
