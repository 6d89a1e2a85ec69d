/**
 * Timing helpers for the simulator: work grouped into 10 ms buckets (one timer per
 * bucket, not one per message) and a token bucket for the TPS cap.
 */

/** Runs items at (or just after) their due time, grouping everything due in the same bucket under one timer. */
export class BucketScheduler<T> {
  private readonly buckets = new Map<number, T[]>();
  private readonly timers = new Set<NodeJS.Timeout>();

  /**
   * @param fire called once per bucket with its items, in the order they were scheduled
   * @param bucketMs bucket width in milliseconds; a delay is rounded up to the bucket's end
   */
  constructor(
    private readonly fire: (items: T[]) => void,
    private readonly bucketMs = 10,
  ) {}

  schedule(delayMs: number, item: T): void {
    const now = Date.now();
    const due = Math.ceil((now + delayMs) / this.bucketMs) * this.bucketMs;
    let list = this.buckets.get(due);
    if (!list) {
      const items: T[] = [];
      list = items;
      this.buckets.set(due, items);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.buckets.delete(due);
        this.fire(items);
      }, due - now);
      // The listener socket keeps the process alive; a pending receipt alone must not.
      timer.unref();
      this.timers.add(timer);
    }
    list.push(item);
  }

  /** Items waiting in every bucket. */
  get size(): number {
    let n = 0;
    for (const list of this.buckets.values()) n += list.length;
    return n;
  }

  /** Drop everything scheduled and cancel the timers. */
  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.buckets.clear();
  }
}

/**
 * Token bucket: `rate` tokens per second, holding at most `burst` (default one second's
 * worth, `rate`). Starts full.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly burst: number;

  constructor(
    readonly rate: number,
    now: number,
    burst?: number,
  ) {
    this.burst = burst ?? rate;
    this.tokens = this.burst;
    this.last = now;
  }

  /** Take one token at time `now` (milliseconds); false when the bucket is empty. */
  take(now: number): boolean {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
