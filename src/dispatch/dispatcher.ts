/**
 * The message path: pull intake entries only while there is room, validate, deduplicate,
 * normalise, route, encode, pace, submit, and settle every message durably — submitted
 * (carrier id recorded), deferred (in the due set), or finished with a terminal event —
 * before its intake entry is acknowledged and removed.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { QasidConfig, CarrierConfig } from '../config/types.js';
import { backoffDelay } from '../core/backoff.js';
import { errorMessage } from '../core/errors.js';
import type { Lifecycle } from '../core/lifecycle.js';
import { delay, waitWhile } from '../core/lifecycle.js';
import { encodeMessage } from '../encoding/index.js';
import type { Logger } from '../log/logger.js';
import { recordId } from '../queue/keys.js';
import type { IntakeEntry, IntakeReader } from '../queue/intake.js';
import type { ConsumerLease } from '../queue/ownership.js';
import { decodeMessage, type DecodeLimits, type MtMessage } from '../queue/message.js';
import { EVENT_VERSION, eventIds, type EventStatus, type Outputs, type StatusEvent } from '../queue/outputs.js';
import type { MessageStore } from '../queue/store.js';
import { isDue, isFinal, isSettledForNow, isWatched, mayHaveBeenSent, transition, type RecordFields, type TerminalStatus } from '../queue/record.js';
import { normaliseMsisdn, selectRoute, type CompiledRoutes, type MessageClass } from '../routing/index.js';
import type { ClassPolicy } from '../privacy/policy.js';
import type { SubscriberStore } from '../privacy/subscribers.js';
import type { Vault } from '../privacy/vault.js';
import type { CarrierLink } from '../smpp/link.js';
import { retryPlan } from '../throttle/retry.js';
import { pendingFields, writeOwedEvent } from '../queue/final-event.js';
import type { PacedGate } from './gate.js';
import { CarrierBreaker, DEFAULT_BREAKER, type BreakerState } from './breaker.js';
import { receiptParts, submitToCarrier, type CarrierAttempt } from './submit.js';
import { FINAL_POLICY, planAfterUnknown } from './unknown-outcome.js';
import { ReceiptQueries, type QueryOutcome } from './receipt-query.js';
import type { MappingStore, ParkedReceipt } from '../dlr/mappings.js';

export interface DispatcherDeps {
  config: QasidConfig;
  store: MessageStore;
  /** Carrier-id mappings (dlr/): written as each part is accepted. */
  mappings: MappingStore;
  /** One reader per intake shard, by shard number. */
  intakes: readonly IntakeReader[];
  outputs: Outputs;
  links: ReadonlyMap<string, CarrierLink>;
  gates: ReadonlyMap<string, PacedGate>;
  /** The compiled route table; undefined = first carrier, then the others in order. */
  routes: CompiledRoutes | undefined;
  /** Ported-number lookup: operator id for an E.164 number, if ported. */
  portedOperator(e164: string): Promise<string | undefined>;
  /** Keys: opens sealed intake entries, seals what is stored, pseudonymises numbers in logs. */
  vault: Vault;
  /** Opt-outs, consent, caps: the subscriber-level policy. */
  subscribers: SubscriberStore;
  /** Quiet hours and the opt-out footer. */
  policy: ClassPolicy;
  /** Apply receipts that were parked before their mapping existed. */
  applyParked(parked: readonly ParkedReceipt[]): Promise<void>;
  /** This instance's lease on its consumer name: taken at start, given back at stop. */
  lease: ConsumerLease;
  /** Hooks for metrics. */
  hooks?: DispatcherHooks;
  logger: Logger;
  now?: () => number;
}

export interface DispatcherHooks {
  /** A message that may already have reached the handset is being sent again. */
  resubmit?(carrier: string, reason: ResubmitReason): void;
  /** An intake entry whose handling kept failing was ended for good. */
  gaveUp?(): void;
  /** Entries were taken over from a consumer whose lease ran out. */
  claimed?(count: number): void;
  /** A carrier's circuit breaker changed state. */
  breaker?(carrier: string, state: BreakerState): void;
  /** A query_sm about a message without its receipt was answered (its state) or was not (`failed`). */
  queried?(carrier: string, outcome: QueryOutcome): void;
}

/**
 * Why a message may reach the handset twice: its entry was read again after this
 * consumer restarted (`restart`), taken over from a dead consumer (`takeover`), tried
 * again here after its handling failed (`retry`), or its due-set lease ran out under an
 * instance that died (`lease`) — each time after it may have been submitted and before
 * the outcome was recorded — or its submit went unanswered and its class's
 * dispatch.unknownOutcome says to send it again (`unknown`).
 */
export type ResubmitReason = 'restart' | 'takeover' | 'lease' | 'retry' | 'unknown';

/**
 * Where a piece of work came from, and so how to release it once settled. `again` is
 * set when the work may have been started before (read again, taken over).
 */
type Source = { kind: 'intake'; entryId: string; shard: number; again?: ResubmitReason } | { kind: 'due'; again?: ResubmitReason };

/**
 * Lease on a due entry while it is processed; renewed every third of it while this
 * instance works on it, so it comes back soon after this instance dies, and never while
 * it is still waiting for a token.
 */
const DUE_LEASE_MS = 30_000;
/** An entry whose handling throws (not a Redis fault) this many times is ended for good. */
const MAX_ENTRY_ATTEMPTS = 5;
/** Retry delays for an entry whose handling failed: 1 s doubling to 30 s. */
const ENTRY_RETRY = { minMs: 1_000, maxMs: 30_000 };
/** When no carrier of the route is up, try again after this long (no attempt spent). */
const NO_CARRIER_RETRY_MS = 5_000;

export class Dispatcher implements Lifecycle {
  readonly name = 'dispatcher';
  private running = false;
  private inFlight = 0;
  /** Per carrier: messages between routing and the end of their submit (waiting for a token or a slot, or in the window). */
  private readonly atCarrier = new Map<string, number>();
  /** Loops waiting for room (waitForChange): woken together when a message settles. */
  private readonly wakers = new Set<() => void>();
  /** Loops waiting out a pause whatever happens (the poll loop with room to spare): woken only at stop. */
  private readonly sleepers = new Set<() => void>();
  /** Room that wakes the loops waiting for it (see wake()). */
  private readonly wakeRoom: number;
  private readonly loops: Array<Promise<void>> = [];
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly carriers: Map<string, CarrierConfig>;
  private readonly defaultOrder: string[];
  private routes: CompiledRoutes | undefined;
  private readonly paused = new Set<string>();
  /** Per carrier: its circuit breaker (wall clock: the message clock may stand still in tests). */
  private readonly breakers = new Map<string, CarrierBreaker>();
  /** Due-set members this instance holds a lease on (renewed until released). */
  private readonly dueHeld = new Set<string>();
  /** Watch-set members this instance holds a lease on (a query_sm may take a while). */
  private readonly watchHeld = new Set<string>();
  /** query_sm for accepted messages whose receipt did not come (carriers[].querySm). */
  private readonly queries: ReceiptQueries;
  private renewTimer: NodeJS.Timeout | undefined;
  /** The last intake read failed (Redis unreachable, the group lost): /readyz says so. */
  private intakeFailing = false;

