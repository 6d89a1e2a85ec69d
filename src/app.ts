/**
 * The composition root: builds every long-lived component from the validated config,
 * starts them in dependency order (Redis, carrier links, dispatcher) and stops them in
 * reverse. The only place that hands config slices to modules.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import type { CarrierConfig, QasidConfig } from './config/types.js';
import { Secret } from './core/secret.js';
import { systemClock } from './core/clock.js';
import { QasidError, errorMessage, isQasidError } from './core/errors.js';
import { runAll, type Lifecycle } from './core/lifecycle.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { PacedGate } from './dispatch/gate.js';
import { ReceiptHandler } from './dlr/reconciler.js';
import { MoHandler } from './dlr/mo.js';
import { MoPartStore } from './dlr/mo-assembly.js';
import { compileMoRoutes } from './dlr/mo-routes.js';
import { MappingStore } from './dlr/mappings.js';
import type { Logger } from './log/logger.js';
import { IntakeReader } from './queue/intake.js';
import { claimShardCount } from './queue/shards.js';
import { CarrierControl } from './dispatch/carrier-control.js';
import { ConsumerLease } from './queue/ownership.js';
import { keysFor, type Keys } from './queue/keys.js';
import { Outputs, queuedAt } from './queue/outputs.js';
import { MessageStore } from './queue/store.js';
import { migrateKeys } from './queue/migrate.js';
import { tickScheduler } from './queue/batch.js';
import { ReplicaWait } from './queue/replica-wait.js';
import { SweepLease } from './queue/sweep-lease.js';
import { PortedTable } from './queue/ported.js';
import { redisFor } from './queue/redis-options.js';
import { compileRoutes, type CompiledRoutes } from './routing/index.js';
import { CarrierLink, type CarrierHealth } from './smpp/link.js';
import type { DeliverHandler, SessionObserver } from './smpp/session.js';
import { CarrierPacer, defaultMinTps } from './throttle/pacer.js';
import { BindSlots } from './throttle/bind-slots.js';
import { SharedRate } from './throttle/shared-rate.js';
import { AdminServer } from './admin/server.js';
import { AuditLog } from './admin/audit.js';
import { AuditHeadLog } from './admin/audit-head.js';
import { TokenRevocations } from './admin/revocations.js';
import { TokenStore } from './queue/tokens.js';
import { BreachScanner, senderTenants } from './privacy/breach.js';
import { AccessStream } from './queue/access.js';
import { Metrics } from './metrics/registry.js';
import { statusName } from './smpp/codec.js';
import { Vault, loadKeyring } from './privacy/vault.js';
import { SubscriberStore } from './privacy/subscribers.js';
import { ClassPolicy } from './privacy/policy.js';
import { DEFAULT_KEYWORDS, compileKeywords } from './privacy/keywords.js';
import { RetentionSweeper } from './privacy/retention.js';
import { SubjectRequests, choicesOf } from './privacy/subject.js';
import { normaliseMsisdn } from './routing/index.js';

/** How long start-up waits for Redis before giving up (exit code 4). */
const REDIS_START_TIMEOUT_MS = 10_000;

export interface AppOptions {
  config: QasidConfig;
  logger: Logger;
  /** Defaults to a fresh registry with process metrics. */
  metrics?: Metrics;
  /** Keys; by default loaded from config.privacy (a missing keyring is a config error). */
  vault?: Vault;
  /** The clock messages are judged by (validity, quiet hours, caps); tests move it. */
  now?: () => number;
  /**
   * Re-reads and validates the carriers where they came from (the config file, with every
   * check start-up makes): what reloadCarriers() applies. Throws CONFIG_INVALID with the
   * problems. Without it the carriers cannot be reloaded.
   */
  loadCarriers?: () => CarrierConfig[];
}

/** Session events into metrics. */
function sessionMetrics(m: Metrics): SessionObserver {
  return {
    onStateChange: (s, _from, to) => m.sessionChanged(s.carrier, s.id, to),
    onResponse: (s, command, status, latencyMs) => {
      if (command !== 'submit_sm') return;
      m.submits.inc({ carrier: s.carrier, status: statusName(status) });
      m.submitDuration.observe({ carrier: s.carrier }, latencyMs / 1000);
      // SMPP 3.4 §5.1.3: ESME_RTHROTTLED, ESME_RMSGQFUL.
      if (status === 0x58 || status === 0x14) m.throttled.inc({ carrier: s.carrier });
    },
    onTimeout: (s, command) => {
      if (command === 'submit_sm') m.submits.inc({ carrier: s.carrier, status: 'timeout' });
    },
    onClose: (s, code) => {
      if (code !== 'SMPP_STOPPING') m.reconnects.inc({ carrier: s.carrier, reason: code });
    },
    onPduFault: (s, fault) => m.pduFaults.inc({ carrier: s.carrier, reason: fault }),
  };
}

