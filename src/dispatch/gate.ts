/**
 * A FIFO gate in front of a carrier's pacer: callers wait in order, one timer per
 * carrier wakes the head when the next token is due. (A sleep loop per message would
 * wake every waiter for every token.)
 *
 * Waiting costs O(1) per message: waiters form a doubly linked list (append, pop the
 * head, unlink anywhere in O(1)), and the gate holds one abort listener per distinct
 * signal it is waiting on — not one per waiter — which fails every waiter of that
 * signal when it fires. (An EventTarget's add/removeEventListener walk its listener
 * list, so a listener per waiter costs O(waiters) per message.)
 *
 * With a shared budget (several instances, throttle/shared-rate.ts) a message goes only
 * when both this instance's pacer and its grant of the carrier's shared time allow it.
 */
import { DEFAULT_MARGIN, type CarrierPacer } from '../throttle/pacer.js';
import type { SharedRate } from '../throttle/shared-rate.js';

interface Waiter {
  resolve: (ok: boolean) => void;
  signal: AbortSignal | undefined;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

interface Watch {
  /** Waiters queued with this signal. */
  waiters: number;
  onAbort: () => void;
}

export class PacedGate {
  private head: Waiter | undefined;
  private tail: Waiter | undefined;
  private size = 0;
  /** One abort listener per signal that queued waiters carry; removed with its last waiter. */
  private readonly watches = new Map<AbortSignal, Watch>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pacer: CarrierPacer,
    readonly shared?: SharedRate,
  ) {
    if (shared) shared.onGrant = () => this.poke();
  }

  get waiting(): number {
    return this.size;
  }

  /** Resolves true with a token taken, or false if the signal aborted first. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.size === 0 && this.take()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const w: Waiter = { resolve, signal, prev: this.tail, next: undefined };
      if (this.tail) this.tail.next = w;
      else this.head = w;
      this.tail = w;
      this.size++;
      if (signal) this.watch(signal);
      this.arm();
    });
  }

  /**
   * The carrier throttled a submit that left in the pacer's epoch `epoch`: the pacer
   * adapts to what this instance measured, and a cut it makes also lowers the carrier's
   * shared rate by the margin (what the others send is not measured here, so the total
   * is cut by the share, not to this instance's reading).
   */
  throttled(epoch: number): void {
    const before = this.pacer.state().currentTps;
    this.pacer.onThrottled(epoch);
    const after = this.pacer.state().currentTps;
    if (after < before) this.shared?.slowDown(DEFAULT_MARGIN);
    this.poke();
  }

  /** The pacer's rate changed (e.g. after a throttle answer): re-plan the wake-up. */
  poke(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.arm();
  }

  private watch(signal: AbortSignal): void {
    const w = this.watches.get(signal);
    if (w) {
      w.waiters++;
      return;
    }
    const onAbort = (): void => this.abortAll(signal);
    this.watches.set(signal, { waiters: 1, onAbort });
    signal.addEventListener('abort', onAbort, { once: true });
  }

  private unwatch(signal: AbortSignal): void {
    const w = this.watches.get(signal);
    if (!w || --w.waiters > 0) return;
    this.watches.delete(signal);
    signal.removeEventListener('abort', w.onAbort);
  }

  private unlink(w: Waiter): void {
    if (w.prev) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.tail = w.prev;
    w.prev = w.next = undefined;
    this.size--;
  }

  /** `signal` aborted: every waiter that carries it leaves the queue with false, once. */
  private abortAll(signal: AbortSignal): void {
    this.watches.delete(signal);
    for (let w = this.head; w; ) {
      const next = w.next;
      if (w.signal === signal) {
        this.unlink(w);
        w.resolve(false);
      }
      w = next;
    }
    if (this.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private arm(): void {
    if (this.timer || this.size === 0) return;
    const wait = Math.max(this.pacer.msUntilNext(), this.shared?.msUntil() ?? 0);
    this.timer = setTimeout(() => this.release(), Number.isFinite(wait) ? Math.max(0, Math.min(wait, 1000)) : 1000);
  }

  private release(): void {
    this.timer = undefined;
    while (this.head && this.take()) {
      const w = this.head;
      this.unlink(w);
      if (w.signal) this.unwatch(w.signal);
      w.resolve(true);
    }
    this.arm();
  }

  /** Both the pacer and the shared budget allow a message now: take from each. */
  private take(): boolean {
    const shared = this.shared;
    if (shared && !shared.ready()) return false;
    if (!this.pacer.take()) return false;
    shared?.consume();
    return true;
  }
}
