/**
 * A QUIC client's ClientHello, read from its Initial packets. Initial packets are encrypted, but
 * with keys anyone can derive from the Destination Connection ID of the client's first Initial
 * (RFC 9001 section 5.2; RFC 9369 section 3.3 for QUIC v2; the drafts 23 to 29 used other salts):
 * so the server name and ALPN a client offers are public, as tshark and Zeek show them.
 *
 * Steps, per datagram from the client: each coalesced long-header packet is split off by its
 * Length; for an Initial, header protection is removed (AES-128-ECB of a 16-byte sample of the
 * ciphertext masks the first byte's low bits and the packet number), the payload is opened with
 * AES-128-GCM (the header as associated data, the IV XOR the packet number as nonce), and its
 * CRYPTO frames are put in place by offset. The ClientHello is read once the bytes from offset 0
 * hold all of it; clients with post-quantum key shares spread it over two or more Initials.
 *
 * Bounded: at most MAX_DATAGRAMS datagrams and MAX_CRYPTO bytes of CRYPTO data per end; a packet
 * that fails to decrypt (another version's keys, damage, a Retry's new connection ID that we did
 * not follow) is skipped. Node's crypto module does the AES and HMAC (OpenSSL underneath).
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';

interface VersionKeys {
  name: string;
  salt: Buffer;
  /** Label prefix of the key, IV and header protection key ('quic' or 'quicv2'). */
  prefix: string;
  /** Long header packet type of Initial (0 in v1 and the drafts, 1 in v2). */
  initialType: number;
}

const V1: VersionKeys = { name: 'v1', salt: Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex'), prefix: 'quic', initialType: 0 };
const V2: VersionKeys = { name: 'v2', salt: Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex'), prefix: 'quicv2', initialType: 1 };
const DRAFT_29_SALT = Buffer.from('afbfec289993d24c9e9786f19c6111e04390a899', 'hex');
const DRAFT_23_SALT = Buffer.from('c3eef712c72ebb5a11a7d2432bb46365bef9f502', 'hex');

const DRAFTS = new Map<number, VersionKeys>();

/** The keys of a version number, or null for one whose Initials cannot be opened here. */
export function versionKeys(version: number): VersionKeys | null {
  if (version === 1) return V1;
  if (version === 0x6b3343cf) return V2;
  if (((version & 0xffffff00) >>> 0) === 0xff000000) {
    const draft = version & 0xff;
    if (draft >= 23 && draft <= 29) {
      let keys = DRAFTS.get(draft);
      if (keys === undefined) DRAFTS.set(draft, keys = { name: `draft-${draft}`, salt: draft === 29 ? DRAFT_29_SALT : DRAFT_23_SALT, prefix: 'quic', initialType: 0 });
      return keys;
    }
  }
  return null;
}

/** HKDF-Expand-Label of TLS 1.3 (RFC 8446 section 7.1) with an empty context, SHA-256, up to 32 bytes. */
function expandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 255, full.length]), full, Buffer.from([0, 1])]);
  // HKDF-Expand's first block: HMAC(secret, info || 0x01), the 0x01 already at info's end.
  return createHmac('sha256', secret).update(info).digest().subarray(0, length);
}

export interface InitialKeys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

/** The client's Initial keys for a version and the Destination Connection ID of its first Initial. */
export function clientKeys(v: VersionKeys, dcid: Uint8Array): InitialKeys {
  const initial = createHmac('sha256', v.salt).update(dcid).digest(); // HKDF-Extract
  const client = expandLabel(initial, 'client in', 32);
  return {
    key: expandLabel(client, `${v.prefix} key`, 16),
    iv: expandLabel(client, `${v.prefix} iv`, 12),
    hp: expandLabel(client, `${v.prefix} hp`, 16),
  };
}

/** A variable-length integer (RFC 9000 section 16) at `p`: [value, next position], or null past `end`. */
function varint(b: Uint8Array, p: number, end: number): [number, number] | null {
  if (p >= end) return null;
  const len = 1 << (b[p]! >> 6);
  if (p + len > end) return null;
  let v = b[p]! & 0x3f;
  for (let i = 1; i < len; i++) v = v * 256 + b[p + i]!;
  return [v, p + len];
}

