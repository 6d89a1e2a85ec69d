/**
 * The admin audit trail: an append-only, hash-chained Redis stream (`<prefix>:audit`).
 *
 * Each entry holds flat fields — time, actor, role, action, [target], [detail] — plus
 * `prev` (the previous entry's hash; 64 zeros for the first) and
 * `hash = sha256(prev + canonical JSON of every other field)`, the canonical JSON being
 * the fields sorted by name (detail itself stored as canonical JSON). verify() walks the
 * stream and reports the first entry whose prev or hash does not fit, which catches an
 * edited field, a deleted entry (the next one's prev no longer matches) and an inserted
 * one. Not caught: removing entries from the END of the stream (truncation) — anchor the
 * latest hash elsewhere if that matters.
 *
 * Appends from one process are serialised by a promise chain; the chain head is read
 * once (XREVRANGE COUNT 1) at the first append. Two processes appending to one stream
 * would fork the chain: only one gateway process should own the admin API.
 *
 * `target` is stored as given: callers hash anything personal before passing it.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { fieldsOf, streamPages } from '../queue/streams.js';

export const GENESIS = '0'.repeat(64);

export interface AuditInput {
  actor: string;
  role: string;
  action: string;
  target?: string;
  detail?: object;
}

export interface AuditEntry {
  id: string;
  fields: Record<string, string>;
}

export type VerifyResult = { ok: true; entries: number } | { ok: false; entries: number; firstBroken: string; reason: string };

const BATCH = 500;

/** Canonical JSON: object keys sorted, recursively; no whitespace. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** sha256 hex of prev + canonical JSON of the fields other than prev and hash. */
export function entryHash(prev: string, fields: Record<string, string>): string {
  const body: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (k !== 'prev' && k !== 'hash') body[k] = v;
  return createHash('sha256').update(prev).update(canonicalJson(body)).digest('hex');
}


export class AuditLog {
  #tail: Promise<unknown> = Promise.resolve();
  #last: string | undefined;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    /** Where the chain starts after trimming (a HASH {id, prev}); by default `<key>:anchor`. */
    readonly anchorKey = `${key}:anchor`,
  ) {}

  /**
   * Remove entries older than maxAgeMs (retention). The chain stays checkable: the
   * oldest entry kept and the `prev` it names are written to the anchor, and verify()
   * starts there. Returns how many entries were removed.
   */
  async trimOlderThan(maxAgeMs: number, now: number): Promise<number> {
    const cutoff = `${Math.max(0, Math.floor(now - maxAgeMs))}-0`;
    // Exact (no ~): the anchor must be the entry that is really first afterwards.
    const removed = await this.redis.xtrim(this.key, 'MINID', cutoff);
    if (removed > 0) {
      const first = (await this.redis.xrange(this.key, '-', '+', 'COUNT', 1))[0];
      if (first !== undefined) await this.redis.hset(this.anchorKey, 'id', first[0], 'prev', fieldsOf(first[1]).prev ?? GENESIS);
    }
    return removed;
  }

  /** Appends one entry; resolves to its stream id. Serialised with the other appends of this instance. */
  append(entry: AuditInput): Promise<string> {
    const run = this.#tail.then(() => this.#append(entry));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #append(entry: AuditInput): Promise<string> {
    if (this.#last === undefined) {
      const last = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1);
      const head = last[0];
      this.#last = head === undefined ? GENESIS : (fieldsOf(head[1]).hash ?? GENESIS);
    }
    const fields: Record<string, string> = {
      time: new Date().toISOString(),
      actor: entry.actor,
      role: entry.role,
      action: entry.action,
    };
    if (entry.target !== undefined) fields.target = entry.target;
    if (entry.detail !== undefined) fields.detail = canonicalJson(entry.detail);
    const prev = this.#last;
    const hash = entryHash(prev, fields);
    const args = Object.entries({ ...fields, prev, hash }).flat();
    try {
      const id = await this.redis.xadd(this.key, '*', ...args);
      if (id === null) throw new Error('XADD returned no id');
      this.#last = hash;
      return id;
    } catch (e) {
      // Unknown whether it landed: re-read the head before the next append.
      this.#last = undefined;
      throw e;
    }
  }

  /** Up to `count` entries from `from` (a stream id, '-' or an exclusive '(id'). */
  async range(from = '-', count = 100): Promise<AuditEntry[]> {
    const rows = await this.redis.xrange(this.key, from, '+', 'COUNT', count);
    return rows.map(([id, flat]) => ({ id, fields: fieldsOf(flat) }));
  }

  /** Walks the whole stream in order; reports the first entry that breaks the chain. */
  async verify(): Promise<VerifyResult> {
    let prev = GENESIS;
    // After retention trimmed the oldest entries, the chain starts at the anchor.
    const anchor = await this.redis.hgetall(this.anchorKey);
    const first = (await this.redis.xrange(this.key, '-', '+', 'COUNT', 1))[0];
    if (anchor.id !== undefined && anchor.prev !== undefined && first !== undefined && first[0] === anchor.id) prev = anchor.prev;
    let entries = 0;
    for await (const batch of streamPages(this.redis, this.key, BATCH)) {
      for (const [id, flat] of batch) {
        const f = fieldsOf(flat);
        if (f.prev === undefined || f.hash === undefined) return { ok: false, entries, firstBroken: id, reason: 'entry has no prev or hash field' };
        if (f.prev !== prev) return { ok: false, entries, firstBroken: id, reason: 'prev does not match the previous entry (an entry was deleted or inserted)' };
        if (entryHash(f.prev, f) !== f.hash) return { ok: false, entries, firstBroken: id, reason: 'hash does not match the entry (it was edited or forged)' };
        prev = f.hash;
        entries++;
      }
    }
    return { ok: true, entries };
  }
}
