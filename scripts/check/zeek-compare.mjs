#!/usr/bin/env node
/**
 * How far `flowdemux flows --format zeek` agrees with conn.log files that Zeek itself wrote for
 * its own test traces (the golden files in test/golden/zeek-conn/, README there: where each came
 * from and with which options Zeek ran).
 *
 *   node scripts/check/zeek-compare.mjs [CORPUS_DIR] [--list] [--trace NAME]
 *
 * CORPUS_DIR holds the traces as `zeek__<path with / as __>` (default ../shared/corpus, then
 * /work/shared/corpus). For each golden file whose trace is there, runs the CLI's own
 * `run(['flows', trace, '--format', 'zeek'])` from dist/ (build first; with `--checksums validate`
 * where Zeek ran without `-C`), and matches connections without uids: protocol (when the golden
 * has it) and both ends, in the roles each side gave.
 * A connection of one side found only with the ends swapped counts as found, with its roles
 * wrong. Several connections on one key are paired in order of start time (within 1 ms when both
 * have times; Zeek's test baselines often mask `ts`, and are then paired in log order).
 *
 * Prints: connections found both ways, then for each field the golden files carry (conn_state,
 * history, orig/resp pkts, orig/resp ip_bytes, duration within 1e-6 s) how many matched
 * connections agree, and the differences grouped by their likely cause (`--list` prints each).
 * Exits 0 (a measurement, not a test); 2 on bad arguments.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const GOLDEN = join(ROOT, 'test', 'golden', 'zeek-conn');
const FIELDS = ['conn_state', 'history', 'orig_pkts', 'resp_pkts', 'orig_ip_bytes', 'resp_ip_bytes', 'duration'];
const TUNNEL_SERVICES = new Set(['vxlan', 'geneve', 'teredo', 'gtpv1', 'ayiya']);
/** Zeek's `^` appeared in conn.log histories in 2017: older baselines never have one. */
const NO_FLIP_MARK = new Set(['zeek__pppoe.pcap', 'zeek__q-in-q.pcap', 'zeek__tunnels__Teredo.pcap']);
/** Baselines written (2015) before Zeek's history had the `g` (content gap) letter. */
const NO_GAP_MARK = new Set(['zeek__ftp__bigtransfer.pcap']);

/**
 * Column names some baselines give the connection's ends instead of `id.*` (a test that sets
 * `Log::default_field_name_map`), back to the names conn.log uses by default.
 */
const COLUMN_ALIASES = { src_ip: 'id.orig_h', src_port: 'id.orig_p', dst_ip: 'id.resp_h', dst_port: 'id.resp_p' };
const ENDS = ['id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p'];
/** Each end column's counterpart in the other direction. */
const OTHER_END = { 'id.orig_h': 'id.resp_h', 'id.orig_p': 'id.resp_p', 'id.resp_h': 'id.orig_h', 'id.resp_p': 'id.orig_p' };

/** A conn.log (or a zeek-cut of one): its rows as objects keyed by column name. */
export function parseConnLog(text) {
  let cols = null;
  const rows = [];
  const named = (cells) => cells.map((c) => COLUMN_ALIASES[c] ?? c);
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('###')) continue;
    if (line.startsWith('#')) {
      if (line.startsWith('#fields\t')) cols = named(line.split('\t').slice(1));
      continue;
    }
    const cells = line.split('\t');
    if (cols === null) {
      cols = named(cells); // zeek-cut output without -m header: the first line names the columns
      continue;
    }
    const row = {};
    cols.forEach((c, i) => { row[c] = cells[i]; });
    rows.push(row);
  }
  return { cols: cols ?? [], rows };
}

/**
 * What identifies a connection in one golden file: its protocol when the file has that column,
 * and the end columns it has (a zeek-cut may leave some out; one without any cannot be keyed).
 */
const shapeOf = (cols) => ({ proto: cols.includes('proto'), ends: ENDS.filter((c) => cols.includes(c)) });

/** A row's key in `shape`; with `swap`, as the row would read with its roles the other way round. */
const keyOf = (r, shape, swap = false) => {
  const ends = shape.ends.map((c) => r[swap ? OTHER_END[c] : c]).join('|');
  return `${shape.proto ? `${r.proto}|` : ''}${ends}`;
};

