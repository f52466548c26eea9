#!/usr/bin/env node
/**
 * `npm run bench`: packets/s and peak memory of flowdemux on a large generated capture, beside
 * tshark's conversation statistics and `cat` when present, measured in the same run.
 *
 *   node scripts/bench/run.mjs [--packets 2000000] [--runs 3] [--tshark-runs 1] [--scale 10000000]
 *                              [--no-tshark] [--no-peers] [--no-jobs] [--no-live] [--no-report] [--only-mixed | --only-busy]
 *
 * 1. Generates (once, cached in bench/.cache, deterministic from a seed) two Ethernet/IPv4 pcaps
 *    (generate.mjs): the mixed capture, 2,000,000 packets, about 100,000 TCP and UDP flows of
 *    mixed lengths, 2,000 open at once; and the busy-server capture (--busy-server: 100,000 flows
 *    of 20 packets, HTTP, TLS and DNS, 60,000 client addresses).
 * 2. On each, times `flowdemux flows --format json > /dev/null` and `--format ndjson`, `--runs`
 *    times each, and prints the median wall time, packets/s, MB/s and peak RSS (the largest); and
 *    `flows --format json --jobs 2` (one capture over two threads; --no-jobs skips it).
 * 3. The same for `cat FILE`, the C flow meters `nfpcapd -r FILE -w DIR` (nfdump) and
 *    `argus -r FILE -w OUT` (argus-server), and `tshark -q -z conv,tcp -z conv,udp -r FILE`, when
 *    installed (Debian packages nfdump, argus-server, tshark).
 * 4. Memory scale: `--scale` packets generated as a stream into `flowdemux flows - --format ndjson`
 *    (nothing kept on disk); its peak RSS must not grow with the packet count.
 * 5. The HTML report of the same capture: its size, and its load time in Chromium
 *    (report-load.mjs, which says what it measures; needs /usr/bin/chromium).
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`) or, without it, python3's getrusage.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const PACKETS = opt('--packets', 2_000_000);
const RUNS = opt('--runs', 3);
const TSHARK_RUNS = opt('--tshark-runs', 1);
const SCALE = opt('--scale', 10_000_000);
const FLOWS = Math.round(PACKETS / 20);
const CACHE = join(ROOT, 'bench', '.cache');
const FILE = join(CACHE, `bench-${PACKETS}.pcap`);
const BIN = join(ROOT, 'bin', 'flowdemux.js');
const GEN = join(ROOT, 'scripts', 'bench', 'generate.mjs');

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const gnuTime = existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-f', '%M', 'true']).status === 0;

/** Runs a shell command; returns wall seconds and peak RSS in MB of the measured process. */
function measure(shellCommand) {
  const started = process.hrtime.bigint();
  let rssKb;
  if (gnuTime) {
    const r = spawnSync('/usr/bin/time', ['-f', '%M', 'sh', '-c', shellCommand], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`failed: ${shellCommand}\n${r.stderr}`);
    rssKb = Number(r.stderr.trim().split('\n').pop());
  } else {
    const py = 'import resource,subprocess,sys;subprocess.run(sys.argv[1],shell=True,check=True);print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
    rssKb = Number(execFileSync('python3', ['-c', py, shellCommand], { encoding: 'utf8' }).trim());
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, rssMb: rssKb / 1024 };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function bench(label, shellCommand, runs) {
  const results = [];
  for (let i = 0; i < runs; i++) results.push(measure(shellCommand));
  const seconds = median(results.map((r) => r.seconds));
  const rssMb = Math.max(...results.map((r) => r.rssMb));
  return { label, seconds, rssMb, runs };
}

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  console.error('bench: build first (npm install runs the build)');
  process.exit(2);
}
mkdirSync(CACHE, { recursive: true });
const q = (p) => `'${p.replace(/'/g, "'\\''")}'`;
const peersDir = mkdtempSync(join(tmpdir(), 'flowdemux-bench-'));
process.on('exit', () => rmSync(peersDir, { recursive: true, force: true }));

