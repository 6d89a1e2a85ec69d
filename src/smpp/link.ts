/**
 * A carrier link: all the sessions Qasid holds to one carrier (N transceivers, or N
 * transmitter+receiver pairs), and the one way to submit to that carrier. Callers see
 * outcomes, never PDUs or sockets.
 */
import type { CarrierConfig } from '../config/types.js';
import type { Lifecycle } from '../core/lifecycle.js';
import { QasidError } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { bodyNumber, bodyString, statusName } from './codec.js';
import { SmppSession, type DeliverHandler, type LateResponseHandler, type SessionHealth, type SessionObserver } from './session.js';
import { classifyStatus, type StatusClass } from './status.js';

export type SubmitResult =
  | { readonly kind: 'accepted'; readonly messageId: string; readonly session: string; readonly latencyMs: number }
  | { readonly kind: 'rejected'; readonly status: number; readonly statusName: string; readonly action: Exclude<StatusClass, 'ok'>; readonly session: string }
  /** Never left Qasid: send it again, here or on another carrier. */
  | { readonly kind: 'not_sent'; readonly error: QasidError }
  /** Left Qasid but no answer came: the carrier may have it. Only a receipt can settle it. */
  | { readonly kind: 'unknown'; readonly error: QasidError; readonly session: string };

/**
 * What a query_sm asked (SMPP 3.4 §4.8): the SMSC's answer, or why there is none. An
 * answer carries the raw message_state (§5.2.28), error_code and final_date as written.
 */
export type QueryResult =
  | { readonly kind: 'answered'; readonly messageState: number | undefined; readonly errorCode: number | undefined; readonly finalDate: string | undefined; readonly session: string }
  /** An error status (ESME_RQUERYFAIL, ESME_RINVMSGID, generic_nack …), no answer in time, or never sent. */
  | { readonly kind: 'failed'; readonly error: string };

export interface CarrierHealth {
  carrier: string;
  up: boolean;
  sessionsBound: number;
  sessionsTotal: number;
  freeSlots: number;
  /** The carrier's bind slots this instance holds (its `sessions` are a total across instances). */
  slots: number[];
  sessions: SessionHealth[];
}

export interface CarrierLinkOptions {
  carrier: CarrierConfig;
  logger: Logger;
  onDeliver?: DeliverHandler;
  /** A submit_sm_resp that came after its deadline, for a submit given a tag. */
  onLateResponse?: LateResponseHandler;
  observer?: SessionObserver;
  random?: () => number;
  /** See SessionOptions.faultLogIntervalMs. */
  faultLogIntervalMs?: number;
}

export class CarrierLink implements Lifecycle {
  readonly name: string;
  private readonly log: Logger;
  private readonly make: (slot: number) => SmppSession[];
  /** The sessions of each bind slot this link runs (slot = session index); undefined = not held here. */
  private readonly slots: Array<SmppSession[] | undefined>;
  private all: readonly SmppSession[] = [];
  private transmitters: readonly SmppSession[] = [];
  /** Session stops in progress, so a slot is bound again only once its old session closed. */
  private readonly stopping = new Map<number, Promise<void>>();
  /** The sessions of those stops (an abrupt hold() closes them at once too). */
  private readonly closing = new Set<SmppSession>();
  /** Bumped by each hold(): one that waited for a close and finds a newer one stops there. */
  private generation = 0;
  private next = 0;

  constructor(private readonly opts: CarrierLinkOptions) {
    const c = opts.carrier;
    this.name = `link:${c.id}`;
    this.log = opts.logger.child({ carrier: c.id });
    const session = (bindType: SmppSession['bindType'], index: number): SmppSession =>
      new SmppSession({
        carrier: c,
        index,
        bindType,
        logger: opts.logger,
        onDeliver: opts.onDeliver,
        onLateResponse: opts.onLateResponse,
        observer: opts.observer,
        random: opts.random,
        faultLogIntervalMs: opts.faultLogIntervalMs,
      });
    this.make = (i) => (c.bindMode === 'trx' ? [session('transceiver', i)] : [session('transmitter', i), session('receiver', i)]);
    this.slots = new Array<SmppSession[] | undefined>(c.sessions).fill(undefined);
  }

  get carrierId(): string {
    return this.opts.carrier.id;
  }

  /** The sessions of the slots this link holds now. */
  get sessions(): readonly SmppSession[] {
    return this.all;
  }

