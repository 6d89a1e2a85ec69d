/**
 * The admin access log: one entry per admin API request in the stream `<prefix>:access`
 * — when, method, route pattern, role, token id, client address, status, latency, and the
 * denial reason when it was refused. Never a body, a query string, a header or a token:
 * what a line holds is only what AccessLine names.
 *
 * Writing costs a request nothing it waits for: record() puts the line in a buffer, and
 * the buffer goes to Redis in one pipeline when it holds FLUSH_LINES lines or every
 * FLUSH_MS, whichever comes first. A write that fails is not retried (its lines are
 * lost, and `admin.access_log_failed` says how many); neither is a line that finds the
 * buffer full (Redis slow or away). Entries are trimmed by age (retention.accessSec, by
 * the retention sweeper) and capped at `maxLen` (approximate) against a flood.
 */
import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { ThrottledLog } from '../log/throttled.js';
import { fieldsOf, streamPages } from './streams.js';

/** One admin API request. */
export interface AccessLine {
  /** When the answer went, ISO 8601. */
  at: string;
  method: string;
  /** The route's pattern (`/carriers/:id/pause`), or `(unmatched)`: never the raw URL or its query. */
  route: string;
  /** The token's role, or `none` (no valid token). */
  role: string;
  /** The token's id, or `none`. */
  actor: string;
  /** The client address the allow-list judged (after trusted proxies). */
  address: string;
  status: number;
  /** From the request's arrival to the answer's end, in ms (0.1 ms steps). */
  latencyMs: number;
  /** Why it was refused (admin/denials.ts), when it was. */
  denied?: string;
}

/** An entry as read back: its stream id and the line. */
export interface AccessEntry extends AccessLine {
  id: string;
}

/** A batch goes out at this many lines, or after FLUSH_MS. */
const FLUSH_LINES = 200;
const FLUSH_MS = 250;
/** Lines held at most while Redis is slow or away; more are dropped (and counted in the warning). */
const MAX_BUFFERED = 10_000;
/** Batches on their way at once; while this many are, lines wait in the buffer (bounded above). */
const MAX_PENDING = 4;
const PAGE = 500;

export interface AccessStreamOptions {
  /** Approximate cap on the entries kept (XADD MAXLEN ~). */
  maxLen: number;
  logger?: Logger;
}

export class AccessStream {
  #buffer: AccessLine[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #writes = new Set<Promise<void>>();
  readonly #log: ThrottledLog | undefined;
  #stopped = false;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly opts: AccessStreamOptions,
  ) {
    this.#log = opts.logger === undefined ? undefined : new ThrottledLog(opts.logger);
  }

  /** Queue one line for the next batch; never waits, never throws. Dropped after stop(). */
  record(line: AccessLine): void {
    if (this.#stopped) return;
    if (this.#buffer.length >= MAX_BUFFERED) {
      this.#failed(1, 'buffer_full');
      return;
    }
    this.#buffer.push(line);
    if (this.#buffer.length >= FLUSH_LINES) this.#flush();
    else if (this.#timer === undefined) this.#arm();
  }

  /** Write what is buffered now; resolves when every write started so far has settled. */
  async flush(): Promise<void> {
    this.#flush(true);
    while (this.#writes.size > 0) await Promise.all([...this.#writes]);
    this.#log?.flush();
  }

  /** Writes what is buffered, then takes no more lines (call before the Redis connection closes). */
  async stop(): Promise<void> {
    await this.flush();
    this.#stopped = true;
  }

  #flush(force = false): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // Redis slow or away: the next batch waits for one on its way to settle.
    if (this.#buffer.length === 0 || (!force && this.#writes.size >= MAX_PENDING)) return;
    const lines = this.#buffer;
    this.#buffer = [];
    const p = this.redis.pipeline();
    for (const l of lines) p.xadd(this.key, 'MAXLEN', '~', this.opts.maxLen, '*', ...fieldsFor(l));
    const write = p.exec().then(
      (results) => {
        const failed = (results ?? []).filter(([err]) => err !== null);
        if (failed.length > 0) this.#failed(failed.length, 'write_failed', failed[0]?.[0]);
      },
      (e: unknown) => this.#failed(lines.length, 'write_failed', e),
    );
    this.#writes.add(write);
    void write.finally(() => {
      this.#writes.delete(write);
      this.#log?.flush();
      if (this.#buffer.length > 0 && this.#timer === undefined) this.#arm();
    });
  }

  #arm(): void {
    this.#timer = setTimeout(() => this.#flush(), FLUSH_MS);
    this.#timer.unref();
  }

  #failed(lines: number, reason: 'write_failed' | 'buffer_full', err?: unknown): void {
    this.#log?.log(
      'warn',
      { event: 'admin.access_log_failed', reason, lines, ...(err === undefined ? {} : { err: errorMessage(err) }) },
      'admin access log lines not written',
      `admin.access_log_failed:${reason}`,
    );
  }

  /**
   * Remove entries older than maxAgeMs (retention.accessSec), exactly: the promise is
   * "kept 7 days", so an entry does not outlive its age by a macro-node. Returns how many.
   */
  async trimByAge(maxAgeMs: number, now: number): Promise<number> {
    return this.redis.xtrim(this.key, 'MINID', `${Math.max(0, Math.floor(now - maxAgeMs))}-0`);
  }
}

/** Every entry of the access log `key` written from `sinceMs` on (stream time), oldest first, a page at a time. */
export async function* accessSince(redis: Redis, key: string, sinceMs: number): AsyncGenerator<AccessEntry[]> {
  for await (const rows of streamPages(redis, key, PAGE, '+', `${Math.max(0, Math.floor(sinceMs))}-0`)) {
    yield rows.map(([id, flat]) => entryOf(id, fieldsOf(flat)));
  }
}

function fieldsFor(l: AccessLine): string[] {
  const out = ['at', l.at, 'method', l.method, 'route', l.route, 'role', l.role, 'actor', l.actor, 'address', l.address, 'status', String(l.status), 'latencyMs', String(l.latencyMs)];
  if (l.denied !== undefined) out.push('denied', l.denied);
  return out;
}

function entryOf(id: string, f: Record<string, string>): AccessEntry {
  const e: AccessEntry = {
    id,
    at: f.at ?? '',
    method: f.method ?? '',
    route: f.route ?? '',
    role: f.role ?? 'none',
    actor: f.actor ?? 'none',
    address: f.address ?? '',
    status: Number(f.status ?? 0),
    latencyMs: Number(f.latencyMs ?? 0),
  };
  if (f.denied !== undefined) e.denied = f.denied;
  return e;
}