export class App implements Lifecycle {
  readonly name = 'qasid';
  readonly config: QasidConfig;
  readonly keys: Keys;
  readonly redis: Redis;
  readonly links: ReadonlyMap<string, CarrierLink>;
  private readonly linkMap: Map<string, CarrierLink>;
  /** The carrier reload under way (reloadCarriers runs one at a time). */
  private carrierReload: Promise<void> = Promise.resolve();
  /** Every carrier's settings, by id: one map every module reads, changed in place by reloadCarriers(). */
  private readonly carrierConfigs: Map<string, CarrierConfig>;
  /** The carrier ids, in config order (the MO sweep and carrier control read this very array). */
  private readonly carrierIds: string[];
  private readonly gates: Map<string, PacedGate>;
  /** Builds one carrier's link, gate, shared budget and bind slots into the maps (not started). */
  private readonly buildCarrier: (c: CarrierConfig) => void;
  readonly dispatcher: Dispatcher;
  readonly receipts: ReceiptHandler;
  /** MO messages: long ones reassembled, routed to their streams. */
  readonly mo: MoHandler;
  readonly metrics: Metrics;
  readonly admin: AdminServer;
  readonly vault: Vault;
  readonly subscribers: SubscriberStore;
  readonly audit: AuditLog;
  /** Writes the audit chain's head to the log (`audit.head`) at admin.auditHeadSec. */
  readonly auditHead: AuditHeadLog;
  /** Tokens revoked by `qasid token revoke`, read every admin.revocationPollSec. */
  readonly revocations: TokenRevocations;
  /** The breach report (`GET /breach/report`, `qasid breach report`). */
  readonly breach: BreachScanner;
  /** The admin access log (`<prefix>:access`). */
  readonly access: AccessStream;
  readonly subjects: SubjectRequests;
  /** Trims the streams by age; a test may sweep() at a moved time. */
  readonly retention: RetentionSweeper;
  private phase: 'starting' | 'ready' | 'draining' = 'starting';
  /** One connection per intake shard for its blocking reads. */
  private readonly blocking: readonly Redis[];
  /** Leases and shared budgets (bind slots, carrier rates): off the message path's pipeline. */
  private readonly control: Redis;
  private readonly bindSlots: Map<string, BindSlots>;
  private readonly sharedRates: Map<string, SharedRate>;
  private readonly lease: ConsumerLease;
  /** Pause and stop decisions, shared by every instance through Redis. */
  private readonly carrierControl: CarrierControl;
  private readonly tokens: TokenStore;
  private readonly stops: Array<readonly [string, () => Promise<void>]> = [];
  private stopPromise: Promise<void> | undefined;

