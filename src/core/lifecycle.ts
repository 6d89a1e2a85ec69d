/** A long-lived thing the composition root starts in order and stops in reverse. */
export interface Lifecycle {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Memoise an async close so calling it twice returns the same promise
 * (BullMQ's Worker.close pattern).
 */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/**
 * Run cleanups in order; one failing does not skip the rest. Returns the errors.
 */
export async function runAll(steps: ReadonlyArray<readonly [string, () => Promise<void>]>): Promise<Array<{ step: string; error: unknown }>> {
  const failures: Array<{ step: string; error: unknown }> = [];
  for (const [step, fn] of steps) {
    try {
      await fn();
    } catch (error) {
      failures.push({ step, error });
    }
  }
  return failures;
}

/** A timer that never keeps the process alive. */
export function unrefTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  const t = setTimeout(fn, ms);
  t.unref();
  return t;
}

/** Poll `busy` every `stepMs` until it is false or the wall clock reaches `untilMs` (a bounded drain). */
export async function waitWhile(busy: () => boolean, untilMs: number, stepMs: number): Promise<void> {
  while (busy() && Date.now() < untilMs) await delay(stepMs);
}

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
