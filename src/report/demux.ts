/**
 * `flowdemux demux` output: the picture of src/demux/groups.ts as a didactic text table (the
 * default), JSON (docs/json.md's `DemuxDocument`), and two drawings:
 * Graphviz DOT and a Mermaid flowchart. Pure functions from a DemuxReport to text.
 *
 * Both drawings use the same graph: each host (address) is a box holding its ports; a client
 * port points to the server port its flows reached, labelled with the flows; the server port
 * fans out to the sockets the kernel would hand those packets to (the TCP listener for SYNs, one
 * socket per 4-tuple; one UDP socket whatever the peer). Node ids are made up (h1, p1, s1...), so
 * addresses, which hold ':' in IPv6, only ever appear inside quoted, escaped labels.
 */
import type { CaptureInfo } from '../core/frame.js';
import {
  endpointText, KEY_SCALE, type ClosedAnswer, type DemuxGroup, type DemuxReport, type GroupFlow, type KernelSocket, type ListenSocket,
  type PortProto, type PortRoleClash, type UnconnectedSocket,
} from '../demux/groups.js';
import type { DemuxSummary, EndpointProcess, FlowEndpoint } from '../core/flow.js';
import { captureToJson, jsonText, processToJson } from './json.js';
import { processLabel } from './labels.js';

// -------------------------------------------------------------------------------------------------
// JSON

export function socketToJson(s: KernelSocket): Record<string, unknown> {
  let out: Record<string, unknown>;
  switch (s.kind) {
    case 'listen':
      out = { kind: s.kind, local: endpointText(s.local), flows: s.flows.slice() };
      if (s.bound !== undefined) out.bound = s.bound;
      if (s.reuseport !== undefined) {
        out.reuseport = { listeners: s.reuseport.listeners, owners: s.reuseport.owners.map((o) => ({ pid: o.pid, command: o.command })) };
      }
      break;
    case 'connection':
      out = { kind: s.kind, local: endpointText(s.local), remote: endpointText(s.remote), flows: s.flows.slice(), generations: s.generations };
      break;
    case 'unconnected':
      out = {
        kind: s.kind, local: endpointText(s.local), peers: s.peers.map(endpointText), flows: s.flows.slice(),
        peerFlows: s.peerFlows.map((l) => l.slice()),
      };
      if (s.bound !== undefined) out.bound = s.bound;
      if (s.dualStack) out.dualStack = true;
      if (s.connectedFlows !== undefined) out.connectedFlows = s.connectedFlows.slice();
      break;
    case 'closed':
      out = {
        kind: s.kind, local: endpointText(s.local), flows: s.flows.slice(), peers: s.peers.map(endpointText),
        answers: s.answers.slice(), openedLater: s.openedLater,
      };
      break;
  }
  // Live capture only: who holds the socket.
  if (s.process !== undefined) out.process = processToJson(s.process);
  return out;
}

/**
 * One group as docs/json.md's `Group`: its keys first, in its order, then the additions. The closed
 * port keys come last and only when a flow found the port closed, so that the document of a
 * capture without closed ports keeps its bytes.
 */
export function groupToJson(g: DemuxGroup): Record<string, unknown> {
  const out: Record<string, unknown> = {
    proto: g.proto,
    port: g.port,
    flows: g.flows.slice(),
    concurrent: g.concurrent,
    keyNeeded: g.keyNeeded,
    differBy: g.differBy.slice(),
    sockets: g.sockets.map(socketToJson),
    maxConcurrent: g.maxConcurrent,
    kernelKey: g.kernelKey,
    serverIps: g.serverIps.slice(),
    reusedTuples: g.reusedTuples,
    refused: g.refused.slice(),
    rolesInferred: g.rolesInferred,
  };
  if (g.closed.length > 0) out.closedPort = g.closed.slice();
  if (g.partlyClosed.length > 0) out.partlyClosedPort = g.partlyClosed.slice();
  if (g.services.length > 0) out.services = g.services.slice();
  return out;
}

export function clashToJson(c: PortRoleClash): Record<string, unknown> {
  return { proto: c.proto, port: c.port, asServer: c.asServer.slice(), asClient: c.asClient.slice(), sameHost: c.sameHost.slice(), inferred: c.inferred };
}

