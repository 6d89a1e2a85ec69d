/**
 * One-shot Redis connections for CLI commands: fail fast (3 s, no retries) and report
 * the reason with the URL's credentials masked, instead of ioredis retrying for ever.
 */
import { Redis } from 'ioredis';
import { maskRedisUrl } from '../config/load.js';
import { errorMessage } from '../core/errors.js';
import type { CliIo } from './send.js';

/** The connected client, or undefined after printing `qasid <name>: cannot reach Redis at …`. */
export async function connectCli(url: string, name: string, io: CliIo): Promise<Redis | undefined> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null, connectionName: `qasid-${name}` });
  let lastError: string | undefined;
  redis.on('error', (e: Error) => void (lastError = e.message));
  try {
    await redis.connect();
    return redis;
  } catch (e) {
    io.err(`qasid ${name}: cannot reach Redis at ${maskRedisUrl(url)}: ${lastError ?? errorMessage(e)}`);
    redis.disconnect();
    return undefined;
  }
}
