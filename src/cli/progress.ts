/**
 * One progress bar for a whole command (every worker's share summed by the pool), with the time
 * elapsed and an estimate of the time left, on a terminal only: nothing at all when stderr is not a
 * terminal (piped, CI) or when quiet. Wall-clock time is the display's alone, never the model's.
 */
export class Progress {
  private label = "";
  private startedAt = 0;
  private shown = false;
  private lastDraw = 0;
  private width = 0;
  private readonly enabled: boolean;

  /** `now` and `env`: the wall clock and the environment (tests pass their own). */
  constructor(
    private readonly out: Pick<NodeJS.WriteStream, "isTTY" | "columns" | "write">,
    quiet: boolean,
    private readonly now: () => number = Date.now,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.enabled = !quiet && out.isTTY === true && !env.CI;
  }

  begin(label: string): void {
    this.label = label;
    this.startedAt = this.now();
    this.shown = false;
  }

  update(fraction: number): void {
    if (!this.enabled) return;
    const now = this.now();
    if (now - this.startedAt < 1000 || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.shown = true;
    const elapsed = (now - this.startedAt) / 1000;
    const eta = fraction > 0.01 ? clock((elapsed * (1 - fraction)) / fraction) : "--:--";
    const bar = 30;
    const filled = Math.round(Math.min(1, fraction) * bar);
    const line = `${this.label} [${"#".repeat(filled)}${" ".repeat(bar - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${clock(elapsed)} elapsed, ${eta} left`;
    const cols = this.out.columns ?? 0;
    const text = cols > 0 && line.length >= cols ? line.slice(0, cols - 1) : line;
    this.width = Math.max(this.width, text.length);
    this.out.write(`\r${text.padEnd(this.width)}`);
  }

  end(): void {
    if (this.enabled && this.shown) this.out.write(`\r${" ".repeat(this.width)}\r`);
    this.shown = false;
  }
}

/** Seconds as m:ss (or h:mm:ss). */
export function clock(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