const tsOf = (r) => (r.ts === undefined || r.ts.includes('X') ? NaN : Number(r.ts));

function sameField(field, z, o) {
  if (field === 'duration') {
    if (z === '-' || o === '-') return z === o;
    return Math.abs(Number(z) - Number(o)) <= 1e-6 + 1e-9;
  }
  return z === o;
}

/**
 * A baseline written by a Zeek older than one of its rules, compared in its own terms: the `^`
 * flip mark (2017), the `g`/`G` content gap letters (after 2015), RSTOS0 only after a SYN. Our
 * value, rewritten as that Zeek would have written it; counted as agreement, and reported apart.
 */
function inBaselineTerms(field, z, o, trace) {
  if (field === 'history' && NO_FLIP_MARK.has(trace)) return o.replace('^', '');
  if (field === 'history' && NO_GAP_MARK.has(trace) && !/[Gg]/.test(z)) return o.replace(/[Gg]/g, '');
  if (field === 'conn_state' && z === 'RSTOS0' && o === 'OTH') return 'RSTOS0';
  return o;
}

/** Pairs the golden rows with ours: same key in the same roles first, then with ends swapped. */
function match(golden, ours, shape) {
  if (shape.ends.length === 0) return matchKeyless(golden, ours);
  const index = (swap) => {
    const byKey = new Map();
    ours.forEach((r, i) => {
      const k = keyOf(r, shape, swap);
      if (!byKey.has(k)) byKey.set(k, []);
      byKey.get(k).push(i);
    });
    return byKey;
  };
  const same = index(false);
  const swappedIndex = index(true);
  const used = new Set();
  const pairs = [];
  const missing = [];
  const take = (z, byKey) => {
    const cands = (byKey.get(keyOf(z, shape)) ?? []).filter((i) => !used.has(i));
    if (cands.length === 0) return -1;
    const zt = tsOf(z);
    if (Number.isNaN(zt)) return cands[0];
    let best = -1;
    let bestD = Infinity;
    for (const i of cands) {
      const d = Math.abs(tsOf(ours[i]) - zt);
      if (d < bestD) { best = i; bestD = d; }
    }
    return bestD <= 1e-3 ? best : -1;
  };
  for (const z of golden) {
    let i = take(z, same);
    let swapped = false;
    if (i < 0) {
      i = take(z, swappedIndex);
      swapped = i >= 0;
    }
    if (i < 0) missing.push(z);
    else {
      used.add(i);
      pairs.push({ z, o: ours[i], swapped });
    }
  }
  const extra = ours.filter((_, i) => !used.has(i));
  return { pairs, missing, extra };
}

/**
 * A baseline that cut away every end column (`zeek-cut uid service history`) names no connection.
 * Its rows are paired with ours only where no pairing can be wrong: as many connections on both
 * sides, and one of them or all of Zeek's alike in the compared fields. Otherwise none is paired.
 */
function matchKeyless(golden, ours) {
  const alike = golden.every((z) => FIELDS.every((f) => z[f] === golden[0][f]));
  if (golden.length !== ours.length || !(golden.length === 1 || alike)) return { pairs: [], missing: golden, extra: ours };
  return { pairs: golden.map((z, i) => ({ z, o: ours[i], swapped: false })), missing: [], extra: [] };
}

