/**
 * Message records and their state in Redis. Each decision that must not race (is this
 * client id new? is this the first terminal status? did the receipt arrive before the
 * mapping?) is one Lua script over keys that share a hash tag.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import type { FieldSealer } from './sealing.js';

/** Terminal statuses: every intake entry ends in exactly one of these. */
export type TerminalStatus = 'delivered' | 'undeliverable' | 'expired' | 'rejected' | 'failed' | 'unknown' | 'accepted' | 'deleted' | 'blocked';

/** The fields of a message record (a Redis HASH; every value a string). */
export interface RecordFields {
  /** gateway id */
  gw: string;
  /** client id */
  cid: string;
  ten?: string;
  to: string;
  from: string;
  txt: string;
  cls: string;
  pri: string;
  /** valid until, ms since epoch */
  vu: string;
  /** receipt wanted: '1' | '0' */
  rc: string;
  meta?: string;
  /** intake stream entry id that created it */
  eid: string;
  /** state: queued | submitting | retry | accepted | unknown | <terminal> */
  st: string;
  /** consent reference given with a marketing message */
  con?: string;
  /** not before, ms since epoch (scheduled sends) */
  nb?: string;
  at: string;
  att?: string;
  car?: string;
  parts?: string;
  /** parts that requested a receipt */
  rN?: string;
  rDone?: string;
  rBad?: string;
  /** the terminal status, set exactly once */
  term?: string;
  err?: string;
  /** carrier message ids (normalised, comma-separated) of the accepted parts: erasure deletes their mappings */
  mids?: string;
  /** '1' once the subscriber's frequency cap has counted this message */
  cap?: string;
  /** set by unpack when the sealed data could not be opened (key missing or data tampered) */
  sealErr?: string;
  /** the final event's own fields (JSON), set with `term` when the dispatcher ends a message (queue/final-event.ts) */
  ev?: string;
  /** when a receipt made the record terminal (ms since epoch) */
  tAt?: string;
  /** the receipt error code of the part that decided a non-delivered outcome */
  rErr?: string;
}

export type CreateResult =
  | { created: true }
  | { created: false; fields: Partial<RecordFields> };

const LUA_CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HGETALL', KEYS[1])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return false`;

// KEYS[1] record; ARGV: status, then field/value pairs to set with it. Returns 1 when this
// call made the record terminal, 0 when it already was.
const LUA_FINALISE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'term', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1], unpack(ARGV, 2))
return 1`;

// KEYS[1] a ZSET scored by time; ARGV[1] now, ARGV[2] limit, ARGV[3] lease until.
// Takes the members whose time has come and moves them to the lease time, atomically,
// so two instances never take the same one and a dead instance's lease runs out.
// KEYS[1] hash; ARGV[1] field, ARGV[2] expected value, ARGV[3] new value.
const LUA_SWAP_FIELD = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

const LUA_TAKE_DUE = `
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return ids`;

// KEYS[1] record; ARGV: field/value pairs. Like HSET, but a record that is already
// terminal (its receipt won the race) keeps its state.
const LUA_UPDATE_LIVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'term') == 1 then
  for i = 1, #ARGV, 2 do
    if ARGV[i] ~= 'st' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  end
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`;

// KEYS[1] carrier-id mapping, KEYS[2] parked receipt; ARGV[1] value, ARGV[2] ttl ms.
// Returns the parked receipt (and removes it) when one was waiting.
const LUA_MAP = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local parked = redis.call('GET', KEYS[2])
if parked then redis.call('DEL', KEYS[2]) end
return parked`;

// KEYS[1] carrier-id mapping, KEYS[2] parked receipt; ARGV[1] receipt JSON, ARGV[2] park ttl ms.
// Returns the mapping when known, else parks the receipt and returns false.
const LUA_MATCH = `
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return false`;

// KEYS[1] record; ARGV[1] receipt state, ARGV[2] '1' when that state is final, ARGV[3]
// now (ms), ARGV[4] the receipt's error code ('' when none). Rolls the parts of a long
// message up into one status. Returns:
//   {'final', status, ids, rErr, eid} when this receipt settles the message (`ids` is the
//   record's `i` field: what its event echoes, so no second round trip; rErr the error of
//   the part that decided a non-delivered outcome, or ''; eid the intake entry id, whose
//   time part is when the message was queued),
//   {'partial'} when more receipts are expected, {'late', tAt} when it was already
//   terminal (tAt: when a receipt made it so, or ''), {'gone'} when the record no longer exists.
const LUA_RECEIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if redis.call('HEXISTS', KEYS[1], 'term') == 1 then return {'late', redis.call('HGET', KEYS[1], 'tAt') or ''} end
if ARGV[2] ~= '1' then return {'partial'} end
if ARGV[1] ~= 'delivered' and redis.call('HSETNX', KEYS[1], 'rBad', ARGV[1]) == 1 and ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'rErr', ARGV[4])
end
local done = redis.call('HINCRBY', KEYS[1], 'rDone', 1)
local want = tonumber(redis.call('HGET', KEYS[1], 'rN') or '1')
if done < want then return {'partial'} end
local status = redis.call('HGET', KEYS[1], 'rBad') or 'delivered'
redis.call('HSET', KEYS[1], 'term', status, 'st', status, 'tAt', ARGV[3])
return {'final', status, redis.call('HGET', KEYS[1], 'i') or '{}', redis.call('HGET', KEYS[1], 'rErr') or '', redis.call('HGET', KEYS[1], 'eid') or ''}`;

