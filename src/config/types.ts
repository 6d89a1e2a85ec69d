/**
 * The typed, validated, frozen configuration the rest of Qasid receives. Only
 * src/app.ts hands slices of it to modules; modules never read config themselves.
 */
import type { Secret } from '../core/secret.js';
import type { CapWindow, PolicyClass } from './caps.js';

export type { CapWindow, PolicyClass } from './caps.js';

export type BindMode = 'trx' | 'tx+rx';
/** How a carrier writes message ids: in submit_sm_resp and in receipts they may differ. */
export type MessageIdFormat = 'hex' | 'decimal' | 'verbatim';
export type ReceiptPart = 'all' | 'first' | 'last';
export type ConcatMethod = 'udh8' | 'udh16' | 'sar' | 'payload';
/**
 * How submit_sm carries the message's validity to the carrier (SMPP 3.4 §7.1.1):
 * relative to the SMSC's clock, absolute in UTC, or not at all (the SMSC's default applies).
 */
export type ValidityFormat = 'relative' | 'absolute' | 'none';
/** A carrier's circuit breaker (dispatch/breaker.ts). */
export interface BreakerConfig {
  enabled: boolean;
  windowSec: number;
  minSubmits: number;
  errorShare: number;
  coolDownSec: number;
  probes: number;
}

/** What a submit error means: retry on this carrier, move to the route's next carrier now, slow down, or give up. */
export type SubmitErrorAction = 'retry' | 'failover' | 'slowdown' | 'fail';

