/**
 * Who owns which intake entries. The consumer group's pending list says which consumer
 * holds an entry, but not whether that consumer is still alive: an entry's idle time
 * also grows while a live instance waits for a token or a window slot, so claiming by
 * idle time takes work away from instances that are still doing it (and sends it twice).
 *
 * Instead each instance holds a lease on its consumer name — a field of one hash beside
 * the stream, `<token>|<lease end>` in Redis' own clock — and renews it every third of
 * the lease. Only the entries of a consumer whose lease has run out are taken over, and
 * then all of them at once, in batches as room allows. A restart under the same name
 * finds its own lease: a clean stop gave it back, so it starts at once; after a crash it
 * waits out the dead process's lease; if the name is held by a live instance it refuses
 * to start rather than share the entries.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { QasidError, errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';

// KEYS[1] owners hash; ARGV[1] consumer, ARGV[2] token, ARGV[3] lease ms.
// Takes or renews the lease. Returns 0 (taken or renewed), -1 (renewed, but it had run
// out: others may have taken over entries meanwhile), or the ms another live token
// still holds it for.
const LUA_LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HGET', KEYS[1], ARGV[1])
local lapsed = 0
if v then
  local tok, exp = string.match(v, '^(.*)|(%d+)$')
  if tok ~= ARGV[2] and exp and tonumber(exp) > now then return tonumber(exp) - now end
  if tok == ARGV[2] and exp and tonumber(exp) <= now then lapsed = -1 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. (now + tonumber(ARGV[3])))
return lapsed`;

// KEYS[1] owners hash; ARGV[1] consumer, ARGV[2] token. Gives the lease back if it is ours.
const LUA_RELEASE = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
return 0`;

interface LeaseRedis extends Redis {
  qasidLease(key: string, consumer: string, token: string, leaseMs: number): Promise<number>;
  qasidLeaseRelease(key: string, consumer: string, token: string): Promise<number>;
}

export interface ConsumerLeaseOptions {
  /** The owners hash beside each intake shard (keys.intakeOwnersOf): the lease is held in each. */
  keys: readonly string[];
  consumer: string;
  leaseMs: number;
  logger: Logger;
}

export class ConsumerLease {
  readonly token = randomUUID();
  private readonly redis: LeaseRedis;
  private timer: NodeJS.Timeout | undefined;
  private held = false;
  private renewing: Promise<void> | undefined;

  constructor(
    redis: Redis,
    private readonly o: ConsumerLeaseOptions,
  ) {
    redis.defineCommand('qasidLease', { numberOfKeys: 1, lua: LUA_LEASE });
    redis.defineCommand('qasidLeaseRelease', { numberOfKeys: 1, lua: LUA_RELEASE });
    this.redis = redis as LeaseRedis;
  }

  /** True while the last renewal succeeded. */
  get isHeld(): boolean {
    return this.held;
  }

  /**
   * Take the lease, waiting out a previous holder's (a crashed process under the same
   * name) for up to one lease and a second; a name still held after that belongs to a
   * live instance: INTAKE_CONSUMER_IN_USE.
   */
  async acquire(): Promise<void> {
    if (this.held || this.timer) return;
    const deadline = Date.now() + this.o.leaseMs + 1_000;
    let logged = false;
    for (;;) {
      const r = await this.leaseAll();
      if (r <= 0) break;
      if (Date.now() + Math.min(r, 250) > deadline) {
        throw new QasidError('INTAKE_CONSUMER_IN_USE', `intake consumer "${this.o.consumer}" is held by a live instance (lease renewed ${r} ms ahead); give each instance its own intake.consumer`, { consumer: this.o.consumer });
      }
      if (!logged) {
        logged = true;
        this.o.logger.warn({ event: 'intake.lease_wait', consumer: this.o.consumer, waitMs: r }, 'consumer name still leased (a previous process that did not stop cleanly?); waiting for the lease to run out');
      }
      await new Promise((res) => setTimeout(res, Math.min(r + 5, 250)));
    }
    this.held = true;
    this.timer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.o.leaseMs / 3)));
    this.timer.unref();
  }

  /**
   * Take or renew the lease in every shard's owners hash: > 0 (ms left) when another
   * process holds it in any, −1 when ours had run out in any, else 0.
   */
  private async leaseAll(): Promise<number> {
    const rs = await Promise.all(this.o.keys.map((key) => this.redis.qasidLease(key, this.o.consumer, this.token, this.o.leaseMs)));
    const held = Math.max(0, ...rs);
    return held > 0 ? held : Math.min(0, ...rs);
  }

  private renew(): Promise<void> {
    this.renewing ??= (async () => {
      try {
        const r = await this.leaseAll();
        if (r > 0) {
          if (this.held) this.o.logger.error({ event: 'intake.lease_lost', consumer: this.o.consumer }, 'another instance holds this consumer name now; its entries are no longer ours');
          this.held = false;
        } else {
          if (r < 0) this.o.logger.warn({ event: 'intake.lease_lapsed', consumer: this.o.consumer }, 'lease ran out before it was renewed (the process stalled, or Redis was away); others may have taken over entries');
          this.held = true;
        }
      } catch (e) {
        this.o.logger.warn({ event: 'redis.error', err: errorMessage(e) }, 'consumer lease renewal failed; retried');
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  /** Stop renewing and give the lease back, so others take over what is left at once. */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.renewing;
    if (!this.held) return;
    this.held = false;
    await Promise.all(this.o.keys.map((key) => this.redis.qasidLeaseRelease(key, this.o.consumer, this.token)));
  }
}
