/**
 * Message records and their schedules (the due and watch sets) in Redis. Each decision
 * that must not race (is this client id new? is this the first terminal status? does
 * this receipt settle the message?) is one Lua script over keys that share a hash tag,
 * and every message that asks for the same kind of decision in one turn of the event
 * loop is decided in the same call (queue/batch.ts). Carrier-id mappings and parked
 * receipts are the receipt domain's (dlr/mappings.ts).
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import type { FieldSealer } from './sealing.js';
import { BATCH_ORDER, LUA_EACH, TickBatcher } from './batch.js';
import type { RecordFields, TerminalStatus } from './record.js';

export type { RecordFields, TerminalStatus } from './record.js';

/**
 * What a record holds outside its sealed data, read without opening anything: its ids
 * (`i`: client id, gateway id, tenant, meta), the intake entry that created it (whose
 * time is when the message was queued) and the sealed data itself, still sealed.
 */
export interface RecordFacts {
  recId: string;
  ids: Partial<RecordFields>;
  eid?: string;
  /** `d`: number, sender, text, class … sealed (`v1.<key id>.…`), or plain JSON from before encryption. */
  data?: string;
}

export type CreateResult =
  | { created: true }
  | { created: false; fields: Partial<RecordFields> };

// Every script here runs over a batch (queue/batch.ts): KEYS are the items' keys, all of
// one hash tag (records and the due and watch sets share the shard's), ARGV the items'
// arguments one after the other, and each item runs in its own pcall (LUA_EACH).
const EACH = LUA_EACH;

// KEYS: records. ARGV per record: ttl ms, n, then n field/value items. Creates each
// record unless it exists. Returns per record 0 (created) or its HGETALL (it existed).
const LUA_CREATE = `${EACH}
local out = {}
local a = 1
for i = 1, #KEYS do
  local n = tonumber(ARGV[a + 1])
  out[i] = each(function()
    local h = redis.call('HGETALL', KEYS[i])
    if #h > 0 then return h end
    redis.call('HSET', KEYS[i], unpack(ARGV, a + 2, a + 1 + n))
    redis.call('PEXPIRE', KEYS[i], ARGV[a])
    return 0
  end)
  a = a + 2 + n
end
return out`;

// KEYS: records. Returns per record its HGETALL (empty when gone).
const LUA_GET = `${EACH}
local out = {}
for i = 1, #KEYS do out[i] = each(function() return redis.call('HGETALL', KEYS[i]) end) end
return out`;

// KEYS: records. ARGV per record: status, n, then n field/value items to set with it.
// Returns per record 1 when this call made it terminal, 0 when it already was (or is gone).
const LUA_FINALISE = `${EACH}
local out = {}
local a = 1
for i = 1, #KEYS do
  local n = tonumber(ARGV[a + 1])
  out[i] = each(function()
    if redis.call('EXISTS', KEYS[i]) == 0 or redis.call('HSETNX', KEYS[i], 'term', ARGV[a]) == 0 then return 0 end
    redis.call('HSET', KEYS[i], 'st', ARGV[a], unpack(ARGV, a + 2, a + 1 + n))
    return 1
  end)
  a = a + 2 + n
end
return out`;

// The Lua helper both live-state writes share: sets the field/value items ARGV[from..to] on
// record k — all but `st` when the record is already terminal (its receipt won the race) —
// and returns 1 when the record was live and took them, 0 when it is terminal or gone.
const SET_LIVE = `
local function setLive(k, from, to)
  local f = redis.call('HMGET', k, 'term', 'st')
  if not f[1] and not f[2] then return 0 end
  if f[1] then
    for j = from, to, 2 do
      if ARGV[j] ~= 'st' then redis.call('HSET', k, ARGV[j], ARGV[j + 1]) end
    end
    return 0
  end
  redis.call('HSET', k, unpack(ARGV, from, to))
  return 1
end
`;

// KEYS: records. ARGV per record: n, then n field/value items. Like HSET, but a record
// that is already terminal (its receipt won the race) keeps its state. Returns per record
// 1 when set, 0 when it was terminal or gone.
const LUA_UPDATE_LIVE = `${EACH}${SET_LIVE}
local out = {}
local a = 1
for i = 1, #KEYS do
  local n = tonumber(ARGV[a])
  out[i] = each(function() return setLive(KEYS[i], a + 1, a + n) end)
  a = a + 1 + n
end
return out`;

