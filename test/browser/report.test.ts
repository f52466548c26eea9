/**
 * The HTML report of the teaching capture (fixtures/demux-lo.pcap) in a real browser: Debian's
 * chromium, headless, opening the file as a person would (file://). What a person sees: the
 * demux picture with the listener and both port-80 sockets and their 4-tuples; the timeline with
 * the two port-80 flows over each other in time and the three 8089 generations one after the
 * other on one lane (read from where the browser drew the bars); a click on a flow, in the table
 * or on the timeline, opens its ladder with each end's TCP states; the table filters and sorts;
 * and nothing went wrong: no console error or warning, no CSP violation, no request, no dialog.
 *
 * The closed ports of fixtures/closed-ports.pcap are dotted boxes in the picture that say how the
 * host refused (a SYN answered by RST, ICMP port unreachable), and the refused connections dotted
 * outlines on the timeline.
 *
 * A big capture's page (50,000 generated packets) says what it left out, and its 300 lanes and
 * 1000 rows are there and filter. Links and sort buttons work from the keyboard; printed, the page drops its navigation and filter.
 *
 * Every wait is on the page's state (an attribute, a text), never on time. The page, a
 * screenshot of it and one of the ladder go to test-output/browser/ for people to look at.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_TIMEOUT, launchChromium, OUTPUT, WAIT_TIMEOUT, watchPage, writeReport, type WatchedPage } from '../helpers/browser.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const LO = join(ROOT, 'fixtures/demux-lo.pcap');
const CLOSED = join(ROOT, 'fixtures/closed-ports.pcap');

const dir = mkdtempSync(join(tmpdir(), 'flowdemux-browser-'));
let browser: Browser;
let reportUrl: string;

beforeAll(async () => {
  // Named as a person in the project's folder would (the page's title shows it).
  reportUrl = await writeReport([relative(process.cwd(), LO)], 'demux-lo.html');
  browser = await launchChromium();
}, BROWSER_TIMEOUT);

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Opens the report; the load event has fired and the page's script has counted the rows. */
async function open(): Promise<WatchedPage> {
  const w = await watchPage(browser);
  await w.page.goto(reportUrl, { waitUntil: 'load' });
  await w.page.waitForFunction(() => /rows shown$/.test(document.getElementById('flow-count')?.textContent ?? ''));
  return w;
}

/** Nothing went wrong while the page was open. */
async function expectNoTrouble(w: WatchedPage): Promise<void> {
  expect(w.trouble).toEqual({ console: [], pageErrors: [], dialogs: [], requests: [] });
  expect(await w.violations()).toEqual([]);
}

interface Bar { flow: number; title: string; left: number; right: number; top: number }

/** The timeline's bars where the browser drew them. */
function bars(page: Page): Promise<Bar[]> {
  return page.$$eval('#timeline-svg rect.bar', (rects) => rects.map((r) => {
    const b = r.getBoundingClientRect();
    return { flow: Number(r.getAttribute('data-flow')), title: r.querySelector('title')?.textContent ?? '', left: b.left, right: b.right, top: b.top };
  }));
}

/** The rows the table shows, top to bottom, as flow ids. */
function shownRows(page: Page): Promise<number[]> {
  return page.$$eval('#flow-table tbody tr', (rows) => (rows as HTMLTableRowElement[]).filter((r) => !r.hidden && r.getClientRects().length > 0).map((r) => Number(r.id.slice(4))));
}

/** A ladder's state pairs, client's then server's, as drawn. */
function ladderStates(page: Page, flow: number): Promise<string[]> {
  return page.$$eval(`details#flow-${flow} g.states`, (gs) => gs.map((g) => [...g.querySelectorAll('text')].map((t) => t.textContent).join(' | ')));
}

