/**
 * Compares flowdemux's flows with tshark's conversations (the `*.flows.json` files kept beside
 * fixtures and corpus captures: one entry per tcp.stream / udp.stream, a = sender of the first
 * frame, bytes = frame.len).
 *
 * Flows are matched per (protocol, unordered pair of endpoints), in order of first packet.
 * Where both sides have the same number of conversations on a pair, they are compared one to one,
 * packets and wire bytes in each direction. Where flowdemux has more (it starts a new generation
 * after idle time, and after a RST even when the SYN repeats the old ISN; tshark does neither),
 * the pair matches "by rule" when the sums agree: a documented difference of rule, not a bug.
 *
 * A tunnel's own UDP flow (Flow.carries) is compared only where tshark has a UDP conversation
 * on its ends and no other flow has: a tunnel tshark did not decode, matched by rule.
 *
 * The other way round, tshark splits one SNMP exchange (UDP port 161 or 162) in two: its SNMP
 * dissector sets up a conversation of its own on the first frame, so the first frame is a
 * stream alone and every later frame of the pair is a second stream (all 73 such pairs in the
 * public corpus). flowdemux keys UDP on the 5-tuple only; the sums agreeing is a match by rule.
 */
import type { Flow } from '../core/flow.js';

export interface TsharkConversation {
  proto: string;
  a: string;
  b: string;
  frames_ab: number;
  bytes_ab: number;
  frames_ba: number;
  bytes_ba: number;
  first: number;
  last: number;
}

export interface TsharkFlows {
  file: string;
  frames: number;
  tshark_rc: number;
  conversations: TsharkConversation[];
}

export interface Difference {
  proto: string;
  ends: string;
  /** What differs, one line: counts on each side. */
  detail: string;
}

export interface Comparison {
  /** tshark conversations (TCP and UDP). */
  total: number;
  /** Matched exactly, one to one. */
  exact: number;
  /** Matched as a sum over flowdemux's generations (difference of rule). */
  byRule: number;
  differences: Difference[];
}

interface Counts {
  fab: number;
  bab: number;
  fba: number;
  bba: number;
}

function endText(ip: string, port: number): string {
  return `${ip}|${port}`;
}

function pairKey(proto: string, x: string, y: string): string {
  return x < y ? `${proto} ${x} ${y}` : `${proto} ${y} ${x}`;
}

/** Our flow's counters seen from tshark's `a` end. */
function countsFrom(flow: Flow, a: string): Counts {
  const aIsClient = endText(flow.client.ip, flow.client.port) === a;
  const ab = aIsClient ? flow.toServer : flow.toClient;
  const ba = aIsClient ? flow.toClient : flow.toServer;
  return { fab: ab.packets, bab: ab.wireBytes, fba: ba.packets, bba: ba.wireBytes };
}

const same = (x: Counts, y: Counts) => x.fab === y.fab && x.bab === y.bab && x.fba === y.fba && x.bba === y.bba;
const sum = (cs: Counts[]): Counts =>
  cs.reduce((t, c) => ({ fab: t.fab + c.fab, bab: t.bab + c.bab, fba: t.fba + c.fba, bba: t.bba + c.bba }), { fab: 0, bab: 0, fba: 0, bba: 0 });
const show = (c: Counts) => `${c.fab} pkts/${c.bab} B → ${c.fba} pkts/${c.bba} B ←`;

const port = (end: string) => end.slice(end.lastIndexOf('|') + 1);

/** tshark's SNMP split: two UDP conversations on a pair with port 161 or 162, the first one a single frame. */
function snmpSplit(proto: string, convs: TsharkConversation[]): boolean {
  if (proto !== 'udp' || convs.length !== 2) return false;
  const c = convs[0]!;
  const ports = [port(c.a), port(c.b)];
  return (ports.includes('161') || ports.includes('162')) && c.frames_ab + c.frames_ba === 1;
}

export function compareWithTshark(flows: readonly Flow[], tshark: TsharkFlows): Comparison {
  const ours = new Map<string, Flow[]>();
  // A tunnel's own UDP flow (`carries`): tshark's answers count a frame for its innermost
  // transport, so it has no conversation for a tunnel it decodes; for one it does not decode
  // (Teredo on another port: its heuristic is off by default) its UDP conversation is the tunnel
  // flow, which then matches by rule.
  const tunnels = new Map<string, Flow[]>();
  for (const f of flows) {
    if (f.proto !== 'tcp' && f.proto !== 'udp') continue;
    const key = pairKey(f.proto, endText(f.client.ip, f.client.port), endText(f.server.ip, f.server.port));
    const into = f.carries === undefined ? ours : tunnels;
    const list = into.get(key);
    if (list) list.push(f);
    else into.set(key, [f]);
  }
  const theirs = new Map<string, TsharkConversation[]>();
  for (const c of tshark.conversations) {
    if (c.proto !== 'tcp' && c.proto !== 'udp') continue;
    const key = pairKey(c.proto, c.a, c.b);
    const list = theirs.get(key);
    if (list) list.push(c);
    else theirs.set(key, [c]);
  }

  const result: Comparison = { total: 0, exact: 0, byRule: 0, differences: [] };
  for (const [key, convs] of theirs) {
    result.total += convs.length;
    const [proto, ...ends] = key.split(' ');
    const mine = ours.get(key) ?? [];
    ours.delete(key);
    const a = convs[0]!.a;
    const theirCounts = convs.map((c) => ({ fab: c.frames_ab, bab: c.bytes_ab, fba: c.frames_ba, bba: c.bytes_ba }));
    const tunnel = mine.length === 0 ? tunnels.get(key) : undefined;
    if (tunnel !== undefined && tunnel.length === convs.length && convs.every((c, i) => same(countsFrom(tunnel[i]!, c.a), theirCounts[i]!))) {
      result.byRule += convs.length;
      continue;
    }
    // tshark's `a` is per conversation; count ours from each conversation's own `a` when paired.
    if (mine.length === convs.length) {
      convs.forEach((c, i) => {
        const m = countsFrom(mine[i]!, c.a);
        if (same(m, theirCounts[i]!)) result.exact++;
        else result.differences.push({ proto: proto!, ends: ends.join(' '), detail: `conversation ${i + 1}: flowdemux ${show(m)}, tshark ${show(theirCounts[i]!)}` });
      });
      continue;
    }
    const mineSum = sum(mine.map((f) => countsFrom(f, a)));
    const theirSum = sum(convs.map((c) => (c.a === a ? theirCounts[convs.indexOf(c)]! : { fab: c.frames_ba, bab: c.bytes_ba, fba: c.frames_ab, bba: c.bytes_ab })));
    if ((mine.length > convs.length || (mine.length > 0 && snmpSplit(proto!, convs))) && same(mineSum, theirSum)) {
      result.byRule += convs.length;
    } else {
      result.differences.push({
        proto: proto!, ends: ends.join(' '),
        detail: `flowdemux has ${mine.length} flow(s) ${show(mineSum)}, tshark ${convs.length} conversation(s) ${show(theirSum)}`,
      });
    }
  }
  for (const [key, mine] of ours) {
    const [proto, ...ends] = key.split(' ');
    result.differences.push({ proto: proto!, ends: ends.join(' '), detail: `flowdemux has ${mine.length} flow(s) that tshark does not list` });
  }
  return result;
}
