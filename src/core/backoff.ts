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

/**
 * The delay before reconnect number `attempt` (0 = the first after a connection was
 * lost): full jitter over [min, min(max, min * 2^(attempt + 1))]. backoffDelay's first
 * step has no span (exactly min), so after an SMSC restart every session of every
 * instance would come back in the same millisecond; here even the first reconnect is
 * spread over [min, 2 * min] (fixed only when min = max).
 */
export function reconnectDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  return backoffDelay(policy, Math.min(attempt, 30) + 1, random);
}
