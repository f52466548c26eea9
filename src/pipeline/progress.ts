/**
 * One progress line on stderr, redrawn at most four times a second, only when asked for (by
 * default when stderr is a terminal). Cleared when reading ends so that it never mixes with
 * the report.
 */
export class Progress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly enabled: boolean) {}

  update(packets: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 250 || now - this.started < 500) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = Math.round(packets / seconds);
    process.stderr.write(`\r\x1b[Kreading: ${packets.toLocaleString('en-US')} packets, ${rate.toLocaleString('en-US')}/s`);
    this.drawn = true;
  }

  done(): void {
    if (this.drawn) process.stderr.write('\r\x1b[K');
    this.drawn = false;
  }
}
