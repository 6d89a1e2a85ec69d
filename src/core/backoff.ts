/**
 * Capped exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): delay = random(min, min(max, min * 2^attempt)).
 * Pure: the random source is injected so tests can pin it.
 */
export interface BackoffPolicy {
  /** Smallest delay in ms, used for the first retry. */
  minMs: number;
  /** Largest delay in ms, whatever the attempt number. */
  maxMs: number;
}

export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(attempt, 30));
  const span = Math.max(0, exp - policy.minMs);
  return Math.round(policy.minMs + span * random());
}
