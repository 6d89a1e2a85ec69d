/**
 * The one convict schema of Qasid's top-level configuration, grouped by section.
 * Every key has a doc, a default and a QASID_* env override; secrets are
 * `sensitive`. To add a section (intake, routing, admin...), add a group here, its
 * field in RawConfig and in QasidConfig (types.ts), and map it in load.ts.
 *
 * Precedence, lowest first: defaults, config file, environment, programmatic overrides.
 */
import type { MoRoute } from './types.js';
import type convict from 'convict';
import { carriersSchemaProblems } from './carriers.js';
import { DEFAULT_CAPS, capWindows, capsEnv, dncClasses, tenantCapsProblem, type CapWindow, type PolicyClass } from './caps.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The config as convict holds it: carriers still raw (validated and typed in carriers.ts). */
export interface RawConfig {
  log: { level: LogLevel; pretty: boolean };
  redis: {
    url: string;
    prefix: string;
    tls: { caFile: string; certFile: string; keyFile: string; servername: string; rejectUnauthorized: boolean };
    sentinels: string[];
    sentinelName: string;
    sentinelPassword: string;
    cluster: { nodes: string[] };
    waitReplicas: number;
    waitTimeoutMs: number;
  };
  shutdown: { drainMs: number; forceExitMs: number };
  intake: { group: string; consumer: string; shards: number; batch: number; blockMs: number; leaseMs: number; claimIdleMs: number; maxEntryBytes: number };
  outputs: { maxLen: number };
  mo: { reassemblySec: number; routes: MoRoute[] };
  scale: { bindLeaseMs: number; rateSliceMs: number };
  numbers: { defaultRegion: string };
  routes: { file: string };
  messages: { defaultValiditySec: number; receiptGraceSec: number; maxParts: number; mappingTtlSec: number; maxScheduleSec: number };
  dispatch: { maxInFlight: number; carrierWaitMs: number; pollMs: number; retryScheduleMs: number[]; unknownOutcome: Record<PolicyClass, { policy: 'final' | 'resubmit'; delaySec: number; maxResubmits: number }> };
  admin: {
    host: string;
    port: number;
    tls: { certFile: string; keyFile: string };
    tokens: Array<{ id: string; sha256: string; role: 'viewer' | 'operator' | 'admin' }>;
    allowList: string[];
    trustedProxies: string[];
    rateLimitPerMinute: { perIp: number; perToken: number };
    accessLog: { probes: boolean };
    auditHeadSec: number;
    revocationPollSec: number;
  };
  privacy: { keyring: string; keyringFile: string; hashKeyring: string; hashKeyringFile: string };
  policy: {
    stopKeywords: string[];
    startKeywords: string[];
    transactionalHonoursStop: boolean;
    marketingNeedsConsent: boolean;
    quietHours: { start: string; end: string; timeZone: string; jitterSec: number };
    caps: Record<PolicyClass, CapWindow[]>;
    dnc: { classes: PolicyClass[] };
    footer: string;
    tenants: TenantPolicy[];
  };
  retention: { recordsSec: number; eventsSec: number; moSec: number; deadSec: number; auditSec: number; accessSec: number; sweepSec: number };
  carriers: unknown[];
}

/** Per-tenant policy overrides (policy.tenants). */
export interface TenantPolicy {
  tenant: string;
  /** null: no quiet hours for this tenant. */
  quietHours?: { start: string; end: string; timeZone: string } | null;
  footer?: string;
  /** The sender ids (masks, short codes) this tenant may use; absent = any. */
  senders?: string[];
  /** Frequency caps of this tenant's own messages, per class, on top of policy.caps. */
  caps?: Partial<Record<PolicyClass, CapWindow[]>>;
}

/** A convict format that accepts an integer in [min, max]. */
function intRange(min: number, max: number): (v: unknown) => void {
  return (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new Error(`must be an integer from ${min} to ${max}`);
    }
  };
}

/** redis:// or rediss:// (TLS). The URL may embed a password, so messages never quote it. */
function redisUrl(v: unknown): void {
  if (typeof v !== 'string') throw new Error('must be a string');
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new Error('must be a URL like redis://host:6379/0 or rediss://host:6380');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('must use the redis:// or rediss:// (TLS) scheme');
  if (url.hostname === '') throw new Error('must name a host');
}

/**
 * `host:port`, `[ipv6]:port`: a DNS name, an IPv4 or a bracketed IPv6 address, and a port
 * from 1 to 65535; undefined when `s` is not one.
 */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)):([0-9]{1,5})$/.exec(s);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The host:port list keys, whose env vars may also be written comma-separated. */
export const HOST_PORT_LIST_KEYS: ReadonlySet<string> = new Set(['redis.sentinels', 'redis.cluster.nodes']);

