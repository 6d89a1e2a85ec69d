/**
 * The SMSC simulator's listener: accepts connections (TCP or TLS), owns the
 * listener-wide state — message ids, TPS bucket, receipt routing and hold queues — and
 * exposes the control surface tests drive (setBehaviour, injectMo, dropAll, …).
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { errorMessage } from '../core/errors.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { DEFAULT_BEHAVIOUR, MESSAGE_STATE, mergeBehaviour, resolvePreset, type ReceiptStat, type SimBehaviour, type SimBehaviourPatch } from './behaviour.js';
import { smppAbsoluteTime } from '../smpp/codec.js';
import { SimConnection, type BindMode, type SimHost, type SubmitSeen } from './connection.js';
import { HostilePdus } from './fuzz.js';
import { BucketScheduler, TokenBucket } from './scheduler.js';
import { newStats, type SimStats } from './stats.js';
import { moBodies, type MoOptions } from './mo.js';
import type { PendingReceipt, SubmitScan } from './wire.js';

export interface SimListenerOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 (the default) picks a free one — read it back from SimServer.port. */
  port?: number;
  /** Name in logs and stats lines; default the preset's name, else 'sim'. */
  name?: string;
  /** A preset from PRESETS (case-insensitive, `SMSC` suffix optional); default HappySMSC. */
  preset?: string;
  /** Overrides applied on top of the preset. */
  behaviour?: SimBehaviourPatch;
  /** Serve SMPP over TLS with this key and certificate (PEM). */
  tls?: { key: Buffer | string; cert: Buffer | string };
  logger?: Logger;
  /** Told of every submit_sm read on a bound session (its addresses, validity_period …), before it is answered. */
  onSubmit?: (s: SubmitSeen) => void;
}

export interface SimServer {
  readonly port: number;
  readonly host: string;
  readonly name: string;
  /** Live counters. */
  readonly stats: SimStats;
  /** The behaviour in force now. */
  readonly behaviour: Readonly<SimBehaviour>;
  /** Change behaviour at run time; `receipts` merges field by field. Applies to the next PDU. */
  setBehaviour(patch: SimBehaviourPatch): void;
  /**
   * Deliver an MO once, as an SMSC does: on one bound receiver/transceiver (round robin
   * over them), every part of a long MO on the same one. Returns how many deliver_sm went
   * out (0 when no receiver is bound: nothing is sent).
   */
  injectMo(mo: MoOptions): number;
  /** Write raw bytes to every connection (malformed-PDU tests). */
  sendRawToAll(bytes: Buffer): void;
  /** Destroy every connection. */
  dropAll(): void;
  /** Open connections. */
  connections(): number;
  boundSessions(): Array<{ systemId: string; mode: BindMode; interfaceVersion: number }>;
  /** Close the listener and every connection; idempotent. */
  close(): Promise<void>;
}

/** A receipt plus where its submit came from, for routing. */
interface RoutedReceipt {
  receipt: PendingReceipt;
  origin: SimConnection;
}

/** Octets of the original message copied into the receipt's `text:` field (SMPP 3.4 Appendix B). */
const RECEIPT_TEXT_OCTETS = 20;
/** Message ids start here so decimal and hex renderings differ visibly (1000000000 = 0x3b9aca00). */
const FIRST_MESSAGE_ID = 1_000_000_000;
/** Accepted messages remembered for query_sm, per listener; the oldest are forgotten first. */
const MAX_REMEMBERED = 100_000;
/** The fuzzer's pacing tick, ms. */
const FUZZ_TICK_MS = 10;

class Simulator implements SimHost, SimServer {
  readonly stats = newStats();
  behaviour: Readonly<SimBehaviour>;
  port = 0;
  private readonly conns = new Set<SimConnection>();
  /** Bound receivers/transceivers by system_id, for receipt routing (round robin). */
  private readonly receivers = new Map<string, SimConnection[]>();
  private readonly held = new Map<string, PendingReceipt[]>();
  private readonly receiptTimer = new BucketScheduler<RoutedReceipt>((items) => this.fireReceipts(items));
  private readonly responseTimer = new BucketScheduler<{ conn: SimConnection; seq: number; id: string; receipt: PendingReceipt | null }>((items) => {
    for (const r of items) r.conn.sendSubmitOk(r.seq, r.id, r.receipt);
  });
  private bucket: TokenBucket | null = null;
  private nextId = FIRST_MESSAGE_ID;
  private submitCount = 0;
  private receiptCount = 0;
  private rr = 0;
  /** What query_sm is answered from: accepted messages by id (insertion order = age). */
  private readonly accepted = new Map<string, { systemId: string; src: string; stat: ReceiptStat; err: number; doneAt: number }>();
  /** Round robin of injected MOs over the receiving sessions, and the next long MO's reference. */
  private moRr = -1;
  private moRef = 1;
  /** Fuzzing: the generator and the timer that paces it, while behaviour.fuzz is set. */
  private fuzz: { pdus: HostilePdus; timer: NodeJS.Timeout; last: number; owed: number; next: number } | null = null;
  private closing: Promise<void> | null = null;
  private readonly server: net.Server;

