/**
 * A subscriber's standing choices in Redis, always by keyed hash, never by number:
 * opt-outs (per sender, from STOP; per tenant), opt-ins (per tenant, marketing consent),
 * the blocklist and the national do-not-contact list; plus the per-subscriber frequency
 * caps and the index of what Qasid holds about them (for erasure and export).
 *
 * The check a message needs on its way out is one Lua script over keys that share the
 * subscriber's hash tag: read the choices, decide, count the cap, index the record.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';
import type { Vault } from './vault.js';

export type MessageClass = 'transactional' | 'otp' | 'marketing';
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

export type CheckResult = { kind: 'allow' } | { kind: 'quiet' } | { kind: 'blocked'; reason: BlockReason };

export interface SubscriberRules {
  transactionalHonoursStop: boolean;
  marketingNeedsConsent: boolean;
  caps: Readonly<Record<MessageClass, { limit: number; windowSec: number }>>;
}

/** How long the DNC generation is cached before it is read again. */
const DNC_GENERATION_TTL_MS = 5_000;

// KEYS: subscriber, cap, held. ARGV: see check().
const LUA_CHECK = `
local now = tonumber(ARGV[1])
local expires = tonumber(ARGV[13])
redis.call('ZADD', KEYS[3], expires, ARGV[12])
local ttl = redis.call('PTTL', KEYS[3])
if ttl < expires - now then redis.call('PEXPIRE', KEYS[3], math.max(1, expires - now)) end
local f = redis.call('HMGET', KEYS[1], 'blk', 'dnc', ARGV[3], ARGV[4], ARGV[5])
if f[1] then return 'blocklist' end
if ARGV[15] ~= '' then return ARGV[15] end
local mkt = ARGV[2] == 'marketing'
if f[3] and (mkt or ARGV[8] == '1') then return 'opt_out' end
if mkt then
  if f[4] then return 'opt_out' end
  if f[2] and f[2] == ARGV[14] then return 'dnc' end
  if ARGV[7] == '1' and ARGV[6] ~= '1' and not f[5] then return 'no_consent' end
  if ARGV[9] == '1' then return 'quiet' end
end
local limit = tonumber(ARGV[10])
if limit > 0 and not redis.call('ZSCORE', KEYS[2], ARGV[12]) then
  local win = tonumber(ARGV[11])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - win)
  if redis.call('ZCARD', KEYS[2]) >= limit then return 'frequency_cap' end
  redis.call('ZADD', KEYS[2], now, ARGV[12])
  redis.call('PEXPIRE', KEYS[2], win)
end
return 'ok'`;

interface ScriptedRedis extends Redis {
  qasidPolicyCheck(sub: string, cap: string, held: string, ...argv: string[]): Promise<string>;
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

  constructor(
    redis: Redis,
    readonly keys: Keys,
    private readonly vault: Vault,
    private readonly rules: SubscriberRules,
  ) {
    redis.defineCommand('qasidPolicyCheck', { numberOfKeys: 3, lua: LUA_CHECK });
    this.redis = redis as ScriptedRedis;
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
    for (const h of older) {
      const f = await this.redis.hmget(this.keys.subscriber(h), 'blk', 'dnc', sField, tOut);
      const honour = m.cls === 'marketing' || this.rules.transactionalHonoursStop;
      if (f[0]) legacy = 'blocklist';
      else if (f[2] && honour) legacy = 'opt_out';
      else if (m.cls === 'marketing' && f[3]) legacy = 'opt_out';
      else if (m.cls === 'marketing' && f[1] && f[1] === dncGen) legacy = 'dnc';
      if (legacy !== '') break;
    }
    const cap = this.rules.caps[m.cls];
    const r = await this.redis.qasidPolicyCheck(
      this.keys.subscriber(current),
      this.keys.cap(current, m.cls),
      this.keys.held(current),
      String(Math.round(m.now)),
      m.cls,
      sField,
      tOut,
      tIn,
      m.hasConsentRef ? '1' : '0',
      this.rules.marketingNeedsConsent ? '1' : '0',
      this.rules.transactionalHonoursStop ? '1' : '0',
      m.quiet ? '1' : '0',
      String(cap.limit),
      String(cap.windowSec * 1000),
      m.recId,
      String(Math.round(m.recExpiresAt)),
      dncGen,
      legacy,
    );
    if (r === 'ok') return { kind: 'allow' };
    if (r === 'quiet') return { kind: 'quiet' };
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
      const p = this.redis.pipeline();
      for (const e164 of batch) p.hset(this.keys.subscriber(this.vault.hash(e164)), 'dnc', generation);
      await p.exec();
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