/** A list of at most `maxItems` distinct host:port addresses (Sentinel, Cluster nodes). */
function hostPortList(maxItems: number): (v: unknown) => void {
  return (v) => {
    if (!Array.isArray(v)) throw new Error('must be a list of host:port');
    if (v.length > maxItems) throw new Error(`must list at most ${maxItems} addresses`);
    const seen = new Set<string>();
    v.forEach((x: unknown, i) => {
      if (typeof x !== 'string' || parseHostPort(x) === undefined) throw new Error(`[${i}] ${JSON.stringify(x)} must be host:port (a name or address, and a port from 1 to 65535; IPv6 as [addr]:port)`);
      if (seen.has(x)) throw new Error(`[${i}] ${x} is listed twice`);
      seen.add(x);
    });
  };
}

function redisPrefix(v: unknown): void {
  // Braces are left out on purpose: the queue module adds Redis Cluster hash tags itself.
  if (typeof v !== 'string' || !/^[A-Za-z0-9:_-]{1,64}$/.test(v)) {
    throw new Error("must be 1 to 64 of A-Z, a-z, 0-9, ':', '_', '-'");
  }
}

function nonEmpty(max: number): (v: unknown) => void {
  return (v) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new Error(`must be a string of 1 to ${max} characters`);
  };
}

function maxLen(max: number): (v: unknown) => void {
  return (v) => {
    if (typeof v !== 'string' || v.length > max) throw new Error(`must be a string of at most ${max} characters`);
  };
}

function stringList(maxItems: number): (v: unknown) => void {
  return (v) => {
    if (!Array.isArray(v) || v.length > maxItems || !v.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 64)) {
      throw new Error(`must be a list of at most ${maxItems} non-empty strings`);
    }
  };
}

function hhmm(v: unknown): void {
  if (typeof v !== 'string' || !/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(v)) throw new Error('must be a local time HH:MM (00:00 to 23:59)');
}

const TENANT_KEYS = new Set(['tenant', 'quietHours', 'footer', 'senders', 'caps']);

function tenantPolicies(v: unknown): void {
  if (!Array.isArray(v)) throw new Error('must be a list of { tenant, quietHours?, footer?, senders?, caps? }');
  const seen = new Set<string>();
  v.forEach((t: unknown, i) => {
    const o = t as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error(`[${i}] must be an object`);
    if (typeof o.tenant !== 'string' || o.tenant.length === 0 || o.tenant.length > 64) throw new Error(`[${i}].tenant must be a string of 1 to 64 characters`);
    if (seen.has(o.tenant)) throw new Error(`[${i}].tenant "${o.tenant}" is listed twice`);
    seen.add(o.tenant);
    const extra = Object.keys(o).filter((k) => !TENANT_KEYS.has(k));
    if (extra.length > 0) throw new Error(`[${i}] has unknown key ${extra[0] as string}`);
    if (o.caps !== undefined) {
      const why = tenantCapsProblem(o.caps);
      if (why !== undefined) throw new Error(`[${i}].caps${why.startsWith('.') ? '' : ' '}${why}`);
    }
    if (o.footer !== undefined && (typeof o.footer !== 'string' || o.footer.length > 160)) throw new Error(`[${i}].footer must be a string of at most 160 characters`);
    if (o.senders !== undefined && (!Array.isArray(o.senders) || o.senders.length === 0 || o.senders.length > 1000 || !o.senders.every((x) => typeof x === 'string' && x.length > 0 && x.length <= 20))) {
      throw new Error(`[${i}].senders must be a non-empty list of sender ids (1 to 20 characters each)`);
    }
    const q = o.quietHours;
    if (q === undefined || q === null) return;
    if (typeof q !== 'object' || Array.isArray(q)) throw new Error(`[${i}].quietHours must be { start, end, timeZone } or null`);
    const qq = q as Record<string, unknown>;
    for (const k of ['start', 'end'] as const) {
      try {
        hhmm(qq[k]);
      } catch (e) {
        throw new Error(`[${i}].quietHours.${k} ${(e as Error).message}`);
      }
    }
    if (typeof qq.timeZone !== 'string' || qq.timeZone === '') throw new Error(`[${i}].quietHours.timeZone must name an IANA time zone`);
  });
}

const MO_ROUTE_KEYS = new Set(['to', 'keyword', 'stream']);
/** A routed MO stream's name: it becomes part of a key (`<prefix>:mo:<name>`). */
export const MO_STREAM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** mo.routes: a list of { to?, keyword?, stream }, each naming its problem by index. */
export function moRoutesFormat(v: unknown): void {
  if (!Array.isArray(v)) throw new Error('must be a list of { to?, keyword?, stream }');
  if (v.length > 1000) throw new Error('must hold at most 1000 rules');
  v.forEach((r: unknown, i) => {
    const o = r as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error(`[${i}] must be an object { to?, keyword?, stream }`);
    const extra = Object.keys(o).filter((k) => !MO_ROUTE_KEYS.has(k));
    if (extra.length > 0) throw new Error(`[${i}] has unknown key ${extra[0] as string} (a rule has to, keyword and stream)`);
    if (typeof o.stream !== 'string' || !MO_STREAM_NAME.test(o.stream)) throw new Error(`[${i}].stream must be 1 to 32 of a-z, 0-9, '_', '-', starting with a letter or digit`);
    if (o.to === undefined && o.keyword === undefined) throw new Error(`[${i}] needs to, keyword or both`);
    if (o.to !== undefined && (typeof o.to !== 'string' || !/^\+?[0-9]{1,20}\*?$/.test(o.to))) throw new Error(`[${i}].to must be a short code or number of 1 to 20 digits, with a trailing * for a prefix`);
    if (o.keyword !== undefined && (typeof o.keyword !== 'string' || !/^[^\s]{1,32}$/u.test(o.keyword))) throw new Error(`[${i}].keyword must be one word of 1 to 32 characters`);
  });
}