/** Every SMPP timer, in milliseconds. */
export interface SmppTimers {
  /** TCP (and TLS handshake) connect deadline. */
  connectMs: number;
  /** Deadline for bind_*_resp after the bind request is written. */
  bindMs: number;
  /** Deadline for the response to any other request (submit_sm, enquire_link, ...). */
  responseMs: number;
  /** Send enquire_link when nothing was sent or received for this long. */
  enquireLinkMs: number;
  /** Drop the connection when nothing at all was received for this long. */
  inactivityMs: number;
  /** At stop: how long to wait for in-flight responses, then for unbind_resp. */
  unbindMs: number;
  /** How long a write may wait for the socket to drain before the session is recycled. */
  drainMs: number;
  /** Reconnect backoff: the shortest delay and the cap; reconnect n waits a random time in [min, min(max, min * 2^n)] (full jitter, the first included). */
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export interface CarrierTls {
  enabled: boolean;
  /** PEM file of the CA(s) that sign the SMSC certificate; system CAs when absent. */
  caFile?: string;
  /** SNI and the name the certificate must carry; defaults to host. */
  servername?: string;
  /** Verify the SMSC certificate. On by default; the `smpp` package turns it off. */
  rejectUnauthorized: boolean;
  /** Client certificate and key (PEM files), for carriers that demand mutual TLS. */
  certFile?: string;
  keyFile?: string;
}

export interface CarrierAddressing {
  sourceTon: number;
  sourceNpi: number;
  destTon: number;
  destNpi: number;
  /** address_range sent in bind (receivers); empty for most carriers. */
  addressRange: string;
  /** TON/NPI of an alphanumeric sender; absent = 5/0 (the schema's defaults). */
  alphanumericTon?: number;
  alphanumericNpi?: number;
  /** A numeric sender of at most this many digits is a short code (shortCodeTon/Npi); absent = 6. */
  shortCodeMaxDigits?: number;
  shortCodeTon?: number;
  shortCodeNpi?: number;
}

export interface CarrierConfig {
  /** Stable id used in routes, metrics labels and logs: lowercase letters, digits, '-', '_'. */
  id: string;
  host: string;
  port: number;
  tls: CarrierTls;
  systemId: string;
  password: Secret;
  systemType: string;
  /** 0x34 (SMPP 3.4) unless the carrier says 0x50. */
  interfaceVersion: number;
  bindMode: BindMode;
  /** Number of sessions (TRX) or of TX+RX pairs. */
  sessions: number;
  /** Unacknowledged requests allowed per session. */
  window: number;
  /** Messages per second across all of this carrier's sessions. */
  tps: number;
  timers: SmppTimers;
  addressing: CarrierAddressing;
  /**
   * Id formats: of submit_sm_resp, and of receipts — `receiptTlv` for receipted_message_id,
   * `receiptText` for the text's `id:`, each `receipt` unless configured.
   */
  messageIds: { submitResp: MessageIdFormat; receipt: MessageIdFormat; receiptTlv: MessageIdFormat; receiptText: MessageIdFormat };
  /** How long messages are split for this carrier. */
  concat: ConcatMethod;
  /** Which part of a long message asks for a delivery receipt. */
  receiptOnPart: ReceiptPart;
  /** validity_period format of submit_sm; absent = 'relative' (the schema's default, always set by the loader). */
  validityFormat?: ValidityFormat;
  /**
   * A message with less validity than this left when its first part would go ends
   * expired (validity_passed) instead, in seconds; absent = 10 (the schema's default).
   */
  minValiditySec?: number;
  /**
   * Per-status overrides of what a submit error means, keyed by status name (ESME_RSYSERR)
   * or hex value written 0x00000045; absent or missing a status = the SMPP 3.4 default
   * (smpp/status.ts).
   */
  submitErrors?: Readonly<Record<string, SubmitErrorAction>>;
  /** Temporary errors from this carrier before a message moves on to its route's next carrier; absent = 1. */
  failoverAfter?: number;
  /** This carrier's retry delays (ms); absent = dispatch.retryScheduleMs. */
  retryScheduleMs?: readonly number[];
  /** Its circuit breaker; absent = the schema's defaults (dispatch/breaker.ts DEFAULT_BREAKER). */
  breaker?: BreakerConfig;
  /** query_sm for accepted messages whose receipt did not come; absent = off. */
  querySm?: QuerySmConfig;
}

/**
 * query_sm (SMPP 3.4 §4.8) for a message the carrier accepted and sent no receipt for:
 * asked `delaySec` after acceptance (0: at the watch deadline), again `retrySec` after an
 * answer that is not final at the deadline, at most `maxQueries` times.
 */
export interface QuerySmConfig {
  enabled: boolean;
  delaySec: number;
  retrySec: number;
  maxQueries: number;
}

/**
 * What happens to a submit whose submit_sm_resp never came (its outcome `unknown`), per
 * message class: `final` watches it until validity + grace and ends it `unknown` unless a
 * late answer or receipt settles it; `resubmit` sends it again after `delaySec`, at most
 * `maxResubmits` times (a duplicate on the handset is possible).
 */
export interface UnknownOutcomePolicy {
  policy: 'final' | 'resubmit';
  delaySec: number;
  maxResubmits: number;
}

/** One MO routing rule (mo.routes): a destination (exact, or a prefix ending in '*'), a keyword, or both. */
export interface MoRoute {
  to?: string;
  keyword?: string;
  /** The stream's name: the MO goes to `<prefix>:mo:<stream>`. */
  stream: string;
}

/** Local-time window, HH:MM to HH:MM in an IANA zone; wraps midnight when start > end. */
export interface QuietHoursConfig {
  start: string;
  end: string;
  timeZone: string;
}

/** TLS settings for a rediss:// Redis URL; '' = not set. File paths are absolute. */
export interface RedisTls {
  /** PEM file of the CA(s) that sign the server certificate; the system CAs when ''. */
  caFile: string;
  /** Client certificate and its key (PEM files), for a Redis with tls-auth-clients; both or neither. */
  certFile: string;
  keyFile: string;
  /** The name the server certificate must carry, also sent as SNI; the URL's host when ''. */
  servername: string;
  /** Verify the server certificate (CA and name). */
  rejectUnauthorized: boolean;
}

/** One Redis node or sentinel, as `host:port` in the config file. */
export interface RedisNode {
  host: string;
  port: number;
}

/** Which Redis the daemon talks to: the one at redis.url, a master found through sentinels, or a cluster. */
export type RedisTopology = 'standalone' | 'sentinel' | 'cluster';

export interface QasidConfig {
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'; pretty: boolean };
  redis: {
    /** The standalone server; with sentinels or cluster nodes, only its scheme (TLS) and its user, password and db are used. */
    url: Secret;
    prefix: string;
    tls: RedisTls;
    /** Resolved from the keys below: sentinel when `sentinels` is non-empty, cluster when `cluster.nodes` is, else standalone. */
    topology: RedisTopology;
    /** The sentinels to ask for the master named `sentinelName`; empty unless topology is sentinel. */
    sentinels: readonly RedisNode[];
    sentinelName: string;
    /** The sentinels' own password (requirepass); '' = none. */
    sentinelPassword: Secret;
    /** Cluster nodes the others are discovered from; empty unless topology is cluster. */
    cluster: { nodes: readonly RedisNode[] };
    /** Resolved: replicas a WAIT asks for before an acknowledgement (0 = none; 1 by default with Sentinel). */
    waitReplicas: number;
    waitTimeoutMs: number;
  };
  intake: {
    group: string;
    /** Resolved: never empty (the host name when not configured). */
    consumer: string;
    /** Intake streams (shards); every instance reads each (queue/keys.ts). */
    shards: number;
    batch: number;
    blockMs: number;
    /** The consumer-name lease in Redis (ms): renewed every third of it; an instance whose lease ran out is dead. */
    leaseMs: number;
    claimIdleMs: number;
    maxEntryBytes: number;
  };
  outputs: { maxLen: number };
  /** MO: how long a long MO's parts wait for the rest, and the routing rules to named streams. */
  mo: { reassemblySec: number; routes: readonly MoRoute[] };
  numbers: { defaultRegion: string };
  /** Absolute path of the route table, or '' for the built-in default route. */
  routes: { file: string };
  messages: { defaultValiditySec: number; receiptGraceSec: number; maxParts: number; mappingTtlSec: number; maxScheduleSec: number };
  dispatch: { maxInFlight: number; carrierWaitMs: number; pollMs: number; retryScheduleMs: readonly number[]; unknownOutcome: Readonly<Record<PolicyClass, UnknownOutcomePolicy>> };
  admin: {
    host: string;
    port: number;
    /** Absolute paths, or '' for plain HTTP. */
    tls: { certFile: string; keyFile: string };
    /** Bearer tokens, hashed (SHA-256 hex), each with a role. */
    tokens: ReadonlyArray<{ id: string; sha256: string; role: 'viewer' | 'operator' | 'admin' }>;
    allowList: readonly string[];
    trustedProxies: readonly string[];
    rateLimitPerMinute: { perIp: number; perToken: number };
    /** `probes`: also write /livez, /readyz and /metrics to the access log. */
    accessLog: { probes: boolean };
    /** How often the audit chain's head is written to the log (`audit.head`) when it moved, in seconds. */
    auditHeadSec: number;
    /** How often the revoked-token list (`qasid token revoke`) is read again, in seconds. */
    revocationPollSec: number;
  };
  privacy: {
    /** Keyring JSON from config/env ('' when not set), or the absolute path of a file holding it. */
    keyring: Secret;
    keyringFile: string;
    hashKeyring: Secret;
    hashKeyringFile: string;
  };
  policy: {
    stopKeywords: readonly string[];
    startKeywords: readonly string[];
    transactionalHonoursStop: boolean;
    marketingNeedsConsent: boolean;
    quietHours: QuietHoursConfig & { jitterSec: number };
    /** Per class, the sliding windows of the per-subscriber frequency cap (none = no cap). */
    caps: Readonly<Record<PolicyClass, readonly CapWindow[]>>;
    /** The classes the do-not-contact list holds back. */
    dnc: { classes: readonly PolicyClass[] };
    footer: string;
    /**
     * Per-tenant overrides; `senders`: the sender ids a tenant may use (absent = any);
     * `caps`: windows counting only the tenant's own messages, on top of `caps`.
     */
    tenants: ReadonlyArray<{
      tenant: string;
      quietHours?: QuietHoursConfig | null;
      footer?: string;
      senders?: readonly string[];
      caps?: Readonly<Partial<Record<PolicyClass, readonly CapWindow[]>>>;
    }>;
  };
  retention: { recordsSec: number; eventsSec: number; moSec: number; deadSec: number; auditSec: number; accessSec: number; sweepSec: number };
  /** Several instances on one Redis: how they share each carrier's binds and rate. */
  scale: { bindLeaseMs: number; rateSliceMs: number };
  carriers: readonly CarrierConfig[];
  shutdown: {
    /** At stop: how long in-flight messages may take to finish before the links unbind, in ms. */
    drainMs: number;
    /** At stop: exit anyway after this many ms (an unref()'d timer); greater than drainMs. */
    forceExitMs: number;
  };
}
