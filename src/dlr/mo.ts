/**
 * MO messages from handsets: decode, reassemble the long ones, act on STOP / START, route
 * to a stream, index for erasure. A one-part MO is written at once; each part of a long
 * one is held in Redis (mo-assembly.ts) and the message written once its last part is
 * there, or — when the rest never comes within `reassemblyMs` — as it is, `partial`. Either
 * way deliver_sm_resp goes back only after the part is held or the entry written.
 *
 * The timeout sweep runs on its own timer, on the one instance holding its lease.
 */
import type { Lifecycle } from '../core/lifecycle.js';
import { errorMessage } from '../core/errors.js';
import { decodeText } from '../encoding/index.js';
import type { Logger } from '../log/logger.js';
import { moHeldMember, type Outputs } from '../queue/outputs.js';
import { classifyKeyword, type CompiledKeywords } from '../privacy/keywords.js';
import type { SubscriberStore } from '../privacy/subscribers.js';
import type { Vault } from '../privacy/vault.js';
import { maskMsisdn, normaliseMsisdn } from '../routing/index.js';
import { bodyNumber, bodyString, type Pdu } from '../smpp/codec.js';
import { heldPartsMember, longMoId, openHeldMo, partContext, sealPart, type HeldMo, type MoPartStore } from './mo-assembly.js';
import { joinParts, moPayload } from './mo-parts.js';
import type { MoRouter } from './mo-routes.js';

/** Hooks for metrics; every method optional. */
export interface MoMetrics {
  /** An MO entry was written: `single`, or a long one `complete` / `partial`. */
  written?(carrier: string, status: 'single' | 'complete' | 'partial'): void;
  /** A part of a long MO: `held`, `duplicate` (that part was held already), `late` (its message was already written). */
  part?(carrier: string, status: 'held' | 'duplicate' | 'late'): void;
}

export interface MoHandlerDeps {
  outputs: Outputs;
  parts: MoPartStore;
  router: MoRouter;
  /** Seal the sender and parts held, hash the sender. */
  vault: Vault;
  /** STOP / START keywords change the sender's opt-out before deliver_sm_resp. */
  subscribers: SubscriberStore;
  keywords: CompiledKeywords;
  /** Region for reading MO senders written without a country code. */
  defaultRegion: string;
  /** How long an MO entry is kept (its index entry for erasure lives as long). */
  moRetentionMs: number;
  /** How long a long MO's parts wait for the rest, from its first part. */
  reassemblyMs: number;
  /** The carriers whose long MOs the sweep looks at. */
  carriers: readonly string[];
  logger: Logger;
  /** With several instances: the lease that lets one of them at a time sweep. */
  lease?: { hold(): Promise<boolean>; giveBack(): Promise<void> };
  /** How often the sweep looks for long MOs whose time ran out; default a quarter of reassemblyMs, 100 ms to 5 s. */
  sweepMs?: number;
  metrics?: MoMetrics;
  now?: () => number;
}

/** One MO ready to be written, its sender in clear (sealed by Outputs). */
interface ReadyMo {
  carrier: string;
  from: string;
  to: string;
  text: string;
  dataCoding: number;
  /** A long MO: how many parts it has, which arrived, whether some never did. */
  long?: { parts: number; received: number[]; partial: boolean };
}

const SWEEP_BATCH = 100;
/** An instance that dies between taking a long MO and writing it gives it back after this long. */
const TAKE_LEASE_MS = 30_000;

export class MoHandler implements Lifecycle {
  readonly name = 'mo';
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly sweepMs: number;
  /** A part's key outlives its reassembly time by this, so the sweep still finds it. */
  private readonly keyGraceMs: number;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  /** Counters, for tests and the demo. */
  readonly counts = { written: 0, parts: 0, duplicates: 0, partial: 0 };

