/**
 * A small typed client for upstream applications: push messages onto Qasid's intake
 * stream and follow the status events. Every message is validated locally against the
 * same JSON Schema the gateway uses (schema/mt-message.v1.json) before it is written, so
 * a bad message fails in the caller, naming the field, instead of in the dead-letter
 * stream.
 *
 *   const qasid = new QasidClient(new Redis(url), { prefix: 'qasid', keyring: Keyring.fromFile(process.env.QASID_KEYRING_FILE) });
 *   const events = qasid.events(); // before send(): none of its events is missed
 *   const entryId = await qasid.send({ id: 'order-42', to: '03001234567', from: 'MyBank', text: 'Shipped' });
 *   for await (const { event } of events) if (event.clientId === 'order-42' && event.final) break;
 *
 * With `keyring` (the gateway's privacy.keyring), entries are written sealed, so no
 * number or text sits in clear in the intake stream, and MO entries can be opened.
 * Published as the package @qasid/client (packages/client: this file and what it
 * imports, compiled); it must not import the daemon's own dependencies (fastify, pino,
 * smpp, …), which that package does not declare.
 */
import type { Redis } from 'ioredis';
import { decodeMessage, type MessageClass, type MtMessage } from '../queue/message.js';
import { keysFor, recordId, type Keys } from '../queue/keys.js';
import type { EventStatus, MoEvent, StatusEvent } from '../queue/outputs.js';
export { streamIdMs } from '../queue/streams.js';
import { decrypt, encrypt } from '../privacy/cipher.js';
import { Keyring } from '../privacy/keyring.js';

export { Keyring };

export type { EventStatus, MessageClass, MoEvent, MtMessage, StatusEvent };

/** What a caller sends: `v` is added; class, priority and receipt take the schema's defaults. */
export type OutgoingMessage = Omit<MtMessage, 'v' | 'class' | 'priority' | 'receipt'> & Partial<Pick<MtMessage, 'class' | 'priority' | 'receipt'>>;

/** One entry of the events stream: its stream id and the decoded event. */
export interface EventEntry {
  id: string;
  event: StatusEvent;
}

export interface QasidClientOptions {
  /** Key prefix, as the gateway's `redis.prefix`. Default 'qasid'. */
  prefix?: string;
  /** Largest entry the gateway accepts (its `intake.maxEntryBytes`). Default 16384. */
  maxEntryBytes?: number;
  /**
   * The gateway's cipher keyring (Keyring.fromFile(process.env.QASID_KEYRING_FILE)): entries
   * are then written sealed (field `sealed`, AES-256-GCM) instead of as clear JSON, and
   * openMo() can read MO senders and texts.
   */
  keyring?: Keyring;
  /**
   * The gateway's `intake.shards`. Default: read once from Redis (`<prefix>:shards`, which
   * the gateway writes at start; 1 when absent), so the client and the gateway agree.
   */
  shards?: number;
}

/** An MO entry opened with the keyring: the sealed sender and text added back. */
export interface OpenedMo extends MoEvent {
  from: string;
  text: string;
}

export interface EventsOptions {
  /**
   * Stream id to read after (exclusive). Default '$': only events written after the
   * events() call itself — so `const it = client.events(); await client.send(m)` never
   * misses the events of `m`. '0' reads the stream from its beginning.
   */
  from?: string;
  /** How long one XREAD blocks before it is issued again. Default 5000 ms. */
  blockMs?: number;
  /** Entries per XREAD. Default 500. */
  count?: number;
  /** Abort ends the iteration (the blocking read is interrupted at once). */
  signal?: AbortSignal;
}

/** A message that does not match the intake schema. `field` is the offending field, or '(root)'. */
export class InvalidMessageError extends Error {
  override readonly name = 'InvalidMessageError';
  constructor(
    readonly field: string,
    /** The rule broken, without the value (which may be a number or text). */
    readonly rule: string,
    /** Position in a sendMany batch. */
    readonly index?: number,
  ) {
    super(`invalid message${index === undefined ? '' : ` #${index}`}: ${rule.startsWith('missing') || rule.startsWith('unknown') ? rule : `field "${field}" ${rule}`}`);
  }
}

const DEFAULT_MAX_ENTRY_BYTES = 16_384;

export class QasidClient {
  /** The gateway's keys (shard 0's intake stream; intakeKeys() knows every shard). */
  readonly keys: Keys;
  private readonly maxEntryBytes: number;
  private readonly keyring: Keyring | undefined;
  private sharded: Promise<Keys> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly opts: QasidClientOptions = {},
  ) {
    this.keys = keysFor(opts.prefix ?? 'qasid', opts.shards ?? 1);
    this.maxEntryBytes = opts.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
    this.keyring = opts.keyring;
    if (opts.shards !== undefined) this.sharded = Promise.resolve(this.keys);
  }