/** Datagrams of one end looked at, at most. */
const MAX_DATAGRAMS = 12;
/** CRYPTO bytes kept, at most (a ClientHello is rarely over 2 KB; 16 KB is TLS's record limit). */
const MAX_CRYPTO = 16_384;

/**
 * The CRYPTO stream of one client's Initials, put together datagram by datagram. `feed` returns
 * the complete ClientHello handshake message (type, length, body) once the stream holds it.
 */
export class QuicHello {
  readonly version: VersionKeys;
  private keys: InitialKeys | null = null;
  private dcid: Uint8Array | null = null;
  /** Another DCID the client's Initials used (after a Retry), and its keys. */
  private retryDcid: Uint8Array | null = null;
  private retryKeys: InitialKeys | null = null;
  private crypto = new Uint8Array(2048);
  /** Bytes of the stream held, by offset (a byte map: Initials may come out of order). */
  private held = new Uint8Array(2048);
  private datagrams = 0;
  /** False once it has given up (too many datagrams, a stream too long). */
  alive = true;
  /** Some Initial opened with the client's keys. */
  opened = false;
  /** Initial packets seen (a client may send 0-RTT packets first). */
  initials = 0;

  constructor(version: VersionKeys) {
    this.version = version;
  }

  /** One datagram from the client; the ClientHello once complete, else null. */
  feed(b: Uint8Array, start: number, end: number): Uint8Array | null {
    if (!this.alive) return null;
    if (++this.datagrams > MAX_DATAGRAMS) {
      this.alive = false;
      return null;
    }
    let p = start;
    while (p + 7 <= end && (b[p]! & 0x80) !== 0) {
      const next = this.packet(b, p, end);
      if (next <= p) break;
      p = next;
    }
    return this.hello();
  }

  /** One long-header packet at `p`: decrypted and its CRYPTO frames kept when it is an Initial. Returns where it ends. */
  private packet(b: Uint8Array, p: number, end: number): number {
    const first = b[p]!;
    const version = ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
    const type = (first >> 4) & 3;
    const initial = type === this.version.initialType && versionKeys(version) === this.version;
    if (initial) this.initials++;
    let q = p + 5;
    const dcidLen = b[q]!;
    if (dcidLen > 20 || q + 1 + dcidLen >= end) return end;
    const dcid = b.subarray(q + 1, q + 1 + dcidLen);
    q += 1 + dcidLen;
    const scidLen = b[q]!;
    if (scidLen > 20 || q + 1 + scidLen >= end) return end;
    q += 1 + scidLen;
    if (initial) {
      const token = varint(b, q, end);
      if (token === null) return end;
      q = token[1] + token[0];
    } else if (type === 3 && this.version.initialType === 0 || type === 0 && this.version.initialType === 1) {
      return end; // a Retry has no Length: the rest of the datagram
    }
    const length = varint(b, q, end);
    if (length === null) return end;
    const pnOffset = length[1];
    const packetEnd = pnOffset + length[0];
    if (packetEnd > end) return end;
    if (initial) this.open(b, p, pnOffset, packetEnd, dcid);
    return packetEnd;
  }

  private open(b: Uint8Array, p: number, pnOffset: number, packetEnd: number, dcid: Uint8Array): void {
    if (pnOffset + 4 + 16 > packetEnd) return;
    if (this.keys === null || this.dcid === null) {
      this.dcid = dcid.slice();
      this.keys = clientKeys(this.version, this.dcid);
    }
    // The keys of the client's first DCID, as a server derives them; a client that changed its
    // DCID (after a Retry) derives new ones from the new DCID.
    if (this.tryOpen(b, p, pnOffset, packetEnd, this.keys) || sameBytes(dcid, this.dcid)) return;
    if (this.retryDcid === null || !sameBytes(dcid, this.retryDcid)) {
      this.retryDcid = dcid.slice();
      this.retryKeys = clientKeys(this.version, this.retryDcid);
    }
    this.tryOpen(b, p, pnOffset, packetEnd, this.retryKeys!);
  }

