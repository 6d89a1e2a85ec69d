/**
 * A subscriber's standing choices in Redis, always by keyed hash, never by number:
 * opt-outs (per sender, from STOP; per tenant), opt-ins (per tenant, marketing consent),
 * the blocklist and the national do-not-contact list; plus the per-subscriber frequency
 * caps and the index of what Qasid holds about them (for erasure and export).
 *
 * The check a message needs on its way out is one Lua script over keys that share the
 * subscriber's hash tag: read the choices, decide, count the caps, index the record.
 * A class's cap has any number of sliding windows kept in one ZSET (record id → time,
 * trimmed to the longest window, each window counted with ZCOUNT); a tenant's own
 * windows of a class count its messages in a second ZSET, also in the subscriber's tag.
 */
import { isCluster } from '../queue/scan.js';
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';
import type { Vault } from './vault.js';

export type MessageClass = 'transactional' | 'otp' | 'marketing';
const CLASSES: readonly MessageClass[] = ['marketing', 'otp', 'transactional'];
export type BlockReason = 'blocklist' | 'opt_out' | 'dnc' | 'no_consent' | 'frequency_cap';
export type ChoiceScope = { kind: 'sender'; sender: string } | { kind: 'tenant'; tenant: string } | { kind: 'blocklist' };

export interface CheckInput {
  e164: string;
  cls: MessageClass;
  tenant: string | undefined;
  sender: string;
  hasConsentRef: boolean;
  /** Marketing inside quiet hours: the script says `quiet` once nothing blocks it. */
  quiet: boolean;
  recId: string;
  /** When the record expires (ms): the index entry lives as long. */
  recExpiresAt: number;
  now: number;
}

/** The cap window a message would have gone over: the class's own, or its tenant's. */
export interface CapHit {
  scope: 'class' | 'tenant';
  limit: number;
  windowSec: number;
}

export type CheckResult = { kind: 'allow' } | { kind: 'quiet' } | { kind: 'blocked'; reason: BlockReason; cap?: CapHit };

export interface CapWindow {
  limit: number;
  windowSec: number;
}

export interface SubscriberRules {
  transactionalHonoursStop: boolean;
  marketingNeedsConsent: boolean;
  /** Per class, the sliding windows of the cap (none = no cap). */
  caps: Readonly<Record<MessageClass, readonly CapWindow[]>>;
  /** The classes the do-not-contact list holds back. */
  dnc: { classes: readonly MessageClass[] };
  /** Per tenant, windows counting only its own messages of a class, on top of `caps`. */
  tenants: ReadonlyArray<{ tenant: string; caps?: Readonly<Partial<Record<MessageClass, readonly CapWindow[]>>> }>;
}

/** How long the DNC generation is cached before it is read again. */
const DNC_GENERATION_TTL_MS = 5_000;

/**
 * The policy check of one message: reads the subscriber's choices, decides, counts the
 * caps and indexes the record, over keys that share the subscriber's hash tag.
 *
 * KEYS[1] the subscriber's choices (HASH), KEYS[2] the class's cap (ZSET record id →
 * ms), KEYS[3] the held index (ZSET), KEYS[4] the tenant's cap of the class (ZSET; only
 * touched when the tenant has windows).
 * ARGV[1] now (ms), [2] class, [3] sender opt-out field, [4] tenant opt-out field,
 * [5] tenant opt-in field, [6] '1' when the message has a consent reference,
 * [7] '1' when marketing needs consent, [8] '1' when OTP and transactional honour STOP,
 * [9] '1' in marketing quiet hours, [10] record id, [11] when the record expires (ms),
 * [12] the DNC generation in force, [13] the verdict of older hash versions ('' none),
 * [14] '1' when the DNC list applies to the class, then the class's windows — a count n,
 * the longest window (ms), n × (limit, window ms) — and the tenant's, the same way.
 * Returns 'ok', 'quiet', a block reason, or 'frequency_cap:<class|tenant>:<window index, from 1>'.
 */
