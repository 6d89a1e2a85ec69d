/**
 * The message record: its fields (a Redis HASH; every value a string; the store packs the
 * ones that never change into `i` and a sealed `d`), its states, and the predicates and
 * transitions the message path reads and writes it by. The store (queue/store.ts) owns
 * how it is kept; this module says what it means.
 *
 *   queued ─▶ submitting ─▶ accepted ─▶ <final, by a receipt or the watch deadline>
 *                 │    └──▶ unknown  ─▶ <final, by a late receipt or the deadline>
 *                 │           └──▶ retry (resubmit, dispatch.unknownOutcome) ─▶ submitting …
 *                 └──▶ retry (due set) ─▶ submitting …
 *   any live state ─▶ <final, by the dispatcher: rejected, blocked, failed, expired, accepted>
 */

/** Terminal statuses: every intake entry ends in exactly one of these. */
export type TerminalStatus = 'delivered' | 'undeliverable' | 'expired' | 'rejected' | 'failed' | 'unknown' | 'accepted' | 'deleted' | 'blocked';

/** A live record's state (`st` before `term` is set). */
export type LiveState = 'queued' | 'submitting' | 'retry' | 'accepted' | 'unknown';

/** The fields of a message record (a Redis HASH; every value a string). */
export interface RecordFields {
  /** gateway id */
  gw: string;
  /** client id */
  cid: string;
  ten?: string;
  to: string;
  from: string;
  txt: string;
  cls: string;
  pri: string;
  /** valid until, ms since epoch */
  vu: string;
  /** receipt wanted: '1' | '0' */
  rc: string;
  meta?: string;
  /** intake stream entry id that created it */
  eid: string;
  /** the intake shard of `eid`, when intake.shards > 1 (entry ids are unique per stream only) */
  esh?: string;
  /** state: queued | submitting | retry | accepted | unknown | <terminal> */
  st: string;
  /** consent reference given with a marketing message */
  con?: string;
  /** not before, ms since epoch (scheduled sends) */
  nb?: string;
  at: string;
  att?: string;
  car?: string;
  parts?: string;
  /** parts that requested a receipt */
  rN?: string;
  rDone?: string;
  rBad?: string;
  /** the terminal status, set exactly once */
  term?: string;
  err?: string;
  /** carrier message ids (normalised, comma-separated) of the accepted parts: erasure deletes their mappings */
  mids?: string;
  /** '1' once the subscriber's frequency cap has counted this message */
  cap?: string;
  /** set by unpack when the sealed data could not be opened (key missing or data tampered) */
  sealErr?: string;
  /** the final event's own fields (JSON), set with `term` when the dispatcher ends a message (queue/final-event.ts) */
  ev?: string;
  /** when a receipt made the record terminal (ms since epoch) */
  tAt?: string;
  /** the receipt error code of the part that decided a non-delivered outcome */
  rErr?: string;
  /** temporary submit errors so far, per carrier (JSON {carrier: count}): who to fail over from */
  tErr?: string;
  /** each receipt-bearing part's receipt state, "<part, 0-based>:<state>,…" (queue/final-event.ts partStatus) */
  pS?: string;
  /** the error of the first submit that went unanswered, while the message is being sent again (dispatch.unknownOutcome resubmit) */
  unk?: string;
  /** how many times it was sent again after an unanswered submit */
  rs?: string;
  /** '1' while a resend after an unanswered submit waits to go (counted in qasid_resubmits_total when it does), else '0' */
  rsq?: string;
  /** query_sm asked about it so far (carriers[].querySm) */
  qN?: string;
}

/** Ended: `term` is set (exactly once), whoever ended it. */
export function isFinal(rec: Partial<RecordFields>): boolean {
  return rec.term !== undefined;
}

/** Live and waiting for a receipt or its deadline (on the watch set): accepted, or of unknown outcome. */
export function isWatched(rec: Partial<RecordFields>): boolean {
  return !isFinal(rec) && (rec.st === 'accepted' || rec.st === 'unknown');
}

/** Live and waiting for a retry or a scheduled send (on the due set). */
export function isDue(rec: Partial<RecordFields>): boolean {
  return !isFinal(rec) && rec.st === 'retry';
}

/** Its first part may have reached the carrier (marked right before it was written): sending it again is a resubmit. */
export function mayHaveBeenSent(rec: Partial<RecordFields>): boolean {
  return rec.st === 'submitting';
}

/** Live and settled for now, so its intake entry was (or may be) released: accepted, unknown or waiting for a retry. */
export function isSettledForNow(rec: Partial<RecordFields>): boolean {
  return isWatched(rec) || isDue(rec);
}

/**
 * The field sets each transition of a live record writes (the store applies them, and a
 * record a receipt already ended keeps its state: MessageStore.update / accept).
 */
export const transition = {
  /** About to go to `carrier` (written right before the first part leaves): how many parts, how many receipts to expect. */
  submitting(carrier: string, parts: number, receipts: number): Partial<RecordFields> {
    return { st: 'submitting', car: carrier, parts: String(parts), rN: String(receipts) };
  },
  /** Every part accepted: the carrier ids erasure must find. */
  accepted(submitting: Partial<RecordFields>, carrierIds: readonly string[]): Partial<RecordFields> {
    return { ...submitting, st: 'accepted', mids: carrierIds.join(',') };
  },
  /** Accepted, learnt from a submit_sm_resp that came after its deadline. */
  acceptedLate(): Partial<RecordFields> {
    return { st: 'accepted' };
  },
  /** Sent, and no answer came. */
  unknown(error: string): Partial<RecordFields> {
    return { st: 'unknown', err: error };
  },
  /**
   * Sent, no answer came, and it is to be sent again (dispatch.unknownOutcome resubmit):
   * waiting in the due set, the first unanswered submit's error kept in `unk` so that a
   * resend that cannot go ends it `unknown`, never as if nothing had left.
   */
  resubmitLater(rec: Partial<RecordFields>, error: string): Partial<RecordFields> {
    return { st: 'retry', att: rec.att ?? '0', ...(rec.tErr !== undefined ? { tErr: rec.tErr } : {}), unk: rec.unk ?? error, rs: String(Number(rec.rs ?? 0) + 1), rsq: '1' };
  },
  /** A resend could not go (or was not wanted any more): back to waiting for a receipt or the deadline, as `unknown`. */
  backToUnknown(rec: Partial<RecordFields>): Partial<RecordFields> {
    return { st: 'unknown', err: rec.unk ?? rec.err ?? 'no_response' };
  },
  /** query_sm is being asked about it for the `n`th time. */
  queried(n: number): Partial<RecordFields> {
    return { qN: String(n) };
  },
  /** Waiting in the due set: the attempts spent, and the temporary errors per carrier. */
  deferred(rec: Partial<RecordFields>): Partial<RecordFields> {
    return { st: 'retry', att: rec.att ?? '0', ...(rec.tErr !== undefined ? { tErr: rec.tErr } : {}) };
  },
} as const;
