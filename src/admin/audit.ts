/**
 * The admin audit trail: an append-only, hash-chained Redis stream (`<prefix>:audit`)
 * with an anchored head.
 *
 * Each entry holds flat fields — time, actor, role, action, [target], [detail] — plus
 * `prev` (the previous entry's hash; 64 zeros for the first) and
 * `hash = sha256(prev + canonical JSON of every other field)`, the canonical JSON being
 * the fields sorted by name (detail itself stored as canonical JSON). verify() walks the
 * stream and reports the first entry whose prev or hash does not fit, which catches an
 * edited field, a deleted entry (the next one's prev no longer matches) and an inserted
 * one.
 *
 * The head. Every append also writes the new entry's id and hash to a second key (`head`,
 * a HASH in the stream's slot), in the same script, and only when the entry chains to the
 * head as it stands (compare-and-swap): so appends from several processes (the daemon, a
 * CLI command) never fork the chain, and an entry appended after the newest ones were cut
 * off still names the cut entry as its prev. verify() then requires the stream to reach
 * the head: entries XTRIMmed or XDELeted off the end leave the head naming an entry the
 * stream no longer holds. The head lives in the same Redis, so whoever can rewrite both
 * keys can hide a cut; against that the daemon writes the head to the log (`audit.head`,
 * audit-head.ts) at a fixed interval, and `verify({ head })` checks a head kept elsewhere.
 *
 * Retention (trimOlderThan) removes the oldest entries and never the newest one, so the
 * head is always in the stream; the oldest entry kept and the `prev` it names go to the
 * anchor (`<key>:anchor`), where verify() starts.
 *
 * `target` is stored as given: callers hash anything personal before passing it.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { sameSlot } from '../queue/keys.js';
import { fieldsOf, streamIdMs, streamPages } from '../queue/streams.js';

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

/** The chain's newest entry as the head key (or a log line) names it. */
export interface AuditHead {
  id: string;
  hash: string;
}

export type VerifyResult =
  | {
      ok: true;
      entries: number;
      /** The anchored head the stream reaches (absent for an empty stream that never had one). */
      head?: AuditHead;
      /** A head given to verify(): found in the stream, or older than the oldest entry retention kept. */
      given?: 'reached' | 'trimmed';
    }
  | { ok: false; entries: number; firstBroken: string; reason: string };

export interface AuditLogOptions {
  /** Where the chain starts after trimming (a HASH {id, prev}); by default `<key>:anchor`. */
  anchorKey?: string;
  /** The chain's head (a HASH {id, hash}) in the stream's slot; by default `<prefix>:{<key>}:head`. */
  headKey?: string;
  /** Told of every append: whether it was written. */
  onWrite?: (ok: boolean) => void;
}

const BATCH = 500;
/** Appends lost to another process's append in a row before giving up. */
const MAX_ATTEMPTS = 20;
/** After the n-th lost append, wait up to min(2^n, this) ms (random): a process appending a burst would otherwise win every time. */
const MAX_BACKOFF_MS = 50;

/**
 * KEYS[1] the audit stream, KEYS[2] its head (HASH id, hash; same slot).
 * ARGV[1] the hash the entry chains to (its prev), ARGV[2] its own hash, ARGV[3] the
 * genesis hash, ARGV[4..] its fields and values (prev and hash among them).
 * The chain's end is the head's hash; without a head (a stream written before heads, or
 * a new one) the newest entry's hash, or genesis. Appends and moves the head only when
 * ARGV[1] is that end. Returns {1, id} when written, {0, end} when not.
 */
const LUA_APPEND = `
local tip = redis.call('HGET', KEYS[2], 'hash')
if not tip then
  tip = ARGV[3]
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  if last then
    tip = ''
    local f = last[2]
    for i = 1, #f, 2 do if f[i] == 'hash' then tip = f[i + 1] end end
  end
end
if tip ~= ARGV[1] then return {0, tip} end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
redis.call('HSET', KEYS[2], 'id', id, 'hash', ARGV[2])
return {1, id}`;

/**
 * KEYS[1] the audit stream, KEYS[2] its head. A stream without a head (written before
 * heads) gets its newest entry as the head. Returns {id, hash} when adopted, else false.
 */
const LUA_ADOPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not last then return false end
local f = last[2]
for i = 1, #f, 2 do
  if f[i] == 'hash' then
    redis.call('HSET', KEYS[2], 'id', last[1], 'hash', f[i + 1])
    return {last[1], f[i + 1]}
  end
