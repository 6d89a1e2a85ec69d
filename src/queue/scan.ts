/**
 * SCAN over every key matching a pattern, on a standalone or Sentinel-managed server and
 * on a Redis Cluster, where SCAN walks only the node it is sent to: there each master is
 * scanned in turn. Yields batches of key names (a key may repeat, as SCAN allows).
 */
import type { Cluster, Redis } from 'ioredis';

export async function* scanKeys(redis: Redis, pattern: string, count = 1000): AsyncGenerator<string[]> {
  const cluster = redis as unknown as Partial<Cluster>;
  const nodes: Redis[] = typeof cluster.nodes === 'function' && 'slots' in cluster ? cluster.nodes('master') : [redis];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (found.length > 0) yield found;
    } while (cursor !== '0');
  }
}
