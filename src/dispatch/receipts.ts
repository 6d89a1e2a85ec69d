/**
 * Everything a carrier delivers to us: delivery receipts and MO messages. A receipt is
 * matched to its message through the carrier-id mapping; one that arrives before the
 * mapping (before its submit_sm_resp was recorded) is parked in Redis and applied when
 * the mapping lands. deliver_sm_resp goes back only after this has been recorded.
 */
import type { CarrierConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { normaliseId } from '../dlr/ids.js';
import { isReceipt, parseReceipt, type ParsedReceipt, type ReceiptState } from '../dlr/receipt.js';
import { decodeGsm7Unpacked, decodeUcs2 } from '../encoding/index.js';
import type { Logger } from '../log/logger.js';
import { eventIds, type Outputs, type StatusEvent } from '../queue/outputs.js';
import { classifyKeyword, type CompiledKeywords } from '../privacy/keywords.js';
import type { SubscriberStore } from '../privacy/subscribers.js';
import type { Vault } from '../privacy/vault.js';
import { maskMsisdn, normaliseMsisdn } from '../routing/index.js';
import type { MessageStore, TerminalStatus } from '../queue/store.js';
import { bodyBuffer, bodyNumber, bodyString, type Pdu } from '../smpp/codec.js';
import type { DeliverHandler, LateResponseHandler, SessionInfo } from '../smpp/session.js';
import { OWED_AFTER_MS, writeOwedEvent } from '../queue/final-event.js';
import type { ParkedReceipt } from './submit.js';

interface StoredReceipt {
  state: ReceiptState;
  final: boolean;
  err?: string;
}

/** Hooks for metrics; every method optional. */
export interface ReceiptMetrics {
  received?(carrier: string): void;
  matched?(carrier: string, state: string, latencyMs: number | undefined): void;
  unmatched?(carrier: string, reason: 'unparseable' | 'late'): void;
  parked?(carrier: string): void;
}

export interface ReceiptHandlerDeps {
  store: MessageStore;
  outputs: Outputs;
  carriers: ReadonlyMap<string, CarrierConfig>;
  logger: Logger;
  /** How long a receipt waits parked for its mapping. */
  parkTtlMs: number;
  /** How long a mapping learnt from a late submit_sm_resp is kept (the message's own validity is not known here). */
  lateMappingTtlMs: number;
  metrics?: ReceiptMetrics;
  /** MO: seal the sender and text, hash the sender. */
  vault: Vault;
  /** MO: STOP / START keywords change the sender's opt-out before deliver_sm_resp. */
  subscribers: SubscriberStore;
  keywords: CompiledKeywords;
  /** Region for reading MO senders written without a country code. */
  defaultRegion: string;
  /** How long an MO entry is kept (its index entry for erasure lives as long). */
  moRetentionMs: number;
  now?: () => number;
}

const TERMINAL_OF: Readonly<Record<string, TerminalStatus>> = {
  delivered: 'delivered',
  undeliverable: 'undeliverable',
  expired: 'expired',
  rejected: 'rejected',
  deleted: 'deleted',
  unknown: 'unknown',
};

export class ReceiptHandler {
  private readonly log: Logger;
  private readonly now: () => number;
  /** Counters, ready for metrics. */
  readonly counts = { matched: 0, parked: 0, unparseable: 0, late: 0, mo: 0 };

  constructor(private readonly d: ReceiptHandlerDeps) {
    this.log = d.logger.child({ component: 'receipts' });
    this.now = d.now ?? Date.now;
  }

  readonly onDeliver: DeliverHandler = async (pdu: Pdu, session: SessionInfo): Promise<number> => {
    const esm = bodyNumber(pdu, 'esm_class') ?? 0;
    if (isReceipt(esm)) await this.onReceipt(pdu, session.carrier);
    else await this.onMo(pdu, session.carrier);
    return 0;
  };

  /**
   * A submit_sm_resp that came after its deadline: the message was reported `unknown`. If
   * the carrier accepted it, record its id so a receipt can still settle it, and mark it
   * accepted (so without a receipt it ends `expired`, not `unknown`).
   */
  readonly onLateResponse: LateResponseHandler = (tag, pdu, session) => {
    if (pdu.command !== 'submit_sm_resp' || pdu.status !== 0) return;
    const carrier = this.d.carriers.get(session.carrier);
    const raw = bodyString(pdu, 'message_id') ?? '';
    const normId = normaliseId(raw, carrier?.messageIds.submitResp ?? 'verbatim') ?? raw;
    const recId = tag.slice(0, tag.indexOf(':'));
    void (async () => {
      await this.d.store.update(recId, { st: 'accepted' });
      const parked = await this.d.store.map(session.carrier, normId, tag, this.d.lateMappingTtlMs);
      if (parked !== null) await this.apply(tag, JSON.parse(parked) as StoredReceipt, session.carrier);
    })().catch((e: unknown) => this.log.warn({ event: 'redis.error', err: errorMessage(e) }, 'could not record a late submit_sm_resp'));
  };

  async applyParked(parked: readonly ParkedReceipt[]): Promise<void> {
    for (const p of parked) {
      let r: StoredReceipt;
      try {
        r = JSON.parse(p.receipt) as StoredReceipt;
      } catch {
        this.log.warn({ event: 'receipt.unparseable' }, 'parked receipt is not JSON; dropped');
        continue;
      }
      await this.apply(p.mapping, r, p.carrier);
    }
  }

  private async onReceipt(pdu: Pdu, carrierId: string): Promise<void> {
    const parsed: ParsedReceipt | undefined = parseReceipt(pdu);
    this.d.metrics?.received?.(carrierId);
    if (!parsed) {
      this.counts.unparseable++;
      this.d.metrics?.unmatched?.(carrierId, 'unparseable');
      this.log.warn({ event: 'receipt.unparseable', carrier: carrierId }, 'receipt without a usable id or state; acknowledged and dropped');
      return;
    }
    if (!parsed.final) return; // ENROUTE / ACCEPTD: not a settlement
    const carrier = this.d.carriers.get(carrierId);
    const normId = normaliseId(parsed.id, carrier?.messageIds.receipt ?? 'verbatim') ?? parsed.id;
    const stored: StoredReceipt = { state: parsed.state, final: parsed.final, err: parsed.err };
    const mapping = await this.d.store.match(carrierId, normId, JSON.stringify(stored), this.d.parkTtlMs);
    if (mapping === null) {
      this.counts.parked++;
      this.d.metrics?.parked?.(carrierId);
      this.log.debug({ event: 'receipt.parked', carrier: carrierId }, 'receipt before its submit_sm_resp; parked');
      return;
    }
    await this.apply(mapping, stored, carrierId);
  }

  /** `mapping` is `${recId}:${part}:${parts}[:${acceptedAt base 36}]` (see dispatch/submit.ts). */
  private async apply(mapping: string, r: StoredReceipt, carrierId: string): Promise<void> {
    const [recId = '', , parts, acceptedAt] = mapping.split(':');
    const now = this.now();
    const outcome = await this.d.store.applyReceipt(recId, r.state, r.final, now, r.err);
    if (outcome.outcome !== 'final') {
      if (outcome.outcome === 'late' || outcome.outcome === 'gone') {
        this.counts.late++;
        this.d.metrics?.unmatched?.(carrierId, 'late');
        if (outcome.outcome === 'late') await this.recoverCutOff(recId, outcome.terminalAt, now);
      } else this.d.metrics?.matched?.(carrierId, r.state, undefined);
      return;
    }
    this.counts.matched++;
    this.d.metrics?.matched?.(carrierId, r.state, acceptedAt ? now - parseInt(acceptedAt, 36) : undefined);
    const status = TERMINAL_OF[outcome.status] ?? 'unknown';
    const e: StatusEvent = {
      v: 1,
      status,
      final: true,
      ...eventIds(outcome.fields),
      carrier: carrierId,
      ...(parts ? { parts: Number(parts) } : {}),
      ...(outcome.error && status !== 'delivered' ? { error: outcome.error } : {}),
      at: new Date(now).toISOString(),
    };
    // Event first, then off the watch set: a crash in between leaves the watch entry, and
    // whoever meets it again writes the event from the record.
    await this.d.outputs.event(e);
    await this.d.store.unschedule('watch', recId);
  }

  /**
   * A receipt delivered again (the SMSC retrying) for a record a receipt settled over a
   * minute ago that is still watched: the first copy's handler was cut off before its
   * event and the unwatch. Write the event now rather than at the watch deadline.
   */
  private async recoverCutOff(recId: string, terminalAt: number | undefined, now: number): Promise<void> {
    if (terminalAt === undefined || now - terminalAt < OWED_AFTER_MS) return;
    if (!(await this.d.store.isScheduled('watch', recId))) return;
    const rec = await this.d.store.get(recId);
    if (rec === undefined || !(await writeOwedEvent(this.d.outputs, this.log, rec, now))) return;
    await this.d.store.unschedule('watch', recId);
  }

  private async onMo(pdu: Pdu, carrierId: string): Promise<void> {
    const dcs = bodyNumber(pdu, 'data_coding') ?? 0;
    const raw = bodyBuffer(pdu, 'message_payload') ?? bodyBuffer(pdu, 'short_message') ?? Buffer.alloc(0);
    const udhi = ((bodyNumber(pdu, 'esm_class') ?? 0) & 0x40) !== 0;
    const payload = udhi && raw.length > 0 ? raw.subarray(1 + (raw[0] ?? 0)) : raw;
    let text: string;
    try {
      text = decodeText(payload, dcs);
    } catch (e) {
      text = '';
      this.log.warn({ event: 'mo.undecodable', carrier: carrierId, err: errorMessage(e) }, 'MO text could not be decoded');
    }
    const rawFrom = bodyString(pdu, 'source_addr') ?? '';
    const to = bodyString(pdu, 'destination_addr') ?? '';
    // A handset's number as E.164 when it reads as one; else as it came (a hash is still taken).
    const num = normaliseMsisdn(rawFrom, this.d.defaultRegion);
    const from = num.ok ? num.e164 : /^\+?[0-9]{6,}$/.test(rawFrom) ? `+${rawFrom.replace(/^\+/, '')}` : rawFrom;
    const now = this.now();
    const keyword = classifyKeyword(text, this.d.keywords);
    // Recorded before deliver_sm_resp goes back: the next marketing submit already sees it.
    if (keyword === 'stop') await this.d.subscribers.optOut(from, { kind: 'sender', sender: to }, now);
    else if (keyword === 'start') await this.d.subscribers.optIn(from, { kind: 'sender', sender: to });
    const subscriber = this.d.vault.hash(from);
    const masked = from.startsWith('+') ? maskMsisdn(from) : '****';
    if (keyword !== undefined) this.log.info({ event: keyword === 'stop' ? 'subscriber.opted_out' : 'subscriber.opted_in', carrier: carrierId, to: masked, subscriber, sender: to }, keyword === 'stop' ? 'opt-out keyword from a handset' : 'opt-in keyword from a handset');
    const at = new Date(now).toISOString();
    const id = await this.d.outputs.mo({ carrier: carrierId, from, to, text, dataCoding: dcs, at, ...(keyword ? { keyword } : {}) }, { masked, subscriber });
    await this.d.subscribers.hold(from, `mo:${id}`, now + this.d.moRetentionMs, now);
    this.counts.mo++;
  }
}

/**
 * Decode MO text from raw bytes by data_coding. Values below 0x10 are SMPP's own (SMPP 3.4
 * §5.2.19); above, 3GPP TS 23.038 §4 coding groups, whose class bits the `smpp` package
 * misreads.
 */
export function decodeText(bytes: Buffer, dcs: number): string {
  let alphabet: 'gsm' | 'ucs2' | 'latin1';
  if (dcs < 0x10) alphabet = dcs === 0x00 ? 'gsm' : dcs === 0x08 ? 'ucs2' : 'latin1';
  else if ((dcs & 0xc0) === 0x00) alphabet = (['gsm', 'latin1', 'ucs2', 'latin1'] as const)[(dcs >> 2) & 0x03] ?? 'latin1';
  else if ((dcs & 0xf0) === 0xf0) alphabet = dcs & 0x04 ? 'latin1' : 'gsm';
  else if ((dcs & 0xf0) === 0xe0) alphabet = 'ucs2';
  else if ((dcs & 0xf0) === 0xc0 || (dcs & 0xf0) === 0xd0) alphabet = 'gsm';
  else alphabet = 'latin1';
  if (alphabet === 'ucs2') return decodeUcs2(bytes);
  if (alphabet === 'gsm') return decodeGsm7Unpacked(bytes);
  return bytes.toString('latin1');
}

