/**
 * Submitting one encoded message to one carrier: every part paced by the carrier's TPS
 * bucket, slow-down answers retried on the same carrier without spending an attempt, and
 * each accepted part's carrier id recorded before the next part goes, and each part
 * carrying the message's remaining validity. Returns what happened so the dispatcher can
 * fail over, defer or finish.
 */
import type { CarrierConfig, SubmitErrorAction, ValidityFormat } from '../config/types.js';
import type { ParkedReceipt } from '../dlr/mappings.js';
import { normaliseId } from '../dlr/ids.js';
import type { EncodedMessage } from '../encoding/index.js';
import { smppAbsoluteTime, smppRelativeTime } from '../smpp/codec.js';
import type { CarrierLink } from '../smpp/link.js';
import type { PacedGate } from './gate.js';

export type CarrierAttempt =
  /** Every part accepted. `parked` holds receipts that arrived before their part's mapping. */
  | { kind: 'accepted'; parked: ParkedReceipt[]; carrierIds: string[] }
  /** The first part never left: try another carrier. */
  | { kind: 'not_sent'; reason: string }
  /** A temporary error (retry on the schedule, or fail over after failoverAfter) on the first part. */
  | { kind: 'retry'; error: string }
  /** An error the carrier's submitErrors says to fail over on, on the first part: the route's next carrier now. */
  | { kind: 'failover'; error: string }
  /** A permanent refusal, or a failure after some parts already went. */
  | { kind: 'rejected'; error: string; partsSent: number }
  /** A part left and no answer came. */
  | { kind: 'unknown'; error: string; partsSent: number }
  /** The message's validity passed (or less than the carrier's minValiditySec was left) before its first part could go. */
  | { kind: 'expired' };


export interface SubmitContext {
  carrier: CarrierConfig;
  link: CarrierLink;
  gate: PacedGate;
  /** Record id: the mapping value for each part is `${recId}:${part}:${parts}`. */
  recId: string;
  e164Digits: string;
  sender: string;
  priority: number;
  receipt: boolean;
  mappingTtlMs: number;
  /** Stores carrier id → record; returns a parked receipt if one was waiting. */
  map(carrier: string, normId: string, value: string, ttlMs: number): Promise<string | null>;
  /**
   * Called once, right before the first part is written (its token taken, its validity
   * checked, its window slot held): the record is marked as being submitted, so a crash
   * from here on counts its next send as a resubmit, and one before it does not.
   */
  submitting?: () => Promise<void>;
  /**
   * Called when the last part was accepted, with every part's carrier id, right before
   * that part's mapping is issued. It must issue its writes before it returns (their
   * batches flush ahead of the mapping's: queue/batch.ts BATCH_ORDER), so the record is
   * accepted and watched, and its accepted event written, before a receipt can match it
   * — in the same round trip as the mapping. With several parts it is awaited before the
   * mapping instead (an earlier part's receipt may have settled the message already).
   */
  accepted?: (carrierIds: readonly string[]) => Promise<void>;
  /** Whether the message's validity has passed: asked right before the first part goes. */
  expired?: () => boolean;
  /**
   * When the message's validity ends (ms since the epoch on `now`'s clock), and that clock.
   * With it every part carries validity_period in the carrier's validityFormat, computed
   * as it leaves, and a message with less than the carrier's minValiditySec left ends
   * expired before its first part goes. Without it validity_period stays empty.
   */
  validity?: { until: number; now: () => number };
  /** Stop trying (shutdown): parts not yet sent are reported not_sent. */
  signal?: AbortSignal;
}

/** The carrier schema's defaults, for a CarrierConfig built without the loader. */
const DEFAULT_VALIDITY_FORMAT: ValidityFormat = 'relative';
const DEFAULT_MIN_VALIDITY_SEC = 10;

/**
 * submit_sm's validity_period for a part leaving at `nowMs` of a message valid until
 * `until` (SMPP 3.4 §4.4.1, §7.1.1): relative = the whole seconds left, absolute = the end
 * in UTC, none = empty (the SMSC's default). Never zero or in the past: a later part of a
 * message whose first part went must still be accepted, so it gets at least one second.
 */
export function validityPeriod(format: ValidityFormat, until: number, nowMs: number): string {
  switch (format) {
    case 'none':
      return '';
    case 'relative':
      return smppRelativeTime(Math.max(1, Math.floor((until - nowMs) / 1000)));
    case 'absolute':
      return smppAbsoluteTime(Math.max(until, nowMs + 1000));
  }
}

/**
 * What a submit error means for this carrier: its submitErrors override (by status name
 * or hex value 0x00000045), else the SMPP 3.4 default (smpp/status.ts).
 */
export function submitErrorAction(c: CarrierConfig, status: number, statusName: string, fallback: SubmitErrorAction): SubmitErrorAction {
  const o = c.submitErrors;
  if (o === undefined) return fallback;
  return o[statusName] ?? o[`0x${status.toString(16).padStart(8, '0')}`] ?? fallback;
}

/**
 * source_addr_ton / _npi for a sender, by the carrier's rules: an alphanumeric mask
 * (alphanumericTon/Npi, 5/0), a numeric sender of at most shortCodeMaxDigits digits — a
 * short code such as 8555 (shortCodeTon/Npi, 3/0) — or a number (sourceTon/Npi, 1/1).
 */
export function sourceAddressing(a: CarrierConfig['addressing'], sender: string): [ton: number, npi: number] {
  if (!/^\+?[0-9]+$/.test(sender)) return [a.alphanumericTon ?? 5, a.alphanumericNpi ?? 0];
  const digits = sender.replace(/^\+/, '').length;
  if (!sender.startsWith('+') && digits <= (a.shortCodeMaxDigits ?? 6)) return [a.shortCodeTon ?? 3, a.shortCodeNpi ?? 0];
  return [a.sourceTon, a.sourceNpi];
}

