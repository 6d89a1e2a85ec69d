/**
 * Data-subject requests: export everything Qasid holds about one number, or erase it.
 * Both find the data through the subscriber's keyed hashes (every secret version), never
 * by scanning for the number: the `held` index lists their records and MO entries, dead
 * letters carry the hash, and events are found by the erased records' gateway ids.
 *
 * Erasure keeps only the standing objections (opt-outs, blocklist, DNC membership):
 * without them the next campaign would reach the person who objected. Both operations
 * are idempotent; the caller writes the audit entry (target: the hash, never the number).
 */
import type { Redis } from 'ioredis';
import { recordId, type Keys } from '../queue/keys.js';
import { owedEvent } from '../queue/final-event.js';
import { EVENT_VERSION, parseMoHeldMember, type Outputs, type StatusEvent } from '../queue/outputs.js';
import type { MessageStore } from '../queue/store.js';
import type { RecordFields } from '../queue/record.js';
import { fieldOf, fieldsOf, streamPages } from '../queue/streams.js';
import { normaliseMsisdn } from '../routing/index.js';
import { MoPartStore, openHeldMo, parseHeldPartsMember } from '../dlr/mo-assembly.js';
import { joinParts } from '../dlr/mo-parts.js';
import { decodeText } from '../encoding/index.js';
import type { SubscriberStore } from './subscribers.js';
import type { Vault } from './vault.js';

const SCAN_BATCH = 1000;

export interface SubjectChoices {
  blocklisted: boolean;
  doNotContact: boolean;
  optedOut: { senders: string[]; tenants: string[] };
  optedIn: { tenants: string[] };
}

export interface SubjectExport {
  /** The subscriber's keyed hash under the current secret (what logs and audit show). */
  subscriber: string;
  choices: SubjectChoices;
  messages: Array<{
    gatewayId?: string;
    clientId?: string;
    tenant?: string;
    to?: string;
    from?: string;
    text?: string;
    class?: string;
    status?: string;
    carrier?: string;
    parts?: number;
    createdAt?: string;
    error?: string;
  }>;
  /**
   * MO entries from the number; `stream` names the routed stream (mo.routes) an entry is
   * in, absent for the default one. A long MO still waiting for parts is `pending: true`,
   * with the text of the parts held so far.
   */
  mo: Array<{ id: string; stream?: string; at?: string; to?: string; text?: string; keyword?: string; pending?: true; parts?: number; partsReceived?: number[] }>;
  /** Entries to the number still in the intake stream: not read yet, or read and not finished. */
  queued: Array<{ entry: string; clientId?: string; tenant?: string; from?: string; text?: string; class?: string }>;
  deadLetters: Array<{ id: string; reason?: string; at: string }>;
  /**
   * Messages counted against each class's frequency cap right now (its longest window),
   * and against a tenant's own cap of a class as `<class>:tenant:<tenant>`.
   */
  frequency: Record<string, number>;
}

export interface ErasureReport {
  subscriber: string;
  records: number;
  mappings: number;
  events: number;
  /** MO entries removed, and long MOs dropped while still waiting for parts. */
  mo: number;
  deadLetters: number;
  /** Intake entries to the number not yet handled: removed from the stream. */
  queued: number;
  /** Messages not yet finished (queued ones included): they end `failed` with reason `erased` (never sent after). */
  stopped: number;
}

export interface SubjectDeps {
  redis: Redis;
  keys: Keys;
  vault: Vault;
  store: MessageStore;
  subscribers: SubscriberStore;
  outputs: Outputs;
  /** The intake consumer group: queued entries that are erased are acknowledged in it. */
  intakeGroup: string;
  /** Region for reading intake numbers written without a country code. */
  defaultRegion: string;
  now?: () => number;
}

/** An intake entry to the subject's number, as it came (opened when sealed). */
interface QueuedEntry {
  entry: string;
  /** The intake stream (shard) it waits in. */
  stream: string;
  message: { id?: string; tenant?: string; from?: string; text?: string; class?: string };
}

export class SubjectRequests {
  private readonly now: () => number;
  /** Long MOs still being reassembled (dlr/mo-assembly.ts). */
  private readonly moParts: MoPartStore;

  constructor(private readonly d: SubjectDeps) {
    this.now = d.now ?? Date.now;
    this.moParts = new MoPartStore(d.redis, d.keys);
  }