end
return false`;

interface AppendingRedis extends Redis {
  qasidAuditAppend(stream: string, head: string, prev: string, hash: string, genesis: string, ...fields: string[]): Promise<[number, string]>;
  qasidAuditAdopt(stream: string, head: string): Promise<[string, string] | null>;
}

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

/** The head key of an audit stream: `<prefix>:{<key>}:head`, in the stream's slot. */
export function auditHeadKey(key: string): string {
  const colon = key.lastIndexOf(':');
  return sameSlot(colon < 0 ? key : key.slice(0, colon), key, 'head');
}

/** `id:hash` (as `qasid audit verify --head` takes it and `audit.head` lines give it) → a head; undefined when malformed. */
export function parseHead(text: string): AuditHead | undefined {
  const m = /^(\d+-\d+):([0-9a-f]{64})$/.exec(text.trim());
  return m?.[1] === undefined || m[2] === undefined ? undefined : { id: m[1], hash: m[2] };
}

/** Stream ids compared in order: negative when a is older. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

export class AuditLog {
  #tail: Promise<unknown> = Promise.resolve();
  #last: string | undefined;
  readonly anchorKey: string;
  readonly headKey: string;
  readonly #onWrite: ((ok: boolean) => void) | undefined;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    opts: AuditLogOptions = {},
  ) {
    this.anchorKey = opts.anchorKey ?? `${key}:anchor`;
    this.headKey = opts.headKey ?? auditHeadKey(key);
    this.#onWrite = opts.onWrite;
    redis.defineCommand('qasidAuditAppend', { numberOfKeys: 2, lua: LUA_APPEND });
    redis.defineCommand('qasidAuditAdopt', { numberOfKeys: 2, lua: LUA_ADOPT });
  }

  /**
   * Remove entries older than maxAgeMs (retention), but never the newest one: it is the
   * head. The chain stays checkable: the oldest entry kept and the `prev` it names are
   * written to the anchor, and verify() starts there. Returns how many entries were removed.
   */
  async trimOlderThan(maxAgeMs: number, now: number): Promise<number> {
    const newest = (await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1))[0];
    if (newest === undefined) return 0;
    const cutoffMs = Math.max(0, Math.floor(now - maxAgeMs));
    // MINID keeps ids >= it: at most the newest id, so the newest entry always stays.
    const minId = streamIdMs(newest[0]) < cutoffMs ? newest[0] : `${cutoffMs}-0`;
    // Exact (no ~): the anchor must be the entry that is really first afterwards.
    const removed = await this.redis.xtrim(this.key, 'MINID', minId);
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

  /** The head as the head key holds it; undefined when there is none. */
  async head(): Promise<AuditHead | undefined> {
    const h = await this.redis.hgetall(this.headKey);
    return h.id !== undefined && h.hash !== undefined ? { id: h.id, hash: h.hash } : undefined;
  }

  /**
   * A stream without a head (written by a version before heads): the newest entry becomes
   * the head. Returns it when adopted, undefined when there was a head already or no entry.
   */
  async adoptHead(): Promise<AuditHead | undefined> {
    const r = this.redis as AppendingRedis;
    const got = await r.qasidAuditAdopt(this.key, this.headKey);
    return Array.isArray(got) && got.length === 2 ? { id: got[0], hash: got[1] } : undefined;
  }

  async #append(entry: AuditInput): Promise<string> {
    try {
      const id = await this.#write(entry);
      this.#onWrite?.(true);
      return id;
    } catch (e) {
      this.#onWrite?.(false);
      throw e;
    }
  }

  async #write(entry: AuditInput): Promise<string> {
    const fields: Record<string, string> = {
      time: new Date().toISOString(),
      actor: entry.actor,
      role: entry.role,
      action: entry.action,
    };
    if (entry.target !== undefined) fields.target = entry.target;
    if (entry.detail !== undefined) fields.detail = canonicalJson(entry.detail);
    const r = this.redis as AppendingRedis;
    let prev = this.#last ?? (await this.#end());
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const hash = entryHash(prev, fields);
      const args = Object.entries({ ...fields, prev, hash }).flat();
      let reply: [number, string];
      try {
        reply = await r.qasidAuditAppend(this.key, this.headKey, prev, hash, GENESIS, ...args);
      } catch (e) {
        // Unknown whether it landed: read the end again before the next append.
        this.#last = undefined;
        throw e;
      }
      const [written, value] = reply;
      if (Number(written) === 1) {
        this.#last = hash;
        return value;
      }
      // Another process appended since: chain to its entry, after a random pause.
      prev = value;
      await new Promise((res) => setTimeout(res, Math.random() * Math.min(2 ** attempt, MAX_BACKOFF_MS)));
    }
    this.#last = undefined;
    throw new Error(`audit append lost to other appenders ${MAX_ATTEMPTS} times in a row`);
  }

  /** The chain's end as the append script sees it: the head's hash, else the newest entry's, else genesis. */
  async #end(): Promise<string> {
    const head = await this.head();
    if (head !== undefined) return head.hash;
    const last = (await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1))[0];
    return last === undefined ? GENESIS : (fieldsOf(last[1]).hash ?? '');
  }

  /** Up to `count` entries from `from` (a stream id, '-' or an exclusive '(id'). */
  async range(from = '-', count = 100): Promise<AuditEntry[]> {
    const rows = await this.redis.xrange(this.key, from, '+', 'COUNT', count);
    return rows.map(([id, flat]) => ({ id, fields: fieldsOf(flat) }));
  }

  /**
   * Walks the whole stream in order and reports the first entry that breaks the chain;
   * then checks that the stream reaches its anchored head (nothing was cut off the end),
   * and, when `given` is passed (a head kept outside Redis: an `audit.head` log line),
   * that the stream holds it — or that retention trimmed past it.
   */
  async verify(opts: { given?: AuditHead } = {}): Promise<VerifyResult> {
    let prev = GENESIS;
    const [anchor, head] = await Promise.all([this.redis.hgetall(this.anchorKey), this.head()]);
    const first = (await this.redis.xrange(this.key, '-', '+', 'COUNT', 1))[0];
    // After retention trimmed the oldest entries, the chain starts at the anchor.
    const trimmed = anchor.id !== undefined && anchor.prev !== undefined && first !== undefined && first[0] === anchor.id;
    if (trimmed) prev = anchor.prev as string;
    let entries = 0;
    let last: string | undefined;
    const hashes = new Map<string, string>();
    const want = new Set([head?.id, opts.given?.id].filter((x): x is string => x !== undefined));
    for await (const batch of streamPages(this.redis, this.key, BATCH)) {
      for (const [id, flat] of batch) {
        const f = fieldsOf(flat);
        if (f.prev === undefined || f.hash === undefined) return { ok: false, entries, firstBroken: id, reason: 'entry has no prev or hash field' };
        if (f.prev !== prev) return { ok: false, entries, firstBroken: id, reason: 'prev does not match the previous entry (an entry was deleted or inserted)' };
        if (entryHash(f.prev, f) !== f.hash) return { ok: false, entries, firstBroken: id, reason: 'hash does not match the entry (it was edited or forged)' };
        if (want.has(id)) hashes.set(id, f.hash);
        prev = f.hash;
        last = id;
        entries++;
      }
    }
    if (head === undefined) {
      if (last === undefined) return { ok: true, entries };
      return {
        ok: false,
        entries,
        firstBroken: last,
        reason: 'the stream has no anchored head (its head key was deleted, or only a version before heads wrote it): a cut of its newest entries cannot be ruled out; a gateway of this version adopts the newest entry as the head when it starts',
      };
    }
    const headProblem = reach(head, hashes, last, 'its anchored head');
    if (headProblem !== undefined) return { ok: false, entries, firstBroken: head.id, reason: headProblem };
    if (last !== undefined && compareIds(last, head.id) > 0) {
      return { ok: false, entries, firstBroken: last, reason: `entries after the anchored head ${head.id} were added without moving it (by hand, or by a version before heads)` };
    }
    const result: VerifyResult = { ok: true, entries, head };
    if (opts.given !== undefined) {
      // Older than the oldest entry kept after a retention trim: it cannot be checked, and need not be.
      if (trimmed && first !== undefined && compareIds(opts.given.id, first[0]) < 0) result.given = 'trimmed';
      else {
        const problem = reach(opts.given, hashes, last, 'the head given');
        if (problem !== undefined) return { ok: false, entries, firstBroken: opts.given.id, reason: problem };
        result.given = 'reached';
      }
    }
    return result;
  }
}

/** Why the stream does not hold `head` (undefined when it does, with that hash). */
function reach(head: AuditHead, hashes: ReadonlyMap<string, string>, last: string | undefined, what: string): string | undefined {
  const found = hashes.get(head.id);
  if (found === head.hash) return undefined;
  if (found !== undefined) return `${what} ${head.id} names another hash than the entry of that id holds (the entry or the head was rewritten)`;
  if (last === undefined) return `the stream is empty but ${what} is ${head.id}: every entry was cut off`;
  if (compareIds(last, head.id) < 0) return `the stream ends at ${last}, before ${what} ${head.id}: its newest entries were cut off`;
  return `the stream holds no entry ${head.id}, which ${what} names: it was deleted`;
}
