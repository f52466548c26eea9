/**
 * What a connection speaks, from the first bytes each end sends, on any port: HTTP/1.x, HTTP/2
 * with prior knowledge, TLS (ClientHello: server name, ALPN; ServerHello: the version chosen),
 * SSH (the banners), DNS over UDP or TCP (the question, the answer's rcode) and QUIC (its
 * version). `service` uses Zeek's names (http, ssl, ssh, dns, quic; http2), and each end gives a
 * short text for the flow's `summary`.
 *
 * Only an end's first payload is read (the demux engine calls `sniff` once per end), and only up
 * to SNIFF_BYTES of it; every read is bounds-checked. The texts come from packet bytes, so they
 * are cut to TEXT_MAX characters and hold only printable ASCII other than `"` and `\` (the rest
 * becomes `?`): they go into JSON, CSV and conn.log without further escaping, and cannot drive a
 * terminal.
 */

import { QuicHello, versionKeys } from './quic-initial.js';

export type Service = 'http' | 'http2' | 'ssl' | 'ssh' | 'dns' | 'quic';

export interface Sniffed {
  service: Service;
  /** A request or answer in a few words: `GET example.com/index.html`, `200`, `sni=example.com`. */
  text: string;
  /**
   * Set when the first payload did not hold all of it (a TLS hello over several TCP segments, a
   * QUIC ClientHello over several Initials): the end's next payloads go to `more`.
   */
  more?: MoreToRead;
}

/** What reads an end's next payloads, until it has the whole hello or gives up. */
export interface MoreToRead {
  /**
   * The end's next payload, `bytes[start, end)`; `seq`: its TCP sequence number, or null for UDP
   * or a payload the capture cut short. What the end says now (with `more` while still
   * incomplete), or null once it gives up (what it said before stands).
   */
  read(bytes: Uint8Array, start: number, end: number, seq: number | null): Sniffed | null;
}

/** How much of a payload is looked at (a TLS or QUIC hello: its whole handshake message, up to TLS_MAX). */
const SNIFF_BYTES = 2048;
/** The longest TLS hello put together from several TCP segments (TLS's record limit). */
const TLS_MAX = 16_384;
/** TCP segments of one end read for a hello at most, the first one included. */
const TLS_SEGMENTS = 8;
/** The longest text one end gives. */
const TEXT_MAX = 120;

/** Printable ASCII except `"` and `\`, cut to TEXT_MAX; anything else is `?`. */
export function safeSummaryText(s: string): string {
  // Most texts are safe as they are: kept without a copy.
  let i = 0;
  while (i < s.length && i < TEXT_MAX) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) break;
    i++;
  }
  if (i === s.length) return s;
  let out = '';
  for (let i = 0; i < s.length && out.length < TEXT_MAX; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c ? s[i] : '?';
  }
  return s.length > TEXT_MAX ? `${out}...` : out;
}

/** Bytes as a string of the same char codes (one call for the whole run: no string per byte). */
function ascii(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let at = start; at < end; at += 4096) s += String.fromCharCode.apply(null, b.subarray(at, Math.min(end, at + 4096)) as unknown as number[]);
  return s;
}

/**
 * An end's text put together as bytes and made a string once (textDone): the words of a request
 * or a hello would otherwise each become a string, be joined, then be copied again to be made
 * safe. Bytes go in as safeSummaryText would leave them (`?` for the unsafe ones), and only the
 * first TEXT_MAX + 1: safe() then cuts the text where safeSummaryText cuts the whole.
 */
const textBuf = Buffer.allocUnsafe(TEXT_MAX + 1);
let textLength = 0;

function textByte(c: number): void {
  if (textLength <= TEXT_MAX) textBuf[textLength++] = c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c ? 0x3f : c;
}

function textBytes(b: Uint8Array, start: number, end: number): void {
  for (let i = start; i < end && textLength <= TEXT_MAX; i++) textByte(b[i]!);
}

/** An ASCII word. */
function textWord(w: string): void {
  for (let i = 0; i < w.length && textLength <= TEXT_MAX; i++) textByte(w.charCodeAt(i));
}

/** The text put together since the last textDone, as a string. */
function textDone(): string {
  const n = textLength;
  textLength = 0;
  return textBuf.toString('latin1', 0, n);
}

/** Where the line at `start` ends (its LF), or -1 when none ends within `end`. */
function lineEnd(b: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (b[i] === 0x0a) return i;
  return -1;
}