  async export(e164: string): Promise<SubjectExport> {
    const { redis, keys } = this.d;
    const hashes = this.d.subscribers.hashes(e164);
    const out: SubjectExport = {
      subscriber: hashes[0] ?? '',
      choices: choicesOf(await this.d.subscribers.choices(e164), await this.d.subscribers.dncGeneration(this.now())),
      messages: [],
      mo: [],
      queued: [],
      deadLetters: [],
      frequency: {},
    };
    for (const h of hashes) {
      for (const member of await redis.zrange(keys.held(h), 0, -1)) {
        if (member.startsWith('mop:')) {
          const { carrier, id } = parseHeldPartsMember(member);
          const held = await this.moParts.read(carrier, id);
          if (held === undefined) continue;
          const { parts } = openHeldMo(held, this.d.vault);
          const joined = joinParts(parts, held.total, decodeText);
          out.mo.push({ id: member, to: held.to, text: joined.text, pending: true, parts: held.total, partsReceived: joined.received });
          continue;
        }
        if (member.startsWith('mo:')) {
          const { stream, id } = parseMoHeldMember(member);
          const row = (await redis.xrange(stream === undefined ? keys.mo : keys.moStream(stream), id, id))[0];
          if (row === undefined) continue;
          const mo = JSON.parse(fieldOf(row[1], 'data') ?? '{}') as { sealed?: string; at?: string; to?: string; keyword?: string };
          const opened = mo.sealed === undefined ? undefined : this.d.vault.open(mo.sealed, 'mo');
          const text = opened === undefined ? undefined : (JSON.parse(opened) as { text?: string }).text;
          out.mo.push(stripUndefined({ id, ...(stream === undefined ? {} : { stream }), at: mo.at, to: mo.to, text, keyword: mo.keyword }));
          continue;
        }
        const rec = await this.d.store.get(member);
        if (rec === undefined) continue;
        out.messages.push(messageView(rec));
      }
      for (const { key, cls, tenant } of this.d.subscribers.capKeys(h)) {
        const n = await redis.zcard(key);
        const name = tenant === undefined ? cls : `${cls}:tenant:${tenant}`;
        if (n > 0) out.frequency[name] = (out.frequency[name] ?? 0) + n;
      }
    }
    for (const { entry, message: m } of await this.queuedTo(e164)) {
      out.queued.push(stripUndefined({ entry, clientId: m.id, tenant: m.tenant, from: m.from, text: m.text, class: m.class }));
    }
    for (const { id, fields } of await this.deadLettersOf(hashes)) out.deadLetters.push({ id, reason: fields.reason, at: new Date(Number(id.split('-')[0])).toISOString() });
    return out;
  }

  async erase(e164: string): Promise<ErasureReport> {
    const { redis, keys } = this.d;
    const hashes = this.d.subscribers.hashes(e164);
    const report: ErasureReport = { subscriber: hashes[0] ?? '', records: 0, mappings: 0, events: 0, mo: 0, deadLetters: 0, queued: 0, stopped: 0 };
    const erasedRecords = new Set<string>();
    const gatewayIds = new Set<string>();
    const unfinished: Array<Partial<RecordFields>> = [];
    // Finished, but a crash cut it off before its final event was written.
    const owed: Array<Partial<RecordFields>> = [];
    for (const h of hashes) {
      for (const member of await redis.zrange(keys.held(h), 0, -1)) {
        if (member.startsWith('mop:')) {
          // A long MO still waiting for parts: never written now.
          const { carrier, id } = parseHeldPartsMember(member);
          report.mo += await this.moParts.drop(carrier, id);
          continue;
        }
        if (member.startsWith('mo:')) {
          const { stream, id } = parseMoHeldMember(member);
          report.mo += await redis.xdel(stream === undefined ? keys.mo : keys.moStream(stream), id);
          continue;
        }
        const raw = await this.d.store.raw(member);
        if (raw === undefined) continue;
        const ids = JSON.parse(raw.i ?? '{}') as Partial<RecordFields>;
        if (ids.gw !== undefined) gatewayIds.add(ids.gw);
        // Out of the schedules first, so no poll picks it up half-erased.
        const shard = keys.shardOf(member);
        const unDue = (await redis.zrem(keys.zset('due', shard), member)) === 1;
        const unWatched = (await redis.zrem(keys.zset('watch', shard), member)) === 1;
        if (raw.term === undefined) unfinished.push(raw.eid === undefined ? ids : { ...ids, eid: raw.eid });
        // Ended, yet its work was never released: a crash may have cut off its final event.
        else if (unWatched || (unDue && raw.ev !== undefined)) owed.push({ ...ids, ...(raw as Partial<RecordFields>) });
        for (const id of (raw.mids ?? '').split(',').filter(Boolean)) {
          if (raw.car === undefined) break;
          report.mappings += await redis.del(keys.carrierId(raw.car, id), keys.parked(raw.car, id));
        }
        report.records += await redis.del(keys.record(member));
        erasedRecords.add(member);
      }
      await redis.del(keys.held(h), ...this.d.subscribers.capKeys(h).map((c) => c.key));
      // Consent goes with the data; the objections stay.
      const sub = await redis.hkeys(keys.subscriber(h));
      const consent = sub.filter((f) => f.startsWith('i:'));
      if (consent.length > 0) await redis.hdel(keys.subscriber(h), ...consent);
    }
    report.events = await this.deleteEvents(gatewayIds);
    for (const { id } of await this.deadLettersOf(hashes)) report.deadLetters += await redis.xdel(keys.dead, id);
    // One that had ended, but whose final event a crash cut off, gets it now.
    for (const rec of owed) {
      const e = owedEvent(rec, this.now());
      if (e !== undefined) await this.d.outputs.event(e, rec.eid);
    }
    // Entries not handled yet leave the intake stream (acknowledged, then deleted) and end
    // like any unfinished message; one whose record was just erased already counts there.
    for (const { entry, stream, message: m } of await this.queuedTo(e164)) {
      await redis.xack(stream, this.d.intakeGroup, entry).catch((e: unknown) => {
        // No group yet (no daemon ever read this stream): nothing is pending to acknowledge.
        if (!String(e).includes('NOGROUP')) throw e;
      });
      report.queued += await redis.xdel(stream, entry);
      if (m.id !== undefined && erasedRecords.has(recordId(m.tenant, m.id))) continue;
      unfinished.push({ cid: m.id, ten: m.tenant, eid: entry });
    }
    // A message erased before it finished still gets its one final event (no number in it).
    for (const ids of unfinished) {
      const e: StatusEvent = { v: EVENT_VERSION, status: 'failed', final: true, reason: 'erased', at: new Date(this.now()).toISOString() };
      if (ids.cid !== undefined) e.clientId = ids.cid;
      if (ids.gw !== undefined) e.gatewayId = ids.gw;
      if (ids.ten !== undefined) e.tenant = ids.ten;
      await this.d.outputs.event(e, ids.eid);
      report.stopped++;
    }
    return report;
  }

