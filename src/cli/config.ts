/**
 * `qasid config check FILE` and `qasid config print [FILE]`.
 * Exit codes: 0 ok, 2 the configuration (or its file) is unusable, 64 bad command
 * line (EX_USAGE), 1 anything unexpected.
 */
import { errorMessage, isQasidError } from '../core/errors.js';
import { CONFIG_FILE_ENV, formatConfig, loadConfig } from '../config/load.js';
import { schemaLeaves } from '../config/schema.js';

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
  const envs = schemaLeaves()
    .filter((l) => l.env !== undefined)
    .map((l) => `  ${(l.env as string).padEnd(30)} ${l.key}`);
  return [
    'Usage:',
    '  qasid config check FILE     validate FILE; prints "ok: N carriers" or every bad key',
    '  qasid config print [FILE]   print the effective config (defaults + FILE + env), secrets masked',
    '  qasid config --help',
    '',
    `FILE defaults to $${CONFIG_FILE_ENV}. Environment overrides (they win over the file):`,
    ...envs,
    '',
    'Carrier keys and defaults: config/carrier.schema.json. Exit codes: 0 ok, 2 invalid config, 64 usage.',
  ].join('\n');
}

/** argv is what follows `config` on the command line, e.g. ['check', 'qasid.json']. */
export async function configCommand(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void; env?: NodeJS.ProcessEnv } = defaultIo,
): Promise<number> {
  const env = io.env ?? process.env;
  if (argv.length === 0 || argv.some((a) => a === '--help' || a === '-h') || argv[0] === 'help') {
    (argv.length === 0 ? io.err : io.out)(configUsage());
    return argv.length === 0 ? EXIT_USAGE : EXIT_OK;
  }
  const [sub, ...rest] = argv;
  const options = rest.filter((a) => a.startsWith('-'));
  if (options.length > 0) return usageError(io, `unknown option ${options[0] as string}`);
  if (rest.length > 1) return usageError(io, `config ${sub as string} takes at most one FILE`);
  const fromEnv = env[CONFIG_FILE_ENV];
  const file = rest[0] ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);

  switch (sub) {
    case 'check':
      if (file === undefined) return usageError(io, `config check needs FILE (or $${CONFIG_FILE_ENV})`);
      return run(io, () => {
        const n = loadConfig({ file, env }).carriers.length;
        io.out(`ok: ${n} ${n === 1 ? 'carrier' : 'carriers'}`);
      });
    case 'print':
      return run(io, () => {
        io.out(formatConfig(loadConfig({ file, env })));
      });
    default:
      return usageError(io, `unknown config command '${String(sub)}'`);
  }
}

function usageError(io: ConfigCommandIo, message: string): number {
  io.err(`qasid config: ${message}\n\n${configUsage()}`);
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