function carriersFormat(v: unknown): void {
  const problems = carriersSchemaProblems(v);
  if (problems.length > 0) throw new Error(problems.map((p) => `${p.key}: ${p.message}`).join('; '));
}

/**
 * dispatch.unknownOutcome.<class>: what happens to a submit of that class whose
 * submit_sm_resp never came. `final` by default for every class (a resend may reach the
 * handset twice, so it is asked for, never assumed).
 */
function unknownOutcomeLeaves(cls: PolicyClass): convict.Schema<{ policy: 'final' | 'resubmit'; delaySec: number; maxResubmits: number }> {
  const env = `QASID_UNKNOWN_OUTCOME_${cls.toUpperCase()}`;
  return {
    policy: {
      doc: `A ${cls} submit that got no submit_sm_resp: 'final' watches it until validity + messages.receiptGraceSec and ends it unknown unless a late answer or a receipt settles it; 'resubmit' sends it again (the handset may get it twice) after delaySec, at most maxResubmits times, while enough validity is left.`,
      format: ['final', 'resubmit'],
      default: 'final',
      env,
    },
    delaySec: {
      doc: `How long after a ${cls} submit went unanswered it is sent again (policy resubmit), in seconds.`,
      format: intRange(1, 86_400),
      default: 30,
      env: `${env}_DELAY_SEC`,
    },
    maxResubmits: {
      doc: `Most times one ${cls} message is sent again after an unanswered submit (policy resubmit); then it is watched as unknown.`,
      format: intRange(1, 10),
      default: 1,
      env: `${env}_MAX_RESUBMITS`,
    },
  };
}

