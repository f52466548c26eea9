/**
 * The demux picture: which flows share a server port, what key the receiving host needs to tell
 * them apart, and which sockets the kernel would hold for them. Pure: flow records in, plain data
 * out (the report modules turn it into text, JSON, DOT or Mermaid). It runs once over the finished
 * flows, in time linear in their number (plus a sort for the concurrency sweep), so it is fine
 * on a capture of a million flows.
 *
 * Semantics, as the tests pin them:
 *
 * - **Group.** One group per (protocol, server port): the question is "a packet arrives for port
 *   80: is the port enough to find its socket?". The server address is deliberately not part of
 *   the group key: two server addresses sharing a port (one host with two addresses, or two hosts
 *   in one capture) is itself an answer, `server.ip` in `differBy` and a key of at least
 *   `address+port`. Only TCP and UDP flows have ports; ICMP flows and those of other IP
 *   protocols are listed as `unported`.
 *   `groups` holds the ports that more than one flow shares (docs/json.md's `Group`); `singles` holds
 *   the ports with one flow, so that the table can still draw every server port.
 *
 * - **keyNeeded** is the smallest key that separates every *pair* of flows in the group, i.e. the
 *   largest of the pairwise answers, on the scale port < address+port < 4-tuple < 4-tuple+time:
 *   - one flow: `port`;
 *   - two flows with the same 4-tuple (generations: the tuple reused one connection after
 *     another): `4-tuple+time`, nothing in the headers tells them apart, only when they happened;
 *   - two flows to the same server address (so they differ by client address or port):
 *     `4-tuple`;
 *   - otherwise every flow has a server address of its own: `address+port`.
 *   A group with flows to two server addresses where one address has two clients needs the
 *   4-tuple: address+port separates the addresses but not the two clients.
 *
 * - **differBy**: the fields that take more than one value inside the group, in the order
 *   client.ip, client.port, server.ip. Generations of one tuple differ by none of them (empty
 *   list): that is exactly why time is part of the key.
 *
 * - **concurrent**: some two flows of the group were open at the same instant, with each flow
 *   open over the closed interval [first packet, last packet]. Flows that merely touch (one's
 *   last packet and the other's first carry the same timestamp) count as concurrent; a flow of
 *   one packet inside another's interval does too. `maxConcurrent` is the most at once.
 *
 * - **sockets**: what the kernel of the server host would hold.
 *   TCP: per server address, the listening socket (`listen`, `local` = the address:port the
 *   clients used; the real one may be bound to the wildcard 0.0.0.0 or ::, which a capture cannot
 *   show), whose `flows` are the connections whose SYN it took (flows with inferred roles started
 *   before the capture: their SYN was not seen); then one `connection` socket per 4-tuple, keyed
 *   by it. A 4-tuple reused one connection after another (`generations` > 1) is a new socket
 *   each time, one after the other, never two at once. A connection refused by the server (Zeek
 *   state REJ: the SYN was answered by a RST, nobody was listening) had no socket on the server:
 *   it is listed in `refused`, and an address where every connection was refused has no listener.
 *   UDP: one `unconnected` socket per server address and port. The kernel finds an unconnected
 *   UDP socket by destination address and port alone, so datagrams from every peer land in that
 *   ONE socket, and the application tells the peers apart by the source address recvfrom()
 *   returns: `peers` lists them. (A UDP server may instead connect() a socket per peer, which the
 *   kernel then prefers by the 4-tuple; a capture cannot show that, so the common case is drawn.)
 *   `kernelKey` says what the kernel itself looks up: `4-tuple` for TCP (the established-socket
 *   table first, then the listener by address+port for a SYN), `address+port` for UDP.
 *   **Closed ports**: a flow whose SYN was answered by a RST (REJ), or whose datagrams to the server
 *   got ICMP/ICMPv6 port unreachable and no answer, found no socket. Per server address they are
 *   one `closed` entry after the real sockets (`ClosedPort`: not a socket, the lack of one), listed
 *   in the group's `closed`; an address where every flow was refused gets no socket at all. A UDP
 *   flow that got port unreachable and answers too (the socket was bound while it went on) stays
 *   with its socket and is listed in `partlyClosed`.
 *
 * - **portRoleClashes**: a port number that is the server port of one flow and the client port
 *   of another (a different flow), per protocol (TCP 9157 and UDP 9157 are separate name spaces, so a clash across
 *   protocols is not one). The lesson: a port number names a socket, not a service. `sameHost`
 *   lists the addresses that used the number in both roles; `inferred` is true when a flow in the
 *   clash had its roles guessed (no SYN seen), which can itself be the cause of the clash.
 */
