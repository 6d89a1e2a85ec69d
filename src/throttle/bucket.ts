/**
 * A token bucket with continuous refill (fractional tokens). Pure: no timers, no I/O;
 * time comes from the injected clock.
 *
 * Why not a fixed window: a fixed window of `rate` per second can pass 2× the rate
 * around a window boundary (KNOWN: rate-limiter-flexible's fixed window), and carriers
 * count per second and punish bursts. Here the bucket holds at most `burst` tokens and
 * gains `rate` tokens per second, so over ANY interval of T seconds at most
 * `burst + rate·T` tokens are taken. Rate and capacity may change (setRate, setBurst,
 * empty); the bound then holds with the largest rate and capacity in force.
 */
import type { Clock } from '../core/clock.js';

export interface TokenBucketOptions {
  /** Tokens added per second; may be fractional (0.5 = one every 2 s). Must be > 0. */
  ratePerSec: number;
  /** Capacity: the most that may pass at once after an idle spell. Must be > 0. */
  burst: number;
  clock: Clock;
}

/**
 * Floating-point slack, in tokens. `msUntil` rounds up to whole milliseconds, yet
 * `elapsed·rate/1000` can land a hair under the integer it should reach; without the
 * slack a caller that waited exactly `msUntil()` could be refused and spin for 1 ms.
 * The bound above is exceeded by at most this much per take (test tolerance covers it).
 */
const EPSILON = 1e-9;

function checkPositive(name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a finite number > 0, got ${v}`);
}

export class TokenBucket {
  readonly #clock: Clock;
  #rate: number;
  #burst: number;
  /** Tokens held at time #last (fractional, 0..burst). */
  #tokens: number;
  /** Clock time #tokens refers to; may lie in the future after `empty(until)`. */
  #last: number;

  constructor(opts: TokenBucketOptions) {
    checkPositive('ratePerSec', opts.ratePerSec);
    checkPositive('burst', opts.burst);
    this.#rate = opts.ratePerSec;
    this.#burst = opts.burst;
    this.#clock = opts.clock;
    // Start full: a freshly started process may send one burst, which the bound allows.
    this.#tokens = opts.burst;
    this.#last = opts.clock.now();
  }

  /** Tokens per second. */
  get rate(): number {
    return this.#rate;
  }

  /** Capacity: the most tokens held at once. */
  get burst(): number {
    return this.#burst;
  }

  /** Tokens available now (fractional). Does not consume. */
  get available(): number {
    return this.#tokensAt(this.#clock.now());
  }

  /** Take `n` tokens if all are available now; otherwise take none and return false. */
  tryTake(n = 1): boolean {
    checkPositive('n', n);
    this.#refill();
    if (this.#tokens + EPSILON < n) return false;
    this.#tokens = Math.max(0, this.#tokens - n);
    return true;
  }

  /**
   * Milliseconds until `n` tokens will be available (0 if they are now), rounded up so
   * that waiting this long is enough. `Infinity` when `n` exceeds the burst: such a
   * take can never succeed.
   */
  msUntil(n = 1): number {
    checkPositive('n', n);
    if (n > this.#burst + EPSILON) return Infinity;
    const now = this.#clock.now();
    const tokens = this.#tokensAt(now);
    if (tokens + EPSILON >= n) return 0;
    // Nothing accrues before #last (see empty()).
    const notBefore = Math.max(0, this.#last - now);
    return Math.ceil(notBefore + ((n - tokens) * 1000) / this.#rate);
  }

  /**
   * Change the refill rate from now on. Tokens accrued so far were earned at the old
   * rate, so settle them first; the tokens held are kept (never above the burst).
   */
  setRate(ratePerSec: number): void {
    checkPositive('ratePerSec', ratePerSec);
    this.#refill();
    this.#rate = ratePerSec;
  }

  /**
   * Change the capacity from now on. Tokens earned so far are settled first, then capped
   * to the new capacity: a smaller burst takes effect at once, a larger one only fills
   * at the rate.
   */
  setBurst(burst: number): void {
    checkPositive('burst', burst);
    this.#refill();
    this.#burst = burst;
    this.#tokens = Math.min(this.#tokens, burst);
  }

  /**
   * Drop every token held and accrue nothing before `until` (clock ms; default now). After
   * a carrier said "slow down", the pause must not bank a burst that is spent the moment
   * it ends.
   */
  empty(until?: number): void {
    if (until !== undefined && !Number.isFinite(until)) throw new RangeError(`until must be a finite clock time, got ${until}`);
    const now = this.#clock.now();
    this.#tokens = 0;
    this.#last = Math.max(now, this.#last, until ?? now);
  }

  #tokensAt(now: number): number {
    // A clock that steps backwards (NTP) must not mint or destroy tokens.
    const elapsedMs = Math.max(0, now - this.#last);
    return Math.min(this.#burst, this.#tokens + (elapsedMs * this.#rate) / 1000);
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = this.#tokensAt(now);
    if (now > this.#last) this.#last = now;
  }
}
