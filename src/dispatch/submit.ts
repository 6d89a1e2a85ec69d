/**
 * Submitting one encoded message to one carrier: every part paced by the carrier's TPS
 * bucket, slow-down answers retried on the same carrier without spending an attempt, and
 * each accepted part's carrier id recorded before the next part goes. Returns what
 * happened so the dispatcher can fail over, defer or finish.
 */
import type { CarrierConfig } from '../config/types.js';
import { normaliseId } from '../dlr/ids.js';
import type { EncodedMessage } from '../encoding/index.js';
import type { CarrierLink } from '../smpp/link.js';
import type { PacedGate } from './gate.js';

export type CarrierAttempt =
  /** Every part accepted. `parked` holds receipts that arrived before their part's mapping. */
  | { kind: 'accepted'; parked: ParkedReceipt[]; carrierIds: string[] }
  /** The first part never left: try another carrier. */
  | { kind: 'not_sent'; reason: string }
  /** A temporary error (retry on the schedule) on the first part. */
  | { kind: 'retry'; error: string }
  /** A permanent refusal, or a failure after some parts already went. */
  | { kind: 'rejected'; error: string; partsSent: number }
  /** A part left and no answer came. */
  | { kind: 'unknown'; error: string; partsSent: number }
  /** The message's validity passed before its first part could go. */
  | { kind: 'expired' };

/** A receipt that arrived before its part's mapping: the mapping value and the receipt JSON. */
export interface ParkedReceipt {
  carrier: string;
  mapping: string;
  receipt: string;
}

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
  /** Whether the message's validity has passed: asked right before the first part goes. */
  expired?: () => boolean;
  /** Stop trying (shutdown): parts not yet sent are reported not_sent. */
  signal?: AbortSignal;
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
  const alpha = !/^\+?[0-9]+$/.test(ctx.sender);
  for (let i = 0; i < enc.parts.length; i++) {
    const part = enc.parts[i];
    if (!part) break;
    const body: Record<string, unknown> = {
      source_addr_ton: alpha ? 5 : c.addressing.sourceTon,
      source_addr_npi: alpha ? 0 : c.addressing.sourceNpi,
      source_addr: ctx.sender.replace(/^\+/, ''),
      dest_addr_ton: c.addressing.destTon,
      dest_addr_npi: c.addressing.destNpi,
      destination_addr: ctx.e164Digits,
      esm_class: part.udhi ? 0x40 : 0,
      priority_flag: ctx.priority,
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
      const mapping = `${ctx.recId}:${i}:${enc.parts.length}`;
      // The tag comes back with a submit_sm_resp that arrives after its deadline.
      // A throttle answer to a submit sent before the pacer's last rate cut is an echo of that overload.
      const epoch = ctx.gate.pacer.epoch;
      const r = await ctx.link.submit(body, ctx.signal, mapping);
      if (r.kind === 'rejected' && r.action === 'slowdown') {
        ctx.gate.pacer.onThrottled(epoch);
        ctx.gate.poke();
        continue;
      }
      if (r.kind === 'accepted') {
        ctx.gate.pacer.onAccepted();
        const normId = normaliseId(r.messageId, c.messageIds.submitResp) ?? r.messageId;
        // The stored value also carries when the carrier accepted it, for receipt latency.
        const stored = `${mapping}:${Date.now().toString(36)}`;
        carrierIds.push(normId);
        const waiting = await ctx.map(c.id, normId, stored, ctx.mappingTtlMs);
        if (waiting !== null) parked.push({ carrier: c.id, mapping: stored, receipt: waiting });
        break;
      }
      if (r.kind === 'not_sent') {
        return i === 0 ? { kind: 'not_sent', reason: r.error.code } : { kind: 'unknown', error: r.error.code, partsSent: i };
      }
      if (r.kind === 'unknown') return { kind: 'unknown', error: r.error.code, partsSent: i + 1 };
      // rejected: retry or fail
      if (r.action === 'retry' && i === 0) return { kind: 'retry', error: r.statusName };
      return { kind: 'rejected', error: r.statusName, partsSent: i };
    }
  }
  return { kind: 'accepted', parked, carrierIds };
}