  constructor(private readonly opts: AppOptions) {
    this.config = opts.config;
    const { config, logger } = opts;
    this.keys = keysFor(config.redis.prefix, config.intake.shards);
    // Standalone, Sentinel or Cluster (redis.*), with redis.tls, for each connection. The
    // blocking intake reads have their own: a Cluster client has one connection per node.
    // On a Redis Cluster, ioredis' auto-pipelining groups a script call by its first
    // argument, which for a batch script is its key count, not a key (so it lands in a
    // pipeline of the wrong node and fails): there the batchers alone do the batching,
    // and the turn's batches go out one order after the other (TickScheduler.sequential).
    const cluster = config.redis.topology === 'cluster';
    if (cluster) tickScheduler.sequential = true;
    const redisOpts = { lazyConnect: true, maxRetriesPerRequest: null, enableAutoPipelining: !cluster } as const;
    this.redis = redisFor(config.redis, { ...redisOpts, connectionName: 'qasid' });
    this.blocking = this.keys.intakeStreams.map((_, shard) => redisFor(config.redis, { lazyConnect: true, maxRetriesPerRequest: null, connectionName: shard === 0 ? 'qasid-intake' : `qasid-intake-${shard}` }));
    this.control = redisFor(config.redis, { lazyConnect: true, maxRetriesPerRequest: null, connectionName: 'qasid-control' });
    for (const r of [this.redis, ...this.blocking, this.control]) {
      r.on('error', (e: Error) => logger.warn({ event: 'redis.error', err: e.message }, 'redis connection error'));
    }
    const metrics = (this.metrics = opts.metrics ?? new Metrics());
    const vault = (this.vault = opts.vault ?? Vault.load(config.privacy));
    const now = opts.now ?? Date.now;
    const store = new MessageStore(this.redis, this.keys, vault);
    const ported = new PortedTable(this.redis, this.keys);
    const mappings = new MappingStore(this.redis, this.keys);
    this.subscribers = new SubscriberStore(this.redis, this.keys, vault, config.policy);
    const keywords = compileKeywords({
      stop: config.policy.stopKeywords.length > 0 ? config.policy.stopKeywords : DEFAULT_KEYWORDS.stop,
      start: config.policy.startKeywords.length > 0 ? config.policy.startKeywords : DEFAULT_KEYWORDS.start,
    });
    const moRouter = compileMoRoutes(config.mo.routes);
    const outputs = new Outputs(this.redis, this.keys, config.outputs.maxLen, vault, {
      onEvent: (e, entryId) => {
        metrics.events.inc({ status: e.status, final: String(e.final) });
        const queued = e.final ? queuedAt(entryId) : undefined;
        // Wall time against the XADD's: what the sender waited, whatever clock judges validity.
        if (queued !== undefined) metrics.messageLatency.observe({ carrier: e.carrier ?? 'none', status: e.status }, Math.max(0, Date.now() - queued) / 1000);
        if (e.status === 'deferred') metrics.deferred.inc({ reason: e.reason ?? 'unknown' });
        if (e.status === 'blocked') metrics.blocked.inc({ reason: e.reason ?? 'unknown' });
      },
      onDead: (reason) => metrics.deadLetters.inc({ reason }),
    }, moRouter.streams);
    const carriers = (this.carrierConfigs = new Map(config.carriers.map((c) => [c.id, c])));
    this.carrierIds = config.carriers.map((c) => c.id);
    this.mo = new MoHandler({
      outputs,
      parts: new MoPartStore(this.redis, this.keys),
      router: moRouter,
      vault,
      subscribers: this.subscribers,
      keywords,
      defaultRegion: config.numbers.defaultRegion,
      moRetentionMs: config.retention.moSec * 1000,
      reassemblyMs: config.mo.reassemblySec * 1000,
      carriers: this.carrierIds,
      logger,
      // One instance at a time writes the long MOs whose time ran out.
      lease: new SweepLease(this.control, { key: this.keys.sweepLease('mo-parts'), sweep: 'mo-parts', instance: config.intake.consumer, ttlMs: 30_000, logger }),
      metrics: {
        written: (carrier, status) => metrics.moWritten.inc({ carrier, status }),
        part: (carrier, status) => metrics.moParts.inc({ carrier, status }),
      },
      now,
    });
    this.receipts = new ReceiptHandler({
      store,
      mappings,
      outputs,
      carriers,
      logger,
      parkTtlMs: config.messages.mappingTtlSec * 1000,
      lateMappingTtlMs: Math.max(config.messages.mappingTtlSec, config.messages.defaultValiditySec + config.messages.receiptGraceSec) * 1000,
      mo: this.mo,
      now,
      metrics: {
        received: (carrier) => metrics.receiptsReceived.inc({ carrier }),
        matched: (carrier, state, latencyMs) => {
          metrics.receiptsMatched.inc({ carrier });
          metrics.receiptStates.inc({ carrier, state });
          if (latencyMs !== undefined) metrics.receiptLatency.observe({ carrier }, latencyMs / 1000);
        },
        unmatched: (carrier, reason) => metrics.receiptsUnmatched.inc({ carrier, reason }),
        parked: (carrier) => metrics.receiptsParked.inc({ carrier }),
      },
    });
    const observer = sessionMetrics(metrics);
    // A receipt or MO is answered only once it is on the replicas too (redis.waitReplicas).
    const replicas = new ReplicaWait(this.redis, config.redis.waitReplicas, config.redis.waitTimeoutMs, logger);
    const onDeliver: DeliverHandler = replicas.enabled
      ? async (pdu, session) => {
          const status = await this.receipts.onDeliver(pdu, session);
          await replicas.wait();
          return status;
        }
      : this.receipts.onDeliver;
    // The bind-slot leases are written on the control connection: WAIT there for them.
    const controlReplicas = new ReplicaWait(this.control, config.redis.waitReplicas, config.redis.waitTimeoutMs, logger);
    const links = (this.linkMap = new Map<string, CarrierLink>());
    this.links = links;
    this.sharedRates = new Map();
    this.gates = new Map();
    this.bindSlots = new Map();
    // A carrier's tps and sessions are totals across every instance on this Redis.
    this.buildCarrier = (c) => {
      const link = new CarrierLink({ carrier: c, logger, onDeliver, onLateResponse: this.receipts.onLateResponse, observer });
      const shared = new SharedRate(this.control, { key: this.keys.carrierRate(c.id), carrier: c.id, tps: c.tps, minTps: defaultMinTps(c.tps), sliceMs: config.scale.rateSliceMs, logger });
      links.set(c.id, link);
      this.sharedRates.set(c.id, shared);
      this.gates.set(c.id, new PacedGate(new CarrierPacer({ tps: c.tps, clock: systemClock }), shared));
      this.bindSlots.set(
        c.id,
        new BindSlots(this.control, {
          key: this.keys.bindSlots(c.id),
          carrier: c.id,
          instance: config.intake.consumer,
          slots: c.sessions,
          leaseMs: config.scale.bindLeaseMs,
          logger,
          apply: (held, abrupt) => link.hold(held, abrupt),
          ...(controlReplicas.enabled ? { replicas: controlReplicas } : {}),
        }),
      );
    };
    for (const c of config.carriers) this.buildCarrier(c);
    const gates = this.gates;
    const intakes = this.keys.intakeStreams.map(
      (stream, shard) =>
        new IntakeReader(
          this.blocking[shard] as Redis,
          this.redis,
          { stream, owners: this.keys.intakeOwnersOf(shard), shard },
          config.intake,
          (e, count) => logger.warn({ event: 'redis.error', err: errorMessage(e), entries: count, stream }, 'intake ack failed; the entries stay pending and will be resumed'),
          () => logger.warn({ event: 'intake.group_recreated', group: config.intake.group, stream }, 'the consumer group was missing (Redis restarted empty, or failed over to a replica without it); created again'),
          replicas,
        ),
    );
    const shardOwners = this.keys.intakeStreams.map((_, shard) => this.keys.intakeOwnersOf(shard));
    const lease = (this.lease = new ConsumerLease(this.redis, { keys: shardOwners, consumer: config.intake.consumer, leaseMs: config.intake.leaseMs, logger }));
    this.dispatcher = new Dispatcher({
      config,
      store,
      mappings,
      intakes,
      outputs,
      links: this.links,
      gates,
      routes: loadRoutes(config),
      portedOperator: (e164) => ported.operatorOf(e164),
      applyParked: (parked) => this.receipts.applyParked(parked),
      lease,
      hooks: {
        resubmit: (carrier, reason) => metrics.resubmits.inc({ carrier, reason }),
        queried: (carrier, state) => metrics.receiptQueries.inc({ carrier, state }),
        claimed: (count) => metrics.intakeClaimed.inc(count),
        breaker: (carrier, state) => metrics.breakerState.set({ carrier }, state === 'closed' ? 0 : state === 'open' ? 1 : 2),
      },
      vault,
      subscribers: this.subscribers,
      policy: new ClassPolicy(config.policy),
      logger,
      now,
    });
    // Every carrier's breaker series exists from the start (closed).
    for (const c of config.carriers) metrics.breakerState.set({ carrier: c.id }, 0);
    this.audit = new AuditLog(this.redis, this.keys.audit, { headKey: this.keys.auditHead, onWrite: (ok) => metrics.auditWrites.inc({ status: ok ? 'ok' : 'failed' }) });
    this.auditHead = new AuditHeadLog({ audit: this.audit, logger, intervalMs: config.admin.auditHeadSec * 1000 });
    const tokenStore = new TokenStore(this.control, this.keys);
    this.revocations = new TokenRevocations({ tokens: config.admin.tokens, read: () => tokenStore.revoked(), pollMs: config.admin.revocationPollSec * 1000, logger });
    this.tokens = tokenStore;
    this.breach = new BreachScanner({ redis: this.redis, keys: this.keys, vault, store, defaultRegion: config.numbers.defaultRegion, tenantsOf: senderTenants(config.policy.tenants), moStreams: moRouter.streams });
    const access = (this.access = new AccessStream(this.redis, this.keys.access, { maxLen: config.outputs.maxLen, logger }));
    const subs = this.subscribers;
    this.subjects = new SubjectRequests({ redis: this.redis, keys: this.keys, vault, store, subscribers: subs, outputs, intakeGroup: config.intake.group, defaultRegion: config.numbers.defaultRegion, now });
    this.retention = new RetentionSweeper(
      {
        trim: (stream, maxAgeMs, at) => (stream === 'access' ? access.trimByAge(maxAgeMs, at) : outputs.trimByAge(stream, maxAgeMs, at)),
        trimAudit: (maxAgeMs, at) => this.audit.trimOlderThan(maxAgeMs, at),
      },
      config.retention,
      logger,
      Date.now,
      // One instance at a time trims (2.5 passes: a dead holder's turn passes on within that).
      new SweepLease(this.control, { key: this.keys.sweepLease('retention'), sweep: 'retention', instance: config.intake.consumer, ttlMs: Math.ceil(config.retention.sweepSec * 2500), logger }),
    );
    metrics.attach({
      sessions: () => [...this.links.values()].flatMap((l) => l.health().sessions.map((s) => ({ carrier: s.carrier, session: s.id, inflight: s.inflight, windowSize: s.windowSize }))),
      carrierTps: () => [...gates].map(([carrier, g]) => ({ carrier, tps: g.pacer.state().currentTps })),
      binds: () => [...this.bindSlots].map(([carrier, b]) => ({ carrier, held: b.current.held.length, instances: b.current.members })),
      instance: () => config.intake.consumer,
      messagesInFlight: () => this.dispatcher.messagesInFlight,
      queue: async () => {
        // Summed over the shards; the oldest entry of any.
        const shards = await Promise.all(
          this.keys.intakeStreams.map((stream, shard) =>
            Promise.all([
              this.redis.xinfo('GROUPS', stream).catch(() => []),
              this.redis.zcard(this.keys.zset('due', shard)),
              // Handled entries are deleted, so the stream's first entry is the oldest unsettled one.
              this.redis.xrange(stream, '-', '+', 'COUNT', 1),
            ]),
          ),
        );
        let lag = 0;
        let pending = 0;
        let due = 0;
        let oldest: number | undefined;
        for (const [groups, d, first] of shards) {
          const g = (groups as unknown[][]).map(pairs).find((x) => x.name === config.intake.group);
          lag += Number(g?.lag ?? 0);
          pending += Number(g?.pending ?? 0);
          due += d;
          const at = queuedAt(first[0]?.[0]);
          if (at !== undefined && (oldest === undefined || at < oldest)) oldest = at;
        }
        return { lag, pending, oldestAgeSec: oldest === undefined ? 0 : Math.max(0, Date.now() - oldest) / 1000, due };
      },
    });
    this.carrierControl = new CarrierControl(this.control, {
      key: this.keys.carrierControl,
      carriers: this.carrierIds,
      logger,
      apply: async (id, state, was) => {
        if (state.paused !== was.paused) {
          if (state.paused) this.dispatcher.pauseCarrier(id);
          else this.dispatcher.resumeCarrier(id);
        }
        if (state.stopped === was.stopped) return;
        const slots = this.bindSlots.get(id) as BindSlots;
        if (state.stopped) {
          logger.warn({ event: 'carrier.binds_stopped', carrier: id }, 'carrier binds stopped by an operator (every instance); its slots are given back');
          await slots.stop();
        } else if (this.phase !== 'draining') {
          await slots.start();
          logger.info({ event: 'carrier.binds_started', carrier: id }, 'carrier binds started again by an operator');
        }
      },
    });
    this.admin = new AdminServer({
      host: config.admin.host,
      port: config.admin.port,
      logger,
      denied: (reason) => metrics.adminDenied.inc({ reason }),
      access: { record: (line) => access.record(line), probes: config.admin.accessLog.probes },
      tls: config.admin.tls.certFile === '' ? undefined : { cert: readFileSync(config.admin.tls.certFile), key: readFileSync(config.admin.tls.keyFile) },
      security: {
        tokens: config.admin.tokens,
        allowList: config.admin.allowList,
        trustedProxies: config.admin.trustedProxies,
        rateLimit: config.admin.rateLimitPerMinute,
        // Counted in Redis, so the limits hold across instances (rate-limiter-flexible).
        shared: { redis: this.redis, keyPrefix: `${config.redis.prefix}:adminrl` },
        isRevoked: (id) => this.revocations.has(id),
      },
      routes: {
        health: () => ({
          instance: config.intake.consumer,
          carriers: this.health(),
          paused: this.dispatcher.pausedCarriers,
          stopped: this.carrierControl.stopped,
          breakers: this.dispatcher.breakerStates(),
          binds: Object.fromEntries([...this.bindSlots].map(([id, b]) => [id, b.current])),
        }),
        pauseCarrier: (id) => this.carrierControl.set(id, { paused: true }),
        resumeCarrier: (id) => this.carrierControl.set(id, { paused: false }),
        stopCarrier: (id) => this.carrierControl.set(id, { stopped: true }),
        startCarrier: (id) => this.carrierControl.set(id, { stopped: false }),
        reloadRoutes: () => this.reloadRoutes(),
        ...(opts.loadCarriers === undefined ? {} : { reloadCarriers: () => this.reloadCarriers() }),
        audit: this.audit,
        breachReport: (q) => this.breach.report(q),
        subscribers: {
          normalise: (msisdn) => normaliseMsisdn(msisdn, config.numbers.defaultRegion),
          hash: (e164) => vault.hash(e164),
          lookup: async (e164) => ({ subscriber: vault.hash(e164), choices: choicesOf(await subs.choices(e164), await subs.dncGeneration(now())) }),
          export: (e164) => this.subjects.export(e164),
          erase: (e164) => this.subjects.erase(e164),
          optOut: (e164, scope) => subs.optOut(e164, scope, now()),
          removeOptOut: (e164, scope) => subs.optIn(e164, scope),
          consent: (e164, tenant) => subs.consent(e164, tenant, now()),
          withdrawConsent: (e164, tenant) => subs.withdrawConsent(e164, tenant),
        },
      },
      phase: () => this.phase,
      checks: () => ({
        redis: this.redis.status === 'ready',
        // An operator's stop of every carrier is not a fault of this instance.
        carrier: [...this.links.values()].some((l) => l.isUp()) || (this.links.size > 0 && this.carrierControl.stopped.length === this.links.size),
        intake: this.dispatcher.intakeReadable,
      }),
      metrics: async () => ({ body: await metrics.render(), contentType: metrics.contentType }),
    });
  }

