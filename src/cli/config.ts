/**
 * `qasid config check [FILE]` and `qasid config print [FILE]`. check runs the checks of
 * `qasid run`'s start-up itself (src/cli/startup.ts), so it accepts what run accepts.
 * Exit codes: 0 ok, 2 the configuration (or its file) is unusable, 64 bad command
 * line (EX_USAGE), 1 anything unexpected.
 */
import { errorMessage, isQasidError } from '../core/errors.js';
import { CONFIG_FILE_ENV, formatConfig, loadConfig } from '../config/load.js';
import { configError } from '../config/problems.js';
import { schemaLeaves } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { Metrics } from '../metrics/registry.js';
import { keysFor } from '../queue/keys.js';
import { usageLine } from './args.js';
import { prepareStartup, type Startup } from './startup.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;
export const EXIT_USAGE = 64;

export interface ConfigCommandIo {
  /** One chunk of standard output (no trailing newline needed). */
  out: (s: string) => void;
  /** One chunk of standard error. */
  err: (s: string) => void;
  env?: NodeJS.ProcessEnv;
}

const defaultIo: ConfigCommandIo = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
};

export function configUsage(): string {
  return [
    'Usage:',
    '  qasid config check [FILE]   check FILE as `qasid run` does before it connects anywhere:',
    '                              prints "ok: N carriers", or exits 2 naming every bad key',
    '  qasid config print [FILE]   print the effective config (defaults + FILE + env), secrets masked',
    '  qasid config --env          list the environment variables that override the file',
    '  qasid config --help',
    '',
    `FILE defaults to $${CONFIG_FILE_ENV}; with neither, defaults and environment alone, as for \`qasid run\`.`,
    '`check` covers the schema and the rules between keys, every file the config names',
    '(carrier passwords, TLS certificates and keys, the route table against the carriers)',
    'and both keyrings (from file or env: every key, and the two distinct).',
    'Carrier keys and defaults: config/carrier.schema.json. Exit codes: 0 ok, 2 invalid config, 64 usage.',
  ].join('\n');
}

/** Every QASID_* variable and the key it sets; `only` lists just the ones set in it. */
export function environmentList(only?: NodeJS.ProcessEnv): string {
  const leaves = schemaLeaves().filter((l) => l.env !== undefined && (only === undefined || only[l.env] !== undefined));
  if (only !== undefined && leaves.length === 0) return 'no QASID_* variable is set';
  const width = Math.max(...leaves.map((l) => (l.env as string).length)) + 2;
  return [
    only === undefined ? 'Environment overrides (they win over the file):' : 'Environment overrides in effect (values not shown):',
    ...leaves.map((l) => `  ${(l.env as string).padEnd(width)}${l.key}`),
    `  ${CONFIG_FILE_ENV.padEnd(width)}the config file, when none is given`,
  ].join('\n');
}

/** argv is what follows `config` on the command line, e.g. ['check', 'qasid.json']. */
export async function configCommand(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void; env?: NodeJS.ProcessEnv } = defaultIo,
): Promise<number> {
  const env = io.env ?? process.env;
  const wantsEnv = argv.includes('--env');
  const args = argv.filter((a) => a !== '--env');
  if (args.length === 0 && wantsEnv) {
    io.out(environmentList());
    return EXIT_OK;
  }
  if (args.length === 0 || args.some((a) => a === '--help' || a === '-h') || args[0] === 'help') {
    (args.length === 0 ? io.err : io.out)(wantsEnv ? `${configUsage()}\n\n${environmentList()}` : configUsage());
    return args.length === 0 ? EXIT_USAGE : EXIT_OK;
  }
  const [sub, ...rest] = args;
  const options = rest.filter((a) => a.startsWith('-'));
  if (options.length > 0) return usageError(io, `unknown option ${options[0] as string}`);
  if (rest.length > 1) return usageError(io, `config ${sub as string} takes at most one FILE`);
  const fromEnv = env[CONFIG_FILE_ENV];
  const file = rest[0] ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);

  switch (sub) {
    case 'check':
      return check(io, file, env, wantsEnv);
    case 'print':
      return run(io, () => {
        io.out(formatConfig(loadConfig({ file, env })));
        if (wantsEnv) io.err(environmentList(env));
      });
    default:
      return usageError(io, `unknown config command '${String(sub)}'`);
  }
}

/** The checks of `qasid run`'s start-up (src/cli/startup.ts), nothing connected, every problem listed. */
async function check(io: ConfigCommandIo, file: string | undefined, env: NodeJS.ProcessEnv, wantsEnv: boolean): Promise<number> {
  let startup: Startup;
  try {
    startup = prepareStartup({ file, env, logger: () => createLogger({ level: 'silent' }), metrics: new Metrics({ defaultMetrics: false }) });
  } catch (e) {
    io.err(`qasid config: unexpected error: ${errorMessage(e)}`);
    return EXIT_FAILURE;
  }
  if (wantsEnv) io.err(environmentList(env));
  if (!startup.ok) {
    const { message } = configError(startup.problems, startup.file);
    io.err(startup.file === undefined ? message.replace(/^configuration is invalid:/, 'configuration is invalid (no config file: defaults and environment):') : message);
    return EXIT_CONFIG;
  }
  // Built to be judged, never started: nothing is connected, so this only lets go of it.
  await startup.app.stop();
  for (const w of startup.warnings) io.err(`warning: ${w}`);
  const n = startup.config.carriers.length;
  io.out(`ok: ${n} ${n === 1 ? 'carrier' : 'carriers'}${file === undefined ? ' (no config file: defaults and environment)' : ''}`);
  const mo = moStreamsLine(startup.config.redis.prefix, startup.config.mo.routes);
  if (mo !== undefined) io.out(mo);
  return EXIT_OK;
}

/** With mo.routes: which streams an MO consumer reads, the default one included; undefined without rules. */
export function moStreamsLine(prefix: string, routes: ReadonlyArray<{ stream: string }>): string | undefined {
  if (routes.length === 0) return undefined;
  const keys = keysFor(prefix);
  const routed = [...new Set(routes.map((r) => r.stream))].map((s) => keys.moStream(s));
  return `MO consumers read ${routed.join(', ')} (mo.routes) and ${keys.mo} (every MO no rule matches)`;
}

function usageError(io: ConfigCommandIo, message: string): number {
  io.err(`qasid config: ${message}\n${usageLine(configUsage())}\nRun qasid config --help for every option.`);
  return EXIT_USAGE;
}

function run(io: ConfigCommandIo, body: () => void): number {
  try {
    body();
    return EXIT_OK;
  } catch (e) {
    if (isQasidError(e, 'CONFIG_INVALID') || isQasidError(e, 'CONFIG_SECRET_MISSING')) {
      io.err(e.message);
      return EXIT_CONFIG;
    }
    io.err(`qasid config: unexpected error: ${errorMessage(e)}`);
    return EXIT_FAILURE;
  }
}
