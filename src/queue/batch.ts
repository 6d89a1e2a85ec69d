/**
 * Per-tick batching of Redis work. Every message is still handled by its own async
 * steps, each awaiting its own durable write, but the writes that all messages ask for in
 * one turn of the event loop go to Redis as one call: one intake read's creates, one
 * socket read's submit_sm_resp mappings, one read's receipts. A batch flushes after the
 * I/O callbacks of the current turn (setImmediate), or at once when it is full.
 *
 * Items are grouped by a key (the Redis Cluster hash tag their keys share), one call per
 * group. When a call over several items fails with an error reply (the script refused
 * one of them), each item is tried again alone, so one poison item fails alone and never
 * its neighbours; a connection fault fails the batch as it is (every caller retries).
 */

interface Pending<I, O> {
  items: I[];
  waiters: Array<{ resolve: (o: O) => void; reject: (e: unknown) => void }>;
}

export class TickBatcher<I, O> {
  private readonly groups = new Map<string, Pending<I, O>>();
  private scheduled = false;

  constructor(
    /** Runs one batch of one group; returns one result per item, in order. */
    private readonly run: (group: string, items: I[]) => Promise<O[]>,
    private readonly maxItems = 512,
  ) {}

  add(group: string, item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      let g = this.groups.get(group);
      if (g === undefined) {
        g = { items: [], waiters: [] };
        this.groups.set(group, g);
      }
      g.items.push(item);
      g.waiters.push({ resolve, reject });
      if (g.items.length >= this.maxItems) {
        this.groups.delete(group);
        this.send(group, g);
      } else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Send everything waiting now. */
  flush(): void {
    this.scheduled = false;
    const groups = [...this.groups];
    this.groups.clear();
    for (const [group, g] of groups) this.send(group, g);
  }

  private send(group: string, g: Pending<I, O>): void {
    this.run(group, g.items).then(
      (outs) => {
        if (outs.length !== g.items.length) {
          const e = new Error(`batch returned ${outs.length} results for ${g.items.length} items`);
          for (const w of g.waiters) w.reject(e);
          return;
        }
        g.waiters.forEach((w, i) => w.resolve(outs[i] as O));
      },
      (e: unknown) => {
        if (g.items.length > 1 && isErrorReply(e)) {
          // One item may be what the script refused: each goes alone, and fails alone.
          g.items.forEach((item, i) => this.send(group, { items: [item], waiters: [g.waiters[i] as Pending<I, O>['waiters'][number]] }));
          return;
        }
        for (const w of g.waiters) w.reject(e);
      },
    );
  }
}

/** Redis refused the command itself (a script error, a wrong type), as opposed to a lost connection. */
function isErrorReply(e: unknown): boolean {
  return e instanceof Error && e.name === 'ReplyError';
}