export const configSchema: convict.Schema<RawConfig> = {
  log: {
    level: {
      doc: 'Lowest level written to the log.',
      format: [...LOG_LEVELS],
      default: 'info',
      env: 'QASID_LOG_LEVEL',
    },
    pretty: {
      doc: 'Human-readable log lines instead of JSON (development only).',
      format: Boolean,
      default: false,
      env: 'QASID_LOG_PRETTY',
    },
  },
  redis: {
    url: {
      doc: 'Redis URL: redis://[user:password@]host:port/db, or rediss:// for TLS. Printed with its credentials masked.',
      format: redisUrl,
      default: 'redis://127.0.0.1:6379',
      env: 'QASID_REDIS_URL',
      sensitive: true,
    },
    prefix: {
      doc: 'Prefix of every Redis key and stream Qasid uses, e.g. qasid -> qasid:mt.',
      format: redisPrefix,
      default: 'qasid',
      env: 'QASID_REDIS_PREFIX',
    },
    tls: {
      caFile: {
        doc: 'PEM file of the CA(s) that sign the Redis server certificate (a private CA); empty = the system CAs. Only with a rediss:// redis.url.',
        format: maxLen(4096),
        default: '',
        env: 'QASID_REDIS_TLS_CA_FILE',
      },
      certFile: {
        doc: 'PEM client certificate, for a Redis that demands one (tls-auth-clients); empty = none. Needs redis.tls.keyFile.',
        format: maxLen(4096),
        default: '',
        env: 'QASID_REDIS_TLS_CERT_FILE',
      },
      keyFile: {
        doc: 'PEM private key of redis.tls.certFile.',
        format: maxLen(4096),
        default: '',
        env: 'QASID_REDIS_TLS_KEY_FILE',
        sensitive: true,
      },
      servername: {
        doc: "Name the Redis server certificate must carry, also sent as SNI; empty = the host each connection dials: redis.url's, or with Sentinel or Cluster each sentinel's and node's (as configured, or as Redis announces it). Set, it is checked on every connection.",
        format: maxLen(255),
        default: '',
        env: 'QASID_REDIS_TLS_SERVERNAME',
      },
      rejectUnauthorized: {
        doc: 'Verify the Redis server certificate (CA and name). Keep it on: off, anyone on the path can read and change what Qasid stores.',
        format: Boolean,
        default: true,
        env: 'QASID_REDIS_TLS_REJECT_UNAUTHORIZED',
      },
    },
    sentinels: {
      doc: "Redis Sentinel: the sentinels to ask for the current master, as host:port (env: comma-separated or a JSON array); empty = no Sentinel. With them, redis.url's host and port are not used: its user, password and db are the master's, rediss:// with redis.tls applies to the master and the sentinels alike. Not with redis.cluster.nodes.",
      format: hostPortList(32),
      default: [],
      env: 'QASID_REDIS_SENTINELS',
    },
    sentinelName: {
      doc: 'The master name the sentinels monitor (their `sentinel monitor <name> ...`); required with redis.sentinels.',
      format: maxLen(128),
      default: '',
      env: 'QASID_REDIS_SENTINEL_NAME',
    },
    sentinelPassword: {
      doc: "Password of the sentinels themselves (their requirepass), when they have one; empty = none. The master's password is redis.url's. Printed masked.",
      format: maxLen(1024),
      default: '',
      env: 'QASID_REDIS_SENTINEL_PASSWORD',
      sensitive: true,
    },
    cluster: {
      nodes: {
        doc: "Redis Cluster: some of its nodes as host:port, from which the others are discovered (env: comma-separated or a JSON array); empty = no Cluster. With them, redis.url's host and port are not used: its user and password are every node's, its db must be 0 (a cluster has no other), rediss:// with redis.tls applies to every node. Not with redis.sentinels.",
        format: hostPortList(64),
        default: [],
        env: 'QASID_REDIS_CLUSTER_NODES',
      },
    },
    waitReplicas: {
      doc: "Before Qasid acknowledges what it was handed — a receipt or MO (deliver_sm_resp), an intake entry (XACK) — it asks Redis to WAIT until this many replicas have its writes, so a failover to a replica loses nothing it acknowledged. -1 = 1 with redis.sentinels, else 0 (off). Never more than the master has connected (right after a failover it has none). Not with redis.cluster (WAIT is per node). Replication stays asynchronous: WAIT narrows the window, it cannot close it.",
      format: intRange(-1, 16),
      default: -1,
      env: 'QASID_REDIS_WAIT_REPLICAS',
    },
    waitTimeoutMs: {
      doc: 'Longest one WAIT for redis.waitReplicas takes, in ms; past it Qasid acknowledges anyway and logs redis.replica_lag (availability before durability while a replica is down).',
      format: intRange(1, 60_000),
      default: 1_000,
      env: 'QASID_REDIS_WAIT_TIMEOUT_MS',
    },
  },
  shutdown: {
    drainMs: {
      doc: 'At stop: how long in-flight messages may take to finish (responses, receipts recorded) before the links unbind, in ms.',
      format: intRange(0, 600_000),
      default: 10_000,
      env: 'QASID_SHUTDOWN_DRAIN_MS',
    },
    forceExitMs: {
      doc: 'At stop: exit anyway after this many ms, whatever is still running. Must exceed shutdown.drainMs.',
      format: intRange(1, 600_000),
      default: 30_000,
      env: 'QASID_SHUTDOWN_FORCE_EXIT_MS',
    },
  },
  intake: {
    group: {
      doc: 'Consumer group every Qasid instance reads the intake stream (<prefix>:mt) with.',
      format: nonEmpty(64),
      default: 'qasid',
      env: 'QASID_INTAKE_GROUP',
    },
    consumer: {
      doc: 'This instance\'s consumer name in the group; empty = the host name, so a restarted instance resumes its own pending entries at once. Two live instances may not share a name: the second waits out intake.leaseMs, then refuses to start (exit 3).',
      format: maxLen(64),
      default: '',
      env: 'QASID_INTAKE_CONSUMER',
    },
    shards: {
      doc: 'Intake streams the intake is spread over. 1 = the one stream <prefix>:mt. K > 1 = <prefix>:mt:{<prefix>:<i>-<n>} for i = 0 … K-1, each in its own part of the slots of a Redis Cluster (and the records, due and watch sets of its messages in the same slot), so K shards spread the message path over the masters; a writer picks the shard from the client id (QasidClient and qasid send do), and every instance reads every shard. Fixed for a Redis dataset: a start with another count is refused while the old shards hold work.',
      format: intRange(1, 64),
      default: 1,
      env: 'QASID_INTAKE_SHARDS',
    },
    batch: {
      doc: 'Most entries read from the intake stream in one XREADGROUP; fewer when the carriers have less room.',
      format: intRange(1, 10_000),
      default: 200,
      env: 'QASID_INTAKE_BATCH',
    },
    blockMs: {
      doc: 'How long one XREADGROUP waits for new entries, in ms.',
      format: intRange(10, 60_000),
      default: 1_000,
      env: 'QASID_INTAKE_BLOCK_MS',
    },
    leaseMs: {
      doc: 'Each instance holds a lease on its consumer name in Redis, renewed every third of this (ms). An instance whose lease ran out is dead: the others take over its pending entries at once, in batches as room allows.',
      format: intRange(1_000, 600_000),
      default: 10_000,
      env: 'QASID_INTAKE_LEASE_MS',
    },
    claimIdleMs: {
      doc: 'Entries pending this long on a consumer that never held a lease (an older version, or a client reading the group itself) are taken over, in ms. Consumers with a lease are judged by intake.leaseMs instead.',
      format: intRange(1_000, 86_400_000),
      default: 60_000,
      env: 'QASID_INTAKE_CLAIM_IDLE_MS',
    },
    maxEntryBytes: {
      doc: 'An intake entry larger than this is dead-lettered as oversized.',
      format: intRange(256, 1_048_576),
      default: 16_384,
      env: 'QASID_INTAKE_MAX_ENTRY_BYTES',
    },
  },
  scale: {
    bindLeaseMs: {
      doc: 'A carrier\'s sessions are a total across instances: each instance leases its bind slots in Redis for this long (ms), renewed every third of it. A dead instance\'s slots go to the others once its lease runs out; an instance that cannot renew unbinds at 80 % of it.',
      format: intRange(1_000, 600_000),
      default: 10_000,
      env: 'QASID_SCALE_BIND_LEASE_MS',
    },
    rateSliceMs: {
      doc: 'A carrier\'s tps is a total across instances: each instance draws the carrier\'s send time from Redis in grants of this many ms (one round trip per grant, none per message). Shorter follows a joining or dying instance faster; longer costs fewer Redis calls.',
      format: intRange(20, 2_000),
      default: 100,
      env: 'QASID_SCALE_RATE_SLICE_MS',
    },
  },
  outputs: {
    maxLen: {
      doc: 'Approximate cap on entries kept in each output stream (events, mo and each routed MO stream, dead), trimmed with XADD MAXLEN ~.',
      format: intRange(1_000, 1_000_000_000),
      default: 10_000_000,
      env: 'QASID_OUTPUTS_MAX_LEN',
    },
  },
  mo: {
    reassemblySec: {
      doc: 'How long the parts of a long MO (UDH or SAR numbered) wait for the rest, in seconds, from its first part; then the parts held go out as one entry with partial: true.',
      format: intRange(1, 3_600),
      default: 60,
      env: 'QASID_MO_REASSEMBLY_SEC',
    },
    routes: {
      doc: 'MO routing: [{ "to": "8555" (a destination; "92300*" for a prefix), "keyword": "JOIN" (the first word, case-insensitive), "stream": "acme" }], tried in order, the first match wins; a rule needs to, keyword or both. A match goes to <prefix>:mo:<stream>, anything else to <prefix>:mo.',
      format: moRoutesFormat,
      default: [],
      env: 'QASID_MO_ROUTES',
    },
  },
  numbers: {
    defaultRegion: {
      doc: 'ISO 3166 region used to read destination numbers written without a country code (03001234567 in PK).',
      format: (v: unknown) => {
        if (typeof v !== 'string' || !/^[A-Z]{2}$/.test(v)) throw new Error('must be a two-letter ISO 3166 region such as PK');
      },
      default: 'PK',
      env: 'QASID_DEFAULT_REGION',
    },
  },
  routes: {
    file: {
      doc: 'Route table (JSON, config/routes.schema.json). Empty: every message goes to the first carrier, then the others in order.',
      format: maxLen(4096),
      default: '',
      env: 'QASID_ROUTES_FILE',
    },
  },
  messages: {
    defaultValiditySec: {
      doc: 'Validity of a message that does not give its own, in seconds.',
      format: intRange(30, 604_800),
      default: 86_400,
      env: 'QASID_DEFAULT_VALIDITY_SEC',
    },
    receiptGraceSec: {
      doc: 'After a message\'s validity ends, how long to wait for its receipt before it ends expired (or unknown), in seconds.',
      format: intRange(0, 604_800),
      default: 3_600,
      env: 'QASID_RECEIPT_GRACE_SEC',
    },
    maxParts: {
      doc: 'Longest message accepted, in SMS parts; longer ones end rejected with reason too_long.',
      format: intRange(1, 255),
      default: 10,
      env: 'QASID_MAX_PARTS',
    },
    mappingTtlSec: {
      doc: 'Floor on how long a carrier message id -> message mapping (and a parked early receipt) is kept, in seconds; the mapping lives at least validity + grace.',
      format: intRange(60, 2_592_000),
      default: 3_600,
      env: 'QASID_MAPPING_TTL_SEC',
    },
    maxScheduleSec: {
      doc: 'Furthest ahead a message may be scheduled with sendAt, in seconds; further ends rejected with reason schedule_too_far (a message held for ever would outlive every retention promise).',
      format: intRange(60, 31_536_000),
      default: 2_592_000,
      env: 'QASID_MAX_SCHEDULE_SEC',
    },
  },
  dispatch: {
    maxInFlight: {
      doc: 'Most messages held in memory at once (read, not yet settled). Bounds memory and GC work; the backlog stays in Redis. Keep it above the sum of every carrier\'s window × sessions, with room for a few hundred more on their way through Redis.',
      format: intRange(1, 1_000_000),
      default: 1_000,
      env: 'QASID_DISPATCH_MAX_IN_FLIGHT',
    },
    retryScheduleMs: {
      doc: 'Delays before each retry after a temporary carrier error, in ms (±10 % jitter); after the last, the message fails. Throttling answers never spend a retry.',
      format: (v: unknown) => {
        if (!Array.isArray(v) || v.length === 0 || v.length > 50 || !v.every((x) => Number.isInteger(x) && x >= 10 && x <= 86_400_000)) {
          throw new Error('must be a list of 1 to 50 delays, each an integer from 10 to 86400000 ms');
        }
      },
      default: [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000],
      env: 'QASID_RETRY_SCHEDULE_MS',
    },
    carrierWaitMs: {
      doc: 'Most messages one carrier may have waiting in memory for a token or a window slot, as ms of its tps (at least its window × sessions); more are put back in the due set for when it can take them, so a slow carrier never fills maxInFlight and holds up the others.',
      format: intRange(100, 600_000),
      default: 2_000,
      env: 'QASID_DISPATCH_CARRIER_WAIT_MS',
    },
    pollMs: {
      doc: 'How often due retries/scheduled messages and overdue receipts are checked, in ms.',
      format: intRange(10, 60_000),
      default: 250,
      env: 'QASID_DISPATCH_POLL_MS',
    },
    unknownOutcome: {
      otp: unknownOutcomeLeaves('otp'),
      transactional: unknownOutcomeLeaves('transactional'),
      marketing: unknownOutcomeLeaves('marketing'),
    },
  },
  admin: {
    host: {
      doc: 'Interface the admin HTTP server (health, metrics, admin API) listens on. Loopback by default; see admin.tls for HTTPS.',
      format: nonEmpty(255),
      default: '127.0.0.1',
      env: 'QASID_ADMIN_HOST',
    },
    port: {
      doc: 'Port of the admin HTTP server; 0 picks a free one.',
      format: intRange(0, 65_535),
      default: 9464,
      env: 'QASID_ADMIN_PORT',
    },
    tls: {
      certFile: {
        doc: 'PEM certificate for HTTPS on the admin server; empty = plain HTTP. Needs admin.tls.keyFile.',
        format: maxLen(4096),
        default: '',
        env: 'QASID_ADMIN_TLS_CERT_FILE',
      },
      keyFile: {
        doc: 'PEM private key for admin.tls.certFile.',
        format: maxLen(4096),
        default: '',
        env: 'QASID_ADMIN_TLS_KEY_FILE',
        sensitive: true,
      },
    },
    tokens: {
      doc: 'Admin API bearer tokens, stored hashed: [{ "id": "alice", "sha256": "<hex sha256 of the token>", "role": "viewer|operator|admin" }]. Make one with `qasid token new ROLE`.',
      format: (v: unknown) => {
        if (!Array.isArray(v)) throw new Error('must be a list of { id, sha256, role }');
        const ids = new Set<string>();
        v.forEach((t: unknown, i) => {
          const o = t as Record<string, unknown>;
          if (typeof o !== 'object' || o === null) throw new Error(`[${i}] must be an object`);
          if (typeof o.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(o.id)) throw new Error(`[${i}].id must be 1-64 of A-Z a-z 0-9 . _ -`);
          if (ids.has(o.id)) throw new Error(`[${i}].id "${o.id}" is used twice`);
          ids.add(o.id);
          if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) throw new Error(`[${i}].sha256 must be 64 lowercase hex digits (the SHA-256 of the token, never the token)`);
          if (o.role !== 'viewer' && o.role !== 'operator' && o.role !== 'admin') throw new Error(`[${i}].role must be viewer, operator or admin`);
          const extra = Object.keys(o).filter((k) => k !== 'id' && k !== 'sha256' && k !== 'role');
          if (extra.length > 0) throw new Error(`[${i}] has unknown key ${extra[0] as string}`);
        });
      },
      default: [],
      env: 'QASID_ADMIN_TOKENS',
      sensitive: true,
    },
    allowList: {
      doc: 'Addresses or CIDR ranges allowed to reach the admin server, judged on the socket address (or X-Forwarded-For from a trusted proxy).',
      format: stringList(64),
      default: ['127.0.0.1/32', '::1/128'],
      env: 'QASID_ADMIN_ALLOW',
    },
    trustedProxies: {
      doc: 'Proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed; from anyone else the header is ignored.',
      format: stringList(64),
      default: [],
      env: 'QASID_ADMIN_TRUSTED_PROXIES',
    },
    rateLimitPerMinute: {
      perIp: {
        doc: 'Admin requests per minute from one client address; beyond, 429 with Retry-After.',
        format: intRange(1, 1_000_000),
        default: 600,
        env: 'QASID_ADMIN_RATE_PER_IP',
      },
      perToken: {
        doc: 'Admin requests per minute with one token; beyond, 429 with Retry-After.',
        format: intRange(1, 1_000_000),
        default: 600,
        env: 'QASID_ADMIN_RATE_PER_TOKEN',
      },
    },
    accessLog: {
      probes: {
        doc: 'Write /livez, /readyz and /metrics requests to the admin access log (<prefix>:access) too. Off by default: a kubelet and Prometheus call them every few seconds and would bury the requests people make. Denied probes are written either way.',
        format: Boolean,
        default: false,
        env: 'QASID_ADMIN_ACCESS_LOG_PROBES',
      },
    },
    auditHeadSec: {
      doc: 'How often the audit chain\'s head (its newest entry\'s id and hash) is written to the log as `audit.head` when it moved, in seconds. Ship the log off the host: `qasid audit verify --head <id>:<hash>` checks that the stream still reaches a head the log recorded, which finds a cut of the newest entries even when the head key in Redis was rewritten with it.',
      format: intRange(1, 86_400),
      default: 60,
      env: 'QASID_ADMIN_AUDIT_HEAD_SEC',
    },
    revocationPollSec: {
      doc: 'How often the list of revoked admin tokens (`qasid token revoke`, <prefix>:admin:revoked) is read again, in seconds: a revoked token is refused by every instance within this long.',
      format: intRange(1, 3600),
      default: 5,
      env: 'QASID_ADMIN_REVOCATION_POLL_SEC',
    },
  },
  privacy: {
    keyring: {
      doc: 'Encryption keys for message text and numbers held in Redis, as JSON {"current":"k2","keys":{"k1":"<base64 32 bytes>","k2":"…"}}; `current` is the write key, all stay readable. Make one with `qasid keys new`. Required by `qasid run` (this or privacy.keyringFile).',
      format: maxLen(65_536),
      default: '',
      env: 'QASID_KEYRING',
      sensitive: true,
    },
    keyringFile: {
      doc: 'File holding the privacy.keyring JSON (e.g. a mounted secret); re-read on SIGHUP.',
      format: maxLen(4096),
      default: '',
      env: 'QASID_KEYRING_FILE',
    },
    hashKeyring: {
      doc: 'Secrets for the keyed hashes (HMAC-SHA256) that stand for a subscriber in logs, opt-out lists and caps; same JSON shape as privacy.keyring, different keys. Required by `qasid run` (this or privacy.hashKeyringFile).',
      format: maxLen(65_536),
      default: '',
      env: 'QASID_HASH_KEYRING',
      sensitive: true,
    },
    hashKeyringFile: {
      doc: 'File holding the privacy.hashKeyring JSON; re-read on SIGHUP.',
      format: maxLen(4096),
      default: '',
      env: 'QASID_HASH_KEYRING_FILE',
    },
  },
  policy: {
    stopKeywords: {
      doc: 'MO texts that opt the sender out of the short code they were sent to (case-, space- and punctuation-insensitive). Empty: the built-in list (STOP, UNSUB, UNREG, Roman-Urdu and Urdu variants).',
      format: stringList(200),
      default: [],
      env: 'QASID_STOP_KEYWORDS',
    },
    startKeywords: {
      doc: 'MO texts that undo an opt-out (START, REG, …). Empty: the built-in list.',
      format: stringList(200),
      default: [],
      env: 'QASID_START_KEYWORDS',
    },
    transactionalHonoursStop: {
      doc: "OTP and transactional messages honour the subscriber's STOP to that sender (which classes the do-not-contact list holds back is policy.dnc.classes).",
      format: Boolean,
      default: true,
      env: 'QASID_TRANSACTIONAL_HONOURS_STOP',
    },
    marketingNeedsConsent: {
      doc: "Marketing messages need a consent reference (the message's `consent` field) or the subscriber in the tenant's opt-in list; else they end blocked with reason no_consent.",
      format: Boolean,
      default: true,
      env: 'QASID_MARKETING_NEEDS_CONSENT',
    },
    quietHours: {
      start: { doc: 'Marketing quiet hours start (local HH:MM). Marketing messages in the window are deferred to its end. start = end turns quiet hours off.', format: hhmm, default: '21:00', env: 'QASID_QUIET_START' },
      end: { doc: 'Marketing quiet hours end (local HH:MM).', format: hhmm, default: '09:00', env: 'QASID_QUIET_END' },
      timeZone: { doc: 'IANA time zone of the quiet hours.', format: nonEmpty(64), default: 'Asia/Karachi', env: 'QASID_QUIET_TZ' },
      jitterSec: { doc: 'Deferred marketing is spread over this many seconds after the window ends, so the opening is not a burst.', format: intRange(0, 3_600), default: 600, env: 'QASID_QUIET_JITTER_SEC' },
    },
    caps: {
      marketing: {
        doc: 'Frequency caps of marketing per subscriber: a list of sliding windows [{ "limit": 150, "windowSec": 900 }, { "limit": 1000, "windowSec": 86400 }]; the message that would go over any of them ends blocked frequency_cap. [] = no cap. The older single window { "limit", "windowSec" } is still read (limit 0 = no cap).',
        format: capWindows,
        default: DEFAULT_CAPS.marketing,
        env: capsEnv('marketing'),
      },
      otp: { doc: 'Frequency caps of OTP per subscriber, as policy.caps.marketing.', format: capWindows, default: DEFAULT_CAPS.otp, env: capsEnv('otp') },
      transactional: { doc: 'Frequency caps of transactional messages per subscriber, as policy.caps.marketing.', format: capWindows, default: DEFAULT_CAPS.transactional, env: capsEnv('transactional') },
    },
    dnc: {
      classes: {
        doc: 'The classes the do-not-contact list (qasid dnc import) applies to: a message of one of them to a listed number ends blocked dnc. Marketing only by default ("no promotional messages"); add otp or transactional to hold those back too.',
        format: dncClasses,
        default: ['marketing'],
        env: 'QASID_DNC_CLASSES',
      },
    },
    footer: {
      doc: 'Opt-out footer appended to marketing text (on a new line, before segmenting) when the text does not already contain it. Empty: none.',
      format: maxLen(160),
      default: 'Reply STOP to opt out',
      env: 'QASID_MARKETING_FOOTER',
    },
    tenants: {
      doc: 'Per-tenant overrides: [{ "tenant": "acme", "quietHours": {"start":"22:00","end":"08:00","timeZone":"Asia/Karachi"} or null for none, "footer": "STOP bhejein 8555", "senders": ["ACME", "8555"] (the sender ids it may use: others end blocked sender_not_allowed), "caps": { "marketing": [{ "limit": 2, "windowSec": 86400 }] } (windows counting only this tenant\'s messages, on top of policy.caps) }].',
      format: tenantPolicies,
      default: [],
      env: 'QASID_TENANT_POLICIES',
    },
  },
  retention: {
    recordsSec: {
      doc: 'How long a message record (and its encrypted text and number) is kept after its validity and receipt grace have passed, in seconds.',
      format: intRange(60, 31_536_000),
      default: 86_400,
      env: 'QASID_RETAIN_RECORDS_SEC',
    },
    eventsSec: { doc: 'Events stream entries older than this are trimmed, in seconds.', format: intRange(60, 31_536_000), default: 604_800, env: 'QASID_RETAIN_EVENTS_SEC' },
    moSec: { doc: 'MO stream entries older than this are trimmed, in seconds.', format: intRange(60, 31_536_000), default: 604_800, env: 'QASID_RETAIN_MO_SEC' },
    deadSec: { doc: 'Dead-letter stream entries older than this are trimmed, in seconds.', format: intRange(60, 31_536_000), default: 2_592_000, env: 'QASID_RETAIN_DEAD_SEC' },
    auditSec: { doc: 'Audit stream entries older than this are trimmed, in seconds; 0 keeps them for ever. `qasid audit verify` checks the chain from the oldest entry kept.', format: intRange(0, 315_360_000), default: 0, env: 'QASID_RETAIN_AUDIT_SEC' },
    accessSec: { doc: 'Admin access log entries (<prefix>:access) older than this are trimmed, in seconds.', format: intRange(60, 31_536_000), default: 604_800, env: 'QASID_RETAIN_ACCESS_SEC' },
    sweepSec: { doc: 'How often the retention sweeper trims the streams, in seconds.', format: intRange(1, 86_400), default: 60, env: 'QASID_RETENTION_SWEEP_SEC' },
  },
  carriers: {
    doc: 'The SMSCs to bind to: a JSON array validated by config/carrier.schema.json, then by cross-field rules. Sensitive because passwords may be inline.',
    format: carriersFormat,
    default: [],
    env: 'QASID_CARRIERS',
    sensitive: true,
  },
};

export type LeafKind = 'boolean' | 'number' | 'string' | 'array';

export interface SchemaLeaf {
  /** Dotted key, e.g. `redis.url`. */
  key: string;
  kind: LeafKind;
  env?: string;
  sensitive: boolean;
  doc: string;
}

/** Every leaf of a convict schema definition (a node with a `default` is a leaf). */
export function schemaLeaves(def: object = configSchema, prefix = ''): SchemaLeaf[] {
  const out: SchemaLeaf[] = [];
  for (const [name, node] of Object.entries(def as Record<string, unknown>)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    const obj = node as Record<string, unknown>;
    if (!('default' in obj)) {
      out.push(...schemaLeaves(obj, key));
      continue;
    }
    const d = obj['default'];
    const kind: LeafKind = Array.isArray(d) ? 'array' : typeof d === 'boolean' ? 'boolean' : typeof d === 'number' ? 'number' : 'string';
    const leaf: SchemaLeaf = { key, kind, sensitive: obj['sensitive'] === true, doc: String(obj['doc'] ?? '') };
    if (typeof obj['env'] === 'string') leaf.env = obj['env'];
    out.push(leaf);
  }
  return out;
}
