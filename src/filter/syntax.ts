/**
 * The pcap-filter(7) expression language, the part of it that can be answered from a decoded
 * packet: text into a small tree (`FilterNode`), or a `FilterError` that says where and what.
 *
 * The grammar follows pcap-filter(7) and libpcap's parser where they speak:
 * - `not`/`!` binds tightest; `and`/`&&` and `or`/`||` have EQUAL precedence and group from the
 *   left (`a or b and c` is `(a or b) and c`), as the man page says and `tcpdump -d` shows;
 * - a primitive is `[proto] [dir] [type] id`: proto `ip`, `ip6`, `tcp`, `udp`, `sctp`; dir `src`,
 *   `dst`, `src or dst`, `src and dst`; type `host`, `net`, `port`, `portrange`;
 * - a value without keywords repeats the qualifiers of the primitive before it
 *   (`port 80 or 443`, `not host a and b` = `not host a and host b`);
 * - keywords are lowercase, as libpcap has them (`TCP` is refused, with a hint);
 * - the words libpcap knows but a decoded packet cannot answer (link addresses, lengths, byte
 *   offsets, names to resolve) are refused here, by name, rather than read as something else.
 */
import { tryParseAddress } from '../parse/format.js';

export type Direction = 'src' | 'dst' | 'src or dst' | 'src and dst';

/** Protocol words that stand alone as a primitive (`tcp`) or qualify one (`tcp port 80`). */
export type ProtoWord = 'ip' | 'ip6' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmp6';

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'proto'; proto: ProtoWord }
  /** `index`: which `vlan` of the expression this is, from the left (0 = the outermost tag). */
  | { kind: 'vlan'; id: number | null; index: number }
  /** `host` is a net with a full-length prefix. `addr` has its host bits cleared. */
  | { kind: 'net'; dir: Direction; addr: Uint8Array; prefix: number }
  | { kind: 'port'; dir: Direction; proto: 'tcp' | 'udp' | 'sctp' | null; low: number; high: number };

/** A filter that cannot be compiled: `at` is the 0-based character offset of the part named. */
export class FilterError extends Error {
  override name = 'FilterError';
  constructor(message: string, readonly at: number) {
    super(message);
  }
}

interface Token {
  text: string;
  at: number;
  /** A character libpcap knows but a file filter does not take: the message when it is reached. */
  refused?: string;
}

const PROTO_QUALIFIERS = new Set(['ip', 'ip6', 'tcp', 'udp', 'sctp']);
const TYPES = new Set(['host', 'net', 'port', 'portrange']);

/**
 * libpcap words a file filter does not evaluate, with what they are about, so that the refusal
 * names the feature rather than saying "syntax error".
 */
const UNSUPPORTED: Record<string, string> = {
  ether: 'link-layer (MAC) addresses', fddi: 'link-layer (MAC) addresses', tr: 'link-layer (MAC) addresses',
  wlan: 'link-layer (MAC) addresses', ra: '802.11 addresses', ta: '802.11 addresses', addr1: '802.11 addresses',
  addr2: '802.11 addresses', addr3: '802.11 addresses', addr4: '802.11 addresses', type: '802.11 frame types',
  subtype: '802.11 frame types', dir: '802.11 directions', gateway: 'gateway tests, which need name resolution',
  broadcast: 'broadcast tests', multicast: 'multicast tests', less: 'packet lengths', greater: 'packet lengths',
  len: 'packet lengths', proto: 'protocol numbers', protochain: 'protocol chains', arp: 'ARP', rarp: 'RARP',
  decnet: 'DECnet', atalk: 'AppleTalk', aarp: 'AppleTalk', ipx: 'IPX', iso: 'OSI', esis: 'OSI', isis: 'OSI',
  clnp: 'OSI', stp: 'spanning tree', netbeui: 'NetBEUI', lat: 'DEC LAT', sca: 'DEC', moprc: 'DEC', mopdl: 'DEC',
  llc: 'LLC headers', ah: 'IPsec', esp: 'IPsec', pim: 'PIM', vrrp: 'VRRP', carp: 'CARP', igmp: 'IGMP',
  igrp: 'IGRP', mpls: 'MPLS labels', pppoed: 'PPPoE', pppoes: 'PPPoE', geneve: 'Geneve headers',
  vxlan: 'VXLAN headers', inbound: 'capture direction', outbound: 'capture direction', ifname: 'pflog fields',
  on: 'pflog fields', rnr: 'pflog fields', rulenum: 'pflog fields', reason: 'pflog fields', rset: 'pflog fields',
  ruleset: 'pflog fields', srnr: 'pflog fields', subrulenum: 'pflog fields', action: 'pflog fields',
  hdpr: 'other link layers', slip: 'other link layers', link: 'link-layer fields', atm: 'ATM', lane: 'ATM',
  oam: 'ATM', oamf4: 'ATM', metac: 'ATM', bcc: 'ATM', sc: 'ATM', ilmic: 'ATM', connectmsg: 'ATM',
  metaconnect: 'ATM', vpi: 'ATM', vci: 'ATM', fisu: 'SS7', lssu: 'SS7', msu: 'SS7', sio: 'SS7', opc: 'SS7',
  dpc: 'SS7', sls: 'SS7', icmptype: 'ICMP fields', icmpcode: 'ICMP fields', 'tcpflags': 'TCP flags',
  'tcp-fin': 'TCP flags', 'tcp-syn': 'TCP flags', 'tcp-rst': 'TCP flags', 'tcp-push': 'TCP flags',
  'tcp-ack': 'TCP flags', 'tcp-urg': 'TCP flags',
};

