/**
 * A real redis-server on a random loopback port for one test file, with no persistence
 * (the demo's launcher, src/cli/local-redis.ts). Stop it in `after()`.
 */
import { startRedisServer } from '../../src/cli/local-redis.js';

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const r = await startRedisServer();
  return { url: r.url, stop: () => r.stop() };
}
