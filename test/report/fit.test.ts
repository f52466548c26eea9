/** The column fitting of terminal tables (src/report/fit.ts), with widths. */
import { describe, expect, it } from 'vitest';
import {
  cutText, dropColumns, fitColumns, plainWidth, renderColumns, replaceColumns, visibleWidth, wrapLine, type Column,
} from '../../src/report/fit.js';

const cols = (): Column[] => [
  { head: 'id', cells: ['1', '12'], align: 'right' },
  { head: 'client', cells: ['[2001:db8:85a3::8a2e:370:7334]:443', '10.0.0.1:80'], min: 12, cut: 'middle' },
  { head: 'bytes', cells: ['1234567', '1'], align: 'right' },
  { head: 'note', cells: ['a long free text column', ''], min: 6, cut: 'end' },
];

describe('fitColumns', () => {
  it('leaves a table that fits as it is', () => {
    const c = cols();
    expect(plainWidth(c)).toBe(2 + 34 + 7 + 23 + 3 * 2);
    expect(fitColumns(c, 72)).toBe(c);
  });

  it('applies the steps in order, only while the table is too wide', () => {
    const steps = [dropColumns('bytes'), dropColumns('id')];
    expect(fitColumns(cols(), 63, steps).map((c) => c.head)).toEqual(['id', 'client', 'note']);
    expect(fitColumns(cols(), 59, steps).map((c) => c.head)).toEqual(['client', 'note']);
  });

  it('then cuts the widest cuttable column first, never below its min, never the others', () => {
    const fitted = fitColumns(cols(), 50);
    expect(plainWidth(fitted)).toBe(50);
    const client = fitted.find((c) => c.head === 'client')!;
    // The address is cut in the middle: its start and its port stay.
    expect(client.cells[0]).toMatch(/^\[2001:db….*:443$/);
    expect(fitted.find((c) => c.head === 'bytes')!.cells).toEqual(['1234567', '1']);
    // Narrower than every min allows: each cuttable column at its min, the rest whole.
    const tight = fitColumns(cols(), 20);
    expect(tight.map((c) => Math.max(...[c.head, ...c.cells].map(visibleWidth)))).toEqual([2, 12, 7, 6]);
  });

  it('replaceColumns merges columns in place of the last', () => {
    const merged = replaceColumns(['bytes', 'id'], () => ({ head: 'both', cells: ['x', 'y'] }))(cols());
    expect(merged.map((c) => c.head)).toEqual(['client', 'both', 'note']);
  });
});

describe('renderColumns', () => {
  it('pads and aligns, GAP apart, no trailing spaces; cuts lines to a width as a last resort', () => {
    const c: Column[] = [{ head: 'n', cells: ['1', '10'], align: 'right' }, { head: 'name', cells: ['ab', ''] }];
    expect(renderColumns(c)).toBe(' n  name\n 1  ab\n10\n');
    for (const line of renderColumns(cols(), 30).split('\n')) expect(visibleWidth(line)).toBeLessThanOrEqual(30);
  });
});

describe('cutText, wrapLine and visibleWidth', () => {
  it('cuts with an ellipsis at the end or in the middle', () => {
    expect(cutText('abcdefgh', 5)).toBe('abcd…');
    expect(cutText('abcdefgh', 5, 'middle')).toBe('ab…gh');
    expect(cutText('abc', 5)).toBe('abc');
  });

  it('counts columns without ANSI escapes', () => {
    expect(visibleWidth('\x1b[1m→ ab\x1b[0m')).toBe(4);
  });

  it('wraps at spaces under the indentation plus two, keeping inner spacing', () => {
    expect(wrapLine('  key  value one two three', 16)).toEqual(['  key  value one', '    two three']);
    expect(wrapLine('short', 16)).toEqual(['short']);
    for (const l of wrapLine('x '.repeat(5) + 'y'.repeat(40), 12)) expect(visibleWidth(l)).toBeLessThanOrEqual(12);
  });
});
