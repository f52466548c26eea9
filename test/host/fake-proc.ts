/**
 * A /proc tree in a temporary directory for ProcessMap tests: real files in the kernel's
 * /proc/net format (as a little-endian host prints them), real `PID/fd/N` symlinks to
 * `socket:[inode]` and `PID/comm` files.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Writing /proc/net lines as the kernel does on a little-endian host (the inverse of the parser,
// written separately: each 32-bit word's bytes reversed, %08X; port %04X).

export function hexAddress(ip: string, port: number): string {
  let bytes: number[];
  if (ip.includes(':')) {
    const [head, tail] = ip.split('::') as [string, string | undefined];
    const h = head === '' ? [] : head.split(':');
    let t = tail === undefined || tail === '' ? [] : tail.split(':');
    const last = t[t.length - 1];
    if (last !== undefined && last.includes('.')) {
      // A trailing dotted quad (::ffff:127.0.0.1) is the last two groups.
      const q = last.split('.').map(Number) as [number, number, number, number];
      t = [...t.slice(0, -1), ((q[0] << 8) | q[1]).toString(16), ((q[2] << 8) | q[3]).toString(16)];
    }
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
    bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  } else bytes = ip.split('.').map(Number);
  let out = '';
  for (let w = 0; w < bytes.length; w += 4) {
    out += bytes.slice(w, w + 4).reverse().map((b) => b.toString(16).padStart(2, '0')).join('').toUpperCase();
  }
  return `${out}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}

export interface Sock {
  local: [string, number];
  remote: [string, number];
  state: number;
  inode: number;
}

export function table(socks: Sock[]): string {
  const head = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  return head + socks.map((s, i) =>
    `${String(i).padStart(4)}: ${hexAddress(...s.local)} ${hexAddress(...s.remote)} ${s.state.toString(16).padStart(2, '0').toUpperCase()} `
    + `00000000:00000000 00:00000000 00000000     0        0 ${s.inode} 1 0000000000000000 20 0 0 10 -1\n`).join('');
}

export class FakeProc {
  readonly root = mkdtempSync(join(tmpdir(), 'flowdemux-proc-'));
  constructor() {
    mkdirSync(join(this.root, 'net'));
    this.net({});
  }

  net(t: { tcp?: Sock[]; tcp6?: Sock[]; udp?: Sock[]; udp6?: Sock[] }): void {
    for (const f of ['tcp', 'tcp6', 'udp', 'udp6'] as const) writeFileSync(join(this.root, 'net', f), table(t[f] ?? []));
  }

  /** A process; `startTime` is field 22 of its stat (clock ticks after boot: a child's is later). */
  process(pid: number, comm: string, fds: Record<number, number | string>, startTime = pid): void {
    const dir = join(this.root, String(pid));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'fd'), { recursive: true });
    writeFileSync(join(dir, 'comm'), `${comm}\n`);
    // Fields 3..21 as zeros, then the start time (the name in parentheses may hold spaces).
    writeFileSync(join(dir, 'stat'), `${pid} (${comm}) S ${Array(18).fill(0).join(' ')} ${startTime} 0 0\n`);
    for (const [fd, target] of Object.entries(fds)) {
      symlinkSync(typeof target === 'number' ? `socket:[${target}]` : target, join(dir, 'fd', fd));
    }
  }

  exit(pid: number): void {
    rmSync(join(this.root, String(pid)), { recursive: true, force: true });
  }

  close(fd: number, pid: number): void {
    unlinkSync(join(this.root, String(pid), 'fd', String(fd)));
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
