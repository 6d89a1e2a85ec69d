/**
 * The key-rotation sweep (`qasid keys rotate`): after a new `current` key is added to the
 * keyring, move what Redis holds under the older keys to it, so those keys can later
 * leave the keyring.
 *
 * - Message records: the sealed `d` field is rewrapped in place with a compare-and-swap
 *   (MessageStore.resealData), so a record that changed or was erased meanwhile is never
 *   overwritten or brought back. `d` still in plain JSON (written before encryption was
 *   on) is sealed.
 * - Dead letters: stream entries cannot be edited, so an entry under an old key is
 *   copied with the rewrapped value (plus `was` = the old entry id) and the old one
 *   deleted, in one script that does nothing when the old entry is already gone.
 * - MO entries: rewriting them would redeliver them to consumers, so they are only
 *   counted; the old key must stay until retention has trimmed them.
 *
 * Nothing is ever deleted for being unreadable: a value under a key the keyring does not
 * hold (or that fails to authenticate) is counted `failed` and left as it is. A second
 * run moves nothing.
 */
import { scanKeys } from '../queue/scan.js';
import type { Redis } from 'ioredis';
import { fieldOf, streamIdMs, streamPages } from '../queue/streams.js';
import type { Keys } from '../queue/keys.js';
import { MessageStore } from '../queue/store.js';
import type { FieldSealer } from '../queue/sealing.js';
import { decrypt, encrypt, envelopeKeyId, isEnvelope, rewrap } from './cipher.js';
import type { Keyring } from './keyring.js';

export interface RotationReport {
  records: {
    /** Rewrapped from an old key to the current one. */
    moved: number;
    /** Held plain JSON (written before encryption was on); now sealed. */
    sealed: number;
    /** Already under the current key. */
    current: number;
    /** Could not be opened (key not in the keyring, damaged, not JSON): left untouched. */
    failed: number;
  };
  dead: { moved: number; current: number; failed: number };
  mo: {
    /** MO entries whose sealed part names a key other than the current one (not rewritten). */
    underOldKeys: number;
    /** The newest of them: the old key must stay until retention has trimmed up to this id. */
    newestOldEntry?: string;
  };
  /**
   * What is still under each non-current key after the sweep (MO entries and values that
   * failed); every non-current key of the keyring is listed, 0 meaning it can go.
   */
  byKey: Record<string, number>;
}

export interface RotateOptions {
  /** Keys per SCAN / entries per XRANGE page (default 500). */
  batch?: number;
  /** The routed MO streams (mo.routes), counted with the default one. */
  moStreams?: readonly string[];
  /** Called after each page with the number of values looked at so far. */
  onProgress?: (n: number) => void;
  /** Awaited after each part (records, dead letters, MO), with the report so far. */
  onPart?: (part: 'records' | 'dead' | 'mo', report: RotationReport) => Promise<void> | void;
}

const DEFAULT_BATCH = 500;
/** CAS misses on one record before giving up on it for this run (counted failed). */
const MAX_ATTEMPTS = 3;

// KEYS[1] stream; ARGV[1] the old entry id, ARGV[2..] field/value pairs of its copy.
// Copies and deletes only while the old entry still exists (erasure may have removed it).
const LUA_MOVE_ENTRY = `
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return false end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], ARGV[1])
return id`;

interface MovingRedis extends Redis {
  qasidMoveEntry(stream: string, oldId: string, ...fieldValues: string[]): Promise<string | null>;
}

/** What each part of one rotation run shares. */
interface Sweep {
  redis: Redis;
  keys: Keys;
  keyring: Keyring;
  batch: number;
  report: RotationReport;
  /** Count a value left under a non-current key. */
  remains: (keyId: string | undefined) => void;
  /** Count values looked at. */
  progress: (n: number) => void;
}

