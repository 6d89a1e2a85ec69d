/**
 * What an operator decided about a carrier, for every instance at once: paused (out of
 * routing, binds kept) and stopped (unbound: its bind slots given back, none taken).
 * Kept in one Redis hash (`<prefix>:carriers:control`, carrier → JSON) that every
 * instance reads each second and on start, so a pause or stop sent to any one instance
 * through the admin API holds for all of them within about a second — and for an
 * instance started later, or restarted. The instance that took the request applies it at
 * once.
 */
import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';

export interface CarrierState {
  paused: boolean;
  stopped: boolean;
}

export interface CarrierControlOptions {
  key: string;
  carriers: readonly string[];
  logger: Logger;
  /** Apply one carrier's state here (called on every change seen, and once at start for each set state). */
  apply(carrier: string, state: CarrierState, was: CarrierState): Promise<void> | void;
  /** How often the hash is read, ms. */
  pollMs?: number;
}

const FREE: CarrierState = Object.freeze({ paused: false, stopped: false });

export class CarrierControl {
  private readonly states = new Map<string, CarrierState>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly o: CarrierControlOptions,
  ) {}

  /** The state in force here. */
  state(carrier: string): CarrierState {
    return this.states.get(carrier) ?? FREE;
  }

  /** Carriers whose binds an operator stopped. */
  get stopped(): string[] {
    return [...this.states].filter(([, s]) => s.stopped).map(([id]) => id);
  }

  /** Read the states (errors reach the caller), apply them, then read again every pollMs. */
  async start(): Promise<void> {
    await this.poll(true);
    this.timer = setInterval(() => void this.poll(false), this.o.pollMs ?? 1000);
    this.timer.unref();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.polling ?? Promise.resolve();
  }

  /**
   * Change a carrier's state for every instance: written to Redis, then applied here at
   * once. False for a carrier this instance does not know.
   */
  async set(carrier: string, change: Partial<CarrierState>): Promise<boolean> {
    if (!this.o.carriers.includes(carrier)) return false;
    const next = { ...this.state(carrier), ...change };
    if (!next.paused && !next.stopped) await this.redis.hdel(this.o.key, carrier);
    else await this.redis.hset(this.o.key, carrier, JSON.stringify(next));
    await this.polling;
    await this.change(carrier, next);
    return true;
  }

  private poll(first: boolean): Promise<void> {
    this.polling ??= (async () => {
      try {
        const raw = await this.redis.hgetall(this.o.key);
        for (const id of this.o.carriers) await this.change(id, parse(raw[id]));
      } catch (e) {
        if (first) throw e;
        this.o.logger.warn({ event: 'redis.error', err: errorMessage(e) }, 'carrier control state could not be read; retried');
      }
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async change(carrier: string, next: CarrierState): Promise<void> {
    const was = this.state(carrier);
    if (was.paused === next.paused && was.stopped === next.stopped) return;
    this.states.set(carrier, next);
    try {
      await this.o.apply(carrier, next, was);
    } catch (e) {
      // Not applied (Redis away while binding again, say): the next read tries again.
      this.states.set(carrier, was);
      this.o.logger.warn({ event: 'redis.error', err: errorMessage(e), carrier }, 'carrier control change could not be applied; retried');
    }
  }
}

function parse(v: string | undefined): CarrierState {
  if (v === undefined) return FREE;
  try {
    const s = JSON.parse(v) as Partial<CarrierState>;
    return { paused: s.paused === true, stopped: s.stopped === true };
  } catch {
    return FREE;
  }
}