  /** Header protection off, the payload opened and its frames read: true when it opened. */
  private tryOpen(b: Uint8Array, p: number, pnOffset: number, packetEnd: number, keys: InitialKeys): boolean {
    const ecb = createCipheriv('aes-128-ecb', keys.hp, null);
    const mask = ecb.update(b.subarray(pnOffset + 4, pnOffset + 20));
    const first = b[p]! ^ (mask[0]! & 0x0f);
    const pnLen = (first & 3) + 1;
    if (pnOffset + pnLen + 16 > packetEnd) return false;
    const header = Buffer.from(b.subarray(p, pnOffset + pnLen));
    header[0] = first;
    let pn = 0;
    for (let i = 0; i < pnLen; i++) {
      const byte = b[pnOffset + i]! ^ mask[1 + i]!;
      header[pnOffset - p + i] = byte;
      pn = pn * 256 + byte;
    }
    // The nonce: the IV XOR the packet number, right-aligned (the truncated number is taken as
    // the full one: a client's first Initials are numbered from 0).
    const nonce = Buffer.from(keys.iv);
    for (let i = 0; i < 4; i++) nonce[11 - i]! ^= (pn / 2 ** (8 * i)) & 255;
    const tagAt = packetEnd - 16;
    let plain: Buffer;
    try {
      const gcm = createDecipheriv('aes-128-gcm', keys.key, nonce);
      gcm.setAAD(header);
      gcm.setAuthTag(b.subarray(tagAt, packetEnd));
      plain = Buffer.concat([gcm.update(b.subarray(pnOffset + pnLen, tagAt)), gcm.final()]);
    } catch {
      return false; // not opened: damaged, or not this client's Initial
    }
    this.opened = true;
    this.frames(plain);
    return true;
  }

  /** The CRYPTO frames of an opened Initial; PADDING, PING, ACK and CONNECTION_CLOSE are stepped over. */
  private frames(f: Buffer): void {
    let p = 0;
    while (p < f.length) {
      const type = f[p]!;
      if (type === 0x00 || type === 0x01) {
        p++;
      } else if (type === 0x02 || type === 0x03) {
        // ACK: largest, delay, range count, first range, then count ranges (gap, length), ECN counts.
        let r = varint(f, p + 1, f.length);
        const fields: number[] = [];
        for (let i = 0; i < 4 && r !== null; i++) {
          fields.push(r[0]);
          r = i < 3 ? varint(f, r[1], f.length) : r;
        }
        if (r === null || fields.length < 4) return;
        let q = r[1];
        for (let i = 0; i < fields[2]! * 2 + (type === 0x03 ? 3 : 0); i++) {
          const v = varint(f, q, f.length);
          if (v === null) return;
          q = v[1];
        }
        p = q;
      } else if (type === 0x06) {
        const offset = varint(f, p + 1, f.length);
        const length = offset && varint(f, offset[1], f.length);
        if (!offset || !length || length[1] + length[0] > f.length) return;
        this.keep(offset[0], f.subarray(length[1], length[1] + length[0]));
        p = length[1] + length[0];
      } else {
        return; // CONNECTION_CLOSE or anything not allowed before the handshake: stop here
      }
    }
  }

  private keep(offset: number, data: Uint8Array): void {
    const stop = offset + data.length;
    if (stop > MAX_CRYPTO) {
      this.alive = false;
      return;
    }
    if (stop > this.crypto.length) {
      let size = this.crypto.length;
      while (size < stop) size *= 2;
      const crypto = new Uint8Array(size);
      crypto.set(this.crypto);
      const held = new Uint8Array(size);
      held.set(this.held);
      this.crypto = crypto;
      this.held = held;
    }
    this.crypto.set(data, offset);
    this.held.fill(1, offset, stop);
  }

  /** The ClientHello once the stream from offset 0 holds all of it. */
  private hello(): Uint8Array | null {
    const h = this.held;
    if (h[0] !== 1 || h[1] !== 1 || h[2] !== 1 || h[3] !== 1) return null;
    const total = 4 + ((this.crypto[1]! << 16) | (this.crypto[2]! << 8) | this.crypto[3]!);
    if (total > MAX_CRYPTO) {
      this.alive = false;
      return null;
    }
    for (let i = 4; i < total; i++) if (h[i] !== 1) return null;
    return this.crypto.subarray(0, total);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
