/**
 * Every Redis key Qasid uses, in one place. Keys that one Lua script touches together
 * share a Redis Cluster hash tag ({…}); everything else spreads across slots, so moving
 * to Redis Cluster needs no redesign.
 *
 * The message path works per batch, so what one batch touches shares a tag: message
 * records and the due and watch sets carry their shard's tag (`{<prefix>:0}`; one shard
 * today, so one slot), carrier-id mappings and parked receipts their carrier's
 * (`{<prefix>:c:<carrier>}`). A subscriber's keys carry the subscriber's own tag.
 * (Layout 2; queue/migrate.ts moves keys of layout 1, where every record and mapping had
 * a tag of its own.)
 *
 * With `intake.shards` K > 1 the intake is K streams, `<prefix>:mt:{<prefix>:<i>-<n>}`, and a
 * message's shard is fixed by its record id (a hash of tenant and client id): its record,
 * and the due and watch sets it waits in, carry that shard's tag (spreadTag below). A
 * writer puts the entry on the same shard (QasidClient), so one read's batch touches one
 * slot; an entry written to another shard is still right (its record goes to its own
 * shard, the idempotency check with it), only its batch splits.
 */
import { createHash } from 'node:crypto';
import { CLUSTER_SLOTS, clusterSlot } from './slot.js';

export interface Keys {
  /** Intake stream upstream apps XADD to. */
  readonly intake: string;
  /**
   * HASH consumer name → `<token>|<lease end, ms>`: who is alive among the intake group's
   * consumers. Shares the intake stream's slot (the claim script reads both).
   */
  readonly intakeOwners: string;
  readonly events: string;
  /** The default MO stream: every MO no rule of mo.routes sends elsewhere. */
  readonly mo: string;
  /** A routed MO stream (mo.routes): `<prefix>:mo:<name>`. */
  moStream(name: string): string;
  /**
   * HASH holding one long MO's parts until every part is there (sender and parts sealed),
   * then, for a while, a tombstone (`done`) so late duplicates are ignored. In its
   * carrier's tag; `<id>` hashes subscriber hash, destination, reference and part count.
   */
  moParts(carrier: string, id: string): string;
  /** ZSET `<id>` → when the long MO's reassembly time runs out (ms): one carrier's long MOs, for the timeout sweep. In the carrier's tag. */
  moPartsDue(carrier: string): string;
  readonly dead: string;
  /** ZSET of message record ids due for a (re)try or a scheduled send, scored by due time (ms). In the records' slot. */
  readonly due: string;
  /** ZSET of record ids waiting for a receipt (or an unknown outcome), scored by the deadline (ms). In the records' slot. */
  readonly watch: string;
  /** The hash tag shard 0's records and its due and watch sets carry (one shard: every record's). */
  readonly recordTag: string;
  /** How many intake shards (intake.shards). */
  readonly shards: number;
  /** The intake stream of each shard, by shard number (`intake` is shard 0's). */
  readonly intakeStreams: readonly string[];
  /** The owners hash beside one shard's intake stream (`intakeOwners` is shard 0's). */
  intakeOwnersOf(shard: number): string;
  /** The shard a record id belongs to: 0 … shards − 1. */
  shardOf(recId: string): number;
  /** The hash tag of one shard's records, due and watch sets. */
  shardTag(shard: number): string;
  /** One shard's due or watch set (`due` / `watch` are shard 0's). */
  zset(kind: 'due' | 'watch', shard: number): string;
  /** The hash tag of one carrier's mappings and parked receipts. */
  carrierTag(carrier: string): string;
  /** STRING: the intake shard count this Redis holds data of (queue/shards.ts); clients read it. */
  readonly shardCount: string;
  /** Marks the key layout this Redis holds (queue/migrate.ts). */
  readonly layout: string;
  /** HASH E.164 (without '+') → operator id: numbers ported away from their prefix's operator. */
  readonly ported: string;
  /** The admin access log: one entry per admin API request (method, route, role, address, status, latency). */
  readonly access: string;
  /** The append-only, hash-chained audit stream of admin changes. */
  readonly audit: string;
  /** Where the audit chain starts after retention trimmed its oldest entries (HASH id, prev). */
  readonly auditAnchor: string;
  /** The audit chain's head: its newest entry's id and hash (HASH id, hash), moved by every append; in the stream's slot. */
  readonly auditHead: string;
  /** HASH token id → `<role>:<sha256>`: the admin tokens the gateway last started with, so a start can audit what changed. */
  readonly adminTokens: string;
  /** HASH token sha256 → JSON {id, at, by}: tokens revoked by `qasid token revoke`, refused from then on. */
  readonly revokedTokens: string;
  /** Current generation of the do-not-contact list import (entries of older generations no longer count). */
  readonly dncGeneration: string;
  /**
   * One subscriber's standing choices, by keyed hash (a HASH): `blk` blocklisted,
   * `dnc` the DNC import generation, `o:s:<sender>` / `o:t:<tenant>` opted out,
   * `i:t:<tenant>` opted in. Kept without a TTL: an objection must outlive the data.
   */
  subscriber(hash: string): string;
  /** Sliding-window frequency cap of one subscriber for one class (ZSET record id → time, ms), every window of it. */
  cap(hash: string, cls: string): string;
  /** The same, counting only one tenant's messages (its own windows, policy.tenants[].caps). */
  tenantCap(hash: string, cls: string, tenant: string): string;
  /** What Qasid holds about one subscriber (ZSET: record ids and `mo:<entry id>`), for erasure and export. */
  held(hash: string): string;
  /** The message record (a HASH), in the shard's slot. */
  record(recId: string): string;
  /** carrier message id → record id and part; shares its carrier's tag with the parked receipt. */
  carrierId(carrier: string, normalisedId: string): string;
  /** A receipt that arrived before its submit_sm_resp was recorded. */
  parked(carrier: string, normalisedId: string): string;
  /**
   * ZSET `<carrier>:<normalised id>` → when its park time runs out (ms): the parked
   * receipts, so those that never match are counted (receipts.ts). Touched by no script
   * together with another key; its TTL covers its newest member.
   */
  readonly parkedIndex: string;
  /** HASH of one carrier's bind-slot leases and the instances sharing them (throttle/bind-slots.ts); in its carrier's tag. */
  bindSlots(carrier: string): string;
  /** HASH of one carrier's shared send budget across instances (throttle/shared-rate.ts); in its carrier's tag. */
  carrierRate(carrier: string): string;
  /** HASH carrier → JSON {paused, stopped}: what an operator decided, for every instance (dispatch/carrier-control.ts). */
  readonly carrierControl: string;
  /** STRING lease of one sweep (retention, …): the instance that runs it now. */
  sweepLease(name: string): string;
}

