/**
 * The composition root: builds every long-lived component from the validated config,
 * starts them in dependency order and stops them in reverse. The only place that
 * hands config slices to modules.
 */
import type { QasidConfig } from './config/types.js';
import { runAll, type Lifecycle } from './core/lifecycle.js';
import { errorMessage } from './core/errors.js';
import type { Logger } from './log/logger.js';
import { CarrierLink, type CarrierHealth } from './smpp/link.js';
import type { DeliverHandler, SessionObserver } from './smpp/session.js';

export interface AppOptions {
  config: QasidConfig;
  logger: Logger;
  /** Receipts and MO from every carrier. Until the message path exists, the default acknowledges and logs. */
  onDeliver?: DeliverHandler;
  observer?: SessionObserver;
}

export class App implements Lifecycle {
  readonly name = 'qasid';
  readonly links: ReadonlyMap<string, CarrierLink>;
  private readonly started: Lifecycle[] = [];
  private stopPromise: Promise<void> | undefined;

  constructor(private readonly opts: AppOptions) {
    const onDeliver: DeliverHandler =
      opts.onDeliver ??
      (async (pdu, session) => {
        opts.logger.info({ event: 'session.unexpected_pdu', carrier: session.carrier, command: pdu.command, esmClass: pdu.body.esm_class }, 'deliver_sm received; no message path yet');
        return 0;
      });
    this.links = new Map(
      opts.config.carriers.map((c) => [c.id, new CarrierLink({ carrier: c, logger: opts.logger, onDeliver, observer: opts.observer })]),
    );
  }

  async start(): Promise<void> {
    this.opts.logger.info({ event: 'process.start', carriers: this.links.size }, 'starting');
    for (const link of this.links.values()) {
      await link.start();
      this.started.push(link);
    }
    this.opts.logger.info({ event: 'process.ready' }, 'ready');
  }

  /** Stop everything that started, in reverse order; one failure does not skip the rest. */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.opts.logger.info({ event: 'process.stop' }, 'stopping');
      const links = this.started.splice(0).reverse();
      // Links are independent of one another: unbind them in parallel.
      const failures = await runAll([['links', async () => void (await Promise.all(links.map((l) => l.stop())))]]);
      for (const f of failures) this.opts.logger.error({ event: 'process.stop', step: f.step, err: errorMessage(f.error) }, 'stop step failed');
      this.opts.logger.info({ event: 'process.exit' }, 'stopped');
    })();
    return this.stopPromise;
  }

  health(): CarrierHealth[] {
    return [...this.links.values()].map((l) => l.health());
  }
}