/** Every word the parser knows, for the hint that keywords are lowercase (as libpcap has them). */
const KEYWORDS = new Set([...PROTO_QUALIFIERS, ...TYPES, 'icmp', 'icmp6', 'vlan', 'src', 'dst', 'and', 'or', 'not', 'mask', ...Object.keys(UNSUPPORTED)]);

const SUPPORTED_LIST = 'host, net, port, portrange, src, dst, ip, ip6, tcp, udp, sctp, icmp, icmp6, vlan, and, or, not, ( )';

/** Characters of a word: addresses (v4, v6, CIDR), numbers, port ranges, keywords. */
const WORD = /[A-Za-z0-9_.:\/-]/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === '&&' || two === '||') {
      tokens.push({ text: two, at: i });
      i += 2;
      continue;
    }
    // Refused when the parser reaches them, so that a word before them ('len >') is named first.
    if (two === '!=') {
      tokens.push({ text: two, at: i, refused: `'!=' (comparisons of header fields) is not supported on files` });
      i += 2;
      continue;
    }
    if (c === '(' || c === ')' || c === '!') {
      tokens.push({ text: c, at: i });
      i++;
      continue;
    }
    let refused: string | undefined;
    if (c === '[' || c === ']') refused = "byte offsets ('proto[offset]') are not supported on files";
    else if (c === '\\') refused = "escaped names ('\\tcp') are not supported on files";
    else if ('<>=&|+*%^'.includes(c)) refused = `'${c}' (arithmetic and comparisons of header fields) is not supported on files`;
    if (refused !== undefined) {
      tokens.push({ text: c, at: i, refused });
      i++;
      continue;
    }
    if (!WORD.test(c)) throw new FilterError(`unexpected character '${c}'`, i);
    const start = i;
    while (i < text.length && WORD.test(text[i]!)) i++;
    tokens.push({ text: text.slice(start, i), at: start });
  }
  return tokens;
}

/** Qualifiers a bare value repeats (`port 80 or 443`). */
interface Qualifiers {
  proto: 'ip' | 'ip6' | 'tcp' | 'udp' | 'sctp' | null;
  dir: Direction | null;
  type: 'host' | 'net' | 'port' | 'portrange' | null;
}

const isAnd = (t: string | undefined) => t === 'and' || t === '&&';
const isOr = (t: string | undefined) => t === 'or' || t === '||';
const isNot = (t: string | undefined) => t === 'not' || t === '!';

/** Parses `text` into a tree, or throws FilterError. An empty expression is an error too. */
export function parseFilter(text: string): FilterNode {
  return new Parser(text).parse();
}

