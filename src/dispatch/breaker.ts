/**
 * A circuit breaker per carrier. Closed, it counts the outcomes of the carrier's recent
 * submits; when, within `windowSec`, at least `minSubmits` were tried and `errorShare` of
 * them failed (a temporary error, or no answer), it opens: the carrier is out of routing
 * (messages go to the route's next carrier; the dispatcher still tries it when it is the
 * last one left) for `coolDownSec`. Then it is half
 * open: `probes` messages may go, one at a time; if they are all accepted it closes,
 * and at the first failure it opens again for another cool-down. Permanent rejections
 * (the message's fault) and slow-downs (the pacer's business) do not count. Pure: the
 * clock is passed in.
 */
import type { BreakerConfig } from '../config/types.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

export const DEFAULT_BREAKER: Readonly<BreakerConfig> = Object.freeze({ enabled: true, windowSec: 10, minSubmits: 20, errorShare: 0.5, coolDownSec: 10, probes: 5 });

export class CarrierBreaker {
  private current: BreakerState = 'closed';
  /** Outcomes while closed: when, and whether it failed (oldest first). */
  private readonly recent: Array<{ at: number; failed: boolean }> = [];
  private failures = 0;
  private openedAt = 0;
  /** Half open: probes let through and not yet answered, and those accepted. */
  private probing = 0;
  private probedOk = 0;

  constructor(
    private readonly cfg: Readonly<BreakerConfig> = DEFAULT_BREAKER,
    /** Told of every change of state. */
    private readonly onChange: (to: BreakerState, from: BreakerState, why: string) => void = () => undefined,
  ) {}

  get state(): BreakerState {
    return this.current;
  }

  /**
   * Whether a message may go to the carrier now. Open: no, until the cool-down has passed
   * (then half open). Half open: one probe at a time, `probes` in all; the caller must
   * report the outcome of each message it was allowed (record()).
   */
  allow(now: number): boolean {
    if (!this.cfg.enabled || this.current === 'closed') return true;
    if (this.current === 'open') {
      if (now - this.openedAt < this.cfg.coolDownSec * 1000) return false;
      this.move('half_open', `cool-down of ${this.cfg.coolDownSec} s over`);
      this.probing = 0;
      this.probedOk = 0;
    }
    if (this.probing > 0 || this.probedOk + this.probing >= this.cfg.probes) return false;
    this.probing++;
    return true;
  }

  /** A message the carrier was allowed to take: `ok` accepted, else a temporary error or no answer. */
  record(ok: boolean, now: number): void {
    if (!this.cfg.enabled) return;
    if (this.current === 'half_open') {
      this.probing = Math.max(0, this.probing - 1);
      if (!ok) return this.open(now, 'a probe failed');
      if (++this.probedOk >= this.cfg.probes) this.close(`${this.cfg.probes} probes accepted`);
      return;
    }
    if (this.current === 'open') return;
    this.recent.push({ at: now, failed: !ok });
    if (!ok) this.failures++;
    const since = now - this.cfg.windowSec * 1000;
    while (this.recent.length > 0 && (this.recent[0] as { at: number }).at < since) {
      if ((this.recent.shift() as { failed: boolean }).failed) this.failures--;
    }
    const n = this.recent.length;
    if (n >= this.cfg.minSubmits && this.failures >= this.cfg.errorShare * n) this.open(now, `${this.failures} of the last ${n} submits failed within ${this.cfg.windowSec} s`);
  }

  /** An outcome that does not count (a permanent rejection, a message not sent): a probe's slot is given back. */
  release(): void {
    if (this.current === 'half_open') this.probing = Math.max(0, this.probing - 1);
  }

  private open(now: number, why: string): void {
    this.openedAt = now;
    this.recent.length = 0;
    this.failures = 0;
    this.move('open', why);
  }

  private close(why: string): void {
    this.recent.length = 0;
    this.failures = 0;
    this.move('closed', why);
  }

  private move(to: BreakerState, why: string): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.onChange(to, from, why);
  }
}