  /** The keys with the gateway's shard count (read from Redis once, unless given). */
  intakeKeys(): Promise<Keys> {
    this.sharded ??= (async () => {
      const stored = Number(await this.redis.get(this.keys.shardCount));
      return Number.isInteger(stored) && stored > 1 ? keysFor(this.opts.prefix ?? 'qasid', stored) : this.keys;
    })().catch((e: unknown) => {
      this.sharded = undefined;
      throw e;
    });
    return this.sharded;
  }

  /**
   * The intake stream a message goes to: the shard of its record id (tenant and client
   * id), so the gateway reads its batch and writes its record in one slot.
   */
  async streamFor(msg: Pick<OutgoingMessage, 'id' | 'tenant'>): Promise<string> {
    const keys = await this.intakeKeys();
    return keys.intakeStreams[keys.shardOf(recordId(msg.tenant, msg.id))] as string;
  }

  /** The stream field and value for one encoded message: sealed when a keyring is set. */
  private field(data: string): [string, string] {
    return this.keyring === undefined ? ['data', data] : ['sealed', encrypt(this.keyring, data, 'mt')];
  }

  /** Open an MO entry's sealed sender and text (needs the keyring); undefined when it cannot be opened. */
  openMo(mo: MoEvent): OpenedMo | undefined {
    if (this.keyring === undefined) throw new Error('openMo needs the gateway keyring (QasidClientOptions.keyring)');
    const r = decrypt(this.keyring, mo.sealed, 'mo');
    if (!r.ok) return undefined;
    const { from, text } = JSON.parse(r.text) as { from: string; text: string };
    return { ...mo, from, text };
  }

  /**
   * Up to `count` MO entries after `from` ('-' = the start), opened when a keyring is set:
   * of the default MO stream, or of the routed stream `stream` names (mo.routes:
   * `<prefix>:mo:<stream>`).
   */
  async readMo(from = '-', count = 1000, stream?: string): Promise<Array<{ id: string; mo: MoEvent | OpenedMo }>> {
    const rows = await this.redis.xrange(stream === undefined ? this.keys.mo : this.keys.moStream(stream), from, '+', 'COUNT', count);
    return rows.map(([id, f]) => {
      const mo = JSON.parse(f[1] as string) as MoEvent;
      return { id, mo: this.keyring === undefined ? mo : (this.openMo(mo) ?? mo) };
    });
  }

  /**
   * Validate one message and XADD it to the intake stream. Resolves with the stream
   * entry id; throws InvalidMessageError (nothing written) when the message is invalid.
   */
  async send(msg: OutgoingMessage): Promise<string> {
    const data = this.encode(msg);
    const stream = await this.streamFor(msg);
    const id = await this.redis.xadd(stream, '*', ...this.field(data));
    if (id === null) throw new Error(`XADD to ${stream} returned no id`);
    return id;
  }

  /**
   * Validate every message, then XADD them all in one pipeline. Nothing is written when
   * any message is invalid (the error names its index). Resolves with the entry ids, in order.
   */
  async sendMany(msgs: readonly OutgoingMessage[]): Promise<string[]> {
    const datas = msgs.map((m, i) => this.encode(m, i));
    if (datas.length === 0) return [];
    // One pipeline per shard (on a Redis Cluster a pipeline stays within one slot).
    const byStream = new Map<string, number[]>();
    for (let i = 0; i < msgs.length; i++) {
      const stream = await this.streamFor(msgs[i] as OutgoingMessage);
      let at = byStream.get(stream);
      if (at === undefined) byStream.set(stream, (at = []));
      at.push(i);
    }
    const ids: string[] = new Array<string>(datas.length);
    await Promise.all(
      [...byStream].map(async ([stream, at]) => {
        const pipe = this.redis.pipeline();
        for (const i of at) pipe.xadd(stream, '*', ...this.field(datas[i] as string));
        const results = (await pipe.exec()) ?? [];
        results.forEach(([err, id], j) => {
          const i = at[j] as number;
          if (err) throw new Error(`XADD of message #${i} failed: ${err.message}`);
          if (typeof id !== 'string') throw new Error(`XADD of message #${i} returned no id`);
          ids[i] = id;
        });
      }),
    );
    return ids;
  }

