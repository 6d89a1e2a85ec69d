/**
 * When to try a message again, as data (cf. ZoneMTA's retry table). Pure: the random
 * source is injected so tests can pin it.
 *
 * What an answer means (retry / fail / slowdown) is decided elsewhere, by a table
 * (src/smpp/status.ts classifyStatus, core ErrorAction); this module only turns that
 * verdict and the attempt count into a plan.
 */
import type { ErrorAction } from '../core/errors.js';
import { DEFAULT_COOL_DOWN_MS } from './pacer.js';

/**
 * Delay before retry N (index N-1), in ms. After the last entry the message gives up
 * with a terminal event. Cumulative time since the first failure on each line.
 */
export const RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([
  5_000, //     5 s  → total    5 s
  30_000, //   30 s  → total   35 s
  120_000, //   2 min → total    2 min 35 s
  600_000, //  10 min → total   12 min 35 s
  1_800_000, // 30 min → total   42 min 35 s
  3_600_000, //  1 h   → total 1 h 42 min 35 s
]);

/** ±10 %: spreads a burst of failures (one dropped bind, one carrier outage) over time. */
export const RETRY_JITTER = 0.1;

/**
 * Delay before a slow-down retry: the pacer's default cool-down, so the message is
 * offered again just when the carrier's pacer opens. The dispatcher may use the
 * pacer's actual `msUntilNext()` instead.
 */
export const SLOWDOWN_DELAY_MS = DEFAULT_COOL_DOWN_MS;

/**
 * Delay in ms before retry number `attempt` (1 = first retry), with ±10 % jitter;
 * `undefined` = the schedule is exhausted (or `attempt` is not a positive integer): give up.
 * `random` returns a number in [0, 1), like Math.random.
 */
export function nextRetryDelay(attempt: number, random: () => number = Math.random, schedule: readonly number[] = RETRY_SCHEDULE_MS): number | undefined {
  if (!Number.isInteger(attempt) || attempt < 1) return undefined;
  const base = schedule[attempt - 1];
  if (base === undefined) return undefined;
  const factor = 1 - RETRY_JITTER + 2 * RETRY_JITTER * random();
  return Math.round(base * factor);
}

/** What the caller decided the answer means; the same words as core ErrorAction. */
export type RetryAction = ErrorAction;

export type RetryPlan = { kind: 'retry'; delayMs: number; spendsAttempt: boolean } | { kind: 'give_up' };

/**
 * The plan for a message whose submit got the verdict `action`, where `attempt` is the
 * number this retry would be (1 = first retry; for 'slowdown' it is ignored).
 * - slowdown (ESME_RTHROTTLED, ESME_RMSGQFUL): the carrier is busy, not the message at
 *   fault — retry after the cool-down, spending no attempt. Never gives up by itself;
 *   the message's validity period bounds it.
 * - retry: spend one attempt, wait per RETRY_SCHEDULE_MS; give up after the last.
 * - fail: give up now.
 */
export function retryPlan(action: RetryAction, attempt: number, random: () => number = Math.random, schedule: readonly number[] = RETRY_SCHEDULE_MS): RetryPlan {
  switch (action) {
    case 'slowdown':
      return { kind: 'retry', delayMs: SLOWDOWN_DELAY_MS, spendsAttempt: false };
    case 'retry': {
      const delayMs = nextRetryDelay(attempt, random, schedule);
      return delayMs === undefined ? { kind: 'give_up' } : { kind: 'retry', delayMs, spendsAttempt: true };
    }
    case 'fail':
      return { kind: 'give_up' };
  }
}
