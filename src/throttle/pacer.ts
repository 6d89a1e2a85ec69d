/**
 * Pacing for one carrier, shared by all of its binds: the carrier's TPS limit is per
 * account, not per bind (DESIGN "Routing and pacing"). Pure: no timers; the dispatcher
 * asks `take()` before each submit_sm and sleeps `msUntilNext()` when refused.
 *
 * Adaptation settles on what the carrier actually takes instead of sawing between the
 * configured rate and a fraction of it:
 * - an ESME_RTHROTTLED (0x58) or ESME_RMSGQFUL (0x14) answer (SMPP 3.4 §5.1.3) sets the
 *   rate to `margin` × the accepted rate measured over the last second (the best such
 *   second of the last BEST_OF_MS) — at most `margin` × the current rate, at least
 *   MAX_CUT × it, never below the floor — once per reduction epoch, then pauses every
 *   take for a short cool-down with the bucket emptied, so the pause does not end in a
 *   burst the carrier throttles again;
 * - the bucket's capacity follows the current rate (the same share of a second);
 * - clean traffic wins back `recoveryPerSec` of the current rate per second (slow
 *   probing near the carrier's limit, as TCP's congestion avoidance, RFC 5681 §3.1), and
 *   after a cut deeper than the margin — a measurement that saw less than the carrier
 *   takes, e.g. while the process itself was warming up — returns quickly towards
 *   `margin` × the rate it was cut from (cf. CUBIC's concave region, RFC 9438 §4.2).
 *   Never above the configured rate; time is measured on the clock, idle time capped.
 */
import type { Clock } from '../core/clock.js';
import { TokenBucket } from './bucket.js';
import { RateMeter, WindowedMax } from './meter.js';

export interface CarrierPacerOptions {
  /** The carrier's configured messages per second across all its binds (may be fractional). */
  tps: number;
  clock: Clock;
  /**
   * Bucket capacity at the configured rate. Default max(1, ceil(tps/10)): 100 ms worth,
   * since carriers punish bursts. At a lower current rate the capacity shrinks in
   * proportion (burst × current/tps), never below 1.
   */
  burst?: number;
  /** The rate never drops below this. Default max(1, tps/20), but never above `tps`. */
  minTps?: number;
  /** How long all takes stop after a throttle answer that lowers the rate, in ms. Default 100. */
  coolDownMs?: number;
  /** Share of the current rate won back per second of clean traffic (compounded). Default 0.05 (5 %). */
  recoveryPerSec?: number;
  /**
   * What a throttle answer sets the rate to, as a share of the accepted rate measured
   * over the last second; in (0, 1). Also the least a reduction cuts: the new rate is at
   * most margin × the current one. Default 0.9.
   */
  margin?: number;
  /**
   * Most clean time one `onAccepted()` may credit, in ms. Default 2000. Idle time is not
   * evidence the carrier has recovered (cf. RFC 2861, which decays TCP's window when
   * idle), so one answer after a long silence does not jump back to full speed.
   */
  maxCreditMs?: number;
}

export interface CarrierPacerState {
  configuredTps: number;
  currentTps: number;
  /** Clock time when the current cool-down ends; absent when not cooling down. */
  coolingDownUntil?: number;
  /** Throttle answers seen since start. */
  throttledTotal: number;
}

export const DEFAULT_COOL_DOWN_MS = 100;
export const DEFAULT_RECOVERY_PER_SEC = 0.05;
export const DEFAULT_MARGIN = 0.9;
export const DEFAULT_MAX_CREDIT_MS = 2000;
/**
 * The deepest one reduction cuts, whatever the measurement says: to 0.7 × the current rate,
 * CUBIC's β (RFC 9438 §4.6). A measurement taken while the process itself stalled (and
 * then sent a clump the carrier refused) sees far less than the carrier takes; this
 * bounds what one such reading costs.
 */
export const MAX_CUT = 0.7;
/**
 * Rate (per second, exponential) at which the gap to margin × the rate of the last cut
 * closes: 86 % of it in 1 s of clean traffic.
 */
export const RETURN_PER_SEC = 2;
/** Window of the accepted-rate measurement, ms. */
export const MEASURE_MS = 1000;
/**
 * Least time the measurement must cover to be used, ms. Over a span s the accepted
 * count includes the carrier's own burst, an overestimate of burst/s: right after start
 * (or a silence) it says nothing about the carrier's rate, and the cut is the margin alone.
 */
