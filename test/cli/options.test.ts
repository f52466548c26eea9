import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/options.js';

describe('command line', () => {
  it('parses packets with several captures and a format', async () => {
    const { options } = await parseArgs(['packets', 'a.pcap', 'b.pcapng', '--format', 'ndjson'], true);
    expect(options).toMatchObject({ command: 'packets', captures: ['a.pcap', 'b.pcapng'], format: 'ndjson', strict: false });
  });

  it('defaults flows to a table on a terminal and JSON when piped', async () => {
    expect((await parseArgs(['flows', 'x.pcap'], true)).options?.format).toBe('table');
    expect((await parseArgs(['flows', 'x.pcap'], false)).options?.format).toBe('json');
  });

  it('rejects an unknown format, a missing capture, an unknown option and a bad port', async () => {
    await expect(parseArgs(['packets', 'a.pcap', '--format', 'xml'], true)).rejects.toBeInstanceOf(UsageError);
    await expect(parseArgs(['packets'], true)).rejects.toBeInstanceOf(UsageError);
    await expect(parseArgs(['packets', 'a.pcap', '--bogus'], true)).rejects.toBeInstanceOf(UsageError);
    await expect(parseArgs(['flows', 'a.pcap', '--port', '70000'], true)).rejects.toThrow('--port must be 0..65535');
    await expect(parseArgs(['flows', 'a.pcap', '--proto', 'sctp'], true)).rejects.toThrow('--proto');
  });

  it('refuses stdin twice', async () => {
    await expect(parseArgs(['packets', '-', '-'], true)).rejects.toThrow("stdin ('-') can be read only once");
  });

  it('returns help text instead of options for --help', async () => {
    const r = await parseArgs(['--help'], true);
    expect(r.options).toBeNull();
    expect(r.helpText).toContain('packets');
  });
});