const LUA_CHECK = `
local now = tonumber(ARGV[1])
local id = ARGV[10]
local expires = tonumber(ARGV[11])
redis.call('ZADD', KEYS[3], expires, id)
local ttl = redis.call('PTTL', KEYS[3])
if ttl < expires - now then redis.call('PEXPIRE', KEYS[3], math.max(1, expires - now)) end
local f = redis.call('HMGET', KEYS[1], 'blk', 'dnc', ARGV[3], ARGV[4], ARGV[5])
if f[1] then return 'blocklist' end
if ARGV[13] ~= '' then return ARGV[13] end
local mkt = ARGV[2] == 'marketing'
if f[3] and (mkt or ARGV[8] == '1') then return 'opt_out' end
if mkt and f[4] then return 'opt_out' end
if ARGV[14] == '1' and f[2] and f[2] == ARGV[12] then return 'dnc' end
if mkt then
  if ARGV[7] == '1' and ARGV[6] ~= '1' and not f[5] then return 'no_consent' end
  if ARGV[9] == '1' then return 'quiet' end
end
-- A cap's windows from ARGV[at]: n, longest, then n pairs. Returns whether the record
-- is to be counted in it, and the index of the first full window (0 when none is).
local function full(key, at)
  local n = tonumber(ARGV[at])
  if n == 0 or redis.call('ZSCORE', key, id) then return false, 0 end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - tonumber(ARGV[at + 1]))
  for j = 1, n do
    local limit, win = tonumber(ARGV[at + 2 * j]), tonumber(ARGV[at + 2 * j + 1])
    if redis.call('ZCOUNT', key, '(' .. (now - win), '+inf') >= limit then return true, j end
  end
  return true, 0
end
local own = 15
local ten = own + 2 + 2 * tonumber(ARGV[own])
local countOwn, fullOwn = full(KEYS[2], own)
if fullOwn > 0 then return 'frequency_cap:class:' .. fullOwn end
local countTen, fullTen = full(KEYS[4], ten)
if fullTen > 0 then return 'frequency_cap:tenant:' .. fullTen end
if countOwn then
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('PEXPIRE', KEYS[2], ARGV[own + 1])
end
if countTen then
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('PEXPIRE', KEYS[4], ARGV[ten + 1])
end
return 'ok'`;

/** A cap's windows as the script takes them: n, the longest window (ms), then n × (limit, window ms). */
function capArgs(windows: readonly CapWindow[] | undefined): readonly string[] {
  if (windows === undefined || windows.length === 0) return ['0', '0'];
  const out = [String(windows.length), String(Math.max(...windows.map((w) => w.windowSec)) * 1000)];
  for (const w of windows) out.push(String(w.limit), String(w.windowSec * 1000));
  return out;
}

const NO_CAP = capArgs(undefined);

interface ScriptedRedis extends Redis {
  qasidPolicyCheck(sub: string, cap: string, held: string, tenantCap: string, ...argv: string[]): Promise<string>;
}

/** Sender ids compare without a leading '+' and case-insensitively ("+8555" = "8555", "MyBank" = "MYBANK"). */
export function senderKey(sender: string): string {
  return sender.replace(/^\+/, '').toLowerCase();
}

export function choiceField(scope: ChoiceScope, kind: 'out' | 'in' = 'out'): string {
  if (scope.kind === 'blocklist') return 'blk';
  const p = kind === 'out' ? 'o' : 'i';
  return scope.kind === 'sender' ? `${p}:s:${senderKey(scope.sender)}` : `${p}:t:${scope.tenant}`;
}

export class SubscriberStore {
  private readonly redis: ScriptedRedis;
  private dncGen: { value: string; readAt: number } | undefined;
  /** The script's cap arguments per class, and per tenant and class, built once. */
  private readonly capArgs: Record<MessageClass, readonly string[]>;
  private readonly tenantCapArgs = new Map<string, Partial<Record<MessageClass, readonly string[]>>>();
  private readonly dncClasses: ReadonlySet<MessageClass>;

  constructor(
    redis: Redis,
    readonly keys: Keys,
    private readonly vault: Vault,
    private readonly rules: SubscriberRules,
  ) {
    redis.defineCommand('qasidPolicyCheck', { numberOfKeys: 4, lua: LUA_CHECK });
    this.redis = redis as ScriptedRedis;
    this.capArgs = { marketing: capArgs(rules.caps.marketing), otp: capArgs(rules.caps.otp), transactional: capArgs(rules.caps.transactional) };
    for (const t of rules.tenants) {
      if (t.caps === undefined) continue;
      const byClass: Partial<Record<MessageClass, readonly string[]>> = {};
      for (const [cls, windows] of Object.entries(t.caps) as Array<[MessageClass, readonly CapWindow[]]>) if (windows.length > 0) byClass[cls] = capArgs(windows);
      this.tenantCapArgs.set(t.tenant, byClass);
    }
    this.dncClasses = new Set(rules.dnc.classes);
  }