  constructor(private readonly d: MoHandlerDeps) {
    this.log = d.logger.child({ component: 'mo' });
    this.now = d.now ?? Date.now;
    this.sweepMs = d.sweepMs ?? Math.min(5_000, Math.max(100, Math.floor(d.reassemblyMs / 4)));
    this.keyGraceMs = Math.max(60_000, 10 * this.sweepMs) + TAKE_LEASE_MS;
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => void this.pass(), this.sweepMs);
    // A sweep must never keep the process alive.
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
    await this.d.lease?.giveBack().catch(() => undefined);
  }

  /** An MO deliver_sm (not a receipt): written, or its part held, before this resolves. */
  async onMo(pdu: Pdu, carrier: string): Promise<void> {
    const dcs = bodyNumber(pdu, 'data_coding') ?? 0;
    const { payload, part } = moPayload(pdu);
    const rawFrom = bodyString(pdu, 'source_addr') ?? '';
    const to = bodyString(pdu, 'destination_addr') ?? '';
    // A handset's number as E.164 when it reads as one; else as it came (a hash is still taken).
    const num = normaliseMsisdn(rawFrom, this.d.defaultRegion);
    const from = num.ok ? num.e164 : /^\+?[0-9]{6,}$/.test(rawFrom) ? `+${rawFrom.replace(/^\+/, '')}` : rawFrom;
    if (part === undefined) {
      await this.write({ carrier, from, to, text: this.decode(payload, dcs, carrier), dataCoding: dcs });
      return;
    }
    const now = this.now();
    const subscriber = this.d.vault.hash(from);
    const id = longMoId(subscriber, to, part.ref, part.total);
    const keyTtlMs = this.d.reassemblyMs + this.keyGraceMs;
    const r = await this.d.parts.add({
      carrier,
      id,
      seq: part.seq,
      total: part.total,
      sealedPart: sealPart(this.d.vault, carrier, id, dcs, payload),
      sealedFrom: this.d.vault.seal(from, partContext(carrier, id)),
      subscriber,
      to,
      deadline: now + this.d.reassemblyMs,
      keyTtlMs,
      leaseEnd: now + TAKE_LEASE_MS,
    });
    if (r.kind === 'held') {
      this.counts.parts++;
      this.d.metrics?.part?.(carrier, 'held');
      // Indexed for export and erasure with its first part (an erasure drops the parts held).
      if (r.count === 1) await this.d.subscribers.hold(from, heldPartsMember(carrier, id), now + keyTtlMs, now);
      return;
    }
    if (r.kind !== 'complete') {
      this.counts.duplicates++;
      this.d.metrics?.part?.(carrier, r.kind === 'done' ? 'late' : 'duplicate');
      this.log.debug({ event: 'mo.part_ignored', carrier, part: part.seq, parts: part.total, reason: r.kind === 'done' ? 'late' : 'duplicate' }, 'a part of a long MO that is already held or written; acknowledged and ignored');
      return;
    }
    this.counts.parts++;
    this.d.metrics?.part?.(carrier, 'held');
    await this.writeHeld(r.mo);
  }

  /** Write the long MOs whose reassembly time ran out, as they are; returns how many. A sweep already running is joined. */
  sweep(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async pass(): Promise<void> {
    try {
      if (this.d.lease && !(await this.d.lease.hold())) return;
    } catch (e) {
      this.log.warn({ event: 'redis.error', err: errorMessage(e) }, 'the long-MO sweep lease is unavailable; the next pass retries');
      return;
    }
    await this.sweep();
  }

  private async sweepOnce(): Promise<number> {
    let written = 0;
    try {
      for (const carrier of this.d.carriers) {
        for (;;) {
          const now = this.now();
          const ids = await this.d.parts.overdue(carrier, now, SWEEP_BATCH);
          for (const id of ids) {
            const mo = await this.d.parts.take(carrier, id, now, now + TAKE_LEASE_MS);
            if (mo === undefined) continue;
            await this.writeHeld(mo);
            written++;
          }
          if (ids.length < SWEEP_BATCH) break;
        }
      }
    } catch (e) {
      this.log.warn({ event: 'redis.error', err: errorMessage(e) }, 'long MOs could not be swept; the next sweep retries');
    }
    return written;
  }

  /** A long MO taken from Redis (complete, or its time ran out): open, join, write, then drop the parts. */
  private async writeHeld(mo: HeldMo): Promise<void> {
    const { from, parts } = openHeldMo(mo, this.d.vault);
    if (from === undefined || parts.length === 0) {
      // Sealed under a key no longer in the keyring: nothing can be written.
      this.log.warn({ event: 'privacy.undecryptable', carrier: mo.carrier, subscriber: mo.subscriber }, 'a long MO held in Redis needs a key no longer in the keyring; dropped');
      await this.d.parts.finish(mo.carrier, mo.id, this.d.reassemblyMs);
      return;
    }
    const joined = joinParts(parts, mo.total, (bytes, dcs) => this.decode(bytes, dcs, mo.carrier));
    const partial = !joined.complete;
    if (partial) {
      this.counts.partial++;
      this.log.info({ event: 'mo.partial', carrier: mo.carrier, subscriber: mo.subscriber, sender: mo.to, parts: mo.total, partsReceived: joined.received }, 'a long MO did not get all its parts in time; written as it is');
    }
    await this.write({ carrier: mo.carrier, from, to: mo.to, text: joined.text, dataCoding: joined.dataCoding, long: { parts: mo.total, received: joined.received, partial } });
    // A late duplicate within the reassembly time still finds the tombstone.
    await this.d.parts.finish(mo.carrier, mo.id, this.d.reassemblyMs);
  }

  private async write(m: ReadyMo): Promise<void> {
    const now = this.now();
    // A partial message's words are not the subscriber's whole message: no keyword is acted on.
    const keyword = m.long?.partial ? undefined : classifyKeyword(m.text, this.d.keywords);
    // Recorded before deliver_sm_resp goes back: the next marketing submit already sees it.
    if (keyword === 'stop') await this.d.subscribers.optOut(m.from, { kind: 'sender', sender: m.to }, now);
    else if (keyword === 'start') await this.d.subscribers.optIn(m.from, { kind: 'sender', sender: m.to });
    const subscriber = this.d.vault.hash(m.from);
    const masked = m.from.startsWith('+') ? maskMsisdn(m.from) : '****';
    if (keyword !== undefined) this.log.info({ event: keyword === 'stop' ? 'subscriber.opted_out' : 'subscriber.opted_in', carrier: m.carrier, to: masked, subscriber, sender: m.to }, keyword === 'stop' ? 'opt-out keyword from a handset' : 'opt-in keyword from a handset');
    const stream = this.d.router.streamOf(m.to, m.text);
    const long = m.long === undefined ? {} : { parts: m.long.parts, ...(m.long.partial ? { partial: true as const, partsReceived: m.long.received } : {}) };
    const id = await this.d.outputs.mo({ carrier: m.carrier, from: m.from, to: m.to, text: m.text, dataCoding: m.dataCoding, at: new Date(now).toISOString(), ...(keyword ? { keyword } : {}), ...long }, { masked, subscriber }, stream);
    await this.d.subscribers.hold(m.from, moHeldMember(stream, id), now + this.d.moRetentionMs, now);
    this.counts.written++;
    this.d.metrics?.written?.(m.carrier, m.long === undefined ? 'single' : m.long.partial ? 'partial' : 'complete');
  }

  private decode(bytes: Buffer, dcs: number, carrier: string): string {
    try {
      return decodeText(bytes, dcs);
    } catch (e) {
      this.log.warn({ event: 'mo.undecodable', carrier, err: errorMessage(e) }, 'MO text could not be decoded');
      return '';
    }
  }
}