export function keysFor(prefix: string, shards = 1): Keys {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, not ${shards}`);
  const shardTags = shards === 1 ? [`{${prefix}:0}`] : Array.from({ length: shards }, (_, i) => spreadTag(prefix, i, shards));
  const shardTag = (shard: number): string => shardTags[shard] as string;
  const recordTag = shardTag(0);
  const carrierTag = (carrier: string): string => `{${prefix}:c:${carrier}}`;
  const intakeStreams = Array.from({ length: shards }, (_, i) => (shards === 1 ? `${prefix}:mt` : `${prefix}:mt:${shardTag(i)}`));
  const owners = intakeStreams.map((stream) => sameSlot(prefix, stream, 'owners'));
  const dues = Array.from({ length: shards }, (_, i) => `${prefix}:due:${shardTag(i)}`);
  const watches = Array.from({ length: shards }, (_, i) => `${prefix}:watch:${shardTag(i)}`);
  const shardOf = shards === 1 ? (): number => 0 : (recId: string): number => shardOfId(recId, shards);
  return {
    recordTag,
    carrierTag,
    shards,
    intakeStreams,
    intakeOwnersOf: (shard) => owners[shard] as string,
    shardOf,
    shardTag,
    zset: (kind, shard) => ((kind === 'due' ? dues : watches)[shard] as string),
    layout: `${prefix}:layout`,
    shardCount: `${prefix}:shards`,
    intake: intakeStreams[0] as string,
    intakeOwners: owners[0] as string,
    events: `${prefix}:events`,
    mo: `${prefix}:mo`,
    moStream: (name) => `${prefix}:mo:${name}`,
    moParts: (carrier, id) => `${prefix}:mop:${carrierTag(carrier)}:${id}`,
    moPartsDue: (carrier) => `${prefix}:mopdue:${carrierTag(carrier)}`,
    dead: `${prefix}:dead`,
    due: dues[0] as string,
    watch: watches[0] as string,
    ported: `${prefix}:ported`,
    access: `${prefix}:access`,
    audit: `${prefix}:audit`,
    auditAnchor: `${prefix}:audit:anchor`,
    auditHead: sameSlot(prefix, `${prefix}:audit`, 'head'),
    adminTokens: `${prefix}:admin:tokens`,
    revokedTokens: `${prefix}:admin:revoked`,
    dncGeneration: `${prefix}:dnc:gen`,
    subscriber: (h) => `${prefix}:sub:{${h}}`,
    cap: (h, cls) => `${prefix}:cap:{${h}}:${cls}`,
    tenantCap: (h, cls, tenant) => `${prefix}:cap:{${h}}:${cls}:t:${tenant}`,
    held: (h) => `${prefix}:held:{${h}}`,
    record: shards === 1 ? (recId) => `${prefix}:msg:${recordTag}:${recId}` : (recId) => `${prefix}:msg:${shardTags[shardOf(recId)] as string}:${recId}`,
    carrierId: (carrier, id) => `${prefix}:cid:${carrierTag(carrier)}:${id}`,
    parked: (carrier, id) => `${prefix}:park:${carrierTag(carrier)}:${id}`,
    parkedIndex: `${prefix}:parked`,
    bindSlots: (carrier) => `${prefix}:binds:${carrierTag(carrier)}`,
    carrierRate: (carrier) => `${prefix}:rate:${carrierTag(carrier)}`,
    sweepLease: (name) => `${prefix}:sweep:${name}`,
    carrierControl: `${prefix}:carriers:control`,
  };
}

/**
 * A key under `prefix` in the same Redis Cluster slot as `key`: a key with a hash tag
 * lends it; a key without one is hashed whole, so its whole name becomes the tag
 * (`qasid:mt` → `qasid:{qasid:mt}:owners`).
 */
export function sameSlot(prefix: string, key: string, suffix: string): string {
  return /\{[^}]+\}/.test(key) ? `${key}:${suffix}` : `${prefix}:{${key}}:${suffix}`;
}

/**
 * Shard `i`'s hash tag of `shards` (more than one): `{<prefix>:<i>-<n>}`, the first n whose
 * Redis Cluster slot lies in the i-th of `shards` equal parts of the slot space. A cluster
 * made with its slots split evenly over M masters (as `redis-cli --cluster create` does)
 * then holds shards/M shards on each master when shards is a multiple of M — where plain
 * `{<prefix>:<i>}` tags would land where their hashes fall. The same for every instance
 * and client: it depends on the prefix and the count only.
 */
function spreadTag(prefix: string, shard: number, shards: number): string {
  for (let n = 0; ; n++) {
    const tag = `${prefix}:${shard}-${n}`;
    if (Math.floor((clusterSlot(`{${tag}}`) * shards) / CLUSTER_SLOTS) === shard) return `{${tag}}`;
  }
}

/**
 * The shard of a record id (base64url of a SHA-256): its first three bytes, modulo the
 * shard count — the same for every writer and reader.
 */
export function shardOfId(recId: string, shards: number): number {
  if (shards <= 1) return 0;
  const b = Buffer.from(recId.slice(0, 4), 'base64url');
  return (((b[0] ?? 0) << 16) | ((b[1] ?? 0) << 8) | (b[2] ?? 0)) % shards;
}

/**
 * The record id of a message: a hash of tenant and client id, so the idempotency check
 * is the record's own existence, and neither id (which may be personal) appears in a key.
 */
export function recordId(tenant: string | undefined, clientId: string): string {
  return createHash('sha256')
    .update(tenant ?? '')
    .update('\0')
    .update(clientId)
    .digest('base64url')
    .slice(0, 22);
}
