/**
 * Key layout migration. Layout 1 gave every message record and every carrier-id mapping a
 * hash tag of its own (`<p>:msg:{<id>}`, `<p>:cid:{<carrier>:<id>}`), and the due and
 * watch sets none (`<p>:due`, `<p>:watch`). Layout 2 (queue/keys.ts) puts what one batch
 * touches in one slot. At start-up, before anything reads them, keys of layout 1 are
 * moved to their layout-2 names (RENAME keeps each key's TTL), and the due and watch sets
 * are merged into their new names. Then `<p>:layout` says 2 and later starts skip the
 * scan. Layout 1 only ever ran on a single Redis (there was no Cluster client), where
 * these multi-key commands are allowed. Stop every instance of an older version first:
 * one still running would go on writing layout-1 keys.
 */
import { scanKeys } from './scan.js';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export const KEY_LAYOUT = '2';

export interface MigrationReport {
  records: number;
  mappings: number;
  parked: number;
  due: number;
  watch: number;
}

/** Move keys of layout 1 to layout 2 (idempotent; a no-op once `<prefix>:layout` says 2). */
export async function migrateKeys(redis: Redis, prefix: string, keys: Keys): Promise<MigrationReport | undefined> {
  if ((await redis.get(keys.layout)) === KEY_LAYOUT) return undefined;
  const report: MigrationReport = { records: 0, mappings: 0, parked: 0, due: 0, watch: 0 };
  const esc = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const record = new RegExp(`^${esc}:msg:\\{([^{}:]+)\\}$`);
  const mapping = new RegExp(`^${esc}:(cid|park):\\{([^{}:]+):(.*)\\}$`);
  const glob = prefix.replace(/[*?[\]\\]/g, '\\$&');
  for (const [pattern, kind] of [
    [`${glob}:msg:{*}`, 'record'],
    [`${glob}:cid:{*}`, 'mapping'],
    [`${glob}:park:{*}`, 'mapping'],
  ] as const) {
    for await (const found of scanKeys(redis, pattern)) {
      const moves: Array<[from: string, to: string, what: 'records' | 'mappings' | 'parked']> = [];
      for (const key of found) {
        if (kind === 'record') {
          const m = record.exec(key);
          if (m) moves.push([key, keys.record(m[1] as string), 'records']);
        } else {
          const m = mapping.exec(key);
          if (m) moves.push([key, m[1] === 'cid' ? keys.carrierId(m[2] as string, m[3] as string) : keys.parked(m[2] as string, m[3] as string), m[1] === 'cid' ? 'mappings' : 'parked']);
        }
      }
      if (moves.length === 0) continue;
      const p = redis.pipeline();
      for (const [from, to] of moves) p.renamenx(from, to);
      const res = (await p.exec()) ?? [];
      res.forEach(([err, moved], i) => {
        // Gone meanwhile (expired, or another instance moved it): nothing to do.
        if (err && !/no such key/i.test(err.message)) throw err;
        if (moved === 1) report[(moves[i] as (typeof moves)[number])[2]]++;
      });
    }
  }
  for (const set of ['due', 'watch'] as const) {
    const old = `${prefix}:${set}`;
    if (old === keys[set] || (await redis.exists(old)) === 0) continue;
    report[set] = await redis.zcard(old);
    // A member in both keeps the earlier time: it comes up sooner, and is checked then.
    await redis.zunionstore(keys[set], 2, keys[set], old, 'AGGREGATE', 'MIN');
    await redis.del(old);
  }
  await redis.set(keys.layout, KEY_LAYOUT);
  return report;
}
