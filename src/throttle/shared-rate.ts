/**
 * A carrier's `tps` is a total across every instance. Each instance keeps its local
 * pacer (no Redis call per message) and draws its budget from Redis in short slices of
 * time: the carrier's send schedule is one timeline in Redis (a GCRA, "generic cell rate
 * algorithm", ITU-T I.371: the theoretical time the next message may go), and a grant
 * hands one instance the next `sliceMs` of it — `count` messages, one every 1000/rate ms
 * from `start`. Grants never overlap, so the instances together send at the carrier's
 * rate, evenly, whoever has the traffic; an instance with nothing to send asks for
 * nothing and leaves the timeline to the others. The schedule may be booked at most
 * `2 × sliceMs` ahead, so a new instance gets slices within a few hundred ms and a dead
 * one's unused booking is gone as quickly.
 *
 * Why not rate-limiter-flexible's Redis limiter, which the project uses for its other
 * shared limits: it counts points in a fixed window and answers yes or no, which can
 * pass twice the limit across a window boundary and says nothing about *when* inside
 * the window to send; a carrier that counts per second (or per 100 ms) throttles the
 * burst. A grant that carries its own start time and spacing keeps every second at the
 * rate.
 *
 * A throttle answer (ESME_RTHROTTLED / RMSGQFUL) cuts this instance's own pacer (which
 * measures what the carrier takes of its traffic), and, when the shared rate is what sets
 * the pace — the instances were granted about all of it over the last second — the shared
 * rate too, by the margin: then no instance keeps sending at the old total. The cut is
 * stored with the timeline (at most one per second across all instances: the answers of
 * one overload reach every instance) and wins back `recoveryPerSec` per second
 * (compounded) towards the configured rate.
 */
import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { ThrottledLog } from '../log/throttled.js';

// KEYS[1] the carrier's rate hash (tat, rate, at, cut, cfg: the tps the rate was set under —
// a rate kept under another configured tps is not a cut of this one: it starts again at it).
// ARGV[1] messages asked for, ARGV[2] configured tps, ARGV[3] horizon ms, ARGV[4] recovery per s.
// Returns { 1, start ms, interval ms, now ms } (granted: the first message may go at
// `start` in Redis' clock, then one every `interval`), or { 0, wait ms } (booked too far
// ahead). Times are strings: Lua numbers would be cut to integers.
const LUA_GRANT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local k, tps, horizon, rec = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'at', 'w', 'c', 'p', 'cfg')
local tat = tonumber(v[1]) or 0
local rate = tonumber(v[2]) or tps
if tonumber(v[7]) ~= tps then rate = tps end
local at = tonumber(v[3]) or now
local w, c, p = tonumber(v[4]) or now, tonumber(v[5]) or 0, tonumber(v[6]) or 0
if rate < tps and now > at then rate = rate * math.exp(rec * (now - at) / 1000) end
if rate > tps then rate = tps end
if tat < now then tat = now end
if tat - now > horizon then return { 0, tostring(math.ceil(tat - now - horizon)) } end
local interval = 1000 / rate
-- What was granted in the last whole second and in this one: how much of the rate is used.
if now - w >= 1000 then
  if now - w < 2000 then p = c else p = 0 end
  w, c = now, 0