// KEYS[1] the watch set, then records. ARGV per record: its id, the watch deadline (ms),
// n, then n field/value items (`st` accepted among them). A live record takes the fields
// and is watched until the deadline, in one step: a receipt can only settle it after this
// (its mapping is written next), and whatever settles it finds it watched. A record a
// receipt already settled (a part's receipt came first) keeps its state and is not
// watched again. Returns per record 1 when accepted and watched, else 0.
const LUA_ACCEPT = `${EACH}${SET_LIVE}
local out = {}
local a = 1
for i = 2, #KEYS do
  local n = tonumber(ARGV[a + 2])
  out[i - 1] = each(function()
    if setLive(KEYS[i], a + 3, a + 2 + n) == 0 then return 0 end
    redis.call('ZADD', KEYS[1], ARGV[a + 1], ARGV[a])
    return 1
  end)
  a = a + 3 + n
end
return out`;

// KEYS[1] hash; ARGV[1] field, ARGV[2] expected value, ARGV[3] new value.
const LUA_SWAP_FIELD = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

// KEYS[1] a ZSET scored by time; ARGV[1] now, ARGV[2] limit, ARGV[3] lease until.
// Takes the members whose time has come and moves them to the lease time, atomically,
// so two instances never take the same one and a dead instance's lease runs out. (The
// due and watch sets here; the parked-receipt index in dlr/mappings.ts.)
export const LUA_TAKE_DUE = `
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
return ids`;

// KEYS: records. ARGV per record: receipt state, '1' when that state is final, now (ms),
// the receipt's error code ('' when none), the part it is for (0-based; '' when not
// known). Rolls the parts of a long message up into one status, and keeps each part's in
// `pS` ("<part>:<state>,…"). Returns per record:
//   {'final', status, ids, rErr, eid, pS} when this receipt settles the message (`ids` is
//   the record's `i` field: what its event echoes, so no second round trip; rErr the
//   error of the part that decided a non-delivered outcome, or ''; eid the intake entry
//   id, whose time part is when the message was queued; pS the parts' states, or ''),
//   {'partial'} when more receipts are expected, {'late', tAt} when it was already
//   terminal (tAt: when a receipt made it so, or ''), {'gone'} when the record no longer exists.
const LUA_RECEIPT = `${EACH}
local out = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local a = (i - 1) * 5
  local state, final, now, err, part = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  out[i] = each(function()
    local f = redis.call('HMGET', k, 'term', 'tAt', 'st')
    if not f[1] and not f[3] then return {'gone'} end
    if f[1] then return {'late', f[2] or ''} end
    if final ~= '1' then return {'partial'} end
    if state ~= 'delivered' and redis.call('HSETNX', k, 'rBad', state) == 1 and err ~= '' then
      redis.call('HSET', k, 'rErr', err)
    end
    if part ~= '' then
      local ps = redis.call('HGET', k, 'pS')
      redis.call('HSET', k, 'pS', (ps and (ps .. ',') or '') .. part .. ':' .. state)
    end
    local done = redis.call('HINCRBY', k, 'rDone', 1)
    local want = tonumber(redis.call('HGET', k, 'rN') or '1')
    if done < want then return {'partial'} end
    local status = redis.call('HGET', k, 'rBad') or 'delivered'
    redis.call('HSET', k, 'term', status, 'st', status, 'tAt', now)
    local g = redis.call('HMGET', k, 'i', 'rErr', 'eid', 'pS')
    return {'final', status, g[1] or '{}', g[2] or '', g[3] or '', g[4] or ''}
  end)
end
return out`;

interface ScriptedRedis extends Redis {
  qasidCreateMany(numKeys: number, keys: string[], argv: string[]): Promise<Array<0 | string[]>>;
  qasidGetMany(numKeys: number, keys: string[]): Promise<string[][]>;
  qasidFinaliseMany(numKeys: number, keys: string[], argv: string[]): Promise<number[]>;
  qasidUpdateLiveMany(numKeys: number, keys: string[], argv: string[]): Promise<number[]>;
  qasidAcceptMany(numKeys: number, keys: string[], argv: string[]): Promise<number[]>;
  qasidReceiptMany(numKeys: number, keys: string[], argv: string[]): Promise<string[][]>;
  qasidTakeDue(zsetKey: string, now: number, limit: number, leaseUntil: number): Promise<string[]>;
  qasidSwapField(key: string, field: string, expected: string, value: string): Promise<number>;
}

/** One item of a batch: its record's key and its arguments. */
interface Item {
  key: string;
  argv: string[];
}