export interface DemuxJsonOptions {
  captures?: readonly CaptureInfo[];
  warnings?: readonly string[];
  summary?: DemuxSummary;
}

/** The whole document as a plain object: `{groups, singles, portRoleClashes, unported[, captures, warnings, summary]}`. */
export function demuxToJson(report: DemuxReport, opts: DemuxJsonOptions = {}): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    groups: report.groups.map(groupToJson),
    singles: report.singles.map(groupToJson),
    portRoleClashes: report.portRoleClashes.map(clashToJson),
    unported: report.unported.slice(),
  };
  if (report.closedFlows > 0) doc.closedPortFlows = report.closedFlows;
  if (opts.captures) doc.captures = opts.captures.map(captureToJson);
  if (opts.warnings) doc.warnings = opts.warnings.slice();
  if (opts.summary) doc.summary = opts.summary;
  return doc;
}

/** The `--format json` text: one group a line inside its array (greppable, like `flows`). */
export function renderDemuxJson(report: DemuxReport, opts: DemuxJsonOptions = {}): string {
  const doc = demuxToJson(report, opts);
  const parts: string[] = [];
  for (const [key, value] of Object.entries(doc)) {
    if (Array.isArray(value) && value.length > 0 && typeof value[0] === 'object') {
      parts.push(`${JSON.stringify(key)}:[\n${value.map((v) => jsonText(v)).join(',\n')}\n]`);
    } else parts.push(`${JSON.stringify(key)}:${jsonText(value)}`);
  }
  return `{${parts.join(',\n')}}\n`;
}

// -------------------------------------------------------------------------------------------------
// Text