  constructor(private readonly d: DispatcherDeps) {
    // Every message waiting for a token or a window slot listens on this one signal.
    setMaxListeners(0, this.abort.signal);
    this.log = d.logger.child({ component: 'dispatch' });
    this.now = d.now ?? Date.now;
    this.carriers = new Map(d.config.carriers.map((c) => [c.id, c]));
    this.wakeRoom = Math.max(1, Math.min(d.config.intake.batch, Math.floor(d.config.dispatch.maxInFlight / 10)));
    this.defaultOrder = d.config.carriers.map((c) => c.id);
    this.routes = d.routes;
    this.queries = new ReceiptQueries({
      store: d.store,
      outputs: d.outputs,
      links: d.links,
      gates: d.gates,
      carriers: this.carriers,
      graceMs: d.config.messages.receiptGraceSec * 1000,
      logger: d.logger,
      now: this.now,
      signal: this.abort.signal,
      queried: (carrier, outcome) => d.hooks?.queried?.(carrier, outcome),
    });
    for (const c of d.config.carriers) this.breakers.set(c.id, this.breakerFor(c));
  }

  private breakerFor(c: CarrierConfig): CarrierBreaker {
    return new CarrierBreaker(c.breaker ?? DEFAULT_BREAKER, (to, from, why) => {
      const fields = { event: 'carrier.breaker', carrier: c.id, from, to, why };
      if (to === 'open') this.log.warn(fields, 'circuit breaker open: the carrier is out of routing for its cool-down');
      else this.log.info(fields, to === 'closed' ? 'circuit breaker closed: the carrier is back in routing' : 'circuit breaker half open: probes go to the carrier');
      this.d.hooks?.breaker?.(c.id, to);
    });
  }

  /**
   * A carrier added or changed at runtime (its link already swapped in): routed with these
   * settings from now on. A changed one keeps its breaker unless the breaker's settings
   * changed; one being submitted to finishes on the settings it started with.
   */
  setCarrier(c: CarrierConfig): void {
    const was = this.carriers.get(c.id);
    this.carriers.set(c.id, c);
    if (!this.defaultOrder.includes(c.id)) this.defaultOrder.push(c.id);
    if (was === undefined || JSON.stringify(was.breaker) !== JSON.stringify(c.breaker)) this.breakers.set(c.id, this.breakerFor(c));
  }

  /** A carrier removed at runtime (no route names it any more). */
  removeCarrier(id: string): void {
    this.carriers.delete(id);
    const at = this.defaultOrder.indexOf(id);
    if (at >= 0) this.defaultOrder.splice(at, 1);
    this.breakers.delete(id);
    this.paused.delete(id);
  }

  /** Each carrier's circuit breaker state (closed, open, half_open). */
  breakerStates(): Record<string, BreakerState> {
    return Object.fromEntries([...this.breakers].map(([id, b]) => [id, b.state]));
  }

  /**
   * Take a carrier out of routing (it keeps its binds and finishes what it has): messages
   * fail over past it, or wait in the due set when it was their only carrier.
   */
  pauseCarrier(id: string): boolean {
    if (!this.carriers.has(id)) return false;
    this.paused.add(id);
    this.log.warn({ event: 'carrier.paused', carrier: id }, 'carrier paused');
    return true;
  }

  resumeCarrier(id: string): boolean {
    if (!this.carriers.has(id)) return false;
    this.paused.delete(id);
    this.log.info({ event: 'carrier.resumed', carrier: id }, 'carrier resumed');
    return true;
  }

  get pausedCarriers(): readonly string[] {
    return [...this.paused];
  }

  /** Swap in a new, already validated route table; messages already routed keep theirs. */
  setRoutes(routes: CompiledRoutes | undefined): void {
    this.routes = routes;
  }

  get messagesInFlight(): number {
    return this.inFlight;
  }

  /** Whether the intake stream can be read (the last read succeeded, or none has failed yet). */
  get intakeReadable(): boolean {
    return !this.intakeFailing;
  }

  async start(): Promise<void> {
    for (const intake of this.d.intakes) await intake.ensureGroup();
    await this.d.lease.acquire();
    this.running = true;
    this.renewTimer = setInterval(() => void this.renewDueLeases(), Math.floor(DUE_LEASE_MS / 3));
    this.renewTimer.unref();
    // Entries this consumer held when it last stopped come first.
    // One read loop per shard, each on its own blocking connection.
    for (const intake of this.d.intakes) this.loops.push(this.resumeOwn(intake).then(() => this.intakeLoop(intake)));
    this.loops.push(this.pollLoop());
  }

  /** Stop pulling, let in-flight messages settle (up to drainMs), then return. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake(true);
    for (const w of [...this.sleepers]) w();
    // Wall-clock deadlines: the injected clock is message time, and may stand still in tests.
    const deadline = Date.now() + this.d.config.shutdown.drainMs;
    await waitWhile(() => this.inFlight > 0, deadline, 20);
    // Whatever is still waiting for a token or a window gives up and is deferred.
    this.abort.abort();
    // A loop may be inside a read or a due-set lease that returns after this point; what
    // it took is tracked before the loop ends, and must settle while Redis is still open
    // (a leased due entry left half-handled would wait out its lease).
    await Promise.allSettled(this.loops);
    await waitWhile(() => this.inFlight > 0, deadline + 5_000, 20);
    if (this.renewTimer) clearInterval(this.renewTimer);
    await Promise.all(this.d.intakes.map((i) => i.flush()));
    // Whatever is still pending is no longer worked on here: others may take it at once.
    await this.d.lease.release();
  }

  /** Push the lease of every due member still being worked on further out. */
  private async renewDueLeases(): Promise<void> {
    if (this.dueHeld.size === 0 && this.watchHeld.size === 0) return;
    try {
      await this.d.store.renewLeases('due', [...this.dueHeld], this.now() + DUE_LEASE_MS);
      await this.d.store.renewLeases('watch', [...this.watchHeld], this.now() + DUE_LEASE_MS);
    } catch (e) {
      this.log.warn({ event: 'redis.error', err: errorMessage(e) }, 'due-set lease renewal failed; retried');
    }
  }

