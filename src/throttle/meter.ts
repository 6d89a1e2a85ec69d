/**
 * Events per second over a sliding window, counted in fixed slots. Pure: time is passed
 * in. O(1) per event (a slot advance clears at most `slots` counters), so it can sit on
 * the per-message path.
 */

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

export interface RateMeterOptions {
  /** Window length in ms. Default 1000. */
  windowMs?: number;
  /** Slots the window is cut into; the count lags by at most one slot's width. Default 10. */
  slots?: number;
}

export class RateMeter {
  readonly windowMs: number;
  readonly #slotMs: number;
  readonly #counts: Float64Array;
  /** Absolute index (time / slotMs) of the newest slot; -Infinity before the first event. */
  #slot = -Infinity;
  #total = 0;

  constructor(opts: RateMeterOptions = {}) {
    this.windowMs = opts.windowMs ?? 1000;
    const slots = opts.slots ?? 10;
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be an integer >= 1, got ${slots}`);
    if (!Number.isFinite(this.windowMs) || this.windowMs <= 0) throw new RangeError(`windowMs must be a finite number > 0, got ${this.windowMs}`);
    this.#slotMs = this.windowMs / slots;
    this.#counts = new Float64Array(slots);
  }

  /** Count `n` events at clock time `now` (ms). */
  add(now: number, n = 1): void {
    this.#advance(now);
    const i = mod(this.#slot, this.#counts.length);
    this.#counts[i] = (this.#counts[i] ?? 0) + n;
    this.#total += n;
  }

  /** Events in the window ending at `now`: the current slot and the `slots - 1` before it. */
  count(now: number): number {
    this.#advance(now);
    return this.#total;
  }

  /**
   * How much time `count()` covers at `now`, in ms: the full slots before the current
   * one plus the part of the current slot already elapsed (between windowMs − slot and
   * windowMs).
   */
  span(now: number): number {
    const slotMs = this.#slotMs;
    return this.windowMs - slotMs + (now - Math.floor(now / slotMs) * slotMs);
  }

  #advance(now: number): void {
    const slot = Math.floor(now / this.#slotMs);
    // A clock that steps backwards keeps counting into the newest slot.
    if (slot <= this.#slot) return;
    const n = this.#counts.length;
    const steps = this.#slot === -Infinity ? n : Math.min(n, slot - this.#slot);
    for (let k = 1; k <= steps; k++) {
      const i = mod(slot - steps + k, n);
      this.#total -= this.#counts[i] ?? 0;
      this.#counts[i] = 0;
    }
    this.#slot = slot;
    // Float drift from repeated add/subtract of fractions; counts are usually integers.
    if (this.#total < 1e-9) this.#total = 0;
  }
}

/**
 * The largest value seen over a sliding window (a monotonic queue: O(1) amortized per
 * sample). Pure: time is passed in.
 */
export class WindowedMax {
  readonly windowMs: number;
  /** Samples in time order, values strictly decreasing; the head is the maximum. */
  readonly #times: number[] = [];
  readonly #values: number[] = [];
  #head = 0;

  constructor(windowMs: number) {
    if (!Number.isFinite(windowMs) || windowMs <= 0) throw new RangeError(`windowMs must be a finite number > 0, got ${windowMs}`);
    this.windowMs = windowMs;
  }

  add(now: number, value: number): void {
    this.#expire(now);
    while (this.#values.length > this.#head && (this.#values[this.#values.length - 1] as number) <= value) {
      this.#values.pop();
      this.#times.pop();
    }
    this.#values.push(value);
    this.#times.push(now);
  }

  /** The largest value added within the window ending at `now`; -Infinity if none. */
  max(now: number): number {
    this.#expire(now);
    return this.#head < this.#values.length ? (this.#values[this.#head] as number) : -Infinity;
  }

  #expire(now: number): void {
    while (this.#head < this.#times.length && (this.#times[this.#head] as number) <= now - this.windowMs) this.#head++;
    // Compact now and then, so the arrays hold only live samples (amortized O(1)).
    if (this.#head > 64 && this.#head * 2 > this.#times.length) {
      this.#times.splice(0, this.#head);
      this.#values.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
