/**
 * One timer for all attempt timeouts (no per-job timer): armed for the earliest deadline,
 * re-armed after it fires by scanning the running jobs (at most `concurrency` of them).
 */
const MAX_DELAY = 2_147_483_647;

export class DeadlineTimer<T extends { deadline: number }> {
  private timer: NodeJS.Timeout | null = null;
  private at = Infinity;

  constructor(
    private readonly items: () => Iterable<T>,
    private readonly expired: (item: T) => boolean,
    private readonly onExpire: (item: T) => void,
  ) {}

  track(deadline: number): void {
    if (deadline < this.at) this.arm(deadline);
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_DELAY, Math.max(0, at - Date.now())));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.at = Infinity;
    const now = Date.now();
    let next = Infinity;
    const due: T[] = [];
    for (const it of this.items()) {
      if (this.expired(it)) continue;
      if (it.deadline <= now) due.push(it);
      else if (it.deadline < next) next = it.deadline;
    }
    for (const it of due) this.onExpire(it);
    if (next < Infinity) this.arm(next);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.at = Infinity;
  }
}