end
c = c + k
redis.call('HSET', KEYS[1], 'tat', tostring(tat + k * interval), 'rate', tostring(rate), 'at', tostring(now), 'w', tostring(w), 'c', c, 'p', p, 'cfg', tostring(tps))
redis.call('PEXPIRE', KEYS[1], 60000)
return { 1, tostring(tat), tostring(interval), tostring(now) }`;

// KEYS[1] the carrier's rate hash; ARGV[1] factor in (0, 1), ARGV[2] configured tps,
// ARGV[3] floor tps, ARGV[4] cool-down ms, ARGV[5] recovery per s.
// Lowers the shared rate by the factor when it is what sets the pace (the instances
// were granted about all of it over the last second; when they were not, their own
// pacers set it, and they slow down themselves), unless another instance cut it within
// the cool-down. Returns { 1 = cut / 0 = not, the rate (string) }.
const LUA_SLOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local factor, tps, floor, cool, rec = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'rate', 'at', 'cut', 'w', 'c', 'p', 'cfg')
local rate = tonumber(v[1]) or tps
if tonumber(v[7]) ~= tps then rate = tps end
local at = tonumber(v[2]) or now
local cut = tonumber(v[3]) or 0
local w, c, p = tonumber(v[4]) or now, tonumber(v[5]) or 0, tonumber(v[6]) or 0
if rate < tps and now > at then rate = rate * math.exp(rec * (now - at) / 1000) end
if rate > tps then rate = tps end
local used = p
if now - w >= 250 and now - w < 1000 then used = math.max(p, c * 1000 / (now - w)) end
if now - w >= 2000 then used = 0 end
if now - cut >= cool and rate <= used * 1.1 then
  rate = rate * factor
  if rate < floor then rate = floor end
  redis.call('HSET', KEYS[1], 'rate', tostring(rate), 'at', tostring(now), 'cut', tostring(now), 'cfg', tostring(tps))
  redis.call('PEXPIRE', KEYS[1], 60000)
  return { 1, tostring(rate) }
end
return { 0, tostring(rate) }`;

interface RateRedis extends Redis {
  qasidRateGrant(key: string, count: number, tps: number, horizonMs: number, recoveryPerSec: number): Promise<[number, string, string?, string?]>;
  qasidRateSlow(key: string, factor: number, tps: number, floorTps: number, coolDownMs: number, recoveryPerSec: number): Promise<[number, string]>;
}

export interface SharedRateOptions {
  /** The carrier's rate hash (keys.carrierRate(carrier)). */
  key: string;
  carrier: string;
  /** The carrier's configured messages per second, the total across instances. */
  tps: number;
  /** Floor of the shared rate after throttle cuts. */
  minTps: number;
  /** Time one grant covers, in ms. Default 100. */
  sliceMs?: number;
  /** Cool-down between two shared cuts, in ms. Default 1000: the throttle answers of one overload reach every instance, and are one signal. */
  coolDownMs?: number;
  /** Share of the rate won back per second after a cut. Default 0.05. */
  recoveryPerSec?: number;
  logger: Logger;
  /** Monotonic ms (tests may pin it). Default performance.now. */
  now?: () => number;
}

interface Grant {
  start: number;
  interval: number;
  count: number;
  spent: number;
}

export const DEFAULT_SLICE_MS = 100;
/**
 * How late a message's time may be and it still goes (the event loop was busy when it
 * came): 50 ms, 5 % of a second (half of what the local pacer banks). Older times are not owed, so a stall never ends in a
 * burst that would put a second over the carrier's rate by more than that.
 */
export const MAX_LATE_MS = 50;

export class SharedRate {
  readonly sliceMs: number;
  private readonly redis: RateRedis;
  private readonly count: number;
  private readonly now: () => number;
  private readonly grants: Grant[] = [];
  private asking = false;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: ThrottledLog;
  /**
   * Readings of Redis' clock minus this process's, with their round trips: grants are
   * placed by the one that came back quickest lately (NTP's minimum-delay filter; its
   * error is at most half that round trip). An answer the event loop got to late says
   * only that it is late, so grants are not placed by when their answer was read.
   */
  private readonly samples: Array<{ value: number; rtt: number }> = [];
  /** Called when a grant arrives, so whoever waits re-plans its wake-up. */
  onGrant: () => void = () => undefined;

  constructor(
    redis: Redis,
    private readonly o: SharedRateOptions,
  ) {
    redis.defineCommand('qasidRateGrant', { numberOfKeys: 1, lua: LUA_GRANT });
    redis.defineCommand('qasidRateSlow', { numberOfKeys: 1, lua: LUA_SLOW });
    this.redis = redis as RateRedis;
    this.sliceMs = o.sliceMs ?? DEFAULT_SLICE_MS;
    // At least one message a grant; a slow carrier's grant covers one message's time.
    this.count = Math.max(1, Math.round((o.tps * this.sliceMs) / 1000));
    this.now = o.now ?? (() => performance.now());
    this.log = new ThrottledLog(o.logger);
  }