/** Re-encrypt what Redis holds under the keyring's older keys with its current key. */
export async function rotateKeys(redis: Redis, keys: Keys, keyring: Keyring, opts: RotateOptions = {}): Promise<RotationReport> {
  const batch = Math.max(1, Math.floor(opts.batch ?? DEFAULT_BATCH));
  const report: RotationReport = {
    records: { moved: 0, sealed: 0, current: 0, failed: 0 },
    dead: { moved: 0, current: 0, failed: 0 },
    mo: { underOldKeys: 0 },
    byKey: {},
  };
  for (const id of keyring.ids()) if (id !== keyring.currentId) report.byKey[id] = 0;
  const remains = (keyId: string | undefined): void => {
    if (keyId !== undefined && keyId !== keyring.currentId) report.byKey[keyId] = (report.byKey[keyId] ?? 0) + 1;
  };
  let seen = 0;
  const progress = (n: number): void => {
    seen += n;
    opts.onProgress?.(seen);
  };

  const sweep: Sweep = { redis, keys, keyring, batch, report, remains, progress };
  await sweepRecords(sweep);
  await opts.onPart?.('records', report);
  await sweepDead(sweep);
  await opts.onPart?.('dead', report);
  for (const stream of [keys.mo, ...(opts.moStreams ?? []).map((s) => keys.moStream(s))]) await countMo(sweep, stream);
  await opts.onPart?.('mo', report);
  return report;
}

/** The SCAN MATCH pattern for every record key, built from the key template with glob characters escaped. */
export function recordPattern(keys: Keys): { pattern: string; idOf: (key: string) => string | undefined } {
  const marker = '\u0000';
  const template = keys.record(marker);
  const at = template.indexOf(marker);
  const head = template.slice(0, at);
  const tail = template.slice(at + marker.length);
  // With several shards, records carry their shard's tag: match any shard's number in it.
  const tag = keys.shardTag(keys.shardOf(marker));
  const tagAt = head.indexOf(tag);
  const num = tag.lastIndexOf(':') + 1;
  const headGlob = keys.shards === 1 || tagAt < 0 ? globEscape(head) : `${globEscape(head.slice(0, tagAt) + tag.slice(0, num))}*${globEscape(head.slice(tagAt + tag.length - 1))}`;
  return {
    pattern: `${headGlob}*${globEscape(tail)}`,
    idOf: (key) => {
      // The part before the id: up to the tag's end (one shard: the whole head).
      const idAt = keys.shards === 1 || tagAt < 0 ? head.length : key.indexOf('}', tagAt) + 1 + (head.length - (tagAt + tag.length));
      if (idAt <= 0 || key.length <= idAt + tail.length || !key.startsWith(head.slice(0, Math.max(0, tagAt))) || !key.endsWith(tail)) return undefined;
      const id = key.slice(idAt, key.length - tail.length);
      // Record ids never hold braces (they would break the hash tag): `<prefix>:msg:{a}:x}` is not a record.
      return /[{}]/.test(id) || keys.record(id) !== key ? undefined : id;
    },
  };
}

/** Redis glob: `*`, `?`, `[`, `]` and `\` are special (braces are not). */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

type Plan = { kind: 'current' } | { kind: 'failed'; keyId?: string } | { kind: 'write'; value: string; sealedPlain: boolean };