/** `Host:` (any case) at `p`. */
function isHostHeader(b: Uint8Array, p: number, end: number): boolean {
  return p + 5 <= end && (b[p]! | 0x20) === 0x68 && (b[p + 1]! | 0x20) === 0x6f && (b[p + 2]! | 0x20) === 0x73 && (b[p + 3]! | 0x20) === 0x74 && b[p + 4] === 0x3a;
}

/** The line starting at `start` (without its CR LF), or null when none ends within `end`. */
function lineAt(b: Uint8Array, start: number, end: number): string | null {
  for (let i = start; i < end; i++) if (b[i] === 0x0a) return ascii(b, start, i > start && b[i - 1] === 0x0d ? i - 1 : i);
  return null;
}

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'PROPFIND'];

/** `bytes[at..]` begins with `word` (ASCII). */
function startsWith(b: Uint8Array, at: number, end: number, word: string): boolean {
  if (at + word.length > end) return false;
  for (let i = 0; i < word.length; i++) if (b[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

/** White space as a regular expression's `\s` matches it in a string of these bytes' char codes. */
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;

/** The method at `start`, followed by a space, or undefined. */
function httpMethod(b: Uint8Array, start: number, stop: number): string | undefined {
  for (let i = 0; i < HTTP_METHODS.length; i++) {
    const m = HTTP_METHODS[i]!;
    if (startsWith(b, start, stop, m) && b[start + m.length] === 0x20) return m;
  }
  return undefined;
}

/** Status codes' texts, by number, made once each. */
const statusTexts: string[] = [];

/**
 * HTTP/1.x: a request line (`METHOD TARGET HTTP/1.x`) or a status line (`HTTP/1.x NNN ...`),
 * read as bytes: only the words kept become strings.
 */
function http(b: Uint8Array, start: number, end: number): Sniffed | null {
  const eol = lineEnd(b, start, end);
  if (eol < 0) return null;
  const stop = eol > start && b[eol - 1] === 0x0d ? eol - 1 : eol;
  if (startsWith(b, start, stop, 'HTTP/1.') && (b[start + 7] === 0x30 || b[start + 7] === 0x31) && b[start + 8] === 0x20) {
    const c = start + 9;
    if (!isDigit(b[c]) || !isDigit(b[c + 1]) || !isDigit(b[c + 2]) || (c + 3 < stop && b[c + 3] !== 0x20)) return null;
    const code = (b[c]! - 0x30) * 100 + (b[c + 1]! - 0x30) * 10 + (b[c + 2]! - 0x30);
    return { service: 'http', text: statusTexts[code] ??= ascii(b, c, c + 3) };
  }
  const method = httpMethod(b, start, stop);
  if (method === undefined) return null;
  // TARGET: no white space (other bytes are kept, made safe later); then ` HTTP/1.0` or
  // ` HTTP/1.1` ends the line.
  const from = start + method.length + 1;
  let to = from;
  while (to < stop && b[to] !== 0x20 && (b[to]! < 0x09 || b[to]! > 0x0d)) to++;
  if (to === from || to + 9 !== stop || !startsWith(b, to, stop, ' HTTP/1.') || (b[to + 8] !== 0x30 && b[to + 8] !== 0x31)) return null;
  // The Host header, when it is within the bytes looked at: lines are scanned as bytes, its value
  // (`host:`, white space, then what is not) found in place.
  let hostFrom = 0;
  let hostTo = 0;
  let at = eol + 1;
  for (let n = 0; n < 50 && at < end; n++) {
    const stop = lineEnd(b, at, end);
    if (stop < 0 || stop === at || (stop === at + 1 && b[at] === 0x0d)) break;
    if (isHostHeader(b, at, stop)) {
      const lineStop = b[stop - 1] === 0x0d ? stop - 1 : stop;
      let p = at + 5;
      while (p < lineStop && isSpace(b[p]!)) p++;
      let q = p;
      while (q < lineStop && !isSpace(b[q]!)) q++;
      hostFrom = p;
      hostTo = q;
      break;
    }
    at = stop + 1;
  }
  // `METHOD HOST/TARGET`: the host only before a path.
  textWord(method);
  textByte(0x20);
  if (hostTo > hostFrom && b[from] === 0x2f) textBytes(b, hostFrom, hostTo);
  textBytes(b, from, to);
  return { service: 'http', text: textDone() };
}

const TLS_VERSIONS: Record<number, string> = { 0x0300: 'ssl3', 0x0301: 'tls1.0', 0x0302: 'tls1.1', 0x0303: 'tls1.2', 0x0304: 'tls1.3' };

/** A TLS record with a ClientHello or ServerHello at `start`. */
function tls(b: Uint8Array, start: number, end: number): Sniffed | null {
  if (end - start < 9 || b[start] !== 0x16 || b[start + 1] !== 3 || b[start + 2]! > 4) return null;
  return tlsHello(b, start + 5, end);
}

/**
 * A TLS ClientHello or ServerHello handshake message at `start` (its type, 3-byte length, body),
 * as a TLS record carries it or QUIC's CRYPTO frames.
 */
export function tlsHello(b: Uint8Array, start: number, end: number): Sniffed | null {
  if (end - start < 4) return null;
  const type = b[start];
  if (type !== 1 && type !== 2) return null;
  const hsEnd = Math.min(end, start + 4 + ((b[start + 1]! << 16) | (b[start + 2]! << 8) | b[start + 3]!));
  let p = start + 4;
  if (p + 34 > hsEnd) return { service: 'ssl', text: type === 1 ? 'client hello' : 'server hello' };
  const legacy = (b[p]! << 8) | b[p + 1]!;
  p += 34; // version, random
  p += 1 + b[p]!; // session id
  if (type === 1) {
    if (p + 2 > hsEnd) return { service: 'ssl', text: 'client hello' };
    p += 2 + ((b[p]! << 8) | b[p + 1]!); // cipher suites
    if (p + 1 > hsEnd) return { service: 'ssl', text: 'client hello' };
    p += 1 + b[p]!; // compression methods
  } else {
    p += 3; // cipher suite, compression method
  }
  // The last server name and ALPN list seen: their bytes' places (the text is made at the end).
  let sniFrom = 0;
  let sniTo = 0;
  let alpnFrom = 0;
  let alpnEnd = 0;
  let chosen = legacy;
  if (p + 2 <= hsEnd) {
    const extEnd = Math.min(hsEnd, p + 2 + ((b[p]! << 8) | b[p + 1]!));
    p += 2;
    while (p + 4 <= extEnd) {
      const ext = (b[p]! << 8) | b[p + 1]!;
      const len = (b[p + 2]! << 8) | b[p + 3]!;
      const body = p + 4;
      const bodyEnd = Math.min(extEnd, body + len);
      if (type === 1 && ext === 0 && body + 5 <= bodyEnd && b[body + 2] === 0) {
        sniFrom = body + 5;
        sniTo = Math.min(bodyEnd, body + 5 + ((b[body + 3]! << 8) | b[body + 4]!));
      } else if (type === 1 && ext === 16 && body + 2 <= bodyEnd) {
        alpnFrom = body + 2;
        alpnEnd = bodyEnd;
      } else if (type === 2 && ext === 43 && body + 2 <= bodyEnd) {
        chosen = (b[body]! << 8) | b[body + 1]!;
      }
      p = body + len;
    }
  }
  if (type === 2) return { service: 'ssl', text: TLS_VERSIONS[chosen] ?? `version 0x${chosen.toString(16)}` };
  // `sni=NAME alpn=P1,P2`, either word only when there is one (an ALPN list of one empty name counts).
  if (sniTo > sniFrom) {
    textWord('sni=');
    textBytes(b, sniFrom, sniTo);
  }
  if (alpnFrom < alpnEnd && alpnFrom + 1 + b[alpnFrom]! <= alpnEnd) {
    if (sniTo > sniFrom) textByte(0x20);
    textWord('alpn=');
    for (let q = alpnFrom; q < alpnEnd && q + 1 + b[q]! <= alpnEnd; q += 1 + b[q]!) {
      if (q > alpnFrom) textByte(0x2c);
      textBytes(b, q + 1, q + 1 + b[q]!);
    }
  }
  return { service: 'ssl', text: textLength > 0 ? textDone() : 'client hello' };
}

const DNS_TYPES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR', 43: 'DS', 46: 'RRSIG',
  47: 'NSEC', 48: 'DNSKEY', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY',
};
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

/** A DNS message at `start` with one plausible question (name labels, type, class). */
function dns(b: Uint8Array, start: number, end: number): Sniffed | null {
  if (end - start < 17) return null;
  const flags = (b[start + 2]! << 8) | b[start + 3]!;
  const opcode = (flags >> 11) & 15;
  const qd = (b[start + 4]! << 8) | b[start + 5]!;
  if (opcode > 5 || qd !== 1) return null;
  for (let o = 6; o <= 10; o += 2) if (((b[start + o]! << 8) | b[start + o + 1]!) > 200) return null;
  // The question's name: labels of printable ASCII, 253 characters at most; a string only at the end.
  let p = start + 12;
  let nameLength = -1;
  for (;;) {
    if (p >= end) return null;
    const len = b[p]!;
    if (len === 0) break;
    if (len > 63 || p + 1 + len > end) return null;
    for (let i = p + 1; i <= p + len; i++) if (b[i]! < 0x21 || b[i]! > 0x7e) return null;
    nameLength += 1 + len;
    if (nameLength > 253) return null;
    p += 1 + len;
  }
  if (p + 5 > end) return null;
  const qtype = (b[p + 1]! << 8) | b[p + 2]!;
  const qclass = ((b[p + 3]! << 8) | b[p + 4]!) & 0x7fff; // mDNS sets the top bit (unicast answer)
  if (qclass !== 1 && qclass !== 3 && qclass !== 4 && qclass !== 255) return null;
  if ((flags & 0x8000) !== 0) return { service: 'dns', text: RCODES[flags & 15] ?? `rcode ${flags & 15}` };
  // `TYPE NAME`: the labels joined by dots, the root `.`.
  textWord(DNS_TYPES[qtype] ?? `TYPE${qtype}`);
  textByte(0x20);
  if (b[start + 12] === 0) textByte(0x2e);
  for (let q = start + 12; b[q] !== 0; q += 1 + b[q]!) {
    if (q > start + 12) textByte(0x2e);
    textBytes(b, q + 1, q + 1 + b[q]!);
  }
  return { service: 'dns', text: textDone() };
}

/** QUIC long header (Initial, Handshake...) with a known version. */
function quic(b: Uint8Array, start: number, end: number): Sniffed | null {
  if (end - start < 7 || (b[start]! & 0xc0) !== 0xc0) return null;
  const v = ((b[start + 1]! << 24) | (b[start + 2]! << 16) | (b[start + 3]! << 8) | b[start + 4]!) >>> 0;
  const name = v === 1 ? 'v1' : v === 0x6b3343cf ? 'v2' : ((v & 0xffffff00) >>> 0) === 0xff000000 ? `draft-${v & 0xff}` : null;
  if (name === null || b[start + 5]! > 20) return null;
  return { service: 'quic', text: `quic ${name}` };
}

/**
 * A TLS hello whose record goes on in the end's next TCP segments: the bytes are kept (up to
 * TLS_MAX) and the hello read again as each segment in sequence adds to them; a segment out of
 * order or cut by the capture ends it (what was read stands). Retransmitted bytes are skipped.
 */
class TlsHello implements MoreToRead {
  private buf: Uint8Array;
  private have: number;
  private segments = 1;

  constructor(first: Uint8Array, private readonly need: number, private nextSeq: number) {
    this.buf = first.slice();
    this.have = first.length;
  }

  read(bytes: Uint8Array, start: number, end: number, seq: number | null): Sniffed | null {
    if (seq === null || ++this.segments > TLS_SEGMENTS) return null;
    const skip = (this.nextSeq - seq) >>> 0; // bytes already held (a retransmission), mod 2^32
    if (skip > 0x7fffffff) return null; // a hole: a segment before it is missing
    const take = Math.max(0, Math.min(end - start - skip, this.need - this.have));
    if (take > 0) {
      if (this.have + take > this.buf.length) {
        const buf = new Uint8Array(Math.min(this.need, Math.max(this.have + take, this.buf.length * 2)));
        buf.set(this.buf.subarray(0, this.have));
        this.buf = buf;
      }
      this.buf.set(bytes.subarray(start + skip, start + skip + take), this.have);
      this.have += take;
      this.nextSeq = (this.nextSeq + skip + take) >>> 0;
    }
    const found = tls(this.buf, 0, this.have);
    if (found === null) return null;
    if (this.have < this.need) found.more = this;
    return found;
  }
}

/** A QUIC client's Initials, read until their CRYPTO frames hold the ClientHello. */
class QuicInitials implements MoreToRead {
  constructor(private readonly hello: QuicHello) {}

  read(bytes: Uint8Array, start: number, end: number): Sniffed | null {
    const ch = this.hello.feed(bytes, start, end);
    if (ch !== null) return quicSaid(this.hello, ch);
    return this.hello.alive ? { service: 'quic', text: `quic ${this.hello.version.name}`, more: this } : null;
  }
}

function quicSaid(hello: QuicHello, ch: Uint8Array): Sniffed {
  const said = tlsHello(ch, 0, ch.length);
  const words = said !== null && said.text !== 'client hello' ? ` ${said.text}` : '';
  return { service: 'quic', text: `quic ${hello.version.name}${words}` };
}

/** A client's first QUIC datagram: its ClientHello when the Initials open, else its version. */
function quicClient(b: Uint8Array, start: number, end: number, found: Sniffed): Sniffed {
  const v = versionKeys(((b[start + 1]! << 24) | (b[start + 2]! << 16) | (b[start + 3]! << 8) | b[start + 4]!) >>> 0);
  if (v === null) return found;
  const hello = new QuicHello(v);
  const ch = hello.feed(b, start, end);
  if (ch !== null) return quicSaid(hello, ch);
  // Go on when this datagram's Initial opened with the client's keys (a server's does not), or
  // when it had none (0-RTT packets may come first).
  return hello.alive && (hello.opened || hello.initials === 0) ? { ...found, more: new QuicInitials(hello) } : found;
}

/** A TLS record at `start` whose hello needs more bytes than this payload holds: how many, else 0. */
function tlsNeeds(b: Uint8Array, start: number, end: number): number {
  if (end - start < 9 || b[start] !== 0x16 || b[start + 1] !== 3 || b[start + 2]! > 4) return 0;
  const record = 5 + ((b[start + 3]! << 8) | b[start + 4]!);
  const hello = 9 + ((b[start + 6]! << 16) | (b[start + 7]! << 8) | b[start + 8]!);
  const need = Math.min(record, hello, TLS_MAX);
  return need > end - start ? need : 0;
}

/**
 * The first payload of one end, `bytes[start, end)` as captured: what it speaks, or null. `tcp`:
 * DNS over TCP has a 2-byte length first. `seq`: the segment's TCP sequence number when its
 * payload is all captured (a TLS hello may go on in the next segments), else null.
 */
export function sniff(bytes: Uint8Array, start: number, end: number, tcp: boolean, seq: number | null = null): Sniffed | null {
  end = Math.min(end, bytes.length);
  const stop = Math.min(end, start + SNIFF_BYTES);
  if (stop - start < 4) return null;
  const c = bytes[start]!;
  let found: Sniffed | null = null;
  if (c === 0x16) {
    // A hello is read whole: its server name may come after a large key share.
    found = tls(bytes, start, Math.min(end, start + 5 + TLS_MAX));
    const need = found !== null && tcp && seq !== null ? tlsNeeds(bytes, start, end) : 0;
    if (found !== null && need > 0) found.more = new TlsHello(bytes.subarray(start, end), need, (seq! + end - start) >>> 0);
  } else if (c === 0x53 && startsWith(bytes, start, stop, 'SSH-')) {
    const line = lineAt(bytes, start, stop);
    if (line !== null && /^SSH-\d\.\d+-/.test(line)) found = { service: 'ssh', text: line };
  } else if (c === 0x50 && startsWith(bytes, start, stop, 'PRI * HTTP/2.0')) {
    found = { service: 'http2', text: 'prior knowledge' };
  } else if (c >= 0x41 && c <= 0x5a) found = http(bytes, start, stop);
  if (found === null) {
    // DNS over TCP: a 2-byte length first, which must hold at least a header and a question.
    if (tcp) found = ((bytes[start]! << 8) | bytes[start + 1]!) >= 17 ? dns(bytes, start + 2, stop) : null;
    else {
      found = quic(bytes, start, stop);
      found = found !== null ? quicClient(bytes, start, end, found) : dns(bytes, start, stop);
    }
  }
  return found === null ? null : safe(found);
}

/** An end's next payload to the reader its first one left (Sniffed.more), the text made safe as sniff's. */
export function sniffMore(more: MoreToRead, bytes: Uint8Array, start: number, end: number, seq: number | null): Sniffed | null {
  const said = more.read(bytes, start, end, seq);
  return said === null ? null : safe(said);
}

/** The Sniffed (a new one, made by the readers above) with its text made safe to print (safeSummaryText). */
function safe(found: Sniffed): Sniffed {
  found.text = safeSummaryText(found.text);
  return found;
}