/** Generates a capture once (cached), then times flowdemux and, when installed, its peers on it. */
function benchCapture(title, file, genArgs) {
  if (!existsSync(file)) {
    console.error(`bench: generating ${file} (once)...`);
    execFileSync(process.execPath, [GEN, file, '--packets', String(PACKETS), ...genArgs, '--seed', '1'], { stdio: 'inherit' });
  }
  const bytes = statSync(file).size;
  const rows = [];
  rows.push(bench('flowdemux flows --format json', `node ${q(BIN)} flows ${q(file)} --format json > /dev/null`, RUNS));
  rows.push(bench('flowdemux flows --format ndjson', `node ${q(BIN)} flows ${q(file)} --format ndjson > /dev/null`, RUNS));
  // One capture over 2 threads, one shard each (flows --jobs N; README, Performance).
  if (!args.includes('--no-jobs')) rows.push(bench('flowdemux flows --format json --jobs 2', `node ${q(BIN)} flows ${q(file)} --format json --jobs 2 > /dev/null`, RUNS));
  if (has('cat')) rows.push(bench('cat', `cat ${q(file)} > /dev/null`, RUNS));
  if (!args.includes('--no-peers')) {
    // The C flow meters, as their Debian packages install them (nfdump 1.7.1, argus 3.0.8).
    if (has('nfpcapd')) rows.push(bench('nfpcapd -r F -w DIR', `rm -rf ${q(peersDir)}/nf && mkdir ${q(peersDir)}/nf && nfpcapd -r ${q(file)} -w ${q(peersDir)}/nf > /dev/null 2>&1`, RUNS));
    if (has('argus')) rows.push(bench('argus -r F -w OUT', `argus -r ${q(file)} -w ${q(peersDir)}/out.argus > /dev/null 2>&1; rm -f ${q(peersDir)}/out.argus`, RUNS));
  }
  if (!args.includes('--no-tshark') && has('tshark')) {
    rows.push(bench('tshark -q -z conv,tcp -z conv,udp', `tshark -q -z conv,tcp -z conv,udp -r ${q(file)} > /dev/null 2>&1`, TSHARK_RUNS));
  }
  const mb = bytes / 1e6;
  console.log(`\n${title}: ${file}\n  ${PACKETS.toLocaleString('en-US')} packets, ${mb.toFixed(0)} MB`);
  console.log(`  node ${process.version}, ${cpus().length} cores\n`);
  console.log('command                              median s   packets/s    MB/s   peak RSS MB  runs');
  for (const r of rows) {
    console.log(`${r.label.padEnd(36)} ${r.seconds.toFixed(2).padStart(8)} ${Math.round(PACKETS / r.seconds).toLocaleString('en-US').padStart(11)} ${(mb / r.seconds).toFixed(0).padStart(7)} ${r.rssMb.toFixed(0).padStart(13)} ${String(r.runs).padStart(5)}`);
  }
  const json = rows[0];
  const tshark = rows.find((r) => r.label.startsWith('tshark'));
  const cat = rows.find((r) => r.label === 'cat');
  console.log('');
  if (tshark) console.log(`flowdemux json is ${(tshark.seconds / json.seconds).toFixed(1)}x faster than tshark's conversation statistics, with ${(tshark.rssMb / json.rssMb).toFixed(1)}x less memory`);
  if (cat) console.log(`flowdemux json takes ${(json.seconds / cat.seconds).toFixed(1)}x the time of reading the file with cat`);
}

const which = args.includes('--only-busy') ? ['busy'] : args.includes('--only-mixed') ? ['mixed'] : ['mixed', 'busy'];
if (which.includes('mixed')) benchCapture('mixed capture', FILE, ['--flows', String(FLOWS)]);
if (which.includes('busy')) benchCapture('busy-server capture', join(CACHE, `bench-busy-${PACKETS}.pcap`), ['--busy-server']);

if (SCALE > 0) {
  const scale = measure(`node ${q(GEN)} - --packets ${SCALE} --flows ${Math.round(SCALE / 20)} --seed 2 | node ${q(BIN)} flows - --format ndjson > /dev/null`);
  console.log(`memory scale: ${SCALE.toLocaleString('en-US')} packets streamed through stdin, flows --format ndjson: peak RSS ${scale.rssMb.toFixed(0)} MB (generator included in the pipeline, measured per process: largest), ${scale.seconds.toFixed(1)} s`);
}

// Live: the cost of naming a socket's process on a busy host, and the http.server + curl case
// (root only; scripts/bench/live-lookup.mjs says what it measures).
if (!args.includes('--no-live')) {
  console.log('');
  const live = spawnSync(process.execPath, [join(ROOT, 'scripts', 'bench', 'live-lookup.mjs')], { stdio: 'inherit' });
  if (live.status !== 0) console.log(`live lookups: failed (exit ${live.status})`);
}

// The HTML report of the same capture: size, and load time in Chromium (report-load.mjs).
if (!args.includes('--no-report')) {
  const report = spawnSync(process.execPath, [join(ROOT, 'scripts', 'bench', 'report-load.mjs'), '--packets', String(PACKETS)], { stdio: 'inherit' });
  if (report.status !== 0) console.log(`report load: failed (exit ${report.status})`);
}