  /** A message may go now (call consume() when it does). Asks for the next grant when the booked time runs low. */
  ready(): boolean {
    const now = this.now();
    const g = this.head(now);
    this.prefetch(now);
    return g !== undefined && g.start + g.spent * g.interval <= now;
  }

  /** One message went (after ready() said yes). */
  consume(): void {
    const g = this.grants[0];
    if (g) g.spent++;
  }

  /** Ms until ready() may say yes; Infinity while no grant is held (onGrant fires when one comes). */
  msUntil(): number {
    const now = this.now();
    const g = this.head(now);
    this.prefetch(now);
    return g === undefined ? Infinity : Math.max(0, g.start + g.spent * g.interval - now);
  }

  /**
   * The carrier throttled and this instance's pacer cut its own rate by `factor`: cut the
   * shared rate too (once per cool-down across instances).
   */
  slowDown(factor: number): void {
    if (!(factor > 0 && factor < 1)) return;
    this.redis
      .qasidRateSlow(this.o.key, factor, this.o.tps, this.o.minTps, this.o.coolDownMs ?? 1000, this.o.recoveryPerSec ?? 0.05)
      .then(([cut, rate]) => {
        if (Number(cut) === 1) this.o.logger.info({ event: 'carrier.rate_shared', carrier: this.o.carrier, tps: Number(Number(rate).toFixed(2)) }, 'shared carrier rate lowered after a throttle answer');
      })
      .catch((e: unknown) => this.warn(e));
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.grants.length = 0;
  }

  /** The grant messages come from now: spent or outlived grants dropped, times more than MAX_LATE_MS past skipped. */
  private head(now: number): Grant | undefined {
    for (;;) {
      const g = this.grants[0];
      if (!g) return undefined;
      const end = g.start + g.count * g.interval;
      if (g.spent >= g.count || now >= end + MAX_LATE_MS) {
        this.grants.shift();
        continue;
      }
      // A message's time that passed more than MAX_LATE_MS ago is not owed (see there).
      const owedFrom = Math.ceil((now - MAX_LATE_MS - g.start) / g.interval);
      if (owedFrom > g.spent) g.spent = Math.min(g.count, owedFrom);
      if (g.spent >= g.count) continue;
      return g;
    }
  }

  /** Ask for the next slice when what is booked ends within a slice from now. */
  private prefetch(now: number): void {
    if (this.asking || this.retry || this.stopped) return;
    const last = this.grants[this.grants.length - 1];
    if (last && last.start + last.count * last.interval - now > this.sliceMs) return;
    this.ask();
  }

  private ask(): void {
    this.asking = true;
    const sent = this.now();
    this.redis
      .qasidRateGrant(this.o.key, this.count, this.o.tps, 2 * this.sliceMs, this.o.recoveryPerSec ?? 0.05)
      .then(([ok, a, b, d]) => {
        this.asking = false;
        if (this.stopped) return;
        if (Number(ok) === 1) {
          const offset = this.clock(Number(d), sent, this.now());
          this.grants.push({ start: Number(a) - offset, interval: Number(b), count: this.count, spent: 0 });
          this.onGrant();
        } else {
          this.later(Math.max(1, Number(a)));
        }
      })
      .catch((e: unknown) => {
        this.asking = false;
        this.warn(e);
        if (!this.stopped) this.later(200);
      });
  }

  /** One more reading of Redis' clock against ours; returns the offset of the quickest of the last 16. */
  private clock(redisNow: number, sent: number, got: number): number {
    const reading = { value: redisNow - (sent + got) / 2, rtt: got - sent };
    this.samples.push(reading);
    if (this.samples.length > 16) this.samples.shift();
    let best = reading;
    for (const x of this.samples) if (x.rtt < best.rtt) best = x;
    return best.value;
  }

  private later(ms: number): void {
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.stopped) return;
      this.ask();
    }, ms);
    this.retry.unref();
  }

  private warn(e: unknown): void {
    this.log.log('warn', { event: 'redis.error', err: errorMessage(e), carrier: this.o.carrier }, 'shared carrier budget unavailable; this carrier waits until Redis answers');
  }
}
