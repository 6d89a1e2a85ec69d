/**
 * One client connection to the simulator: framing, bind state, the per-PDU behaviour
 * knobs, and batched output (every PDU produced in one tick leaves in one write).
 * Listener-wide decisions (ids, TPS, receipt routing) belong to the SimHost.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { COMMAND_STATUS, bodyNumber, bodyString, decodePdu, encodePdu, encodeResponse, isResponseId, parseSmppTime, statusName, type Pdu } from '../smpp/codec.js';
import { Framer } from '../smpp/framer.js';
import type { SimBehaviour } from './behaviour.js';
import type { SimStats } from './stats.js';
import type { HostilePdus } from './fuzz.js';
import { CMD, MALFORMED_FRAME, OutBuffer, newSubmitScan, scanSubmit, writeHeader, writeReceipt, writeSubmitResp, type PendingReceipt, type SubmitScan } from './wire.js';

export type BindMode = 'transmitter' | 'receiver' | 'transceiver';

const BIND_MODES: Readonly<Record<string, BindMode>> = {
  bind_transmitter: 'transmitter',
  bind_receiver: 'receiver',
  bind_transceiver: 'transceiver',
};

const ST = {
  ROK: 0,
  RINVCMDID: COMMAND_STATUS.ESME_RINVCMDID ?? 0x03,
  RINVBNDSTS: COMMAND_STATUS.ESME_RINVBNDSTS ?? 0x04,
  RALYBND: COMMAND_STATUS.ESME_RALYBND ?? 0x05,
  RINVPASWD: COMMAND_STATUS.ESME_RINVPASWD ?? 0x0e,
  RTHROTTLED: COMMAND_STATUS.ESME_RTHROTTLED ?? 0x58,
  RINVEXPIRY: COMMAND_STATUS.ESME_RINVEXPIRY ?? 0x62,
  RINVMSGID: COMMAND_STATUS.ESME_RINVMSGID ?? 0x0c,
} as const;

/** One submit_sm as the simulator read it (SimListenerOptions.onSubmit). */
export interface SubmitSeen {
  /** system_id of the session it came on. */
  readonly systemId: string;
  readonly sourceAddr: string;
  /** source_addr_ton and source_addr_npi as sent (SMPP 3.4 §5.2.5–6). */
  readonly sourceTon: number;
  readonly sourceNpi: number;
  readonly destinationAddr: string;
  /** validity_period as written, without its NUL; '' = none (the SMSC's default applies). */
  readonly validityPeriod: string;
  /**
   * When its validity ends as this SMSC reads validity_period (SMPP 3.4 §7.1.1), in ms
   * since the epoch: null when empty; undefined when malformed (answered ESME_RINVEXPIRY).
   */
  readonly validUntil: number | null | undefined;
  readonly registeredDelivery: number;
  readonly dataCoding: number;
  /** Date.now() when it was read. */
  readonly receivedAt: number;
}

/** Unacknowledged receipts remembered per connection; a client that never answers must not grow this forever (the oldest are forgotten). */
const MAX_UNACKED_RECEIPTS = 100_000;

/** After sending FIN, how long the client gets to close its side before the socket is destroyed. */
const END_GRACE_MS = 1000;

/** What a connection needs from its listener. */
export interface SimHost {
  readonly name: string;
  readonly behaviour: Readonly<SimBehaviour>;
  readonly stats: SimStats;
  readonly logger: Logger;
  /** Told of every submit_sm read on a bound session, before it is answered (tests read what arrived). */
  readonly onSubmit: ((s: SubmitSeen) => void) | undefined;
  /** TPS cap: false when this submit is over it. */
  takeThrottleToken(): boolean;
  /** submitError: the status to answer this submit with, or 0. */
  submitErrorStatus(): number;
  /** A new message id, and the receipt record when one is wanted (null otherwise). */
  acceptMessage(conn: SimConnection, frame: Buffer, scan: SubmitScan): { id: string; receipt: PendingReceipt | null };
  /** Route a receipt now (early receipts) or after receipts.delayMs. */
  dispatchReceipt(receipt: PendingReceipt, origin: SimConnection, delayMs: number): void;
  /** Send a submit_sm_resp (and its receipt) after responseDelayMs. */
  delayResponse(conn: SimConnection, seq: number, id: string, receipt: PendingReceipt | null): void;
  sessionBound(conn: SimConnection): void;
  sessionLeft(conn: SimConnection): void;
  /**
   * query_sm for `messageId` from `systemId` (SMPP 3.4 §4.8): the message's state, or
   * undefined when this listener did not accept such a message.
   */
  queryMessage(systemId: string, messageId: string, sourceAddr: string): { state: number; finalDate: string; errorCode: number } | undefined;
  /** Receipts this connection wrote but never saw acknowledged, when it closes: deliver them again. */
  redeliver(receipts: PendingReceipt[], origin: SimConnection): void;
}

