/**
 * A real browser for the tests of the HTML report: Debian's chromium, driven headless by
 * playwright-core (which brings no browser of its own). The browser must be there: a missing one
 * fails the test with one line saying what to install, it never skips (CI installs chromium).
 *
 * `watchPage` records what a person or the page's author would want to know went wrong while the
 * page was open: console errors and warnings (a Content-Security-Policy violation is one),
 * uncaught exceptions, dialogs (alert, confirm, prompt: dismissed at once and recorded), any
 * request other than the page's own file, and the `securitypolicyviolation` events the document
 * fires. The recording script is added through the DevTools protocol, which the page's policy
 * does not govern; it only listens and writes to a property of its own.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { runCli } from './run-cli.js';

/** Where the browser tests leave the pages and screenshots for people to look at (gitignored). */
export const OUTPUT = new URL('../../test-output/browser/', import.meta.url).pathname;

/** `flowdemux report ARGS -o OUTPUT/NAME`, which must succeed quietly; the page's file:// URL. */
export async function writeReport(args: string[], name: string): Promise<string> {
  mkdirSync(OUTPUT, { recursive: true });
  const out = join(OUTPUT, name);
  rmSync(out, { force: true });
  const r = await runCli(['report', ...args, '-o', out]);
  expect([r.code, r.stderr]).toEqual([0, '']);
  return pathToFileURL(out).href;
}

/** Where the browser is: FLOWDEMUX_CHROMIUM, or Debian's /usr/bin/chromium. */
export const CHROMIUM = process.env.FLOWDEMUX_CHROMIUM ?? '/usr/bin/chromium';

/** A hang guard for launching and for a whole test: generous, for a loaded two-core machine. */
export const BROWSER_TIMEOUT = 120_000;
/** A hang guard for one wait on the page (shorter than a test's, so that a hang names its wait). */
export const WAIT_TIMEOUT = 60_000;

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: the browser tests need Debian's chromium package (apt-get install chromium), `
      + 'or FLOWDEMUX_CHROMIUM naming another Chromium');
  }
  // Chromium refuses to run its sandbox as root; the tests run as root on CI.
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: BROWSER_TIMEOUT });
}

export interface PageTrouble {
  console: string[];
  pageErrors: string[];
  dialogs: string[];
  requests: string[];
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  trouble: PageTrouble;
  /** The `securitypolicyviolation` events seen so far: `directive blocked-uri`. */
  violations(): Promise<string[]>;
}

/** Set by the recording script; the page cannot reach it before the script runs. */
const VIOLATIONS = '__flowdemuxTestViolations';

/**
 * A new page in its own context, watched from its first byte. `bypassCSP`: open the page with
 * its Content-Security-Policy ignored, to prove that escaping alone keeps a payload inert.
 */
export async function watchPage(browser: Browser, opts: { bypassCSP?: boolean; viewport?: { width: number; height: number } } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ bypassCSP: opts.bypassCSP ?? false, viewport: opts.viewport ?? { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT_TIMEOUT);
  const page = await context.newPage();
  const trouble: PageTrouble = { console: [], pageErrors: [], dialogs: [], requests: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') trouble.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => trouble.pageErrors.push(e.message));
  page.on('dialog', (d) => {
    trouble.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss().catch(() => undefined);
  });
  let first: string | null = null;
  page.on('request', (r) => {
    // The first request is the page itself; anything after it is a load the page should not make
    // (even one the policy then blocks: the page should not ask).
    if (first === null) first = r.url();
    else trouble.requests.push(r.url());
  });
  await page.addInitScript(`(() => {
    const seen = [];
    Object.defineProperty(window, '${VIOLATIONS}', { value: seen });
    document.addEventListener('securitypolicyviolation', (e) => seen.push(e.effectiveDirective + ' ' + e.blockedURI), true);
  })();`);
  const violations = () => page.evaluate((name) => [...((window as unknown as Record<string, string[]>)[name] ?? [])], VIOLATIONS);
  return { page, context, trouble, violations };
}