/**
 * Concatenates the items' keys (after `first` when given) and arguments, in order, each
 * array allocated once at its size.
 */
function joined(items: readonly Item[], first?: string): { keys: string[]; argv: string[] } {
  const lead = first === undefined ? 0 : 1;
  const keys = new Array<string>(items.length + lead);
  if (first !== undefined) keys[0] = first;
  let n = 0;
  for (let i = 0; i < items.length; i++) n += (items[i] as Item).argv.length;
  const argv = new Array<string>(n);
  let a = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i] as Item;
    keys[i + lead] = it.key;
    for (let j = 0; j < it.argv.length; j++) argv[a++] = it.argv[j] as string;
  }
  return { keys, argv };
}

/** A ZSET write of one tick: ZADD (plain or NX) or ZREM, members of one set together. */
type ZsetOp = { op: 'add' | 'addNx'; score: number; member: string } | { op: 'rem'; member: string };

export class MessageStore {
  private readonly redis: ScriptedRedis;
  private readonly creates: TickBatcher<Item, 0 | string[]>;
  private readonly gets: TickBatcher<string, string[]>;
  private readonly finals: TickBatcher<Item, number>;
  private readonly updates: TickBatcher<Item, number>;
  private readonly accepts: TickBatcher<Item, number>;
  private readonly receipts: TickBatcher<Item, string[]>;
  private readonly zsets: TickBatcher<ZsetOp, void>;

  constructor(
    redis: Redis,
    readonly keys: Keys,
    private readonly sealer: FieldSealer,
  ) {
    redis.defineCommand('qasidCreateMany', { lua: LUA_CREATE });
    redis.defineCommand('qasidGetMany', { lua: LUA_GET });
    redis.defineCommand('qasidFinaliseMany', { lua: LUA_FINALISE });
    redis.defineCommand('qasidUpdateLiveMany', { lua: LUA_UPDATE_LIVE });
    redis.defineCommand('qasidAcceptMany', { lua: LUA_ACCEPT });
    redis.defineCommand('qasidReceiptMany', { lua: LUA_RECEIPT });
    redis.defineCommand('qasidTakeDue', { numberOfKeys: 1, lua: LUA_TAKE_DUE });
    redis.defineCommand('qasidSwapField', { numberOfKeys: 1, lua: LUA_SWAP_FIELD });
    this.redis = redis as ScriptedRedis;
    const r = this.redis;
    const script =
      <O>(call: (n: number, keys: string[], argv: string[]) => Promise<O[]>) =>
      (_group: string, items: Item[]): Promise<O[]> => {
        const { keys, argv } = joined(items);
        return call(keys.length, keys, argv);
      };
    this.creates = new TickBatcher(script((n, k, a) => r.qasidCreateMany(n, k, a)));
    this.gets = new TickBatcher((_g, ids: string[]) => r.qasidGetMany(ids.length, ids));
    this.finals = new TickBatcher(script((n, k, a) => r.qasidFinaliseMany(n, k, a)));
    this.updates = new TickBatcher(script((n, k, a) => r.qasidUpdateLiveMany(n, k, a)));
    // Accepts go before the tick's events and mappings (see accept()).
    this.accepts = new TickBatcher(
      (group, items: Item[]) => {
        const { keys, argv } = joined(items, this.keys.zset('watch', this.shardOfTag(group)));
        return r.qasidAcceptMany(keys.length, keys, argv);
      },
      { order: BATCH_ORDER.accept },
    );
    this.receipts = new TickBatcher(script((n, k, a) => r.qasidReceiptMany(n, k, a)));
    this.zsets = new TickBatcher((key, ops: ZsetOp[]) => this.writeZset(key, ops));
  }

  /** The hash tag of a record's shard: its batch group. */
  private tagOf(recId: string): string {
    return this.keys.shardTag(this.keys.shardOf(recId));
  }

  private shardOfTag(tag: string): number {
    for (let i = 0; i < this.keys.shards; i++) if (this.keys.shardTag(i) === tag) return i;
    throw new Error(`no shard has the tag ${tag}`);
  }

  /** The due or watch set a record id waits in (its shard's). */
  private zkey(zset: 'due' | 'watch', recId: string): string {
    return this.keys.zset(zset, this.keys.shardOf(recId));
  }

