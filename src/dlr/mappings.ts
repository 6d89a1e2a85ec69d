/**
 * Carrier message id → message: the mappings a submit_sm_resp writes and a receipt looks
 * up, and the receipts parked because they came before their mapping. A carrier's
 * mappings and parked receipts share the carrier's hash tag (queue/keys.ts), so one
 * tick's mappings of one carrier are one script call, as are one read's receipt lookups.
 * Parked receipts are indexed in one sorted set, swept for those that never match.
 */
import type { Redis } from 'ioredis';
import { BATCH_ORDER, LUA_EACH, TickBatcher } from '../queue/batch.js';
import type { Keys } from '../queue/keys.js';
import { LUA_TAKE_DUE } from '../queue/store.js';

/** A receipt that arrived before its part's mapping: the mapping value and the receipt JSON. */
export interface ParkedReceipt {
  carrier: string;
  mapping: string;
  receipt: string;
}

// KEYS: per item a carrier-id mapping and its parked receipt (one carrier's tag). ARGV per
// item: value, ttl ms. Records each mapping; returns per item the receipt that was parked
// waiting for it (and removes it), or ''.
const LUA_MAP = `${LUA_EACH}
local out = {}
for i = 1, #KEYS, 2 do
  out[(i + 1) / 2] = each(function()
    redis.call('SET', KEYS[i], ARGV[i], 'PX', ARGV[i + 1])
    local parked = redis.call('GET', KEYS[i + 1])
    if parked then redis.call('DEL', KEYS[i + 1]) end
    return parked or ''
  end)
end
return out`;

// KEYS: per item a carrier-id mapping and its parked receipt (one carrier's tag). ARGV per
// item: receipt JSON, park ttl ms. Returns per item the mapping when known, else parks the
// receipt and returns ''.
const LUA_MATCH = `${LUA_EACH}
local out = {}
for i = 1, #KEYS, 2 do
  out[(i + 1) / 2] = each(function()
    local v = redis.call('GET', KEYS[i])
    if v then return v end
    redis.call('SET', KEYS[i + 1], ARGV[i], 'PX', ARGV[i + 1])
    return ''
  end)
end
return out`;

interface ScriptedRedis extends Redis {
  qasidMapMany(numKeys: number, keys: string[], argv: string[]): Promise<Array<string | Error>>;
  qasidMatchMany(numKeys: number, keys: string[], argv: string[]): Promise<Array<string | Error>>;
  qasidTakeOverdueParked(key: string, now: number, limit: number, leaseUntil: number): Promise<string[]>;
}

interface Item {
  carrier: string;
  normId: string;
  value: string;
  ttlMs: number;
}

/** A parked receipt's index entry: `<carrier>:<id>`, when its park time runs out, the index's TTL. */
interface ParkEntry {
  member: string;
  dueAt: number;
  ttlMs: number;
}

export class MappingStore {
  private readonly redis: ScriptedRedis;
  private readonly maps: TickBatcher<Item, string>;
  private readonly matches: TickBatcher<Item, string>;
  private readonly parkIndex: TickBatcher<ParkEntry, void>;

  constructor(
    redis: Redis,
    readonly keys: Keys,
  ) {
    redis.defineCommand('qasidMapMany', { lua: LUA_MAP });
    redis.defineCommand('qasidMatchMany', { lua: LUA_MATCH });
    // The due set's lease script: members whose park time ran out, leased so two instances never sweep the same one.
    redis.defineCommand('qasidTakeOverdueParked', { numberOfKeys: 1, lua: LUA_TAKE_DUE });
    this.redis = redis as ScriptedRedis;
    const r = this.redis;
    const args = (items: readonly Item[]): { keys: string[]; argv: string[] } => {
      const keys: string[] = [];
      const argv: string[] = [];
      for (const it of items) {
        keys.push(this.keys.carrierId(it.carrier, it.normId), this.keys.parked(it.carrier, it.normId));
        argv.push(it.value, String(Math.max(1, Math.round(it.ttlMs))));
      }
      return { keys, argv };
    };
    // Mappings go after the tick's accepts and events (queue/batch.ts BATCH_ORDER): a
    // mapping is what lets a receipt match, so its message must be accepted by then.
    this.maps = new TickBatcher(
      (_tag, items: Item[]) => {
        const { keys, argv } = args(items);
        return r.qasidMapMany(keys.length, keys, argv);
      },
      { order: BATCH_ORDER.map },
    );
    this.matches = new TickBatcher((_tag, items: Item[]) => {
      const { keys, argv } = args(items);
      return r.qasidMatchMany(keys.length, keys, argv);
    });
    this.parkIndex = new TickBatcher<ParkEntry, void>(async (key, items: ParkEntry[]) => {
      const zargs: Array<string | number> = [];
      let ttl = 1;
      for (const it of items) {
        zargs.push(Math.round(it.dueAt), it.member);
        ttl = Math.max(ttl, Math.round(it.ttlMs));
      }
      const res = await r.pipeline().zadd(key, ...zargs).pexpire(key, ttl).exec();
      for (const [err] of res ?? []) if (err) throw err;
      return items.map(() => undefined);
    });
  }

  /** Record carrier id → message; returns a receipt that was parked waiting for it. */
  async map(carrier: string, normId: string, value: string, ttlMs: number): Promise<string | null> {
    const parked = await this.maps.add(this.keys.carrierTag(carrier), { carrier, normId, value, ttlMs });
    return parked === '' ? null : parked;
  }

  /** The mapping for a receipt's id, or null after parking the receipt until the mapping lands. */
  async match(carrier: string, normId: string, receiptJson: string, parkTtlMs: number): Promise<string | null> {
    const mapping = await this.matches.add(this.keys.carrierTag(carrier), { carrier, normId, value: receiptJson, ttlMs: parkTtlMs });
    return mapping === '' ? null : mapping;
  }

  // ---- Receipts matched by a second id, and parked receipts that never match ----------
  // (dlr/reconciler.ts). Only a receipt that finds no mapping comes here: the common path
  // is match() alone.

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
   * One tick's parks are one ZADD and one PEXPIRE in one round trip, not a transaction: a
   * crash between them leaves the index with the TTL of its previous members, and the
   * next park sets it again.
   */
  async indexParked(carrier: string, normId: string, dueAtMs: number, ttlMs: number): Promise<void> {
    await this.parkIndex.add(this.keys.parkedIndex, { member: `${carrier}:${normId}`, dueAt: dueAtMs, ttlMs });
  }

  /** Up to `limit` parked receipts whose park time has run out, leased for leaseMs. */
  async takeOverdueParked(now: number, limit: number, leaseMs: number): Promise<Array<{ carrier: string; normId: string }>> {
    const members = await this.redis.qasidTakeOverdueParked(this.keys.parkedIndex, Math.round(now), limit, Math.round(now + leaseMs));
    // Carrier ids hold no ':' (config/carrier.schema.json), so the first one ends it.
    return members.map((m) => ({ carrier: m.slice(0, m.indexOf(':')), normId: m.slice(m.indexOf(':') + 1) }));
  }

  /** Drop an overdue parked receipt and its index entry; true when it was still parked (it never matched). */
  async dropParked(carrier: string, normId: string): Promise<boolean> {
    const [dropped] = await Promise.all([this.redis.del(this.keys.parked(carrier, normId)), this.redis.zrem(this.keys.parkedIndex, `${carrier}:${normId}`)]);
    return dropped === 1;
  }
}
