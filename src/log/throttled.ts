/**
 * Log lines about faults of the far side (a carrier's undecodable PDUs, stray responses,
 * unreadable receipts), rate-limited per key: a misbehaving peer can send thousands of
 * bad PDUs a second, and one line each would fill the disk with the same sentence.
 *
 * For each key (an event code, or event code and carrier):
 * - the first line of a quiet key is written at once and opens its interval;
 * - lines during the interval are counted, not written (the last one's fields are kept);
 * - the first line after the interval is written with `suppressed: N`, the number not
 *   written since the previous one, and opens the next interval;
 * - flush() writes the kept line of every key whose interval has passed with lines held,
 *   so a flood that stops is still accounted for (owners call it from a timer they
 *   already have).
 * So a key writes at most one line per interval, and written lines plus their
 * `suppressed` counts add up to every line asked for. At most `maxKeys` keys are kept;
 * the one idle longest is forgotten first (its held count, if any, is flushed).
 */
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from './logger.js';
import type { LogEvent } from './events.js';

export type ThrottledLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ThrottledLogOptions {
  /** Shortest time between two lines of one key, in ms. */
  intervalMs?: number;
  clock?: Clock;
  /** Most keys kept at once. */
  maxKeys?: number;
}

/** Ten seconds: a flood costs six lines a minute per key, and a single fault is still logged at once. */
export const THROTTLE_INTERVAL_MS = 10_000;
const MAX_KEYS = 256;

interface Slot {
  /** When the last line of this key was written (ms). */
  writtenAt: number;
  /** Lines asked for and not written since then. */
  suppressed: number;
  /** The last line not written: written by flush() if nothing follows it. */
  held: { level: ThrottledLevel; fields: Record<string, unknown>; msg: string } | undefined;
}

export class ThrottledLog {
  private readonly slots = new Map<string, Slot>();
  private readonly intervalMs: number;
  private readonly clock: Clock;
  private readonly maxKeys: number;

  constructor(
    private readonly logger: Logger,
    opts: ThrottledLogOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? THROTTLE_INTERVAL_MS;
    this.clock = opts.clock ?? systemClock;
    this.maxKeys = opts.maxKeys ?? MAX_KEYS;
  }

  /**
   * Write `fields` (which carry `event`) at `level` unless a line of `key` (default: the
   * event code) was written less than the interval ago. True when it was written.
   */
  log(level: ThrottledLevel, fields: { event: LogEvent } & Record<string, unknown>, msg: string, key: string = fields.event): boolean {
    const now = this.clock.now();
    const slot = this.slots.get(key);
    if (slot !== undefined && now - slot.writtenAt < this.intervalMs) {
      slot.suppressed++;
      slot.held = { level, fields, msg };
      return false;
    }
    const suppressed = slot?.suppressed ?? 0;
    // Re-inserted, so the map's order is least recently written first.
    this.slots.delete(key);
    this.slots.set(key, { writtenAt: now, suppressed: 0, held: undefined });
    this.write(level, fields, msg, suppressed);
    if (this.slots.size > this.maxKeys) this.evictOldest();
    return true;
  }

  /** Write the held line of every key whose interval has passed; forget keys quiet for a whole interval. */
  flush(): void {
    const now = this.clock.now();
    for (const [key, slot] of this.slots) {
      if (now - slot.writtenAt < this.intervalMs) continue;
      if (slot.held === undefined) {
        this.slots.delete(key);
        continue;
      }
      const { level, fields, msg } = slot.held;
      // The held line is written now, so it no longer counts as suppressed.
      const suppressed = slot.suppressed - 1;
      this.slots.delete(key);
      this.slots.set(key, { writtenAt: now, suppressed: 0, held: undefined });
      this.write(level, fields, msg, suppressed);
    }
  }

  /** Lines held back so far for `key` (tests, health). */
  suppressedFor(key: string): number {
    return this.slots.get(key)?.suppressed ?? 0;
  }

  private evictOldest(): void {
    const [key, slot] = this.slots.entries().next().value as [string, Slot];
    this.slots.delete(key);
    if (slot.held !== undefined) this.write(slot.held.level, slot.held.fields, slot.held.msg, slot.suppressed - 1);
  }

  private write(level: ThrottledLevel, fields: Record<string, unknown>, msg: string, suppressed: number): void {
    this.logger[level](suppressed > 0 ? { ...fields, suppressed } : fields, suppressed > 0 ? `${msg} (${suppressed} more like it not logged)` : msg);
  }
}
