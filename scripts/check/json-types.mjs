#!/usr/bin/env node
/**
 * The library API's TypeScript types for the JSON shapes, made from docs/json.md (the contract),
 * so the types can never say something the documented JSON does not:
 *
 *   node scripts/check/json-types.mjs          writes src/core/json-types.ts
 *   node scripts/check/json-types.mjs --check  exits 1 when that file is not what the doc makes
 *
 * Each `### `Kind`` heading with a Field | Type | Presence | Meaning table becomes an interface:
 * `integer`/`number` -> number, `string`, `boolean`, `null`, quoted values -> literal types,
 * a linked kind -> that interface, `array of X` -> X[], `or` -> a union; `optional` -> `?:`.
 * The Meaning column becomes the field's doc comment. (test/api/json-types.test.ts runs --check.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOC = join(ROOT, 'docs', 'json.md');
const OUT = join(ROOT, 'src', 'core', 'json-types.ts');

function tsType(text) {
  return text.split(/\s+or\s+/).map((alt) => {
    const a = alt.trim();
    const array = /^array of\s+(.*)$/.exec(a);
    if (array) {
      const inner = tsType(array[1]);
      return inner.includes('|') ? `(${inner})[]` : `${inner}[]`;
    }
    const link = /^\[`?([A-Za-z]+)`?\]\(#[^)]*\)$/.exec(a);
    if (link) return link[1];
    const code = /^`([^`]*)`$/.exec(a);
    const v = code ? code[1] : a;
    if (v === 'integer' || v === 'number') return 'number';
    if (v === 'string' || v === 'boolean' || v === 'null' || v === 'true' || v === 'false') return v;
    if (/^"[^"]*"$/.test(v) || /^-?\d+(\.\d+)?$/.test(v)) return v;
    throw new Error(`docs/json.md: type "${a}" is not one the tables use`);
  }).join(' | ');
}

function comment(text, indent) {
  const words = text.replace(/`/g, "'").replace(/\*\//g, '* /').split(/\s+/);
  const lines = [];
  let line = '';
  for (const w of words) {
    if (line.length + w.length + 1 > 96 - indent.length) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

export function generate(doc) {
  const out = [
    '/**',
    ' * The JSON shapes of flowdemux\'s output as TypeScript types, made from docs/json.md (the',
    ' * contract) by scripts/check/json-types.mjs: do not edit by hand, edit the doc and run it.',
    ' */',
    '',
  ];
  const lines = doc.split('\n');
  let kind = null;
  let intro = '';
  for (let i = 0; i < lines.length; i++) {
    const h = /^### `([A-Za-z]+)`\s*$/.exec(lines[i]);
    if (h) {
      kind = h[1];
      intro = '';
      continue;
    }
    if (kind && !lines[i].startsWith('|') && lines[i].trim() && !lines[i].startsWith('#')) intro += ` ${lines[i].trim()}`;
    if (kind && /^\| Field \| Type \| Presence \| Meaning \|/.test(lines[i])) {
      let body = '';
      let j = i + 2;
      for (; j < lines.length && lines[j].startsWith('|'); j++) {
        const cells = lines[j].slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
        const name = /^`([^`]+)`$/.exec(cells[0]);
        if (!name) throw new Error(`docs/json.md: ${kind}: a field name not in backticks: ${cells[0]}`);
        const optional = cells[2] === 'optional';
        if (!optional && cells[2] !== 'always') throw new Error(`docs/json.md: ${kind}.${name[1]}: presence "${cells[2]}"`);
        body += comment(cells.slice(3).join('|'), '  ');
        body += `  ${/^[A-Za-z_][A-Za-z0-9_]*$/.test(name[1]) ? name[1] : JSON.stringify(name[1])}${optional ? '?' : ''}: ${tsType(cells[1])};\n`;
      }
      if (intro.trim()) out.push(comment(intro.trim(), '').trimEnd());
      out.push(`export interface ${kind} {`, body.trimEnd(), '}', '');
      kind = null;
      i = j - 1;
    }
  }
  return out.join('\n');
}

const check = process.argv.includes('--check');
const text = generate(readFileSync(DOC, 'utf8'));
if (check) {
  let now = '';
  try {
    now = readFileSync(OUT, 'utf8');
  } catch {
    now = '';
  }
  if (now !== text) {
    process.stderr.write('src/core/json-types.ts is not what docs/json.md makes: run node scripts/check/json-types.mjs\n');
    process.exitCode = 1;
  }
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OUT, text);
  process.stderr.write(`wrote ${OUT}\n`);
}
