/**
 * The intake shard count a Redis dataset was written with. A message's record, and the
 * due and watch sets it waits in, live in the slot of the shard its record id hashes to
 * (queue/keys.ts): with another count the same record id names another key, so a running
 * dataset cannot change its count. The count is kept in `<prefix>:shards` (clients read
 * it to pick the stream they write to); a start with another count is refused while the
 * old shards hold work — intake entries, due or watched messages — and allowed once they
 * are empty. A dataset without the key was written with one shard.
 */
import type { Redis } from 'ioredis';
import { QasidError } from '../core/errors.js';
import { keysFor, type Keys } from './keys.js';

export interface ShardWork {
  entries: number;
  due: number;
  watched: number;
}

/** What the shards of a count hold: intake entries not yet deleted, due and watched members. */
export async function workOf(redis: Redis, prefix: string, shards: number): Promise<ShardWork> {
  const keys = keysFor(prefix, shards);
  const counts = await Promise.all(
    keys.intakeStreams.map((stream, shard) => Promise.all([redis.xlen(stream), redis.zcard(keys.zset('due', shard)), redis.zcard(keys.zset('watch', shard))])),
  );
  const work: ShardWork = { entries: 0, due: 0, watched: 0 };
  for (const [entries, due, watched] of counts) {
    work.entries += entries;
    work.due += due;
    work.watched += watched;
  }
  return work;
}

/**
 * Record this config's shard count, or refuse it (CONFIG_INVALID) when the dataset holds
 * work of another. Returns the count it replaced when it changed one, else undefined.
 */
export async function claimShardCount(redis: Redis, prefix: string, keys: Keys): Promise<number | undefined> {
  const raw = await redis.get(keys.shardCount);
  const stored = raw === null ? 1 : Number(raw);
  if (stored === keys.shards) {
    if (raw === null) await redis.set(keys.shardCount, String(keys.shards));
    return undefined;
  }
  if (Number.isInteger(stored) && stored >= 1) {
    const work = await workOf(redis, prefix, stored);
    if (work.entries + work.due + work.watched > 0) {
      throw new QasidError(
        'CONFIG_INVALID',
        `intake.shards is ${keys.shards}, but this Redis holds work written with ${stored} (${work.entries} intake entries, ${work.due} due, ${work.watched} waiting for receipts): start with intake.shards ${stored} until they are gone, then change it`,
        { key: 'intake.shards', stored, configured: keys.shards, ...work },
      );
    }
  }
  await redis.set(keys.shardCount, String(keys.shards));
  return Number.isInteger(stored) ? stored : undefined;
}
