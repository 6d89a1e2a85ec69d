/**
 * The intake stream, read with a consumer group. Blocking reads use their own
 * connection (disconnecting it interrupts a read at stop, as BullMQ does); acks go out on
 * the shared connection, XACK and XDEL together, batched per tick. Entries of dead
 * consumers are taken over by lease (./ownership.ts), never by idle time alone. A group
 * that disappeared (Redis restarted empty, a failover to a replica without it) is created
 * again on the next read.
 */
import type { ReplicaWait } from './replica-wait.js';
import type { Redis } from 'ioredis';

export interface IntakeEntry {
  id: string;
  /** The intake shard it was read from (keys.intakeStreams). */
  shard: number;
  /** The `data` field, when the entry has one. */
  data: string | undefined;
  /** The `sealed` field: the same JSON sealed by a Qasid client (context "mt"). */
  sealed?: string;
  /** Still pending but already deleted from the stream: its fate was recorded (only acked, then deleted). */
  deleted?: true;
}

/** One intake shard: its stream, the owners hash beside it, its number. */
export interface IntakeShard {
  stream: string;
  owners: string;
  shard: number;
}

export interface IntakeOptions {
  group: string;
  consumer: string;
  blockMs: number;
}

// KEYS[1] intake stream, KEYS[2] owners hash; ARGV[1] group, ARGV[2] this consumer,
// ARGV[3] most entries to take, ARGV[4] idle ms after which a consumer without a lease
// counts as dead. Takes over (XCLAIM) the pending entries of every other consumer whose
// lease ran out — all of them, up to ARGV[3] — and of lease-less consumers the entries
// idle that long. Forgets dead consumers that hold nothing any more. Returns
// {consumer, entries} pairs flattened: {c1, {entry…}, c2, {entry…}}.
const LUA_CLAIM_DEAD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
local holders = summary[4]
local left = tonumber(ARGV[3])
local out = {}
local pendingBy = {}
if holders then
  for _, h in ipairs(holders) do
    local name = h[1]
    pendingBy[name] = true
    if name ~= ARGV[2] and left > 0 then
      local v = redis.call('HGET', KEYS[2], name)
      local minIdle = -1
      if not v then
        minIdle = tonumber(ARGV[4])
      else
        local exp = tonumber(string.match(v, '|(%d+)$') or '0')
        if exp <= now then minIdle = 0 end
      end
      if minIdle >= 0 then
        local p = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', minIdle, '-', '+', left, name)
        if #p > 0 then
          local ids = {}
          for i, e in ipairs(p) do ids[i] = e[1] end
          local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], minIdle, unpack(ids))
          left = left - #ids
          out[#out + 1] = name
          out[#out + 1] = claimed
        end
      end
    end
  end
end
local owners = redis.call('HGETALL', KEYS[2])
for i = 1, #owners, 2 do
  local name = owners[i]
  local exp = tonumber(string.match(owners[i + 1], '|(%d+)$') or '0')
  if name ~= ARGV[2] and exp <= now and not pendingBy[name] then
    redis.call('HDEL', KEYS[2], name)
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
  end
end
return out`;

interface IntakeRedis extends Redis {
  qasidClaimDead(stream: string, owners: string, group: string, consumer: string, count: number, legacyIdleMs: number): Promise<Array<string | RawEntry[]>>;
}

/** Entries taken over from one dead consumer. */
export interface Claimed {
  from: string;
  entries: IntakeEntry[];
}

type RawEntry = [id: string, fields: string[] | null];

export class IntakeReader {
  /** The shard this reader reads. */
  get shard(): number {
    return this.where.shard;
  }

  get stream(): string {
    return this.where.stream;
  }

  private pendingAcks: string[] = [];
  private flushScheduled = false;

  private readonly redis: IntakeRedis;

  constructor(
    private readonly blocking: Redis,
    redis: Redis,
    private readonly where: IntakeShard,
    private readonly opts: IntakeOptions,
    /** An ack that failed: the entries stay pending and are resumed or claimed later. */
    private readonly onAckError: (e: unknown, count: number) => void = () => undefined,
    /** The group was missing and has been created again (Redis lost it). */
    private readonly onGroupRecreated: () => void = () => undefined,
    /** With redis.waitReplicas: acks wait until the fates they follow are on the replicas. */
    private readonly replicas?: ReplicaWait,
  ) {
    redis.defineCommand('qasidClaimDead', { numberOfKeys: 2, lua: LUA_CLAIM_DEAD });
    this.redis = redis as IntakeRedis;
  }

  /** Create the consumer group (reading from the start of the stream) if it is missing. True when it was created. */
  async ensureGroup(): Promise<boolean> {
    try {
      await this.redis.xgroup('CREATE', this.where.stream, this.opts.group, '0', 'MKSTREAM');
      return true;
    } catch (e) {
      if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
      return false;
    }
  }

  /** Run a group command; if Redis lost the group (NOGROUP), create it again and retry once. */
  private async withGroup<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!isNoGroup(e)) throw e;
      if (await this.ensureGroup()) this.onGroupRecreated();
      return fn();
    }
  }

  /** New entries for this consumer; waits up to blockMs. Empty on timeout. */
  read(count: number): Promise<IntakeEntry[]> {
    return this.withGroup(() => this.readNew(count));
  }

  private async readNew(count: number): Promise<IntakeEntry[]> {
    const res = (await this.blocking.xreadgroup(
      'GROUP',
      this.opts.group,
      this.opts.consumer,
      'COUNT',
      count,
      'BLOCK',
      this.opts.blockMs,
      'STREAMS',
      this.where.stream,
      '>',
    )) as Array<[string, RawEntry[]]> | null;
    if (!res || res.length === 0) return [];
    return toEntries((res[0] as [string, RawEntry[]])[1], this.where.shard);
  }

  /**
   * Entries this consumer itself still holds (after a restart under the same name), in
   * id order after `afterId`: a caller walks them once by passing the last id it got.
   */
  async ownPending(count: number, afterId = '0'): Promise<IntakeEntry[]> {
    const res = (await this.withGroup(() => this.redis.xreadgroup('GROUP', this.opts.group, this.opts.consumer, 'COUNT', count, 'STREAMS', this.where.stream, afterId))) as Array<[string, RawEntry[]]> | null;
    if (!res || res.length === 0) return [];
    return toEntries((res[0] as [string, RawEntry[]])[1], this.where.shard);
  }

  /**
   * Take over up to `count` entries of consumers whose lease ran out (and of lease-less
   * consumers, those idle longer than legacyIdleMs). Entries already deleted are dropped
   * from the pending list by Redis and not returned.
   */
  async claimDead(count: number, legacyIdleMs: number): Promise<Claimed[]> {
    const flat = await this.withGroup(() => this.redis.qasidClaimDead(this.where.stream, this.where.owners, this.opts.group, this.opts.consumer, count, legacyIdleMs));
    const out: Claimed[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ from: String(flat[i]), entries: toEntries(flat[i + 1] as RawEntry[], this.where.shard) });
    return out;
  }

  /** The entry's fate is recorded: acknowledge and remove it (batched). */
  done(id: string): void {
    this.pendingAcks.push(id);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        const count = this.pendingAcks.length;
        this.flush().catch((e: unknown) => this.onAckError(e, count));
      });
    }
  }

  async flush(): Promise<void> {
    this.flushScheduled = false;
    const ids = this.pendingAcks.splice(0);
    if (ids.length === 0) return;
    // Their fate was written (and answered) before they were handed to done(): on the
    // replicas too before the entries go, when the config asks for it.
    await this.replicas?.wait();
    await Promise.all([this.redis.xack(this.where.stream, this.opts.group, ...ids), this.redis.xdel(this.where.stream, ...ids)]);
  }

  /** Entries read by the group and not yet acknowledged, across all consumers. */
  async pendingCount(): Promise<number> {
    const r = (await this.redis.xpending(this.where.stream, this.opts.group)) as [number, ...unknown[]];
    return Number(r[0]);
  }
}

function isNoGroup(e: unknown): boolean {
  return e instanceof Error && e.message.startsWith('NOGROUP');
}

function toEntries(raw: RawEntry[], shard: number): IntakeEntry[] {
  const out: IntakeEntry[] = [];
  for (const [id, fields] of raw) {
    // A deleted entry still pending shows up with null fields.
    let data: string | undefined;
    let sealed: string | undefined;
    if (fields) {
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === 'data') data = fields[i + 1];
        else if (fields[i] === 'sealed') sealed = fields[i + 1];
      }
    }
    if (!fields) out.push({ id, shard, data, deleted: true });
    else out.push(sealed === undefined ? { id, shard, data } : { id, shard, data, sealed });
  }
  return out;
}
