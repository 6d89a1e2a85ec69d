/**
 * query_sm for a message the carrier accepted and sent no receipt for (carriers[].querySm,
 * SMPP 3.4 §4.8). Run from the watch set: when a watched message's time comes and its
 * carrier has the option, each receipt-bearing part still without a receipt is asked
 * about by the id the carrier gave it. A final message_state is applied exactly as a
 * receipt would be (one script: the record's roll-up decides), and the final event
 * follows; ENROUTE / ACCEPTED wait — for the receipt until the watch deadline, then
 * `retrySec` at a time, at most `maxQueries` questions in all; no answer, an error
 * status or UNKNOWN leave the ending to the caller (expired no_receipt, as without the
 * option). A submit that got no submit_sm_resp has no id to ask by: it is not asked
 * about (see unknown-outcome.ts).
 *
 * Crash safety is the watch set's: the member is leased while this runs, the question
 * count is written before the question goes (a crash makes the next owner ask once more,
 * never for ever), and a record a query made terminal whose event a crash cut off is
 * met again at the lease's end and its event written from the record.
 */
import type { CarrierConfig } from '../config/types.js';
import { carrierWrittenId } from '../dlr/ids.js';
import { isFinalState, messageStateOf, type ReceiptState } from '../dlr/receipt.js';
import type { Logger } from '../log/logger.js';
import { ThrottledLog } from '../log/throttled.js';
import { owedEvent } from '../queue/final-event.js';
import type { Outputs } from '../queue/outputs.js';
import { transition, type RecordFields } from '../queue/record.js';
import type { MessageStore } from '../queue/store.js';
import type { CarrierLink } from '../smpp/link.js';
import type { PacedGate } from './gate.js';
import { receiptParts, sourceAddressing } from './submit.js';

/** What a query told: a state (final or not), or nothing usable (`failed`). */
export type QueryOutcome = ReceiptState | 'failed';

export interface ReceiptQueryDeps {
  store: MessageStore;
  outputs: Outputs;
  links: ReadonlyMap<string, CarrierLink>;
  gates: ReadonlyMap<string, PacedGate>;
  carriers: ReadonlyMap<string, CarrierConfig>;
  /** messages.receiptGraceSec, in ms: the watch deadline is validity + this. */
  graceMs: number;
  logger: Logger;
  now: () => number;
  signal?: AbortSignal;
  /** One question's outcome, per carrier (metrics). */
  queried?(carrier: string, outcome: QueryOutcome): void;
}

/** `settled`: its final event is written; `later`: watched again until a later time; `end`: the caller ends it as without the option. */
export type QueryVerdict = 'settled' | 'later' | 'end';

export class ReceiptQueries {
  private readonly log: Logger;
  /** A carrier that does not answer query_sm fails every question: one line per carrier per interval. */
  private readonly failLog: ThrottledLog;

  constructor(private readonly d: ReceiptQueryDeps) {
    this.log = d.logger.child({ component: 'receipts' });
    this.failLog = new ThrottledLog(this.log);
  }

  /** The watch time of a message just accepted by `carrier` (valid until `validUntil`): earlier than the deadline when the carrier asks early. */
  watchTime(carrier: CarrierConfig | undefined, validUntil: number, acceptedAt: number): number {
    const deadline = validUntil + this.d.graceMs;
    const q = carrier?.querySm;
    if (q?.enabled !== true || q.delaySec === 0) return deadline;
    return Math.min(deadline, acceptedAt + q.delaySec * 1000);
  }

  /** Whether a watched record is one this asks about: accepted, by a carrier with querySm, with the carrier's ids. */
  applies(rec: Partial<RecordFields>): boolean {
    const c = rec.car === undefined ? undefined : this.d.carriers.get(rec.car);
    return c?.querySm?.enabled === true && rec.st === 'accepted' && rec.mids !== undefined && rec.mids !== '';
  }

