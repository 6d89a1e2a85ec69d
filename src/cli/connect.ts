/**
 * One-shot Redis connections for CLI commands: fail fast (3 s, no retries) and report
 * the reason with the URL's credentials masked, instead of ioredis retrying for ever.
 * The connection honours redis.tls like the daemon's own (redisClient).
 */
import type { Redis } from 'ioredis';
import { maskRedisUrl } from '../config/load.js';
import { errorMessage } from '../core/errors.js';
import { redisFor, type RedisEndpoint, type RedisTopologyEndpoint } from '../queue/redis-options.js';
import type { CliIo } from './send.js';

/**
 * The connected client, or undefined after printing `qasid <name>: cannot reach Redis at …`.
 * `url` is a command line's --redis when given; redis.tls applies to it too.
 */
export async function connectCli(redis: RedisEndpoint | RedisTopologyEndpoint, name: string, io: CliIo, url: string = redis.url.reveal()): Promise<Redis | undefined> {
  let client: Redis;
  try {
    client = redisFor(redis, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null, connectionName: `qasid-${name}` }, url);
  } catch (e) {
    io.err(`qasid ${name}: cannot reach Redis at ${maskRedisUrl(url)}: ${errorMessage(e)}`);
    return undefined;
  }
  let lastError: string | undefined;
  client.on('error', (e: Error) => void (lastError = e.message));
  try {
    await client.connect();
    return client;
  } catch (e) {
    io.err(`qasid ${name}: cannot reach Redis at ${maskRedisUrl(url)}: ${lastError ?? errorMessage(e)}`);
    client.disconnect();
    return undefined;
  }
}
