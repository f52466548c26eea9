/**
 * A strict well-formedness reader for the tests of what flowdemux writes as markup: the SVG
 * pictures, the HTML report and check's JUnit reports (through xml.ts). No parser is in
 * node_modules, and a heavy one is not worth a dependency here.
 *
 * `parseXml`: elements, quoted attributes (each once), text, comments, the five named entities
 * and character references, one root element; anything else throws, naming the offset. An SVG
 * that passes is XML every SVG viewer reads.
 *
 * `parseHtml`: the report's HTML as written: `<!DOCTYPE html>`, then the same strict rules,
 * with the void elements (`<meta>`, `<br>`...) allowed without `/>` and the raw text of
 * `<script>` and `<style>` taken as is (it must not hold its own end tag). A page that passes
 * parses the same way in a browser's HTML parser: no element is left open or closed twice.
 */
export interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
  /** The element's own text, entities decoded (the children's text not included). */
  text: string;
  parent: Element | null;
}

const NAME = /[A-Za-z_:][\w.:-]*/y;
const INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);
const RAW = new Set(['script', 'style']);

interface Mode {
  html: boolean;
}

function parse(src: string, mode: Mode): Element {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`not well-formed at offset ${i} (${JSON.stringify(src.slice(Math.max(0, i - 30), i + 30))}): ${what}`);
  };
  const bad = INVALID.exec(src);
  if (bad !== null) {
    i = bad.index;
    fail(`character U+${bad[0].charCodeAt(0).toString(16)}`);
  }
  const decode = (text: string, at: number): string => {
    if (text.includes('<')) {
      i = at;
      fail("'<' in text");
    }
    return text.replace(/&([^;&\s]*);?/g, (all, ref: string) => {
      i = at;
      if (!all.endsWith(';')) fail("'&' that starts no reference");
      if (ref in NAMED) return NAMED[ref]!;
      const m = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref);
      if (m === null) return fail(`unknown entity &${ref};`);
      return String.fromCodePoint(m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]));
    });
  };
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(src);
    if (m === null) fail('a name expected');
    i += m![0].length;
    return m![0];
  };
  const space = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  const skipMisc = () => {
    for (;;) {
      space();
      if (src.startsWith('<!--', i)) {
        const end = src.indexOf('-->', i + 4);
        if (end < 0) fail('comment not closed');
        if (src.slice(i + 4, end).includes('--')) fail("'--' inside a comment");
        i = end + 3;
      } else if (!mode.html && src.startsWith('<?xml', i)) {
        const end = src.indexOf('?>', i);
        if (end < 0 || i !== 0) fail('misplaced XML declaration');
        i = end + 2;
      } else return;
    }
  };

  skipMisc();
  if (mode.html) {
    if (!/^<!DOCTYPE html>/i.test(src.slice(i))) fail('<!DOCTYPE html> expected');
    i += '<!DOCTYPE html>'.length;
    skipMisc();
  }
  if (src[i] !== '<') fail('root element expected');
  const stack: Element[] = [];
  let root: Element | null = null;
  while (i < src.length) {
    if (stack.length === 0 && root !== null) {
      skipMisc();
      if (i < src.length) fail('content after the root element');
      break;
    }
    if (src.startsWith('<!--', i)) {
      skipMisc();
      continue;
    }
    if (src.startsWith('</', i)) {
      i += 2;
      const n = name();
      space();
      if (src[i] !== '>') fail("'>' expected");
      i++;
      const open = stack.pop();
      if (open === undefined || open.name !== n) fail(`</${n}> closes <${open?.name ?? 'nothing'}>`);
      continue;
    }
    if (src[i] === '<') {
      i++;
      const el: Element = { name: name(), attrs: {}, children: [], text: '', parent: stack[stack.length - 1] ?? null };
      for (;;) {
        const before = i;
        space();
        if (src.startsWith('/>', i)) {
          i += 2;
          break;
        }
        if (src[i] === '>') {
          i++;
          if (!mode.html || !VOID.has(el.name.toLowerCase())) stack.push(el);
          break;
        }
        if (i === before) fail('space expected before an attribute');
        const a = name();
        if (a in el.attrs) fail(`attribute ${a} given twice`);
        space();
        if (src[i] !== '=') fail(`'=' expected after ${a}`);
        i++;
        space();
        const q = src[i];
        if (q !== '"' && q !== "'") fail(`attribute ${a} not quoted`);
        const end = src.indexOf(q!, i + 1);
        if (end < 0) fail('attribute value not closed');
        el.attrs[a] = decode(src.slice(i + 1, end), i);
        i = end + 1;
      }
      if (el.parent !== null) el.parent.children.push(el);
      else if (root === null) root = el;
      else fail('a second root element');
      if (mode.html && RAW.has(el.name.toLowerCase()) && stack[stack.length - 1] === el) {
        const close = `</${el.name}`;
        const end = src.toLowerCase().indexOf(close.toLowerCase(), i);
        if (end < 0) fail(`<${el.name}> not closed`);
        el.text = src.slice(i, end);
        i = end;
      }
      continue;
    }
    const end = src.indexOf('<', i);
    const stop = end < 0 ? src.length : end;
    const text = decode(src.slice(i, stop), i);
    const top = stack[stack.length - 1];
    if (top === undefined) {
      if (text.trim() !== '') fail('text outside the root element');
    } else top.text += text;
    i = stop;
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1]!.name}> not closed`);
  if (root === null) fail('no root element');
  return root!;
}

export function parseXml(src: string): Element {
  return parse(src, { html: false });
}

export function parseHtml(src: string): Element {
  return parse(src, { html: true });
}

/** Every element below `root` (and itself) in document order. */
export function* elements(root: Element): Generator<Element> {
  yield root;
  for (const c of root.children) yield* elements(c);
}

/** The elements named `name` below `root`. */
export function byName(root: Element, name: string): Element[] {
  return [...elements(root)].filter((e) => e.name === name);
}

/** All the text of an element and its children, as a reader selects it. */
export function textOf(e: Element): string {
  return e.text + e.children.map(textOf).join('');
}