export const MIN_MEASURE_MS = 250;
/**
 * A throttle answer takes the best one-second accepted rate of this many recent ms, not
 * just the latest (cf. BBR's windowed-max bandwidth filter): a second in which the process
 * itself stalled reads low, and says nothing about the carrier. A carrier that really
 * slowed down still loses at least 1 − margin of the rate per cut.
 */
export const BEST_OF_MS = 3000;

export function defaultBurst(tps: number): number {
  return Math.max(1, Math.ceil(tps / 10));
}

export function defaultMinTps(tps: number): number {
  return Math.min(tps, Math.max(1, tps / 20));
}

function check(name: string, v: number, min: number, inclusive: boolean): void {
  if (!Number.isFinite(v) || v < min || (!inclusive && v === min)) {
    throw new RangeError(`${name} must be a finite number ${inclusive ? '>=' : '>'} ${min}, got ${v}`);
  }
}

export class CarrierPacer {
  readonly configuredTps: number;
  readonly minTps: number;
  readonly coolDownMs: number;
  /** Bucket capacity at the configured rate. */
  readonly burst: number;
  readonly #recoveryPerSec: number;
  readonly #margin: number;
  readonly #maxCreditMs: number;
  readonly #clock: Clock;
  readonly #bucket: TokenBucket;
  /** Accepted answers over the last MEASURE_MS. */
  readonly #accepted = new RateMeter({ windowMs: MEASURE_MS });
  /** The best accepted rate (per second, over MEASURE_MS) of the last BEST_OF_MS. */
  readonly #best = new WindowedMax(BEST_OF_MS);
  #currentTps: number;
  #coolingDownUntil = -Infinity;
  /** Clock time up to which clean traffic has already been credited. */
  #creditedUntil: number;
  #throttledTotal = 0;
  #epoch = 0;
  /** The rate the last reduction started from (0 before the first). */
  #cutFrom = 0;
  /** Since when answers have kept coming without a silence of MEASURE_MS: how far back the measurement means anything. */
  #answeringSince = -Infinity;
  #lastAnswerAt = -Infinity;