class Parser {
  private readonly tokens: Token[];
  private pos = 0;
  /** The qualifiers of the last primitive with a value; null after one a value cannot follow. */
  private last: Qualifiers | null = null;
  private vlans = 0;

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  parse(): FilterNode {
    if (this.tokens.length === 0) throw new FilterError('the expression is empty', 0);
    const node = this.expr();
    const rest = this.peek();
    if (rest !== undefined) {
      throw new FilterError(rest.text === ')' ? "')' without '('" : `expected 'and' or 'or' before '${rest.text}'`, rest.at);
    }
    return node;
  }

  private peek(k = 0): Token | undefined {
    return this.refuse(this.tokens[this.pos + k]);
  }

  private next(): Token | undefined {
    return this.refuse(this.tokens[this.pos++]);
  }

  private refuse(t: Token | undefined): Token | undefined {
    if (t?.refused !== undefined) throw new FilterError(t.refused, t.at);
    return t;
  }

  private endAt(): number {
    return this.text.length;
  }

  /** term (and|or term)*, left to right, one precedence level. */
  private expr(): FilterNode {
    let left = this.term();
    for (;;) {
      const t = this.peek()?.text;
      if (!isAnd(t) && !isOr(t)) return left;
      this.pos++;
      left = { kind: isAnd(t) ? 'and' : 'or', left, right: this.term() };
    }
  }

  private term(): FilterNode {
    const t = this.peek();
    if (t === undefined) throw new FilterError('the expression ends where a primitive was expected', this.endAt());
    if (isNot(t.text)) {
      this.pos++;
      return { kind: 'not', operand: this.term() };
    }
    if (t.text === '(') {
      this.pos++;
      const inner = this.expr();
      const close = this.next();
      if (close?.text !== ')') throw new FilterError(`'(' at character ${t.at + 1} is not closed`, close?.at ?? this.endAt());
      // libpcap: a bare value after a parenthesis repeats nothing ('(port 80) or 443' is an error).
      this.last = null;
      return inner;
    }
    if (t.text === ')' || isAnd(t.text) || isOr(t.text)) throw new FilterError(`'${t.text}' where a primitive was expected`, t.at);
    return this.primitive();
  }

  private primitive(): FilterNode {
    const first = this.peek()!;
    const word = first.text;
    const why = UNSUPPORTED[word];
    if (why !== undefined) throw new FilterError(`'${first.text}' (${why}) is not supported on files; supported: ${SUPPORTED_LIST}`, first.at);
    if (word === 'vlan') return this.vlan();
    if (word === 'icmp' || word === 'icmp6') {
      this.pos++;
      const after = this.peek();
      if (after !== undefined && !this.endsPrimitive(after.text)) {
        throw new FilterError(`'${first.text}' takes no qualifiers ('${after.text}' follows it); write e.g. '${word} and host ADDR'`, after.at);
      }
      this.last = null;
      return { kind: 'proto', proto: word };
    }

    const q: Qualifiers = { proto: null, dir: null, type: null };
    let any = false;
    if (PROTO_QUALIFIERS.has(word)) {
      q.proto = word as Qualifiers['proto'];
      this.pos++;
      any = true;
      const after = this.peek();
      if (after === undefined || this.endsPrimitive(after.text)) {
        this.last = null;
        return { kind: 'proto', proto: q.proto! };
      }
    }
    q.dir = this.direction();
    if (q.dir !== null) any = true;
    const typeTok = this.peek();
    if (typeTok !== undefined && TYPES.has(typeTok.text)) {
      q.type = typeTok.text as Qualifiers['type'];
      this.pos++;
      any = true;
    }
    if (!any) {
      // A value alone repeats the qualifiers of the primitive before it.
      if (this.last === null) return this.unknownWord(first);
      return this.value({ ...this.last });
    }
    return this.value(q);
  }

  /** `src`, `dst`, `src or dst`, `dst or src`, `src and dst`, `dst and src`; null when none. */
  private direction(): Direction | null {
    const t = this.peek()?.text;
    if (t !== 'src' && t !== 'dst') return null;
    this.pos++;
    const joiner = this.peek()?.text;
    const other = this.peek(1)?.text;
    if ((isAnd(joiner) || isOr(joiner)) && other === (t === 'src' ? 'dst' : 'src')) {
      this.pos += 2;
      return isAnd(joiner) ? 'src and dst' : 'src or dst';
    }
    return t;
  }

