/**
 * `qasid run`: load and validate config, start the daemon, stop on SIGTERM/SIGINT.
 * A second signal, or the shutdown.forceExitMs deadline, forces exit.
 */
import { parseArgs } from 'node:util';
import { App } from '../app.js';
import { loadConfig } from '../config/load.js';
import { errorMessage, isQasidError } from '../core/errors.js';
import { createLogger } from '../log/logger.js';

export const EXIT = { OK: 0, UNEXPECTED: 1, CONFIG: 2, START: 3, REDIS: 4, USAGE: 64 } as const;

export async function runCommand(argv: string[]): Promise<number> {
  let file: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      console.log('Usage: qasid run [--config FILE]\nRuns the daemon until SIGTERM/SIGINT. Config file also from $QASID_CONFIG.');
      return EXIT.OK;
    }
    file = values.config;
  } catch (e) {
    console.error(`qasid run: ${errorMessage(e)}`);
    return EXIT.USAGE;
  }
  let config;
  try {
    config = loadConfig({ file });
  } catch (e) {
    const log = createLogger();
    log.fatal({ event: 'config.invalid', err: errorMessage(e), details: isQasidError(e) ? e.details : undefined }, 'configuration rejected');
    return EXIT.CONFIG;
  }
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty });
  let app: App;
  try {
    // Builds the route table too: a bad routes.file is a configuration error.
    app = new App({ config, logger });
  } catch (e) {
    logger.fatal({ event: 'config.invalid', err: errorMessage(e), details: isQasidError(e) ? e.details : undefined }, 'configuration rejected');
    return EXIT.CONFIG;
  }
  try {
    await app.start();
  } catch (e) {
    logger.fatal({ event: 'process.exit', err: errorMessage(e), code: isQasidError(e) ? e.code : undefined }, 'start-up failed');
    await app.stop();
    return isQasidError(e, 'REDIS_UNAVAILABLE') ? EXIT.REDIS : EXIT.START;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ event: 'process.exit', signal }, 'second signal: exiting now');
        resolve(EXIT.UNEXPECTED);
        process.exit(EXIT.UNEXPECTED);
      }
      stopping = true;
      logger.info({ event: 'process.stop', signal }, 'signal received, stopping');
      const force = setTimeout(() => {
        logger.error({ event: 'process.exit', afterMs: config.shutdown.forceExitMs }, 'shutdown deadline passed: exiting now');
        process.exit(EXIT.UNEXPECTED);
      }, config.shutdown.forceExitMs);
      force.unref();
      void app.stop().then(() => resolve(EXIT.OK));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // SIGHUP: reload the route table and the keyrings; a bad file is reported and the running one kept.
    process.on('SIGHUP', () => {
      try {
        app.reloadRoutes();
      } catch (e) {
        logger.error({ event: 'routes.reload_failed', err: errorMessage(e), details: isQasidError(e) ? e.details : undefined }, 'route table not reloaded; the running one stays');
      }
      try {
        app.reloadKeys();
      } catch (e) {
        logger.error({ event: 'keys.reload_failed', err: errorMessage(e), details: isQasidError(e) ? e.details : undefined }, 'keyrings not reloaded; the running ones stay');
      }
    });
  });
}
