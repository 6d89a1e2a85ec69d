/**
 * Work that runs once, not once per instance: a sweep (retention trims) runs on the
 * instance holding its lease, a STRING `<prefix>:sweep:<name>` = instance name with a TTL.
 * The holder renews it at every pass; another instance takes it once it runs out (the
 * holder died or stopped), so the sweep carries on within a lease. Giving it back on
 * stop lets another take it at its next pass.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log/logger.js';

// KEYS[1] the lease; ARGV[1] instance, ARGV[2] ttl ms. 1 = held by this instance (taken or renewed), 0 = another holds it.
const LUA_HOLD = `
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

// KEYS[1] the lease; ARGV[1] instance. Deletes it if this instance holds it.
const LUA_GIVE_BACK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface LeaseRedis extends Redis {
  qasidSweepHold(key: string, instance: string, ttlMs: number): Promise<number>;
  qasidSweepGiveBack(key: string, instance: string): Promise<number>;
}

export class SweepLease {
  private readonly redis: LeaseRedis;
  private held = false;

  constructor(
    redis: Redis,
    private readonly o: { key: string; sweep: string; instance: string; ttlMs: number; logger: Logger },
  ) {
    redis.defineCommand('qasidSweepHold', { numberOfKeys: 1, lua: LUA_HOLD });
    redis.defineCommand('qasidSweepGiveBack', { numberOfKeys: 1, lua: LUA_GIVE_BACK });
    this.redis = redis as LeaseRedis;
  }

  /** Take or renew the lease; true when this instance should run the sweep now. */
  async hold(): Promise<boolean> {
    const held = (await this.redis.qasidSweepHold(this.o.key, this.o.instance, this.o.ttlMs)) === 1;
    if (held !== this.held) this.o.logger.info({ event: 'sweep.lease', sweep: this.o.sweep, held }, held ? 'this instance runs the sweep' : 'another instance runs the sweep');
    this.held = held;
    return held;
  }

  async giveBack(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await this.redis.qasidSweepGiveBack(this.o.key, this.o.instance);
  }
}
