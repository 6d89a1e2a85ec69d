/**
 * What to do with a submit whose submit_sm_resp never came (pure). The carrier may have
 * the message or not, and no receipt can be matched to it without the carrier's id, so
 * the choice is the message class's (dispatch.unknownOutcome.<class>):
 * - `final`: watch it until validity + grace; a late submit_sm_resp or receipt may still
 *   settle it, else it ends `unknown`. No duplicate, but a possible miss.
 * - `resubmit`: send it again after `delaySec`, at most `maxResubmits` times, only while
 *   the resend would still leave with the carrier's minValiditySec — a possible
 *   duplicate on the handset, but fewer misses (an OTP's choice).
 */
import type { UnknownOutcomePolicy } from '../config/types.js';
import type { RecordFields } from '../queue/record.js';

export type UnknownPlan = { kind: 'resubmit'; at: number } | { kind: 'watch'; why: 'final' | 'max_resubmits' | 'validity' };

/** The policy when the config has none for the class (the schema's default). */
export const FINAL_POLICY: UnknownOutcomePolicy = { policy: 'final', delaySec: 30, maxResubmits: 1 };

/**
 * The plan for a message whose last submit went unanswered at `now`: resend at `at`, or
 * watch it as unknown (and why). `minValiditySec` is the least validity a submit to the
 * carrier may leave with (carriers[].minValiditySec).
 */
export function planAfterUnknown(p: UnknownOutcomePolicy, rec: Partial<RecordFields>, now: number, minValiditySec: number): UnknownPlan {
  if (p.policy !== 'resubmit') return { kind: 'watch', why: 'final' };
  if (Number(rec.rs ?? 0) >= p.maxResubmits) return { kind: 'watch', why: 'max_resubmits' };
  const at = now + p.delaySec * 1000;
  const left = Number(rec.vu) - at;
  // The same rule as every submit (dispatch/submit.ts): never leave with less than the minimum.
  if (!(left > 0) || left < minValiditySec * 1000) return { kind: 'watch', why: 'validity' };
  return { kind: 'resubmit', at };
}