describe('the report of demux-lo.pcap in chromium', () => {
  it('draws the listener and both port-80 sockets with their 4-tuples, visible in the demux picture', async () => {
    const w = await open();
    const sockets = await w.page.$$eval('#demux-svg g.socket', (gs) => gs.map((g) => {
      const b = g.getBoundingClientRect();
      return { text: [...g.querySelectorAll('tspan')].map((t) => t.textContent).join(' '), width: b.width, height: b.height };
    }));
    const texts = sockets.map((s) => s.text);
    expect(texts).toEqual(expect.arrayContaining([
      'listen 127.0.0.1:80', 'tcp socket 127.0.0.1:80 ⇄ 127.0.0.2:9157', 'tcp socket 127.0.0.1:80 ⇄ 127.0.0.3:9157',
    ]));
    // Each drawn with a size, inside the picture.
    const svg = (await w.page.locator('#demux-svg').boundingBox())!;
    expect(svg.width).toBeGreaterThan(400);
    for (const s of sockets) expect([s.text, s.width > 0 && s.height > 0]).toEqual([s.text, true]);
    for (const text of ['listen 127.0.0.1:80', 'tcp socket 127.0.0.1:80 ⇄ 127.0.0.2:9157']) {
      const box = (await w.page.locator('#demux-svg g.socket', { hasText: text.split(' ').pop()! }).first().boundingBox())!;
      expect(box.x >= svg.x && box.x + box.width <= svg.x + svg.width + 0.5, text).toBe(true);
    }
    await expectNoTrouble(w);
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('shows the two port-80 flows at once on two lanes and the three 8089 generations one after another on one', async () => {
    const w = await open();
    const all = await bars(w.page);
    expect(all).toHaveLength(7);
    const port80 = all.filter((b) => b.title.includes('→ 127.0.0.1:80,'));
    const port8089 = all.filter((b) => b.title.includes('→ 127.0.0.1:8089,'));
    expect(port80).toHaveLength(2);
    expect(port8089).toHaveLength(3);
    const [a, b] = port80 as [Bar, Bar];
    // Over each other in time (each starts before the other ends), on two lanes.
    expect(a.left < b.right && b.left < a.right, JSON.stringify(port80)).toBe(true);
    expect(a.top).not.toBe(b.top);
    // One lane, one generation after the other: each ends before the next starts.
    expect(new Set(port8089.map((x) => x.top)).size).toBe(1);
    const byStart = [...port8089].sort((x, y) => x.left - y.left);
    expect(byStart.map((x) => x.title.slice(0, x.title.indexOf(':')))).toEqual(['flow 3', 'flow 4 #2', 'flow 5 #3']);
    for (let i = 1; i < byStart.length; i++) expect(byStart[i - 1]!.right, `${byStart[i - 1]!.title} / ${byStart[i]!.title}`).toBeLessThan(byStart[i]!.left);
    await expectNoTrouble(w);
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('opens a flow\'s ladder with the TCP states when it is clicked in the table or on the timeline', async () => {
    const w = await open();
    const { page } = w;
    expect(await page.locator('details#flow-4').getAttribute('open')).toBeNull();
    expect(await page.locator('details#flow-4 g.states').first().isVisible()).toBe(false);
    // The table's link: flow 4 is generation 2 of the 8089 tuple.
    await page.locator('#flow-table a[href="#flow-4"]').click();
    await page.waitForSelector('details#flow-4[open]');
    expect(await page.locator('details#flow-4 g.states').first().isVisible()).toBe(true);
    const flow4 = await ladderStates(page, 4);
    expect(flow4[0]).toBe('CLOSED | LISTEN');
    expect(flow4[1]).toBe('SYN-SENT | SYN-RECEIVED');
    expect(flow4).toContain('ESTABLISHED | ESTABLISHED');
    expect(flow4.at(-1)).toMatch(/TIME-WAIT/);
    expect(await page.locator('details#flow-4 g.packet').count()).toBe(11);
    expect(await page.locator('details#flow-4 g.packet').first().textContent()).toContain('SYN');

    // A bar of the timeline: flow 1, the first port-80 connection.
    await page.locator('#timeline-svg a[href="#flow-1"] rect').click();
    await page.waitForSelector('details#flow-1[open]');
    const flow1 = await ladderStates(page, 1);
    expect(flow1.slice(0, 2)).toEqual(['CLOSED | LISTEN', 'SYN-SENT | SYN-RECEIVED']);
    expect(flow1).toContain('FIN-WAIT-1 | CLOSE-WAIT');
    // It is brought into view.
    const top = await page.$eval('details#flow-1', (d) => d.getBoundingClientRect().top);
    expect(top).toBeGreaterThanOrEqual(-1);
    expect(top).toBeLessThan(page.viewportSize()!.height);
    // The explain table under the ladder is there too.
    expect(await page.locator('details#flow-1 table.explain tbody tr').first().textContent()).toContain('the listener makes the socket');

    await page.screenshot({ path: join(OUTPUT, 'ladder-flow-1.png') });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(OUTPUT, 'report-demux-lo.png'), fullPage: true });
    // The top of the page, down to the timeline's end: the picture of the README (docs/report.png).
    const bottom = await page.$eval('#timeline', (s) => s.getBoundingClientRect().bottom + window.scrollY);
    await page.screenshot({ path: join(OUTPUT, 'report-top.png'), fullPage: true, clip: { x: 0, y: 0, width: page.viewportSize()!.width, height: Math.ceil(bottom) } });
    await expectNoTrouble(w);
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('filters the table by words and sorts it by a column, both ways', async () => {
    const w = await open();
    const { page } = w;
    expect(await shownRows(page)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await page.locator('#flow-filter').fill('8089');
    await page.waitForFunction(() => document.getElementById('flow-count')?.textContent === '3 of 7 rows shown');
    expect(await shownRows(page)).toEqual([3, 4, 5]);
    await page.locator('#flow-filter').fill('udp 127.0.0.3');
    await page.waitForFunction(() => document.getElementById('flow-count')?.textContent === '1 of 7 rows shown');
    expect(await shownRows(page)).toEqual([7]);
    await page.locator('#flow-filter').fill('');
    await page.waitForFunction(() => document.getElementById('flow-count')?.textContent === '7 of 7 rows shown');

    // Sorting by duration: the order of the durations the cells show.
    const durations = new Map(await page.$$eval('#flow-table tbody tr', (rows) => (rows as HTMLTableRowElement[]).map((r) => [Number(r.id.slice(4)), Number(r.cells[5]!.textContent)] as [number, number])));
    const ascending = [...durations].sort((x, y) => x[1] - y[1]).map(([id]) => id);
    const head = page.locator('#flow-table thead th', { hasText: 'duration' });
    await head.locator('button').click();
    await page.waitForFunction(() => [...document.querySelectorAll('#flow-table thead th')].some((th) => th.getAttribute('aria-sort') === 'ascending'));
    expect(await head.getAttribute('aria-sort')).toBe('ascending');
    expect(await shownRows(page)).toEqual(ascending);
    await head.locator('button').click();
    await page.waitForFunction(() => [...document.querySelectorAll('#flow-table thead th')].some((th) => th.getAttribute('aria-sort') === 'descending'));
    expect(await shownRows(page)).toEqual([...ascending].reverse());
    // A filter still applies to the sorted rows: the two HTTP flows (port 80).
    await page.locator('#flow-filter').fill('http');
    await page.waitForFunction(() => document.getElementById('flow-count')?.textContent === '2 of 7 rows shown');
    expect(await shownRows(page)).toEqual([...ascending].reverse().filter((id) => id === 1 || id === 2));
    await expectNoTrouble(w);
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('works from the keyboard, and prints without its controls', async () => {
    const w = await open();
    const { page } = w;
    // The table's link of flow 2, focused (a link is in the Tab order), then Enter: its ladder opens.
    await page.locator('#flow-table a[href="#flow-2"]').focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('details#flow-2[open]');
    // A column sorts from the keyboard too: its header is a button.
    await page.locator('#flow-table thead th', { hasText: 'bytes →' }).locator('button').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('#flow-table thead th')].some((th) => th.getAttribute('aria-sort') === 'ascending'));
    // Printed: the navigation and the filter box are not on paper; the pictures and the table are.
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('nav').isVisible()).toBe(false);
    expect(await page.locator('#flow-filter').isVisible()).toBe(false);
    expect(await page.locator('#demux-svg').isVisible()).toBe(true);
    expect(await page.locator('#flow-table').isVisible()).toBe(true);
    await page.emulateMedia({ media: 'screen' });
    expect(await page.locator('nav').isVisible()).toBe(true);
    await expectNoTrouble(w);
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('draws the closed ports of closed-ports.pcap: dotted boxes saying how the host refused, dotted bars', async () => {
    const url = await writeReport([relative(process.cwd(), CLOSED)], 'closed-ports.html');
    const w = await watchPage(browser);
    await w.page.goto(url, { waitUntil: 'load' });
    const boxes = await w.page.$$eval('#demux-svg g.socket.closed', (gs) => gs.map((g) => {
      const b = g.getBoundingClientRect();
      const rect = g.querySelector('rect')!;
      return { text: [...g.querySelectorAll('tspan')].map((t) => t.textContent).join(' '), seen: b.width > 0 && b.height > 0, dash: getComputedStyle(rect).strokeDasharray };
    }));
    expect(boxes.map((b) => b.text).sort()).toEqual([
      'closed port: no socket 127.0.0.1:8090 SYN answered by RST',
      'closed port: no socket 127.0.0.1:8091 SYN answered by RST (opened later)',
      'closed port: no socket 127.0.0.1:9999 ICMP port unreachable',
      'closed port: no socket [::1]:9999 ICMPv6 port unreachable',
    ]);
    for (const b of boxes) expect([b.text, b.seen, b.dash === 'none' || b.dash === '']).toEqual([b.text, true, false]);
    // The legend says what the dotted box is.
    expect(await w.page.locator('#demux-svg g.legend').textContent()).toContain('closed port: no socket');
    // The refused connections' bars: an outline only, dotted.
    const refused = await w.page.$$eval('#timeline-svg rect.bar', (rects) => rects
      .filter((r) => / state REJ,/.test(r.querySelector('title')?.textContent ?? ''))
      .map((r) => ({ fill: getComputedStyle(r).fill, dash: getComputedStyle(r).strokeDasharray, width: r.getBoundingClientRect().width })));
    expect(refused.length).toBe(2);
    for (const r of refused) expect([r.fill, r.dash !== 'none' && r.dash !== '', r.width > 0]).toEqual(['none', true, true]);
    await w.page.screenshot({ path: join(OUTPUT, 'closed-ports.png'), fullPage: true });
    await expectNoTrouble(w);
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('a big capture\'s page says what it left out, and its capped table and timeline work', async () => {
    // 50,000 generated packets, about 4,000 flows on 3 server ports (scripts/bench/generate.mjs).
    const big = join(dir, 'big.pcap');
    const gen = spawnSync(process.execPath, [join(ROOT, 'scripts/bench/generate.mjs'), big, '--packets', '50000', '--flows', '2500', '--seed', '3'], { encoding: 'utf8' });
    expect(gen.status, gen.stderr).toBe(0);
    const url = await writeReport([big], 'big.html');
    const w = await watchPage(browser);
    await w.page.goto(url, { waitUntil: 'load' });
    await w.page.waitForFunction(() => /^1000 of 1000 rows shown$/.test(document.getElementById('flow-count')?.textContent ?? ''));
    const note = w.page.locator('#left-out');
    expect(await note.isVisible()).toBe(true);
    const items = await note.locator('li').allInnerTexts();
    expect(items).toHaveLength(4);
    expect(items[1]).toMatch(/^The timeline draws 300 of \d+ lanes, the busiest ports first\.$/);
    expect(items[2]).toMatch(/^The table lists the first 1000 of \d+ flows\.$/);
    // 300 lanes drawn: at least a bar each.
    const lanes = await w.page.$$eval('#timeline-svg g.lane', (gs) => gs.map((g) => g.querySelectorAll('rect.bar').length));
    expect(lanes).toHaveLength(300);
    expect(lanes.every((n) => n >= 1)).toBe(true);
    // The filter works over the capped table: UDP rows only.
    await w.page.locator('#flow-filter').fill('udp');
    await w.page.waitForFunction(() => /^\d+ of 1000 rows shown$/.test(document.getElementById('flow-count')?.textContent ?? '')
      && document.getElementById('flow-count')?.textContent !== '1000 of 1000 rows shown');
    const protos = await w.page.$$eval('#flow-table tbody tr', (rows) => (rows as HTMLTableRowElement[]).filter((r) => !r.hidden).map((r) => r.cells[1]!.textContent));
    expect(protos.length).toBeGreaterThan(0);
    expect(new Set(protos)).toEqual(new Set(['udp']));
    await expectNoTrouble(w);
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('the watcher sees what it is there to see: CSP violations, a dialog, requests', async () => {
    // A page breaking the rules the report keeps, so that the checks above can fail.
    const bad = join(OUTPUT, 'watcher-check.html');
    writeFileSync(bad, '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'"/></head>'
      + '<body><img src="http://127.0.0.1:30729/none.png" alt=""/><script>alert("ran")</script></body></html>');
    const strict = await watchPage(browser);
    await strict.page.goto(pathToFileURL(bad).href, { waitUntil: 'load' });
    await strict.page.waitForFunction((name) => ((window as unknown as Record<string, unknown[]>)[name] ?? []).length > 0, '__flowdemuxTestViolations');
    await strict.page.waitForFunction((name) => ((window as unknown as Record<string, unknown[]>)[name] ?? []).length > 1, '__flowdemuxTestViolations');
    expect((await strict.violations()).sort()).toEqual(['img-src http://127.0.0.1:30729/none.png', 'script-src-elem inline']);
    // Asked for, then blocked by the policy: the report's pages must not even ask.
    expect(strict.trouble.requests).toEqual(['http://127.0.0.1:30729/none.png']);
    // The console message comes through the driver on its own: polled, with a hang guard only.
    await expect.poll(() => strict.trouble.console.join('\n'), { timeout: WAIT_TIMEOUT, interval: 20 }).toMatch(/Content Security Policy/);
    expect(strict.trouble.dialogs).toEqual([]);
    await strict.context.close();
    // Without the policy the script runs and its dialog is recorded.
    const loose = await watchPage(browser, { bypassCSP: true });
    const dialog = loose.page.waitForEvent('dialog');
    const failed = loose.page.waitForEvent('requestfailed');
    await loose.page.goto(pathToFileURL(bad).href, { waitUntil: 'load' });
    await Promise.all([dialog, failed]);
    expect(loose.trouble.dialogs).toEqual(['alert: ran']);
    expect(loose.trouble.requests).toEqual(['http://127.0.0.1:30729/none.png']);
    await loose.context.close();
  }, BROWSER_TIMEOUT);
});