  /** Ask about a live, accepted, watched record whose watch time has come (see the module comment). */
  async settle(recId: string, rec: Partial<RecordFields>): Promise<QueryVerdict> {
    const carrier = this.d.carriers.get(rec.car ?? '') as CarrierConfig;
    const q = carrier.querySm as NonNullable<CarrierConfig['querySm']>;
    const now = this.d.now();
    const deadline = Number(rec.vu) + this.d.graceMs;
    const asked = Number(rec.qN ?? 0);
    if (asked >= q.maxQueries) return now >= deadline ? 'end' : this.later(recId, deadline);
    await this.d.store.update(recId, transition.queried(asked + 1));
    const outcomes = await this.ask(recId, rec, carrier, now);
    const settled = outcomes.some((o) => o.settled);
    if (settled) {
      const after = await this.d.store.get(recId);
      const e = after === undefined ? undefined : owedEvent(after, this.d.now());
      if (e !== undefined) {
        this.log.info({ event: 'receipt.queried', carrier: carrier.id, gatewayId: rec.gw, state: e.status, queries: asked + 1 }, 'query_sm settled a message whose receipt did not come');
        // Event first, then off the watch set: a crash between the two is met again at the lease's end.
        await this.d.outputs.event(e, after?.eid);
        await this.d.store.unschedule('watch', recId);
        return 'settled';
      }
    }
    const pending = outcomes.some((o) => o.outcome === 'enroute' || o.outcome === 'accepted');
    if (now < deadline) return this.later(recId, deadline);
    if (pending && asked + 1 < q.maxQueries) return this.later(recId, now + q.retrySec * 1000);
    return 'end';
  }

  /** Watched again until `at` (the member is leased now: moving its score is the release). */
  private async later(recId: string, at: number): Promise<QueryVerdict> {
    await this.d.store.schedule('watch', recId, at);
    return 'later';
  }

  /**
   * One query_sm per receipt-bearing part that has no receipt yet, each paced by the
   * carrier's token bucket; a final answer is applied as that part's receipt.
   */
  private async ask(recId: string, rec: Partial<RecordFields>, carrier: CarrierConfig, now: number): Promise<Array<{ outcome: QueryOutcome; settled: boolean }>> {
    const ids = (rec.mids ?? '').split(',');
    const parts = Number(rec.parts ?? ids.length);
    const wants = receiptParts(parts, carrier.receiptOnPart);
    const done = new Set((rec.pS ?? '').split(',').filter((x) => x !== '').map((x) => Number(x.slice(0, x.indexOf(':')))));
    const [ton, npi] = sourceAddressing(carrier.addressing, rec.from ?? '');
    const source = { ton, npi, addr: (rec.from ?? '').replace(/^\+/, '') };
    const link = this.d.links.get(carrier.id);
    const gate = this.d.gates.get(carrier.id);
    const out: Array<{ outcome: QueryOutcome; settled: boolean }> = [];
    for (let part = 0; part < parts; part++) {
      const id = ids[part];
      if (!wants[part] || id === undefined || id === '' || done.has(part)) continue;
      let outcome: QueryOutcome = 'failed';
      let error: string | undefined;
      let settled = false;
      if (link === undefined || !link.isUp()) error = 'SMPP_NOT_BOUND';
      else if (gate !== undefined && !(await gate.acquire(this.d.signal))) error = 'stopping';
      else {
        const r = await link.query(carrierWrittenId(id, carrier.messageIds.submitResp), source, this.d.signal);
        if (r.kind === 'failed') error = r.error;
        else {
          const state = messageStateOf(r.messageState);
          if (state === undefined) error = `message_state ${String(r.messageState)}`;
          else {
            outcome = state;
            // UNKNOWN ("in invalid state") settles nothing: the ending stays the watch deadline's.
            if (isFinalState(state) && state !== 'unknown') {
              const err = r.errorCode === undefined || r.errorCode === 0 ? undefined : String(r.errorCode).padStart(3, '0');
              const applied = await this.d.store.applyReceipt(recId, state, true, now, err, parts > 1 ? part : undefined);
              settled = applied.outcome === 'final';
            }
          }
        }
      }
      this.d.queried?.(carrier.id, outcome);
      if (outcome === 'failed') {
        this.failLog.log('warn', { event: 'receipt.query_failed', carrier: carrier.id, error }, 'query_sm got no usable answer; the message ends as it would without it', `receipt.query_failed:${carrier.id}`);
      }
      out.push({ outcome, settled });
    }
    return out;
  }
}
