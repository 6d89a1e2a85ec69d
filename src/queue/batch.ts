/**
 * Per-tick batching of Redis work. Every message is still handled by its own async
 * steps, each awaiting its own durable write, but the writes that all messages ask for in
 * one turn of the event loop go to Redis as one call: one intake read's creates, one
 * socket read's submit_sm_resp mappings, one read's receipts. A batch flushes after the
 * I/O callbacks of the current turn (setImmediate), or at once when it is full.
 *
 * Items are grouped by a key (the Redis Cluster hash tag their keys share), one call per
 * group. A script over a batch answers each item in its place, an item it refused with an
 * error there (queue/store.ts runs each item in a pcall), and only that item's caller
 * fails. Batchers that share a scheduler flush together, in the order of their `order`,
 * each issuing its calls synchronously: on one connection Redis then runs them in that
 * order, so a step issued in the same turn as another with a higher order is applied
 * first (a message is accepted before its mapping lets a receipt match it). A batch that
 * fills up flushes every batcher of its scheduler, in the same order.
 *
 * When a whole call fails with an error reply (a command refused as a whole), each item
 * is tried again alone, so one poison item fails alone and never its neighbours; a
 * connection fault fails the batch as it is (every caller retries).
 */

interface Pending<I, O> {
  items: I[];
  /** Item i's promise settles through resolves[i] / rejects[i]. */
  resolves: Array<(o: O) => void>;
  rejects: Array<(e: unknown) => void>;
}

/**
 * A promise and its resolving functions without a closure per promise: the executor runs
 * synchronously inside `new Promise`, so these hold its functions until the caller reads
 * them (every message makes several batched writes, each one promise).
 */
let capturedResolve: ((o: never) => void) | undefined;
let capturedReject: ((e: unknown) => void) | undefined;
function capture(resolve: (o: never) => void, reject: (e: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * Flushes the batchers that have items, together, once per turn of the event loop,
 * lowest `order` first. It holds a batcher only while that batcher has items waiting.
 */
export class TickScheduler {
  private pending: Array<{ order: number; flush: (wait: boolean) => Promise<unknown> | undefined }> = [];
  private scheduled = false;
  /**
   * Each order's calls are answered before the next order's are sent. One connection to
   * one server keeps the order by itself (commands go out and run in the order sent); on
   * a Redis Cluster the batches of one turn go to different masters, so the order is kept
   * by waiting (a round trip per order, only there).
   */
  sequential = false;

  /** A batcher has its first item of this turn. */
  enqueue(b: { order: number; flush: (wait: boolean) => Promise<unknown> | undefined }): void {
    this.pending.push(b);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  flush(): Promise<void> {
    this.scheduled = false;
    const due = this.pending.sort((a, b) => a.order - b.order);
    this.pending = [];
    if (!this.sequential) {
      for (const b of due) void b.flush(false);
      return Promise.resolve();
    }
    return (async () => {
      for (let i = 0; i < due.length; ) {
        const order = (due[i] as (typeof due)[number]).order;
        const sent: Array<Promise<unknown> | undefined> = [];
        for (; i < due.length && (due[i] as (typeof due)[number]).order === order; i++) sent.push((due[i] as (typeof due)[number]).flush(true));
        await Promise.allSettled(sent);
      }
    })();
  }
}

/**
 * Where the batches of the message path flush in a turn (queue/batch.ts): a message's
 * accepted state, then its accepted event, then its mapping — the mapping is what lets a
 * receipt match, and so settle the message and write its final event.
 */
export const BATCH_ORDER = { accept: 1, event: 2, map: 3 } as const;

/**
 * The Lua prelude of a script over a batch: `each(f)` runs one item's part in a pcall, so
 * an item Redis refuses (a key of the wrong type) becomes an error in its place in the
 * reply and the others are still done — a batch is never cut off halfway, which would
 * leave the items before the fault done yet reported failed.
 */
export const LUA_EACH = `
local function each(f)
  local ok, r = pcall(f)
  if ok then return r end
  if type(r) == 'table' and r.err then return r end
  return {err = tostring(r)}
end
`;

/** The process's scheduler: every batcher that names none shares it. */
export const tickScheduler = new TickScheduler();

export interface BatcherOptions {
  /** Most items in one call; a full batch flushes the scheduler at once. Default 512. */
  maxItems?: number;
  /** Where it flushes among the scheduler's batchers (lower first). Default 0. */
  order?: number;
  scheduler?: TickScheduler;
}

export class TickBatcher<I, O> {
  private readonly groups = new Map<string, Pending<I, O>>();
  private readonly maxItems: number;
  private readonly scheduler: TickScheduler;
  readonly order: number;
  private queued = false;

  constructor(
    /**
     * Runs one batch of one group; returns one result per item, in order. A result that
     * is an Error (an error reply in its place) fails that item alone.
     */
    private readonly run: (group: string, items: I[]) => Promise<Array<O | Error>>,
    opts: BatcherOptions = {},
  ) {
    this.maxItems = opts.maxItems ?? 512;
    this.scheduler = opts.scheduler ?? tickScheduler;
    this.order = opts.order ?? 0;
  }

  add(group: string, item: I): Promise<O> {
    const promise = new Promise<O>(capture);
    const resolve = capturedResolve as (o: O) => void;
    const reject = capturedReject as (e: unknown) => void;
    capturedResolve = capturedReject = undefined;
    let g = this.groups.get(group);
    if (g === undefined) {
      g = { items: [], resolves: [], rejects: [] };
      this.groups.set(group, g);
    }
    g.items.push(item);
    g.resolves.push(resolve);
    g.rejects.push(reject);
    if (!this.queued) {
      this.queued = true;
      this.scheduler.enqueue(this);
    }
    if (g.items.length >= this.maxItems) void this.scheduler.flush();
    return promise;
  }

  /**
   * Send everything waiting now (the scheduler calls it). With `wait`, the result settles
   * once every call is answered (a sequential scheduler waits for it); without, nothing
   * is built to wait on.
   */
  flush(wait: boolean): Promise<unknown> | undefined {
    this.queued = false;
    const groups = [...this.groups];
    this.groups.clear();
    if (!wait) {
      for (const [group, g] of groups) void this.send(group, g);
      return undefined;
    }
    return Promise.allSettled(groups.map(([group, g]) => this.send(group, g)));
  }

  private send(group: string, g: Pending<I, O>): Promise<unknown> {
    let call: Promise<Array<O | Error>>;
    try {
      call = this.run(group, g.items);
    } catch (e) {
      call = Promise.reject(e);
    }
    return call.then(
      (outs) => {
        if (outs.length !== g.items.length) {
          const e = new Error(`batch returned ${outs.length} results for ${g.items.length} items`);
          for (const reject of g.rejects) reject(e);
          return;
        }
        for (let i = 0; i < outs.length; i++) {
          const o = outs[i];
          if (o instanceof Error) (g.rejects[i] as (e: unknown) => void)(o);
          else (g.resolves[i] as (o: O) => void)(o as O);
        }
      },
      (e: unknown) => {
        if (g.items.length > 1 && isErrorReply(e)) {
          // One item may be what Redis refused: each goes alone, and fails alone.
          g.items.forEach((item, i) => void this.send(group, { items: [item], resolves: [g.resolves[i] as (o: O) => void], rejects: [g.rejects[i] as (e: unknown) => void] }));
          return;
        }
        for (const reject of g.rejects) reject(e);
      },
    );
  }
}

/** Redis refused the command itself (a script error, a wrong type), as opposed to a lost connection. */
export function isErrorReply(e: unknown): boolean {
  return e instanceof Error && e.name === 'ReplyError';
}
