/**
 * The ported-number table (a HASH of E.164 digits → operator id), read by routing. The
 * lookups of one tick go to Redis as one HMGET.
 */
import type { Redis } from 'ioredis';
import { TickBatcher } from './batch.js';
import type { Keys } from './keys.js';

export class PortedTable {
  private readonly lookups: TickBatcher<string, string | null>;
  private readonly key: string;

  constructor(redis: Redis, keys: Keys) {
    this.lookups = new TickBatcher((key, digits: string[]) => redis.hmget(key, ...digits));
    this.key = keys.ported;
  }

  /** The operator a number was ported to, if it was. */
  async operatorOf(e164: string): Promise<string | undefined> {
    return (await this.lookups.add(this.key, e164.replace(/^\+/, ''))) ?? undefined;
  }
}
