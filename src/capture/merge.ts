/**
 * Several captures as one timeline (rotated files, or captures of two interfaces): a k-way
 * merge by timestamp.
 *
 * Order: (tsSec, tsNsec), ties by sourceIndex, then the position of the source in the list.
 * Within one capture the file order is kept even where its timestamps go backwards (only a
 * source's head frame takes part in the comparison), so a capture is never reordered.
 *
 * Validity: a frame (and its bytes) is valid until its source is asked for its next batch.
 * The merge therefore asks a source for its next batch only after every frame of the
 * previous one has been emitted *and* the consumer has asked for the next merged batch: a
 * merged batch ends as soon as one source's batch is used up, and that source is refilled
 * when the merged iterator is resumed. Every frame of a merged batch is thus valid until the
 * consumer asks for the next merged batch, the same contract as a single FrameSource.
 *
 * Cost: when the files do not overlap in time (rotation), the source with the earliest head
 * emits every frame up to the second-earliest head in a tight loop, comparing each frame
 * with one bound only, and a batch that goes out whole is passed on as the same array.
 */
import type { ByteMeter, Frame, FrameSource } from '../core/frame.js';

interface Cursor {
  iterator: AsyncIterator<Frame[]>;
  batch: Frame[];
  index: number;
  /** Position in the list, the last tie-break. */
  position: number;
  done: boolean;
}

/** a goes first: earlier time, then lower sourceIndex, then lower list position. */
function before(a: Frame, aPos: number, b: Frame, bPos: number): boolean {
  if (a.tsSec !== b.tsSec) return a.tsSec < b.tsSec;
  if (a.tsNsec !== b.tsNsec) return a.tsNsec < b.tsNsec;
  if (a.sourceIndex !== b.sourceIndex) return a.sourceIndex < b.sourceIndex;
  return aPos < bPos;
}

/** Loads the cursor's next non-empty batch, or marks it done. */
async function advance(c: Cursor): Promise<void> {
  for (;;) {
    const r = await c.iterator.next();
    if (r.done) {
      c.done = true;
      c.batch = [];
      c.index = 0;
      return;
    }
    if (r.value.length > 0) {
      c.batch = r.value;
      c.index = 0;
      return;
    }
  }
}

export function mergeSources(sources: FrameSource[]): AsyncIterable<Frame[]> {
  if (sources.length === 1) return sources[0]!.batches();
  return mergeMany(sources);
}

async function* mergeMany(sources: FrameSource[]): AsyncGenerator<Frame[]> {
  const cursors: Cursor[] = sources.map((s, position) => ({
    iterator: s.batches()[Symbol.asyncIterator](),
    batch: [],
    index: 0,
    position,
    done: false,
  }));
  try {
    await Promise.all(cursors.map(advance));
    let live = cursors.filter((c) => !c.done);

    while (live.length > 0) {
      let out: Frame[] = [];
      let exhausted: Cursor | null = null;

      while (exhausted === null) {
        // The earliest head, and the earliest among the others (the bound).
        let first = live[0]!;
        let second: Cursor | null = null;
        for (let i = 1; i < live.length; i++) {
          const c = live[i]!;
          if (before(c.batch[c.index]!, c.position, first.batch[first.index]!, first.position)) {
            second = first;
            first = c;
          } else if (second === null || before(c.batch[c.index]!, c.position, second.batch[second.index]!, second.position)) {
            second = c;
          }
        }

        const batch = first.batch;
        const n = batch.length;
        let i = first.index;
        if (second === null) {
          i = n;
        } else {
          const bound = second.batch[second.index]!;
          const bPos = second.position;
          const pos = first.position;
          // The head goes out in any case (it is the earliest); then everything not after the bound.
          i++;
          while (i < n && before(batch[i]!, pos, bound, bPos)) i++;
        }

        if (first.index === 0 && i === n && out.length === 0) {
          out = batch; // a whole batch in one go: pass the array on as it is
        } else {
          for (let k = first.index; k < i; k++) out.push(batch[k]!);
        }
        first.index = i;
        if (i === n) exhausted = first;
      }

      yield out;
      // The consumer is done with `out`: the used-up source may now reuse its buffers.
      await advance(exhausted);
      if (exhausted.done) live = live.filter((c) => c !== exhausted);
    }
  } finally {
    // Early exit (break in the consumer) or an error: let every source close its input.
    await Promise.all(cursors.map((c) => (c.done ? undefined : c.iterator.return?.())));
  }
}

/**
 * The sources' meters as one (the whole timeline's size and bytes read), or undefined when one
 * has none (a pipe): then no percent can be known.
 */
export function mergedMeter(sources: readonly FrameSource[]): ByteMeter | undefined {
  const meters = sources.map((s) => s.meter);
  if (meters.length === 0 || meters.some((m) => m === undefined)) return undefined;
  const all = meters as ByteMeter[];
  if (all.length === 1) return all[0];
  const size = all.reduce((sum, m) => sum + m.size, 0);
  return {
    size,
    get bytesRead() {
      return all.reduce((sum, m) => sum + m.bytesRead, 0);
    },
  };
}