  private room(): number {
    return this.d.config.dispatch.maxInFlight - this.inFlight;
  }

  private anyLinkUp(): boolean {
    for (const l of this.d.links.values()) if (l.isUp()) return true;
    return false;
  }

  /** Wait up to `ms`; with `forRoom`, only until a message settles (room may have come). */
  private waitForChange(ms: number, forRoom = true): Promise<void> {
    const set = forRoom ? this.wakers : this.sleepers;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        set.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      set.add(done);
    });
  }

  /** Wake the loops waiting for room (all of them, however little room there is, with `all`). */
  private wake(all = false): void {
    if (this.wakers.size === 0) return;
    // A read for a handful of entries costs as much as one for a batch: the loops wait
    // until a tenth of the pool (at most a batch) is free, or their 100 ms pass.
    if (!all && this.room() < this.wakeRoom) return;
    for (const w of [...this.wakers]) w();
  }

  /** An intake entry's fate is recorded: acknowledge and remove it from its shard. */
  private entryDone(entry: { id: string; shard: number }): void {
    (this.d.intakes[entry.shard] as IntakeReader).done(entry.id);
  }

  private track(work: Promise<void>): void {
    this.inFlight++;
    void work
      .catch((e: unknown) => this.log.error({ event: 'dispatch.error', err: errorMessage(e) }, 'message handling failed'))
      .finally(() => {
        this.inFlight--;
        this.wake();
      });
  }

  /**
   * Handle one intake entry this consumer owns until it is settled. A failure leaves the
   * entry pending and it is tried again here, after 1 s doubling to 30 s — for as long
   * as Redis refuses (an operator can fix that), but an entry whose own handling throws
   * MAX_ENTRY_ATTEMPTS times is ended for good (giveUp), so one poison entry never
   * stalls the rest. At stop, a failed entry stays pending for the next owner.
   */
  private async handleOwned(entry: IntakeEntry, again?: ResubmitReason): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt > MAX_ENTRY_ATTEMPTS && !isRedisFault(lastError)) await this.giveUp(entry, lastError);
        else await this.handleEntry(entry, attempt > 1 ? 'retry' : again);
        return;
      } catch (e) {
        lastError = e;
        this.log.error({ event: 'dispatch.error', entry: entry.id, attempt, err: errorMessage(e) }, 'intake entry handling failed; it stays pending and is tried again');
      }
      if (!this.running) return;
      await delay(backoffDelay(ENTRY_RETRY, attempt - 1), this.abort.signal).catch(() => undefined);
      if (!this.running) return;
    }
  }

  /** The message an entry carries, if it can be read at all (never throws). */
  private messageOf(entry: IntakeEntry): MtMessage | undefined {
    try {
      const data = entry.sealed === undefined ? entry.data : this.d.vault.open(entry.sealed, 'mt');
      const decoded = decodeMessage(data, this.d.config.intake.maxEntryBytes, this.limits());
      return decoded.ok ? decoded.message : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * End an entry whose handling kept failing: its message, if a record was made for it,
   * ends `failed internal_error`; otherwise the entry is dead-lettered. Either way it gets
   * its one final event and is released.
   */
  private async giveUp(entry: IntakeEntry, error: unknown): Promise<void> {
    const detail = `handling failed ${MAX_ENTRY_ATTEMPTS} times (${errorName(error)})`;
    this.d.hooks?.gaveUp?.();
    const message = this.messageOf(entry);
    if (message !== undefined) {
      const recId = recordId(message.tenant, message.id);
      const rec = await this.d.store.get(recId);
      if (rec !== undefined && this.fromEntry(rec, entry)) {
        this.log.error({ event: 'dispatch.gave_up', entry: entry.id, gatewayId: rec.gw }, 'message handling kept failing; the message ends failed');
        if (isFinal(rec)) {
          if (rec.ev !== undefined) await writeOwedEvent(this.d.outputs, this.log, rec, this.now());
          this.entryDone(entry);
          return;
        }
        return this.finish(recId, rec, { kind: 'intake', entryId: entry.id, shard: entry.shard }, 'failed', { reason: 'internal_error' });
      }
    }
    this.log.error({ event: 'dispatch.gave_up', entry: entry.id }, 'intake entry handling kept failing; dead-lettered');
    await this.d.outputs.dead(entry.id, 'internal_error', detail, entry.sealed === undefined ? { data: entry.data } : { sealed: entry.sealed });
    await this.d.outputs.event(this.event('rejected', true, { clientId: message?.id, tenant: message?.tenant, reason: 'internal_error', entryId: entry.id }), entry.id);
    this.entryDone(entry);
  }

  /** Whether a record was created from this very entry (its id, on its shard). */
  private fromEntry(rec: Partial<RecordFields>, entry: IntakeEntry): boolean {
    return rec.eid === entry.id && (rec.esh ?? '0') === String(entry.shard);
  }

  /** Decoding limits from the config. */
  private limits(): DecodeLimits {
    return { maxScheduleMs: this.d.config.messages.maxScheduleSec * 1000, now: this.now() };
  }

  /**
   * The entries this consumer still held when it last stopped (a restart under the same
   * name), each exactly once: walked in id order with a cursor, so entries that are still
   * being handled are not read again.
   */
  private async resumeOwn(intake: IntakeReader): Promise<void> {
    let after = '0';
    try {
      for (;;) {
        while (this.running && this.room() <= 0) await this.waitForChange(100);
        if (!this.running) return;
        const entries = await intake.ownPending(Math.max(1, Math.min(this.room(), this.d.config.intake.batch)), after);
        if (entries.length === 0) return;
        after = (entries[entries.length - 1] as IntakeEntry).id;
        for (const e of entries) this.track(this.handleOwned(e, 'restart'));
      }
    } catch (e) {
      this.log.error({ event: 'dispatch.error', err: errorMessage(e) }, 'could not resume own pending entries; they are taken over by another instance or at the next start');
    }
  }

  private async intakeLoop(intake: IntakeReader): Promise<void> {
    const cfg = this.d.config.intake;
    while (this.running) {
      const room = this.room();
      if (room <= 0 || !this.anyLinkUp()) {
        await this.waitForChange(100);
        continue;
      }
      let entries: IntakeEntry[];
      try {
        // Each shard's loop reads at most the room it saw: together they may go past
        // maxInFlight by (shards − 1) × batch, never more.
        entries = await intake.read(Math.min(cfg.batch, room));
        this.intakeFailing = false;
      } catch (e) {
        if (!this.running) return;
        this.intakeFailing = true;
        this.log.error({ event: 'dispatch.error', err: errorMessage(e) }, 'intake read failed');
        await delay(500);
        continue;
      }
      for (const e of entries) this.track(this.handleOwned(e));
    }
  }

  /** Due retries and scheduled sends; receipts that never came; entries of dead consumers. */
  private async pollLoop(): Promise<void> {
    let lastClaim = 0;
    // Dead consumers are looked for twice per lease: their work is back within about 1.5 leases.
    const claimEveryMs = Math.min(1_000, this.d.config.intake.leaseMs / 2);
    while (this.running) {
      // Waiting for room (due work may be left): woken as messages settle. Else a plain pause.
      let forRoom = false;
      let more = false;
      try {
        const now = this.now();
        for (let shard = 0; shard < this.d.intakes.length; shard++) {
          const room = this.room();
          if (room > 0 && this.anyLinkUp()) {
            const limit = Math.min(room, 500);
            const due = await this.d.store.takeDue('due', now, limit, DUE_LEASE_MS, shard);
            if (due.length === limit) more = true;
            for (const recId of due) {
              this.dueHeld.add(recId);
              this.track(this.handleDue(recId).finally(() => this.dueHeld.delete(recId)));
            }
          } else forRoom = true;
          const overdue = await this.d.store.takeDue('watch', now, 500, DUE_LEASE_MS, shard);
          if (overdue.length === 500) more = true;
          for (const recId of overdue) {
            this.watchHeld.add(recId);
            this.track(this.expireWatched(recId).finally(() => this.watchHeld.delete(recId)));
          }
        }
        if (Date.now() - lastClaim >= claimEveryMs) {
          lastClaim = Date.now();
          for (const intake of this.d.intakes) await this.claimDead(intake);
        }
      } catch (e) {
        this.log.error({ event: 'dispatch.error', err: errorMessage(e) }, 'poll failed');
      }
      if (!more || forRoom) await this.waitForChange(this.d.config.dispatch.pollMs, forRoom);
    }
  }

  /**
   * Take over the entries of dead consumers, as many as there is room for, batch after
   * batch until none are left or the room is used up.
   */
  private async claimDead(intake: IntakeReader): Promise<void> {
    while (this.running && this.room() > 0 && this.anyLinkUp()) {
      const ask = Math.min(this.room(), this.d.config.intake.batch);
      const claimed = await intake.claimDead(ask, this.d.config.intake.claimIdleMs);
      let n = 0;
      for (const c of claimed) {
        n += c.entries.length;
        if (c.entries.length > 0) {
          this.log.warn({ event: 'intake.claimed', from: c.from, count: c.entries.length }, 'took over entries of a consumer whose lease ran out');
          this.d.hooks?.claimed?.(c.entries.length);
        }
        for (const e of c.entries) this.track(this.handleOwned(e, 'takeover'));
      }
      if (n < ask) return;
    }
  }

  private async handleEntry(entry: IntakeEntry, again?: ResubmitReason): Promise<void> {
    const src: Extract<Source, { kind: 'intake' }> = { kind: 'intake', entryId: entry.id, shard: entry.shard };
    const cfg = this.d.config;
    if (entry.deleted) {
      // Deleted while still pending: only a handler that had recorded its fate deletes one.
      this.entryDone(entry);
      return;
    }
    let data = entry.data;
    if (entry.sealed !== undefined) {
      data = this.d.vault.open(entry.sealed, 'mt');
      if (data === undefined) {
        const detail = 'sealed entry cannot be opened with the keyring (unknown key id, or not sealed by a Qasid client for this stream)';
        this.log.warn({ event: 'intake.dead_lettered', entry: entry.id, reason: 'undecryptable' }, 'intake entry dead-lettered');
        await this.d.outputs.dead(entry.id, 'undecryptable', detail, { sealed: entry.sealed });
        await this.d.outputs.event(this.event('rejected', true, { reason: 'undecryptable', entryId: entry.id }), entry.id);
        this.entryDone(entry);
        return;
      }
    }
    const decoded = decodeMessage(data, cfg.intake.maxEntryBytes, this.limits());
    if (!decoded.ok) {
      this.log.warn({ event: 'intake.dead_lettered', entry: entry.id, reason: decoded.reason, detail: decoded.detail }, 'intake entry dead-lettered');
      const num = decoded.to === undefined ? undefined : normaliseMsisdn(decoded.to, cfg.numbers.defaultRegion);
      // An oversized entry is not kept: its size and a hash say which it was.
      const kept = decoded.reason === 'oversized' ? {} : { data };
      const detail = decoded.reason === 'oversized' && data !== undefined ? `${decoded.detail}; sha256 ${createHash('sha256').update(data).digest('hex')}` : decoded.detail;
      await this.d.outputs.dead(entry.id, decoded.reason, detail, kept, num?.ok ? this.d.vault.hash(num.e164) : undefined);
      await this.d.outputs.event(this.event('rejected', true, { clientId: decoded.clientId, tenant: decoded.tenant, reason: decoded.reason, entryId: entry.id }), entry.id);
      this.entryDone(entry);
      return;
    }
    const m = decoded.message;
    const recId = recordId(m.tenant, m.id);
    const now = this.now();
    const validityMs = (m.validity ?? cfg.messages.defaultValiditySec) * 1000;
    const notBefore = m.sendAt === undefined ? undefined : Date.parse(m.sendAt);
    const validUntil = Math.max(now, notBefore ?? now) + validityMs;
    const fields: RecordFields = {
      gw: newGatewayId(now),
      cid: m.id,
      ten: m.tenant,
      to: m.to,
      from: m.from,
      txt: m.text,
      cls: m.class,
      pri: String(m.priority),
      vu: String(validUntil),
      rc: m.receipt ? '1' : '0',
      meta: m.meta === undefined ? undefined : JSON.stringify(m.meta),
      con: m.consent,
      eid: entry.id,
      esh: entry.shard === 0 ? undefined : String(entry.shard),
      st: 'queued',
      nb: notBefore === undefined ? undefined : String(notBefore),
      at: String(now),
      att: '0',
    };
    const ttlMs = recordExpiresAt(validUntil, cfg) - now;
    const created = await this.d.store.create(recId, fields, ttlMs);
    let rec: Partial<RecordFields> = fields;
    if (!created.created) {
      if (!this.fromEntry(created.fields, entry)) {
        // Another entry with the same client id: never sent twice.
        // Its own gateway id (a consumer keyed on gatewayId sees one final per id); the original's in duplicateOf.
        const gatewayId = newGatewayId(now);
        this.log.info({ event: 'intake.duplicate', gatewayId, duplicateOf: created.fields.gw }, 'duplicate client id');
        await this.d.outputs.event(this.event('rejected', true, { clientId: m.id, tenant: m.tenant, gatewayId, duplicateOf: created.fields.gw, reason: 'duplicate', entryId: entry.id, meta: m.meta }), entry.id);
        this.entryDone(entry);
        return;
      }
      // Our own entry, read again after a crash: carry on from the recorded state.
      rec = created.fields;
      if (isFinal(rec) || isSettledForNow(rec)) {
        // Ended by this dispatcher (`ev`), and the entry was not released: the crash may
        // have come before the final event was written. (An ending by a receipt is the
        // watch set's business: this entry was released when the carrier accepted it.)
        if (isFinal(rec) && rec.ev !== undefined) await writeOwedEvent(this.d.outputs, this.log, rec, this.now());
        // The state was written, the schedule that goes with it maybe not (a crash between
        // the two): make sure it is there before the entry goes.
        if (!isFinal(rec)) await this.ensureScheduled(recId, rec);
        this.entryDone(entry);
        return;
      }
      // Submitting: it may have left for the carrier before the crash (queued: it had not).
      if (again !== undefined && mayHaveBeenSent(rec)) src.again = again;
    }
    if (notBefore !== undefined && notBefore > now) {
      // Not checked against policy until it is due, but held from now on: erasure and export must find it.
      const num = normaliseMsisdn(m.to, cfg.numbers.defaultRegion);
      if (num.ok) await this.d.subscribers.hold(num.e164, recId, recordExpiresAt(validUntil, cfg), now);
      await this.defer(recId, rec, src, notBefore, 'scheduled', undefined, false);
      return;
    }
    await this.process(recId, rec, src);
  }

  private async handleDue(recId: string): Promise<void> {
    const rec = await this.d.store.get(recId);
    if (!rec || isFinal(rec) || isWatched(rec)) {
      // Ended by this dispatcher but never taken off the due set: its handler died between the steps.
      if (rec !== undefined && isFinal(rec) && rec.ev !== undefined) await writeOwedEvent(this.d.outputs, this.log, rec, this.now());
      // Accepted (or unknown) but perhaps never watched: the handler died between the two writes.
      if (rec !== undefined && !isFinal(rec)) await this.ensureScheduled(recId, rec);
      await this.d.store.unschedule('due', recId);
      return;
    }
    // Leased again while it said `submitting`: the instance that took it last died mid-submit.
    await this.process(recId, rec, mayHaveBeenSent(rec) ? { kind: 'due', again: 'lease' } : { kind: 'due' });
  }

  /**
   * A live record found without its work item (read again, or leased again): put it on
   * the schedule its state implies if it is not there — watched until validity + grace
   * when accepted or unknown, due now when waiting for a retry. A member already there
   * keeps its time.
   */
  private async ensureScheduled(recId: string, rec: Partial<RecordFields>): Promise<void> {
    if (isWatched(rec)) {
      await this.d.store.scheduleIfAbsent('watch', recId, Number(rec.vu) + this.d.config.messages.receiptGraceSec * 1000);
      await this.ensureMapped(recId, rec);
    } else if (isDue(rec)) await this.d.store.scheduleIfAbsent('due', recId, this.now());
  }

  /**
   * Accepted, and its handler may have died after the accept and before the carrier-id
   * mappings were written (they live in the carrier's slot and go second): write them
   * again from the ids the record keeps, so the receipt can still match — and settle it
   * now if the receipt came meanwhile and was parked. Writing a mapping that is there
   * already changes nothing but its accept time.
   */
  private async ensureMapped(recId: string, rec: Partial<RecordFields>): Promise<void> {
    if (rec.st !== 'accepted' || rec.mids === undefined || rec.mids === '' || rec.car === undefined) return;
    const cfg = this.d.config.messages;
    const ids = rec.mids.split(',');
    const ttlMs = Math.max(cfg.mappingTtlSec * 1000, Number(rec.vu) - this.now() + cfg.receiptGraceSec * 1000);
    const stamp = Date.now().toString(36);
    const carrier = rec.car;
    const parked: ParkedReceipt[] = [];
    await Promise.all(
      ids.map(async (id, part) => {
        const mapping = `${recId}:${part}:${ids.length}:${stamp}`;
        const waiting = await this.d.mappings.map(carrier, id, mapping, ttlMs);
        if (waiting !== null) parked.push({ carrier, mapping, receipt: waiting });
      }),
    );
    this.log.warn({ event: 'dispatch.mapping_recovered', carrier, gatewayId: rec.gw, parked: parked.length }, 'carrier-id mappings of an accepted message written again (its handler may have stopped before them); receipts parked meanwhile are applied');
    if (parked.length > 0) await this.d.applyParked(parked);
  }

  /** Route, encode and submit one message, then settle it. */
  private async process(recId: string, rec: Partial<RecordFields>, src: Source): Promise<void> {
    const cfg = this.d.config;
    const now = this.now();
    if (rec.sealErr !== undefined) {
      this.log.error({ event: 'privacy.undecryptable', gatewayId: rec.gw }, 'message record cannot be opened with the keyring (a retired key?)');
      return this.finish(recId, rec, src, 'failed', { reason: 'undecryptable' });
    }
    if (Number(rec.vu) <= now) return this.finish(recId, rec, src, 'expired', { reason: 'validity_passed' });
    const num = normaliseMsisdn(rec.to ?? '', cfg.numbers.defaultRegion);
    if (!num.ok) return this.finish(recId, rec, src, 'rejected', { reason: num.reason });
    const cls = (rec.cls ?? 'transactional') as MessageClass;
    if (!this.d.policy.senderAllowed(rec.ten, rec.from ?? '')) {
      this.log.info({ event: 'policy.blocked', reason: 'sender_not_allowed', gatewayId: rec.gw, ...this.d.vault.logFields(num.e164) }, 'message blocked by policy');
      return this.finish(recId, rec, src, 'blocked', { reason: 'sender_not_allowed' });
    }
    const opensAt = cls === 'marketing' ? this.d.policy.marketingOpensAt(rec.ten, now) : undefined;
    const verdict = await this.d.subscribers.check({
      e164: num.e164,
      cls,
      tenant: rec.ten,
      sender: rec.from ?? '',
      hasConsentRef: rec.con !== undefined,
      quiet: opensAt !== undefined,
      recId,
      recExpiresAt: recordExpiresAt(Number(rec.vu), cfg),
      now,
    });
    if (verdict.kind === 'blocked') {
      // Which window was full: the event carries only the reason, the log line says which.
      const cap = verdict.cap === undefined ? {} : { capScope: verdict.cap.scope, capLimit: verdict.cap.limit, capWindowSec: verdict.cap.windowSec };
      this.log.info({ event: 'policy.blocked', reason: verdict.reason, ...cap, gatewayId: rec.gw, ...this.d.vault.logFields(num.e164) }, 'message blocked by policy');
      return this.finish(recId, rec, src, 'blocked', { reason: verdict.reason });
    }
    if (verdict.kind === 'quiet' && opensAt !== undefined) {
      // Deferred to the opening; if its validity ends first it is taken then, and expires.
      return this.defer(recId, rec, src, Math.min(opensAt, Number(rec.vu)), 'quiet_hours', undefined, true);
    }
    const text = cls === 'marketing' ? this.d.policy.withFooter(rec.txt ?? '', rec.ten) : (rec.txt ?? '');
    const ported = await this.d.portedOperator(num.e164);
    const candidates = this.routes
      ? selectRoute(this.routes, { e164: num.e164, tenant: rec.ten, class: cls, sender: rec.from ?? '', portedOperator: ported })
      : ({ ok: true, carriers: this.defaultOrder } as const);
    if (!candidates.ok) return this.finish(recId, rec, src, 'failed', { reason: 'no_route' });

    let tried = 0;
    // A resend after an unanswered submit, not sent yet: counted when it goes (its `submitting` clears the mark).
    if (src.again === undefined && rec.rsq === '1') src.again = 'unknown';
    // Temporary errors this message had, per carrier (`tErr`): a carrier that gave it
    // failoverAfter of them comes after those that did not, so the route's next carrier
    // is tried first.
    const tempErrors = parseCounts(rec.tErr);
    const passed = (id: string): boolean => (tempErrors[id] ?? 0) >= (this.carriers.get(id)?.failoverAfter ?? 1);
    const order = [...candidates.carriers.filter((id) => !passed(id)), ...candidates.carriers.filter(passed)];
    /** The last temporary error of this pass, when a carrier gave one and the message moved on. */
    let temporary: { carrier: string; error: string } | undefined;
    for (const [index, carrierId] of order.entries()) {
      const carrier = this.carriers.get(carrierId);
      const link = this.d.links.get(carrierId);
      const gate = this.d.gates.get(carrierId);
      if (!carrier || !link || !gate || !link.isUp() || this.paused.has(carrierId)) continue;
      const waiting = this.atCarrier.get(carrierId) ?? 0;
      if (waiting >= this.carrierBudget(carrier) && src.again === undefined && this.anotherCarrierHasRoom(carrierId)) {
        // This carrier already has all it can take for a while, and another could use the
        // room: wait in the due set, not in the shared pool, so this carrier's backlog never
        // holds up the other. (With no other carrier to make room for, waiting here costs
        // nothing and a round trip through the due set would. A message that may have been
        // sent before waits here too, so its resend is still counted.)
        const at = this.now() + Math.min(NO_CARRIER_RETRY_MS * 10, Math.max(100, Math.ceil((waiting / gate.pacer.state().currentTps) * 1000)));
        return this.defer(recId, rec, src, at, 'carrier_busy', undefined, false, carrierId);
      }
      const enc = encodeMessage(text, { method: carrier.concat, ref: refFor(recId), maxParts: cfg.messages.maxParts });
      if ('error' in enc) return this.finish(recId, rec, src, 'rejected', { reason: 'too_long' });
      // Out of routing while its breaker is open (a probe at a time while half open) — when
      // the route has another carrier that could take it. The last one left is tried
      // anyway: waiting in the due set would not get the message there sooner. Only what
      // the breaker let through is counted by it.
      const allowed = this.breakers.get(carrierId)?.allow(Date.now()) ?? true;
      if (!allowed && order.slice(index + 1).some((id) => this.canTake(id))) continue;
      const breaker = allowed ? this.breakers.get(carrierId) : undefined;
      tried++;
      const rN = receiptParts(enc.parts.length, carrier.receiptOnPart).filter(Boolean).length;
      // Written right before the first part goes (submitToCarrier's `submitting`): a crash
      // after it counts the next send as a resubmit, one before it does not. It also tells
      // the receipt roll-up how many receipts to expect before part 1's can arrive.
      const sending = transition.submitting(carrierId, enc.parts.length, rN);
      if (src.again === 'unknown') sending.rsq = '0';
      if (src.again !== undefined && tried === 1) {
        // Counted once per message, on the carrier it goes to first.
        this.log.warn({ event: 'dispatch.resubmit', reason: src.again, carrier: carrierId, gatewayId: rec.gw }, 'sending a message whose earlier submit may have reached the carrier; the handset may see it twice');
        this.d.hooks?.resubmit?.(carrierId, src.again);
      }
      const validUntil = Number(rec.vu);
      let r: CarrierAttempt;
      try {
        r = await this.counted(carrierId, () =>
        submitToCarrier(
        {
          carrier,
          link,
          gate,
          recId,
          e164Digits: num.e164.slice(1),
          sender: rec.from ?? '',
          priority: Number(rec.pri ?? 0),
          receipt: rec.rc === '1',
          mappingTtlMs: Math.max(cfg.messages.mappingTtlSec * 1000, Number(rec.vu) - now + cfg.messages.receiptGraceSec * 1000),
          map: (c, id, v, ttl) => this.d.mappings.map(c, id, v, ttl),
          submitting: async () => void (await this.d.store.update(recId, sending)),
          // With a receipt wanted: accepted and watched in one step, then the accepted
          // event, and only then the last mapping, which lets a receipt match — so no
          // receipt finds the record unwatched, and no final event comes before `accepted`.
          accepted: rec.rc === '1' ? (ids) => this.accepted(recId, rec, transition.accepted(sending, ids), carrierId, enc.parts.length) : undefined,
          // Asked again after the wait for a token: the wait can outlast a short validity.
          expired: () => this.now() >= validUntil,
          validity: { until: validUntil, now: this.now },
          signal: this.abort.signal,
        },
        enc,
        ),
        );
      } catch (e) {
        breaker?.release();
        throw e;
      }
      if (breaker !== undefined) {
        // What the breaker counts: accepted, or a temporary error or no answer (the carrier's
        // fault); anything else (the message's fault, never sent) gives a probe's slot back.
        if (r.kind === 'accepted') breaker.record(true, Date.now());
        else if (r.kind === 'retry' || r.kind === 'failover' || r.kind === 'unknown') breaker.record(false, Date.now());
        else breaker.release();
      }
      const done = { carrier: carrierId, parts: enc.parts.length };
      switch (r.kind) {
        case 'expired':
          return this.finish(recId, rec, src, 'expired', { ...done, reason: 'validity_passed' });
        case 'not_sent':
          this.log.debug({ event: 'dispatch.failover', carrier: carrierId, reason: r.reason, gatewayId: rec.gw }, 'carrier did not take it; next');
          continue;
        case 'accepted':
          sending.mids = r.carrierIds.join(',');
          if (rec.rc === '1') {
            // Accepted, watched and announced already (the `accepted` step above).
            await this.release(recId, src);
            if (r.parked.length > 0) await this.d.applyParked(r.parked);
          } else {
            await this.d.store.update(recId, sending);
            await this.finish(recId, rec, src, 'accepted', done);
          }
          return;
        case 'retry':
        case 'failover': {
          // A temporary error: move on to the route's next carrier at once once this one
          // has given failoverAfter of them (or the status says failover), while one of the
          // route is left to try; else wait out this carrier's retry schedule.
          tempErrors[carrierId] = (tempErrors[carrierId] ?? 0) + 1;
          temporary = { carrier: carrierId, error: r.error };
          // Kept with whatever defers it next (here, or a carrier further on that is busy).
          rec = { ...rec, tErr: JSON.stringify(tempErrors) };
          if ((r.kind === 'failover' || passed(carrierId)) && order.slice(index + 1).some((id) => this.canTake(id))) {
            this.log.info({ event: 'dispatch.failover', carrier: carrierId, reason: r.error, gatewayId: rec.gw }, 'temporary error; the next carrier of the route is tried');
            continue;
          }
          return this.retryLater(recId, rec, src, carrier, r.error, done);
        }
        case 'rejected':
          return this.finish(recId, rec, src, 'rejected', { ...done, reason: r.partsSent > 0 ? 'partially_sent' : 'carrier_rejected', error: r.error });
        case 'unknown': {
          // No answer: the carrier may have it or not. Its class says whether to send it
          // again (a possible duplicate) or to wait for a late answer or receipt (a possible miss).
          const plan = planAfterUnknown(cfg.dispatch.unknownOutcome[cls] ?? FINAL_POLICY, rec, this.now(), carrier.minValiditySec ?? 10);
          if (plan.kind === 'resubmit') {
            // The carrier that did not answer goes to the end of the route for the resend.
            tempErrors[carrierId] = Math.max(tempErrors[carrierId] ?? 0, carrier.failoverAfter ?? 1);
            return this.resubmitLater(recId, { ...rec, tErr: JSON.stringify(tempErrors) }, src, r.error, carrierId, plan.at);
          }
          this.log.debug({ event: 'dispatch.unknown', carrier: carrierId, reason: r.error, plan: plan.why, gatewayId: rec.gw }, 'submit unanswered; watched as unknown');
          await this.d.store.update(recId, transition.unknown(r.error));
          await this.d.store.schedule('watch', recId, Number(rec.vu) + cfg.messages.receiptGraceSec * 1000);
          await this.release(recId, src);
          return;
        }
      }
    }
    // A carrier gave a temporary error and the rest of the route could not take it: the
    // retry schedule of the carrier that erred.
    if (temporary !== undefined) {
      const carrier = this.carriers.get(temporary.carrier) as CarrierConfig;
      return this.retryLater(recId, rec, src, carrier, temporary.error, { carrier: temporary.carrier });
    }
    // No carrier on the route could take it now: try again shortly, no attempt spent.
    const reason = tried === 0 ? 'no_carrier_up' : 'carriers_unavailable';
    return this.defer(recId, rec, src, this.now() + NO_CARRIER_RETRY_MS, reason, undefined, true);
  }

  /** Whether a carrier could take a message now (configured, bound, not paused). */
  private canTake(id: string): boolean {
    return this.carriers.has(id) && this.d.links.get(id)?.isUp() === true && !this.paused.has(id);
  }

  /**
   * A temporary error: spend an attempt and wait per the carrier's retry schedule
   * (carriers[].retryScheduleMs, else dispatch.retryScheduleMs); past its end, or past the
   * message's validity, it ends failed retries_exhausted.
   */
  private retryLater(recId: string, rec: Partial<RecordFields>, src: Source, carrier: CarrierConfig, error: string, done: Partial<StatusEvent>): Promise<void> {
    const attempt = Number(rec.att ?? 0) + 1;
    const plan = retryPlan('retry', attempt, Math.random, carrier.retryScheduleMs ?? this.d.config.dispatch.retryScheduleMs);
    const at = this.now();
    if (plan.kind === 'give_up' || at + plan.delayMs >= Number(rec.vu)) return this.finish(recId, rec, src, 'failed', { ...done, reason: 'retries_exhausted', error });
    return this.defer(recId, { ...rec, att: String(attempt) }, src, at + plan.delayMs, 'carrier_error', error, true, carrier.id);
  }

  /**
   * A message whose receipt is wanted was accepted: its record accepted and watched, and
   * its accepted event — both issued before this returns (submitToCarrier's `accepted`).
   * A single part goes in one step: nothing can have settled it. With several, an earlier
   * part's receipt may have (receiptOnPart first): then it is not watched again and gets
   * no accepted event after its final.
   */
  private accepted(recId: string, rec: Partial<RecordFields>, fields: Partial<RecordFields>, carrierId: string, parts: number): Promise<void> {
    // Before the deadline when the carrier is asked about receipts that do not come (querySm.delaySec).
    const watchUntil = this.queries.watchTime(this.carriers.get(carrierId), Number(rec.vu), this.now());
    const event = this.event('accepted', false, { ...eventIds(rec), carrier: carrierId, parts });
    if (parts === 1) return Promise.all([this.d.store.accept(recId, fields, watchUntil), this.d.outputs.event(event)]).then(() => undefined);
    return this.d.store.accept(recId, fields, watchUntil).then((live) => (live ? this.d.outputs.event(event) : undefined));
  }

  /** Runs one submit counted against its carrier's budget (see carrierBudget). */
  private async counted<T>(carrierId: string, submit: () => Promise<T>): Promise<T> {
    this.atCarrier.set(carrierId, (this.atCarrier.get(carrierId) ?? 0) + 1);
    try {
      return await submit();
    } finally {
      this.atCarrier.set(carrierId, (this.atCarrier.get(carrierId) ?? 1) - 1);
    }
  }

  /** Whether a carrier other than `carrierId` is up, not paused, and under its budget. */
  private anotherCarrierHasRoom(carrierId: string): boolean {
    for (const [id, carrier] of this.carriers) {
      if (id === carrierId || this.paused.has(id) || !this.d.links.get(id)?.isUp()) continue;
      if ((this.atCarrier.get(id) ?? 0) < this.carrierBudget(carrier)) return true;
    }
    return false;
  }

  /**
   * How many messages one carrier may have at once between routing and the end of their
   * submit: dispatch.carrierWaitMs worth of its configured rate, and never fewer than its
   * windows hold. Beyond it a message waits in the due set.
   */
  private carrierBudget(carrier: CarrierConfig): number {
    return Math.max(carrier.window * carrier.sessions, Math.ceil((carrier.tps * this.d.config.dispatch.carrierWaitMs) / 1000));
  }

  private async defer(recId: string, rec: Partial<RecordFields>, src: Source, at: number, reason: string, error: string | undefined, announce: boolean, carrier?: string): Promise<void> {
    await this.d.store.update(recId, transition.deferred(rec));
    await this.d.store.schedule('due', recId, at);
    if (announce || reason === 'scheduled') {
      await this.d.outputs.event(this.event('deferred', false, { ...eventIds(rec), carrier, reason, error, retryAt: new Date(at).toISOString() }));
    }
    if (src.kind === 'intake') this.entryDone({ id: src.entryId, shard: src.shard });
  }

  /**
   * An unanswered submit to be sent again (dispatch.unknownOutcome resubmit): due at `at`,
   * the first unanswered error kept, the resend marked to be counted when it goes.
   */
  private async resubmitLater(recId: string, rec: Partial<RecordFields>, src: Source, error: string, carrier: string, at: number): Promise<void> {
    this.log.info({ event: 'dispatch.unknown', carrier, reason: error, plan: 'resubmit', resubmitAt: new Date(at).toISOString(), resubmits: Number(rec.rs ?? 0) + 1, gatewayId: rec.gw }, 'submit unanswered; it is sent again at resubmitAt');
    await this.d.store.update(recId, transition.resubmitLater(rec, error));
    await this.d.store.schedule('due', recId, at);
    if (src.kind === 'intake') this.entryDone({ id: src.entryId, shard: src.shard });
  }

  private async finish(recId: string, rec: Partial<RecordFields>, src: Source, status: TerminalStatus, extra: Partial<StatusEvent>): Promise<void> {
    if (rec.unk !== undefined && status !== 'accepted') {
      // A resend after an unanswered submit could not go, or went and was refused: the
      // first submit's fate is still unknown, so the message is watched as unknown — never
      // ended as if nothing had reached the carrier.
      this.log.info({ event: 'dispatch.resubmit_abandoned', status, reason: extra.reason, error: extra.error, carrier: extra.carrier, gatewayId: rec.gw }, 'the resend of an unanswered submit did not go through; watched as unknown');
      await this.d.store.update(recId, transition.backToUnknown(rec));
      await this.d.store.schedule('watch', recId, Number(rec.vu) + this.d.config.messages.receiptGraceSec * 1000);
      await this.release(recId, src);
      return;
    }
    // Every rejection names its intake entry.
    const e = this.event(status, true, { ...eventIds(rec), ...extra, ...(status === 'rejected' && rec.eid !== undefined ? { entryId: rec.eid } : {}) });
    const first = await this.d.store.finalise(recId, status, { ...(extra.reason ? { err: extra.error ?? extra.reason } : {}), ev: pendingFields(e) });
    if (first) await this.d.outputs.event(e, rec.eid);
    // Nothing settled here was ever watched: watching starts only once a carrier took it.
    await this.release(recId, src);
  }

  private async release(recId: string, src: Source): Promise<void> {
    if (src.kind === 'intake') this.entryDone({ id: src.entryId, shard: src.shard });
    else await this.d.store.unschedule('due', recId);
  }

  /**
   * A message accepted (or of unknown outcome) whose receipt never came. Its carrier is
   * asked first when it answers query_sm (carriers[].querySm): the answer may settle it or
   * keep it watched a while longer.
   */
  private async expireWatched(recId: string): Promise<void> {
    const rec = await this.d.store.get(recId);
    if (rec && !isFinal(rec) && this.queries.applies(rec)) {
      if ((await this.queries.settle(recId, rec)) !== 'end') return;
    }
    if (rec && !isFinal(rec)) {
      const status: TerminalStatus = rec.st === 'unknown' ? 'unknown' : 'expired';
      const e = this.event(status, true, { ...eventIds(rec), carrier: rec.car, parts: numberOr(rec.parts), reason: rec.st === 'unknown' ? (rec.err ?? 'no_response') : 'no_receipt' });
      const first = await this.d.store.finalise(recId, status, { err: 'no_receipt', ev: pendingFields(e) });
      if (first) await this.d.outputs.event(e, rec.eid);
    } else if (rec) {
      // Terminal but still watched: whatever ended it (a receipt, an earlier expiry) died
      // before taking it off the watch set, so possibly before writing its event.
      await writeOwedEvent(this.d.outputs, this.log, rec, this.now());
    }
    await this.d.store.unschedule('watch', recId);
  }

  event(status: EventStatus, final: boolean, extra: Partial<StatusEvent>): StatusEvent {
    const e: StatusEvent = { v: EVENT_VERSION, status, final, at: new Date(this.now()).toISOString() };
    for (const [k, v] of Object.entries(extra)) if (v !== undefined) (e as unknown as Record<string, unknown>)[k] = v;
    return e;
  }
}

/**
 * A fault of Redis rather than of the entry (an error reply, a lost connection): worth
 * retrying for as long as it lasts, since an operator can fix it.
 */
function isRedisFault(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return e.name === 'ReplyError' || e.name === 'MaxRetriesPerRequestError' || /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Stream isn't writeable/.test(e.message);
}

/** An error's class, for a dead letter's detail (its message may quote what it failed on). */
function errorName(e: unknown): string {
  return e instanceof Error ? e.name : typeof e;
}

/** When a record expires: its validity and receipt grace are over, then retention.recordsSec. */
export function recordExpiresAt(validUntil: number, cfg: QasidConfig): number {
  return validUntil + (cfg.messages.receiptGraceSec + cfg.retention.recordsSec) * 1000;
}

/** A record's per-carrier counts (`tErr`, JSON); {} when absent or unreadable. */
function parseCounts(json: string | undefined): Record<string, number> {
  if (json === undefined) return {};
  try {
    const v = JSON.parse(json) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, number>) : {};
  } catch {
    return {};
  }
}

function numberOr(v: string | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}

/** Concatenation reference for a message: stable per record, spread over 16 bits. */
function refFor(recId: string): number {
  let h = 0;
  for (let i = 0; i < recId.length; i++) h = (h * 31 + recId.charCodeAt(i)) & 0xffff;
  return h;
}

let seq = 0;
/** Time-ordered gateway id: ms timestamp and a per-process counter, base 36, plus randomness. */
export function newGatewayId(now: number): string {
  seq = (seq + 1) % 1_679_616;
  return `${now.toString(36)}${seq.toString(36).padStart(4, '0')}${Math.floor(Math.random() * 1_679_616).toString(36).padStart(4, '0')}`;
}