export class SimConnection {
  readonly remote: string;
  systemId = '';
  mode: BindMode | null = null;
  interfaceVersion = 0;
  /** Set once the simulator sent unbind: later submits get ESME_RINVBNDSTS. */
  private unbindSent = false;
  private malformedSent = false;
  private closing = false;
  private closed = false;
  private pdus = 0;
  private seq = 0;
  private flushPending = false;
  private paused = false;
  private readonly framer = new Framer();
  private readonly out = new OutBuffer();
  private readonly scan = newSubmitScan();
  /** Receipts written and not yet acknowledged, by sequence number: redelivered if the connection closes. */
  private readonly unackedReceipts = new Map<number, PendingReceipt>();

  constructor(
    private readonly socket: Socket,
    private readonly host: SimHost,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (this.paused) {
        this.paused = false;
        socket.resume();
      }
    });
    socket.on('error', () => {
      // 'close' follows; a reset by the client is normal for a simulator.
    });
    socket.on('close', () => this.onClose());
  }

  get isOpen(): boolean {
    return !this.closed && !this.closing;
  }

  get bound(): boolean {
    return this.mode !== null && !this.unbindSent && this.isOpen;
  }

  get canReceive(): boolean {
    return this.bound && this.mode !== 'transmitter';
  }

  /** Write raw bytes after whatever is already queued. */
  sendRaw(bytes: Buffer): void {
    if (this.closed) return;
    this.out.append(bytes);
    this.flush();
  }

  sendReceipt(r: PendingReceipt): void {
    const seq = this.nextSeq();
    writeReceipt(this.out, seq, r, Date.now());
    if (this.unackedReceipts.size >= MAX_UNACKED_RECEIPTS) this.unackedReceipts.delete(this.unackedReceipts.keys().next().value as number);
    this.unackedReceipts.set(seq, r);
    this.host.stats.receiptsSent++;
    this.scheduleFlush();
  }

  /** One hostile PDU from `pdus` (fuzz); requests take this connection's next sequence number. */
  sendHostile(pdus: HostilePdus): void {
    if (!this.isOpen) return;
    const { kind, bytes } = pdus.next(() => this.nextSeq());
    this.out.append(bytes);
    this.host.stats.fuzzSent++;
    // Everything but a stray response and alert_notification (SMPP 3.4 §4.12) wants an answer.
    if (kind !== 'stray_response' && bytes.readUInt32BE(4) !== 0x00000102) this.host.stats.fuzzRequestsSent++;
    this.scheduleFlush();
  }

  /** An MO deliver_sm (rare path: the codec encodes it). */
  sendMo(body: Record<string, unknown>): void {
    this.out.append(encodePdu('deliver_sm', this.nextSeq(), body));
    this.host.stats.moSent++;
    this.scheduleFlush();
  }

  /** The submit_sm_resp of an accepted message; an early receipt goes out first, otherwise the receipt is scheduled. */
  sendSubmitOk(seq: number, id: string, receipt: PendingReceipt | null): void {
    const b = this.host.behaviour;
    if (receipt && b.receipts.early) this.host.dispatchReceipt(receipt, this, 0);
    if (!this.closed) {
      writeSubmitResp(this.out, seq, 0, id);
      this.scheduleFlush();
    }
    this.host.stats.submitOk++;
    if (receipt && !b.receipts.early) this.host.dispatchReceipt(receipt, this, b.receipts.delayMs);
  }

  destroy(): void {
    if (this.closed) return;
    this.closing = true;
    this.socket.destroy();
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0x7fffffff ? 1 : this.seq + 1;
    return this.seq;
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    const { frames, error } = this.framer.push(chunk);
    for (const frame of frames) {
      if (this.closing) return;
      this.handle(frame);
    }
    if (error) this.protocolError('frame');
  }

  private protocolError(reason: string): void {
    this.host.stats.protocolErrors++;
    this.host.logger.info({ event: 'sim.session', sim: this.host.name, action: 'protocol_error', reason, remote: this.remote }, 'client sent invalid SMPP; closing');
    this.destroy();
  }

  private handle(frame: Buffer): void {
    const b = this.host.behaviour;
    this.pdus++;
    if (b.dropAfterPdus > 0 && this.pdus >= b.dropAfterPdus) {
      this.host.logger.info({ event: 'sim.session', sim: this.host.name, action: 'dropped', pdus: this.pdus, remote: this.remote }, 'dropping connection (dropAfterPdus)');
      // What was answered before this PDU still goes out; this PDU and everything after it is ignored.
      this.endAfterFlush();
      return;
    }
    const id = frame.readUInt32BE(4);
    const seq = frame.readUInt32BE(12);
    if (b.strayResponses && this.mode !== null && (id === CMD.SUBMIT_SM || id === CMD.ENQUIRE_LINK)) this.writeStray(id, seq);
    if (isResponseId(id)) this.handleResponse(id, seq, frame.readUInt32BE(8));
    else if (b.blackholeAll && this.mode !== null) this.host.stats.blackholed++;
    else if (id === CMD.SUBMIT_SM) this.handleSubmit(frame, seq);
    else if (id === CMD.ENQUIRE_LINK) {
      this.host.stats.enquireLinks++;
      writeHeader(this.out, CMD.ENQUIRE_LINK_RESP, 0, seq);
      this.scheduleFlush();
    } else this.handleOther(frame);
    if (this.closing) return;
    if (b.malformedAfterPdus > 0 && !this.malformedSent && this.pdus >= b.malformedAfterPdus) {
      this.malformedSent = true;
      this.out.append(MALFORMED_FRAME);
      this.scheduleFlush();
    }
    if (b.unbindAfterPdus > 0 && this.bound && this.pdus >= b.unbindAfterPdus) {
      this.unbindSent = true;
      this.host.stats.unbindsSent++;
      this.host.sessionLeft(this);
      writeHeader(this.out, CMD.UNBIND, 0, this.nextSeq());
      this.scheduleFlush();
    }
  }

  /** strayResponses: a response of another command under the request's sequence number, written before the real answer. */
  private writeStray(requestId: number, seq: number): void {
    if (requestId === CMD.ENQUIRE_LINK) writeSubmitResp(this.out, seq, 0, 'stray');
    else writeHeader(this.out, CMD.ENQUIRE_LINK_RESP, 0, seq);
    this.host.stats.strayResponsesSent++;
    this.scheduleFlush();
  }

  private handleResponse(id: number, seq: number, status: number): void {
    const stats = this.host.stats;
    stats.responsesReceived++;
    if (id === CMD.DELIVER_SM_RESP) {
      stats.deliverResps++;
      if (this.unackedReceipts.delete(seq)) stats.receiptsAcked++;
      if (status !== 0) {
        stats.deliverRespErrors++;
        const name = statusName(status);
        stats.deliverRespStatus[name] = (stats.deliverRespStatus[name] ?? 0) + 1;
      }
    } else if (id === CMD.GENERIC_NACK) {
      stats.genericNacks++;
    } else if (id === CMD.UNBIND_RESP && this.unbindSent) {
      this.endAfterFlush();
    }
  }

  private submitError(seq: number, status: number): void {
    const errors = this.host.stats.submitErrors;
    const name = statusName(status);
    errors[name] = (errors[name] ?? 0) + 1;
    writeSubmitResp(this.out, seq, status, '');
    this.scheduleFlush();
  }

  private handleSubmit(frame: Buffer, seq: number): void {
    const host = this.host;
    const b = host.behaviour;
    host.stats.submits++;
    if (!scanSubmit(frame, this.scan)) {
      this.protocolError('submit_sm');
      return;
    }
    if (this.mode === null || this.mode === 'receiver' || this.unbindSent) {
      this.submitError(seq, ST.RINVBNDSTS);
      return;
    }
    const sc = this.scan;
    // Most submits carry no validity_period: then nothing is read or allocated for it.
    let validity = '';
    let validUntil: number | null | undefined = null;
    if (sc.validityEnd > sc.validityStart) {
      host.stats.validityPeriods++;
      validity = frame.toString('latin1', sc.validityStart, sc.validityEnd);
      validUntil = parseSmppTime(validity, Date.now());
    }
    if (host.onSubmit) {
      host.onSubmit({
        systemId: this.systemId,
        sourceAddr: frame.toString('latin1', sc.srcStart, sc.srcEnd),
        sourceTon: frame[sc.srcStart - 2] ?? 0,
        sourceNpi: frame[sc.srcStart - 1] ?? 0,
        destinationAddr: frame.toString('latin1', sc.dstStart, sc.dstEnd),
        validityPeriod: validity,
        validUntil,
        registeredDelivery: sc.registeredDelivery,
        dataCoding: sc.dataCoding,
        receivedAt: Date.now(),
      });
    }
    if (b.blackhole) {
      host.stats.blackholed++;
      return;
    }
    if (b.tps > 0 && !host.takeThrottleToken()) {
      host.stats.throttled++;
      this.submitError(seq, ST.RTHROTTLED);
      return;
    }
    // SMPP 3.4 §7.1.1: a validity_period that is neither absolute nor relative is refused.
    if (validUntil === undefined) {
      this.submitError(seq, ST.RINVEXPIRY);
      return;
    }
    const error = host.submitErrorStatus();
    if (error !== 0) {
      this.submitError(seq, error);
      return;
    }
    const { id, receipt } = host.acceptMessage(this, frame, this.scan);
    if (b.responseDelayMs > 0) host.delayResponse(this, seq, id, receipt);
    else this.sendSubmitOk(seq, id, receipt);
  }

  private handleOther(frame: Buffer): void {
    let pdu: Pdu;
    try {
      pdu = decodePdu(frame);
    } catch {
      this.protocolError('decode');
      return;
    }
    const mode = BIND_MODES[pdu.command];
    if (mode) {
      this.handleBind(pdu, mode);
    } else if (pdu.command === 'unbind') {
      // SMPP 3.4 §4.2: answer unbind_resp, then the SMSC closes the connection.
      this.host.stats.unbinds++;
      this.out.append(encodeResponse(pdu));
      if (this.mode !== null) this.host.sessionLeft(this);
      this.mode = null;
      this.endAfterFlush();
    } else if (pdu.command === 'query_sm' && this.host.behaviour.queries !== 'refuse') {
      this.handleQuery(pdu);
    } else if (pdu.command === 'unknown') {
      this.host.stats.genericNacksSent++;
      this.out.append(encodeResponse(pdu, ST.RINVCMDID));
      this.scheduleFlush();
    } else {
      // A known request the simulator does not implement (query_sm, data_sm, submit_multi, …).
      this.out.append(encodeResponse(pdu, ST.RINVCMDID));
      this.scheduleFlush();
    }
  }

  /** SMPP 3.4 §4.8.2: query_sm_resp with message_id, final_date, message_state, error_code. */
  private handleQuery(pdu: Pdu): void {
    const stats = this.host.stats;
    stats.queries++;
    if (this.host.behaviour.queries === 'ignore') return;
    let status: number = ST.ROK;
    let found: ReturnType<SimHost['queryMessage']>;
    if (this.mode === null || this.mode === 'receiver') status = ST.RINVBNDSTS;
    else {
      const messageId = bodyString(pdu, 'message_id') ?? '';
      found = this.host.queryMessage(this.systemId, messageId, bodyString(pdu, 'source_addr') ?? '');
      if (found === undefined) status = ST.RINVMSGID;
    }
    if (found !== undefined) stats.queriesAnswered++;
    this.out.append(
      encodeResponse(pdu, status, found === undefined ? {} : { message_id: bodyString(pdu, 'message_id') ?? '', final_date: found.finalDate, message_state: found.state, error_code: found.errorCode }),
    );
    this.scheduleFlush();
  }

  private handleBind(pdu: Pdu, mode: BindMode): void {
    const b = this.host.behaviour;
    const systemId = bodyString(pdu, 'system_id') ?? '';
    let status: number = ST.ROK;
    if (this.mode !== null) status = ST.RALYBND;
    else if (b.bindFail) status = b.bindFail.status;
    else if (b.credentials && (b.credentials.systemId !== systemId || b.credentials.password !== (bodyString(pdu, 'password') ?? ''))) status = ST.RINVPASWD;
    if (status !== ST.ROK) {
      this.host.stats.bindFailures++;
      this.out.append(encodeResponse(pdu, status));
      this.scheduleFlush();
      this.host.logger.info({ event: 'sim.session', sim: this.host.name, action: 'bind_rejected', status: statusName(status), remote: this.remote }, 'bind rejected');
      return;
    }
    this.mode = mode;
    this.systemId = systemId;
    this.interfaceVersion = bodyNumber(pdu, 'interface_version') ?? 0;
    this.host.stats.binds++;
    this.out.append(encodeResponse(pdu, 0, { system_id: 'qasid-sim', sc_interface_version: 0x34 }));
    this.scheduleFlush();
    this.host.logger.info({ event: 'sim.session', sim: this.host.name, action: 'bound', mode, systemId, remote: this.remote }, 'session bound');
    this.host.sessionBound(this);
  }

  /**
   * Flush, send FIN and ignore further input. Destroying at once could reset the
   * connection and lose responses the client has not read yet; the client's own close
   * (or the fallback timer) finishes it.
   */
  private endAfterFlush(): void {
    if (this.closing) return;
    this.closing = true;
    this.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  private scheduleFlush(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    setImmediate(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.flushPending = false;
    this.flush();
  };

  private flush(): void {
    const bytes = this.out.take();
    if (!bytes || this.closed || this.socket.destroyed || this.socket.writableEnded) return;
    // Backpressure: stop reading from a client that does not read what we write.
    if (!this.socket.write(bytes) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    if (this.mode !== null && !this.unbindSent) this.host.sessionLeft(this);
    if (this.unackedReceipts.size > 0) {
      const waiting = [...this.unackedReceipts.values()];
      this.unackedReceipts.clear();
      this.host.redeliver(waiting, this);
    }
    this.host.logger.info({ event: 'sim.session', sim: this.host.name, action: 'closed', systemId: this.systemId, remote: this.remote }, 'connection closed');
  }
}
