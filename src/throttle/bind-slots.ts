/**
 * A carrier's `sessions` is a total across every instance, not a number per process:
 * carriers count binds per account, and a second instance must not double them.
 *
 * The carrier's bind slots 0 … sessions−1 are leased in one Redis hash in the carrier's
 * hash tag: `m:<instance>` → lease end (who is alive), `s:<slot>` → `<instance>|<lease
 * end>` (who holds the slot), both in Redis' own clock. Every third of the lease each
 * instance runs one script that renews its membership and its slots, drops what ran out,
 * and computes its fair share — sessions ÷ live members, the remainder to the first
 * members in name order — then takes free slots up to that share. An instance holding
 * more than its share (one joined) unbinds the excess first and gives the slots back
 * after, so the binds at the carrier never exceed `sessions`, even for a moment. A dead
 * instance's slots run out with its lease and the others take them; an instance that
 * cannot renew (Redis away) unbinds before its lease can run out, so it never holds a
 * bind another instance may also hold.
 *
 * The instance name is the intake consumer name, which the consumer lease keeps unique
 * among live instances, so a restart under the same name takes its own slots back at once.
 */
import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';

// KEYS[1] the carrier's bind-slot hash; ARGV[1] instance, ARGV[2] lease ms, ARGV[3] slots.
// Renews the instance's membership and slots, frees what ran out, takes free slots up to
// its share. Returns { share, members, slot, slot, … } (the slots it holds now; it may
// hold more than its share: the caller unbinds those, then releases them).
const LUA_SYNC = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, lease, slots = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HGETALL', KEYS[1])
local members, holder, seen = {}, {}, false
for i = 1, #h, 2 do
  local f, v = h[i], h[i + 1]
  local kind = string.sub(f, 1, 2)
  if kind == 'm:' then
    local who = string.sub(f, 3)
    if who == me then seen = true end
    if tonumber(v) > now or who == me then members[#members + 1] = who else redis.call('HDEL', KEYS[1], f) end
  elseif kind == 's:' then
    local idx = tonumber(string.sub(f, 3))
    local who, exp = string.match(v, '^(.*)|(%d+)$')
    if idx == nil or idx >= slots or exp == nil or (tonumber(exp) <= now and who ~= me) then
      redis.call('HDEL', KEYS[1], f)
    else
      holder[idx] = who
    end
  end
end
if not seen then members[#members + 1] = me end
table.sort(members)
local rank = 0
for i, who in ipairs(members) do if who == me then rank = i - 1 end end
local n = #members
local share = math.floor(slots / n)
if rank < slots % n then share = share + 1 end
local held = {}
for idx = 0, slots - 1 do if holder[idx] == me then held[#held + 1] = idx end end
for idx = 0, slots - 1 do
  if #held >= share then break end
  if holder[idx] == nil then holder[idx] = me; held[#held + 1] = idx end
end
table.sort(held)
redis.call('HSET', KEYS[1], 'm:' .. me, now + lease)
for _, idx in ipairs(held) do redis.call('HSET', KEYS[1], 's:' .. idx, me .. '|' .. (now + lease)) end
redis.call('PEXPIRE', KEYS[1], lease * 3)
local out = { share, n }
for _, idx in ipairs(held) do out[#out + 1] = idx end
return out`;

// KEYS[1] the bind-slot hash; ARGV[1] instance, ARGV[2] 1 = leave (drop membership too),
// ARGV[3…] slots to give back (only those this instance holds).
const LUA_RELEASE = `
local me = ARGV[1]
for i = 3, #ARGV do
  local f = 's:' .. ARGV[i]
  local v = redis.call('HGET', KEYS[1], f)
  if v and string.sub(v, 1, #me + 1) == me .. '|' then redis.call('HDEL', KEYS[1], f) end
end
if ARGV[2] == '1' then redis.call('HDEL', KEYS[1], 'm:' .. me) end
return 1`;

interface SlotRedis extends Redis {
  qasidBindSync(key: string, instance: string, leaseMs: number, slots: number): Promise<number[]>;
  qasidBindRelease(key: string, instance: string, leave: 0 | 1, ...slots: number[]): Promise<number>;
}

export interface BindSlotsOptions {
  /** The carrier's bind-slot hash (keys.bindSlots(carrier)). */
  key: string;
  carrier: string;
  /** This instance's name (intake.consumer). */
  instance: string;
  /** The carrier's `sessions`: slots 0 … slots−1. */
  slots: number;
  leaseMs: number;
  logger: Logger;
  /**
   * Bind exactly these slots (start the missing, stop the others; `abrupt`: close them
   * at once, the lease is lost). Resolves once the stopped ones are closed: only then
   * are their slots given back.
   */
  apply: (slots: readonly number[], abrupt: boolean) => Promise<void>;
  /**
   * With redis.waitReplicas (Sentinel): waits until this connection's writes are on the
   * replicas. A slot newly taken is bound only after its lease is there too — a failover
   * to a replica that never saw the take would hand the slot back to its old holder, and
   * the carrier would see both bind it.
   */
  replicas?: { wait(): Promise<void> };
}

export interface BindSlotsState {
  /** Slots this instance holds (and binds). */
  held: number[];
  /** Its fair share right now. */
  share: number;
  /** Live instances sharing the carrier. */
  members: number;
}

export class BindSlots {
  private readonly redis: SlotRedis;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  /**
   * Binding and unbinding run one after another, apart from the renewals: an unbind may
   * take a while (in-flight submits finish first), and the slots being given up must stay
   * leased to this instance until their sessions are closed.
   */
  private applying: Promise<void> = Promise.resolve();
  /** What the last queued apply binds; undefined after one failed (what is bound is then unknown). */
  private target: readonly number[] | undefined = [];
  /** Slots being unbound, released once closed (renewed meanwhile: still ours in Redis). */
  private readonly releasing = new Set<number>();
  private state: BindSlotsState = { held: [], share: 0, members: 0 };
  /** Date.now() of the last successful renewal. */
  private renewedAt = 0;
  private stopped = false;
  /** stop() is unbinding: renewals keep the leases, nothing new is bound. */
  private stopping = false;
  /** Slots a renewal took while stopping (given back with the rest). */
  private readonly takenWhileStopping = new Set<number>();

  constructor(
    redis: Redis,
    private readonly o: BindSlotsOptions,
  ) {
    redis.defineCommand('qasidBindSync', { numberOfKeys: 1, lua: LUA_SYNC });
    redis.defineCommand('qasidBindRelease', { numberOfKeys: 1, lua: LUA_RELEASE });
    this.redis = redis as SlotRedis;
  }

  get current(): BindSlotsState {
    return { ...this.state, held: [...this.state.held] };
  }

  /** Take this instance's share and bind it (the first renewal's errors reach the caller), then renew every third of the lease. */
  async start(): Promise<void> {
    this.stopped = false;
    this.stopping = false;
    await this.sync(true);
    await this.applying;
    // A renewal every third of the lease; between them, a look at whether the last one is
    // too long ago — a renewal that hangs (Redis failing over, commands queued) never fails.
    let lastSync = Date.now();
    this.timer = setInterval(
      () => {
        this.fenceIfStale();
        if (Date.now() - lastSync < this.o.leaseMs / 3) return;
        lastSync = Date.now();
        void this.sync(false);
      },
      Math.max(20, Math.floor(this.o.leaseMs / 20)),
    );
    this.timer.unref();
  }

  /** Renew now and wait until the binds match (tests). */
  async resync(): Promise<void> {
    await this.sync(false);
    await this.applying;
  }

  /** Unbind everything, then give the slots and the membership back so others take them at once. */
  async stop(): Promise<void> {
    // Renewals go on while the binds close (an unbind waits for its window, which can
    // outlast the lease): until then the slots are still ours, and nobody else binds them.
    this.stopping = true;
    await this.syncing;
    const held = [...new Set([...this.state.held, ...this.releasing])];
    this.queue([]);
    await this.applying;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.syncing;
    this.stopping = false;
    this.state = { held: [], share: 0, members: 0 };
    const taken = [...this.takenWhileStopping];
    this.takenWhileStopping.clear();
    await this.redis.qasidBindRelease(this.o.key, this.o.instance, 1, ...new Set([...held, ...taken]));
  }

  private sync(first: boolean): Promise<void> {
    this.syncing ??= this.renew(first).finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async renew(first: boolean): Promise<void> {
    if (this.stopped && !first) return;
    let reply: number[];
    // The leases run from when Redis ran the script — after this, never before: timing
    // the fence from the send keeps it early however late the answer is read.
    const sentAt = Date.now();
    try {
      reply = await this.redis.qasidBindSync(this.o.key, this.o.instance, this.o.leaseMs, this.o.slots);
    } catch (e) {
      if (first) throw e;
      this.o.logger.warn({ event: 'redis.error', err: errorMessage(e), carrier: this.o.carrier }, 'bind-slot lease renewal failed; retried');
      this.fenceIfStale();
      return;
    }
    this.renewedAt = sentAt;
    if (this.stopped) return;
    if (this.stopping) {
      for (const i of reply.slice(2).map(Number)) if (!this.state.held.includes(i) && !this.releasing.has(i)) this.takenWhileStopping.add(i);
      return;
    }
    const [share = 0, members = 1, ...held] = reply.map(Number);
    // Keep the slots bound now before others, so a share that shrinks unbinds as few as it must.
    const bound = new Set(this.state.held);
    const free = held.filter((i) => !this.releasing.has(i));
    const keep = [...free.filter((i) => bound.has(i)), ...free.filter((i) => !bound.has(i))].slice(0, share).sort((a, b) => a - b);
    if (this.o.replicas !== undefined && keep.some((i) => !bound.has(i))) {
      await this.o.replicas.wait();
      if (this.stopped) return;
    }
    const before = this.state.held.join(',');
    const hadShare = this.state.share > 0 || this.state.members === 0;
    this.state = { held: keep, share, members };
    if (share === 0 && hadShare) {
      // More instances than the carrier has sessions: this one binds nothing there.
      this.o.logger.warn({ event: 'carrier.no_bind_share', carrier: this.o.carrier, sessions: this.o.slots, instances: members }, 'no bind slot of this carrier falls to this instance (more instances than sessions): its messages for the carrier fail over or wait for an instance with a bind');
    }
    this.queue(keep);
    if (keep.join(',') !== before) {
      this.o.logger.info({ event: 'carrier.binds_leased', carrier: this.o.carrier, slots: keep, share, instances: members }, 'bind slots of this instance changed');
    }
  }

  /**
   * Others may take this instance's slots once its leases run out (in Redis' clock, from
   * before the last renewal's answer came): unbind at 80 % of the lease without one.
   */
  private fenceIfStale(): void {
    if (this.stopped || this.target?.length === 0 || Date.now() - this.renewedAt < this.o.leaseMs * 0.8) return;
    this.o.logger.error({ event: 'carrier.binds_fenced', carrier: this.o.carrier, slots: this.state.held.length }, 'bind-slot leases could not be renewed in time; unbinding so no other instance doubles them');
    this.state = { ...this.state, held: [] };
    this.queue([], true);
  }

  /** Bind exactly `keep` once what is queued before has run; then give back what was unbound. */
  private queue(keep: readonly number[], abrupt = false): void {
    const previous = this.target;
    if (previous !== undefined && previous.length === keep.length && previous.every((i, n) => i === keep[n])) return;
    this.target = [...keep];
    const dropped = (previous ?? []).filter((i) => !keep.includes(i));
    for (const i of dropped) this.releasing.add(i);
    // An abrupt change (a lost lease) does not wait for a polite one still unbinding.
    const applied = abrupt ? this.o.apply(keep, true) : this.applying.then(() => this.o.apply(keep, false));
    this.applying = Promise.all([this.applying, applied])
      .then(async () => {
        const free = dropped.filter((i) => !(this.target ?? []).includes(i));
        if (free.length > 0) await this.redis.qasidBindRelease(this.o.key, this.o.instance, 0, ...free);
        for (const i of dropped) this.releasing.delete(i);
      })
      .catch((e: unknown) => {
        for (const i of dropped) this.releasing.delete(i);
        this.o.logger.warn({ event: 'redis.error', err: errorMessage(e), carrier: this.o.carrier }, 'bind-slot change failed; retried at the next renewal');
        // Unknown what is bound now: the next renewal applies its answer whatever it is.
        this.target = undefined;
      });
  }
}
