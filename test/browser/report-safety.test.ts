/**
 * Safe to open, proven in chromium: the report of a crafted capture whose HTTP request target,
 * TLS ClientHello server name and DNS question hold `<script>alert(1)</script>` and
 * `"><img src=x onerror=alert(1)>` (fixtures/crafted/markup-http-target-tls-sni-dns-name.pcap),
 * read from a file whose own name holds markup. The page shows those texts as text and runs
 * nothing: no dialog, no element the payloads would make (img, a second script, an `on…`
 * attribute), no script other than the page's own, no console error, no CSP violation, no request.
 *
 * What reaches the page: flowdemux's summaries keep printable ASCII other than `"` and `\`
 * (services.ts), so `<`, `>` and the words reach the page and `"` shows as `?`; the file name
 * reaches it whole. The page is opened twice: with its Content-Security-Policy (which is there
 * and enforced: a script added to the page is refused), and with the policy ignored by the
 * browser, which proves that the escaping alone keeps the payloads inert.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_SCRIPT } from '../../src/report/html-assets.js';
import { BROWSER_TIMEOUT, launchChromium, OUTPUT, watchPage, type WatchedPage, writeReport } from '../helpers/browser.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const CRAFTED = join(ROOT, 'fixtures/crafted/markup-http-target-tls-sni-dns-name.pcap');
/** A file name may hold anything but `/` and NUL. */
const EVIL_NAME = '"><img src=x onerror=alert(1)><svg onload=alert(1)>.pcap';

const dir = mkdtempSync(join(tmpdir(), 'flowdemux-browser-'));
let browser: Browser;
let capture: string;
let reportUrl: string;

beforeAll(async () => {
  capture = join(dir, EVIL_NAME);
  copyFileSync(CRAFTED, capture);
  reportUrl = await writeReport([capture], 'crafted-markup.html');
  browser = await launchChromium();
}, BROWSER_TIMEOUT);

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What the payloads would have made, had any of them become markup or code. */
async function madeByPayloads(w: WatchedPage) {
  return w.page.evaluate(() => ({
    images: document.querySelectorAll('img').length,
    scripts: [...document.scripts].map((s) => s.textContent),
    handlers: [...document.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName} ${a.name}`)),
    svgs: [...document.querySelectorAll('svg')].map((s) => s.id),
  }));
}

async function openReport(bypassCSP: boolean): Promise<WatchedPage> {
  const w = await watchPage(browser, { bypassCSP });
  await w.page.goto(reportUrl, { waitUntil: 'load' });
  // The page's own script ran: it counted the rows.
  await w.page.waitForFunction(() => document.getElementById('flow-count')?.textContent === '3 of 3 rows shown');
  return w;
}

/** Adds an inline script to the loaded page: whether it ran (the policy refuses it). */
function scriptAddedLaterRuns(w: WatchedPage): Promise<boolean> {
  return w.page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.flowdemuxInjected = true;';
    document.body.append(s);
    return (window as unknown as { flowdemuxInjected?: boolean }).flowdemuxInjected ?? false;
  });
}

/** The summary column as a person sees it (innerText), row by row. */
/** The table's summary column, found by its heading (other columns may come after it). */
function summaries(w: WatchedPage): Promise<string[]> {
  return w.page.$eval('#flow-table', (table) => {
    const t = table as HTMLTableElement;
    const at = [...t.tHead!.rows[0]!.cells].findIndex((c) => c.innerText.trim() === 'summary');
    return [...t.tBodies[0]!.rows].map((r) => (r.cells[at] as HTMLElement).innerText);
  });
}

const EXPECTED_SUMMARIES = [
  // `"` is kept out of summaries (services.ts): it shows as `?`; `<`, `>` and the rest come through.
  'GET /<script>alert(1)</script>?><img/src=x/onerror=alert(1)> -> 204',
  'sni=<script>alert(1)</script>?><img src=x onerror=alert(1)>??',
  'A <script>alert(1)</script> -> NXDOMAIN',
];

describe('the report of a capture full of markup, in chromium', () => {
  it('shows the HTTP target, the TLS server name, the DNS name and the file name as text, and runs nothing', async () => {
    const w = await openReport(false);
    const { page } = w;
    expect(await summaries(w)).toEqual(EXPECTED_SUMMARIES);
    expect(await page.locator('h1').innerText()).toBe(`flowdemux report: ${capture}`);
    expect(await page.title()).toBe(`flowdemux report: ${capture}`);
    expect(await page.locator('header code').innerText()).toBe(`${capture} (pcap, 18 packets, EN10MB)`);
    // Filtering by the payload's words finds the rows: they are text in the table.
    await page.locator('#flow-filter').fill('<script>alert(1)</script>');
    await page.waitForFunction(() => document.getElementById('flow-count')?.textContent === '3 of 3 rows shown');
    await page.locator('#flow-filter').fill('onerror=alert(1)>');
    await page.waitForFunction(() => document.getElementById('flow-count')?.textContent === '2 of 3 rows shown');
    expect(await madeByPayloads(w)).toEqual({ images: 0, scripts: [REPORT_SCRIPT], handlers: [], svgs: expect.any(Array) });
    expect(w.trouble).toEqual({ console: [], pageErrors: [], dialogs: [], requests: [] });
    expect(await w.violations()).toEqual([]);
    // The long summaries wrap in their cells, and a table wider than the page scrolls in its own
    // box: the page itself never scrolls sideways.
    const widths = await page.evaluate(() => ({
      box: document.getElementById('flow-table')!.parentElement!.getBoundingClientRect().right,
      page: document.body.getBoundingClientRect().right,
      scroll: document.documentElement.scrollWidth,
      view: document.documentElement.clientWidth,
    }));
    expect(widths.box).toBeLessThanOrEqual(widths.page + 0.5);
    expect(widths.scroll).toBeLessThanOrEqual(widths.view);
    await page.screenshot({ path: join(OUTPUT, 'crafted-markup.png'), fullPage: true });
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('carries a Content-Security-Policy that the browser enforces', async () => {
    const w = await openReport(false);
    const { page } = w;
    const csp = await page.$eval('meta[http-equiv="Content-Security-Policy"]', (m) => m.getAttribute('content') ?? '');
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(directives.get('script-src')).toHaveLength(1);
    expect(directives.get('script-src')![0]).toMatch(/^'sha256-[A-Za-z0-9+/]+=*'$/);
    // A script put into the page after it loaded is refused, and the refusal is seen.
    expect(await scriptAddedLaterRuns(w)).toBe(false);
    await page.waitForFunction(() => ((window as unknown as Record<string, unknown[]>).__flowdemuxTestViolations ?? []).length > 0);
    expect(await w.violations()).toEqual(['script-src-elem inline']);
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('stays inert with the policy ignored: the escaping alone keeps the payloads text', async () => {
    const w = await openReport(true);
    expect(await summaries(w)).toEqual(EXPECTED_SUMMARIES);
    expect(await w.page.locator('h1').innerText()).toBe(`flowdemux report: ${capture}`);
    expect(await madeByPayloads(w)).toEqual({ images: 0, scripts: [REPORT_SCRIPT], handlers: [], svgs: expect.any(Array) });
    // Without the policy a script added to the page does run: the policy really was off.
    expect(await scriptAddedLaterRuns(w)).toBe(true);
    expect(w.trouble).toEqual({ console: [], pageErrors: [], dialogs: [], requests: [] });
    await w.context.close();
  }, BROWSER_TIMEOUT);
});