  constructor(opts: CarrierPacerOptions) {
    check('tps', opts.tps, 0, false);
    this.configuredTps = opts.tps;
    this.minTps = opts.minTps ?? defaultMinTps(opts.tps);
    check('minTps', this.minTps, 0, false);
    if (this.minTps > opts.tps) throw new RangeError(`minTps ${this.minTps} exceeds tps ${opts.tps}`);
    this.coolDownMs = opts.coolDownMs ?? DEFAULT_COOL_DOWN_MS;
    check('coolDownMs', this.coolDownMs, 0, true);
    this.#recoveryPerSec = opts.recoveryPerSec ?? DEFAULT_RECOVERY_PER_SEC;
    check('recoveryPerSec', this.#recoveryPerSec, 0, false);
    this.#margin = opts.margin ?? DEFAULT_MARGIN;
    if (!(this.#margin > 0 && this.#margin < 1)) throw new RangeError(`margin must be a number in (0, 1), got ${this.#margin}`);
    this.#maxCreditMs = opts.maxCreditMs ?? DEFAULT_MAX_CREDIT_MS;
    check('maxCreditMs', this.#maxCreditMs, 0, true);
    this.burst = opts.burst ?? defaultBurst(opts.tps);
    check('burst', this.burst, 0, false);
    this.#clock = opts.clock;
    this.#currentTps = opts.tps;
    this.#creditedUntil = opts.clock.now();
    this.#bucket = new TokenBucket({ ratePerSec: opts.tps, burst: this.burst, clock: opts.clock });
  }

  /**
   * The reduction epoch: it advances each time a throttle answer lowers the rate. Read it
   * when a submit_sm leaves and hand it back to `onThrottled()` with that submit's answer.
   */
  get epoch(): number {
    return this.#epoch;
  }

  /** Take one send slot now, or return false (cooling down, or no token yet). */
  take(): boolean {
    if (this.#clock.now() < this.#coolingDownUntil) return false;
    return this.#bucket.tryTake(1);
  }

  /** Milliseconds until `take()` can succeed (0 = now). */
  msUntilNext(): number {
    const coolDown = Math.max(0, this.#coolingDownUntil - this.#clock.now());
    // The bucket is emptied until the cool-down ends, so its own wait covers it; the
    // max() still holds if the two ever differ.
    return Math.max(coolDown, this.#bucket.msUntil(1));
  }

  /**
   * The carrier answered ESME_RTHROTTLED or ESME_RMSGQFUL to a submit that left in
   * reduction epoch `sentInEpoch` (this.epoch when it left).
   *
   * One overload comes back as up to `window` throttle answers to PDUs that all left
   * before the rate was lowered — one signal, not N (TCP also reduces once per window of
   * loss, RFC 5681 §3.2). So only an answer to a submit of the current epoch lowers the
   * rate; older ones are counted, nothing more. Without `sentInEpoch` the pacer cannot
   * tell: an answer during the cool-down is then taken for an echo and extends the
   * cool-down, one after it lowers the rate.
   */
  onThrottled(sentInEpoch?: number): void {
    const now = this.#clock.now();
    this.#throttledTotal++;
    this.#answered(now);
    if (sentInEpoch === undefined ? now < this.#coolingDownUntil : sentInEpoch !== this.#epoch) {
      if (sentInEpoch === undefined) this.#pause(Math.max(this.#coolingDownUntil, now + this.coolDownMs));
      return;
    }
    const current = this.#currentTps;
    // Too short a span to measure: cut by the margin alone.
    const latest = this.#measure(now);
    const measured = latest === undefined ? Infinity : Math.max(latest, this.#best.max(now));
    const target = Math.min(current * this.#margin, Math.max(current * MAX_CUT, measured * this.#margin));
    this.#cutFrom = current;
    this.#setRate(Math.max(this.minTps, target));
    this.#epoch++;
    this.#pause(now + this.coolDownMs);
  }

  /**
   * The carrier accepted a submit (or gave any answer that is not a throttle). Counts it
   * for the measurement and credits the clean time since the last credit (capped at
   * maxCreditMs). Answers during a cool-down credit nothing.
   */
  onAccepted(): void {
    const now = this.#clock.now();
    this.#answered(now);
    this.#accepted.add(now);
    const rate = this.#measure(now);
    if (rate !== undefined) this.#best.add(now, rate);
    if (now < this.#coolingDownUntil) return;
    const creditMs = Math.min(this.#maxCreditMs, Math.max(0, now - this.#creditedUntil));
    if (now > this.#creditedUntil) this.#creditedUntil = now;
    const current = this.#currentTps;
    if (current >= this.configuredTps || creditMs === 0) return;
    const sec = creditMs / 1000;
    // Exponential in clean time whatever the spacing of answers: current·e^(r·t).
    let next = current * Math.exp(this.#recoveryPerSec * sec);
    const gap = this.#margin * this.#cutFrom - current;
    if (gap > 0) next += gap * -Math.expm1(-RETURN_PER_SEC * sec);
    this.#setRate(Math.min(this.configuredTps, next));
  }

  state(): CarrierPacerState {
    const s: CarrierPacerState = {
      configuredTps: this.configuredTps,
      currentTps: this.#currentTps,
      throttledTotal: this.#throttledTotal,
    };
    if (this.#clock.now() < this.#coolingDownUntil) s.coolingDownUntil = this.#coolingDownUntil;
    return s;
  }

  #setRate(tps: number): void {
    this.#currentTps = tps;
    this.#bucket.setRate(tps);
    this.#bucket.setBurst(Math.max(1, (this.burst * tps) / this.configuredTps));
  }

  /** Stop takes until `until` with nothing banked meanwhile; clean time counts from then. */
  #pause(until: number): void {
    this.#coolingDownUntil = until;
    this.#bucket.empty(until);
    this.#creditedUntil = until;
  }

  /** Accepted per second over the last MEASURE_MS; undefined while that spans under MIN_MEASURE_MS. */
  #measure(now: number): number | undefined {
    const span = Math.min(this.#accepted.span(now), now - this.#answeringSince);
    return span >= MIN_MEASURE_MS ? (this.#accepted.count(now) * 1000) / span : undefined;
  }

  /** After a silence as long as the measuring window, the measurement starts afresh. */
  #answered(now: number): void {
    if (now - this.#lastAnswerAt > MEASURE_MS) this.#answeringSince = now;
    if (now > this.#lastAnswerAt) this.#lastAnswerAt = now;
  }
}