  constructor(
    readonly name: string,
    readonly host: string,
    behaviour: Readonly<SimBehaviour>,
    readonly logger: Logger,
    tlsOpts: SimListenerOptions['tls'],
    readonly onSubmit: SimListenerOptions['onSubmit'],
  ) {
    this.behaviour = behaviour;
    this.resetBucket();
    this.resetFuzz(null);
    const accept = (socket: net.Socket): void => this.accept(socket);
    if (tlsOpts) {
      const server = tls.createServer({ key: tlsOpts.key, cert: tlsOpts.cert }, accept);
      server.on('tlsClientError', (err) => {
        this.logger.info({ event: 'sim.session', sim: this.name, action: 'tls_error', err: errorMessage(err) }, 'TLS handshake failed');
      });
      this.server = server;
    } else {
      this.server = net.createServer(accept);
    }
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    this.logger.info({ event: 'sim.listening', sim: this.name, host: this.host, port: this.port, tls: this.server instanceof tls.Server }, 'SMSC simulator listening');
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn = new SimConnection(socket, this);
    this.conns.add(conn);
    this.stats.connections++;
    socket.once('close', () => this.conns.delete(conn));
    this.logger.info({ event: 'sim.session', sim: this.name, action: 'connected', remote: conn.remote }, 'connection accepted');
  }

  private resetBucket(): void {
    const { tps, tpsBurst } = this.behaviour;
    this.bucket = tps > 0 ? new TokenBucket(tps, performance.now(), tpsBurst > 0 ? tpsBurst : undefined) : null;
  }

  // ---- SimHost -------------------------------------------------------------

  takeThrottleToken(): boolean {
    return this.bucket === null || this.bucket.take(performance.now());
  }

  submitErrorStatus(): number {
    const e = this.behaviour.submitError;
    if (!e) return 0;
    this.submitCount++;
    return this.submitCount % (e.every ?? 1) === 0 ? e.status : 0;
  }

  acceptMessage(conn: SimConnection, frame: Buffer, s: SubmitScan): { id: string; receipt: PendingReceipt | null } {
    const b = this.behaviour;
    const n = this.nextId++;
    let id: string;
    if (b.messageIdFormat === 'uuid') id = randomUUID();
    else id = b.messageIdFormat === 'hex' ? n.toString(16) : String(n);
    const r = b.receipts;
    const remember = (stat: ReceiptStat): void => {
      if (b.queries === 'refuse') return;
      if (this.accepted.size >= MAX_REMEMBERED) this.accepted.delete(this.accepted.keys().next().value as string);
      const src = frame.toString('latin1', s.srcStart, s.srcEnd);
      this.accepted.set(id, { systemId: conn.systemId, src, stat, err: stat === 'DELIVRD' || stat === 'ACCEPTD' || stat === 'ENROUTE' ? 0 : 1, doneAt: Date.now() + r.delayMs });
    };
    if (!r.enabled || (s.registeredDelivery & 0x03) === 0) {
      remember(r.stat);
      return { id, receipt: null };
    }
    let receiptId = id;
    if (b.messageIdFormat !== 'uuid' && r.idFormat !== 'same') receiptId = r.idFormat === 'hex' ? n.toString(16) : String(n);
    const textId = b.messageIdFormat !== 'uuid' && r.textIdFormat !== 'same' ? (r.textIdFormat === 'hex' ? n.toString(16) : String(n)) : receiptId;
    this.receiptCount++;
    const zeroLengthState = r.zeroLengthStateEvery > 0 && this.receiptCount % r.zeroLengthStateEvery === 0;
    const undeliverable = r.undeliverableEvery > 0 && this.receiptCount % r.undeliverableEvery === 0;
    const stat = undeliverable ? 'UNDELIV' : r.stat;
    // Only text data codings (SMSC default, IA5, Latin-1) are echoed into the receipt text.
    const textual = s.dataCoding === 0x00 || s.dataCoding === 0x01 || s.dataCoding === 0x03;
    const receipt: PendingReceipt = {
      id: receiptId,
      systemId: conn.systemId,
      srcTon: s.srcTon,
      srcNpi: s.srcNpi,
      src: frame.toString('latin1', s.srcStart, s.srcEnd),
      dstTon: s.dstTon,
      dstNpi: s.dstNpi,
      dst: frame.toString('latin1', s.dstStart, s.dstEnd),
      text: r.format !== 'tlv' && textual && s.smLength > 0 ? Buffer.from(frame.subarray(s.smStart, s.smStart + Math.min(s.smLength, RECEIPT_TEXT_OCTETS))) : null,
      submittedAt: Date.now(),
      stat,
      state: MESSAGE_STATE[stat],
      err: stat === 'DELIVRD' || stat === 'ACCEPTD' || stat === 'ENROUTE' ? '000' : '001',
      format: r.format,
      ...(textId !== receiptId ? { textId } : {}),
      ...(zeroLengthState ? { zeroLengthState } : {}),
    };
    remember(stat);
    return { id, receipt };
  }

