/**
 * Tables and text that fit a terminal's width. A terminal wraps a line wider than itself onto
 * the next row, which breaks a table into unreadable pieces; so on a terminal the report is
 * narrowed instead: columns merged, shortened or dropped by priority (the renderer says which
 * go first, as a `ss` or tshark user would give them up), then the longest cells cut with an
 * ellipsis. Prose lines are word-wrapped under their own indentation. Pure: widths in, text out.
 *
 * Widths count code points after removing ANSI escapes: the arrows and box characters used
 * here are one column wide each.
 */

export interface Column {
  head: string;
  cells: string[];
  align?: 'left' | 'right';
  /**
   * The narrowest the column may be cut to, with an ellipsis, once no step is left; absent: never
   * cut (ids, counts, states: a cut number would lie).
   */
  min?: number;
  /** Where the ellipsis goes: 'middle' keeps both ends (an address keeps its port), 'end' the start. */
  cut?: 'middle' | 'end';
}

/** A narrower variant of the table (columns merged, shortened or dropped); tried in order. */
export type FitStep = (cols: Column[]) => Column[];

/** Spaces between two columns of a plain table. */
export const GAP = 2;
const ELLIPSIS = '…';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Columns a string takes on a terminal (ANSI escapes removed, one column a code point). */
export function visibleWidth(text: string): number {
  let n = 0;
  for (const _ of text.replace(ANSI, '')) n++;
  return n;
}

/** `text` in at most `width` columns, an ellipsis where it was cut. */
export function cutText(text: string, width: number, where: 'middle' | 'end' = 'end'): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return ELLIPSIS.slice(0, Math.max(0, width));
  if (where === 'end') return chars.slice(0, width - 1).join('') + ELLIPSIS;
  const tail = Math.floor((width - 1) / 2);
  return chars.slice(0, width - 1 - tail).join('') + ELLIPSIS + chars.slice(chars.length - tail).join('');
}

export function columnWidth(col: Column): number {
  return Math.max(visibleWidth(col.head), ...col.cells.map(visibleWidth));
}

/** Width of the plain rendering (renderColumns): the columns and the gaps between them. */
export function plainWidth(cols: readonly Column[]): number {
  return cols.reduce((sum, c) => sum + columnWidth(c), 0) + GAP * Math.max(0, cols.length - 1);
}

/** Width of the boxed rendering of cli-table3 (one space of padding each side, a rule between). */
export function boxedWidth(cols: readonly Column[]): number {
  return cols.reduce((sum, c) => sum + columnWidth(c) + 3, 0) + 1;
}

/**
 * The columns narrowed to `width`: each step is applied in turn while the table is too wide;
 * then the cuttable columns (those with `min`) are cut, the widest first, down to their `min`.
 * The result may still be wider when nothing more can go (renderColumns cuts the lines then).
 */
export function fitColumns(cols: Column[], width: number, steps: readonly FitStep[] = []): Column[] {
  let cur = cols;
  for (const step of steps) {
    if (plainWidth(cur) <= width) return cur;
    cur = step(cur);
  }
  let excess = plainWidth(cur) - width;
  if (excess <= 0) return cur;
  const widths = cur.map(columnWidth);
  while (excess > 0) {
    let widest = -1;
    cur.forEach((c, i) => {
      if (c.min !== undefined && widths[i]! > c.min && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
    });
    if (widest < 0) break;
    widths[widest]!--;
    excess--;
  }
  return cur.map((c, i) => {
    const w = widths[i]!;
    if (c.min === undefined || columnWidth(c) <= w) return c;
    return { ...c, head: cutText(c.head, w, 'end'), cells: c.cells.map((t) => cutText(t, w, c.cut)) };
  });
}

/**
 * The columns as plain text, a header line then one line a row, GAP spaces apart, trailing
 * spaces removed; every line cut to `width` when one is given (the last resort of a very narrow
 * terminal).
 */
export function renderColumns(cols: readonly Column[], width?: number): string {
  const widths = cols.map(columnWidth);
  const rows = cols.length === 0 ? 0 : cols[0]!.cells.length;
  const pad = (text: string, i: number) => {
    const room = ' '.repeat(Math.max(0, widths[i]! - visibleWidth(text)));
    return cols[i]!.align === 'right' ? room + text : text + room;
  };
  const line = (cells: string[]) => {
    const text = cells.map(pad).join(' '.repeat(GAP)).trimEnd();
    return width === undefined ? text : cutText(text, width, 'end');
  };
  const out = [line(cols.map((c) => c.head))];
  for (let r = 0; r < rows; r++) out.push(line(cols.map((c) => c.cells[r] ?? '')));
  return out.join('\n') + '\n';
}

/** Leaves the other columns as they are and drops those named. */
export function dropColumns(...heads: string[]): FitStep {
  return (cols) => cols.filter((c) => !heads.includes(c.head));
}

/**
 * Replaces the columns named in `heads` by `make()`, where the last of them was (`pkts →`,
 * `bytes →`, `pkts ←`, `bytes ←` with `bytes` for both: after `pkts ←`); a no-op when none is there.
 */
export function replaceColumns(heads: string[], make: () => Column): FitStep {
  return (cols) => {
    let at = -1;
    cols.forEach((c, i) => {
      if (heads.includes(c.head)) at = i;
    });
    if (at < 0) return cols;
    const out = cols.filter((c, i) => i === at || !heads.includes(c.head));
    out[out.indexOf(cols[at]!)] = make();
    return out;
  };
}

/**
 * Cuts the column named `head` (at the end, to its `min` at most) so that the table fits
 * `width`: the column to give up first, whole, before the others are cut too.
 */
export function cutToFit(head: string, width: number): FitStep {
  return (cols) => cols.map((c) => {
    if (c.head !== head) return c;
    const room = Math.max(c.min ?? 1, width - (plainWidth(cols) - columnWidth(c)));
    return { ...c, head: cutText(c.head, room), cells: c.cells.map((t) => cutText(t, room, c.cut)) };
  });
}

/**
 * One line in lines of at most `width` columns, broken at spaces; the next lines are indented
 * two more than the first (so they read as its continuation). A word longer than a line is cut.
 */
export function wrapLine(line: string, width: number): string[] {
  if (visibleWidth(line) <= width) return [line];
  const indent = /^ */.exec(line)![0];
  const more = ' '.repeat(Math.min(indent.length + 2, Math.floor(width / 2)));
  const out: string[] = [];
  let cur = indent;
  let gap = '';
  let empty = true;
  // Each word with the spaces that followed it: on the same line, the spacing stays as it was.
  for (const [, word, spaces] of line.slice(indent.length).matchAll(/(\S+)( *)/g)) {
    const joined = cur + gap + word!;
    if (!empty && visibleWidth(joined) > width) {
      out.push(cutText(cur, width));
      cur = more + word!;
    } else {
      cur = joined;
    }
    empty = false;
    gap = spaces!;
  }
  out.push(cutText(cur, width));
  return out;
}

/** Every line of `text` wrapped to `width` (wrapLine); without a width (piped), `text` itself. */
export function wrapText(text: string, width: number | undefined): string {
  if (width === undefined) return text;
  const end = text.endsWith('\n');
  const lines = (end ? text.slice(0, -1) : text).split('\n');
  return lines.flatMap((l) => wrapLine(l, width)).join('\n') + (end ? '\n' : '');
}
