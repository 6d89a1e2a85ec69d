/**
 * `qasid run`: check the config as `qasid config check` does, start the daemon, stop on SIGTERM/SIGINT.
 * A second signal, or the shutdown.forceExitMs deadline, forces exit.
 */
import { parseArgs } from 'node:util';
import { configError } from '../config/problems.js';
import { errorMessage, isQasidError } from '../core/errors.js';
import { createLogger } from '../log/logger.js';
import { usageFailure } from './args.js';
import { prepareStartup } from './startup.js';

export const EXIT = { OK: 0, UNEXPECTED: 1, CONFIG: 2, START: 3, REDIS: 4, USAGE: 64 } as const;

const RUN_USAGE = `Usage: qasid run [--config FILE]

Runs the daemon until SIGTERM/SIGINT. Config file also from $QASID_CONFIG. It checks the
config first exactly as \`qasid config check\` does (exit 2 naming every bad key).`;

export async function runCommand(argv: string[]): Promise<number> {
  let file: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      console.log(RUN_USAGE);
      return EXIT.OK;
    }
    file = values.config;
  } catch (e) {
    console.error(usageFailure('run', e, RUN_USAGE));
    return EXIT.USAGE;
  }
  // Every check start-up makes, as `qasid config check` makes them (src/cli/startup.ts).
  const startup = prepareStartup({ file, logger: (c) => createLogger({ level: c.log.level, pretty: c.log.pretty }) });
  if (!startup.ok) {
    const e = configError(startup.problems, startup.file);
    createLogger().fatal({ event: 'config.invalid', err: e.message, details: e.details }, 'configuration rejected');
    return EXIT.CONFIG;
  }
  const { app, config, logger } = startup;
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
    // SIGHUP: reload the route table, the carriers and the keyrings; a bad file is reported and the running one kept.
    // Each reload is audited (actor signal:SIGHUP).
    process.on('SIGHUP', () => void app.reloadOnSignal());
  });
}
