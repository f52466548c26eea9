/**
 * `follow`'s output: a connection's two byte streams (demux/stream.ts) as text, a hex dump or
 * raw bytes. In text and hex each run of bytes from one end is a chunk with a header line
 * (`==>` the client's, `<==` the server's, and how many bytes), in the order they became
 * readable, as tshark's `-z follow` lays them out; what the capture did not hold is a line of its
 * own. Text shows printable ASCII, tabs and line ends; every other byte (control characters,
 * escape sequences, anything past 0x7e) is written as \xNN, so a capture cannot drive a terminal.
 */
import type { StreamSink } from '../demux/stream.js';

export type FollowFormat = 'text' | 'hex' | 'raw';

/** Which ends' bytes are written. */
export type FollowDirection = 'both' | 'to-server' | 'to-client';

const HEX = '0123456789abcdef';

/** A byte as text: itself when printable ASCII, else \xNN (so nothing reaches a terminal raw). */
function textOf(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x0d && bytes[i + 1] === 0x0a) continue; // CR LF: one line end
    if ((b >= 0x20 && b <= 0x7e) || b === 0x0a || b === 0x09) out += String.fromCharCode(b);
    else out += `\\x${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

/** A hex dump of `bytes`, offsets counted from `base` (the direction's stream offset). */
function hexOf(bytes: Uint8Array, base: number): string {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const row = bytes.subarray(at, at + 16);
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      if (i < row.length) {
        const b = row[i]!;
        hex += `${HEX[b >> 4]}${HEX[b & 15]} `;
        ascii += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : '.';
      } else hex += '   ';
      if (i === 7) hex += ' ';
    }
    lines.push(`${(base + at).toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  return lines.join('\n');
}

const wanted = (direction: FollowDirection, toServer: boolean) => direction === 'both' || (direction === 'to-server') === toServer;
const plural = (n: number) => `${n} byte${n === 1 ? '' : 's'}`;
const arrow = (toServer: boolean) => (toServer ? '==>' : '<==');

/**
 * A StreamSink that writes text or hex chunks through `write`: consecutive bytes of one end are
 * one chunk, written when the other end speaks, a gap comes, or `end` is called.
 */
export class FollowWriter implements StreamSink {
  private pending: Uint8Array[] = [];
  private pendingLength = 0;
  private pendingToServer = true;
  /** Bytes given so far per direction (the hex dump's offsets): [to server, to client]. */
  readonly offsets = [0, 0];
  /** Bytes the capture did not hold, per direction. */
  readonly missing = [0, 0];

  constructor(
    private readonly format: 'text' | 'hex', private readonly direction: FollowDirection, private readonly write: (text: string) => void,
  ) {}

  data(toServer: boolean, bytes: Uint8Array): void {
    if (!wanted(this.direction, toServer)) return;
    if (this.pendingLength > 0 && toServer !== this.pendingToServer) this.flush();
    this.pendingToServer = toServer;
    this.pending.push(bytes.slice());
    this.pendingLength += bytes.length;
  }

  gap(toServer: boolean, length: number): void {
    if (!wanted(this.direction, toServer)) return;
    this.flush();
    this.missing[toServer ? 0 : 1]! += length;
    this.offsets[toServer ? 0 : 1]! += length;
    this.write(`${arrow(toServer)} [${plural(length)} not captured]\n`);
  }

  end(): void {
    this.flush();
  }

  private flush(): void {
    if (this.pendingLength === 0) return;
    const bytes = new Uint8Array(this.pendingLength);
    let at = 0;
    for (const p of this.pending) {
      bytes.set(p, at);
      at += p.length;
    }
    const d = this.pendingToServer ? 0 : 1;
    const body = this.format === 'hex' ? hexOf(bytes, this.offsets[d]!) : textOf(bytes);
    this.write(`${arrow(this.pendingToServer)} ${plural(bytes.length)}\n${body}${body.endsWith('\n') ? '' : '\n'}`);
    this.offsets[d]! += bytes.length;
    this.pending = [];
    this.pendingLength = 0;
  }
}

/**
 * A StreamSink for `raw`: the bytes of the chosen direction(s), as they are (`write` gets a view,
 * valid during the call); gaps only counted.
 */
export class RawFollowWriter implements StreamSink {
  readonly missing = [0, 0];

  constructor(private readonly direction: FollowDirection, private readonly write: (bytes: Uint8Array) => void) {}

  data(toServer: boolean, bytes: Uint8Array): void {
    if (wanted(this.direction, toServer)) this.write(bytes);
  }

  gap(toServer: boolean, length: number): void {
    if (wanted(this.direction, toServer)) this.missing[toServer ? 0 : 1]! += length;
  }
}