/** The likely cause of one difference, from what the two rows say. */
function causeOf(field, z, o, trace, golden, shape) {
  if (field === 'roles') {
    const zh = z.history ?? '';
    if (zh.startsWith('^h')) return 'roles: first seen by its SYN-ACK, whose sender Zeek makes the responder (^; issue item 2)';
    if (zh.startsWith('^')) return 'roles: Zeek flipped the roles (^) where flowdemux did not (issue item 2)';
    return 'roles: originator chosen differently';
  }
  if (shape.ends.length === 0 && (field === 'missing' || field === 'extra')) {
    return `${field}: baseline names no connection ends and the connection counts differ, not paired`;
  }
  if (field === 'missing') {
    // Other IP protocols are conns (OSPF, GRE...): one still missing is in frames not decoded (VN-Tag).
    if (z.proto === 'unknown_transport') return 'missing: an other-IP-protocol conn in frames flowdemux does not decode (issue item 5)';
    if (TUNNEL_SERVICES.has(z.service) || golden.some((g) => (g.tunnel_parents ?? '').split(',').includes(z.uid))) {
      return 'missing: tunnel outer connection (issue item 5)';
    }
    if (![undefined, '-', '(empty)'].includes(z.tunnel_parents)) return 'missing: inside a tunnel flowdemux does not decapsulate (issue item 9)';
    return 'missing: not found (split or merged differently)';
  }
  if (field === 'extra') {
    const k = keyOf(o, shape);
    if (golden.some((g) => keyOf(g, shape) === k || keyOf(g, shape, true) === k)) return 'extra: the ends of one of Zeek\'s, begun at another time';
    // Zeek logs OSPF, VRRP... as unknown_transport since its Unknown_IP_Transport analyzer (the
    // vntag baseline has one); a baseline with such packets and none (pbb, with the same bare
    // conn scripts) was most likely written by a Zeek before it: not checked against its history.
    if (o.proto === 'unknown_transport' && !golden.some((g) => g.proto === 'unknown_transport')) {
      return 'extra: other IP protocol in a baseline that logs none (likely a Zeek before its unknown_transport conns)';
    }
    return 'extra: flowdemux has a conn Zeek did not log';
  }
  const zh = z.history ?? '';
  if (/[Cc]/.test(zh)) return 'checksum: Zeek dropped a packet with a bad checksum (issue item 7)';
  const parents = z.tunnel_parents ?? '-';
  if (parents !== '-' && parents !== '(empty)') return 'tunnel: an inner connection counted differently (issue items 5, 9)';
  if (TUNNEL_SERVICES.has(z.service)) return 'tunnel: an outer connection counted differently (issue item 5)';
  if (field === 'conn_state' && z.conn_state === 'RSTOS0' && !/^\^?S/.test(zh)) {
    return 'conn_state: baseline older than RSTOS0 asking for a SYN in the history';
  }
  if (field === 'duration') {
    const closed = /F.*f|f.*F|R|r/.test(zh);
    if (closed && o.duration !== '-' && z.duration !== '-' && Number(o.duration) > Number(z.duration)) {
      return 'duration: runs past the close of both ends (issue item 1)';
    }
    // TCPSessionAdapter::DeliverPacket moves the last time only while one endpoint has not
    // did_close (set in ConnectionClosed); a FIN sent after the peer's RST did not end Zeek's clock.
    if (/[Rr]/.test(zh) && o.duration !== '-' && z.duration !== '-' && Number(o.duration) < Number(z.duration)) {
      return 'duration: stops at a FIN sent after the peer\'s RST; Zeek runs on to the last packet (did_close rule, issue item 1)';
    }
    return 'duration: other';
  }
  const oh = o.history ?? '';
  if (field === 'history' && zh.replace('^', '') === oh.replace('^', '')) {
    return NO_FLIP_MARK.has(trace) ? 'history: baseline older than the ^ mark' : 'history: ^ (flip mark) differs (issue item 2)';
  }
  // Zeek writes X where it stopped a protocol analyzer on one of its limits (max_kexinit_*,
  // Gnutella::max_line_length in the tests that have it); flowdemux does no protocol analysis.
  if (field === 'history' && /X/.test(zh)) {
    const rest = zh.replace(/X/g, '');
    if (rest === oh) return 'history: X (Zeek stopped a protocol analyzer on a limit), not modelled';
    // DNS_Interpreter::ParseMessage flips a connection whose first message is a response sent
    // by the originator: a role decision from payload, which flowdemux does not parse.
    if (rest.replace('^', '') === oh.replace('^', '')) return 'history: X, and ^ from a flip by Zeek\'s protocol analyzer (DNS response first), not modelled';
  }
  // A connection Zeek flipped (^): its size counters (the ConnSize analyzer) are not swapped
  // with the roles, so the packets counted before the flip (a SYN-ACK, the ACK after it) stay
  // on their first sides. The packet counts agree; the bytes move between the directions.
  if ((field === 'orig_ip_bytes' || field === 'resp_ip_bytes') && zh.startsWith('^')
    && Number(z.orig_ip_bytes) + Number(z.resp_ip_bytes) === Number(o.orig_ip_bytes) + Number(o.resp_ip_bytes)
    && z.orig_pkts === o.orig_pkts && z.resp_pkts === o.resp_pkts) {
    return 'ip_bytes: Zeek keeps the sizes of the packets before its role flip on their first sides (packet counts agree)';
  }
  const gapLetters = (h) => h.replace(/[^GgTt]/g, '');
  if (field === 'history' && gapLetters(zh) !== gapLetters(oh)) {
    if (NO_GAP_MARK.has(trace) && !/[Gg]/.test(zh)) return 'history: baseline older than the g (content gap) letter';
    return 'history: gap or retransmission letters (issue item 6)';
  }
  return `${field}: other`;
}

