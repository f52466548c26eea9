/**
 * The server names and ALPN lists that flows read from ClientHellos (TLS over TCP, QUIC Initials)
 * against tshark's (fixtures/golden/tls-names.tsv, scripts/fixtures/tls-names-golden.mjs): the
 * crafted fixtures, and 91 TLS and QUIC captures of ../shared/corpus read in place (those only
 * where the corpus is).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runPipeline } from '../report/pipeline.js';

const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;
const CORPUS = new URL('../../../shared/corpus/', import.meta.url).pathname;

/**
 * Connections whose ClientHello is not their first bytes: TLS after STARTTLS (FTP AUTH TLS, LDAP),
 * PostgreSQL's SSLRequest, a SOCKS handshake. flowdemux reads an end's first payload only, so
 * these say nothing of TLS, as designed.
 */
const NOT_FIRST_BYTES = [
  'zeek__ftp__ftp-auth-tls.pcap', 'zeek__ldap__ldap-starttls.pcap', 'zeek__postgresql__psql-aws-ssl-require-15432.pcap',
  'zeek__postgresql__psql-aws-ssl-require.pcap', 'zeek__socks-with-ssl.pcap',
];

const rows = readFileSync(`${FIXTURES}golden/tls-names.tsv`, 'utf8').trimEnd().split('\n').slice(1).map((l) => l.split('\t'));

function pathOf(capture: string): string | null {
  const here = `${FIXTURES}crafted/${capture}`;
  if (existsSync(here)) return here;
  return existsSync(`${CORPUS}${capture}`) ? `${CORPUS}${capture}` : null;
}

describe('server names and ALPN against tshark', () => {
  it('agree on every ClientHello that is a connection\'s first bytes', async () => {
    const byCapture = new Map<string, string[][]>();
    for (const r of rows) byCapture.set(r[0]!, [...(byCapture.get(r[0]!) ?? []), r]);
    let compared = 0;
    const differ: string[] = [];
    for (const [capture, hellos] of byCapture) {
      const path = pathOf(capture);
      if (path === null) continue;
      const { flows } = await runPipeline(path);
      for (const [, proto, client, server, sni, alpn] of hellos) {
        compared++;
        const [cip, cport] = client!.split('|');
        const [sip, sport] = server!.split('|');
        const f = flows.find((x) => x.proto === proto && ((x.client.ip === cip && String(x.client.port) === cport && x.server.ip === sip && String(x.server.port) === sport)
          || (x.client.ip === sip && String(x.client.port) === sport && x.server.ip === cip && String(x.server.port) === cport)));
        const said = (f?.summary ?? '').split(' -> ')[0]!;
        const got = [/sni=(\S+)/.exec(said)?.[1] ?? '-', /alpn=(\S+)/.exec(said)?.[1] ?? '-'];
        if (got[0] !== sni || got[1] !== alpn) differ.push(capture);
      }
    }
    expect(compared).toBeGreaterThanOrEqual(3); // the crafted ones, everywhere
    const corpus = existsSync(CORPUS);
    if (corpus) expect(compared).toBe(rows.length);
    expect(differ.sort()).toEqual(corpus ? NOT_FIRST_BYTES : []);
  }, 240_000);
});
