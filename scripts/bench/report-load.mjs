#!/usr/bin/env node
/**
 * The HTML report of a big capture: how big the file is, how long flowdemux takes to write it,
 * and how long Chromium takes to open it, measured in the browser (headless, through
 * playwright-core, the same driver as the browser tests).
 *
 *   node scripts/bench/report-load.mjs [--packets 2000000] [--runs 5] [--browser /usr/bin/chromium]
 *
 * 1. The capture of `npm run bench` (bench/.cache/bench-N.pcap, generated once if missing).
 * 2. `flowdemux report CAPTURE -o bench/.cache/report-N.html`: wall time, once, and the size.
 * 3. `--runs` loads of that file in a fresh browser context each, and as many of a tiny page (the
 *    browser's own cost): the navigation's start to DOMContentLoaded, to the load event, to the
 *    first paint and first contentful paint (the Performance API's own entries), and the time the
 *    page's script takes to filter the table (one `input` event, to the row count shown).
 *    Medians are printed, with the slowest run, and any console error or warning of the loads.
 * A timing, not a test: run it on a machine as quiet as can be, and say how busy it was.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const PACKETS = Number(opt('--packets', 2_000_000));
const RUNS = Number(opt('--runs', 5));
const BROWSER = opt('--browser', process.env.FLOWDEMUX_CHROMIUM ?? '/usr/bin/chromium');
const CACHE = join(ROOT, 'bench', '.cache');
const FILE = join(CACHE, `bench-${PACKETS}.pcap`);
const REPORT = join(CACHE, `report-${PACKETS}.html`);
const EMPTY = join(CACHE, 'report-empty.html');
const BIN = join(ROOT, 'bin', 'flowdemux.js');

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('report-load: build first (npm install runs the build)');
  process.exit(2);
}
if (!existsSync(BROWSER)) {
  console.error(`report-load: no browser at ${BROWSER} (apt-get install chromium, or --browser PATH)`);
  process.exit(2);
}
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  console.error('report-load: playwright-core is not installed (npm install: it is a devDependency)');
  process.exit(2);
}
mkdirSync(CACHE, { recursive: true });
if (!existsSync(FILE)) {
  console.error(`report-load: generating ${FILE} (once)...`);
  const gen = join(ROOT, 'scripts', 'bench', 'generate.mjs');
  execFileSync(process.execPath, [gen, FILE, '--packets', String(PACKETS), '--flows', String(Math.round(PACKETS / 20)), '--seed', '1'], { stdio: 'inherit' });
}

const load = loadavg()[0];
const started = process.hrtime.bigint();
const made = spawnSync(process.execPath, [BIN, 'report', FILE, '-o', REPORT], { encoding: 'utf8' });
const writeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
if (made.status !== 0) {
  console.error(`report-load: flowdemux report failed (${made.status}): ${made.stderr}`);
  process.exit(1);
}
const size = statSync(REPORT).size;
// The browser's own cost of opening a local file and painting a line.
writeFileSync(EMPTY, '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>empty</title></head><body><p>empty</p></body></html>\n');

const browser = await chromium.launch({
  executablePath: BROWSER, headless: true, timeout: 120_000, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
});

/** Console errors and warnings, and uncaught exceptions, of every load (a big page must have none). */
const problems = [];

/** One load in a fresh context: the navigation's milestones in ms from its start, and the filter's time. */
async function measureLoad(url, filter) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
  // Paint entries come with the next frame after load at the latest.
  await page.waitForFunction(() => performance.getEntriesByType('paint').length >= 2, null, { timeout: 120_000 });
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
    return { dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, fp: paint['first-paint'], fcp: paint['first-contentful-paint'] };
  });
  if (filter) {
    t.filter = await page.evaluate(() => new Promise((resolve) => {
      const input = document.getElementById('flow-filter');
      const t0 = performance.now();
      input.value = 'tcp';
      input.dispatchEvent(new Event('input'));
      // After the next frame: the rows hidden are laid out again.
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0), 0));
    }));
    t.shown = await page.$eval('#flow-count', (e) => e.textContent);
  }
  await context.close();
  return t;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs = { report: [], empty: [] };
for (let i = 0; i < RUNS; i++) {
  runs.empty.push(await measureLoad(pathToFileURL(EMPTY).href, false));
  runs.report.push(await measureLoad(pathToFileURL(REPORT).href, true));
}
const version = browser.version();
await browser.close();

const row = (label, list, key) => {
  const xs = list.map((r) => r[key]);
  return `${label.padEnd(34)} ${median(xs).toFixed(0).padStart(8)} ${Math.max(...xs).toFixed(0).padStart(8)}`;
};
console.log(`\nreport of ${FILE} (${PACKETS.toLocaleString('en-US')} packets)`);
console.log(`  ${REPORT}: ${(size / 1e6).toFixed(2)} MB (${size.toLocaleString('en-US')} bytes), written in ${writeSeconds.toFixed(1)} s`);
console.log(`  Chromium ${version} headless, ${RUNS} loads each, a fresh context per load; ${cpus().length} cores, load average ${load.toFixed(2)} at the start\n`);
console.log('ms from the navigation\'s start         median  slowest');
for (const [key, label] of [['dcl', 'DOMContentLoaded'], ['load', 'load event'], ['fp', 'first paint'], ['fcp', 'first contentful paint']]) {
  console.log(row(`report: ${label}`, runs.report, key));
  console.log(row(`empty page: ${label}`, runs.empty, key));
}
console.log(row('report: filter the table (script)', runs.report, 'filter'));
console.log(`  (filter 'tcp': ${runs.report[0].shown})`);
console.log(`console errors and warnings, uncaught exceptions: ${problems.length === 0 ? 'none' : problems.join('; ')}`);
