/**
 * The composition root: builds every long-lived component from the validated config,
 * starts them in dependency order (Redis, carrier links, dispatcher) and stops them in
 * reverse. The only place that hands config slices to modules.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { QasidConfig } from './config/types.js';
import { systemClock } from './core/clock.js';
import { QasidError, errorMessage } from './core/errors.js';
import { runAll, type Lifecycle } from './core/lifecycle.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { PacedGate } from './dispatch/gate.js';
import { ReceiptHandler } from './dispatch/receipts.js';
import type { Logger } from './log/logger.js';
import { IntakeReader } from './queue/intake.js';
import { keysFor, type Keys } from './queue/keys.js';
import { Outputs } from './queue/outputs.js';
import { MessageStore } from './queue/store.js';
import { compileRoutes, type CompiledRoutes } from './routing/index.js';
import { CarrierLink, type CarrierHealth } from './smpp/link.js';
import type { SessionObserver } from './smpp/session.js';
import { CarrierPacer } from './throttle/pacer.js';

/** How long start-up waits for Redis before giving up (exit code 4). */
const REDIS_START_TIMEOUT_MS = 10_000;

export interface AppOptions {
  config: QasidConfig;
  logger: Logger;
  observer?: SessionObserver;
}

export class App implements Lifecycle {
  readonly name = 'qasid';
  readonly keys: Keys;
  readonly redis: Redis;
  readonly links: ReadonlyMap<string, CarrierLink>;
  readonly dispatcher: Dispatcher;
  readonly receipts: ReceiptHandler;
  private readonly blocking: Redis;
  private readonly stops: Array<readonly [string, () => Promise<void>]> = [];
  private stopPromise: Promise<void> | undefined;

  constructor(private readonly opts: AppOptions) {
    const { config, logger } = opts;
    this.keys = keysFor(config.redis.prefix);
    const redisOpts = { lazyConnect: true, maxRetriesPerRequest: null, enableAutoPipelining: true } as const;
    this.redis = new Redis(config.redis.url.reveal(), { ...redisOpts, connectionName: 'qasid' });
    this.blocking = new Redis(config.redis.url.reveal(), { lazyConnect: true, maxRetriesPerRequest: null, connectionName: 'qasid-intake' });
    for (const r of [this.redis, this.blocking]) {
      r.on('error', (e: Error) => logger.warn({ event: 'redis.error', err: e.message }, 'redis connection error'));
    }
    const store = new MessageStore(this.redis, this.keys);
    const outputs = new Outputs(this.redis, this.keys, config.outputs.maxLen);
    const carriers = new Map(config.carriers.map((c) => [c.id, c]));
    this.receipts = new ReceiptHandler({
      store,
      outputs,
      carriers,
      logger,
      parkTtlMs: config.messages.mappingTtlSec * 1000,
      lateMappingTtlMs: Math.max(config.messages.mappingTtlSec, config.messages.defaultValiditySec + config.messages.receiptGraceSec) * 1000,
    });
    this.links = new Map(
      config.carriers.map((c) => [
        c.id,
        new CarrierLink({ carrier: c, logger, onDeliver: this.receipts.onDeliver, onLateResponse: this.receipts.onLateResponse, observer: opts.observer }),
      ]),
    );
    const gates = new Map(config.carriers.map((c) => [c.id, new PacedGate(new CarrierPacer({ tps: c.tps, clock: systemClock }))]));
    const intake = new IntakeReader(this.blocking, this.redis, this.keys, config.intake, (e, count) =>
      logger.warn({ event: 'redis.error', err: errorMessage(e), entries: count }, 'intake ack failed; the entries stay pending and will be resumed'),
    );
    this.dispatcher = new Dispatcher({
      config,
      store,
      intake,
      outputs,
      links: this.links,
      gates,
      routes: loadRoutes(config),
      portedOperator: async (e164) => (await this.redis.hget(this.keys.ported, e164.slice(1))) ?? undefined,
      applyParked: (parked) => this.receipts.applyParked(parked),
      logger,
    });
  }

  async start(): Promise<void> {
    const log = this.opts.logger;
    log.info({ event: 'process.start', carriers: this.links.size }, 'starting');
    // ioredis retries for ever; at start-up an unreachable Redis is a fault to report.
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          await Promise.all([this.redis.connect(), this.blocking.connect()]);
          await this.redis.ping();
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_START_TIMEOUT_MS} ms`)), REDIS_START_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      this.redis.disconnect();
      this.blocking.disconnect();
      throw new QasidError('REDIS_UNAVAILABLE', `cannot reach Redis: ${errorMessage(e)}`, {}, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    this.stops.push(['redis', async () => void (await Promise.allSettled([this.redis.quit(), this.blocking.quit()]))]);
    for (const link of this.links.values()) await link.start();
    this.stops.push(['links', async () => void (await Promise.all([...this.links.values()].map((l) => l.stop())))]);
    await this.dispatcher.start();
    this.stops.push(['dispatcher', () => this.dispatcher.stop()]);
    log.info({ event: 'process.ready' }, 'ready');
  }

  /** Stop everything that started, in reverse order; one failure does not skip the rest. */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.opts.logger.info({ event: 'process.stop' }, 'stopping');
      const failures = await runAll(this.stops.splice(0).reverse());
      for (const f of failures) this.opts.logger.error({ event: 'process.stop', step: f.step, err: errorMessage(f.error) }, 'stop step failed');
      this.opts.logger.info({ event: 'process.exit' }, 'stopped');
    })();
    return this.stopPromise;
  }

  /**
   * Re-read and compile routes.file. An invalid file throws and the running table stays;
   * a valid one replaces it for every message routed from now on.
   */
  reloadRoutes(): { version: string | undefined } {
    const routes = loadRoutes(this.opts.config);
    this.dispatcher.setRoutes(routes);
    this.opts.logger.info({ event: 'routes.reloaded', version: routes?.version, routes: routes?.routes.length }, 'route table reloaded');
    return { version: routes?.version };
  }

  health(): CarrierHealth[] {
    return [...this.links.values()].map((l) => l.health());
  }
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
