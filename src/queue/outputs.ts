/**
 * The output streams: status events, MO messages, dead letters. One JSON document per
 * entry, in the field `data`. Streams are capped with XADD MAXLEN ~ (approximate, cheap)
 * and trimmed by age by the retention sweeper. Whatever holds a subscriber's number or
 * text (the MO sender and text, a dead letter's entry) is sealed before it is written.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import type { FieldSealer } from './sealing.js';
import type { RecordFields } from './record.js';
import { streamIdMs } from './streams.js';
import { BATCH_ORDER, TickBatcher } from './batch.js';

export type EventStatus =
  | 'accepted'
  | 'deferred'
  | 'delivered'
  | 'undeliverable'
  | 'expired'
  | 'rejected'
  | 'failed'
  | 'unknown'
  | 'deleted'
  | 'blocked';

/**
 * One status change of one message. `final: true` on exactly one event per intake entry.
 * Version 2 (the events of version 1, plus): a duplicate has a gateway id of its own and
 * names the original's in `duplicateOf`; every rejection names its intake entry (`entryId`);
 * the final event of a long message settled by receipts carries each part's (`partStatus`).
 */
export const EVENT_VERSION = 2;

export interface StatusEvent {
  v: typeof EVENT_VERSION;
  status: EventStatus;
  final: boolean;
  clientId?: string;
  gatewayId?: string;
  tenant?: string;
  carrier?: string;
  parts?: number;
  /** Why, in our words: invalid_number, duplicate, no_route, too_long, no_receipt, … */
  reason?: string;
  /** The carrier's words: an SMPP status name (ESME_RSYSERR) or a receipt's err: code. */
  error?: string;
  /** For deferred: when it will be tried again. */
  retryAt?: string;
  /** The intake stream entry the message came in (every rejection carries it). */
  entryId?: string;
  /** For a rejected duplicate: the gateway id of the message whose client id it repeated. */
  duplicateOf?: string;
  /** The final event of a long message: each receipt-bearing part's receipt (part number from 1 → state). */
  partStatus?: Record<string, string>;
  at: string;
  meta?: unknown;
}

/** What every event of a message echoes from its record: client id, gateway id, tenant, meta (only those set). */
export function eventIds(rec: Partial<RecordFields>): Partial<StatusEvent> {
  const out: Partial<StatusEvent> = {};
  if (rec.cid !== undefined) out.clientId = rec.cid;
  if (rec.gw !== undefined) out.gatewayId = rec.gw;
  if (rec.ten !== undefined) out.tenant = rec.ten;
  if (rec.meta !== undefined) out.meta = JSON.parse(rec.meta) as unknown;
  return out;
}

/** An MO message as it arrives: what Qasid seals before writing (see MoEntry). */
export interface MoMessage {
  carrier: string;
  /** The subscriber's number, E.164 when it could be read as one. */
  from: string;
  /** The short code or number it was sent to. */
  to: string;
  text: string;
  dataCoding: number;
  at: string;
  /** Set when the text was an opt-out / opt-in keyword and Qasid acted on it. */
  keyword?: 'stop' | 'start';
  /** A long MO: how many parts it has. */
  parts?: number;
  /** A long MO whose other parts never came within mo.reassemblySec: the text is of the parts held. */
  partial?: true;
  /** With partial: the part numbers held, ascending. */
  partsReceived?: number[];
}

/**
 * An MO stream entry: the sender and text are sealed (`sealed` opens to
 * {"from","text"} with context "mo"; QasidClient does it), the rest is clear.
 */
export interface MoEvent {
  v: 1;
  carrier: string;
  to: string;
  /** Masked sender, e.g. +92300****567. */
  fromMasked: string;
  /** Keyed hash of the sender: the same subscriber always has the same value. */
  subscriber: string;
  sealed: string;
  textLength: number;
  dataCoding: number;
  keyword?: 'stop' | 'start';
  /** A long MO (reassembled from its parts): how many parts it has. */
  parts?: number;
  /** Set when some parts never came within mo.reassemblySec; `partsReceived` says which did. */
  partial?: true;
  partsReceived?: number[];
  at: string;
}

/**
 * When an intake entry was queued: the time part of its stream id (XADD's clock, ms);
 * undefined for an id that is not a stream id.
 */