function planRecord(keyring: Keyring, d: string, recId: string): Plan {
  if (isEnvelope(d)) {
    const r = rewrap(keyring, d, recId);
    if (r.status === 'current') return { kind: 'current' };
    if (r.status === 'failed') return { kind: 'failed', keyId: envelopeKeyId(d) };
    return { kind: 'write', value: r.envelope, sealedPlain: false };
  }
  // Plain JSON from before encryption: seal it. Anything else is not ours to guess at.
  let parsed: unknown;
  try {
    parsed = JSON.parse(d);
  } catch {
    return { kind: 'failed' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { kind: 'failed' };
  return { kind: 'write', value: encrypt(keyring, d, recId), sealedPlain: true };
}

async function sweepRecords({ redis, keys, keyring, batch, report, remains, progress }: Sweep): Promise<void> {
  const store = new MessageStore(redis, keys, keyringSealer(keyring));
  const { pattern, idOf } = recordPattern(keys);

  const one = async (recId: string, first: string | null): Promise<void> => {
    let d = first;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (d === null || d === '') return; // gone (expired, erased) or nothing sealed in it
      const plan = planRecord(keyring, d, recId);
      if (plan.kind === 'current') {
        report.records.current++;
        return;
      }
      if (plan.kind === 'failed') {
        report.records.failed++;
        remains(plan.keyId);
        return;
      }
      if (await store.resealData(recId, d, plan.value)) {
        if (plan.sealedPlain) report.records.sealed++;
        else report.records.moved++;
        return;
      }
      // Changed meanwhile (another sweep) or deleted: look again.
      d = await redis.hget(keys.record(recId), 'd');
    }
    report.records.failed++;
    remains(d !== null && isEnvelope(d) ? envelopeKeyId(d) : undefined);
  };

  for await (const found of scanKeys(redis, pattern, batch)) {
    // SCAN may return a key twice across calls (during a rehash): a moved record then also counts as current.
    const ids = [...new Set(found)].map(idOf).filter((id): id is string => id !== undefined);
    if (ids.length === 0) continue;
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hget(keys.record(id), 'd');
    const got = (await pipe.exec()) ?? [];
    await Promise.all(
      ids.map((id, i) => {
        const [err, value] = got[i] ?? [null, null];
        // WRONGTYPE: a key that merely looks like a record.
        if (err) return undefined;
        return one(id, (value as string | null) ?? null);
      }),
    );
    progress(ids.length);
  }
}

const DEAD_CONTEXT: Readonly<Record<string, string>> = { data: 'dead', sealedMt: 'mt' };

async function sweepDead({ redis, keys, keyring, batch, report, remains, progress }: Sweep): Promise<void> {
  redis.defineCommand('qasidMoveEntry', { numberOfKeys: 1, lua: LUA_MOVE_ENTRY });
  const mover = redis as MovingRedis;
  // Copies land after the last entry that was there at the start: stop there.
  const last = (await redis.xrevrange(keys.dead, '+', '-', 'COUNT', 1))[0];
  if (last === undefined) return;
  for await (const rows of streamPages(redis, keys.dead, batch, last[0])) {
    const moves: Array<Promise<void>> = [];
    for (const [id, fields] of rows) {
      // Dead-lettered *because* it could not be opened: never ours to rewrap, not a failure of the sweep.
      if (fieldOf(fields, 'reason') === 'undecryptable') continue;
      let moved = false;
      let current = false;
      const failedKeys: Array<string | undefined> = [];
      const copy = [...fields];
      for (let i = 0; i + 1 < copy.length; i += 2) {
        const context = DEAD_CONTEXT[copy[i] as string];
        const value = copy[i + 1] as string;
        // An empty or plain value (dead-lettered before encryption, or never sealed) names no key.
        if (context === undefined || !isEnvelope(value)) continue;
        const r = rewrap(keyring, value, context);
        if (r.status === 'current') current = true;
        else if (r.status === 'failed') failedKeys.push(envelopeKeyId(value));
        else {
          copy[i + 1] = r.envelope;
          moved = true;
        }
      }
      if (failedKeys.length > 0) {
        report.dead.failed++;
        for (const k of failedKeys) remains(k);
      } else if (moved) {
        const wasAt = fieldIndex(copy, 'was');
        if (wasAt >= 0) copy[wasAt + 1] = id;
        else copy.push('was', id);
        moves.push(
          mover.qasidMoveEntry(keys.dead, id, ...copy).then((newId) => {
            if (newId !== null) report.dead.moved++;
          }),
        );
      } else if (current) report.dead.current++;
    }
    await Promise.all(moves);
    progress(rows.length);
  }
}

async function countMo({ redis, keyring, batch, report, remains, progress }: Sweep, stream: string): Promise<void> {
  for await (const rows of streamPages(redis, stream, batch)) {
    for (const [id, fields] of rows) {
      const data = fieldOf(fields, 'data');
      if (data === undefined) continue;
      let sealed: unknown;
      try {
        sealed = (JSON.parse(data) as { sealed?: unknown }).sealed;
      } catch {
        continue;
      }
      const keyId = isEnvelope(sealed) ? envelopeKeyId(sealed) : undefined;
      if (keyId === undefined || keyId === keyring.currentId) continue;
      report.mo.underOldKeys++;
      // XRANGE is in id order: the last one seen is the stream's newest; across streams, the larger id.
      if (report.mo.newestOldEntry === undefined || streamIdMs(id) >= streamIdMs(report.mo.newestOldEntry)) report.mo.newestOldEntry = id;
      remains(keyId);
    }
    progress(rows.length);
  }
}

function fieldIndex(flat: readonly string[], name: string): number {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === name) return i;
  return -1;
}

/** A FieldSealer over a bare keyring (the sweep needs no hash secrets). */
function keyringSealer(keyring: Keyring): FieldSealer {
  return {
    seal: (plain, context) => encrypt(keyring, plain, context),
    open: (sealed, context) => {
      const r = decrypt(keyring, sealed, context);
      return r.ok ? r.text : undefined;
    },
    isSealed: (value) => isEnvelope(value),
  };
}