  /**
   * Follow the events stream. Uses its own Redis connection (a blocking XREAD would hold
   * up every other command on the shared one), closed when the iteration ends.
   */
  events(opts: EventsOptions = {}): AsyncIterable<EventEntry> {
    const key = this.keys.events;
    const from = opts.from ?? '$';
    // Resolve '$' now, not at the first next(): events of anything sent after this call
    // are then never missed, even if the caller starts iterating later.
    const start: Promise<string> =
      from === '$' ? this.redis.xrevrange(key, '+', '-', 'COUNT', 1).then((r) => r[0]?.[0] ?? '0-0') : Promise.resolve(from);
    // Keep an early rejection from being unhandled; it is rethrown at the first next().
    start.catch(() => undefined);
    const redis = this.redis;
    const blockMs = opts.blockMs ?? 5000;
    const count = opts.count ?? 500;
    const signal = opts.signal;
    return {
      async *[Symbol.asyncIterator](): AsyncGenerator<EventEntry> {
        let last = await start;
        if (signal?.aborted) return;
        const sub = redis.duplicate();
        sub.on('error', () => undefined); // surfaced through the failing command
        const onAbort = (): void => sub.disconnect();
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          while (!signal?.aborted) {
            let res: Array<[string, Array<[string, string[]]>]> | null;
            try {
              res = (await sub.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', key, last)) as typeof res;
            } catch (e) {
              if (signal?.aborted) return;
              throw e;
            }
            for (const [, entries] of res ?? []) {
              for (const [id, fields] of entries) {
                last = id;
                const event = parseEvent(fields);
                if (event) yield { id, event };
                if (signal?.aborted) return;
              }
            }
          }
        } finally {
          signal?.removeEventListener('abort', onAbort);
          sub.disconnect();
        }
      },
    };
  }

  /** Read events with XRANGE from `from` (inclusive; '-' = the beginning), at most `count`. */
  async readEvents(from = '-', count = 1000): Promise<EventEntry[]> {
    const entries = await this.redis.xrange(this.keys.events, from, '+', 'COUNT', count);
    const out: EventEntry[] = [];
    for (const [id, fields] of entries) {
      const event = parseEvent(fields);
      if (event) out.push({ id, event });
    }
    return out;
  }

  /** The JSON the gateway will read, after the same validation it will apply. */
  private encode(msg: OutgoingMessage, index?: number): string {
    const data = JSON.stringify({ ...msg, v: 1 });
    // The caller's own message, in its own process: the error may name its fields.
    const r = decodeMessage(data, this.maxEntryBytes, undefined, { nameFields: true });
    if (!r.ok) {
      const { field, rule } = r.reason === 'oversized' ? { field: '(root)', rule: r.detail } : explain(r.detail);
      throw new InvalidMessageError(field, rule, index);
    }
    return data;
  }
}

/** The `data` field of an events entry, decoded; undefined when it is not an event. */
function parseEvent(fields: string[]): StatusEvent | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== 'data') continue;
    try {
      const e = JSON.parse(fields[i + 1] as string) as StatusEvent;
      return typeof e === 'object' && e !== null && typeof e.status === 'string' ? e : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * decodeMessage's detail → the field and the rule: '/to: must NOT have fewer than 3
 * characters' → to; '(root): missing field "text"' → text; '/meta/a: …' → meta.a.
 */
function explain(detail: string): { field: string; rule: string } {
  const colon = detail.indexOf(': ');
  const path = colon < 0 ? '(root)' : detail.slice(0, colon);
  const rule = colon < 0 ? detail : detail.slice(colon + 2);
  const dotted = path === '(root)' ? '' : path.slice(1).replace(/\//g, '.');
  const named = /^(missing|unknown) field "([^"]+)"$/.exec(rule);
  if (named?.[2] !== undefined) {
    const field = dotted === '' ? named[2] : `${dotted}.${named[2]}`;
    return { field, rule: `${named[1] === 'missing' ? 'missing required' : 'unknown'} field "${field}"` };
  }
  return { field: dotted === '' ? '(root)' : dotted, rule };
}
