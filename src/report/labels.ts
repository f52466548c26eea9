/**
 * The process of a flow's end as text, for the tables and drawings (live capture only).
 */
import type { EndpointProcess, FlowEndpoint, ListenerProcess } from '../core/flow.js';

/** A process names itself (prctl, or node's process.title): control characters become \xNN. */
function commandText(command: string): string {
  return command.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * `python3 (pid 4121)`, `python3 (pid 4122, also held by 4121)` (a socket several processes
 * hold: the one said to own it first), `gone before lookup`.
 */
export function processLabel(p: EndpointProcess): string {
  if (p.state !== 'running') return 'gone before lookup';
  const command = commandText(p.command);
  if (p.pids !== undefined && p.pids.length > 1) {
    return `${command} (pid ${p.pid}, also held by ${p.pids.filter((x) => x !== p.pid).join(', ')})`;
  }
  return `${command} (pid ${p.pid})`;
}

/** `python3 (pid 4121)`, `one of 2 SO_REUSEPORT listeners`: the listener's owner as a label. */
export function listenerLabel(l: ListenerProcess): string {
  if (l.pid !== undefined && l.command !== undefined) {
    // The process that opened it; forked children that inherited it are counted, not listed.
    const others = l.pids !== undefined && l.pids.length > 1 ? ` and ${l.pids.length - 1} more` : '';
    const who = `${commandText(l.command)} (pid ${l.pid}${others})`;
    return l.reuseport ? `${who}, 1 of ${l.reuseport.listeners} SO_REUSEPORT listeners` : who;
  }
  if (l.reuseport) {
    const owners = l.reuseport.owners.map((o) => `${commandText(o.command)} (pid ${o.pid})`).join(', ');
    return `one of ${l.reuseport.listeners} SO_REUSEPORT listeners${owners ? `: ${owners}` : ''}`;
  }
  return 'owner not visible';
}

/**
 * An end's owner in a table cell: its own socket's process, and for a server end the listener's
 * owner when that is another process or the own socket was not seen:
 * `python3 (pid 10)`, `python3 (pid 11) via listener python3 (pid 10)`,
 * `gone before lookup; listener python3 (pid 10)`.
 */
export function endOwnerLabel(e: FlowEndpoint): string {
  const own = e.process === undefined ? '' : processLabel(e.process);
  const l = e.listener;
  if (l === undefined) return own;
  const same = e.process?.state === 'running' && l.pid === e.process.pid && l.reuseport === undefined;
  if (same) return own;
  if (e.process?.state === 'running') return `${own} via listener ${listenerLabel(l)}`;
  return `${own ? `${own}; ` : ''}listener ${listenerLabel(l)}`;
}