  async start(): Promise<void> {
    const log = this.opts.logger;
    log.info({ event: 'process.start', carriers: this.links.size }, 'starting');
    // First up, last down: /readyz answers 503 while starting and while draining.
    await this.admin.start();
    this.stops.push(['admin', () => this.admin.stop()]);
    // ioredis retries for ever; at start-up an unreachable Redis is a fault to report.
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          await Promise.all([this.redis.connect(), ...this.blocking.map((b) => b.connect()), this.control.connect()]);
          await this.redis.ping();
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_START_TIMEOUT_MS} ms`)), REDIS_START_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      this.redis.disconnect();
      for (const b of this.blocking) b.disconnect();
      this.control.disconnect();
      throw new QasidError('REDIS_UNAVAILABLE', `cannot reach Redis: ${errorMessage(e)}`, {}, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    this.stops.push(['redis', async () => void (await Promise.allSettled([this.redis.quit(), ...this.blocking.map((b) => b.quit()), this.control.quit()]))]);
    // Before anything reads a record or a schedule: keys of an older layout move first.
    const moved = await migrateKeys(this.redis, this.config.redis.prefix, this.keys);
    if (moved && Object.values(moved).some((n) => n > 0)) log.warn({ event: 'redis.keys_migrated', ...moved }, 'moved keys of an older layout to the current one');
    // Records live in the slot of their shard: a dataset keeps the shard count it has work under.
    const replaced = await claimShardCount(this.redis, this.config.redis.prefix, this.keys);
    if (replaced !== undefined) log.warn({ event: 'intake.shards_changed', from: replaced, to: this.keys.shards }, 'intake shard count changed (the old shards held no work)');
    // Revoked tokens are known before any token is let in (admin.ts refuses all until then).
    await this.revocations.start();
    this.stops.push(['admin-revocations', () => this.revocations.stop()]);
    await this.auditHead.start();
    this.stops.push(['audit-head', () => this.auditHead.stop()]);
    await this.auditTokenChanges();
    // Denials held for their summary are audited while Redis is still there (the admin
    // server itself stops last, so /readyz can say "draining").
    this.stops.push(['admin-denials', () => this.admin.denials.flush()]);
    // The access lines of requests answered until now; later ones (probes while draining,
    // mostly) would find the connection closed and are not written.
    this.stops.push(['admin-access', () => this.access.stop()]);
    await this.retention.start();
    this.stops.push(['retention', () => this.retention.stop()]);
    // The receipt handler's parked-receipt sweep and the long-MO sweep end before Redis closes.
    this.stops.push(['receipts', async () => this.receipts.stop()]);
    await this.mo.start();
    this.stops.push(['mo', () => this.mo.stop()]);
    // The consumer name is this instance's identity (bind slots are leased under it): held
    // before any bind, so a second process under the same name never binds at all.
    await this.lease.acquire();
    this.stops.push(['lease', () => this.lease.release()]);
    // A carrier an operator stopped stays unbound, here too; a paused one out of routing.
    await this.carrierControl.start();
    this.stops.push(['carrier-control', () => this.carrierControl.stop()]);
    for (const [id, slots] of this.bindSlots) if (!this.carrierControl.state(id).stopped) await slots.start();
    this.stops.push([
      'links',
      async () => {
        for (const r of this.sharedRates.values()) r.stop();
        // Unbind, then give the slots back so other instances bind them at once.
        await Promise.all([...this.bindSlots.values()].map((b) => b.stop()));
      },
    ]);
    await this.dispatcher.start();
    this.stops.push([
      'dispatcher',
      () => {
        this.phase = 'draining';
        return this.dispatcher.stop();
      },
    ]);
    this.phase = 'ready';
    log.info({ event: 'process.ready', admin: `${this.opts.config.admin.host}:${this.admin.port}` }, 'ready');
  }

  /** Stop everything that started, in reverse order; one failure does not skip the rest. */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.phase = 'draining';
      this.opts.logger.info({ event: 'process.stop' }, 'stopping');
      const failures = await runAll(this.stops.splice(0).reverse());
      for (const f of failures) this.opts.logger.error({ event: 'process.stop', step: f.step, err: errorMessage(f.error) }, 'stop step failed');
      this.opts.logger.info({ event: 'process.exit' }, 'stopped');
    })();
    return this.stopPromise;
  }

  /**
   * The tokens added, removed or changed in admin.tokens since the gateway last started
   * (actor `config`): each an audit entry. A failure is logged; the start goes on.
   */
  private async auditTokenChanges(): Promise<void> {
    try {
      for (const c of await this.tokens.record(this.config.admin.tokens)) {
        await this.audit.append({ actor: 'config', role: 'system', action: `token.${c.change}`, target: c.id, detail: { role: c.role, ...(c.was === undefined ? {} : { was: c.was }) } });
      }
    } catch (e) {
      this.opts.logger.error({ event: 'audit.write_failed', action: 'token.*', err: errorMessage(e) }, 'changes to admin.tokens could not be audited');
    }
  }

  /**
   * SIGHUP: reload the route table, the carriers (when loadCarriers is given) and the keyrings, each audited (actor `signal:SIGHUP`);
   * a bad file is logged and the running one kept. Never throws.
   */
  async reloadOnSignal(): Promise<void> {
    const log = this.opts.logger;
    const who = { actor: 'signal:SIGHUP', role: 'system' };
    const audit = (action: string, detail: object): Promise<void> =>
      this.audit.append({ ...who, action, detail }).then(
        () => undefined,
        (e: unknown) => log.error({ event: 'audit.write_failed', action, err: errorMessage(e) }, 'a reload happened but could not be audited'),
      );
    try {
      const r = this.reloadRoutes();
      await audit('routes.reload', r.version === undefined ? {} : { version: r.version });
    } catch (e) {
      log.error({ event: 'routes.reload_failed', err: errorMessage(e), details: isQasidError(e) ? e.details : undefined }, 'route table not reloaded; the running one stays');
    }
    if (this.opts.loadCarriers !== undefined) {
      try {
        const c = await this.reloadCarriers();
        if (c.added.length + c.changed.length + c.removed.length > 0) await audit('carriers.reload', c);
      } catch (e) {
        log.error({ event: 'carriers.reload_failed', err: errorMessage(e), details: isQasidError(e) ? e.details : undefined }, 'carriers not reloaded; the running ones stay');
      }
    }
    try {
      const k = this.reloadKeys();
      await audit('keys.reload', { current: k.current, ids: k.ids, hashCurrent: this.vault.pseudonyms.currentId });
    } catch (e) {
      log.error({ event: 'keys.reload_failed', err: errorMessage(e), details: isQasidError(e) ? e.details : undefined }, 'keyrings not reloaded; the running ones stay');
    }
  }

  /**
   * Re-read and compile routes.file. An invalid file throws and the running table stays;
   * a valid one replaces it for every message routed from now on.
   */
  reloadRoutes(): { version: string | undefined } {
    const routes = loadRoutes({ ...this.opts.config, carriers: [...this.carrierConfigs.values()] });
    this.dispatcher.setRoutes(routes);
    this.opts.logger.info({ event: 'routes.reloaded', version: routes?.version, routes: routes?.routes.length }, 'route table reloaded');
    return { version: routes?.version };
  }

  /**
   * Re-read the carriers (SIGHUP, POST /carriers/reload) and apply what changed without a
   * restart: validated as at start, and against the route table (a route naming a carrier
   * no longer there refuses the whole reload), before anything is swapped. A carrier whose
   * settings changed is unbound (its in-flight submits finish) and bound again with the new
   * ones — tps, sessions, window, timers, credentials alike; a new one is bound; a removed
   * one unbound and forgotten. Its bind slots and shared budget go with it, so the other
   * instances keep their share until they reload too.
   */
  reloadCarriers(): Promise<{ added: string[]; changed: string[]; removed: string[] }> {
    // One at a time (a SIGHUP and a POST at once): each sees what the one before left.
    const run = this.carrierReload.then(() => this.applyCarrierReload());
    this.carrierReload = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async applyCarrierReload(): Promise<{ added: string[]; changed: string[]; removed: string[] }> {
    if (this.opts.loadCarriers === undefined) throw new QasidError('CONFIG_INVALID', 'carriers cannot be reloaded: the gateway was not started from a config file', { key: 'carriers' });
    if (this.phase !== 'ready') throw new QasidError('CONFIG_INVALID', `carriers cannot be reloaded while the gateway is ${this.phase}`, { key: 'carriers' });
    const next = this.opts.loadCarriers();
    const routes = loadRoutes({ ...this.opts.config, carriers: next });
    const byId = new Map(next.map((c) => [c.id, c]));
    const removed = this.carrierIds.filter((id) => !byId.has(id));
    const added = next.filter((c) => !this.carrierConfigs.has(c.id)).map((c) => c.id);
    const changed = next.filter((c) => this.carrierConfigs.has(c.id) && !sameCarrier(this.carrierConfigs.get(c.id) as CarrierConfig, c)).map((c) => c.id);
    const log = this.opts.logger;
    if (removed.length + added.length + changed.length === 0) {
      log.info({ event: 'carriers.reloaded', added, changed, removed }, 'carriers reloaded: nothing changed');
      return { added, changed, removed };
    }
    // The old ones out: unbound (in-flight submits finish), their slots given back.
    for (const id of [...removed, ...changed]) {
      this.sharedRates.get(id)?.stop();
      await this.bindSlots.get(id)?.stop();
      await this.links.get(id)?.stop();
    }
    for (const id of removed) {
      this.dispatcher.removeCarrier(id);
      this.carrierConfigs.delete(id);
      this.linkMap.delete(id);
      this.gates.delete(id);
      this.sharedRates.delete(id);
      this.bindSlots.delete(id);
      this.carrierIds.splice(this.carrierIds.indexOf(id), 1);
    }
    // The new settings in, then bound (unless an operator stopped the carrier).
    for (const id of [...changed, ...added]) {
      const c = byId.get(id) as CarrierConfig;
      this.buildCarrier(c);
      this.carrierConfigs.set(id, c);
      this.dispatcher.setCarrier(c);
      if (!this.carrierIds.includes(id)) this.carrierIds.push(id);
    }
    // The route table read with them (it may have been edited for them) goes in with them.
    this.dispatcher.setRoutes(routes);
    for (const id of [...changed, ...added]) await this.bindCarrier(id);
    log.warn({ event: 'carriers.reloaded', added, changed, removed }, 'carriers reloaded');
    return { added, changed, removed };
  }

  /** Start a carrier's bind slots (not one an operator stopped); while Redis refuses, again every few seconds. */
  private async bindCarrier(id: string, attempt = 0): Promise<void> {
    const slots = this.bindSlots.get(id);
    if (slots === undefined || this.phase !== 'ready' || this.carrierControl.state(id).stopped) return;
    try {
      await slots.start();
    } catch (e) {
      this.opts.logger.warn({ event: 'redis.error', err: errorMessage(e), carrier: id }, 'bind slots of a reloaded carrier could not be taken; retried');
      const t = setTimeout(() => void this.bindCarrier(id, attempt + 1), Math.min(30_000, 1000 * 2 ** attempt));
      t.unref();
    }
  }

  /**
   * Re-read both keyrings (SIGHUP): a new `current` key becomes the write key at once,
   * the old ones stay readable. An invalid keyring throws and the running keys stay.
   */
  reloadKeys(): { current: string; ids: string[] } {
    const p = this.opts.config.privacy;
    this.vault.replace(loadKeyring(p.keyring, p.keyringFile, 'privacy.keyring'), loadKeyring(p.hashKeyring, p.hashKeyringFile, 'privacy.hashKeyring'));
    const ring = this.vault.keyring;
    this.opts.logger.info({ event: 'keys.reloaded', current: ring.currentId, ids: ring.ids(), hashCurrent: this.vault.pseudonyms.currentId }, 'keyrings reloaded');
    return { current: ring.currentId, ids: ring.ids() };
  }

  health(): CarrierHealth[] {
    return [...this.links.values()].map((l) => l.health());
  }
}

/** XINFO replies are flat [key, value, key, value, …] arrays. */
/** Whether two carrier configs are the same in every setting, secrets compared by hash. */
function sameCarrier(a: CarrierConfig, b: CarrierConfig): boolean {
  // The replacer sees a Secret after its toJSON (a mask): look at the holder's own value.
  const replacer = function (this: Record<string, unknown>, key: string, v: unknown): unknown {
    const own = this[key];
    return own instanceof Secret ? `secret:${createHash('sha256').update(own.reveal()).digest('hex')}` : v;
  };
  return JSON.stringify(a, replacer) === JSON.stringify(b, replacer);
}

function pairs(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

function loadRoutes(config: QasidConfig): CompiledRoutes | undefined {
  if (config.routes.file === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(config.routes.file, 'utf8'));
  } catch (e) {
    throw new QasidError('CONFIG_INVALID', `routes.file ${config.routes.file}: ${errorMessage(e)}`, { key: 'routes.file' });
  }
  return compileRoutes(json, config.carriers.map((c) => c.id), { file: config.routes.file });
}
