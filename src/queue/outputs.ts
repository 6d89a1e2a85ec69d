/**
 * The output streams: status events, MO messages, dead letters. One JSON document per
 * entry, in the field `data`. Streams are capped with XADD MAXLEN ~ (approximate, cheap).
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export type EventStatus =
  | 'accepted'
  | 'deferred'
  | 'delivered'
  | 'undeliverable'
  | 'expired'
  | 'rejected'
  | 'failed'
  | 'unknown'
  | 'deleted';

/** One status change of one message. `final: true` on exactly one event per intake entry. */
export interface StatusEvent {
  v: 1;
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
  at: string;
  meta?: unknown;
}

export interface MoEvent {
  v: 1;
  carrier: string;
  from: string;
  to: string;
  text: string;
  dataCoding: number;
  at: string;
}

/** Called after each write, for metrics. */
export interface OutputHooks {
  onEvent?(e: StatusEvent): void;
  onDead?(reason: string): void;
}

export class Outputs {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly maxLen: number,
    private readonly hooks: OutputHooks = {},
  ) {}

  async event(e: StatusEvent): Promise<void> {
    await this.redis.xadd(this.keys.events, 'MAXLEN', '~', this.maxLen, '*', 'data', JSON.stringify(e));
    this.hooks.onEvent?.(e);
  }

  async mo(m: MoEvent): Promise<void> {
    await this.redis.xadd(this.keys.mo, 'MAXLEN', '~', this.maxLen, '*', 'data', JSON.stringify(m));
  }

  /** Keep an intake entry we could not use, with the reason, for a human to look at. */
  async dead(entryId: string, reason: string, detail: string, data: string | undefined): Promise<void> {
    await this.redis.xadd(this.keys.dead, 'MAXLEN', '~', this.maxLen, '*', 'reason', reason, 'detail', detail, 'entry', entryId, 'data', data ?? '');
    this.hooks.onDead?.(reason);
  }
}
