/**
 * The pino factory. Redaction paths are fixed here and validated when the logger is
 * built; callers log events (`{ event: 'session.bound', ... }`), never a subscriber's
 * number or text.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Field names that must never reach a log line in clear. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'text',
  '*.text',
  'short_message',
  '*.short_message',
  'message_payload',
  '*.message_payload',
  'destination_addr',
  '*.destination_addr',
  'source_addr',
  '*.source_addr',
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Where lines go; stdout by default. Tests pass a capturing stream. */
  destination?: DestinationStream;
  /** Human-readable lines through pino-pretty (a development dependency); JSON when it is not installed. */
  pretty?: boolean;
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  if (opts.pretty && opts.destination === undefined && prettyAvailable()) {
    return pino({
      name: opts.name ?? 'qasid',
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' } },
    });
  }
  return pino(
    {
      name: opts.name ?? 'qasid',
      level: opts.level ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}

/** A logger that drops everything: for library code used without a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** A logger that keeps every line as parsed JSON, so a test can assert what was and was not logged. */
export function captureLogger(level = 'trace'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination: DestinationStream = {
    write(msg: string): void {
      lines.push(JSON.parse(msg) as Record<string, unknown>);
    },
  };
  return { logger: createLogger({ level, destination }), lines };
}