  private endsPrimitive(text: string): boolean {
    return isAnd(text) || isOr(text) || text === ')';
  }

  private unknownWord(t: Token): never {
    if (tryParseAddress(t.text) !== null || /^[0-9]/.test(t.text)) {
      throw new FilterError(`'${t.text}' needs a keyword before it (host, net, port or portrange)`, t.at);
    }
    if (KEYWORDS.has(t.text.toLowerCase())) throw new FilterError(`unknown word '${t.text}': keywords are lowercase, as in tcpdump`, t.at);
    if (/^[A-Za-z]/.test(t.text)) throw new FilterError(`unknown word '${t.text}'; supported: ${SUPPORTED_LIST}`, t.at);
    throw new FilterError(`'${t.text}' is not a primitive`, t.at);
  }

  /** The value of a primitive whose qualifiers were read (or repeated). */
  private value(q: Qualifiers): FilterNode {
    const t = this.next();
    if (t === undefined) throw new FilterError('the expression ends where a value was expected', this.endAt());
    if (this.endsPrimitive(t.text) || isNot(t.text) || t.text === '(') {
      throw new FilterError(`'${t.text}' where a value (address, net or port) was expected`, t.at);
    }
    const dir: Direction = q.dir ?? 'src or dst';
    let type = q.type;
    if (type === null) {
      // pcap-filter: with no type, host is assumed; an address with a /len is a net.
      if (tryParseAddress(t.text) !== null) type = 'host';
      else if (t.text.includes('/')) type = 'net';
      else if (/^[A-Za-z]/.test(t.text) && !t.text.includes(':')) {
        // `src NAME` would be a host name to look up; after a protocol alone, a misspelt word.
        if (q.dir === null) this.unknownWord(t);
        throw new FilterError(`host names are not resolved ('${t.text}'): give an IPv4 or IPv6 address`, t.at);
      } else throw new FilterError(`'${t.text}' needs a type before it (host, net, port or portrange)`, t.at);
    }
    this.last = { ...q, type };
    if (type === 'port' || type === 'portrange') {
      if (q.proto === 'ip' || q.proto === 'ip6') throw new FilterError(`'${q.proto}' cannot qualify '${type}' (use tcp, udp or sctp)`, t.at);
      const [low, high] = type === 'port' ? this.port(t) : this.portRange(t);
      return { kind: 'port', dir, proto: q.proto as 'tcp' | 'udp' | 'sctp' | null, low, high };
    }
    if (q.proto !== null && q.proto !== 'ip' && q.proto !== 'ip6') {
      throw new FilterError(`'${q.proto}' cannot qualify '${type}' (use ip or ip6, or write '${q.proto} and ${type} ...')`, t.at);
    }
    const net = type === 'host' ? this.host(t) : this.net(t);
    const family = net.addr.length === 4 ? 'ip' : 'ip6';
    if (q.proto !== null && q.proto !== family) {
      throw new FilterError(`'${q.proto}' cannot qualify the ${family === 'ip' ? 'IPv4' : 'IPv6'} address '${t.text}'`, t.at);
    }
    return { kind: 'net', dir, addr: net.addr, prefix: net.prefix };
  }

  private host(t: Token): { addr: Uint8Array; prefix: number } {
    const addr = tryParseAddress(t.text);
    if (addr !== null) return { addr, prefix: addr.length * 8 };
    if (t.text.includes('/')) throw new FilterError(`'host' takes one address, not a net ('${t.text}'): use 'net'`, t.at);
    if (/^[A-Za-z]/.test(t.text) && !t.text.includes(':')) {
      throw new FilterError(`host names are not resolved ('${t.text}'): give an IPv4 or IPv6 address`, t.at);
    }
    throw new FilterError(`'${t.text}' is not an IPv4 or IPv6 address`, t.at);
  }

