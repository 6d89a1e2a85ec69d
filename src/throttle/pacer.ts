/**
 * Pacing for one carrier, shared by all of its binds: the carrier's TPS limit is per
 * account, not per bind (DESIGN "Routing and pacing"). Pure: no timers; the dispatcher
 * asks `take()` before each submit_sm and sleeps `msUntilNext()` when refused.
 *
 * Adaptive slow-down is AIMD, as in TCP congestion control (RFC 5681 §3.1):
 * - an ESME_RTHROTTLED (0x58) or ESME_RMSGQFUL (0x14) answer (SMPP 3.4 §5.1.3) halves the
 *   current rate, down to a floor, and stops all takes for a cool-down;
 * - clean traffic afterwards adds back a fixed share of the configured rate per second,
 *   measured on the clock, never above the configured rate.
 */
import type { Clock } from '../core/clock.js';
import { TokenBucket } from './bucket.js';

export interface CarrierPacerOptions {
  /** The carrier's configured messages per second across all its binds (may be fractional). */
  tps: number;
  clock: Clock;
  /** Bucket capacity. Default max(1, ceil(tps/10)): 100 ms worth, since carriers punish bursts. */
  burst?: number;
  /** The rate never drops below this. Default max(1, tps/20), but never above `tps`. */
  minTps?: number;
  /** How long all takes stop after a throttle answer, in ms. Default 1000. */
  coolDownMs?: number;
  /** Share of the configured tps won back per second of clean traffic. Default 0.05 (5 %). */
  recoveryPerSec?: number;
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

export const DEFAULT_COOL_DOWN_MS = 1000;
export const DEFAULT_RECOVERY_PER_SEC = 0.05;
export const DEFAULT_MAX_CREDIT_MS = 2000;

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
  readonly #recoveryPerSec: number;
  readonly #maxCreditMs: number;
  readonly #clock: Clock;
  readonly #bucket: TokenBucket;
  #currentTps: number;
  #coolingDownUntil = -Infinity;
  /** Clock time up to which clean traffic has already been credited. */
  #creditedUntil: number;
  #throttledTotal = 0;

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
    this.#maxCreditMs = opts.maxCreditMs ?? DEFAULT_MAX_CREDIT_MS;
    check('maxCreditMs', this.#maxCreditMs, 0, true);
    this.#clock = opts.clock;
    this.#currentTps = opts.tps;
    this.#creditedUntil = opts.clock.now();
    this.#bucket = new TokenBucket({ ratePerSec: opts.tps, burst: opts.burst ?? defaultBurst(opts.tps), clock: opts.clock });
  }

  /** Take one send slot now, or return false (cooling down, or no token yet). */
  take(): boolean {
    if (this.#clock.now() < this.#coolingDownUntil) return false;
    return this.#bucket.tryTake(1);
  }

  /** Milliseconds until `take()` can succeed (0 = now). */
  msUntilNext(): number {
    const now = this.#clock.now();
    const coolDown = Math.max(0, this.#coolingDownUntil - now);
    // Tokens keep accruing during the cool-down, so the two waits overlap, not add.
    return Math.max(coolDown, this.#bucket.msUntil(1));
  }

  /**
   * The carrier answered ESME_RTHROTTLED or ESME_RMSGQFUL. Halves the rate at most once
   * per cool-down: with a window of N, one overload comes back as up to N throttle
   * answers to PDUs that were all sent at the old rate — one signal, not N (TCP also
   * reduces once per window of loss, RFC 5681 §3.2). Each answer extends the cool-down.
   */
  onThrottled(): void {
    const now = this.#clock.now();
    this.#throttledTotal++;
    if (now >= this.#coolingDownUntil) {
      this.#currentTps = Math.max(this.minTps, this.#currentTps / 2);
      this.#bucket.setRate(this.#currentTps);
    }
    this.#coolingDownUntil = Math.max(this.#coolingDownUntil, now + this.coolDownMs);
    this.#creditedUntil = this.#coolingDownUntil;
  }

  /**
   * The carrier accepted a submit (or any answer that is not a throttle). Credits the
   * clean time since the last credit (capped at maxCreditMs), at recoveryPerSec of the
   * configured rate per second. Answers during a cool-down credit nothing.
   */
  onAccepted(): void {
    const now = this.#clock.now();
    if (now < this.#coolingDownUntil) return;
    const creditMs = Math.min(this.#maxCreditMs, Math.max(0, now - this.#creditedUntil));
    if (now > this.#creditedUntil) this.#creditedUntil = now;
    if (this.#currentTps >= this.configuredTps || creditMs === 0) return;
    const gained = (this.configuredTps * this.#recoveryPerSec * creditMs) / 1000;
    this.#currentTps = Math.min(this.configuredTps, this.#currentTps + gained);
    this.#bucket.setRate(this.#currentTps);
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
}