import type { EndpointProcess, Flow, FlowEndpoint, ProcessRef, Timestamp } from '../core/flow.js';

export type KeyNeeded = 'port' | 'address+port' | '4-tuple' | '4-tuple+time';

/** The keys from smallest to largest. */
export const KEY_SCALE: readonly KeyNeeded[] = ['port', 'address+port', '4-tuple', '4-tuple+time'];

export type GroupField = 'client.ip' | 'client.port' | 'server.ip';

export type PortProto = 'tcp' | 'udp';

export interface ListenSocket {
  kind: 'listen';
  local: FlowEndpoint;
  /** Connections whose SYN this listener took (SYN seen, not refused). */
  flows: number[];
  /** Live capture: the address it is really bound to (`0.0.0.0:80`), when /proc showed it. */
  bound?: string;
  /** Live capture: the process holding the listener, when /proc showed it. */
  process?: EndpointProcess;
  /**
   * Live capture: SO_REUSEPORT, several listening sockets on this binding; the kernel gives each
   * connection to one of them by a hash of its 4-tuple.
   */
  reuseport?: { listeners: number; owners: ProcessRef[] };
}

export interface ConnectionSocket {
  kind: 'connection';
  local: FlowEndpoint;
  remote: FlowEndpoint;
  /** Every flow (generation) on this 4-tuple, in id order. */
  flows: number[];
  /** How many connections used the 4-tuple, one after another (= flows.length). */
  generations: number;
  /** Live capture: the process that held this socket (the last generation's that is known). */
  process?: EndpointProcess;
}

export interface UnconnectedSocket {
  kind: 'unconnected';
  local: FlowEndpoint;
  /** Distinct peers (address:port) in order of their first flow. */
  peers: FlowEndpoint[];
  /** The flows of each peer, parallel to `peers`. */
  peerFlows: number[][];
  flows: number[];
  /** Live capture: the process holding the socket, when known. */
  process?: EndpointProcess;
  /** Live capture: the address it is really bound to (`0.0.0.0:5353`), from the kernel's table. */
  bound?: string;
  /** Live capture: an IPv6 socket that took these IPv4 datagrams (v4-mapped). */
  dualStack?: boolean;
  /**
   * Live capture: flows whose datagrams the kernel gave to a *connected* socket instead (found by
   * the full 4-tuple, preferred over the unconnected one).
   */
  connectedFlows?: number[];
}

/** How the host answered a packet that found no socket: TCP RST, or ICMP/ICMPv6 port unreachable. */
export type ClosedAnswer = 'rst' | 'port-unreachable';

/**
 * Not a socket: the address:port had none when these flows came (a closed port). The kernel
 * answered each SYN with a RST (Zeek's REJ) or each datagram with ICMP port unreachable.
 */
export interface ClosedPort {
  kind: 'closed';
  local: FlowEndpoint;
  /** The flows that found no socket, in id order. */
  flows: number[];
  /** Their client ends, parallel to `flows`. */
  peers: FlowEndpoint[];
  /** How each was refused, parallel to `flows`. */
  answers: ClosedAnswer[];
  /** Every refused flow ended before the first flow a socket took: the socket was opened later. */
  openedLater: boolean;
  /** No process holds a socket that does not exist (keeps `socket.process` readable on every kind). */
  process?: undefined;
}

export type KernelSocket = ListenSocket | ConnectionSocket | UnconnectedSocket | ClosedPort;

/** The few facts of a flow the picture needs. */
export interface GroupFlow {
  id: number;
  generation: number;
  client: FlowEndpoint;
  server: FlowEndpoint;
  start: Timestamp;
  end: Timestamp;
  state: string;
  rolesInferred: boolean;
  /** The flow found no server socket: the port was closed (see ClosedPort). Null when one took it. */
  closed: ClosedAnswer | null;
  /**
   * Some of its datagrams got ICMP port unreachable although the server end answered others: the
   * port had no socket for part of the flow (opened, or closed, while it went on).
   */
  partlyClosed: boolean;
  /** The server end's datagrams found the client's port closed (ICMP port unreachable came back). */
  peerClosed: boolean;
  /** What it speaks, from its first bytes (Flow.service), when recognised. */
  service?: string;
}