  /** Bind slots held here, ascending. */
  get heldSlots(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i]) out.push(i);
    return out;
  }

  /** Bind every slot: one instance alone (tests, tools). The daemon leases slots and calls hold(). */
  async start(): Promise<void> {
    await this.hold(this.slots.map((_, i) => i));
    this.log.info({ event: 'link.started', sessions: this.all.length, bindMode: this.opts.carrier.bindMode }, 'carrier link started');
  }

  /** Unbind every session politely, in parallel. */
  async stop(): Promise<void> {
    await this.hold([]);
    this.log.info({ event: 'link.stopped' }, 'carrier link stopped');
  }

  /**
   * Run exactly the sessions of `slots`: start those not running, stop the others
   * politely (in-flight requests finish, then unbind) — or, `abrupt`, at once (a lost
   * lease). Resolves once the stopped ones are closed, so a caller may give their slots
   * to another instance after.
   */
  async hold(slots: readonly number[], abrupt = false): Promise<void> {
    const gen = ++this.generation;
    const wanted = new Set(slots.filter((i) => i >= 0 && i < this.slots.length));
    const stops: Promise<void>[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const running = this.slots[i];
      if (running && !wanted.has(i)) {
        this.slots[i] = undefined;
        for (const s of running) this.closing.add(s);
        const stop = Promise.all(running.map((s) => (abrupt ? s.abort() : s.stop()))).then(() => {
          for (const s of running) this.closing.delete(s);
        });
        this.stopping.set(i, stop);
        stops.push(stop.finally(() => this.stopping.delete(i)));
      }
    }
    if (abrupt) for (const s of this.closing) void s.abort();
    this.refresh();
    for (const i of wanted) {
      if (this.slots[i]) continue;
      await this.stopping.get(i);
      if (gen !== this.generation) break;
      if (this.slots[i]) continue;
      const made = this.make(i);
      this.slots[i] = made;
      for (const s of made) s.start();
    }
    this.refresh();
    await Promise.all(stops);
  }

  private refresh(): void {
    this.all = this.slots.flatMap((s) => s ?? []);
    this.transmitters = this.all.filter((s) => s.bindType !== 'receiver');
  }

  /** At least one session can submit. */
  isUp(): boolean {
    return this.transmitters.some((s) => s.canSubmit);
  }

  /** Window slots free right now across bound transmitting sessions: how much to pull from intake. */
  capacity(): number {
    let n = 0;
    for (const s of this.transmitters) if (s.canSubmit) n += s.freeSlots;
    return n;
  }

  /** Resolves when every session is bound; rejects after timeoutMs. */
  async waitAllBound(timeoutMs: number): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.waitFor('bound', timeoutMs)));
  }

  /**
   * Submit one PDU body (submit_sm fields). Picks a bound transmitting session with a
   * free slot, round robin; when all windows are full, waits on the least-crowded one.
   * Returns `not_sent` at once when no session is bound, so the caller can fail over.
   * `beforeSend` runs once a window slot is held, right before the PDU is written (see
   * SmppSession.request).
   */
  async submit(body: Readonly<Record<string, unknown>>, signal?: AbortSignal, tag?: string, beforeSend?: () => Promise<void>): Promise<SubmitResult> {
    const session = this.pick();
    if (!session) {
      return { kind: 'not_sent', error: new QasidError('SMPP_NOT_BOUND', `carrier ${this.carrierId} has no bound session`) };
    }
    const outcome = await session.request('submit_sm', body, signal, tag, beforeSend);
    switch (outcome.kind) {
      case 'not_sent':
        return outcome;
      case 'unknown':
        return { kind: 'unknown', error: outcome.error, session: session.id };
      case 'response': {
        const status = outcome.pdu.status;
        const action = classifyStatus(status);
        if (action === 'ok') {
          return { kind: 'accepted', messageId: bodyString(outcome.pdu, 'message_id') ?? '', session: session.id, latencyMs: outcome.latencyMs };
        }
        return { kind: 'rejected', status, statusName: statusName(status), action, session: session.id };
      }
    }
  }

  /**
   * Ask the carrier for the state of a message it accepted (query_sm, SMPP 3.4 §4.8): its
   * message_id as the carrier wrote it in submit_sm_resp, and the source address the
   * message was submitted with (§4.8.1: the SMSC matches both). Goes through a session's
   * window with the response deadline, like a submit; never throws.
   */
  async query(messageId: string, source: { ton: number; npi: number; addr: string }, signal?: AbortSignal): Promise<QueryResult> {
    const session = this.pick();
    if (!session) return { kind: 'failed', error: 'SMPP_NOT_BOUND' };
    const outcome = await session.request('query_sm', { message_id: messageId, source_addr_ton: source.ton, source_addr_npi: source.npi, source_addr: source.addr }, signal);
    if (outcome.kind !== 'response') return { kind: 'failed', error: outcome.error.code };
    const pdu = outcome.pdu;
    if (pdu.command !== 'query_sm_resp' || pdu.status !== 0) return { kind: 'failed', error: pdu.status !== 0 ? statusName(pdu.status) : pdu.command };
    const finalDate = pdu.body.final_date;
    return {
      kind: 'answered',
      messageState: bodyNumber(pdu, 'message_state'),
      errorCode: bodyNumber(pdu, 'error_code'),
      finalDate: typeof finalDate === 'string' ? finalDate : finalDate instanceof Date ? finalDate.toISOString() : undefined,
      session: session.id,
    };
  }

  health(): CarrierHealth {
    const sessions = this.sessions.map((s) => s.health());
    return {
      carrier: this.carrierId,
      up: this.isUp(),
      sessionsBound: sessions.filter((s) => s.state === 'bound').length,
      sessionsTotal: sessions.length,
      freeSlots: this.capacity(),
      slots: this.heldSlots,
      sessions,
    };
  }

  private pick(): SmppSession | undefined {
    const tx = this.transmitters;
    let best: SmppSession | undefined;
    for (let i = 0; i < tx.length; i++) {
      const s = tx[(this.next + i) % tx.length] as SmppSession;
      if (!s.canSubmit) continue;
      if (s.freeSlots > 0) {
        this.next = (this.next + i + 1) % tx.length;
        return s;
      }
      if (!best || s.waitingCallers < best.waitingCallers) best = s;
    }
    return best;
  }
}
