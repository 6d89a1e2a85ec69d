/**
 * The intake stream, read with a consumer group. Blocking reads use their own
 * connection (disconnecting it interrupts a read at stop, as BullMQ does); acks go out on
 * the shared connection, XACK and XDEL together, batched per tick.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export interface IntakeEntry {
  id: string;
  /** The `data` field, when the entry has one. */
  data: string | undefined;
  /** The `sealed` field: the same JSON sealed by a Qasid client (context "mt"). */
  sealed?: string;
}

export interface IntakeOptions {
  group: string;
  consumer: string;
  blockMs: number;
}

type RawEntry = [id: string, fields: string[] | null];

export class IntakeReader {
  private pendingAcks: string[] = [];
  private flushScheduled = false;

  constructor(
    private readonly blocking: Redis,
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly opts: IntakeOptions,
    /** An ack that failed: the entries stay pending and are resumed or claimed later. */
    private readonly onAckError: (e: unknown, count: number) => void = () => undefined,
  ) {}

  /** Create the consumer group (reading from the start of the stream) if it is missing. */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.keys.intake, this.opts.group, '0', 'MKSTREAM');
    } catch (e) {
      if (!String((e as Error).message).includes('BUSYGROUP')) throw e;
    }
  }

  /** New entries for this consumer; waits up to blockMs. Empty on timeout. */
  async read(count: number): Promise<IntakeEntry[]> {
    const res = (await this.blocking.xreadgroup(
      'GROUP',
      this.opts.group,
      this.opts.consumer,
      'COUNT',
      count,
      'BLOCK',
      this.opts.blockMs,
      'STREAMS',
      this.keys.intake,
      '>',
    )) as Array<[string, RawEntry[]]> | null;
    if (!res || res.length === 0) return [];
    return toEntries((res[0] as [string, RawEntry[]])[1]);
  }

  /** Entries this consumer itself still holds (after a restart under the same name). */
  async ownPending(count: number): Promise<IntakeEntry[]> {
    const res = (await this.redis.xreadgroup('GROUP', this.opts.group, this.opts.consumer, 'COUNT', count, 'STREAMS', this.keys.intake, '0')) as Array<[string, RawEntry[]]> | null;
    if (!res || res.length === 0) return [];
    return toEntries((res[0] as [string, RawEntry[]])[1]);
  }

  /** Take over entries another consumer has held for longer than minIdleMs (it died). */
  async claimIdle(minIdleMs: number, count: number): Promise<IntakeEntry[]> {
    const res = (await this.redis.xautoclaim(this.keys.intake, this.opts.group, this.opts.consumer, minIdleMs, '0', 'COUNT', count)) as [string, RawEntry[], string[]?];
    return toEntries(res[1]);
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
    await Promise.all([this.redis.xack(this.keys.intake, this.opts.group, ...ids), this.redis.xdel(this.keys.intake, ...ids)]);
  }

  /** Entries read by the group and not yet acknowledged, across all consumers. */
  async pendingCount(): Promise<number> {
    const r = (await this.redis.xpending(this.keys.intake, this.opts.group)) as [number, ...unknown[]];
    return Number(r[0]);
  }
}

function toEntries(raw: RawEntry[]): IntakeEntry[] {
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
    out.push(sealed === undefined ? { id, data } : { id, data, sealed });
  }
  return out;
}
