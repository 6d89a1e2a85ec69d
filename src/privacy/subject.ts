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
import type { Keys } from '../queue/keys.js';
import { owedEvent } from '../queue/final-event.js';
import type { Outputs, StatusEvent } from '../queue/outputs.js';
import type { MessageStore, RecordFields } from '../queue/store.js';
import { fieldOf, fieldsOf, streamPages } from '../queue/streams.js';
import type { SubscriberStore } from './subscribers.js';
import type { Vault } from './vault.js';

const CLASSES = ['marketing', 'otp', 'transactional'] as const;
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
  mo: Array<{ id: string; at?: string; to?: string; text?: string; keyword?: string }>;
  deadLetters: Array<{ id: string; reason?: string; at: string }>;
  /** Messages counted against each class's frequency cap right now. */
  frequency: Record<string, number>;
}

export interface ErasureReport {
  subscriber: string;
  records: number;
  mappings: number;
  events: number;
  mo: number;
  deadLetters: number;
  /** Messages not yet finished: they end `failed` with reason `erased` (never sent after). */
  stopped: number;
}

export interface SubjectDeps {
  redis: Redis;
  keys: Keys;
  vault: Vault;
  store: MessageStore;
  subscribers: SubscriberStore;
  outputs: Outputs;
  now?: () => number;
}

export class SubjectRequests {
  private readonly now: () => number;

  constructor(private readonly d: SubjectDeps) {
    this.now = d.now ?? Date.now;
  }

  async export(e164: string): Promise<SubjectExport> {
    const { redis, keys } = this.d;
    const hashes = this.d.subscribers.hashes(e164);
    const out: SubjectExport = {
      subscriber: hashes[0] ?? '',
      choices: choicesOf(await this.d.subscribers.choices(e164), await this.d.subscribers.dncGeneration(this.now())),
      messages: [],
      mo: [],
      deadLetters: [],
      frequency: {},
    };
    for (const h of hashes) {
      for (const member of await redis.zrange(keys.held(h), 0, -1)) {
        if (member.startsWith('mo:')) {
          const id = member.slice(3);
          const row = (await redis.xrange(keys.mo, id, id))[0];
          if (row === undefined) continue;
          const mo = JSON.parse(fieldOf(row[1], 'data') ?? '{}') as { sealed?: string; at?: string; to?: string; keyword?: string };
          const opened = mo.sealed === undefined ? undefined : this.d.vault.open(mo.sealed, 'mo');
          const text = opened === undefined ? undefined : (JSON.parse(opened) as { text?: string }).text;
          out.mo.push({ id, at: mo.at, to: mo.to, text, keyword: mo.keyword });
          continue;
        }
        const rec = await this.d.store.get(member);
        if (rec === undefined) continue;
        out.messages.push(messageView(rec));
      }
      for (const cls of CLASSES) {
        const n = await redis.zcard(keys.cap(h, cls));
        if (n > 0) out.frequency[cls] = (out.frequency[cls] ?? 0) + n;
      }
    }
    for (const { id, fields } of await this.deadLettersOf(hashes)) out.deadLetters.push({ id, reason: fields.reason, at: new Date(Number(id.split('-')[0])).toISOString() });
    return out;
  }

  async erase(e164: string): Promise<ErasureReport> {
    const { redis, keys } = this.d;
    const hashes = this.d.subscribers.hashes(e164);
    const report: ErasureReport = { subscriber: hashes[0] ?? '', records: 0, mappings: 0, events: 0, mo: 0, deadLetters: 0, stopped: 0 };
    const gatewayIds = new Set<string>();
    const unfinished: Array<Partial<RecordFields>> = [];
    // Finished, but a crash cut it off before its final event was written.
    const owed: Array<Partial<RecordFields>> = [];
    for (const h of hashes) {
      for (const member of await redis.zrange(keys.held(h), 0, -1)) {
        if (member.startsWith('mo:')) {
          report.mo += await redis.xdel(keys.mo, member.slice(3));
          continue;
        }
        const raw = await this.d.store.raw(member);
        if (raw === undefined) continue;
        const ids = JSON.parse(raw.i ?? '{}') as Partial<RecordFields>;
        if (ids.gw !== undefined) gatewayIds.add(ids.gw);
        // Out of the schedules first, so no poll picks it up half-erased.
        const unDue = (await redis.zrem(keys.due, member)) === 1;
        const unWatched = (await redis.zrem(keys.watch, member)) === 1;
        if (raw.term === undefined) unfinished.push(ids);
        // Ended, yet its work was never released: a crash may have cut off its final event.
        else if (unWatched || (unDue && raw.ev !== undefined)) owed.push({ ...ids, ...(raw as Partial<RecordFields>) });
        for (const id of (raw.mids ?? '').split(',').filter(Boolean)) {
          if (raw.car === undefined) break;
          report.mappings += await redis.del(keys.carrierId(raw.car, id), keys.parked(raw.car, id));
        }
        report.records += await redis.del(keys.record(member));
      }
      await redis.del(keys.held(h), ...CLASSES.map((c) => keys.cap(h, c)));
      // Consent goes with the data; the objections stay.
      const sub = await redis.hkeys(keys.subscriber(h));
      const consent = sub.filter((f) => f.startsWith('i:'));
      if (consent.length > 0) await redis.hdel(keys.subscriber(h), ...consent);
    }
    report.events = await this.deleteEvents(gatewayIds);
    for (const { id } of await this.deadLettersOf(hashes)) report.deadLetters += await redis.xdel(keys.dead, id);
    // A message erased before it finished still gets its one final event (no number in it).
    for (const rec of owed) {
      const e = owedEvent(rec, this.now());
      if (e !== undefined) await this.d.outputs.event(e);
    }
    for (const ids of unfinished) {
      const e: StatusEvent = { v: 1, status: 'failed', final: true, reason: 'erased', at: new Date(this.now()).toISOString() };
      if (ids.cid !== undefined) e.clientId = ids.cid;
      if (ids.gw !== undefined) e.gatewayId = ids.gw;
      if (ids.ten !== undefined) e.tenant = ids.ten;
      await this.d.outputs.event(e);
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
  for (const k of Object.keys(v) as Array<keyof typeof v>) if (v[k] === undefined) delete v[k];
  return v;
}