/** Which parts ask the carrier for a receipt (registered_delivery 1). */
export function receiptParts(total: number, which: CarrierConfig['receiptOnPart']): boolean[] {
  return Array.from({ length: total }, (_, i) => which === 'all' || (which === 'first' ? i === 0 : i === total - 1));
}

export async function submitToCarrier(ctx: SubmitContext, enc: EncodedMessage): Promise<CarrierAttempt> {
  const c = ctx.carrier;
  const wants = receiptParts(enc.parts.length, c.receiptOnPart);
  const parked: ParkedReceipt[] = [];
  const carrierIds: string[] = [];
  const [sourceTon, sourceNpi] = sourceAddressing(c.addressing, ctx.sender);
  const format = c.validityFormat ?? DEFAULT_VALIDITY_FORMAT;
  const minLeftMs = (c.minValiditySec ?? DEFAULT_MIN_VALIDITY_SEC) * 1000;
  let marked = false;
  for (let i = 0; i < enc.parts.length; i++) {
    const part = enc.parts[i];
    if (!part) break;
    const body: Record<string, unknown> = {
      source_addr_ton: sourceTon,
      source_addr_npi: sourceNpi,
      source_addr: ctx.sender.replace(/^\+/, ''),
      dest_addr_ton: c.addressing.destTon,
      dest_addr_npi: c.addressing.destNpi,
      destination_addr: ctx.e164Digits,
      esm_class: part.udhi ? 0x40 : 0,
      priority_flag: ctx.priority,
      validity_period: '',
      registered_delivery: ctx.receipt && wants[i] ? 1 : 0,
      data_coding: enc.dataCoding,
      short_message: part.shortMessage,
    };
    if (part.sar) {
      body.sar_msg_ref_num = part.sar.ref;
      body.sar_total_segments = part.sar.total;
      body.sar_segment_seqnum = part.sar.seq;
    }
    if (part.messagePayload) body.message_payload = part.messagePayload;

    // Pace, then submit; a slow-down answer waits out the pacer's cool-down and tries again.
    for (;;) {
      if (ctx.signal?.aborted) return i === 0 ? { kind: 'not_sent', reason: 'stopping' } : { kind: 'unknown', error: 'stopping', partsSent: i };
      if (!(await ctx.gate.acquire(ctx.signal))) continue;
      // The token may have taken a while; a message past its validity must not go. (Its
      // token is spent: the carrier's rate is still respected.)
      if (i === 0 && ctx.expired?.()) return { kind: 'expired' };
      if (ctx.validity) {
        const now = ctx.validity.now();
        const left = ctx.validity.until - now;
        // Too little left to be worth sending: the SMSC could not deliver it in time.
        if (i === 0 && (left <= 0 || left < minLeftMs)) return { kind: 'expired' };
        body.validity_period = validityPeriod(format, ctx.validity.until, now);
      }
      const mapping = `${ctx.recId}:${i}:${enc.parts.length}`;
      // The tag comes back with a submit_sm_resp that arrives after its deadline.
      // A throttle answer to a submit sent before the pacer's last rate cut is an echo of that overload.
      const epoch = ctx.gate.pacer.epoch;
      // The first part marks the record once its window slot is held, right before it is written.
      const submitting = ctx.submitting;
      const beforeSend =
        !marked && submitting
          ? async (): Promise<void> => {
              marked = true;
              await submitting();
            }
          : undefined;
      const r = await ctx.link.submit(body, ctx.signal, mapping, beforeSend);
      const action = r.kind === 'rejected' ? submitErrorAction(c, r.status, r.statusName, r.action) : undefined;
      if (r.kind === 'rejected' && action === 'slowdown') {
        ctx.gate.throttled(epoch);
        continue;
      }
      if (r.kind === 'accepted') {
        ctx.gate.pacer.onAccepted();
        const normId = normaliseId(r.messageId, c.messageIds.submitResp) ?? r.messageId;
        // The stored value also carries when the carrier accepted it, for receipt latency.
        const stored = `${mapping}:${Date.now().toString(36)}`;
        carrierIds.push(normId);
        let accepting: Promise<void> | undefined;
        if (i === enc.parts.length - 1 && ctx.accepted) {
          accepting = ctx.accepted(carrierIds);
          if (enc.parts.length > 1) await accepting;
        }
        const mapped = ctx.map(c.id, normId, stored, ctx.mappingTtlMs);
        // Both settled before going on: a failed accept fails the attempt as a failed map does.
        const [waiting] = await Promise.all([mapped, accepting]);
        if (waiting !== null) parked.push({ carrier: c.id, mapping: stored, receipt: waiting });
        break;
      }
      if (r.kind === 'not_sent') {
        return i === 0 ? { kind: 'not_sent', reason: r.error.code } : { kind: 'unknown', error: r.error.code, partsSent: i };
      }
      if (r.kind === 'unknown') return { kind: 'unknown', error: r.error.code, partsSent: i + 1 };
      // rejected: retry, fail over or fail (a later part cannot go elsewhere: the first went here)
      if (action === 'retry' && i === 0) return { kind: 'retry', error: r.statusName };
      if (action === 'failover' && i === 0) return { kind: 'failover', error: r.statusName };
      return { kind: 'rejected', error: r.statusName, partsSent: i };
    }
  }
  return { kind: 'accepted', parked, carrierIds };
}
