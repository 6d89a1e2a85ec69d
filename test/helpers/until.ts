/**
 * Waits until `cond` holds, polling every `everyMs`; throws naming `what` after `timeoutMs`.
 * For state that settles after the event a test waited for (a set emptied after the
 * final event is written, a counter moved by a later callback).
 */
export async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string | (() => string), everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((res) => setTimeout(res, everyMs));
  }
}

/** Resolves as `p` does, or rejects with `why()` after `ms`: a hang fails with a reason, inside the test timeout. */
export async function within<T>(p: Promise<T>, ms: number, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why())), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