  /** `a.b.c.d/len`, `v6/len`, `a.b.c.d mask m.m.m.m`, and pcap-filter's `10`, `172.16`, `192.168.1`. */
  private net(t: Token): { addr: Uint8Array; prefix: number } {
    let addr: Uint8Array | null;
    let prefix: number;
    const slash = t.text.indexOf('/');
    if (slash >= 0) {
      addr = tryParseAddress(t.text.slice(0, slash));
      const len = t.text.slice(slash + 1);
      if (addr === null) throw new FilterError(`'${t.text}' is not a net (address/length)`, t.at);
      prefix = /^[0-9]{1,3}$/.test(len) ? Number(len) : -1;
      if (prefix < 0 || prefix > addr.length * 8) throw new FilterError(`'/${len}' is not a prefix length for '${t.text}'`, t.at + slash);
    } else if (this.peek()?.text === 'mask') {
      const maskTok = this.peek(1);
      addr = tryParseAddress(t.text);
      const mask = maskTok === undefined ? null : tryParseAddress(maskTok.text);
      if (addr === null || addr.length !== 4) throw new FilterError(`'net ... mask' takes an IPv4 address, not '${t.text}'`, t.at);
      if (mask === null || mask.length !== 4) throw new FilterError('\'mask\' needs an IPv4 netmask after it', maskTok?.at ?? this.endAt());
      this.pos += 2;
      prefix = maskLength(mask);
      if (prefix < 0) throw new FilterError(`'${maskTok!.text}' is not a netmask (ones, then zeros)`, maskTok!.at);
    } else {
      addr = tryParseAddress(t.text);
      prefix = addr === null ? 0 : addr.length * 8;
      if (addr === null) {
        // pcap-filter's short IPv4 nets: 10 is 10/8, 172.16 is /16, 192.168.1 is /24.
        const parts = t.text.split('.');
        if (parts.length <= 3 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
          addr = new Uint8Array(4);
          parts.forEach((p, i) => (addr![i] = Number(p)));
          prefix = parts.length * 8;
        } else throw new FilterError(`'${t.text}' is not a net (address/length, or address mask netmask)`, t.at);
      }
    }
    for (let bit = prefix; bit < addr.length * 8; bit++) {
      if (addr[bit >> 3]! & (0x80 >> (bit & 7))) throw new FilterError(`non-network bits set in '${t.text}'`, t.at);
    }
    return { addr, prefix };
  }

  private port(t: Token): [number, number] {
    const n = portNumber(t.text);
    if (n === null) {
      if (/^[A-Za-z]/.test(t.text)) throw new FilterError(`port names are not looked up ('${t.text}'): give the number`, t.at);
      throw new FilterError(`'${t.text}' is not a port (0..65535)`, t.at);
    }
    return [n, n];
  }

  /** `a-b`, both ends included; libpcap takes them in either order. */
  private portRange(t: Token): [number, number] {
    const m = /^([^-]+)-([^-]+)$/.exec(t.text);
    const a = m ? portNumber(m[1]!) : null;
    const b = m ? portNumber(m[2]!) : null;
    if (a === null || b === null) throw new FilterError(`'${t.text}' is not a port range (low-high, 0..65535)`, t.at);
    return a <= b ? [a, b] : [b, a];
  }

  private vlan(): FilterNode {
    this.pos++;
    const index = this.vlans++;
    this.last = null;
    const t = this.peek();
    if (t === undefined || this.endsPrimitive(t.text)) return { kind: 'vlan', id: null, index };
    if (!/^[0-9]+$/.test(t.text) || Number(t.text) > 4095) throw new FilterError(`'${t.text}' is not a VLAN id (0..4095)`, t.at);
    this.pos++;
    return { kind: 'vlan', id: Number(t.text), index };
  }
}

function portNumber(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n <= 65535 ? n : null;
}

/** The number of leading ones of an IPv4 netmask, or -1 when its ones are not contiguous. */
function maskLength(mask: Uint8Array): number {
  const m = ((mask[0]! << 24) | (mask[1]! << 16) | (mask[2]! << 8) | mask[3]!) >>> 0;
  let n = 0;
  while (n < 32 && (m & (0x80000000 >>> n)) !== 0) n++;
  // After the leading ones, nothing but zeros (a shift by 32 is a shift by 0 in JavaScript).
  return n === 32 || ((m << n) >>> 0) === 0 ? n : -1;
}
