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
 */
import { createHash } from 'node:crypto';

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
  /** The hash tag every record, and the due and watch sets, carry (one shard: one tag). */
  readonly recordTag: string;
  /** The hash tag of one carrier's mappings and parked receipts. */
  carrierTag(carrier: string): string;
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
  /** STRING lease of one sweep (retention, …): the instance that runs it now. */
  sweepLease(name: string): string;
}

export function keysFor(prefix: string): Keys {
  const recordTag = `{${prefix}:0}`;
  const carrierTag = (carrier: string): string => `{${prefix}:c:${carrier}}`;
  return {
    recordTag,
    carrierTag,
    layout: `${prefix}:layout`,
    intake: `${prefix}:mt`,
    intakeOwners: sameSlot(prefix, `${prefix}:mt`, 'owners'),
    events: `${prefix}:events`,
    mo: `${prefix}:mo`,
    moStream: (name) => `${prefix}:mo:${name}`,
    moParts: (carrier, id) => `${prefix}:mop:${carrierTag(carrier)}:${id}`,
    moPartsDue: (carrier) => `${prefix}:mopdue:${carrierTag(carrier)}`,
    dead: `${prefix}:dead`,
    due: `${prefix}:due:${recordTag}`,
    watch: `${prefix}:watch:${recordTag}`,
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
    record: (recId) => `${prefix}:msg:${recordTag}:${recId}`,
    carrierId: (carrier, id) => `${prefix}:cid:${carrierTag(carrier)}:${id}`,
    parked: (carrier, id) => `${prefix}:park:${carrierTag(carrier)}:${id}`,
    parkedIndex: `${prefix}:parked`,
    bindSlots: (carrier) => `${prefix}:binds:${carrierTag(carrier)}`,
    carrierRate: (carrier) => `${prefix}:rate:${carrierTag(carrier)}`,
    sweepLease: (name) => `${prefix}:sweep:${name}`,
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
