/**
 * The library's TypeScript types for the JSON shapes (src/core/json-types.ts) are made from the
 * contract (docs/json.md) and must say what it says: made again here and compared.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate } from '../../scripts/check/json-types.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('src/core/json-types.ts', () => {
  it('is what docs/json.md makes (node scripts/check/json-types.mjs writes it again)', () => {
    const made = (generate as (doc: string) => string)(readFileSync(`${ROOT}docs/json.md`, 'utf8'));
    expect(readFileSync(`${ROOT}src/core/json-types.ts`, 'utf8')).toBe(made);
  });

  it('has an interface for every object kind of the doc, with every field', () => {
    const doc = readFileSync(`${ROOT}docs/json.md`, 'utf8');
    const kinds = [...doc.matchAll(/^### `([A-Za-z]+)`$/gm)].map((m) => m[1]);
    const types = readFileSync(`${ROOT}src/core/json-types.ts`, 'utf8');
    for (const k of kinds) expect(types).toContain(`export interface ${k} {`);
    expect(kinds.length).toBeGreaterThanOrEqual(29);
  });
});
