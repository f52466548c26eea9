/**
 * A TCP connection's byte streams put back in order (demux/stream.ts): retransmissions once,
 * early segments held for their turn, what the capture did not hold a gap of known size.
 */
import { describe, expect, it } from 'vitest';
import { MAX_HELD, StreamReassembler, type StreamSink } from '../../src/demux/stream.js';

type Event = [dir: '>' | '<', what: string | number];

/** A sink that records text chunks and gap sizes, by direction. */
function recorder(): StreamSink & { events: Event[] } {
  const events: Event[] = [];
  return {
    events,
    data: (toServer, bytes) => events.push([toServer ? '>' : '<', Buffer.from(bytes).toString('latin1')]),
    gap: (toServer, length) => events.push([toServer ? '>' : '<', length]),
  };
}

const F = { syn: false, fin: false, rst: false, ack: true };
const SYN = { syn: true, fin: false, rst: false, ack: false };
const SYNACK = { syn: true, fin: false, rst: false, ack: true };
const FIN = { syn: false, fin: true, rst: false, ack: true };
const RST = { syn: false, fin: false, rst: true, ack: true };
const text = (s: string) => Buffer.from(s, 'latin1');

/** A handshake with ISNs 1000 (client) and 5000 (server): data starts at 1001 and 5001. */
function opened(): [StreamReassembler, Event[]] {
  const sink = recorder();
  const r = new StreamReassembler(sink);
  r.segment(true, SYN, 1000, 0, text(''), 0);
  r.segment(false, SYNACK, 5000, 1001, text(''), 0);
  r.segment(true, F, 1001, 5001, text(''), 0);
  return [r, sink.events];
}

describe('TCP stream reassembly', () => {
  it('in order: each segment as it comes, both ways', () => {
    const [r, events] = opened();
    r.segment(true, F, 1001, 5001, text('GET / '), 6);
    r.segment(true, F, 1007, 5001, text('HTTP/1.0\r\n'), 10);
    r.segment(false, F, 5001, 1017, text('HTTP/1.0 200 OK'), 15);
    r.segment(true, FIN, 1017, 5016, text(''), 0);
    r.segment(false, FIN, 5016, 1018, text(''), 0);
    r.finish();
    expect(events).toEqual([['>', 'GET / '], ['>', 'HTTP/1.0\r\n'], ['<', 'HTTP/1.0 200 OK']]);
  });

  it('a retransmission is given once; one that overlaps and reaches further gives only the new bytes', () => {
    const [r, events] = opened();
    r.segment(true, F, 1001, 5001, text('abcd'), 4);
    r.segment(true, F, 1001, 5001, text('abcd'), 4);
    r.segment(true, F, 1003, 5001, text('cdef'), 4);
    r.finish();
    expect(events).toEqual([['>', 'abcd'], ['>', 'ef']]);
  });

  it('out of order: an early segment waits for the bytes before it', () => {
    const [r, events] = opened();
    r.segment(true, F, 1005, 5001, text('efgh'), 4);
    r.segment(true, F, 1009, 5001, text('ijkl'), 4);
    expect(events).toEqual([]);
    r.segment(true, F, 1001, 5001, text('abcd'), 4);
    r.finish();
    expect(events).toEqual([['>', 'abcd'], ['>', 'efgh'], ['>', 'ijkl']]);
  });

  it('a lost segment: the bytes after it come after a gap of its size, at the end at the latest', () => {
    const [r, events] = opened();
    r.segment(true, F, 1001, 5001, text('abcd'), 4);
    r.segment(true, F, 1009, 5001, text('ijkl'), 4); // 1005-1008 never captured
    r.finish();
    expect(events).toEqual([['>', 'abcd'], ['>', 4], ['>', 'ijkl']]);
  });

  it('payload the snap length cut is a gap where it falls; a whole copy later fills nothing twice', () => {
    const [r, events] = opened();
    r.segment(true, F, 1001, 5001, text('ab'), 6); // 6 bytes, 2 captured
    r.segment(true, F, 1007, 5001, text('ghij'), 4);
    r.finish();
    expect(events).toEqual([['>', 'ab'], ['>', 4], ['>', 'ghij']]);
  });

  it('bytes acknowledged by the peer and never seen are a gap at the end (not the FIN octet)', () => {
    const [r, events] = opened();
    r.segment(false, F, 5001, 1001, text('0123456789'), 10);
    r.segment(true, F, 1001, 5031, text(''), 0); // acknowledges 20 bytes more than were seen
    r.segment(false, FIN, 5031, 1001, text(''), 0); // lost data then the FIN: 5031 is the FIN octet
    r.segment(true, F, 1001, 5032, text(''), 0);
    r.finish();
    expect(events).toEqual([['<', '0123456789'], ['<', 20]]);
  });

  it("a RST's payload is not stream data, and its ACK is not believed", () => {
    const [r, events] = opened();
    r.segment(true, F, 1001, 5001, text('ok'), 2);
    r.segment(false, RST, 5001, 9999, text('junk'), 4);
    r.finish();
    expect(events).toEqual([['>', 'ok']]);
  });

  it('caught mid-stream: the stream starts at the first data seen; sequence numbers wrap', () => {
    const sink = recorder();
    const r = new StreamReassembler(sink);
    r.segment(true, F, 0xfffffffe, 7, text('wxyz'), 4);
    r.segment(true, F, 2, 7, text('AB'), 2);
    r.finish();
    expect(sink.events).toEqual([['>', 'wxyz'], ['>', 'AB']]);
  });

  it('memory is bounded: past MAX_HELD bytes held early, the hole before them is given up as a gap', () => {
    const [r, events] = opened();
    const big = new Uint8Array(MAX_HELD / 4);
    for (let i = 0; i < 5; i++) r.segment(true, F, 1101 + i * big.length, 5001, big, big.length); // 100 bytes lost before them
    // The fifth held segment passed the bound: the 100-byte hole was declared and the data given.
    expect(events[0]).toEqual(['>', 100]);
    expect(events.slice(1).reduce((n, e) => n + (e[1] as string).length, 0)).toBe(5 * big.length);
    r.finish();
  });

  it('UDP: one chunk a datagram; a cut datagram is followed by its missing length', () => {
    const sink = recorder();
    const r = new StreamReassembler(sink);
    r.datagram(true, text('query'), 5);
    r.datagram(false, text('ans'), 8);
    expect(sink.events).toEqual([['>', 'query'], ['<', 'ans'], ['<', 5]]);
  });
});