interface ScriptedRedis extends Redis {
  qasidCreate(key: string, ttlMs: number, ...fieldValues: string[]): Promise<string[] | null>;
  qasidFinalise(key: string, status: string, ...fieldValues: string[]): Promise<number>;
  qasidUpdateLive(key: string, ...fieldValues: string[]): Promise<number>;
  qasidMap(cidKey: string, parkKey: string, value: string, ttlMs: number): Promise<string | null>;
  qasidMatch(cidKey: string, parkKey: string, receipt: string, ttlMs: number): Promise<string | null>;
  qasidReceipt(recKey: string, state: string, final: string, now: number, err: string): Promise<string[]>;
  qasidTakeDue(zsetKey: string, now: number, limit: number, leaseUntil: number): Promise<string[]>;
  qasidSwapField(key: string, field: string, expected: string, value: string): Promise<number>;
}

export class MessageStore {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    readonly keys: Keys,
    private readonly sealer: FieldSealer,
  ) {
    redis.defineCommand('qasidCreate', { numberOfKeys: 1, lua: LUA_CREATE });
    redis.defineCommand('qasidFinalise', { numberOfKeys: 1, lua: LUA_FINALISE });
    redis.defineCommand('qasidUpdateLive', { numberOfKeys: 1, lua: LUA_UPDATE_LIVE });
    redis.defineCommand('qasidMap', { numberOfKeys: 2, lua: LUA_MAP });
    redis.defineCommand('qasidMatch', { numberOfKeys: 2, lua: LUA_MATCH });
    redis.defineCommand('qasidReceipt', { numberOfKeys: 1, lua: LUA_RECEIPT });
    redis.defineCommand('qasidTakeDue', { numberOfKeys: 1, lua: LUA_TAKE_DUE });
    redis.defineCommand('qasidSwapField', { numberOfKeys: 1, lua: LUA_SWAP_FIELD });
    this.redis = redis as ScriptedRedis;
  }

  /** Create the record unless one exists (idempotency): then return what it holds. */
  async create(recId: string, fields: RecordFields, ttlMs: number): Promise<CreateResult> {
    const existing = await this.redis.qasidCreate(this.keys.record(recId), Math.max(1, Math.round(ttlMs)), ...this.pack(recId, fields));
    if (existing === null) return { created: true };
    return { created: false, fields: this.unpack(recId, pairsToObject(existing)) };
  }

  async get(recId: string): Promise<Partial<RecordFields> | undefined> {
    const h = await this.redis.hgetall(this.keys.record(recId));
    return Object.keys(h).length === 0 ? undefined : this.unpack(recId, h);
  }

  /** A record's raw hash as stored (sealed `d`), for the key-rotation sweep and erasure. */
  async raw(recId: string): Promise<Record<string, string> | undefined> {
    const h = await this.redis.hgetall(this.keys.record(recId));
    return Object.keys(h).length === 0 ? undefined : h;
  }

  /**
   * Replace the sealed `d` of a record only if it still holds `expected` (the rotation
   * sweep must not overwrite a record that changed meanwhile). True when replaced.
   */
  async resealData(recId: string, expected: string, sealed: string): Promise<boolean> {
    return (await this.redis.qasidSwapField(this.keys.record(recId), 'd', expected, sealed)) === 1;
  }

  /**
   * In Redis the fields that never change travel as two JSON strings — `i` (what events
   * echo: client id, gateway id, tenant, meta) and `d` (the message: number and text,
   * sealed with the record id as context) — so a record is written with a handful of
   * arguments instead of dozens. Mutable fields stay separate.
   */
  private pack(recId: string, fields: RecordFields): string[] {
    const out = ['i', JSON.stringify(pick(fields, ID_FIELDS)), 'd', this.sealer.seal(JSON.stringify(pick(fields, DATA_FIELDS)), recId)];
    for (const [k, v] of Object.entries(fields)) if (v !== undefined && !PACKED.has(k)) out.push(k, String(v));
    return out;
  }

  private unpack(recId: string, h: Record<string, string>): Partial<RecordFields> {
    const { i, d, ...rest } = h;
    let data: Partial<RecordFields>;
    if (d === undefined || d === '') data = {};
    else if (this.sealer.isSealed(d)) {
      const plain = this.sealer.open(d, recId);
      data = plain === undefined ? { sealErr: '1' } : unpackJson(plain);
    } else data = unpackJson(d); // written before encryption was on; `qasid keys rotate` seals it
    return { ...unpackJson(i), ...data, ...(rest as Partial<RecordFields>) };
  }

  /** Set fields; a terminal record keeps its `st`. False when the record is terminal or gone. */
  async update(recId: string, fields: Partial<RecordFields>): Promise<boolean> {
    return (await this.redis.qasidUpdateLive(this.keys.record(recId), ...flatten(fields))) === 1;
  }

  /** Set the terminal status. True only for the one call that did it. */
  async finalise(recId: string, status: TerminalStatus, fields: Partial<RecordFields> = {}): Promise<boolean> {
    return (await this.redis.qasidFinalise(this.keys.record(recId), status, ...flatten(fields))) === 1;
  }

  /** Record carrier id → record; returns a receipt that was parked waiting for it. */
  async map(carrier: string, normId: string, value: string, ttlMs: number): Promise<string | null> {
    return this.redis.qasidMap(this.keys.carrierId(carrier, normId), this.keys.parked(carrier, normId), value, Math.max(1, Math.round(ttlMs)));
  }

  /** The mapping for a receipt's id, or null after parking the receipt until the mapping lands. */
  async match(carrier: string, normId: string, receiptJson: string, parkTtlMs: number): Promise<string | null> {
    return this.redis.qasidMatch(this.keys.carrierId(carrier, normId), this.keys.parked(carrier, normId), receiptJson, Math.max(1, Math.round(parkTtlMs)));
  }

  /**
   * Apply one receipt (its error code is kept when it decides a non-delivered outcome). A
   * receipt for a record that is already terminal returns `terminalAt`: when a receipt
   * made it so, if one did.
   */
  async applyReceipt(
    recId: string,
    state: string,
    final: boolean,
    now: number,
    err: string | undefined,
  ): Promise<{ outcome: 'final'; status: TerminalStatus; fields: Partial<RecordFields>; error?: string; entryId?: string } | { outcome: 'late'; terminalAt?: number } | { outcome: 'partial' | 'gone' }> {
    const r = await this.redis.qasidReceipt(this.keys.record(recId), state, final ? '1' : '0', Math.round(now), err ?? '');
    if (r[0] === 'final') return { outcome: 'final', status: r[1] as TerminalStatus, fields: unpackJson(r[2]), ...(r[3] ? { error: r[3] } : {}), ...(r[4] ? { entryId: r[4] } : {}) };
    if (r[0] === 'late') return r[1] ? { outcome: 'late', terminalAt: Number(r[1]) } : { outcome: 'late' };
    return { outcome: r[0] as 'partial' | 'gone' };
  }

  /** Whether a record id is in the due or watch set. */
  async isScheduled(zset: 'due' | 'watch', recId: string): Promise<boolean> {
    return (await this.redis.zscore(this.keys[zset], recId)) !== null;
  }

  async schedule(zset: 'due' | 'watch', recId: string, atMs: number): Promise<void> {
    await this.redis.zadd(this.keys[zset], Math.round(atMs), recId);
  }

  /** Schedule unless already scheduled (then the member keeps its time). */
  async scheduleIfAbsent(zset: 'due' | 'watch', recId: string, atMs: number): Promise<void> {
    await this.redis.zadd(this.keys[zset], 'NX', Math.round(atMs), recId);
  }

  /**
   * Push the leases of members still being worked on out to `untilMs` — only members
   * still there, and never to an earlier time (a member rescheduled meanwhile keeps a
   * later time; one rescheduled earlier was let go before this was sent).
   */
  async renewLeases(zset: 'due' | 'watch', recIds: readonly string[], untilMs: number): Promise<void> {
    if (recIds.length === 0) return;
    const score = Math.round(untilMs);
    const args: Array<string | number> = [];
    for (const id of recIds) args.push(score, id);
    await this.redis.zadd(this.keys[zset], 'XX', 'GT', ...args);
  }

  async unschedule(zset: 'due' | 'watch', recId: string): Promise<void> {
    await this.redis.zrem(this.keys[zset], recId);
  }

  /**
   * Take up to `limit` ids whose time has come, leasing them: their score moves to
   * now + leaseMs, so an instance that dies holding them gives them back.
   */
  async takeDue(zset: 'due' | 'watch', now: number, limit: number, leaseMs: number): Promise<string[]> {
    return this.redis.qasidTakeDue(this.keys[zset], Math.round(now), limit, Math.round(now + leaseMs));
  }

  // ---- Receipts matched by a second id, and parked receipts that never match ----------
  // (dispatch/receipts.ts). Only a receipt that finds no mapping comes here: the common
  // path is match() alone.

  /** The carrier-id mapping if recorded; nothing is parked (a receipt tried by its first of two ids). */
  async mapping(carrier: string, normId: string): Promise<string | null> {
    return this.redis.get(this.keys.carrierId(carrier, normId));
  }

  /** Take a parked receipt back (it matched by its other id); null when a mapping took it first or it is gone. */
  async unpark(carrier: string, normId: string): Promise<string | null> {
    return this.redis.getdel(this.keys.parked(carrier, normId));
  }

  /**
   * Note a parked receipt in the index, due when its park time runs out. The index's TTL is
   * set to `ttlMs` each time (the newest member's need: park time plus the sweep's grace).
   * Two commands in one round trip, not a transaction: a crash between them leaves the
   * index with the TTL of its previous member, and the next park sets it again.
   */
  async indexParked(carrier: string, normId: string, dueAtMs: number, ttlMs: number): Promise<void> {
    const k = this.keys.parkedIndex;
    const res = await this.redis.pipeline().zadd(k, Math.round(dueAtMs), `${carrier}:${normId}`).pexpire(k, Math.max(1, Math.round(ttlMs))).exec();
    for (const [err] of res ?? []) if (err) throw err;
  }

  /** Up to `limit` parked receipts whose park time has run out, leased for leaseMs as takeDue() leases. */
  async takeOverdueParked(now: number, limit: number, leaseMs: number): Promise<Array<{ carrier: string; normId: string }>> {
    const members = await this.redis.qasidTakeDue(this.keys.parkedIndex, Math.round(now), limit, Math.round(now + leaseMs));
    // Carrier ids hold no ':' (config/carrier.schema.json), so the first one ends it.
    return members.map((m) => ({ carrier: m.slice(0, m.indexOf(':')), normId: m.slice(m.indexOf(':') + 1) }));
  }

  /** Drop an overdue parked receipt and its index entry; true when it was still parked (it never matched). */
  async dropParked(carrier: string, normId: string): Promise<boolean> {
    const [dropped] = await Promise.all([this.redis.del(this.keys.parked(carrier, normId)), this.redis.zrem(this.keys.parkedIndex, `${carrier}:${normId}`)]);
    return dropped === 1;
  }
}

function flatten(fields: Partial<RecordFields>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out.push(k, String(v));
  return out;
}

function pairsToObject(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) out[pairs[i] as string] = pairs[i + 1] as string;
  return out;
}

const ID_FIELDS = ['cid', 'gw', 'ten', 'meta'] as const;
const DATA_FIELDS = ['to', 'from', 'txt', 'cls', 'pri', 'vu', 'rc', 'nb', 'at', 'con'] as const;
const PACKED = new Set<string>([...ID_FIELDS, ...DATA_FIELDS]);

function pick(fields: Partial<RecordFields>, keys: readonly (keyof RecordFields)[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) {
    const v = fields[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function unpackJson(json: string | undefined): Partial<RecordFields> {
  if (json === undefined || json === '') return {};
  return JSON.parse(json) as Partial<RecordFields>;
}
