/**
 * SCAN over every key matching a pattern, on a standalone or Sentinel-managed server and
 * on a Redis Cluster, where SCAN walks only the node it is sent to: there each master is
 * scanned in turn. Yields batches of key names (a key may repeat, as SCAN allows).
 */
import type { Cluster, Redis } from 'ioredis';

/** Whether a client typed as Redis (queue/redis-options.ts redisFor) is a Cluster client. */
export function isCluster(redis: Redis): boolean {
  const c = redis as unknown as Partial<Cluster>;
  return typeof c.nodes === 'function' && 'slots' in c;
}

export async function* scanKeys(redis: Redis, pattern: string, count = 1000): AsyncGenerator<string[]> {
  const nodes: Redis[] = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (found.length > 0) yield found;
    } while (cursor !== '0');
  }
}
