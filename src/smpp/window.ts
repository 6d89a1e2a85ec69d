/**
 * The send window of one session (cf. Cloudhopper's Window): requests in flight keyed
 * by sequence number, each with a deadline, plus a FIFO of callers waiting for a slot.
 * A full window makes callers wait — nothing is buffered beyond the window.
 * Control requests (enquire_link, unbind, bind) are tracked but take no slot, so a
 * window full of submits cannot starve the link check.
 */
import { QasidError } from '../core/errors.js';

export interface InFlight<R> {
  readonly seq: number;
  readonly command: string;
  readonly sentAt: number;
  readonly deadline: number;
  /** Takes a window slot (false for control PDUs). */
  readonly counted: boolean;
  /** Handed to the socket; a written request whose answer never comes has an unknown outcome. */
  written: boolean;
  /** The caller's label for this request, handed back if its response arrives after the deadline. */
  readonly tag?: string;
  readonly settle: (result: R) => void;
}

interface Waiter {
  resolve: () => void;
  reject: (e: QasidError) => void;
  cleanup: () => void;
}

export class SendWindow<R> {
  private readonly inflight = new Map<number, InFlight<R>>();
  private reserved = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be a positive integer, got ${size}`);
  }

  /** Slots taken: reserved by a caller or in flight. */
  get used(): number {
    return this.reserved;
  }
  get free(): number {
    return this.size - this.reserved;
  }
  get waiting(): number {
    return this.waiters.length;
  }
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Take a slot now if one is free. */
  tryReserve(): boolean {
    if (this.reserved < this.size && this.waiters.length === 0) {
      this.reserved++;
      return true;
    }
    return false;
  }

  /** Wait (FIFO) for a slot. Rejects with SMPP_WINDOW_WAIT_ABORTED if the signal fires or the window is failed. */
  reserve(signal?: AbortSignal): Promise<void> {
    if (this.tryReserve()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new QasidError('SMPP_WINDOW_WAIT_ABORTED'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new QasidError('SMPP_WINDOW_WAIT_ABORTED'));
      };
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Give a reserved slot back (the request was never sent, or its answer arrived). */
  release(): void {
    if (this.reserved === 0) throw new Error('SendWindow.release() without a reserved slot');
    const next = this.waiters.shift();
    if (next) {
      next.cleanup();
      next.resolve(); // the slot passes straight to the next waiter
    } else {
      this.reserved--;
    }
  }

  add(entry: InFlight<R>): void {
    this.inflight.set(entry.seq, entry);
  }

  /** The request in flight under `seq`, left in place (to check a response really answers it). */
  peek(seq: number): InFlight<R> | undefined {
    return this.inflight.get(seq);
  }

  /** Remove and return the request a response answers; frees its slot. */
  complete(seq: number): InFlight<R> | undefined {
    const entry = this.inflight.get(seq);
    if (!entry) return undefined;
    this.inflight.delete(seq);
    if (entry.counted) this.release();
    return entry;
  }

  /** Remove and return every request whose deadline has passed; frees their slots. */
  expire(now: number): Array<InFlight<R>> {
    const out: Array<InFlight<R>> = [];
    for (const entry of this.inflight.values()) {
      if (entry.deadline <= now) out.push(entry);
    }
    for (const entry of out) this.complete(entry.seq);
    return out;
  }

  /** Fail every caller waiting for a slot (the session is closing or stopping). */
  rejectWaiters(reason: QasidError): void {
    const waiters = this.waiters.splice(0);
    for (const w of waiters) {
      w.cleanup();
      w.reject(reason);
    }
  }

  /** Remove every in-flight request and fail every waiter: the connection is gone. */
  drain(reason: QasidError): Array<InFlight<R>> {
    // Fail the waiters first, so freed slots are not handed to them.
    this.rejectWaiters(reason);
    const out = [...this.inflight.values()];
    for (const entry of out) this.complete(entry.seq);
    return out;
  }

  oldestSentAt(): number | undefined {
    for (const entry of this.inflight.values()) return entry.sentAt;
    return undefined;
  }
}
