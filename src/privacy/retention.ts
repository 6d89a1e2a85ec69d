/**
 * The retention sweeper: trims the output streams and the admin access log by age, per data class. Keys that
 * carry their own TTL (records, mappings, parked receipts, caps, the held index) need no
 * sweep; the streams cannot expire entry by entry, so they are trimmed here (XTRIM
 * MINID; for the output streams approximate to whole macro-nodes, so an entry may outlive
 * its age by a little; the audit stream and the access log exactly).
 */
import type { Lifecycle } from '../core/lifecycle.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';

export interface RetentionTargets {
  /** Trim one stream to entries newer than maxAgeMs; returns how many were removed. */
  trim(stream: 'events' | 'mo' | 'dead' | 'access', maxAgeMs: number, now: number): Promise<number>;
  /** Trim the audit stream, keeping its chain verifiable from the oldest entry kept. */
  trimAudit(maxAgeMs: number, now: number): Promise<number>;
}

export interface RetentionPolicy {
  eventsSec: number;
  moSec: number;
  deadSec: number;
  /** 0 keeps the audit trail for ever. */
  auditSec: number;
  /** The admin access log. */
  accessSec: number;
  sweepSec: number;
}

export class RetentionSweeper implements Lifecycle {
  readonly name = 'retention';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly targets: RetentionTargets,
    private readonly policy: RetentionPolicy,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    /** With several instances: the lease that lets one of them at a time sweep. */
    private readonly lease?: { hold(): Promise<boolean>; giveBack(): Promise<void> },
  ) {}

  async start(): Promise<void> {
    await this.pass();
    this.timer = setInterval(() => {
      this.running ??= this.pass().finally(() => (this.running = undefined));
    }, this.policy.sweepSec * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.lease?.giveBack().catch(() => undefined);
  }

  /** A timed pass: only on the instance holding the sweep's lease. */
  private async pass(): Promise<void> {
    try {
      if (this.lease && !(await this.lease.hold())) return;
    } catch (e) {
      this.logger.warn({ event: 'retention.failed', err: errorMessage(e) }, 'sweep lease unavailable; next pass retries');
      return;
    }
    await this.sweep();
  }

  /** One pass over every stream, judging age at `now`; failures are logged and retried on the next pass. */
  async sweep(now = this.now()): Promise<Record<string, number>> {
    const removed: Record<string, number> = {};
    const jobs: Array<[string, () => Promise<number>]> = [
      ['events', () => this.targets.trim('events', this.policy.eventsSec * 1000, now)],
      ['mo', () => this.targets.trim('mo', this.policy.moSec * 1000, now)],
      ['dead', () => this.targets.trim('dead', this.policy.deadSec * 1000, now)],
      ['access', () => this.targets.trim('access', this.policy.accessSec * 1000, now)],
    ];
    if (this.policy.auditSec > 0) jobs.push(['audit', () => this.targets.trimAudit(this.policy.auditSec * 1000, now)]);
    for (const [stream, job] of jobs) {
      try {
        removed[stream] = await job();
        if ((removed[stream] ?? 0) > 0) this.logger.info({ event: 'retention.trimmed', stream, removed: removed[stream] }, 'old entries removed');
      } catch (e) {
        this.logger.warn({ event: 'retention.failed', stream, err: errorMessage(e) }, 'retention trim failed; next pass retries');
      }
    }
    return removed;
  }
}
