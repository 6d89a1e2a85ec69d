/**
 * The breach report: for a window of time, which subscribers' data Qasid held, per tenant
 * and per data class, and under which keys — named by pseudonym (the keyed hash logs and
 * audit entries use), never by number or text.
 *
 * Where each data class lives, and how its time is read without opening anything:
 * - message records (`<prefix>:msg:{…}:<id>`): the intake entry id `eid` (its time is when
 *   the message was queued) and the ids `i` (tenant) are kept in clear; number and class are
 *   in the sealed `d`, whose header names its key (`v1.<key id>.…`). A record still held that
 *   was queued by the window's end was held during it (it has existed ever since).
 * - MO entries (`<prefix>:mo`): the stream id is when it arrived; the entry carries the
 *   sender's keyed hash in clear, so only an entry hashed under an older secret is opened
 *   (to hash its sender again). No tenant: an MO goes to a short code, so it counts for each
 *   tenant whose `senders` list holds that code (none: no tenant).
 * - dead letters (`<prefix>:dead`): the stream id, or `was` (the id it had before a key
 *   rotation copied it); tenant, class and number are inside the sealed entry.
 * Only what is in the window (and passes the filters) is opened, in memory, to read a
 * number and hash it; the number and the text are never kept or returned. A record whose
 * data cannot be opened (its key left the keyring) is named through the subscriber's
 * `held` index when it lists it, else counted as unnamed.
 *
 * What the report cannot see: data removed before it runs — by retention (its TTLs and
 * trims bound what a window can have held) or by erasure. Erased subscribers are not
 * named (erasure removed everything that would name them, the audit entry keeps only a
 * hash); the audit trail says how many erasures there were, in the window and since.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../queue/keys.js';
import type { MessageStore } from '../queue/store.js';
import { fieldOf, fieldsOf, streamIdMs, streamPages, type StreamRow } from '../queue/streams.js';
import { normaliseMsisdn } from '../routing/index.js';
import { envelopeKeyId, isEnvelope } from './cipher.js';
import { recordPattern } from './rotate.js';
import { senderKey } from './subscribers.js';
import type { Vault } from './vault.js';

export const DATA_CLASSES = ['records', 'mo', 'dead'] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

const MESSAGE_CLASSES = new Set(['marketing', 'otp', 'transactional']);
/** The key id of a value stored without encryption (written before encryption was on). */
export const PLAIN = 'plain';
/** Tenants as the intake schema allows them; anything else in a dead letter is not shown. */
const TENANT = /^[A-Za-z0-9._-]{1,64}$/;
const PAGE = 500;
/** Unreadable records looked up in the `held` indexes at most (beyond: counted unnamed). */
const MAX_LOOKUPS = 10_000;

export interface BreachQuery {
  /** Window start and end, ms since epoch (inclusive). */
  from: number;
  to: number;
  tenant?: string;
  keyId?: string;
}

export interface BreachGroup {
  /** null: none (an MO to a short code no tenant lists, a dead letter without one). */
  tenant: string | null;
  data: DataClass;
  /** marketing, otp or transactional when the record (or the dead letter's entry) says; else null. */
  messageClass: string | null;
  items: number;
  /** Distinct pseudonyms among the items. */
  subscribers: number;
  /** Items under each key id (`plain`: stored without encryption). */
  keyIds: Record<string, number>;
  /** Items whose subscriber could not be named (the value does not open, or holds no number). */
  unnamed: number;
  pseudonyms: string[];
}

export interface BreachSubscriber {
  pseudonym: string;
  tenants: Array<string | null>;
  data: DataClass[];
  keyIds: string[];
}

