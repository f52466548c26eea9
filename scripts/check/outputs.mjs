#!/usr/bin/env node
/**
 * Every output of every file command on a set of captures, hashed: the check that a change which
 * should change no behaviour (a refactor) changes no byte.
 *
 *   node scripts/check/outputs.mjs write before.json [DIR ...]   (default: fixtures/)
 *   node scripts/check/outputs.mjs compare before.json after.json
 *
 * For each capture under the DIRs (recursively: .pcap, .pcapng, .cap, .gz and files without a
 * known extension that start with a capture magic), runs in this process, through the CLI's own
 * `run(argv, io)` from dist/: packets (table, ndjson), flows (table, json, ndjson, csv, zeek),
 * demux (table, json, dot, mermaid, table --explain) and ladder of flow 1, and keeps a SHA-256 of
 * stdout, stderr and the exit code of each. `compare` lists every (capture, command) whose hash
 * differs, and exits 1 if any does.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

const VARIANTS = [
  ['packets', '--format', 'table'],
  ['packets', '--format', 'ndjson'],
  ['flows', '--format', 'table'],
  ['flows', '--format', 'json'],
  ['flows', '--format', 'ndjson'],
  ['flows', '--format', 'csv'],
  ['flows', '--format', 'zeek'],
  ['demux', '--format', 'table'],
  ['demux', '--format', 'json'],
  ['demux', '--format', 'dot'],
  ['demux', '--format', 'mermaid'],
  ['demux', '--format', 'table', '--explain'],
  ['ladder', '--flow', '1'],
];

const MAGICS = new Set(['a1b2c3d4', 'd4c3b2a1', 'a1b23c4d', '4d3cb2a1', '0a0d0d0a', '1f8b']);

function isCapture(path) {
  if (/\.(pcap|pcapng|cap|gz|pcap\.gz|pcapng\.gz)$/i.test(path)) return true;
  if (/\.(json|tsv|txt|md|csv|log|sha256|sums)$/i.test(path) || /SHA256SUMS|README/.test(path)) return false;
  const b = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  const n = readSync(fd, b, 0, 4, 0);
  closeSync(fd);
  const hex = b.toString('hex', 0, n);
  return MAGICS.has(hex) || MAGICS.has(hex.slice(0, 4));
}

function captures(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...captures(p));
    else if (st.isFile() && isCapture(p)) out.push(p);
  }
  return out;
}

class Sink extends Writable {
  constructor() {
    super();
    this.hash = createHash('sha256');
    this.isTTY = false;
  }

  _write(chunk, _enc, cb) {
    this.hash.update(chunk);
    cb();
  }
}

async function write(outFile, dirs) {
  const { run } = await import(pathToFileURL(join(ROOT, 'dist', 'cli', 'main.js')).href);
  // Named from the folder given, so that two checkouts (or a corpus elsewhere) compare.
  const files = dirs.flatMap((d) => captures(resolve(d)).map((f) => [f, join(basename(resolve(d)), relative(resolve(d), f))]));
  const result = {};
  let i = 0;
  for (const [file, key] of files) {
    result[key] = {};
    // Run from the folder's parent with the path as named in the key: the outputs that name
    // the capture then name it the same in both checkouts.
    process.chdir(resolve(file, ...key.split('/').map(() => '..')));
    for (const v of VARIANTS) {
      const stdout = new Sink();
      const stderr = new Sink();
      const code = await run([v[0], key, ...v.slice(1)], { stdout, stderr, stdin: Readable.from([]) });
      const h = createHash('sha256');
      h.update(stdout.hash.digest('hex'));
      h.update(stderr.hash.digest('hex'));
      h.update(String(code));
      result[key][v.join(' ')] = h.digest('hex').slice(0, 16);
    }
    if (++i % 100 === 0) process.stderr.write(`${i}/${files.length}\n`);
  }
  writeFileSync(outFile, JSON.stringify(result, null, 1));
  process.stderr.write(`${files.length} captures x ${VARIANTS.length} outputs hashed into ${outFile}\n`);
}

function compare(aFile, bFile) {
  const a = JSON.parse(readFileSync(aFile, 'utf8'));
  const b = JSON.parse(readFileSync(bFile, 'utf8'));
  let same = 0;
  const diff = [];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    for (const v of new Set([...Object.keys(a[key] ?? {}), ...Object.keys(b[key] ?? {})])) {
      if (a[key]?.[v] === b[key]?.[v]) same++;
      else diff.push(`${key}: ${v}`);
    }
  }
  for (const d of diff) console.log(`differs: ${d}`);
  console.log(`${same} outputs identical, ${diff.length} differ`);
  return diff.length === 0 ? 0 : 1;
}

const [verb, ...rest] = process.argv.slice(2);
if (verb === 'write' && rest.length >= 1) await write(rest[0], rest.length > 1 ? rest.slice(1) : [join(ROOT, 'fixtures')]);
else if (verb === 'compare' && rest.length === 2) process.exitCode = compare(rest[0], rest[1]);
else {
  process.stderr.write('usage: outputs.mjs write OUT.json [DIR ...] | compare A.json B.json\n');
  process.exitCode = 2;
}
