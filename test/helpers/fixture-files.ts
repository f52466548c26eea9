/** The capture files under fixtures/ (not the golden .json/.tsv files beside them). */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;

/** Every .pcap/.pcapng (optionally .gz) under `dir`, recursively, in name order. */
export function captureFiles(dir: string = FIXTURES): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...captureFiles(p));
    else if (/\.(pcap|pcapng)(\.gz)?$/.test(name)) out.push(p);
  }
  return out;
}

/** The fixtures with TCP flows (for --analysis): the top folder's captures and the crafted ones named for TCP. */
export function tcpCaptureFiles(): string[] {
  return captureFiles().filter((c) => !c.slice(FIXTURES.length).includes('/') || /crafted\/.*tcp/.test(c));
}
