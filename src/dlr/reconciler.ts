/**
 * Everything a carrier delivers to us: delivery receipts, and MO messages (handed to dlr/mo.ts). A receipt is
 * matched to its message through the carrier-id mapping — by the TLV's id, then by the
 * text's, each normalised in its own format; one that finds no mapping (it came before
 * its submit_sm_resp was recorded) is parked in Redis and applied when the mapping lands.
 * A parked receipt whose park time runs out unmatched is counted (`never_matched`) and
 * dropped by a sweep on this handler's own timer. deliver_sm_resp goes back only after
 * this has been recorded.
 */
import type { CarrierConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { backoffDelay } from '../core/backoff.js';
import { isErrorReply } from '../queue/batch.js';
import { normaliseId, receiptMatchIds } from './ids.js';
import { isReceipt, parseReceipt, type ParsedReceipt, type ReceiptState } from './receipt.js';
import type { Logger } from '../log/logger.js';
import { ThrottledLog } from '../log/throttled.js';
import { EVENT_VERSION, eventIds, type Outputs, type StatusEvent } from '../queue/outputs.js';
import type { MessageStore } from '../queue/store.js';
import { transition, type TerminalStatus } from '../queue/record.js';
import { bodyNumber, bodyString, type Pdu } from '../smpp/codec.js';
import type { DeliverHandler, LateResponseHandler, SessionInfo } from '../smpp/session.js';
import { OWED_AFTER_MS, partStatus, writeOwedEvent } from '../queue/final-event.js';
import type { MappingStore, ParkedReceipt } from './mappings.js';

/** Retries of a receipt's final event whose write failed: 1 s doubling to 30 s. */
const OWED_RETRY = { minMs: 1_000, maxMs: 30_000 };

interface StoredReceipt {
  state: ReceiptState;
  final: boolean;
  err?: string;
}

/** Hooks for metrics; every method optional. */
export interface ReceiptMetrics {
  received?(carrier: string): void;
  matched?(carrier: string, state: string, latencyMs: number | undefined): void;
  /**
   * `unparseable`: no usable id or state; `late`: its message was already settled or gone;
   * `never_matched`: parked, and no mapping came for its id within the park time.
   */
  unmatched?(carrier: string, reason: 'unparseable' | 'late' | 'never_matched'): void;
  parked?(carrier: string): void;
}

export interface ReceiptHandlerDeps {
  store: MessageStore;
  /** Carrier-id mappings and parked receipts. */
  mappings: MappingStore;
  outputs: Outputs;
  carriers: ReadonlyMap<string, CarrierConfig>;
  logger: Logger;
  /** How long a receipt waits parked for its mapping. */
  parkTtlMs: number;
  /** How often parked receipts whose park time ran out are looked for; default parkTtlMs / 4, between 100 ms and 30 s. */
  parkSweepMs?: number;
  /** How long a mapping learnt from a late submit_sm_resp is kept (the message's own validity is not known here). */
  lateMappingTtlMs: number;
  metrics?: ReceiptMetrics;
  /** Where a deliver_sm that is not a receipt goes (dlr/mo.ts): resolves once it is held or written. */
  mo: { onMo(pdu: Pdu, carrier: string): Promise<void> };
  now?: () => number;
}

/** The sweep's grace, in sweeps: a parked receipt's key outlives its park time by this many intervals. */
const PARK_SWEEP_GRACE_SWEEPS = 10;
const SWEEP_BATCH = 100;
/** An instance that dies mid-sweep gives its batch back after this long. */
const SWEEP_LEASE_MS = 60_000;

/** A carrier's receipt id formats; an unknown carrier's ids are compared as written. */
function receiptFormats(carriers: ReadonlyMap<string, CarrierConfig>, id: string): { tlv: CarrierConfig['messageIds']['receiptTlv']; text: CarrierConfig['messageIds']['receiptText'] } {
  const m = carriers.get(id)?.messageIds;
  return { tlv: m?.receiptTlv ?? m?.receipt ?? 'verbatim', text: m?.receiptText ?? m?.receipt ?? 'verbatim' };
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
  readonly counts = { matched: 0, parked: 0, unparseable: 0, late: 0, neverMatched: 0 };
  /** A carrier that sends unreadable receipts sends many: one line per carrier per interval. */
  private readonly faultLog: ThrottledLog;
  private readonly sweepMs: number;
  /**
   * How long a parked receipt's key lives: its park time plus a grace in which the sweep
   * still finds it (a key Redis expired first could not be told from one that matched).
   */
  private readonly parkKeyTtlMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  private stopped = false;
  /** Messages whose final event this handler is still trying to write (owe()). */
  private readonly owing = new Set<string>();

  constructor(private readonly d: ReceiptHandlerDeps) {
    this.log = d.logger.child({ component: 'receipts' });
    this.now = d.now ?? Date.now;
    this.faultLog = new ThrottledLog(this.log);
    this.sweepMs = d.parkSweepMs ?? Math.min(30_000, Math.max(100, Math.floor(d.parkTtlMs / 4)));
    this.parkKeyTtlMs = d.parkTtlMs + PARK_SWEEP_GRACE_SWEEPS * this.sweepMs;
  }

  /** Stop the parked-receipt sweep (it runs only once this handler has parked a receipt). */
  stop(): void {
    this.stopped = true;
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  readonly onDeliver: DeliverHandler = async (pdu: Pdu, session: SessionInfo): Promise<number> => {
    const esm = bodyNumber(pdu, 'esm_class') ?? 0;
    if (isReceipt(esm)) await this.onReceipt(pdu, session.carrier);
    else await this.d.mo.onMo(pdu, session.carrier);
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
      await this.d.store.update(recId, transition.acceptedLate());
      const parked = await this.d.mappings.map(session.carrier, normId, tag, this.d.lateMappingTtlMs);
      if (parked !== null) await this.apply(tag, JSON.parse(parked) as StoredReceipt, session.carrier);
    })().catch((e: unknown) => this.log.warn({ event: 'redis.error', err: errorMessage(e) }, 'could not record a late submit_sm_resp'));
  };

  async applyParked(parked: readonly ParkedReceipt[]): Promise<void> {
    for (const p of parked) {
      let r: StoredReceipt;
      try {
        r = JSON.parse(p.receipt) as StoredReceipt;
      } catch {
        this.faultLog.log('warn', { event: 'receipt.unparseable', carrier: p.carrier }, 'parked receipt is not JSON; dropped', `receipt.unparseable:${p.carrier}`);
        continue;
      }
      await this.apply(p.mapping, r, p.carrier);
    }
  }

  private async onReceipt(pdu: Pdu, carrierId: string): Promise<void> {
    const parsed: ParsedReceipt | undefined = parseReceipt(pdu);
    this.d.metrics?.received?.(carrierId);
    this.faultLog.flush();
    if (!parsed) {
      this.counts.unparseable++;
      this.d.metrics?.unmatched?.(carrierId, 'unparseable');
      this.faultLog.log('warn', { event: 'receipt.unparseable', carrier: carrierId }, 'receipt without a usable id or state; acknowledged and dropped', `receipt.unparseable:${carrierId}`);
      return;
    }
    if (!parsed.final) return; // ENROUTE / ACCEPTD: not a settlement
    const formats = receiptFormats(this.d.carriers, carrierId);
    const stored: StoredReceipt = { state: parsed.state, final: parsed.final, err: parsed.err };
    const found = await this.match(carrierId, receiptMatchIds(parsed, formats), JSON.stringify(stored));
    if (found.kind === 'parked') {
      this.counts.parked++;
      this.d.metrics?.parked?.(carrierId);
      this.log.debug({ event: 'receipt.parked', carrier: carrierId }, 'receipt before its submit_sm_resp; parked');
      return;
    }
    if (found.kind === 'mapping') await this.apply(found.mapping, stored, carrierId);
  }

  /**
   * The mapping of the first of `ids` that has one. With one id (the TLV and the text agree,
   * or only one was given) it is one script: mapping, or park. With two, both are looked up
   * first, then the receipt is parked under the first, and the second is looked at once
   * more: its mapping may have landed meanwhile, and would not have seen a receipt parked
   * under the other id — then the receipt is taken back (unless that mapping's writer
   * already took it: `taken`).
   */
  private async match(carrierId: string, ids: readonly string[], json: string): Promise<{ kind: 'mapping'; mapping: string } | { kind: 'parked' } | { kind: 'taken' }> {
    const store = this.d.mappings;
    const [first = '', second] = ids;
    if (second !== undefined) {
      const [a, b] = await Promise.all([store.mapping(carrierId, first), store.mapping(carrierId, second)]);
      const known = a ?? b;
      if (known !== null) return { kind: 'mapping', mapping: known };
    }
    const mapping = await store.match(carrierId, first, json, this.parkKeyTtlMs);
    if (mapping !== null) return { kind: 'mapping', mapping };
    if (second !== undefined) {
      const late = await store.mapping(carrierId, second);
      if (late !== null) return (await store.unpark(carrierId, first)) === null ? { kind: 'taken' } : { kind: 'mapping', mapping: late };
    }
    await store.indexParked(carrierId, first, this.now() + this.d.parkTtlMs, this.parkKeyTtlMs);
    this.armSweep();
    return { kind: 'parked' };
  }

  private armSweep(): void {
    if (this.sweepTimer !== undefined || this.stopped) return;
    this.sweepTimer = setInterval(() => void this.sweepParked(), this.sweepMs);
    // A sweep must never keep the process alive.
    this.sweepTimer.unref();
  }

  /**
   * Count and drop the parked receipts whose park time has run out: their mapping never
   * came (the carrier wrote an id we cannot match, or a receipt for a message we never
   * sent). Leased like the due set, so instances never count one twice. Returns how many
   * were dropped; a sweep already running is joined.
   */
  sweepParked(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<number> {
    const byCarrier = new Map<string, number>();
    try {
      for (;;) {
        const overdue = await this.d.mappings.takeOverdueParked(this.now(), SWEEP_BATCH, SWEEP_LEASE_MS);
        const dropped = await Promise.all(overdue.map((p) => this.d.mappings.dropParked(p.carrier, p.normId)));
        overdue.forEach((p, i) => {
          if (dropped[i]) byCarrier.set(p.carrier, (byCarrier.get(p.carrier) ?? 0) + 1);
        });
        if (overdue.length < SWEEP_BATCH) break;
      }
    } catch (e) {
      this.log.warn({ event: 'redis.error', err: errorMessage(e) }, 'parked receipts could not be swept; the next sweep retries');
    }
    let total = 0;
    for (const [carrierId, n] of byCarrier) {
      total += n;
      this.counts.neverMatched += n;
      for (let i = 0; i < n; i++) this.d.metrics?.unmatched?.(carrierId, 'never_matched');
      this.log.warn({ event: 'receipt.never_matched', carrier: carrierId, count: n }, 'parked receipts found no message within their park time; counted unmatched and dropped');
    }
    return total;
  }

  /** `mapping` is `${recId}:${part}:${parts}[:${acceptedAt base 36}]` (see dispatch/submit.ts). */
  private async apply(mapping: string, r: StoredReceipt, carrierId: string): Promise<void> {
    const [recId = '', part, parts, acceptedAt] = mapping.split(':');
    const now = this.now();
    // Part states are kept only for long messages (a one-part message's is its status).
    const outcome = await this.d.store.applyReceipt(recId, r.state, r.final, now, r.err, part === undefined || part === '' || Number(parts ?? 1) <= 1 ? undefined : Number(part));
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
      v: EVENT_VERSION,
      status,
      final: true,
      ...eventIds(outcome.fields),
      carrier: carrierId,
      ...(parts ? { parts: Number(parts) } : {}),
      ...(outcome.error && status !== 'delivered' ? { error: outcome.error } : {}),
      at: new Date(now).toISOString(),
    };
    // A long message: each receipt-bearing part's state.
    const perPart = partStatus(outcome.partStates, Number(parts ?? 1));
    if (perPart !== undefined) e.partStatus = perPart;
    // Event first, then off the watch set: a crash in between leaves the watch entry, and
    // whoever meets it again writes the event from the record.
    try {
      await this.d.outputs.event(e, outcome.entryId);
    } catch (err) {
      // Settled, but Redis refused its event (the write did not happen): this handler
      // keeps trying, so the event does not wait for the SMSC to send the receipt again
      // or for the watch deadline. A connection lost mid-write (a failover) may have
      // written it: that is left to those two, which find it written or owed — retrying
      // here would write it twice. The receipt is refused either way (the SMSC sends it again).
      if (isErrorReply(err)) this.owe(recId, e, outcome.entryId);
      throw err;
    }
    await this.d.store.unschedule('watch', recId);
  }

  /** Write a settled message's final event until it goes (1 s doubling to 30 s), then unwatch it. */
  private owe(recId: string, e: StatusEvent, entryId: string | undefined): void {
    if (this.owing.has(recId)) return;
    this.owing.add(recId);
    void (async () => {
      for (let attempt = 0; !this.stopped; attempt++) {
        await new Promise((res) => setTimeout(res, backoffDelay(OWED_RETRY, attempt)).unref());
        if (this.stopped) return;
        try {
          await this.d.outputs.event(e, entryId);
          this.log.warn({ event: 'receipt.event_retried', carrier: e.carrier, gatewayId: e.gatewayId, attempts: attempt + 1 }, "a receipt's final event written after its first write failed");
          // Written: never again from here (an unwatch that fails is the watch deadline's, as after a crash).
          await this.d.store.unschedule('watch', recId).catch(() => undefined);
          return;
        } catch (err) {
          // Refused again: tried again later. Cut off with its connection: it may have
          // landed, so it is left to the recovery paths (as is all of it at stop).
          if (!isErrorReply(err)) return;
        }
      }
    })().finally(() => this.owing.delete(recId));
  }

  /**
   * A receipt delivered again (the SMSC retrying) for a record a receipt settled over a
   * minute ago that is still watched: the first copy's handler was cut off before its
   * event and the unwatch. Write the event now rather than at the watch deadline.
   */
  private async recoverCutOff(recId: string, terminalAt: number | undefined, now: number): Promise<void> {
    if (terminalAt === undefined || now - terminalAt < OWED_AFTER_MS || this.owing.has(recId)) return;
    if (!(await this.d.store.isScheduled('watch', recId))) return;
    const rec = await this.d.store.get(recId);
    if (rec === undefined || !(await writeOwedEvent(this.d.outputs, this.log, rec, now))) return;
    await this.d.store.unschedule('watch', recId);
  }
}
