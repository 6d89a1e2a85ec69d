/**
 * A FIFO gate in front of a carrier's pacer: callers wait in order, one timer per
 * carrier wakes the head when the next token is due. (A sleep loop per message would
 * wake every waiter for every token.)
 */
import type { CarrierPacer } from '../throttle/pacer.js';

interface Waiter {
  resolve: (ok: boolean) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class PacedGate {
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly pacer: CarrierPacer) {}

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves true with a token taken, or false if the signal aborted first. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.queue.length === 0 && this.pacer.take()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        resolve,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          resolve(false);
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.arm();
    });
  }

  /** The pacer's rate changed (e.g. after a throttle answer): re-plan the wake-up. */
  poke(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = this.pacer.msUntilNext();
    this.timer = setTimeout(() => this.release(), Number.isFinite(wait) ? Math.max(0, Math.min(wait, 1000)) : 1000);
  }

  private release(): void {
    this.timer = undefined;
    while (this.queue.length > 0 && this.pacer.take()) {
      const w = this.queue.shift() as Waiter;
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve(true);
    }
    this.arm();
  }
}