  /** One tick's writes to one ZSET: one ZADD per mode and one ZREM, in one round trip. */
  private async writeZset(key: string, ops: readonly ZsetOp[]): Promise<void[]> {
    const add: Array<string | number> = [];
    const addNx: Array<string | number> = [];
    const rem: string[] = [];
    // A member both added and removed in one tick: the later call wins, as it would one by one.
    const last = new Map<string, ZsetOp>();
    for (const op of ops) last.set(op.member, op);
    for (const op of last.values()) {
      if (op.op === 'rem') rem.push(op.member);
      else (op.op === 'add' ? add : addNx).push(op.score, op.member);
    }
    const p = this.redis.pipeline();
    if (add.length > 0) p.zadd(key, ...add);
    if (addNx.length > 0) p.zadd(key, 'NX', ...addNx);
    if (rem.length > 0) p.zrem(key, ...rem);
    for (const [err] of (await p.exec()) ?? []) if (err) throw err;
    return ops.map(() => undefined);
  }

  /** Create the record unless one exists (idempotency): then return what it holds. */
  async create(recId: string, fields: RecordFields, ttlMs: number): Promise<CreateResult> {
    const argv = [String(Math.max(1, Math.round(ttlMs))), ''];
    argv[1] = String(this.packInto(argv, recId, fields));
    const existing = await this.creates.add(this.tagOf(recId), { key: this.keys.record(recId), argv });
    if (existing === 0) return { created: true };
    return { created: false, fields: this.unpack(recId, pairsToObject(existing)) };
  }

  async get(recId: string): Promise<Partial<RecordFields> | undefined> {
    const h = pairsToObject(await this.gets.add(this.tagOf(recId), this.keys.record(recId)));
    return Object.keys(h).length === 0 ? undefined : this.unpack(recId, h);
  }

  /** A record's raw hash as stored (sealed `d`), for the key-rotation sweep and erasure. */
  async raw(recId: string): Promise<Record<string, string> | undefined> {
    const h = pairsToObject(await this.gets.add(this.tagOf(recId), this.keys.record(recId)));
    return Object.keys(h).length === 0 ? undefined : h;
  }

  /** The unsealed facts of records (undefined for one that is gone), in one round trip. */
  async facts(recIds: readonly string[]): Promise<Array<RecordFacts | undefined>> {
    if (recIds.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of recIds) p.hmget(this.keys.record(id), 'i', 'eid', 'd');
    const got = (await p.exec()) ?? [];
    return recIds.map((recId, n) => {
      const [err, value] = got[n] ?? [null, null];
      // WRONGTYPE: a key that merely looks like a record.
      if (err) return undefined;
      const [i, eid, d] = ((value as Array<string | null> | null) ?? []).map((v) => v ?? undefined);
      if (i === undefined && eid === undefined && d === undefined) return undefined;
      let ids: Partial<RecordFields> = {};
      try {
        ids = unpackJson(i);
      } catch {
        // `i` damaged: the record is still there, without ids
      }
      const f: RecordFacts = { recId, ids };
      if (eid !== undefined) f.eid = eid;
      if (d !== undefined && d !== '') f.data = d;
      return f;
    });
  }

