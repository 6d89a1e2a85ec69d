/**
 * One SMPP session to an SMSC: connect, bind, keep alive, carry requests through a
 * send window with deadlines, answer the SMSC's requests, and reconnect with capped
 * exponential backoff and jitter when the connection is lost. Its state changes in one
 * place, setState(), which logs `from -> to`.
 *
 * Nothing is dropped silently: when the connection goes, every request in flight is
 * settled as `unknown` (it reached the socket, the SMSC may have it) or `not_sent`
 * (it never left this process), and every caller waiting for a slot gets `not_sent`.
 */
import { QasidError, errorMessage, type ErrorCode } from '../core/errors.js';
import { reconnectDelay } from '../core/backoff.js';
import { waitWhile } from '../core/lifecycle.js';
import type { CarrierConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { ThrottledLog } from '../log/throttled.js';
import { encodePdu, encodeResponse, isResponseId, statusName, COMMAND_STATUS, type Pdu } from './codec.js';
import { Connection } from './connection.js';
import { answers, hexId, needsBody, undecodableRequest, type PduFault } from './faults.js';
import { SendWindow, type InFlight } from './window.js';

export type SessionState = 'idle' | 'connecting' | 'binding' | 'bound' | 'unbinding' | 'backoff' | 'stopped';
export type BindType = 'transceiver' | 'transmitter' | 'receiver';

export type RequestOutcome =
  | { readonly kind: 'response'; readonly pdu: Pdu; readonly latencyMs: number }
  /** Never handed to the socket: safe to send again, anywhere. */
  | { readonly kind: 'not_sent'; readonly error: QasidError }
  /** Written, but no response came: the SMSC may or may not have it. */
  | { readonly kind: 'unknown'; readonly error: QasidError };

export interface SessionInfo {
  readonly id: string;
  readonly carrier: string;
  readonly bindType: BindType;
}

/**
 * Handles a deliver_sm / data_sm from the SMSC (receipt or MO). Resolves to the
 * command_status of the response; the response is sent only when it resolves, so a
 * handler that records the PDU durably first never acknowledges what it lost.
 */
export type DeliverHandler = (pdu: Pdu, session: SessionInfo) => Promise<number>;

/**
 * A response that arrived after its request's deadline, when the request had been given
 * a tag: the caller already heard "unknown" and may still use what the SMSC said.
 */
export type LateResponseHandler = (tag: string, pdu: Pdu, session: SessionInfo) => void;

export type { PduFault };

/** Hooks for metrics; every method optional. */
export interface SessionObserver {
  onStateChange?(session: SessionInfo, from: SessionState, to: SessionState): void;
  onResponse?(session: SessionInfo, command: string, status: number, latencyMs: number): void;
  onTimeout?(session: SessionInfo, command: string): void;
  onClose?(session: SessionInfo, code: ErrorCode): void;
  /** A PDU the SMSC got wrong; `command` as its header names it (`unknown` for an undefined command_id). */
  onPduFault?(session: SessionInfo, fault: PduFault, command: string): void;
}

export interface SessionOptions {
  carrier: CarrierConfig;
  /** Index of this session among the carrier's sessions of the same bind type. */
  index: number;
  bindType: BindType;
  logger: Logger;
  onDeliver?: DeliverHandler;
  onLateResponse?: LateResponseHandler;
  observer?: SessionObserver;
  /** Random source for the reconnect delay's jitter, in [0, 1) (tests pin it; default Math.random). */
  random?: () => number;
  /** Shortest time between two log lines of one kind about the SMSC's faults, in ms (default 10 s; tests shorten it). */
  faultLogIntervalMs?: number;
}

export interface SessionHealth {
  id: string;
  carrier: string;
  bindType: BindType;
  state: SessionState;
  windowSize: number;
  windowUsed: number;
  waiting: number;
  inflight: number;
  boundSince: string | undefined;
  connects: number;
  reconnects: number;
  lastError: { code: string; message: string; at: string } | undefined;
  /** PDUs the SMSC got wrong since the session was created, by kind (see PduFault). */
  faults: Record<PduFault, number>;
}

const BIND_SUFFIX: Record<BindType, string> = { transceiver: 'trx', transmitter: 'tx', receiver: 'rx' };
/** SMPP 3.4 §5.1.3: an application error the SMSC should retry later. */
const ESME_RX_T_APPN = COMMAND_STATUS.ESME_RX_T_APPN ?? 0x64;
const ESME_RINVCMDID = COMMAND_STATUS.ESME_RINVCMDID ?? 0x03;
/** How long a late response is still accepted after its request's deadline. */
const LATE_RESPONSE_MS = 10 * 60_000;
const LATE_MAX = 10_000;

export class SmppSession implements SessionInfo {
  readonly id: string;
  readonly carrier: string;
  readonly bindType: BindType;
  private readonly cfg: CarrierConfig;
  private readonly log: Logger;
  private readonly window: SendWindow<RequestOutcome>;
  private readonly tickMs: number;
  private state: SessionState = 'idle';
  private conn: Connection | undefined;
  private seq = 0;
  private attempt = 0;
  private connects = 0;
  private reconnects = 0;
  private boundAt: number | undefined;
  private lastError: SessionHealth['lastError'];
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private enquireInFlight = false;
  private inboundPending = 0;
  private stateWaiters: Array<() => void> = [];
  /** Timed-out tagged requests whose response may still come (same connection only). */
  private late = new Map<number, { tag: string; until: number; command: string }>();
  private readonly faults: Record<PduFault, number> = { undecodable: 0, tlv_skipped: 0, stray_response: 0, unexpected: 0 };
  /** Lines about the SMSC's faults, at most one per event code per interval (a hostile peer sends thousands). */
  private readonly carrierLog: ThrottledLog;

  constructor(private readonly opts: SessionOptions) {
    this.cfg = opts.carrier;
    this.carrier = opts.carrier.id;
    this.bindType = opts.bindType;
    this.id = `${opts.carrier.id}/${BIND_SUFFIX[opts.bindType]}${opts.index}`;
    this.log = opts.logger.child({ carrier: this.carrier, session: this.id });
    this.window = new SendWindow(opts.carrier.window);
    this.carrierLog = new ThrottledLog(this.log, { intervalMs: opts.faultLogIntervalMs });
    const t = opts.carrier.timers;
    // Deadlines are checked by one ticker per session, fine enough for the shortest timer.
    this.tickMs = Math.max(5, Math.min(250, Math.floor(Math.min(t.responseMs, t.enquireLinkMs, t.bindMs) / 5)));
  }

  get currentState(): SessionState {
    return this.state;
  }

  get canSubmit(): boolean {
    return this.state === 'bound' && this.bindType !== 'receiver';
  }

  /** Free window slots (0 unless bound). */
  get freeSlots(): number {
    return this.state === 'bound' ? this.window.free : 0;
  }

  get waitingCallers(): number {
    return this.window.waiting;
  }

  start(): void {
    if (this.state !== 'idle') return;
    void this.connect();
  }

  /** Resolves once the session reaches `state` (or rejects after timeoutMs). For tests and readiness. */
  async waitFor(state: SessionState, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.state !== state) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.id}: still ${this.state} after ${timeoutMs} ms, wanted ${state}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.stateWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * Send a request and wait for its response. Waits for a window slot when the window is
   * full (abort with `signal`). Never throws, but for `beforeSend`: awaited once the slot
   * is held and right before the PDU is written (the caller records that it is about to
   * go); if it throws, the slot is given back, nothing is sent, and the error is thrown.
   */
  async request(command: string, body: Readonly<Record<string, unknown>>, signal?: AbortSignal, tag?: string, beforeSend?: () => Promise<void>): Promise<RequestOutcome> {
    if (this.state !== 'bound') return notSent('SMPP_NOT_BOUND', `session ${this.id} is ${this.state}`);
    try {
      await this.window.reserve(signal);
    } catch (e) {
      return { kind: 'not_sent', error: e instanceof QasidError ? e : new QasidError('SMPP_WINDOW_WAIT_ABORTED') };
    }
    if (beforeSend) {
      try {
        await beforeSend();
      } catch (e) {
        this.window.release();
        throw e;
      }
    }
    if (this.state !== 'bound' || !this.conn) {
      this.window.release();
      return notSent('SMPP_NOT_BOUND', `session ${this.id} is ${this.state}`);
    }
    return this.send(this.conn, command, body, true, this.cfg.timers.responseMs, tag);
  }

  health(): SessionHealth {
    return {
      id: this.id,
      carrier: this.carrier,
      bindType: this.bindType,
      state: this.state,
      windowSize: this.window.size,
      windowUsed: this.window.used,
      waiting: this.window.waiting,
      inflight: this.window.inflightCount,
      boundSince: this.boundAt === undefined ? undefined : new Date(this.boundAt).toISOString(),
      connects: this.connects,
      reconnects: this.reconnects,
      lastError: this.lastError,
      faults: { ...this.faults },
    };
  }

  /**
   * Stop politely: refuse new requests, let in-flight ones finish (up to unbindMs), unbind
   * (up to unbindMs), close. Idempotent: a second call returns the same promise.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  /**
   * Close at once, without waiting for in-flight requests or an unbind_resp: for an
   * instance that lost its bind-slot lease, whose slot another instance may bind any
   * moment. What was in flight is settled `unknown` (see closeWith).
   */
  abort(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.conn) this.closeWith(this.conn, new QasidError('SMPP_STOPPING', 'closed: bind-slot lease lost'), false);
    return this.stop();
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const conn = this.conn;
    if (this.state === 'bound' && conn) {
      this.setState('unbinding', 'stop');
      this.window.rejectWaiters(new QasidError('SMPP_STOPPING'));
      const deadline = Date.now() + this.cfg.timers.unbindMs;
      await waitWhile(() => (this.window.inflightCount > 0 || this.inboundPending > 0) && this.conn === conn, deadline, 10);
      if (this.conn === conn) {
        // SMPP 3.4 §4.2: unbind, wait for unbind_resp, then close.
        await this.send(conn, 'unbind', {}, false, this.cfg.timers.unbindMs);
        this.closeWith(conn, new QasidError('SMPP_STOPPING', 'unbound on stop'), true);
      }
    } else if (conn) {
      this.closeWith(conn, new QasidError('SMPP_STOPPING'), false);
    }
    // A receipt or MO that came in while unbinding is still being recorded: let it finish
    // while the stores are open. Its deliver_sm_resp cannot go back any more, so the SMSC
    // delivers it again later and the handler's idempotence absorbs the copy.
    await waitWhile(() => this.inboundPending > 0, Date.now() + this.cfg.timers.unbindMs, 10);
    // A connect in progress sees `stopping` when it returns and closes itself.
    if (this.state !== 'connecting') this.setState('stopped', 'stop');
    else await this.waitFor('stopped', this.cfg.timers.connectMs + 1000).catch(() => undefined);
  }

  private setState(to: SessionState, reason?: string): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.log.info({ event: 'session.state', from, to, reason }, `${from} -> ${to}`);
    this.opts.observer?.onStateChange?.(this, from, to);
    const waiters = this.stateWaiters;
    this.stateWaiters = [];
    for (const w of waiters) w();
  }

  private async connect(): Promise<void> {
    this.setState('connecting');
    this.connects++;
    const t = this.cfg.timers;
    let conn: Connection;
    try {
      conn = await Connection.open(
        { host: this.cfg.host, port: this.cfg.port, tls: this.cfg.tls, connectMs: t.connectMs, drainMs: t.drainMs },
        {
          onPdu: (pdu) => this.onPdu(conn, pdu),
          onUndecodable: (head, err) => this.onUndecodable(conn, head, err),
          onClose: (err) => this.closeWith(conn, err ?? new QasidError('SMPP_CONNECTION_CLOSED', 'connection closed by peer'), false),
        },
      );
    } catch (e) {
      const err = e instanceof QasidError ? e : new QasidError('SMPP_CONNECTION_CLOSED', errorMessage(e));
      this.noteError(err);
      this.log.warn({ event: 'session.closed', code: err.code, err: err.message }, 'connect failed');
      this.afterClose(err.code);
      return;
    }
    if (this.stopping) {
      conn.destroy();
      this.setState('stopped', 'stop');
      return;
    }
    this.conn = conn;
    this.startTicker();
    this.setState('binding');
    const outcome = await this.send(conn, `bind_${this.bindType}`, this.bindBody(), false, t.bindMs);
    if (this.conn !== conn) return; // closed while binding; closeWith already handled it
    if (outcome.kind !== 'response') {
      const err = new QasidError('SMPP_BIND_TIMEOUT', `no bind response within ${t.bindMs} ms`);
      this.log.warn({ event: 'session.bind_failed', code: err.code }, err.message);
      this.closeWith(conn, err, false);
      return;
    }
    if (outcome.pdu.status !== 0) {
      const name = statusName(outcome.pdu.status);
      const err = new QasidError('SMPP_BIND_REJECTED', `bind rejected: ${name}`, { status: outcome.pdu.status });
      this.log.warn({ event: 'session.bind_failed', code: err.code, status: name }, err.message);
      this.closeWith(conn, err, false);
      return;
    }
    if (this.stopping) {
      this.closeWith(conn, new QasidError('SMPP_STOPPING'), false);
      return;
    }
    this.boundAt = Date.now();
    this.setState('bound');
    this.log.info({ event: 'session.bound', smsc: outcome.pdu.body.system_id, latencyMs: outcome.latencyMs }, 'bound');
  }

  private bindBody(): Record<string, unknown> {
    const a = this.cfg.addressing;
    const ranged = a.addressRange !== '';
    return {
      system_id: this.cfg.systemId,
      password: this.cfg.password.reveal(),
      system_type: this.cfg.systemType,
      interface_version: this.cfg.interfaceVersion,
      addr_ton: ranged ? a.sourceTon : 0,
      addr_npi: ranged ? a.sourceNpi : 0,
      address_range: a.addressRange,
    };
  }

  private nextSeq(): number {
    // SMPP 3.4 §5.1.4: 0x00000001..0x7FFFFFFF, then wrap.
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  private send(conn: Connection, command: string, body: Readonly<Record<string, unknown>>, counted: boolean, timeoutMs: number, tag?: string): Promise<RequestOutcome> {
    const seq = this.nextSeq();
    let bytes: Buffer;
    try {
      bytes = encodePdu(command, seq, body);
    } catch (e) {
      if (counted) this.window.release();
      return Promise.resolve(notSent('SMPP_ENCODE_FAILED', `cannot encode ${command}: ${errorMessage(e)}`));
    }
    return new Promise<RequestOutcome>((resolve) => {
      const sentAt = Date.now();
      const entry: InFlight<RequestOutcome> = { seq, command, sentAt, deadline: sentAt + timeoutMs, counted, written: false, settle: resolve, tag };
      this.window.add(entry);
      const queued = conn.send(bytes, () => {
        entry.written = true;
      });
      if (!queued) {
        this.window.complete(seq);
        resolve(notSent('SMPP_CONNECTION_CLOSED', 'connection closed before the request was written'));
      }
    });
  }

  private onPdu(conn: Connection, pdu: Pdu): void {
    if (this.conn !== conn) return;
    if (pdu.malformedTlvs !== undefined) {
      this.fault('tlv_skipped', pdu.command);
      this.carrierLog.log('warn', { event: 'session.tlv_skipped', command: pdu.command, tlvs: pdu.malformedTlvs }, 'TLVs that cannot be read as their type were left out; the rest of the PDU is used');
    }
    if (isResponseId(pdu.commandId) || pdu.command === 'generic_nack') {
      this.onResponse(pdu);
      return;
    }
    switch (pdu.command) {
      case 'enquire_link':
        conn.send(encodeResponse(pdu));
        return;
      case 'unbind':
        // SMPP 3.4 §4.2.2: answer, then the SMSC closes; we reconnect after backoff.
        this.log.warn({ event: 'session.peer_unbind' }, 'SMSC unbound the session');
        conn.send(encodeResponse(pdu));
        this.closeWith(conn, new QasidError('SMPP_PEER_UNBOUND'), true);
        return;
      case 'deliver_sm':
      case 'data_sm':
        void this.onDeliver(conn, pdu);
        return;
      case 'alert_notification':
        // SMPP 3.4 §4.12: no response is sent.
        return;
      default:
        this.fault('unexpected', pdu.command);
        this.carrierLog.log('warn', { event: 'session.unexpected_pdu', command: pdu.command, commandId: hexId(pdu.commandId) }, 'unsupported request answered with generic_nack');
        conn.send(encodePdu('generic_nack', pdu.seq, {}, ESME_RINVCMDID));
    }
  }

  /**
   * A PDU whose framing is intact but whose body could not be decoded. The session
   * survives it (the next frame starts where this one ends) and answers by the header: a
   * response settles its request (onResponse), a request is answered as faults.ts decides.
   */
  private onUndecodable(conn: Connection, head: Pdu, error: QasidError): void {
    if (this.conn !== conn) return;
    this.fault('undecodable', head.command);
    const cause = error.cause instanceof Error ? error.cause.message : undefined;
    this.carrierLog.log('warn', { event: 'session.undecodable_pdu', command: head.command, commandId: hexId(head.commandId), seq: head.seq, status: statusName(head.status), err: cause }, 'PDU body cannot be decoded; answered by its header, the session carries on');
    if (isResponseId(head.commandId) || head.command === 'generic_nack') {
      this.onResponse(head, error);
      return;
    }
    const action = undecodableRequest(head);
    if (action.kind === 'handle') this.onPdu(conn, head);
    else if (action.kind === 'reply') conn.send(action.bytes);
  }

  /**
   * A response: it answers the request in flight under its sequence number only if it is
   * that request's own response (or generic_nack, valid for any request, SMPP 3.4 §4.3).
   * `undecodable` is set when only the header could be read: it settles its request by
   * status, except that an OK answer whose message_id is lost leaves a submit `unknown`.
   */
  private onResponse(pdu: Pdu, undecodable?: QasidError): void {
    const waiting = this.window.peek(pdu.seq);
    if (waiting !== undefined && !answers(waiting.command, pdu)) {
      this.fault('stray_response', pdu.command);
      this.carrierLog.log(
        'warn',
        { event: 'session.unexpected_pdu', reason: 'wrong_command', command: pdu.command, request: waiting.command, seq: pdu.seq, status: statusName(pdu.status) },
        'response carries the sequence number of a request of another command; ignored',
      );
      return;
    }
    const entry = waiting === undefined ? undefined : this.window.complete(pdu.seq);
    if (!entry) {
      const late = this.late.get(pdu.seq);
      if (late !== undefined && answers(late.command, pdu)) {
        this.late.delete(pdu.seq);
        this.log.warn({ event: 'session.late_response', command: pdu.command, status: statusName(pdu.status), undecodable: undecodable !== undefined || undefined }, 'response after its deadline; handed back');
        if (undecodable === undefined) this.opts.onLateResponse?.(late.tag, pdu, this);
        return;
      }
      // A response after its deadline (already settled as unknown), or to nothing at all.
      this.fault('stray_response', pdu.command);
      this.carrierLog.log(
        'warn',
        { event: pdu.command === 'generic_nack' ? 'session.generic_nack' : 'session.unexpected_pdu', reason: 'no_request', command: pdu.command, seq: pdu.seq, status: statusName(pdu.status) },
        'response matches no request in flight',
      );
      return;
    }
    if (pdu.command === 'generic_nack') {
      this.carrierLog.log('warn', { event: 'session.generic_nack', request: entry.command, status: statusName(pdu.status) }, 'SMSC answered generic_nack');
    }
    if (undecodable !== undefined && pdu.status === 0 && needsBody(entry.command)) {
      // The SMSC accepted it (status 0) and its message_id cannot be read: it has the
      // message, and no receipt can be matched to it. Exactly what `unknown` means.
      entry.settle({ kind: 'unknown', error: new QasidError('SMPP_DECODE_FAILED', `${pdu.command} with status 0 whose body cannot be decoded`, { seq: pdu.seq }) });
      return;
    }
    const latencyMs = Date.now() - entry.sentAt;
    this.opts.observer?.onResponse?.(this, entry.command, pdu.status, latencyMs);
    entry.settle({ kind: 'response', pdu, latencyMs });
  }

  private fault(kind: PduFault, command: string): void {
    this.faults[kind]++;
    this.opts.observer?.onPduFault?.(this, kind, command);
  }

  private async onDeliver(conn: Connection, pdu: Pdu): Promise<void> {
    this.inboundPending++;
    let status = ESME_RX_T_APPN;
    try {
      if (this.opts.onDeliver) status = await this.opts.onDeliver(pdu, this);
      else this.log.warn({ event: 'session.unexpected_pdu', command: pdu.command }, 'no handler for deliver_sm; asking the SMSC to retry');
    } catch (e) {
      // Not recorded, so not acknowledged: the SMSC will deliver it again.
      this.log.error({ event: 'session.unexpected_pdu', command: pdu.command, err: errorMessage(e) }, 'deliver handler failed; asking the SMSC to retry');
      status = ESME_RX_T_APPN;
    } finally {
      this.inboundPending--;
    }
    if (conn.isOpen) conn.send(encodeResponse(pdu, status));
  }

  /**
   * Remember a timed-out tagged request for LATE_RESPONSE_MS, so its response, if it
   * comes, is handed back rather than dropped. Bounded; oldest forgotten first.
   */
  private rememberLate(seq: number, tag: string, command: string, now: number): void {
    for (const [s, l] of this.late) {
      if (l.until > now && this.late.size < LATE_MAX) break;
      this.late.delete(s);
    }
    this.late.set(seq, { tag, until: now + LATE_RESPONSE_MS, command });
  }

  private startTicker(): void {
    this.stopTicker();
    this.ticker = setInterval(() => this.tick(), this.tickMs);
    this.ticker.unref();
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private tick(): void {
    const conn = this.conn;
    if (!conn) return;
    const now = Date.now();
    this.carrierLog.flush();
    const expired = this.window.expire(now);
    if (expired.length > 0) {
      let unknown = 0;
      for (const entry of expired) {
        const error = new QasidError('SMPP_RESPONSE_TIMEOUT', `no ${entry.command}_resp within ${now - entry.sentAt} ms`, { seq: entry.seq });
        if (entry.written) unknown++;
        if (entry.written && entry.tag !== undefined) this.rememberLate(entry.seq, entry.tag, entry.command, now);
        this.opts.observer?.onTimeout?.(this, entry.command);
        entry.settle(entry.written ? { kind: 'unknown', error } : { kind: 'not_sent', error });
      }
      this.log.warn({ event: 'session.request_timeout', count: expired.length, unknown, first: expired[0]?.command }, 'requests timed out');
    }
    if (this.state !== 'bound' || this.conn !== conn) return;
    const t = this.cfg.timers;
    const quietFor = now - conn.lastReceivedAt;
    if (quietFor >= t.inactivityMs) {
      this.closeWith(conn, new QasidError('SMPP_INACTIVITY', `nothing received for ${quietFor} ms`), false);
    } else if (quietFor >= t.enquireLinkMs && !this.enquireInFlight) {
      this.enquireInFlight = true;
      void this.send(conn, 'enquire_link', {}, false, t.responseMs).then((outcome) => {
        this.enquireInFlight = false;
        if (outcome.kind !== 'response' && this.conn === conn) {
          this.closeWith(conn, new QasidError('SMPP_ENQUIRE_LINK_TIMEOUT'), false);
        }
      });
    }
  }

  /**
   * The one place a connection is let go: settle everything in flight, note why, and
   * either stop or schedule a reconnect. Safe to call more than once per connection.
   */
  private closeWith(conn: Connection, error: QasidError, graceful: boolean): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.stopTicker();
    this.enquireInFlight = false;
    if (graceful) conn.end();
    else conn.destroy(error);
    const returned = this.window.drain(error);
    this.late.clear();
    this.carrierLog.flush();
    let unknown = 0;
    for (const entry of returned) {
      if (entry.written) unknown++;
      entry.settle(entry.written ? { kind: 'unknown', error } : { kind: 'not_sent', error });
    }
    if (returned.length > 0) {
      this.log.warn({ event: 'session.inflight_returned', count: returned.length, unknown, notSent: returned.length - unknown, code: error.code }, 'in-flight requests handed back');
    }
    const wasBound = this.boundAt !== undefined;
    const boundFor = wasBound ? Date.now() - (this.boundAt as number) : 0;
    this.boundAt = undefined;
    if (error.code !== 'SMPP_STOPPING') this.noteError(error);
    const level = this.stopping ? 'info' : 'warn';
    this.log[level]({ event: 'session.closed', code: error.code, err: error.message, boundForMs: wasBound ? boundFor : undefined }, 'connection closed');
    this.opts.observer?.onClose?.(this, error.code);
    // A session that stayed up for a while starts its backoff afresh.
    if (wasBound && boundFor >= this.cfg.timers.reconnectMaxMs) this.attempt = 0;
    this.afterClose(error.code);
  }

  private afterClose(code: ErrorCode): void {
    if (this.stopping) {
      this.setState('stopped', code);
      return;
    }
    // Jittered from the first attempt on: sessions dropped together (an SMSC restart) must
    // not reconnect together.
    const delay = reconnectDelay({ minMs: this.cfg.timers.reconnectMinMs, maxMs: this.cfg.timers.reconnectMaxMs }, this.attempt++, this.opts.random);
    this.setState('backoff', code);
    this.log.info({ event: 'session.reconnect_scheduled', delayMs: delay, attempt: this.attempt }, `reconnect in ${delay} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stopping) return;
      this.reconnects++;
      void this.connect();
    }, delay);
  }

  private noteError(error: QasidError): void {
    this.lastError = { code: error.code, message: error.message, at: new Date().toISOString() };
  }
}

function notSent(code: ErrorCode, message: string): RequestOutcome {
  return { kind: 'not_sent', error: new QasidError(code, message) };
}
