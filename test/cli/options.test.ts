import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../src/cli/options.js';

describe('command line', () => {
  it('parses packets with several captures and a format', async () => {
    const { options } = await parseArgs(['packets', 'a.pcap', 'b.pcapng', '--format', 'ndjson'], true);
    expect(options).toMatchObject({ command: 'packets', captures: ['a.pcap', 'b.pcapng'], format: 'ndjson', strict: false });
  });

  it('defaults every command to a table, whether or not stdout is a terminal (--format chooses)', async () => {
    for (const cmd of [['flows', 'x.pcap'], ['packets', 'x.pcap'], ['demux', 'x.pcap'], ['live']]) {
      expect((await parseArgs(cmd, true)).options?.format).toBe('table');
      expect((await parseArgs(cmd, false)).options?.format).toBe('table');
    }
  });

  it('rejects an unknown format, a missing capture, an unknown option and a bad port', async () => {
    await expect(parseArgs(['packets', 'a.pcap', '--format', 'xml'], true)).rejects.toBeInstanceOf(UsageError);
    await expect(parseArgs(['packets'], true)).rejects.toBeInstanceOf(UsageError);
    await expect(parseArgs(['packets', 'a.pcap', '--bogus'], true)).rejects.toBeInstanceOf(UsageError);
    await expect(parseArgs(['flows', 'a.pcap', '--port', '70000'], true)).rejects.toThrow('--port must be 0..65535');
    await expect(parseArgs(['flows', 'a.pcap', '--proto', 'bogus'], true)).rejects.toThrow('--proto');
    await expect(parseArgs(['flows', 'a.pcap', '--proto', 'ip-proto-6'], true)).rejects.toThrow('--proto');
  });

  it('an option given twice: the last one counts (tcpdump, tshark), not an array', async () => {
    const { options } = await parseArgs(['live', '--filter', 'udp', '--filter', 'tcp port 80', '--format', 'json', '--format', 'table'], true);
    expect(options).toMatchObject({ filter: 'tcp port 80', format: 'table' });
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

describe('first-hour papercuts (issue 15): every option checked up front, one line, exit 2', () => {
  it('--version prints the package version and exits 0', async () => {
    const { runCli } = await import('../helpers/run-cli.js');
    const { readFileSync } = await import('node:fs');
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it('a bad --format is said on one line without literal escapes', async () => {
    const { runCli } = await import('../helpers/run-cli.js');
    const r = await runCli(['flows', 'x.pcap', '--format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain('\\x0a');
    expect(r.stderr).toContain('Given: "xml"');
  });

  it.each([
    [['live', '--duration', '0'], '--duration'],
    [['live', '--duration', '0.0001'], '--duration'],
    [['live', '--duration', '1e12'], '--duration'],
    [['live', '--duration', '-3'], '--duration'],
    [['live', '--count', '1.5'], '--count must be a whole number'],
    [['live', '--count', '0'], '--count'],
    [['flows', 'x.pcap', '--limit', '2.5'], '--limit must be a whole number'],
    [['flows', 'x.pcap', '--max-flows', '0'], '--max-flows'],
  ])('%j: a usage line and exit 2, never an internal error or a Node warning', async (args, says) => {
    const { runCli } = await import('../helpers/run-cli.js');
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const r = await runCli(args as string[]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(says);
      expect(r.stderr).not.toContain('internal error');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });
});

describe('stdin that is a terminal', () => {
  it("'-' with nothing piped in: a usage line and exit 2, not a silent wait", async () => {
    const { run } = await import('../../src/cli/main.js');
    const { PassThrough, Writable } = await import('node:stream');
    let err = '';
    const sink = () => new Writable({ write(c, _e, cb) { err += c; cb(); } });
    const stdin = Object.assign(new PassThrough(), { isTTY: true }); // never written: a wait would hang
    for (const cmd of ['packets', 'flows', 'demux']) {
      err = '';
      const code = await run([cmd, '-'], { stdout: sink(), stderr: sink(), stdin });
      expect(code, cmd).toBe(2);
      expect(err).toContain('standard input, which is a terminal');
    }
  });
});

describe('every option in --help does something', () => {
  it('demux lists groups, not flows: --sort and --limit are not among its options (they did nothing)', async () => {
    for (const opt of [['--sort', 'bytes'], ['--limit', '1']]) {
      await expect(parseArgs(['demux', 'x.pcap', ...opt], true)).rejects.toThrow(/Unknown argument/);
    }
    const help = (await parseArgs(['demux', '--help'], true)).helpText!;
    expect(help).not.toContain('--sort');
    expect(help).not.toContain('--limit');
    expect(help).toContain('--port');
  });
});

describe('interfaces', () => {
  it('puts each fact in its own column: a device without addresses shows its description under description, not addresses', async () => {
    const { runCli } = await import('../helpers/run-cli.js');
    const json = JSON.parse((await runCli(['interfaces', '--format', 'json'])).stdout) as { interfaces: { name: string; addresses: string[]; description?: string }[] };
    const table = (await runCli(['interfaces'])).stdout.split('\n').filter((l) => l !== '');
    const header = table[0]!;
    const addrAt = header.indexOf('addresses');
    const descAt = header.indexOf('description');
    expect(addrAt).toBeGreaterThan(0);
    expect(descAt).toBeGreaterThan(addrAt);
    expect(table).toHaveLength(json.interfaces.length + 1);
    json.interfaces.forEach((i, n) => {
      const row = table[n + 1]!;
      expect(row.startsWith(i.name)).toBe(true);
      expect(row.slice(addrAt, descAt).trim()).toBe(i.addresses.join(', '));
      expect(row.slice(descAt).trim()).toBe(i.description ?? '');
    });
  });
});

describe('--help teaches what the README does', () => {
  it.each(['packets', 'flows', 'demux', 'ladder', 'check'])('%s --help: examples, stdin, several captures, exit codes', async (cmd) => {
    // Paragraphs are wrapped to the terminal's width: compare with the line breaks as spaces.
    const help = (await parseArgs([cmd, '--help'], true)).helpText!.replace(/\s+/g, ' ');
    expect(help).toContain('Examples:');
    expect(help).toContain(`flowdemux ${cmd} `);
    expect(help).toContain("'-' reads one from standard input");
    expect(help).toContain('one timeline');
    expect(help).toContain('Exit codes: 0');
    expect(help).toContain("--filter takes tcpdump's syntax");
  });

  it('flowdemux --help: examples, where each command is explained, exit codes', async () => {
    const help = (await parseArgs(['--help'], true)).helpText!.replace(/\s+/g, ' ');
    expect(help).toContain('Examples: flowdemux demux fixtures/demux-lo.pcap');
    expect(help).toContain('Each command has its own --help');
    expect(help).toContain('Exit codes: 0 fine');
  });

  it('live --help: examples, and what capture needs', async () => {
    const help = (await parseArgs(['live', '--help'], true)).helpText!.replace(/\s+/g, ' ');
    expect(help).toContain('Examples:');
    expect(help).toContain('and root, or the capture capabilities given to node once: sudo setcap');
    expect(help).toContain('libpcap-dev');
    expect(help).toContain('Ctrl-C (or --count, --duration) ends with the final report');
  });
});