  /** A record's data opened (number, sender, text, class …); undefined when it cannot be (key gone, tampered, not JSON). */
  openData(recId: string, data: string): Partial<RecordFields> | undefined {
    try {
      const opened = this.unpack(recId, { d: data });
      return opened.sealErr === undefined ? opened : undefined;
    } catch {
      return undefined;
    }
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
  private packInto(out: string[], recId: string, fields: RecordFields): number {
    const from = out.length;
    out.push('i', JSON.stringify(pick(fields, ID_FIELDS)), 'd', this.sealer.seal(JSON.stringify(pick(fields, DATA_FIELDS)), recId));
    for (const k in fields) {
      if (!Object.hasOwn(fields, k) || PACKED.has(k)) continue;
      const v = fields[k as keyof RecordFields];
      if (v !== undefined) out.push(k, String(v));
    }
    return out.length - from;
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
    const argv = [''];
    argv[0] = String(flattenInto(argv, fields));
    return (await this.updates.add(this.tagOf(recId), { key: this.keys.record(recId), argv })) === 1;
  }

  /**
   * The carrier took it and a receipt is wanted: set `fields` (st accepted, carrier ids)
   * and watch it until `watchUntil`, in one step. Issued in the same turn as its last
   * mapping (dlr/mappings.ts map()), it still runs first: accepts flush before events and
   * mappings (BATCH_ORDER), on one connection, so no receipt can match the message before
   * it is accepted and watched. False when a receipt already settled it (it is then not
   * watched) or it is gone.
   */
  async accept(recId: string, fields: Partial<RecordFields>, watchUntil: number): Promise<boolean> {
    const argv = [recId, String(Math.round(watchUntil)), ''];
    argv[2] = String(flattenInto(argv, fields));
    return (await this.accepts.add(this.tagOf(recId), { key: this.keys.record(recId), argv })) === 1;
  }

  /** Set the terminal status. True only for the one call that did it. */
  async finalise(recId: string, status: TerminalStatus, fields: Partial<RecordFields> = {}): Promise<boolean> {
    const argv: string[] = [status, ''];
    argv[1] = String(flattenInto(argv, fields));
    return (await this.finals.add(this.tagOf(recId), { key: this.keys.record(recId), argv })) === 1;
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
    /** The part the receipt is for (0-based), when the mapping says. */
    part?: number,
  ): Promise<{ outcome: 'final'; status: TerminalStatus; fields: Partial<RecordFields>; error?: string; entryId?: string; partStates?: string } | { outcome: 'late'; terminalAt?: number } | { outcome: 'partial' | 'gone' }> {
    const r = await this.receipts.add(this.tagOf(recId), { key: this.keys.record(recId), argv: [state, final ? '1' : '0', String(Math.round(now)), err ?? '', part === undefined || !Number.isInteger(part) ? '' : String(part)] });
    if (r[0] === 'final') return { outcome: 'final', status: r[1] as TerminalStatus, fields: unpackJson(r[2]), ...(r[3] ? { error: r[3] } : {}), ...(r[4] ? { entryId: r[4] } : {}), ...(r[5] ? { partStates: r[5] } : {}) };
    if (r[0] === 'late') return r[1] ? { outcome: 'late', terminalAt: Number(r[1]) } : { outcome: 'late' };
    return { outcome: r[0] as 'partial' | 'gone' };
  }

  /** Whether a record id is in the due or watch set. */
  async isScheduled(zset: 'due' | 'watch', recId: string): Promise<boolean> {
    return (await this.redis.zscore(this.zkey(zset, recId), recId)) !== null;
  }

  async schedule(zset: 'due' | 'watch', recId: string, atMs: number): Promise<void> {
    await this.zsets.add(this.zkey(zset, recId), { op: 'add', score: Math.round(atMs), member: recId });
  }

  /** Schedule unless already scheduled (then the member keeps its time). */
  async scheduleIfAbsent(zset: 'due' | 'watch', recId: string, atMs: number): Promise<void> {
    await this.zsets.add(this.zkey(zset, recId), { op: 'addNx', score: Math.round(atMs), member: recId });
  }

  /**
   * Push the leases of members still being worked on out to `untilMs` — only members
   * still there, and never to an earlier time (a member rescheduled meanwhile keeps a
   * later time; one rescheduled earlier was let go before this was sent).
   */
  async renewLeases(zset: 'due' | 'watch', recIds: readonly string[], untilMs: number): Promise<void> {
    if (recIds.length === 0) return;
    const score = Math.round(untilMs);
    const byShard = new Map<number, Array<string | number>>();
    for (const id of recIds) {
      const shard = this.keys.shardOf(id);
      let args = byShard.get(shard);
      if (args === undefined) byShard.set(shard, (args = []));
      args.push(score, id);
    }
    await Promise.all([...byShard].map(([shard, args]) => this.redis.zadd(this.keys.zset(zset, shard), 'XX', 'GT', ...args)));
  }

  async unschedule(zset: 'due' | 'watch', recId: string): Promise<void> {
    await this.zsets.add(this.zkey(zset, recId), { op: 'rem', member: recId });
  }

  /**
   * Take up to `limit` ids whose time has come, leasing them: their score moves to
   * now + leaseMs, so an instance that dies holding them gives them back.
   */
  async takeDue(zset: 'due' | 'watch', now: number, limit: number, leaseMs: number, shard = 0): Promise<string[]> {
    return this.redis.qasidTakeDue(this.keys.zset(zset, shard), Math.round(now), limit, Math.round(now + leaseMs));
  }
}

/** Appends the field/value items of the fields that are set to `out`; returns how many strings it added. */
function flattenInto(out: string[], fields: Partial<RecordFields>): number {
  const from = out.length;
  for (const k in fields) {
    if (!Object.hasOwn(fields, k)) continue;
    const v = fields[k as keyof RecordFields];
    if (v !== undefined) out.push(k, String(v));
  }
  return out.length - from;
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