  /** Every cap key of one subscriber hash: each class's, and each class's of every tenant with caps (erasure, export). */
  capKeys(hash: string): Array<{ key: string; cls: MessageClass; tenant?: string }> {
    const out: Array<{ key: string; cls: MessageClass; tenant?: string }> = CLASSES.map((cls) => ({ key: this.keys.cap(hash, cls), cls }));
    for (const [tenant, byClass] of this.tenantCapArgs) for (const cls of CLASSES) if (byClass[cls] !== undefined) out.push({ key: this.keys.tenantCap(hash, cls, tenant), cls, tenant });
    return out;
  }

  /** The window a `frequency_cap:<scope>:<index>` verdict names. */
  private capHit(verdict: string, cls: MessageClass, tenant: string | undefined): CapHit | undefined {
    const [, scope, index] = verdict.split(':');
    const windows = scope === 'tenant' ? this.rules.tenants.find((t) => t.tenant === tenant)?.caps?.[cls] : this.rules.caps[cls];
    const w = windows?.[Number(index) - 1];
    return w === undefined || (scope !== 'class' && scope !== 'tenant') ? undefined : { scope, limit: w.limit, windowSec: w.windowSec };
  }

  /** Every hash version of a number, current first (older ones while a hash secret rotates). */
  hashes(e164: string): string[] {
    return this.vault.pseudonyms.hashes(e164);
  }

  /** Decide whether a message may go now; counts the cap and indexes the record. One round trip. */
  async check(m: CheckInput): Promise<CheckResult> {
    const [current, ...older] = this.hashes(m.e164);
    if (current === undefined) throw new Error('no hash secret');
    const tenant = m.tenant ?? '';
    const sField = choiceField({ kind: 'sender', sender: m.sender });
    const tOut = `o:t:${tenant}`;
    const tIn = `i:t:${tenant}`;
    const dncGen = await this.dncGeneration(m.now);
    // Choices recorded under an older hash secret still count until it is retired.
    let legacy = '';
    const dnc = this.dncClasses.has(m.cls);
    for (const h of older) {
      const f = await this.redis.hmget(this.keys.subscriber(h), 'blk', 'dnc', sField, tOut);
      const honour = m.cls === 'marketing' || this.rules.transactionalHonoursStop;
      if (f[0]) legacy = 'blocklist';
      else if (f[2] && honour) legacy = 'opt_out';
      else if (m.cls === 'marketing' && f[3]) legacy = 'opt_out';
      else if (dnc && f[1] && f[1] === dncGen) legacy = 'dnc';
      if (legacy !== '') break;
    }
    const tenantCaps = m.tenant === undefined ? undefined : this.tenantCapArgs.get(m.tenant)?.[m.cls];
    const r = await this.redis.qasidPolicyCheck(
      this.keys.subscriber(current),
      this.keys.cap(current, m.cls),
      this.keys.held(current),
      // Untouched unless the tenant has windows for the class; passed anyway, so KEYS are fixed.
      this.keys.tenantCap(current, m.cls, tenant),
      String(Math.round(m.now)),
      m.cls,
      sField,
      tOut,
      tIn,
      m.hasConsentRef ? '1' : '0',
      this.rules.marketingNeedsConsent ? '1' : '0',
      this.rules.transactionalHonoursStop ? '1' : '0',
      m.quiet ? '1' : '0',
      m.recId,
      String(Math.round(m.recExpiresAt)),
      dncGen,
      legacy,
      dnc ? '1' : '0',
      ...this.capArgs[m.cls],
      ...(tenantCaps ?? NO_CAP),
    );
    if (r === 'ok') return { kind: 'allow' };
    if (r === 'quiet') return { kind: 'quiet' };
    if (r.startsWith('frequency_cap:')) {
      const cap = this.capHit(r, m.cls, m.tenant);
      return cap === undefined ? { kind: 'blocked', reason: 'frequency_cap' } : { kind: 'blocked', reason: 'frequency_cap', cap };
    }
    return { kind: 'blocked', reason: r as BlockReason };
  }