export interface BreachReport {
  v: 1;
  window: { from: string; to: string };
  generatedAt: string;
  filters: { tenant?: string; keyId?: string };
  /** The hash secret the pseudonyms are under (`<secret id>:…`); one from an index entry may name an older one. */
  pseudonymSecret: string;
  totals: {
    items: number;
    subscribers: number;
    unnamed: number;
    tenants: string[];
    byData: Record<DataClass, { items: number; subscribers: number }>;
    keyIds: Record<string, { items: number; subscribers: number }>;
  };
  groups: BreachGroup[];
  subscribers: BreachSubscriber[];
  /** From the audit trail: subscriber erasures in the window, and after it until the report ran. */
  erasures: { inWindow: number; since: number };
  /** From the audit trail: key rotations since the window opened (values they moved were under the older key before). */
  rotations: Array<{ at: string; actor: string; current?: string; moved?: number }>;
}

export interface BreachDeps {
  redis: Redis;
  keys: Keys;
  vault: Vault;
  store: MessageStore;
  defaultRegion: string;
  /** The tenants whose `senders` list holds this short code or sender id (MO attribution). */
  tenantsOf(shortCode: string): string[];
  /** The routed MO streams (mo.routes), read with the default one. */
  moStreams?: readonly string[];
  now?: () => number;
}

/** One item found: a record, an MO entry or a dead letter. */
interface Item {
  tenants: Array<string | null>;
  data: DataClass;
  messageClass: string | null;
  keyId: string;
  pseudonym?: string;
}

/** What the audit entry of a report says: the window, the filters and the counts; no pseudonym. */
export function breachAuditDetail(r: BreachReport): Record<string, unknown> {
  return { from: r.window.from, to: r.window.to, ...r.filters, subscribers: r.totals.subscribers, items: r.totals.items, tenants: r.totals.tenants.length };
}

/** The tenants whose `senders` list holds a short code or sender id (compared as senders are: no leading '+', any case). */
export function senderTenants(tenants: ReadonlyArray<{ tenant: string; senders?: readonly string[] }>): (code: string) => string[] {
  const by = new Map<string, string[]>();
  for (const t of tenants) for (const s of t.senders ?? []) by.set(senderKey(s), [...(by.get(senderKey(s)) ?? []), t.tenant]);
  return (code) => [...new Set(by.get(senderKey(code)) ?? [])].sort(byText);
}

export class BreachScanner {
  constructor(private readonly d: BreachDeps) {}

  async report(q: BreachQuery): Promise<BreachReport> {
    const now = (this.d.now ?? Date.now)();
    if (!(q.from <= q.to)) throw new RangeError('the window ends before it starts');
    if (q.from > now) throw new RangeError('the window starts in the future');
    const items: Item[] = [];
    const keep = (it: Item): void => {
      if (q.keyId !== undefined && it.keyId !== q.keyId) return;
      if (q.tenant !== undefined && !it.tenants.includes(q.tenant)) return;
      items.push(q.tenant === undefined ? it : { ...it, tenants: [q.tenant] });
    };
    await this.records(q, keep);
    await this.mo(q, keep);
    await this.dead(q, keep);
    const [erasures, rotations] = await this.fromAudit(q, now);
    return summarise(q, now, this.d.vault.pseudonyms.currentId, items, erasures, rotations);
  }

  /** The pseudonym of a number under the current secret; undefined when it is not a usable number. */
  private hashOf(to: unknown): string | undefined {
    if (typeof to !== 'string') return undefined;
    const n = normaliseMsisdn(to, this.d.defaultRegion);
    return n.ok ? this.d.vault.hash(n.e164) : undefined;
  }

