/**
 * A progress bar on a terminal, for runs longer than a couple of seconds;
 * nothing at all when stderr is not a terminal (piped, CI) or when quiet.
 */
export class Progress {
  private label = "";
  private startedAt = 0;
  private shown = false;
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream,
    quiet: boolean,
  ) {
    this.enabled = !quiet && out.isTTY === true && !process.env.CI;
  }

  begin(label: string): void {
    this.label = label;
    this.startedAt = Date.now();
    this.shown = false;
  }

  update(fraction: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.startedAt < 1500 || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.shown = true;
    const width = 30;
    const filled = Math.round(fraction * width);
    this.out.write(`\r${this.label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`);
  }

  end(): void {
    if (this.enabled && this.shown) this.out.write(`\r${" ".repeat(this.label.length + 40)}\r`);
  }
}