export interface DemuxGroup {
  proto: PortProto;
  port: number;
  /** Flow ids in id order. */
  flows: number[];
  concurrent: boolean;
  keyNeeded: KeyNeeded;
  differBy: GroupField[];
  sockets: KernelSocket[];
  // ---- additions after the first keys of docs/json.md's `Group` ----
  /** Most flows open at one instant. */
  maxConcurrent: number;
  /** What the kernel looks sockets up by for this protocol. */
  kernelKey: 'address+port' | '4-tuple';
  /** Server addresses in order of their first flow. */
  serverIps: string[];
  /** 4-tuples that carried more than one flow (generations). */
  reusedTuples: number;
  /** TCP connections refused (SYN answered by RST): no server socket. */
  refused: number[];
  /** Flows that found no socket: the port was closed (TCP refused, or ICMP port unreachable). */
  closed: number[];
  /** Flows that found the port closed only part of the time (see GroupFlow.partlyClosed). */
  partlyClosed: number[];
  /** Some flow's client/server roles were guessed (no SYN seen; always so for UDP). */
  rolesInferred: boolean;
  /** What its flows speak (Flow.service), each once, in the order of the first flow saying it. */
  services: string[];
  /** The member flows, in id order. */
  members: GroupFlow[];
}

export interface PortRoleClash {
  proto: PortProto;
  port: number;
  /** Flows where the number is the server port. */
  asServer: number[];
  /** Flows where the number is the client port. */
  asClient: number[];
  /** Addresses that used the number both as a server and as a client port. */
  sameHost: string[];
  /** A flow involved had its roles guessed. */
  inferred: boolean;
}

export interface DemuxReport {
  /** Server ports shared by several flows (docs/json.md's `groups`), tcp before udp, by port. */
  groups: DemuxGroup[];
  /** Server ports with a single flow: the port alone finds its socket. Same order. */
  singles: DemuxGroup[];
  portRoleClashes: PortRoleClash[];
  /** Flows without ports (ICMP and other IP protocols), not part of any group. */
  unported: number[];
  /** Those of other IP protocols (OSPF, GRE, ESP...): the kernel keys their raw sockets on protocol and addresses. */
  otherProtocol: number[];
  /** All flows looked at. */
  flowCount: number;
  /** TCP/UDP flows that found no socket: their server port was closed. */
  closedFlows: number;
}