export interface DemuxTableOptions {
  /** Socket rows shown per group before "… N more" (default 20). */
  maxSockets?: number;
  /** Flow ids listed in one cell before "… N more" (default 10). */
  maxIds?: number;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "flow 1", "flows 1, 2", "flows 1, 2, … (+98 more)". */
function flowList(ids: readonly number[], max: number): string {
  if (ids.length === 1) return `flow ${ids[0]}`;
  const shown = ids.slice(0, max).join(', ');
  return `flows ${shown}${ids.length > max ? `, … (+${ids.length - max} more)` : ''}`;
}

function idList(ids: readonly number[], max: number): string {
  return ids.slice(0, max).join(', ') + (ids.length > max ? `, … (+${ids.length - max} more)` : '');
}

function andList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function groupTitle(g: DemuxGroup): string {
  const n = g.flows.length;
  let what: string;
  if (g.proto === 'tcp') what = plural(n, 'connection');
  else {
    const peers = new Set(g.members.map((m) => endpointText(m.client))).size;
    what = `${plural(n, 'flow')} from ${plural(peers, 'peer')}`;
  }
  const where = g.serverIps.length === 1 ? `on ${g.serverIps[0]}` : `on ${g.serverIps.length} addresses`;
  let when = '';
  if (n > 1) when = g.concurrent ? `, ${g.maxConcurrent} open at once` : ', one after another';
  let roles = '';
  if (g.proto === 'udp' && g.rolesInferred) roles = ' (no handshake: the server is guessed as Zeek does, a known server port or else the first receiver)';
  else if (g.rolesInferred) {
    const guessed = g.members.filter((m) => m.rolesInferred).map((m) => m.id);
    roles = ` (${flowList(guessed, 10)}: no SYN seen, server guessed as Zeek does)`;
  }
  const closed = g.closed.length > 0 ? `, ${g.closed.length} to a closed port` : '';
  const speaks = g.services.length > 0 ? `, speaking ${g.services.join(' and ')}` : '';
  return `${g.proto} port ${g.port} ${where}: ${what}${when}${closed}${speaks}${roles}`;
}

/** The lines under a shared group's title that say which key is needed, and why. */
function keyLines(g: DemuxGroup): string[] {
  const lines: string[] = [];
  const differ = g.differBy.length > 0 ? `the flows differ by ${andList(g.differBy)}` : '';
  switch (g.keyNeeded) {
    case 'address+port':
      lines.push(`the port alone is ambiguous; key needed: address+port (${differ})`);
      break;
    case '4-tuple':
      lines.push(`the port alone is ambiguous; key needed: 4-tuple (${differ})`);
      break;
    case '4-tuple+time': {
      const reuse = g.reusedTuples === 1 ? 'one 4-tuple was used again' : `${g.reusedTuples} 4-tuples were used again`;
      lines.push(`the port alone is ambiguous; key needed: 4-tuple+time (${differ ? `${differ}; ` : ''}${reuse}: only time tells those flows apart)`);
      break;
    }
    case 'port':
      lines.push('the port alone finds the socket');
  }
  const bound = g.sockets.filter((s) => s.kind === 'unconnected').length;
  if (g.proto === 'udp' && g.keyNeeded !== 'port' && g.keyNeeded !== 'address+port' && bound > 0) {
    lines.push('but an unconnected UDP socket is found by address+port only: the peers share ONE socket,');
    lines.push('and the application tells them apart by the source address recvfrom() returns');
  }
  return lines;
}

interface Row {
  kind: string;
  socket: string;
  info: string;
}

/**
 * Live capture: the process on a group's client end (the last flow from it that has one), for
 * "P3 the client on A". Undefined for files.
 */
function peerProcesses(g: DemuxGroup): Map<string, EndpointProcess> | null {
  // Built once per group (a lookup per socket row would make a 60,000-flow group quadratic);
  // later flows overwrite earlier ones, so each client end keeps its last known process.
  let map: Map<string, EndpointProcess> | null = null;
  for (const m of g.members) {
    const c = m.client;
    if (c.process !== undefined) (map ??= new Map()).set(`${c.ip}|${c.port}`, c.process);
  }
  return map;
}

function peerProcess(peers: Map<string, EndpointProcess> | null, peer: FlowEndpoint): EndpointProcess | undefined {
  return peers === null ? undefined : peers.get(`${peer.ip}|${peer.port}`);
}

/** `; held by node (pid 10)`, `; bound to 0.0.0.0:80`, `; peer curl (pid 11)`: only what is known. */
function processNote(owner: EndpointProcess | undefined, peer?: EndpointProcess, bound?: string): string {
  const parts: string[] = [];
  if (owner !== undefined) parts.push(owner.state === 'running' ? `held by ${processLabel(owner)}` : 'closed before its owner was seen');
  if (bound !== undefined) parts.push(`bound to ${bound}`);
  if (peer !== undefined) parts.push(`peer ${processLabel(peer)}`);
  return parts.length > 0 ? `; ${parts.join(', ')}` : '';
}

/**
 * `; SO_REUSEPORT group of 2 listeners (python3 (pid 10), python3 (pid 11)): the kernel gives
 * each connection to one of them by a hash of its 4-tuple`.
 */
function reuseportNote(s: ListenSocket): string {
  if (s.reuseport === undefined) return '';
  const owners = s.reuseport.owners.map((o) => processLabel({ ...o, state: 'running' })).join(', ');
  return `; SO_REUSEPORT group of ${s.reuseport.listeners} listeners${owners ? ` (${owners})` : ''}: `
    + 'the kernel gives each connection to one of them by a hash of its 4-tuple';
}

/** Live capture: who held a one-flow port's socket and what the kernel said of it (nothing for files). */
function singleHostNote(g: DemuxGroup, maxIds: number): string {
  const s = g.sockets[0];
  if (s === undefined) return '';
  const local = endpointText(s.local);
  const bound = (s.kind === 'listen' || s.kind === 'unconnected') && s.bound !== local ? s.bound : undefined;
  let out = processNote(s.process, undefined, bound);
  if (s.kind === 'listen') out += reuseportNote(s);
  if (s.kind === 'unconnected') out += udpKernelNote(s, maxIds);
  return out;
}

/** Live capture: what the kernel's table said of a UDP socket (dual stack, connected sockets). */
function udpKernelNote(s: UnconnectedSocket, maxIds: number): string {
  let out = '';
  if (s.dualStack) out += '; an IPv6 socket taking IPv4 (v4-mapped)';
  if (s.connectedFlows !== undefined) {
    out += `; ${flowList(s.connectedFlows, maxIds)} reached a connected socket instead (found by the 4-tuple, preferred by the kernel)`;
  }
  return out;
}

function socketRows(g: DemuxGroup, maxIds: number): Row[] {
  const rows: Row[] = [];
  const byId = new Map(g.members.map((m) => [m.id, m]));
  const peers = peerProcesses(g);
  for (const s of g.sockets) {
    const local = endpointText(s.local);
    switch (s.kind) {
      case 'listen':
        rows.push({
          kind: 'listen',
          socket: local,
          info: (s.flows.length > 0 ? `takes the SYN of ${flowList(s.flows, maxIds)}` : 'no SYN seen (connections older than the capture)')
            + processNote(s.process, undefined, s.bound === local ? undefined : s.bound)
            + reuseportNote(s),
        });
        break;
      case 'connection':
        rows.push({
          kind: 'connection',
          socket: `${local} ⇄ ${endpointText(s.remote)}`,
          info: (s.generations > 1
            ? `${flowList(s.flows, maxIds)}: one after another, a new socket each time`
            : flowList(s.flows, maxIds)) + processNote(s.process, peerProcess(peers, s.remote)),
        });
        break;
      case 'unconnected':
        s.peers.forEach((p, i) => {
          rows.push({
            kind: i === 0 ? 'udp socket' : '',
            socket: `${i === 0 ? local : ' '.repeat(local.length)} ◀ ${endpointText(p)}`,
            info: flowList(s.peerFlows[i]!, maxIds) + closedNote(s.peerFlows[i]!, byId)
              + processNote(i === 0 ? s.process : undefined, peerProcess(peers, p),
                i === 0 && s.bound !== undefined && s.bound !== local ? s.bound : undefined)
              + (i === 0 ? udpKernelNote(s, maxIds) : ''),
          });
        });
        break;
      case 'closed':
        s.flows.forEach((id, i) => {
          const later = s.openedLater && i === s.flows.length - 1 ? ' (a socket was opened later)' : '';
          rows.push({
            kind: 'closed port',
            socket: `${local} ✕ ${endpointText(s.peers[i]!)}`,
            info: `flow ${id}: no socket, ${answerText(s.answers[i]!, s.local)}${later}`,
          });
        });
        break;
    }
  }
  return rows;
}

/** How a closed port said so: `SYN answered by RST`, `ICMP port unreachable`. */
function answerText(a: ClosedAnswer, local: FlowEndpoint): string {
  if (a === 'rst') return 'SYN answered by RST';
  return `ICMP${local.ip.includes(':') ? 'v6' : ''} port unreachable`;
}

/** For a socket's flows that also met the port closed, or found their peer's port closed. */
function closedNote(ids: readonly number[], byId: ReadonlyMap<number, GroupFlow>): string {
  const notes: string[] = [];
  // Name the flows only when the note is not about every flow of the row.
  const which = (l: number[]) => (l.length === ids.length ? '' : ` in ${flowList(l, 10)}`);
  const partly = ids.filter((id) => byId.get(id)!.partlyClosed);
  if (partly.length > 0) notes.push(`also ICMP port unreachable${which(partly)}: no socket part of the time`);
  const peer = ids.filter((id) => byId.get(id)!.peerClosed);
  if (peer.length > 0) notes.push(`an answer${which(peer)} found the peer's port closed`);
  return notes.length > 0 ? ` (${notes.join('; ')})` : '';
}

function clashLine(c: PortRoleClash, maxIds: number): string {
  let s = `${c.proto} ${c.port}: server port in ${flowList(c.asServer, maxIds)}, client port in ${flowList(c.asClient, maxIds)}`;
  if (c.sameHost.length > 0) s += ` (both roles on ${andList(c.sameHost)})`;
  if (c.inferred) s += ' (roles partly guessed)';
  return s;
}

/**
 * The default output: one block per shared server port, reading like the teaching figure (which
 * sockets the host holds, which key finds each), then the ports with one flow, the port numbers
 * seen in both roles, and a one-line legend.
 */
export function renderDemuxTable(report: DemuxReport, opts: DemuxTableOptions = {}): string {
  const maxSockets = opts.maxSockets ?? 20;
  const maxIds = opts.maxIds ?? 10;
  const out: string[] = [];
  const ports = report.groups.length + report.singles.length;
  out.push(`${plural(report.flowCount, 'flow')}, ${plural(ports, 'server port')}, `
    + `${report.groups.length} shared by several flows`
    + (report.closedFlows > 0 ? `, ${report.closedFlows} to a closed port (no socket)` : ''));
  out.push('');
  if (report.groups.length === 0 && ports > 0) {
    out.push('No server port is shared by several flows: the port alone tells every flow apart.');
    out.push('');
  }
  for (const g of report.groups) {
    out.push(groupTitle(g));
    for (const l of keyLines(g)) out.push(`  ${l}`);
    let rows = socketRows(g, maxIds);
    const hidden = rows.length - maxSockets;
    if (hidden > 0) rows = rows.slice(0, maxSockets);
    const kw = Math.max(...rows.map((r) => r.kind.length));
    const sw = Math.max(...rows.map((r) => r.socket.length));
    for (const r of rows) out.push(`    ${r.kind.padEnd(kw)}  ${r.socket.padEnd(sw)}  ${r.info}`.trimEnd());
    if (hidden > 0) out.push(`    … ${plural(hidden, 'more socket')}`);
    out.push('');
  }
  if (report.singles.length > 0) {
    const closed = report.singles.some((g) => g.closed.length > 0);
    out.push(`One flow each (the port alone finds the socket${closed ? ', where there is one' : ''}):`);
    const rows = report.singles.map((g) => {
      const m = g.members[0]!;
      let sock = g.proto === 'tcp' ? 'listen + 1 connection socket' : '1 udp socket';
      if (m.closed !== null) sock = `closed port: no socket (${answerText(m.closed, m.server)})`;
      else if (m.partlyClosed) sock += ' (also ICMP port unreachable: no socket part of the time)';
      else if (m.peerClosed) sock += " (an answer found the peer's port closed)";
      return [`${g.proto} ${endpointText(m.server)}`, `flow ${m.id} from ${endpointText(m.client)}${m.rolesInferred && g.proto === 'tcp' ? ' (no SYN seen)' : ''}`, sock + singleHostNote(g, maxIds)];
    });
    const w0 = Math.max(...rows.map((r) => r[0]!.length));
    const w1 = Math.max(...rows.map((r) => r[1]!.length));
    for (const r of rows) out.push(`  ${r[0]!.padEnd(w0)}  ${r[1]!.padEnd(w1)}  ${r[2]}`);
    out.push('');
  }
  if (report.portRoleClashes.length > 0) {
    out.push('Port numbers used in both roles (a port number names a socket, not a service):');
    for (const c of report.portRoleClashes) out.push(`  ${clashLine(c, maxIds)}`);
    out.push('');
  }
  const icmp = report.otherProtocol.length === 0 ? report.unported : report.unported.filter((id) => !report.otherProtocol.includes(id));
  if (icmp.length > 0) {
    out.push(`No ports, not sorted into sockets by port: ICMP ${flowList(icmp, maxIds)} `
      + '(echo is answered by the kernel itself; an error goes to the socket of the flow it quotes)');
    out.push('');
  }
  if (report.otherProtocol.length > 0) {
    out.push(`No ports, other IP protocols: ${flowList(report.otherProtocol, maxIds)} (the kernel hands each packet to `
      + 'its own handler for the protocol if it has one (IGMP, GRE or ESP tunnels, SCTP), and a copy to every raw socket '
      + 'of that protocol number whose bound and connected addresses match: the key is protocol + addresses)');
    out.push('');
  }
  if (ports === 0 && report.unported.length === 0) {
    out.push('No TCP or UDP flows.');
    out.push('');
  }
  if (ports > 0) {
    out.push(`key needed: the smallest key that tells a port's flows apart, ${KEY_SCALE.join(' < ')}`);
    if (report.groups.some((g) => g.proto === 'tcp') || report.singles.some((g) => g.proto === 'tcp')) {
      out.push('listen: the address the clients used; the socket may be bound to the wildcard (0.0.0.0 or ::)');
    }
    if (report.closedFlows > 0) {
      out.push('closed port: no socket had the address+port; the host answers a SYN with a RST, a datagram with ICMP port unreachable');
    }
  }
  return out.join('\n') + '\n';
}

// -------------------------------------------------------------------------------------------------
// The graph the drawings share (DOT and Mermaid here, SVG in svg-demux.ts)

export interface PortNode {
  id: string;
  proto: PortProto;
  port: number;
  /** Server port of a group: the key its flows need; null for a client-only port. */
  key: string | null;
  /** The kernel's own key differs from `key` (UDP: the application tells the peers apart). */
  kernelKey: string | null;
  shared: boolean;
  clash: boolean;
  /** Live capture: the process on this (client) port. */
  process?: string;
}

export interface SocketNode {
  id: string;
  kind: KernelSocket['kind'];
  label: string;
}

export interface HostNode {
  id: string;
  ip: string;
  ports: PortNode[];
  sockets: SocketNode[];
}

export interface Edge {
  from: string;
  to: string;
  label: string;
  style: 'flow' | 'syn' | 'demux';
}

export interface Graph {
  hosts: HostNode[];
  edges: Edge[];
}

/** The demux picture as a graph: hosts holding their ports and sockets, and the edges between them. */
export function buildGraph(report: DemuxReport): Graph {
  const hosts = new Map<string, HostNode>();
  const ports = new Map<string, PortNode>();
  const edges: Edge[] = [];
  let nextPort = 1;
  let nextSocket = 1;
  const clashes = new Set(report.portRoleClashes.map((c) => `${c.proto}/${c.port}`));
  const host = (ip: string): HostNode => {
    let h = hosts.get(ip);
    if (!h) {
      h = { id: `h${hosts.size + 1}`, ip, ports: [], sockets: [] };
      hosts.set(ip, h);
    }
    return h;
  };
  const portNode = (proto: PortProto, e: FlowEndpoint): PortNode => {
    const k = `${proto}|${e.ip}|${e.port}`;
    let p = ports.get(k);
    if (!p) {
      p = { id: `p${nextPort++}`, proto, port: e.port, key: null, kernelKey: null, shared: false, clash: clashes.has(`${proto}/${e.port}`) };
      ports.set(k, p);
      host(e.ip).ports.push(p);
    }
    return p;
  };
  /** A client's port node, named after its process when live capture knows it. */
  const peersOf = new Map<DemuxGroup, Map<string, EndpointProcess> | null>();
  const clientPort = (g: DemuxGroup, e: FlowEndpoint): PortNode => {
    const p = portNode(g.proto, e);
    let peers = peersOf.get(g);
    if (peers === undefined) peersOf.set(g, (peers = peerProcesses(g)));
    const proc = p.process === undefined ? peerProcess(peers, e) : undefined;
    if (proc !== undefined) p.process = ownerLine(proc);
    return p;
  };
  const all = [...report.groups, ...report.singles].sort((a, b) =>
    (a.proto === b.proto ? 0 : a.proto === 'tcp' ? -1 : 1) || a.port - b.port);
  for (const g of all) {
    // Server hosts first, so that they get the lower ids and come first in the drawing.
    for (const ip of g.serverIps) {
      const p = portNode(g.proto, { ip, port: g.port });
      p.key = g.keyNeeded;
      p.shared = g.flows.length > 1;
      const beyond = KEY_SCALE.indexOf(g.keyNeeded) > KEY_SCALE.indexOf(g.kernelKey);
      p.kernelKey = g.proto === 'udp' && beyond ? g.kernelKey : null;
    }
    for (const s of g.sockets) {
      const h = host(s.local.ip);
      const server = portNode(g.proto, s.local);
      const id = `s${nextSocket++}`;
      const local = endpointText(s.local);
      switch (s.kind) {
        case 'listen':
          h.sockets.push({ id, kind: s.kind, label: `listen\n${local}${socketProcessLines(s)}` });
          edges.push({ from: server.id, to: id, label: 'SYN', style: 'syn' });
          break;
        case 'connection': {
          const remote = endpointText(s.remote);
          const gens = s.generations > 1 ? `\n${s.generations} generations` : '';
          h.sockets.push({ id, kind: s.kind, label: `tcp socket\n${local} ⇄ ${remote}${gens}${socketProcessLines(s)}` });
          edges.push({ from: server.id, to: id, label: '4-tuple', style: 'demux' });
          edges.push({ from: clientPort(g, s.remote).id, to: server.id, label: flowLabel(s.flows), style: 'flow' });
          break;
        }
        case 'unconnected': {
          h.sockets.push({ id, kind: s.kind, label: `udp socket\n${local}\n${plural(s.peers.length, 'peer')}${socketProcessLines(s)}` });
          edges.push({ from: server.id, to: id, label: 'address+port', style: 'demux' });
          s.peers.forEach((peer, i) => {
            edges.push({ from: clientPort(g, peer).id, to: server.id, label: flowLabel(s.peerFlows[i]!), style: 'flow' });
          });
          break;
        }
        case 'closed': {
          const answers = [...new Set(s.answers.map((a) => answerText(a, s.local)))].join(', ');
          h.sockets.push({ id, kind: s.kind, label: `closed port: no socket\n${local}\n${answers}${s.openedLater ? '\n(opened later)' : ''}` });
          edges.push({ from: server.id, to: id, label: 'no socket', style: 'demux' });
          s.peers.forEach((peer, i) => {
            edges.push({ from: clientPort(g, peer).id, to: server.id, label: `flow ${s.flows[i]} refused`, style: 'flow' });
          });
          break;
        }
      }
    }

  }
  return { hosts: [...hosts.values()], edges };
}

function flowLabel(ids: readonly number[]): string {
  if (ids.length === 1) return `flow ${ids[0]}`;
  if (ids.length <= 6) return `flows ${ids.join(', ')}`;
  return `flows ${ids.slice(0, 5).join(', ')}, … (${ids.length})`;
}

/** Live capture: the lines a socket's label gets for who holds it (none for files). */
function socketProcessLines(s: KernelSocket): string {
  let out = '';
  if ((s.kind === 'listen' || s.kind === 'unconnected') && s.bound !== undefined && s.bound !== endpointText(s.local)) out += `\nbound to ${s.bound}`;
  if (s.kind === 'listen' && s.reuseport !== undefined) out += `\nSO_REUSEPORT group of ${s.reuseport.listeners}`;
  if (s.process !== undefined) out += `\n${ownerLine(s.process)}`;
  return out;
}

function ownerLine(p: EndpointProcess): string {
  return p.state === 'running' ? processLabel(p) : 'closed before its owner was seen';
}

export function portLabel(p: PortNode): string {
  let s = `${p.proto} ${p.port}`;
  if (p.process !== undefined) s += `\n${p.process}`;
  if (p.key !== null && p.shared) s += `\nkey: ${p.key}`;
  if (p.kernelKey !== null && p.shared) s += `\n(kernel: ${p.kernelKey}, app: recvfrom)`;
  if (p.clash) s += '\nport number in both roles';
  return s;
}

// -------------------------------------------------------------------------------------------------
// Graphviz DOT

/** A DOT quoted string: backslash and double quote escaped, newlines as \n. */
export function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

const DOT_SOCKET_STYLE: Record<KernelSocket['kind'], string> = {
  listen: 'shape=box, style="dashed,rounded"',
  connection: 'shape=box',
  unconnected: 'shape=box, style=bold',
  closed: 'shape=box, style="dashed", color=red, fontcolor=red',
};

export interface DrawingOptions {
  /** Graph title (default says what the drawing shows). */
  title?: string;
}

export const DEFAULT_TITLE = 'flowdemux: how the receiving host sorts packets into sockets';

/** Graphviz DOT: `dot -Tsvg demux.dot > demux.svg`. */
export function renderDemuxDot(report: DemuxReport, opts: DrawingOptions = {}): string {
  const g = buildGraph(report);
  const out: string[] = [];
  out.push('digraph flowdemux {');
  out.push(`  graph [rankdir=LR, fontname="Helvetica", fontsize=12, labelloc=t, label=${dotString(opts.title ?? DEFAULT_TITLE)}];`);
  out.push('  node [fontname="Helvetica", fontsize=10];');
  out.push('  edge [fontname="Helvetica", fontsize=9];');
  for (const h of g.hosts) {
    out.push(`  subgraph cluster_${h.id} {`);
    out.push(`    label=${dotString(`host ${h.ip}`)};`);
    out.push('    style=rounded; color=gray50;');
    for (const p of h.ports) {
      const fill = p.shared ? '#fde2c8' : p.key !== null ? '#e3eefc' : '#f2f2f2';
      const border = p.clash ? ', color=red, penwidth=2' : '';
      out.push(`    ${p.id} [label=${dotString(portLabel(p))}, shape=box, style="rounded,filled", fillcolor="${fill}"${border}];`);
    }
    for (const s of h.sockets) out.push(`    ${s.id} [label=${dotString(s.label)}, ${DOT_SOCKET_STYLE[s.kind]}];`);
    out.push('  }');
  }
  for (const e of g.edges) {
    const style = e.style === 'syn' ? ', style=dashed' : e.style === 'demux' ? ', color=gray40, fontcolor=gray40' : ', penwidth=1.5';
    out.push(`  ${e.from} -> ${e.to} [label=${dotString(e.label)}${style}];`);
  }
  out.push('}');
  return out.join('\n') + '\n';
}

// -------------------------------------------------------------------------------------------------
// Mermaid

/**
 * Text for a Mermaid quoted label: `"` and the characters Mermaid reads as markup become entity
 * codes (`#quot;`, `#35;`...), line breaks become `<br/>`.
 */
export function mermaidString(text: string): string {
  return `"${mermaidEscape(text, /[#"<>&]/g)}"`;
}

/**
 * `text` with each character `markup` matches as a Mermaid entity code (`#35;`), and line breaks
 * as `<br/>`. Mermaid replaces entity codes before it parses, so an escaped character never ends
 * a label or a message (in a sequence diagram, `#` and `;` would).
 */
export function mermaidEscape(text: string, markup: RegExp): string {
  return text.replace(markup, (c) => `#${c.charCodeAt(0)};`).replace(/\r?\n/g, '<br/>');
}

/** A Mermaid `flowchart LR`, one subgraph a host (renders on GitHub, in mermaid.live...). */
export function renderDemuxMermaid(report: DemuxReport, opts: DrawingOptions = {}): string {
  const g = buildGraph(report);
  const out: string[] = [];
  out.push('---');
  // YAML front matter: a JSON string is a valid YAML double-quoted scalar.
  out.push(`title: ${JSON.stringify(opts.title ?? DEFAULT_TITLE)}`);
  out.push('---');
  out.push('flowchart LR');
  for (const h of g.hosts) {
    out.push(`  subgraph ${h.id}[${mermaidString(`host ${h.ip}`)}]`);
    for (const p of h.ports) out.push(`    ${p.id}([${mermaidString(portLabel(p))}])`);
    for (const s of h.sockets) {
      const label = mermaidString(s.label);
      out.push(`    ${s.id}${s.kind === 'listen' ? `[/${label}/]` : s.kind === 'closed' ? `{{${label}}}` : `[${label}]`}`);
    }
    out.push('  end');
  }
  for (const e of g.edges) {
    const arrow = e.style === 'syn' ? '-.->' : e.style === 'flow' ? '==>' : '-->';
    out.push(`  ${e.from} ${arrow}|${mermaidString(e.label)}| ${e.to}`);
  }
  const shared: string[] = [];
  const server: string[] = [];
  const clash: string[] = [];
  for (const h of g.hosts) {
    for (const p of h.ports) {
      if (p.shared) shared.push(p.id);
      else if (p.key !== null) server.push(p.id);
      if (p.clash) clash.push(p.id);
    }
  }
  out.push('  classDef shared fill:#fde2c8,stroke:#c0601a');
  out.push('  classDef server fill:#e3eefc,stroke:#4a6fa5');
  out.push('  classDef clash stroke:#d00,stroke-width:2px');
  if (shared.length > 0) out.push(`  class ${shared.join(',')} shared`);
  if (server.length > 0) out.push(`  class ${server.join(',')} server`);
  if (clash.length > 0) out.push(`  class ${clash.join(',')} clash`);
  const closed = g.hosts.flatMap((h) => h.sockets.filter((s) => s.kind === 'closed').map((s) => s.id));
  if (closed.length > 0) {
    out.push('  classDef closed stroke:#d00,color:#d00,stroke-dasharray:4 3');
    out.push(`  class ${closed.join(',')} closed`);
  }
  return out.join('\n') + '\n';
}
