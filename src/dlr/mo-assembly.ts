/**
 * Long MO messages held in Redis until every part is there. One HASH per long MO
 * (`keys.moParts`), its sender and each part sealed, and one ZSET per carrier
 * (`keys.moPartsDue`) of the long MOs by when their reassembly time runs out; both in the
 * carrier's hash tag, so each script below touches one slot.
 *
 * A part is held by one script call that also says whether it was the last one missing.
 * Whoever completes a message (or the timeout sweep, which takes one whose time ran out)
 * marks it `done` — later parts and duplicates are ignored — and re-scores it a lease
 * ahead: should that instance die before the MO entry is written, the sweep takes it
 * again once the lease has run out. `finish` then leaves only the tombstone (`done`), so a
 * duplicate of a part that comes late is still recognised.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';
import type { FieldSealer } from '../queue/sealing.js';
import type { HeldPart } from './mo-parts.js';

// KEYS[1] the long MO's hash, KEYS[2] its carrier's due set. ARGV[1] part number,
// ARGV[2] sealed part, ARGV[3] parts in all, ARGV[4] deadline ms, ARGV[5] key ttl ms,
// ARGV[6] sealed sender, ARGV[7] subscriber hash, ARGV[8] destination, ARGV[9] the id (due
// set member), ARGV[10] lease end ms. Returns {'done'} (already emitted or being emitted),
// {'duplicate'}, {'held', count} or {'complete', field, value, …}.
const LUA_ADD_PART = `
if redis.call('HEXISTS', KEYS[1], 'done') == 1 then return {'done'} end
local f = 'p:' .. ARGV[1]
if redis.call('HEXISTS', KEYS[1], f) == 1 then return {'duplicate'} end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'n', ARGV[3], 'f', ARGV[6], 's', ARGV[7], 'to', ARGV[8])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[9])
  if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
end
redis.call('HSET', KEYS[1], f, ARGV[2])
local c = redis.call('HINCRBY', KEYS[1], 'c', 1)
if c < tonumber(redis.call('HGET', KEYS[1], 'n')) then return {'held', tostring(c)} end
redis.call('HSET', KEYS[1], 'done', '1')
redis.call('ZADD', KEYS[2], ARGV[10], ARGV[9])
return {'complete', unpack(redis.call('HGETALL', KEYS[1]))}`;

// KEYS[1] the long MO's hash, KEYS[2] its carrier's due set. ARGV[1] the id, ARGV[2] now
// ms, ARGV[3] lease end ms. Takes a long MO whose time ran out (still due at ARGV[2]):
// marks it done and re-scores it to the lease end; returns its fields, or false when it is
// not due, already finished, or gone (then it leaves the due set).
const LUA_TAKE = `
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return false end
if redis.call('HEXISTS', KEYS[1], 'c') == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
redis.call('HSET', KEYS[1], 'done', '1')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return redis.call('HGETALL', KEYS[1])`;

// KEYS[1] the long MO's hash, KEYS[2] its carrier's due set. ARGV[1] the id, ARGV[2] the
// tombstone's ttl ms. Its MO entry is written: only the tombstone stays.
const LUA_FINISH = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'done', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`;

interface ScriptedRedis extends Redis {
  qasidMoAddPart(hash: string, due: string, ...argv: Array<string | number>): Promise<string[]>;
  qasidMoTake(hash: string, due: string, id: string, now: number, leaseEnd: number): Promise<string[] | null>;
  qasidMoFinish(hash: string, due: string, id: string, tombstoneMs: number): Promise<number>;
}

/** A long MO as held: sender sealed, parts sealed by number. */
export interface HeldMo {
  carrier: string;
  id: string;
  total: number;
  sealedFrom: string;
  subscriber: string;
  to: string;
  /** Part number → sealed part. */
  parts: Map<number, string>;
}

export interface AddPart {
  carrier: string;
  id: string;
  seq: number;
  total: number;
  sealedPart: string;
  sealedFrom: string;
  subscriber: string;
  to: string;
  deadline: number;
  keyTtlMs: number;
  leaseEnd: number;
}

export type AddResult = { kind: 'held'; count: number } | { kind: 'duplicate' } | { kind: 'done' } | { kind: 'complete'; mo: HeldMo };

/** The id of one long MO: its sender (keyed hash), destination, reference and part count — no number in clear. */
export function longMoId(subscriber: string, to: string, ref: number, total: number): string {
  return createHash('sha256').update(`${subscriber}\0${to}\0${ref}\0${total}`).digest('base64url').slice(0, 22);
}

/** What a long MO's sender and parts are sealed to: its key, so a value copied elsewhere does not open. */
export function partContext(carrier: string, id: string): string {
  return `mop:${carrier}:${id}`;
}

/** The subscriber index (`held`) member of a long MO still being reassembled. */
export function heldPartsMember(carrier: string, id: string): string {
  return `mop:${carrier}:${id}`;
}

