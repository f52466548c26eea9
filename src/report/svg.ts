/**
 * What every SVG picture of flowdemux shares: escaping, text in a monospace font (so that a
 * label's width is known without a browser to measure it), the palette and the document frame.
 *
 * Every text goes in as `<text>` (selectable, searchable, read by screen readers) through
 * `xmlText`, which escapes markup and drops the characters XML 1.0 cannot hold: labels hold
 * addresses and, in live capture, process names and command lines, which come from anywhere.
 *
 * The palette is Okabe and Ito's, made to be told apart by readers with any common colour
 * vision deficiency; each meaning also has its own shape or dash, so the picture still reads
 * printed in black and white.
 */

/** Okabe-Ito colours by what they mean in the pictures. */
export const PALETTE = {
  listen: '#0072B2', // blue
  connection: '#009E73', // bluish green
  udp: '#CC79A7', // reddish purple
  closed: '#D55E00', // vermillion
  shared: '#E69F00', // orange
  ink: '#222222',
  grey: '#666666',
} as const;

/** Light fills behind text (the colours above, mostly white). */
export const FILL = {
  shared: '#fbe8c4',
  server: '#d9ecf8',
  client: '#f2f2f2',
  white: '#ffffff',
} as const;

/** The font of every label: monospace, so that width = characters × CHAR_WIDTH × size. */
export const FONT_FAMILY = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace";
/** Advance of one character of a monospace font, in ems (DejaVu Sans Mono 0.602, Menlo 0.602). */
const CHAR_WIDTH = 0.61;

// Characters XML 1.0 cannot hold (controls other than tab, LF and CR; lone surrogates; U+FFFE/F).
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Text for XML or HTML, in an element or a quoted attribute: `& < > " '` as references, and
 * characters XML cannot hold as U+FFFD.
 */
export function xmlText(text: string): string {
  return text.replace(NOT_XML, '\ufffd').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Width of `text` in the label font at `size` px (monospace: characters × advance). */
export function textWidth(text: string, size: number): number {
  return [...text].length * CHAR_WIDTH * size;
}

/** Width of the longest line. */
export function linesWidth(lines: readonly string[], size: number): number {
  return Math.max(0, ...lines.map((l) => textWidth(l, size)));
}

/** A number for an attribute: at most two decimals, no `-0`. */
export function num(n: number): string {
  const r = Math.round(n * 100) / 100;
  return String(r === 0 ? 0 : r);
}

export interface TextOptions {
  size: number;
  anchor?: 'start' | 'middle' | 'end';
  weight?: 'bold';
  fill?: string;
  /** Line height in px (default 1.3 × size). */
  lineHeight?: number;
}

/**
 * `<text>` of one or more lines, the first line's baseline at `y`. Each line is a `<tspan>`
 * placed at `x`, so selecting the text gives the lines as the picture shows them.
 */
export function svgText(x: number, y: number, lines: readonly string[], o: TextOptions): string {
  const lh = o.lineHeight ?? o.size * 1.3;
  const attrs = [`x="${num(x)}"`, `y="${num(y)}"`, `font-size="${o.size}"`];
  if (o.anchor !== undefined && o.anchor !== 'start') attrs.push(`text-anchor="${o.anchor}"`);
  if (o.weight !== undefined) attrs.push(`font-weight="${o.weight}"`);
  if (o.fill !== undefined) attrs.push(`fill="${o.fill}"`);
  if (lines.length === 1) return `<text ${attrs.join(' ')}>${xmlText(lines[0]!)}</text>`;
  const spans = lines.map((l, i) => `<tspan x="${num(x)}"${i === 0 ? '' : ` dy="${num(lh)}"`}>${xmlText(l)}</tspan>`);
  return `<text ${attrs.join(' ')}>${spans.join('')}</text>`;
}

export interface SvgDocumentOptions {
  width: number;
  height: number;
  /** The picture's title: the first child `<title>`, the accessible name. */
  title: string;
  /** A longer description (`<desc>`). */
  desc?: string;
  /** `id` of the root element (in an HTML page, to link to it). */
  id?: string;
  /** `<defs>` content: markers, patterns. */
  defs?: string;
}

/**
 * A standalone SVG document (also valid inline in HTML): the size in px, a viewBox so that it
 * scales, the title first, then `body`.
 */
export function svgDocument(o: SvgDocumentOptions, body: readonly string[]): string {
  const w = num(Math.ceil(o.width));
  const h = num(Math.ceil(o.height));
  const id = o.id !== undefined ? ` id="${xmlText(o.id)}"` : '';
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg"${id} width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" `
      + `font-family="${xmlText(FONT_FAMILY)}">`,
    `<title>${xmlText(o.title)}</title>`,
  ];
  if (o.desc !== undefined) out.push(`<desc>${xmlText(o.desc)}</desc>`);
  if (o.defs !== undefined) out.push(`<defs>${o.defs}</defs>`);
  out.push(`<rect width="${w}" height="${h}" fill="#ffffff"/>`);
  out.push(...body);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** An arrowhead marker `id` in `colour`, for `marker-end="url(#id)"`. */
export function arrowMarker(id: string, colour: string): string {
  return `<marker id="${id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">`
    + `<path d="M0,0 L10,5 L0,10 z" fill="${colour}"/></marker>`;
}