export function queuedAt(entryId: string | undefined): number | undefined {
  if (entryId === undefined || !entryId.includes('-')) return undefined;
  const ms = streamIdMs(entryId);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/**
 * The `held` index member of an MO entry: `mo:<entry id>` in the default stream,
 * `mo:<stream>:<entry id>` in a routed one (a stream name has no ':', an entry id no letter).
 */
export function moHeldMember(stream: string | undefined, entryId: string): string {
  return stream === undefined ? `mo:${entryId}` : `mo:${stream}:${entryId}`;
}

/** The stream (undefined: the default) and entry id an `mo:` held member names. */
export function parseMoHeldMember(member: string): { stream: string | undefined; id: string } {
  const rest = member.slice(3);
  const colon = rest.indexOf(':');
  return colon < 0 ? { stream: undefined, id: rest } : { stream: rest.slice(0, colon), id: rest.slice(colon + 1) };
}

/** Called after each write, for metrics. */
export interface OutputHooks {
  /** `entryId`: the intake entry the event's message came from, when known (latency from XADD). */
  onEvent?(e: StatusEvent, entryId?: string): void;
  onDead?(reason: string): void;
}

// KEYS[1] a stream; ARGV[1] its approximate cap, then one `data` value per entry. Adds
// them in order; returns how many.
const LUA_XADD_MANY = `
for i = 2, #ARGV do redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'data', ARGV[i]) end
return #ARGV - 1`;

interface ScriptedRedis extends Redis {
  qasidXaddMany(stream: string, maxLen: number, data: string[]): Promise<number>;
}

export class Outputs {
  private readonly redis: ScriptedRedis;
  /** The events of one tick go out in one call, in the order they were written. */
  private readonly events: TickBatcher<string, void>;

  constructor(
    redis: Redis,
    private readonly keys: Keys,
    private readonly maxLen: number,
    private readonly sealer: FieldSealer,
    private readonly hooks: OutputHooks = {},
    /** The routed MO streams (mo.routes), trimmed with the default one. */
    private readonly moStreams: readonly string[] = [],
  ) {
    redis.defineCommand('qasidXaddMany', { numberOfKeys: 1, lua: LUA_XADD_MANY });
    this.redis = redis as ScriptedRedis;
    this.events = new TickBatcher<string, void>(
      async (key, data: string[]) => {
        await this.redis.qasidXaddMany(key, this.maxLen, data);
        return data.map(() => undefined);
      },
      { order: BATCH_ORDER.event },
    );
  }

  /** Write a status event; `entryId` (the message's intake entry) only feeds the hooks. */
  async event(e: StatusEvent, entryId?: string): Promise<void> {
    await this.events.add(this.keys.events, JSON.stringify(e));
    this.hooks.onEvent?.(e, entryId);
  }

  /**
   * Write an MO message with its sender and text sealed, to the default MO stream or the
   * routed one named `stream` (mo.routes); returns the stream entry id.
   */
  async mo(m: MoMessage, who: { masked: string; subscriber: string }, stream?: string): Promise<string> {
    const e: MoEvent = {
      v: 1,
      carrier: m.carrier,
      to: m.to,
      fromMasked: who.masked,
      subscriber: who.subscriber,
      sealed: this.sealer.seal(JSON.stringify({ from: m.from, text: m.text }), 'mo'),
      textLength: m.text.length,
      dataCoding: m.dataCoding,
      ...(m.keyword ? { keyword: m.keyword } : {}),
      ...(m.parts !== undefined ? { parts: m.parts } : {}),
      ...(m.partial ? { partial: true as const, partsReceived: m.partsReceived ?? [] } : {}),
      at: m.at,
    };
    const key = stream === undefined ? this.keys.mo : this.keys.moStream(stream);
    return (await this.redis.xadd(key, 'MAXLEN', '~', this.maxLen, '*', 'data', JSON.stringify(e))) as string;
  }

  /**
   * Keep an intake entry we could not use, with the reason, for a human to look at. The
   * entry's data is sealed (context "dead"; `qasid dead list` opens it); an entry that
   * arrived sealed is kept as it came. `subscriber` (a keyed hash) lets erasure find it.
   */
  async dead(entryId: string, reason: string, detail: string, entry: { data?: string; sealed?: string }, subscriber?: string): Promise<void> {
    const kept = entry.sealed ?? (entry.data === undefined ? '' : this.sealer.seal(entry.data, 'dead'));
    const fields = ['reason', reason, 'detail', detail, 'entry', entryId, entry.sealed === undefined ? 'data' : 'sealedMt', kept];
    if (subscriber !== undefined) fields.push('subscriber', subscriber);
    await this.redis.xadd(this.keys.dead, 'MAXLEN', '~', this.maxLen, '*', ...fields);
    this.hooks.onDead?.(reason);
  }

  /**
   * Trim a stream to entries newer than `maxAgeMs` (approximate: whole macro-nodes); `mo`
   * trims the default MO stream and every routed one.
   */
  async trimByAge(stream: 'events' | 'mo' | 'dead', maxAgeMs: number, now: number): Promise<number> {
    const minId = `${Math.max(0, Math.floor(now - maxAgeMs))}-0`;
    const keys = stream === 'mo' ? [this.keys.mo, ...this.moStreams.map((s) => this.keys.moStream(s))] : [this.keys[stream]];
    let removed = 0;
    for (const key of keys) removed += await this.redis.xtrim(key, 'MINID', '~', minId);
    return removed;
  }
}