  private async records(q: BreachQuery, keep: (it: Item) => void): Promise<void> {
    const { redis, keys, store } = this.d;
    const { pattern, idOf } = recordPattern(keys);
    const unreadable = new Map<string, Item>();
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', PAGE);
      cursor = next;
      // SCAN may return a key twice: count each record once.
      const ids = found.map(idOf).filter((id): id is string => id !== undefined && !seen.has(id));
      for (const id of ids) seen.add(id);
      for (const f of await store.facts(ids)) {
        if (f === undefined || f.data === undefined) continue;
        // Queued after the window closed: it did not exist in it. No readable time: counted (a report errs towards naming).
        const queued = f.eid === undefined ? Number.NaN : streamIdMs(f.eid);
        if (Number.isFinite(queued) && queued > q.to) continue;
        const tenant = typeof f.ids.ten === 'string' ? f.ids.ten : null;
        const keyId = isEnvelope(f.data) ? (envelopeKeyId(f.data) as string) : PLAIN;
        if (q.keyId !== undefined && keyId !== q.keyId) continue;
        if (q.tenant !== undefined && tenant !== q.tenant) continue;
        const opened = store.openData(f.recId, f.data);
        const cls = opened?.cls;
        const it: Item = { tenants: [tenant], data: 'records', messageClass: typeof cls === 'string' && MESSAGE_CLASSES.has(cls) ? cls : null, keyId };
        const pseudonym = this.hashOf(opened?.to);
        if (pseudonym !== undefined) it.pseudonym = pseudonym;
        else if (opened === undefined && unreadable.size < MAX_LOOKUPS) {
          unreadable.set(f.recId, it);
          continue;
        }
        keep(it);
      }
    } while (cursor !== '0');
    if (unreadable.size > 0) await this.nameFromIndex(unreadable);
    for (const it of unreadable.values()) keep(it);
  }

  /** Records that do not open: the subscriber whose `held` index lists them, if one does. */
  private async nameFromIndex(unreadable: Map<string, Item>): Promise<void> {
    const { redis, keys } = this.d;
    const marker = '\u0000';
    const template = keys.held(marker);
    const head = template.slice(0, template.indexOf(marker));
    const tail = template.slice(template.indexOf(marker) + 1);
    const glob = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');
    const ids = [...unreadable.keys()];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${glob(head)}*${glob(tail)}`, 'COUNT', PAGE);
      cursor = next;
      for (const key of new Set(found)) {
        const hash = key.slice(head.length, key.length - tail.length);
        if (keys.held(hash) !== key) continue;
        for (let i = 0; i < ids.length; i += PAGE) {
          const chunk = ids.slice(i, i + PAGE);
          const scores = (await redis.zmscore(key, ...chunk)) as Array<string | null>;
          scores.forEach((s, n) => {
            const it = unreadable.get(chunk[n] as string);
            if (s !== null && it !== undefined && it.pseudonym === undefined) it.pseudonym = hash;
          });
        }
      }
    } while (cursor !== '0');
  }

  private async mo(q: BreachQuery, keep: (it: Item) => void): Promise<void> {
    const { redis, keys, vault } = this.d;
    const current = `${vault.pseudonyms.currentId}:`;
    const streams = [keys.mo, ...(this.d.moStreams ?? []).map((s) => keys.moStream(s))];
    // Up to the window's end: an id of milliseconds only takes every entry of that millisecond.
    for (const stream of streams) {
      for await (const rows of streamPages(redis, stream, PAGE, String(q.to))) {
        for (const [, flat] of rows) {
          let e: { to?: unknown; subscriber?: unknown; sealed?: unknown };
          try {
            e = JSON.parse(fieldOf(flat, 'data') ?? '{}') as typeof e;
          } catch {
            continue;
          }
          const keyId = isEnvelope(e.sealed) ? (envelopeKeyId(e.sealed) as string) : PLAIN;
          const shortCode = typeof e.to === 'string' ? e.to : '';
          const tenants = this.d.tenantsOf(shortCode);
          const it: Item = { tenants: tenants.length > 0 ? tenants : [null], data: 'mo', messageClass: null, keyId };
          // Left out by a filter: not opened.
          if ((q.keyId !== undefined && keyId !== q.keyId) || (q.tenant !== undefined && !it.tenants.includes(q.tenant))) continue;
          const stored = typeof e.subscriber === 'string' ? e.subscriber : undefined;
          if (stored !== undefined && stored.startsWith(current)) it.pseudonym = stored;
          else {
            // Hashed under an older secret (or not at all): open it to hash the sender again.
            const opened = typeof e.sealed === 'string' ? vault.open(e.sealed, 'mo') : undefined;
            let from: unknown;
            try {
              from = opened === undefined ? undefined : (JSON.parse(opened) as { from?: unknown }).from;
            } catch {
              from = undefined;
            }
            const pseudonym = this.hashOf(from) ?? stored;
            if (pseudonym !== undefined) it.pseudonym = pseudonym;
          }
          keep(it);
        }
      }
    }
  }

  private async dead(q: BreachQuery, keep: (it: Item) => void): Promise<void> {
    const { redis, keys, vault } = this.d;
    const current = `${vault.pseudonyms.currentId}:`;
    // A key rotation copies an entry to a new id (after the window, maybe): judge it by `was`.
    for await (const rows of streamPages(redis, keys.dead, PAGE)) {
      for (const row of rows as StreamRow[]) {
        const f = fieldsOf(row[1]);
        const at = streamIdMs(f.was ?? row[0]);
        if (Number.isFinite(at) && at > q.to) continue;
        const [value, context] = f.sealedMt !== undefined ? [f.sealedMt, 'mt'] : [f.data ?? '', 'dead'];
        if (value === '' && f.subscriber === undefined) continue; // holds nothing about anyone
        const keyId = value === '' ? PLAIN : isEnvelope(value) ? (envelopeKeyId(value) as string) : PLAIN;
        if (q.keyId !== undefined && keyId !== q.keyId) continue; // not opened
        const plain = value === '' ? undefined : isEnvelope(value) ? vault.open(value, context) : value;
        let m: { to?: unknown; tenant?: unknown; class?: unknown } = {};
        try {
          const parsed: unknown = plain === undefined ? {} : JSON.parse(plain);
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) m = parsed as typeof m;
        } catch {
          // not JSON (why it was dead-lettered, often): no tenant, class or number in it
        }
        const tenant = typeof m.tenant === 'string' && TENANT.test(m.tenant) ? m.tenant : null;
        const cls = typeof m.class === 'string' && MESSAGE_CLASSES.has(m.class) ? m.class : null;
        const it: Item = { tenants: [tenant], data: 'dead', messageClass: cls, keyId };
        const pseudonym = f.subscriber !== undefined && f.subscriber.startsWith(current) ? f.subscriber : (this.hashOf(m.to) ?? f.subscriber);
        if (pseudonym !== undefined) it.pseudonym = pseudonym;
        keep(it);
      }
    }
  }

  /** Erasures (in the window; after it) and key rotations since it opened, as the audit trail records them. */
  private async fromAudit(q: BreachQuery, now: number): Promise<[BreachReport['erasures'], BreachReport['rotations']]> {
    const erasures = { inWindow: 0, since: 0 };
    const rotations: BreachReport['rotations'] = [];
    for await (const rows of streamPages(this.d.redis, this.d.keys.audit, PAGE, '+', String(q.from))) {
      for (const [id, flat] of rows) {
        const f = fieldsOf(flat);
        const at = streamIdMs(id);
        if (f.action === 'subscriber.erase') {
          if (at <= q.to) erasures.inWindow++;
          else if (at <= now) erasures.since++;
        } else if (f.action === 'keys.rotate_finished') {
          let detail: { current?: unknown; moved?: unknown } = {};
          try {
            detail = JSON.parse(f.detail ?? '{}') as typeof detail;
          } catch {
            // an entry without readable detail still says when
          }
          const r: BreachReport['rotations'][number] = { at: new Date(at).toISOString(), actor: f.actor ?? 'unknown' };
          if (typeof detail.current === 'string') r.current = detail.current;
          if (typeof detail.moved === 'number') r.moved = detail.moved;
          rotations.push(r);
        }
      }
    }
    return [erasures, rotations];
  }
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const tenantOrder = (a: string | null, b: string | null): number => (a === b ? 0 : a === null ? 1 : b === null ? -1 : byText(a, b));

function summarise(q: BreachQuery, now: number, secret: string, items: readonly Item[], erasures: BreachReport['erasures'], rotations: BreachReport['rotations']): BreachReport {
  const groups = new Map<string, BreachGroup & { names: Set<string> }>();
  const subs = new Map<string, { tenants: Set<string | null>; data: Set<DataClass>; keyIds: Set<string> }>();
  const byData = Object.fromEntries(DATA_CLASSES.map((c) => [c, { items: 0, names: new Set<string>() }])) as Record<DataClass, { items: number; names: Set<string> }>;
  const byKey = new Map<string, { items: number; names: Set<string> }>();
  let unnamed = 0;
  for (const it of items) {
    const d = byData[it.data];
    d.items++;
    const k = byKey.get(it.keyId) ?? { items: 0, names: new Set<string>() };
    byKey.set(it.keyId, k);
    k.items++;
    if (it.pseudonym === undefined) unnamed++;
    else {
      d.names.add(it.pseudonym);
      k.names.add(it.pseudonym);
      const s = subs.get(it.pseudonym) ?? { tenants: new Set(), data: new Set(), keyIds: new Set() };
      subs.set(it.pseudonym, s);
      for (const t of it.tenants) s.tenants.add(t);
      s.data.add(it.data);
      s.keyIds.add(it.keyId);
    }
    for (const tenant of it.tenants) {
      const key = `${tenant ?? ''}\u0000${it.data}\u0000${it.messageClass ?? ''}`;
      let g = groups.get(key);
      if (g === undefined) {
        g = { tenant, data: it.data, messageClass: it.messageClass, items: 0, subscribers: 0, keyIds: {}, unnamed: 0, pseudonyms: [], names: new Set() };
        groups.set(key, g);
      }
      g.items++;
      g.keyIds[it.keyId] = (g.keyIds[it.keyId] ?? 0) + 1;
      if (it.pseudonym === undefined) g.unnamed++;
      else g.names.add(it.pseudonym);
    }
  }
  const dataOrder = (a: DataClass, b: DataClass): number => DATA_CLASSES.indexOf(a) - DATA_CLASSES.indexOf(b);
  const sortedKeys = (o: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => byText(a, b)));
  const filters: BreachReport['filters'] = {};
  if (q.tenant !== undefined) filters.tenant = q.tenant;
  if (q.keyId !== undefined) filters.keyId = q.keyId;
  const tenants = new Set<string>();
  for (const it of items) for (const t of it.tenants) if (t !== null) tenants.add(t);
  return {
    v: 1,
    window: { from: new Date(q.from).toISOString(), to: new Date(q.to).toISOString() },
    generatedAt: new Date(now).toISOString(),
    filters,
    pseudonymSecret: secret,
    totals: {
      items: items.length,
      subscribers: subs.size,
      unnamed,
      tenants: [...tenants].sort(byText),
      byData: Object.fromEntries(DATA_CLASSES.map((c) => [c, { items: byData[c].items, subscribers: byData[c].names.size }])) as BreachReport['totals']['byData'],
      keyIds: Object.fromEntries([...byKey].sort(([a], [b]) => byText(a, b)).map(([id, k]) => [id, { items: k.items, subscribers: k.names.size }])),
    },
    groups: [...groups.values()]
      .sort((a, b) => tenantOrder(a.tenant, b.tenant) || dataOrder(a.data, b.data) || tenantOrder(a.messageClass, b.messageClass))
      .map(({ names, ...g }) => ({ ...g, keyIds: sortedKeys(g.keyIds), subscribers: names.size, pseudonyms: [...names].sort(byText) })),
    subscribers: [...subs]
      .sort(([a], [b]) => byText(a, b))
      .map(([pseudonym, s]) => ({ pseudonym, tenants: [...s.tenants].sort(tenantOrder), data: [...s.data].sort(dataOrder), keyIds: [...s.keyIds].sort(byText) })),
    erasures,
    rotations,
  };
}