  /** Events whose gatewayId is one of `ids`: deleted. The stream is walked once, in batches. */
  private async deleteEvents(ids: ReadonlySet<string>): Promise<number> {
    if (ids.size === 0) return 0;
    const { redis, keys } = this.d;
    let removed = 0;
    for await (const rows of streamPages(redis, keys.events, SCAN_BATCH)) {
      const hit: string[] = [];
      for (const [id, f] of rows) {
        const data = fieldOf(f, 'data');
        if (data === undefined) continue;
        const gw = (JSON.parse(data) as { gatewayId?: string }).gatewayId;
        if (gw !== undefined && ids.has(gw)) hit.push(id);
      }
      if (hit.length > 0) removed += await redis.xdel(keys.events, ...hit);
    }
    return removed;
  }

  /**
   * Intake entries addressed to the number: the one place the number is matched rather
   * than hashed, as an entry carries no hash until it is handled. Sealed entries are opened.
   */
  private async queuedTo(e164: string): Promise<QueuedEntry[]> {
    const { redis, keys } = this.d;
    const out: QueuedEntry[] = [];
    for (const stream of keys.intakeStreams) {
      for await (const rows of streamPages(redis, stream, SCAN_BATCH)) {
        for (const [id, f] of rows) {
          const sealed = fieldOf(f, 'sealed');
          const data = sealed === undefined ? fieldOf(f, 'data') : this.d.vault.open(sealed, 'mt');
          if (data === undefined) continue;
          let m: QueuedEntry['message'] & { to?: unknown };
          try {
            m = JSON.parse(data) as QueuedEntry['message'] & { to?: unknown };
          } catch {
            continue;
          }
          if (typeof m !== 'object' || m === null || typeof m.to !== 'string') continue;
          const num = normaliseMsisdn(m.to, this.d.defaultRegion);
          if (num.ok && num.e164 === e164) out.push({ entry: id, stream, message: { id: str(m.id), tenant: str(m.tenant), from: str(m.from), text: str(m.text), class: str(m.class) } });
        }
      }
    }
    return out;
  }

  private async deadLettersOf(hashes: readonly string[]): Promise<Array<{ id: string; fields: Record<string, string> }>> {
    const { redis, keys } = this.d;
    const want = new Set(hashes);
    const out: Array<{ id: string; fields: Record<string, string> }> = [];
    for await (const rows of streamPages(redis, keys.dead, SCAN_BATCH)) {
      for (const [id, f] of rows) {
        const sub = fieldOf(f, 'subscriber');
        if (sub !== undefined && want.has(sub)) out.push({ id, fields: fieldsOf(f) });
      }
    }
    return out;
  }
}

export function choicesOf(fields: Record<string, string>, dncGeneration: string): SubjectChoices {
  const c: SubjectChoices = { blocklisted: fields.blk !== undefined, doNotContact: dncGeneration !== '' && fields.dnc === dncGeneration, optedOut: { senders: [], tenants: [] }, optedIn: { tenants: [] } };
  for (const k of Object.keys(fields).sort()) {
    if (k.startsWith('o:s:')) c.optedOut.senders.push(k.slice(4));
    else if (k.startsWith('o:t:')) c.optedOut.tenants.push(k.slice(4));
    else if (k.startsWith('i:t:')) c.optedIn.tenants.push(k.slice(4));
  }
  return c;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function stripUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

function messageView(r: Partial<RecordFields>): SubjectExport['messages'][number] {
  const v: SubjectExport['messages'][number] = {
    gatewayId: r.gw,
    clientId: r.cid,
    tenant: r.ten,
    to: r.to,
    from: r.from,
    text: r.sealErr === undefined ? r.txt : '[cannot be opened: key retired]',
    class: r.cls,
    status: r.term ?? r.st,
    carrier: r.car,
    parts: r.parts === undefined ? undefined : Number(r.parts),
    createdAt: r.at === undefined ? undefined : new Date(Number(r.at)).toISOString(),
    error: r.err,
  };
  return stripUndefined(v);
}

