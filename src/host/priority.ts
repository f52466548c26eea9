/**
 * Live capture names a connection's processes by looking at /proc and the kernel while the
 * connection is open; a curl against a dev server is open for 3-4 ms. On a busy machine (two
 * cores each running a CPU hog) a process of normal priority can wait that long just to be
 * scheduled, and the connection is gone before it is looked at. So `flowdemux live` raises the
 * priority of its own thread (nice -10) when it may (root, or CAP_SYS_NICE), for as long as it
 * captures, and puts it back afterwards; `--no-boost` leaves it alone. Measured on the 2-core
 * test machine with the load of other work beside it: 9-15 of 20 curls named without, 20 of 20
 * with (see the README's live section for the figures and the command).
 */
import { getPriority, setPriority } from 'node:os';

/** The nice value live capture runs at when it may. */
export const BOOSTED_NICE = -10;

export interface Boost {
  /** True when the priority was raised. */
  readonly raised: boolean;
  /** Puts the priority back (once). */
  restore(): void;
}

/** Raises this thread's priority to BOOSTED_NICE when permitted and not already higher. */
export function boostPriority(): Boost {
  let before: number;
  try {
    before = getPriority(0);
  } catch {
    return { raised: false, restore() {} };
  }
  if (before <= BOOSTED_NICE) return { raised: false, restore() {} };
  try {
    setPriority(0, BOOSTED_NICE);
  } catch {
    return { raised: false, restore() {} }; // not permitted: run as it is
  }
  let done = false;
  return {
    raised: true,
    restore() {
      if (done) return;
      done = true;
      try {
        setPriority(0, before);
      } catch {
        // Lowering one's own priority is always allowed; nothing to do if the thread is gone.
      }
    },
  };
}