  /** Record an opt-out (or blocklisting) under the current hash. Idempotent. */
  async optOut(e164: string, scope: ChoiceScope, now: number): Promise<void> {
    await this.redis.hset(this.keys.subscriber(this.vault.hash(e164)), choiceField(scope), String(Math.round(now)));
  }

  /** Undo an opt-out (START) under every hash version. True when there was one. */
  async optIn(e164: string, scope: ChoiceScope): Promise<boolean> {
    return this.removeChoice(e164, choiceField(scope));
  }

  /** Record marketing consent for a tenant (the tenant's opt-in list). */
  async consent(e164: string, tenant: string, now: number): Promise<void> {
    await this.redis.hset(this.keys.subscriber(this.vault.hash(e164)), choiceField({ kind: 'tenant', tenant }, 'in'), String(Math.round(now)));
  }

  async withdrawConsent(e164: string, tenant: string): Promise<boolean> {
    return this.removeChoice(e164, choiceField({ kind: 'tenant', tenant }, 'in'));
  }

  /** Remove one choice under every hash version; true when any version held it. */
  private async removeChoice(e164: string, field: string): Promise<boolean> {
    let removed = 0;
    for (const h of this.hashes(e164)) removed += await this.redis.hdel(this.keys.subscriber(h), field);
    return removed > 0;
  }

  /** Everything recorded for a number, across hash versions (export, lookups). */
  async choices(e164: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const h of this.hashes(e164).reverse()) Object.assign(out, await this.redis.hgetall(this.keys.subscriber(h)));
    return out;
  }

  /** The DNC generation in force ('' when no list was ever imported); cached for a few seconds. */
  async dncGeneration(now = Date.now()): Promise<string> {
    if (this.dncGen === undefined || now - this.dncGen.readAt > DNC_GENERATION_TTL_MS || now < this.dncGen.readAt) {
      this.dncGen = { value: (await this.redis.get(this.keys.dncGeneration)) ?? '', readAt: now };
    }
    return this.dncGen.value;
  }

  /** Forget the cached DNC generation (after an import in this process). */
  forgetDncGeneration(): void {
    this.dncGen = undefined;
  }

  /**
   * Import do-not-contact numbers. `replace`: a new generation, so numbers missing from
   * this file stop counting once it is complete (nothing is deleted one by one); else the
   * numbers join the current list. Returns how many were written.
   */
  async importDnc(numbers: AsyncIterable<string>, replace: boolean): Promise<{ imported: number; generation: string }> {
    let generation = (await this.redis.get(this.keys.dncGeneration)) ?? '';
    if (replace || generation === '') generation = Date.now().toString(36);
    let batch: string[] = [];
    let imported = 0;
    const flush = async (): Promise<void> => {
      if (isCluster(this.redis)) {
        // One command each, all sent at once: each subscriber's key has its own hash slot,
        // and a Redis Cluster client keeps one pipeline to one node.
        await Promise.all(batch.map((e164) => this.redis.hset(this.keys.subscriber(this.vault.hash(e164)), 'dnc', generation)));
      } else {
        const p = this.redis.pipeline();
        for (const e164 of batch) p.hset(this.keys.subscriber(this.vault.hash(e164)), 'dnc', generation);
        await p.exec();
      }
      imported += batch.length;
      batch = [];
    };
    for await (const e164 of numbers) {
      batch.push(e164);
      if (batch.length >= 1000) await flush();
    }
    await flush();
    await this.redis.set(this.keys.dncGeneration, generation);
    this.forgetDncGeneration();
    return { imported, generation };
  }

  /** Note that Qasid holds something about this subscriber (an MO entry) until `expiresAt`. */
  async hold(e164: string, member: string, expiresAt: number, now: number): Promise<void> {
    const key = this.keys.held(this.vault.hash(e164));
    const ttl = Math.max(1, Math.round(expiresAt - now));
    await this.redis.zadd(key, Math.round(expiresAt), member);
    const current = await this.redis.pttl(key);
    if (current < ttl) await this.redis.pexpire(key, ttl);
  }
}