/** The carrier and id a `mop:` held member names (a carrier id has no ':'). */
export function parseHeldPartsMember(member: string): { carrier: string; id: string } {
  const rest = member.slice(4);
  const colon = rest.indexOf(':');
  return { carrier: rest.slice(0, colon), id: rest.slice(colon + 1) };
}

/** The sender and parts of a held long MO, opened; `from` undefined (and parts left out) where the keyring cannot open them. */
export function openHeldMo(mo: HeldMo, sealer: FieldSealer): { from: string | undefined; parts: HeldPart[] } {
  const context = partContext(mo.carrier, mo.id);
  const parts: HeldPart[] = [];
  for (const [seq, sealed] of mo.parts) {
    const opened = sealer.open(sealed, context);
    if (opened === undefined) continue;
    const p = JSON.parse(opened) as { d: number; b: string };
    parts.push({ seq, payload: Buffer.from(p.b, 'base64'), dataCoding: p.d });
  }
  return { from: sealer.open(mo.sealedFrom, context), parts };
}

/** Seal one part as held: its data_coding and raw payload. */
export function sealPart(sealer: FieldSealer, carrier: string, id: string, dataCoding: number, payload: Buffer): string {
  return sealer.seal(JSON.stringify({ d: dataCoding, b: payload.toString('base64') }), partContext(carrier, id));
}

export class MoPartStore {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
  ) {
    redis.defineCommand('qasidMoAddPart', { numberOfKeys: 2, lua: LUA_ADD_PART });
    redis.defineCommand('qasidMoTake', { numberOfKeys: 2, lua: LUA_TAKE });
    redis.defineCommand('qasidMoFinish', { numberOfKeys: 2, lua: LUA_FINISH });
    this.redis = redis as ScriptedRedis;
  }

  async add(p: AddPart): Promise<AddResult> {
    const r = await this.redis.qasidMoAddPart(
      this.keys.moParts(p.carrier, p.id),
      this.keys.moPartsDue(p.carrier),
      p.seq,
      p.sealedPart,
      p.total,
      p.deadline,
      p.keyTtlMs,
      p.sealedFrom,
      p.subscriber,
      p.to,
      p.id,
      p.leaseEnd,
    );
    const [kind, ...rest] = r;
    if (kind === 'held') return { kind, count: Number(rest[0]) };
    if (kind === 'complete') return { kind, mo: heldOf(p.carrier, p.id, rest) };
    return { kind: kind === 'done' ? 'done' : 'duplicate' };
  }

  /** Ids of one carrier's long MOs whose time ran out by `now` (their lease, once taken). */
  overdue(carrier: string, now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.moPartsDue(carrier), '-inf', now, 'LIMIT', 0, limit);
  }

  /** Take an overdue long MO to emit it as it is; undefined when another took or finished it. */
  async take(carrier: string, id: string, now: number, leaseEnd: number): Promise<HeldMo | undefined> {
    const r = await this.redis.qasidMoTake(this.keys.moParts(carrier, id), this.keys.moPartsDue(carrier), id, now, leaseEnd);
    return r === null ? undefined : heldOf(carrier, id, r);
  }

  /** A long MO as held now (export); undefined when none is waiting. */
  async read(carrier: string, id: string): Promise<HeldMo | undefined> {
    const flat = await this.redis.hgetall(this.keys.moParts(carrier, id));
    if (flat.c === undefined) return undefined;
    return heldOf(carrier, id, Object.entries(flat).flat());
  }

  /** Erasure: drop a long MO still waiting for parts, and its place in the sweep; 1 when there was one. */
  async drop(carrier: string, id: string): Promise<number> {
    const key = this.keys.moParts(carrier, id);
    const waiting = await this.redis.hexists(key, 'c');
    await this.redis.del(key);
    await this.redis.zrem(this.keys.moPartsDue(carrier), id);
    return waiting;
  }

  /** Its MO entry is written: drop the parts, keep a tombstone for `tombstoneMs`. */
  async finish(carrier: string, id: string, tombstoneMs: number): Promise<void> {
    await this.redis.qasidMoFinish(this.keys.moParts(carrier, id), this.keys.moPartsDue(carrier), id, Math.max(1, Math.round(tombstoneMs)));
  }
}

function heldOf(carrier: string, id: string, flat: readonly string[]): HeldMo {
  const mo: HeldMo = { carrier, id, total: 0, sealedFrom: '', subscriber: '', to: '', parts: new Map() };
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const f = flat[i] as string;
    const v = flat[i + 1] as string;
    if (f.startsWith('p:')) mo.parts.set(Number(f.slice(2)), v);
    else if (f === 'n') mo.total = Number(v);
    else if (f === 'f') mo.sealedFrom = v;
    else if (f === 's') mo.subscriber = v;
    else if (f === 'to') mo.to = v;
  }
  return mo;
}
