/**
 * What every test of the HTML report checks of its Content-Security-Policy: nothing from the
 * network, no wildcard, no 'unsafe-*', and only the page's own script and style by their hash.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import { byName, elements, type Element } from './markup.js';

export function cspOf(doc: Element): Map<string, string[]> {
  const meta = byName(doc, 'meta').find((m) => m.attrs['http-equiv'] === 'Content-Security-Policy');
  expect(meta, 'a CSP meta tag').toBeDefined();
  const out = new Map<string, string[]>();
  for (const d of meta!.attrs.content!.split(';')) {
    const [name, ...values] = d.trim().split(/\s+/);
    out.set(name!, values);
  }
  return out;
}

/** The CSP allows nothing from the network and only the page's own script and style. */
export function expectSafePolicy(doc: Element): void {
  const csp = cspOf(doc);
  const all = [...csp.values()].flat();
  expect(all.filter((v) => v.includes('*') || /^https?:/i.test(v) || /^'unsafe-/.test(v) || v === 'data:')).toEqual([]);
  expect(csp.get('default-src')).toEqual(["'none'"]);
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const scripts = byName(doc, 'script');
  const styles = byName(doc, 'style');
  expect(scripts).toHaveLength(1);
  expect(styles).toHaveLength(1);
  expect(csp.get('script-src')).toEqual([hash(scripts[0]!.text)]);
  expect(csp.get('style-src')).toEqual([hash(styles[0]!.text)]);
  // Nothing the policy would have to allow: no inline handler, no style attribute, no outside URL.
  for (const e of elements(doc)) {
    for (const [a, v] of Object.entries(e.attrs)) {
      expect(/^on/i.test(a), `${e.name} ${a}`).toBe(false);
      expect(a, `${e.name} style attribute`).not.toBe('style');
      if (a === 'href' || a === 'src' || a === 'xlink:href') expect(v, `${e.name} ${a}`).toMatch(/^#/);
    }
  }
}
