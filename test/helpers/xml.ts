/**
 * A small strict XML reader for the tests of JUnit reports: elements, attributes, text, the
 * five named entities and character references, one root, nothing else (no DTD, no CDATA, no
 * comments: the reports write none). Anything not well-formed throws, naming the offset, so a
 * test that parses a report also proves it is XML a CI system can read.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (entities decoded), children's text not included. */
  text: string;
}

const NAME = /[A-Za-z_:][\w.:-]*/y;
/** Characters XML 1.0 cannot hold. */
const INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

export function parseXml(src: string): XmlElement {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`not XML at offset ${i}: ${what}`);
  };
  const bad = INVALID.exec(src);
  if (bad !== null) {
    i = bad.index;
    fail(`character U+${bad[0].charCodeAt(0).toString(16)}`);
  }
  const decode = (text: string): string => {
    if (text.includes('<')) fail("'<' in text");
    return text.replace(/&([^;]*);?/g, (all, ref: string) => {
      if (!all.endsWith(';')) fail(`'&' that starts no reference`);
      const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
      if (ref in named) return named[ref]!;
      const m = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref);
      if (m === null) return fail(`unknown entity &${ref};`);
      return String.fromCodePoint(m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]));
    });
  };
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(src);
    if (m === null) return fail('a name was expected');
    i += m[0].length;
    return m[0];
  };
  const space = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  const element = (): XmlElement => {
    if (src[i] !== '<') fail("'<' expected");
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: '' };
    for (;;) {
      space();
      if (src.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (src[i] === '>') {
        i++;
        break;
      }
      const key = name();
      space();
      if (src[i] !== '=') fail("'=' expected");
      i++;
      space();
      const quote = src[i];
      if (quote !== '"' && quote !== "'") fail('a quoted value expected');
      const end = src.indexOf(quote!, i + 1);
      if (end < 0) fail('unclosed attribute value');
      if (key in el.attrs) fail(`attribute ${key} twice`);
      el.attrs[key] = decode(src.slice(i + 1, end));
      i = end + 1;
    }
    for (;;) {
      const lt = src.indexOf('<', i);
      if (lt < 0) fail(`</${el.name}> missing`);
      el.text += decode(src.slice(i, lt));
      i = lt;
      if (src.startsWith('</', i)) {
        i += 2;
        if (name() !== el.name) fail(`</${el.name}> expected`);
        space();
        if (src[i] !== '>') fail("'>' expected");
        i++;
        return el;
      }
      el.children.push(element());
    }
  };
  if (src.startsWith('<?xml')) {
    const end = src.indexOf('?>');
    if (end < 0) fail('unclosed declaration');
    i = end + 2;
  }
  space();
  const root = element();
  space();
  if (i !== src.length) fail('content after the root element');
  return root;
}