/** One of our rows read in the other roles: each end's columns and history letters swapped. */
function inZeekRoles(o) {
  const v = { ...o };
  for (const [a, b] of [['id.orig_h', 'id.resp_h'], ['id.orig_p', 'id.resp_p'], ['orig_pkts', 'resp_pkts'], ['orig_ip_bytes', 'resp_ip_bytes'], ['orig_bytes', 'resp_bytes']]) {
    v[a] = o[b];
    v[b] = o[a];
  }
  if (o.history !== undefined) v.history = o.history.replace(/[A-Za-z]/g, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()));
  return v;
}

/**
 * The traces whose baseline Zeek made without `-C`, so checking checksums (the golden README's
 * table gives each baseline's command): flowdemux is run on them with `--checksums validate`.
 */
function validatedTraces() {
  const rows = readFileSync(join(GOLDEN, 'README.md'), 'utf8').split('\n').filter((l) => l.startsWith('| `zeek__'));
  return new Set(rows.filter((l) => !/(?:^|[\s(])-[A-Za-z]*C/.test(l)).map((l) => l.split('`')[1]));
}

async function flowdemuxLog(run, trace, validate) {
  let out = '';
  const stdout = new Writable({ write(c, _e, cb) { out += c; cb(); } });
  const stderr = new Writable({ write(_c, _e, cb) { cb(); } });
  stdout.isTTY = false;
  const checksums = validate ? ['--checksums', 'validate'] : [];
  await run(['flows', trace, '--format', 'zeek', ...checksums], { stdout, stderr, stdin: Readable.from([]) });
  return out;
}

/**
 * Compares every golden file whose trace is in `corpus` (or only the trace `only`): connections
 * found both ways, per-field agreement on the matched ones, and the differences by likely cause
 * (cause -> lines). `run` is the CLI's run() from dist/.
 */
export async function compareAll(run, corpus, only) {
  const files = readdirSync(GOLDEN).filter((n) => n.endsWith('.conn.log')).sort();
  const totals = { traces: 0, zeek: 0, found: 0, ours: 0, foundOurs: 0, swapped: 0, tunnelService: { same: 0, of: 0 } };
  const agree = Object.fromEntries(FIELDS.map((f) => [f, { same: 0, of: 0, older: 0 }]));
  const causes = new Map();
  const note = (cause, line) => {
    if (!causes.has(cause)) causes.set(cause, []);
    causes.get(cause).push(line);
  };
  const validated = validatedTraces();
  for (const name of files) {
    const trace = name.slice(0, -'.conn.log'.length);
    if (only !== undefined && trace !== only) continue;
    const path = join(corpus, trace);
    if (!existsSync(path)) continue;
    totals.traces++;
    const golden = parseConnLog(readFileSync(join(GOLDEN, name), 'utf8'));
    const ours = parseConnLog(await flowdemuxLog(run, path, validated.has(trace))).rows;
    const shape = shapeOf(golden.cols);
    const { pairs, missing, extra } = match(golden.rows, ours, shape);
    totals.zeek += golden.rows.length;
    totals.found += pairs.length;
    totals.ours += ours.length;
    totals.foundOurs += pairs.length;
    const fieldsHere = FIELDS.filter((f) => golden.cols.includes(f));
    for (const z of missing) note(causeOf('missing', z, null, trace, golden.rows, shape), `${trace}: ${keyOf(z, shape)} (${z.history ?? ''})`);
    for (const o of extra) note(causeOf('extra', null, o, trace, golden.rows, shape), `${trace}: ${keyOf(o, shape)} ${o.conn_state} ${o.history}`);
    for (const { z, o, swapped } of pairs) {
      if (swapped) {
        totals.swapped++;
        note(causeOf('roles', z, o, trace, golden.rows, shape), `${trace}: zeek ${keyOf(z, shape)} ${z.history ?? ''}, ours ${o.history}`);
      }
      // With the ends swapped, ours is compared end for end, as if in Zeek's roles.
      const v = swapped ? inZeekRoles(o) : o;
      // `service` only where it names a tunnel (flowdemux names no other service yet).
      if (golden.cols.includes('service') && (TUNNEL_SERVICES.has(z.service) || TUNNEL_SERVICES.has(v.service))) {
        totals.tunnelService.of++;
        if (z.service === v.service) totals.tunnelService.same++;
        else note('service: a tunnel named differently', `${trace}: ${keyOf(z, shape)} service zeek ${z.service} ours ${v.service}`);
      }
      for (const f of fieldsHere) {
        agree[f].of++;
        if (sameField(f, z[f], v[f])) agree[f].same++;
        else if (v[f] !== undefined && sameField(f, z[f], inBaselineTerms(f, z[f], v[f], trace))) {
          agree[f].same++;
          agree[f].older++;
          note(`${causeOf(f, z, v, trace, golden.rows, shape)} (agrees in that baseline's terms)`, `${trace}: ${keyOf(z, shape)} ${f} zeek ${z[f]} ours ${v[f]}`);
        } else note(causeOf(f, z, v, trace, golden.rows, shape), `${trace}: ${keyOf(z, shape)} ${f} zeek ${z[f]} ours ${v[f]}`);
      }
    }
  }
  return { totals, agree, causes };
}

async function main(argv) {
  const list = argv.includes('--list');
  const ti = argv.indexOf('--trace');
  const only = ti >= 0 ? argv[ti + 1] : undefined;
  const dirs = argv.filter((a, i) => !a.startsWith('--') && (ti < 0 || i !== ti + 1));
  if (dirs.length > 1) {
    process.stderr.write('usage: zeek-compare.mjs [CORPUS_DIR] [--list] [--trace NAME]\n');
    return 2;
  }
  const corpus = dirs[0] ?? [join(ROOT, '..', 'shared', 'corpus'), '/work/shared/corpus'].find((d) => existsSync(d));
  if (corpus === undefined || !existsSync(corpus)) {
    process.stderr.write(`zeek-compare: no corpus folder${dirs[0] ? `: ${dirs[0]}` : ''}\n`);
    return 2;
  }
  const { run } = await import(pathToFileURL(join(ROOT, 'dist', 'cli', 'main.js')).href);
  const { totals, agree, causes } = await compareAll(run, corpus, only);
  const pct = (a, b) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
  console.log(`zeek-compare: ${totals.traces} traces with Zeek's own conn.log (${GOLDEN.replace(`${ROOT}/`, '')}), corpus ${corpus}`);
  console.log(`  Zeek's connections found by flowdemux: ${totals.found}/${totals.zeek} (${pct(totals.found, totals.zeek)}), ${totals.swapped} of them with the roles swapped`);
  console.log(`  flowdemux's connections found in Zeek's: ${totals.foundOurs}/${totals.ours} (${pct(totals.foundOurs, totals.ours)})`);
  console.log('  agreement on matched connections:');
  for (const f of FIELDS) {
    const older = agree[f].older === 0 ? '' : `  (${agree[f].older} in an older baseline's terms: without them ${pct(agree[f].same - agree[f].older, agree[f].of)})`;
    console.log(`    ${f.padEnd(14)} ${String(agree[f].same).padStart(4)}/${String(agree[f].of).padEnd(4)} ${pct(agree[f].same, agree[f].of)}${older}`);
  }
  const ts = totals.tunnelService;
  console.log(`    ${'service'.padEnd(14)} ${String(ts.same).padStart(4)}/${String(ts.of).padEnd(4)} ${pct(ts.same, ts.of)}  (where either names a tunnel: ${[...TUNNEL_SERVICES].join(', ')})`);
  console.log('  differences by likely cause:');
  for (const [cause, lines] of [...causes].sort((a, b) => b[1].length - a[1].length)) {
    console.log(`    ${String(lines.length).padStart(4)}  ${cause}`);
    if (list) for (const l of lines) console.log(`            ${l}`);
  }
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