  dispatchReceipt(receipt: PendingReceipt, origin: SimConnection, delayMs: number): void {
    if (delayMs > 0) this.receiptTimer.schedule(delayMs, { receipt, origin });
    else this.routeReceipt(receipt, origin);
  }

  delayResponse(conn: SimConnection, seq: number, id: string, receipt: PendingReceipt | null): void {
    this.responseTimer.schedule(this.behaviour.responseDelayMs, { conn, seq, id, receipt });
  }

  sessionBound(conn: SimConnection): void {
    const bound = this.boundSessions().length;
    if (bound > this.stats.boundPeak) this.stats.boundPeak = bound;
    if (!conn.canReceive) return;
    let list = this.receivers.get(conn.systemId);
    if (!list) this.receivers.set(conn.systemId, (list = []));
    list.push(conn);
    const waiting = this.held.get(conn.systemId);
    if (waiting) {
      this.held.delete(conn.systemId);
      this.stats.receiptsHeld -= waiting.length;
      for (const r of waiting) conn.sendReceipt(r);
    }
  }

  sessionLeft(conn: SimConnection): void {
    const list = this.receivers.get(conn.systemId);
    if (!list) return;
    const i = list.indexOf(conn);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.receivers.delete(conn.systemId);
  }

  queryMessage(systemId: string, messageId: string, sourceAddr: string): { state: number; finalDate: string; errorCode: number } | undefined {
    const m = this.accepted.get(messageId);
    // SMPP 3.4 §4.8.1: the message is identified by its id and the source address it was submitted with.
    if (m === undefined || m.systemId !== systemId || (sourceAddr !== '' && sourceAddr !== m.src)) return undefined;
    const now = Date.now();
    if (now < m.doneAt) return { state: MESSAGE_STATE.ENROUTE, finalDate: '', errorCode: 0 };
    return { state: MESSAGE_STATE[m.stat], finalDate: smppAbsoluteTime(m.doneAt), errorCode: m.err };
  }

  redeliver(receipts: PendingReceipt[], origin: SimConnection): void {
    if (this.closing) {
      this.stats.receiptsDropped += receipts.length;
      return;
    }
    this.stats.receiptsRedelivered += receipts.length;
    for (const r of receipts) this.routeReceipt(r, origin);
  }

  /** Start, restart or stop the fuzzer when behaviour.fuzz changed (`before`: the previous setting). */
  private resetFuzz(before: SimBehaviour['fuzz']): void {
    const f = this.behaviour.fuzz;
    if (this.fuzz !== null && f !== null && before !== null && f.perSecond === before.perSecond && f.limit === before.limit && f.seed === before.seed) return;
    if (this.fuzz !== null) clearInterval(this.fuzz.timer);
    this.fuzz = null;
    if (f === null || this.closing) return;
    const timer = setInterval(() => this.fuzzTick(), FUZZ_TICK_MS);
    timer.unref();
    this.fuzz = { pdus: new HostilePdus(f.seed), timer, last: performance.now(), owed: 0, next: 0 };
  }

