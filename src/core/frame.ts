/**
 * The one shape every capture source yields (pcap, pcapng, live).
 *
 * The frame's bytes are `bytes[offset, offset + capturedLength)`. `bytes` may be the source's
 * whole read buffer (classic pcap: a view per frame cost ~120 bytes of garbage and ~35 ns a
 * frame, issue 6) or a view of just the frame (offset 0). It stays valid while the batch that
 * carries it is being processed and may be overwritten afterwards. Consumers that keep bytes
 * (addresses in a flow key, a packet written with -w) copy them.
 */
export interface Frame {
  /** LINKTYPE_* number (https://www.tcpdump.org/linktypes.html), low 16 bits only. */
  linkType: number;
  /** Timestamp: whole seconds since the epoch (may exceed 2^32, stays an exact integer). */
  tsSec: number;
  /** Timestamp: nanoseconds within the second, 0..999_999_999. */
  tsNsec: number;
  /** Bytes present in `bytes` (the record's captured length). */
  capturedLength: number;
  /** Length of the packet on the wire; >= capturedLength unless the file lies. */
  originalLength: number;
  bytes: Uint8Array;
  /** Where the frame starts in `bytes`. */
  offset: number;
  /** pcapng interface index (0 for classic pcap and live capture). */
  interfaceId: number;
  /** Index of the capture this frame came from in the list given on the command line. */
  sourceIndex: number;
  /** 1-based frame number within its own capture (as tshark's frame.number). */
  number: number;
  /** Byte offset of the record in its (decompressed) capture, for messages. */
  fileOffset: number;
}

/** Facts about one capture, filled while it is read (the `captures` entries of the JSON). */
export interface CaptureInfo {
  path: string;
  format: 'pcap' | 'pcapng' | 'live' | 'unknown';
  compressed: boolean;
  byteOrder: 'LE' | 'BE' | null;
  /** pcap: from the magic; pcapng: the finest if_tsresol seen ('us', 'ns', or e.g. '1e-4'). */
  precision: string | null;
  /** Link type numbers in order of first appearance (per interface for pcapng). */
  linkTypes: number[];
  snapLength: number | null;
  packets: number;
  /** Damage read around: cut-off last record, bad blocks, ... One line each, naming the offset. */
  warnings: string[];
}

/** A capture that cannot be read at all (missing, not a capture, ...). Message is one line. */
export class CaptureError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'CaptureError';
  }
}

/**
 * A source of frames. Batches follow the underlying reads: every frame of a batch (and its
 * `bytes`) stays valid until the consumer asks for the next batch.
 */
/**
 * How far the reading of regular files has got: their size and the bytes read from them so far
 * (for gzip the compressed bytes, which is what the size counts). Counted per read of the
 * input, never per packet.
 */
export interface ByteMeter {
  readonly size: number;
  readonly bytesRead: number;
}

export interface FrameSource {
  readonly info: CaptureInfo;
  /**
   * The bytes arrive as a writer produces them (stdin or a FIFO fed by `tcpdump -U -w -`), not
   * from a file: each batch holds the records whose bytes have arrived, and the consumer should
   * pass its results on (flush its output) after every batch, before it asks for the next.
   */
  streaming?: boolean;
  /** A regular file's size and how much of it was read (the progress line's percent). */
  meter?: ByteMeter;
  batches(): AsyncIterable<Frame[]>;
  /**
   * Releases the input (file handle, gunzip stream) of a source whose batches are not read to
   * the end. Iterating to the end, or leaving the loop early (break), closes it already; this is
   * for a source that was opened but is never iterated. Optional: live sources may not need it.
   */
  close?(): Promise<void>;
}
