/** Reading the events stream in tests: every entry's JSON, oldest first. */
import type { Redis } from 'ioredis';
import type { StatusEvent } from '../../src/queue/outputs.js';

export type { StatusEvent };

export async function readEvents(r: Redis, key: string): Promise<StatusEvent[]> {
  return (await r.xrange(key, '-', '+')).map(([, f]) => JSON.parse(f[1] as string) as StatusEvent);
}