  /** Send what the rate owes since the last tick, round robin over the bound sessions. */
  private fuzzTick(): void {
    const f = this.behaviour.fuzz;
    const state = this.fuzz;
    if (f === null || state === null) return;
    const now = performance.now();
    // At most a tenth of a second's worth at once: a stalled event loop does not become a burst.
    state.owed = Math.min(state.owed + ((now - state.last) * f.perSecond) / 1000, Math.max(1, f.perSecond / 10));
    state.last = now;
    const targets = [...this.conns].filter((c) => c.bound);
    if (targets.length === 0) return;
    while (state.owed >= 1) {
      if (f.limit > 0 && this.stats.fuzzSent >= f.limit) {
        clearInterval(state.timer);
        this.fuzz = null;
        return;
      }
      state.next = (state.next + 1) % targets.length;
      (targets[state.next] as SimConnection).sendHostile(state.pdus);
      state.owed -= 1;
    }
  }

  private fireReceipts(items: RoutedReceipt[]): void {
    for (const { receipt, origin } of items) this.routeReceipt(receipt, origin);
  }

  /** The submitting transceiver if it can still take it, else a receiver/transceiver of the same system_id, else the hold queue. */
  private routeReceipt(receipt: PendingReceipt, origin: SimConnection): void {
    if (origin.canReceive && !this.behaviour.receipts.spread) {
      origin.sendReceipt(receipt);
      return;
    }
    const list = this.receivers.get(receipt.systemId);
    if (list && list.length > 0) {
      this.rr = (this.rr + 1) % list.length;
      (list[this.rr] as SimConnection).sendReceipt(receipt);
      return;
    }
    let queue = this.held.get(receipt.systemId);
    if (!queue) this.held.set(receipt.systemId, (queue = []));
    if (queue.length >= this.behaviour.heldReceiptLimit) {
      this.stats.receiptsDropped++;
      return;
    }
    queue.push(receipt);
    this.stats.receiptsHeld++;
  }

  // ---- SimServer -----------------------------------------------------------

  setBehaviour(patch: SimBehaviourPatch): void {
    const before = this.behaviour;
    this.behaviour = mergeBehaviour(this.behaviour, patch);
    if (this.behaviour.tps !== before.tps || this.behaviour.tpsBurst !== before.tpsBurst) this.resetBucket();
    this.resetFuzz(before.fuzz);
  }

  injectMo(mo: MoOptions): number {
    const bodies = moBodies(mo, this.moRef);
    if (mo.long !== undefined && mo.ref === undefined) this.moRef = (this.moRef + 1) & 0xffff;
    const receivers = [...this.conns].filter((c) => c.canReceive);
    if (receivers.length === 0) return 0;
    this.moRr = (this.moRr + 1) % receivers.length;
    const conn = receivers[this.moRr] as SimConnection;
    for (const body of bodies) conn.sendMo(body);
    return bodies.length;
  }

  sendRawToAll(bytes: Buffer): void {
    for (const conn of this.conns) conn.sendRaw(bytes);
  }

  dropAll(): void {
    for (const conn of this.conns) conn.destroy();
  }

  connections(): number {
    return this.conns.size;
  }

  boundSessions(): Array<{ systemId: string; mode: BindMode; interfaceVersion: number }> {
    const out: Array<{ systemId: string; mode: BindMode; interfaceVersion: number }> = [];
    for (const c of this.conns) {
      if (c.bound && c.mode !== null) out.push({ systemId: c.systemId, mode: c.mode, interfaceVersion: c.interfaceVersion });
    }
    return out;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      if (this.fuzz !== null) clearInterval(this.fuzz.timer);
      this.fuzz = null;
      this.stats.receiptsDropped += this.receiptTimer.size + this.stats.receiptsHeld;
      this.receiptTimer.clear();
      this.responseTimer.clear();
      this.stats.receiptsHeld = 0;
      this.held.clear();
      for (const conn of this.conns) conn.destroy();
      await closed;
    })();
    return this.closing;
  }
}

/** Start one simulator listener. Behaviour = HappySMSC defaults ← preset ← opts.behaviour. */
export async function startSimulator(opts: SimListenerOptions): Promise<SimServer> {
  const preset = opts.preset ? resolvePreset(opts.preset) : null;
  const behaviour = mergeBehaviour(DEFAULT_BEHAVIOUR, preset?.patch, opts.behaviour);
  const sim = new Simulator(opts.name ?? preset?.name ?? 'sim', opts.host ?? '127.0.0.1', behaviour, opts.logger ?? silentLogger(), opts.tls, opts.onSubmit);
  await sim.listen(opts.port ?? 0);
  return sim;
}