/** `1.2.3.4:80` or `[2001:db8::1]:80`. */
export function endpointText(e: FlowEndpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

export function compareTs(a: Timestamp, b: Timestamp): number {
  return a.sec - b.sec || a.nsec - b.nsec;
}

/** Closed intervals [start, end] intersect: both flows were open at some common instant. */
export function overlaps(a: { start: Timestamp; end: Timestamp }, b: { start: Timestamp; end: Timestamp }): boolean {
  return compareTs(a.start, b.end) <= 0 && compareTs(b.start, a.end) <= 0;
}

/**
 * Most intervals open at one instant: a sweep over starts and ends, a start sorted before an end
 * at the same time (closed intervals, see `overlaps`).
 */
export function maxOverlap(items: readonly { start: Timestamp; end: Timestamp }[]): number {
  const events: { t: Timestamp; d: number }[] = [];
  for (const it of items) {
    events.push({ t: it.start, d: 1 });
    // An end earlier than its start (reordered capture) still closes after its own start.
    events.push({ t: compareTs(it.end, it.start) < 0 ? it.start : it.end, d: -1 });
  }
  events.sort((x, y) => compareTs(x.t, y.t) || y.d - x.d);
  let open = 0;
  let max = 0;
  for (const e of events) {
    open += e.d;
    if (open > max) max = open;
  }
  return max;
}

/** A copy of an end, with what live capture said of its sockets. */
function endpointOf(e: FlowEndpoint): FlowEndpoint {
  const out: FlowEndpoint = { ip: e.ip, port: e.port };
  if (e.process !== undefined) out.process = e.process;
  if (e.listener !== undefined) out.listener = e.listener;
  if (e.socket !== undefined) out.socket = e.socket;
  return out;
}

/**
 * The process holding the server-side socket of the last of these members that has one (its
 * listener is not repeated here: it is the listen socket's).
 */
function serverProcess(members: readonly GroupFlow[]): EndpointProcess | undefined {
  for (let i = members.length - 1; i >= 0; i--) {
    const p = members[i]!.server.process;
    if (p === undefined) continue;
    if (p.state !== 'running') return p;
    const held: EndpointProcess = { pid: p.pid, command: p.command, state: 'running' };
    if (p.pids !== undefined) held.pids = p.pids;
    return held;
  }
  return undefined;
}

/**
 * A flow's facts for the picture. ICMP port unreachable is evidence about roles: when the roles
 * were guessed (UDP, no SYN) and every datagram went to the "client" end, which answered that it
 * had no socket, that end is the one being reached (a probe from a low port to a high one), so
 * the ends are swapped here; the flow record itself keeps the engine's guess.
 */
function member(f: Flow): GroupFlow {
  let client = f.client;
  let server = f.server;
  let toServer = f.toServer.packets;
  let toClient = f.toClient.packets;
  let unreachableServer = f.portUnreachable?.toServer ?? 0;
  let unreachableClient = f.portUnreachable?.toClient ?? 0;
  if (f.rolesInferred && unreachableClient > 0 && unreachableServer === 0 && toServer === 0) {
    [client, server] = [server, client];
    [toServer, toClient] = [toClient, toServer];
    [unreachableServer, unreachableClient] = [unreachableClient, unreachableServer];
  }
  let closed: ClosedAnswer | null = null;
  if (f.proto === 'tcp' && f.state === 'REJ') closed = 'rst';
  else if (unreachableServer > 0 && toClient === 0) closed = 'port-unreachable';
  return {
    id: f.id,
    generation: f.generation,
    client: endpointOf(client),
    server: endpointOf(server),
    start: f.start,
    end: f.end,
    state: f.state,
    rolesInferred: f.rolesInferred,
    closed,
    partlyClosed: closed === null && unreachableServer > 0,
    peerClosed: unreachableClient > 0,
    ...(f.service === undefined ? {} : { service: f.service }),
  };
}

/** The no-socket entry of one server address, or null when every flow found a socket. */
function closedPort(local: FlowEndpoint, list: readonly GroupFlow[]): ClosedPort | null {
  const refused = list.filter((m) => m.closed !== null);
  if (refused.length === 0) return null;
  const taken = list.filter((m) => m.closed === null);
  const lastRefused = refused.reduce((t, m) => (compareTs(m.end, t) > 0 ? m.end : t), refused[0]!.end);
  return {
    kind: 'closed',
    local,
    flows: refused.map((m) => m.id),
    peers: refused.map((m) => ({ ip: m.client.ip, port: m.client.port })),
    answers: refused.map((m) => m.closed!),
    openedLater: taken.length > 0 && taken.every((m) => compareTs(m.start, lastRefused) > 0),
  };
}

// A separator that cannot occur in address text, so joined keys cannot collide.
const SEP = '|';

function tupleKey(m: GroupFlow): string {
  return m.server.ip + SEP + m.client.ip + SEP + m.client.port;
}

/** The group of one (protocol, server port), members in id order. */
export function analyzeGroup(proto: PortProto, port: number, members: GroupFlow[]): DemuxGroup {
  const byTuple = new Map<string, GroupFlow[]>();
  const byServerIp = new Map<string, GroupFlow[]>();
  const clientIps = new Set<string>();
  const clientPorts = new Set<number>();
  for (const m of members) {
    const k = tupleKey(m);
    const t = byTuple.get(k);
    if (t) t.push(m);
    else byTuple.set(k, [m]);
    const s = byServerIp.get(m.server.ip);
    if (s) s.push(m);
    else byServerIp.set(m.server.ip, [m]);
    clientIps.add(m.client.ip);
    clientPorts.add(m.client.port);
  }

  let reusedTuples = 0;
  for (const t of byTuple.values()) if (t.length > 1) reusedTuples++;
  let keyNeeded: KeyNeeded;
  if (members.length <= 1) keyNeeded = 'port';
  else if (reusedTuples > 0) keyNeeded = '4-tuple+time';
  else if ([...byServerIp.values()].some((l) => l.length > 1)) keyNeeded = '4-tuple';
  else keyNeeded = 'address+port';

  const differBy: GroupField[] = [];
  if (clientIps.size > 1) differBy.push('client.ip');
  if (clientPorts.size > 1) differBy.push('client.port');
  if (byServerIp.size > 1) differBy.push('server.ip');

  const sockets: KernelSocket[] = [];
  const refused: number[] = [];
  for (const [ip, all] of byServerIp) {
    const local: FlowEndpoint = { ip, port };
    const noSocket = closedPort(local, all);
    if (proto === 'udp') {
      const list = noSocket === null ? all : all.filter((m) => m.closed === null);
      if (list.length === 0) {
        sockets.push(noSocket!); // nothing bound there: every datagram got port unreachable
        continue;
      }
      const peers: FlowEndpoint[] = [];
      const peerFlows: number[][] = [];
      const index = new Map<string, number>();
      for (const m of list) {
        const k = m.client.ip + SEP + m.client.port;
        let i = index.get(k);
        if (i === undefined) {
          i = peers.length;
          index.set(k, i);
          peers.push({ ip: m.client.ip, port: m.client.port });
          peerFlows.push([]);
        }
        peerFlows[i]!.push(m.id);
      }
      const u: UnconnectedSocket = { kind: 'unconnected', local, peers, peerFlows, flows: list.map((m) => m.id) };
      const owner = serverProcess(list);
      if (owner !== undefined) u.process = owner;
      // Live capture: what the kernel's table said of the socket the datagrams reached.
      const unconnected = list.find((m) => m.server.socket?.kind === 'unconnected')?.server.socket;
      if (unconnected !== undefined) {
        u.bound = unconnected.bound;
        if (unconnected.dualStack) u.dualStack = true;
      }
      const connected = list.filter((m) => m.server.socket?.kind === 'connected').map((m) => m.id);
      if (connected.length > 0) u.connectedFlows = connected;
      sockets.push(u);
      if (noSocket !== null) sockets.push(noSocket);
      continue;
    }
    const list = all;
    const live = list.filter((m) => m.state !== 'REJ' && m.closed === null);
    for (const m of list) if (m.state === 'REJ') refused.push(m.id);
    if (live.length === 0) {
      // Nobody listening on this address: every SYN got a RST (or port unreachable).
      if (noSocket !== null) sockets.push(noSocket);
      continue;
    }
    const listen: ListenSocket = { kind: 'listen', local, flows: live.filter((m) => !m.rolesInferred).map((m) => m.id) };
    for (const m of live) {
      const l = m.server.listener;
      if (l === undefined) continue;
      listen.bound = l.socket;
      if (l.pid !== undefined && l.command !== undefined) {
        listen.process = { pid: l.pid, command: l.command, state: 'running' };
        if (l.pids !== undefined) listen.process.pids = l.pids;
      }
      if (l.reuseport !== undefined) listen.reuseport = l.reuseport;
      break;
    }
    sockets.push(listen);
    const conns = new Map<string, ConnectionSocket>();
    const connMembers = new Map<ConnectionSocket, GroupFlow[]>();
    for (const m of live) {
      const k = m.client.ip + SEP + m.client.port;
      const c = conns.get(k);
      if (c) {
        c.flows.push(m.id);
        c.generations++;
        connMembers.get(c)!.push(m);
      } else {
        const s: ConnectionSocket = {
          kind: 'connection', local, remote: { ip: m.client.ip, port: m.client.port }, flows: [m.id], generations: 1,
        };
        conns.set(k, s);
        connMembers.set(s, [m]);
        sockets.push(s);
      }
    }
    for (const [c, ms] of connMembers) {
      const owner = serverProcess(ms);
      if (owner !== undefined) c.process = owner;
    }
    if (noSocket !== null) sockets.push(noSocket);
  }
  refused.sort((a, b) => a - b);

  const maxConcurrent = maxOverlap(members);
  return {
    proto,
    port,
    flows: members.map((m) => m.id),
    concurrent: maxConcurrent > 1,
    keyNeeded,
    differBy,
    sockets,
    maxConcurrent,
    kernelKey: proto === 'tcp' ? '4-tuple' : 'address+port',
    serverIps: [...byServerIp.keys()],
    reusedTuples,
    refused,
    closed: members.filter((m) => m.closed !== null).map((m) => m.id),
    partlyClosed: members.filter((m) => m.partlyClosed).map((m) => m.id),
    rolesInferred: members.some((m) => m.rolesInferred),
    services: [...new Set(members.flatMap((m) => (m.service === undefined ? [] : [m.service])))],
    members,
  };
}

/** Port role clashes over TCP/UDP members, by protocol then port. */
export function findRoleClashes(members: readonly GroupFlow[], protoOf: (m: GroupFlow) => PortProto): PortRoleClash[] {
  interface Uses {
    server: GroupFlow[];
    client: GroupFlow[];
  }
  const uses = new Map<string, Uses>();
  const get = (proto: PortProto, port: number): Uses => {
    const k = proto + SEP + port;
    let u = uses.get(k);
    if (!u) {
      u = { server: [], client: [] };
      uses.set(k, u);
    }
    return u;
  };
  for (const m of members) {
    const proto = protoOf(m);
    get(proto, m.server.port).server.push(m);
    get(proto, m.client.port).client.push(m);
  }
  const out: PortRoleClash[] = [];
  for (const [k, u] of uses) {
    if (u.server.length === 0 || u.client.length === 0) continue;
    // A flow with the same number at both ends (mDNS 5353 to 5353) is not a clash by itself.
    if (u.server.length === 1 && u.client.length === 1 && u.server[0] === u.client[0]) continue;
    const [proto, portText] = k.split(SEP) as [PortProto, string];
    const serverIps = new Set(u.server.map((m) => m.server.ip));
    const sameHost: string[] = [];
    for (const m of u.client) if (serverIps.has(m.client.ip) && !sameHost.includes(m.client.ip)) sameHost.push(m.client.ip);
    out.push({
      proto,
      port: Number(portText),
      asServer: u.server.map((m) => m.id),
      asClient: u.client.map((m) => m.id),
      sameHost,
      inferred: u.server.some((m) => m.rolesInferred) || u.client.some((m) => m.rolesInferred),
    });
  }
  return out.sort((a, b) => (a.proto === b.proto ? 0 : a.proto === 'tcp' ? -1 : 1) || a.port - b.port);
}

/**
 * The whole picture from finished flow records (any order; e.g. `engine.flows()` after
 * `engine.finish()`).
 */
export function buildDemux(flows: Iterable<Flow>): DemuxReport {
  const sorted = [...flows].sort((a, b) => a.id - b.id);
  const byPort = new Map<string, { proto: PortProto; port: number; members: GroupFlow[] }>();
  const protoById = new Map<number, PortProto>();
  const all: GroupFlow[] = [];
  const unported: number[] = [];
  const otherProtocol: number[] = [];
  for (const f of sorted) {
    if (f.proto !== 'tcp' && f.proto !== 'udp') {
      unported.push(f.id);
      if (f.ipProtocol !== undefined) otherProtocol.push(f.id);
      continue;
    }
    const m = member(f);
    all.push(m);
    protoById.set(f.id, f.proto);
    const k = f.proto + SEP + m.server.port;
    const g = byPort.get(k);
    if (g) g.members.push(m);
    else byPort.set(k, { proto: f.proto, port: m.server.port, members: [m] });
  }
  const analyzed = [...byPort.values()]
    .sort((a, b) => (a.proto === b.proto ? 0 : a.proto === 'tcp' ? -1 : 1) || a.port - b.port)
    .map((g) => analyzeGroup(g.proto, g.port, g.members));
  return {
    groups: analyzed.filter((g) => g.flows.length > 1),
    singles: analyzed.filter((g) => g.flows.length === 1),
    portRoleClashes: findRoleClashes(all, (m) => protoById.get(m.id)!),
    unported,
    otherProtocol,
    flowCount: sorted.length,
    closedFlows: all.filter((m) => m.closed !== null).length,
  };
}
