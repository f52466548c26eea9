#!/usr/bin/env node
/**
 * `npm install` runs this: builds native/ (the kernel's socket lookup by netlink and a packet
 * socket's drop counters, see native/host.c) with the node-gyp that npm ships, the same way the
 * optional `cap` package is built. It is optional: where it cannot be built (no compiler, not
 * Linux) one line says so and live capture reads /proc instead, only slower. Never fails the
 * install.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const say = (why) => {
  process.stderr.write(`flowdemux: the optional native part was not built (${why}); live capture looks sockets up in /proc instead (slower)\n`);
  process.exit(0);
};

if (process.platform !== 'linux') process.exit(0); // netlink and packet sockets are Linux's
if (process.env.FLOWDEMUX_NATIVE === '0') process.exit(0);

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  // npm's own copy, next to the npm that runs this (or the global one).
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) if (existsSync(c)) return c;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

const gyp = nodeGyp();
if (gyp === null) say('node-gyp not found');
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--directory', join(root, 'native')], {
  stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8',
});
if (r.status !== 0) {
  const last = `${r.stderr ?? ''}`.trim().split('\n').filter((l) => /error/i.test(l)).pop() ?? `node-gyp exited ${r.status}`;
  say(last.replace(/^gyp ERR! /, '').slice(0, 200));
}
