/**
 * `qasid send`: push one message onto the intake stream through QasidClient (validated
 * against the intake schema first), print its entry id and client id, and with --wait
 * follow the events stream until the message's final event.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { InvalidMessageError, QasidClient, streamIdMs, type MessageClass, type OutgoingMessage, type StatusEvent } from '../client/index.js';
import { loadConfig, maskRedisUrl } from '../config/load.js';
import type { Keyring } from '../privacy/keyring.js';
import { loadKeyring } from '../privacy/vault.js';
import { errorMessage } from '../core/errors.js';
import { redisFor, type RedisEndpoint, type RedisTopologyEndpoint } from '../queue/redis-options.js';
import { maskMsisdn, normaliseMsisdn } from '../routing/index.js';
import { usageFailure } from './args.js';
import type { ProgressOutput } from './progress.js';

/** Where a command writes, and the environment it reads (process.env by default). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env?: NodeJS.ProcessEnv;
  /** Where long commands show progress (standard error); none when absent. */
  progress?: ProgressOutput;
}

export const consoleIo: CliIo = { out: (s) => console.log(s), err: (s) => console.error(s), progress: process.stderr };

const EXIT = { OK: 0, FAILED: 1, CONFIG: 2, USAGE: 64 } as const;
const DEFAULT_WAIT_SEC = 60;

export const SEND_USAGE = `Usage: qasid send --to NUMBER --from SENDER --text TEXT [options]

Pushes one message onto the intake stream (XADD <prefix>:mt * data <json>; with intake.shards
K > 1 the shard its client id hashes to, <prefix>:mt:{<prefix>:i}), after checking
it against schema/mt-message.v1.json, and prints its stream entry id and client id. A
running gateway (qasid run) takes it from there.

Message:
  --to NUMBER        destination: 03001234567, 0300-1234567, 923001234567, +923001234567, 00923001234567
  --from SENDER      sender: an alphanumeric id of at most 11 characters (MyBank) or a number
  --text TEXT        message text; non-GSM text (Urdu) goes as UCS-2, long text in several parts
  --id ID            client id, the idempotency key (default: a random UUID)
  --class CLASS      transactional (default) | otp | marketing
  --tenant T         the upstream customer (part of the idempotency key; a route criterion)
  --priority N       SMPP priority 0 (default) to 3
  --validity S       seconds the message stays worth sending, 30 to 604800 (default: the gateway's)
  --send-at ISO      do not send before this time (RFC 3339, e.g. 2030-01-31T09:00:00+05:00)
  --no-receipt       do not ask for a delivery receipt (the final event is then 'accepted')
  --meta JSON        an object echoed back in every event about this message
  --force            queue it even when --to is not a mobile number the gateway can send
                     to (it then ends 'rejected' with reason invalid_number / not_mobile)

Redis:
  --redis URL        default: redis.url of the config, else redis://127.0.0.1:6379
  --prefix P         default: redis.prefix of the config, else qasid
  --config FILE      the gateway's config file (also $QASID_CONFIG). As for qasid run,
                     $QASID_REDIS_URL and $QASID_REDIS_PREFIX win over the file.

Waiting:
  --wait [SECONDS]   follow the events stream, print each event of this message until its
                     final one (default ${DEFAULT_WAIT_SEC} s). Exit 0 when it ends 'delivered'
                     (or 'accepted' with --no-receipt), else 1; 1 as well when time runs out.

The number and text are never printed; the number shows masked (+92300****567).
Exit codes: 0 queued (with --wait: delivered) · 1 not delivered, timed out or Redis
unreachable · 2 invalid configuration · 64 bad command line or invalid message (a --to
the gateway would reject included, unless --force)`;

const OPTIONS = {
  to: { type: 'string' },
  from: { type: 'string' },
  text: { type: 'string' },
  id: { type: 'string' },
  class: { type: 'string' },
  tenant: { type: 'string' },
  priority: { type: 'string' },
  validity: { type: 'string' },
  'send-at': { type: 'string' },
  'no-receipt': { type: 'boolean' },
  meta: { type: 'string' },
  force: { type: 'boolean' },
  redis: { type: 'string' },
  prefix: { type: 'string' },
  config: { type: 'string', short: 'c' },
  wait: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Parsed {
  msg: OutgoingMessage;
  force: boolean;
  waitSec: number | undefined;
  redis: string | undefined;
  prefix: string | undefined;
  config: string | undefined;
}

export async function sendCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  let p: Parsed;
  try {
    const parsed = parse(argv);
    if (parsed === 'help') {
      io.out(SEND_USAGE);
      return EXIT.OK;
    }
    p = parsed;
  } catch (e) {
    io.err(usageFailure('send', e, SEND_USAGE));
    return EXIT.USAGE;
  }

  // Redis and prefix: flags, else the gateway's own resolution (defaults < file < env).
  let url = p.redis;
  let prefix = p.prefix;
  let region = 'PK';
  let maxEntryBytes: number | undefined;
  let keyring: Keyring | undefined;
  let endpoint: RedisEndpoint | RedisTopologyEndpoint;
  try {
    const cfg = loadConfig({ file: p.config, env: io.env ?? process.env, overrides: { carriers: [] } });
    url ??= cfg.redis.url.reveal();
    endpoint = cfg.redis;
    prefix ??= cfg.redis.prefix;
    region = cfg.numbers.defaultRegion;
    maxEntryBytes = cfg.intake.maxEntryBytes;
    // With the gateway's keyring at hand, the entry is written sealed (no number or text in clear in the stream).
    if (cfg.privacy.keyring.reveal() !== '' || cfg.privacy.keyringFile !== '') keyring = loadKeyring(cfg.privacy.keyring, cfg.privacy.keyringFile, 'privacy.keyring');
  } catch (e) {
    io.err(`qasid send: configuration invalid: ${errorMessage(e)}`);
    return EXIT.CONFIG;
  }

  // The gateway would end it 'rejected' at once: say so now, and queue it only when told to.
  const number = normaliseMsisdn(p.msg.to, region);
  if (!number.ok && !p.force) {
    io.err(
      `qasid send: --to ${maskMsisdn(p.msg.to)} is not a mobile number the gateway can send to (${number.reason}, region ${region}); ` +
        `it would end 'rejected' with reason ${number.reason}. Nothing was queued; --force queues it anyway.`,
    );
    return EXIT.USAGE;
  }

  let redis: Redis;
  try {
    redis = redisFor(endpoint, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null, connectionName: 'qasid-send' }, url);
  } catch (e) {
    io.err(`qasid send: configuration invalid: ${errorMessage(e)}`);
    return EXIT.CONFIG;
  }
  let lastError: string | undefined;
  redis.on('error', (e: Error) => void (lastError = e.message)); // reported with the failing command
  const client = new QasidClient(redis, { prefix, maxEntryBytes, ...(keyring ? { keyring } : {}) });
  const where = maskRedisUrl(url);
  try {
    try {
      await redis.connect();
    } catch (e) {
      io.err(`qasid send: cannot reach Redis at ${where}: ${lastError ?? errorMessage(e)}`);
      return EXIT.FAILED;
    }
    const ac = new AbortController();
    // Subscribe before the XADD so no event of this message can be missed.
    const events = p.waitSec === undefined ? undefined : client.events({ signal: ac.signal, blockMs: 1000 });
    let entryId: string;
    try {
      entryId = await client.send(p.msg);
    } catch (e) {
      if (e instanceof InvalidMessageError) {
        io.err(`qasid send: ${e.message}`);
        return EXIT.USAGE;
      }
      throw e;
    }
    io.out(`queued  entry ${entryId}  id ${p.msg.id}  to ${maskedTo(p.msg.to, region)}  on ${await client.streamFor(p.msg)}`);
    if (events === undefined || p.waitSec === undefined) return EXIT.OK;

    io.out(`waiting up to ${p.waitSec} s for its events on ${client.keys.events}`);
    const timer = setTimeout(() => ac.abort(), p.waitSec * 1000);
    let final: StatusEvent | undefined;
    let last: StatusEvent | undefined;
    try {
      for await (const { id, event } of events) {
        if (event.clientId !== p.msg.id || event.tenant !== p.msg.tenant) continue;
        last = event;
        io.out(`  +${String(Math.max(0, streamIdMs(id) - streamIdMs(entryId))).padStart(5)} ms  ${describeEvent(event)}`);
        if (event.final) {
          final = event;
          break;
        }
      }
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
    if (final === undefined) {
      io.err(`qasid send: no final event within ${p.waitSec} s${last ? ` (last: ${last.status})` : ''}`);
      return EXIT.FAILED;
    }
    const ok = final.status === 'delivered' || final.status === 'accepted';
    io.out(ok ? `final: ${final.status}` : `final: ${final.status}${final.reason ? ` (${final.reason})` : ''} — not delivered`);
    return ok ? EXIT.OK : EXIT.FAILED;
  } catch (e) {
    io.err(`qasid send: ${errorMessage(e)} (Redis ${where})`);
    return EXIT.FAILED;
  } finally {
    redis.disconnect();
  }
}

/** One event as a line: status, then what it says (never a number or text). */
export function describeEvent(e: StatusEvent): string {
  const parts = [e.status.padEnd(13), e.final ? 'final' : '     '];
  if (e.carrier) parts.push(`carrier=${e.carrier}`);
  if (e.parts !== undefined) parts.push(`parts=${e.parts}`);
  if (e.reason) parts.push(`reason=${e.reason}`);
  if (e.error) parts.push(`error=${e.error}`);
  if (e.retryAt) parts.push(`retryAt=${e.retryAt}`);
  if (e.gatewayId) parts.push(`gateway=${e.gatewayId}`);
  return parts.join(' ').trimEnd();
}

function maskedTo(to: string, region: string): string {
  const n = normaliseMsisdn(to, region);
  return n.ok ? maskMsisdn(n.e164) : `${maskMsisdn(to)} (queued with --force: the gateway will reject it, ${n.reason})`;
}

function parse(argv: string[]): Parsed | 'help' {
  const { values, positionals } = parseArgs({ args: withWaitValue(argv), options: OPTIONS, allowPositionals: true });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0] ?? ''}"`);
  const missing = (['to', 'from', 'text'] as const).filter((k) => values[k] === undefined);
  if (missing.length > 0) throw new Error(`missing ${missing.map((k) => `--${k}`).join(', ')}`);
  const msg: OutgoingMessage = {
    id: values.id ?? randomUUID(),
    to: values.to as string,
    from: values.from as string,
    text: values.text as string,
  };
  if (values.class !== undefined) msg.class = values.class as MessageClass; // the schema checks the value
  if (values.tenant !== undefined) msg.tenant = values.tenant;
  if (values.priority !== undefined) msg.priority = integer('--priority', values.priority);
  if (values.validity !== undefined) msg.validity = integer('--validity', values.validity);
  if (values['send-at'] !== undefined) msg.sendAt = values['send-at'];
  if (values['no-receipt']) msg.receipt = false;
  if (values.meta !== undefined) {
    let meta: unknown;
    try {
      meta = JSON.parse(values.meta);
    } catch {
      throw new Error('--meta must be a JSON object');
    }
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new Error('--meta must be a JSON object');
    msg.meta = meta as Record<string, unknown>;
  }
  let waitSec: number | undefined;
  if (values.wait !== undefined) {
    waitSec = Number(values.wait);
    if (!Number.isFinite(waitSec) || waitSec <= 0) throw new Error('--wait takes a positive number of seconds');
  }
  return { msg, force: values.force === true, waitSec, redis: values.redis, prefix: values.prefix, config: values.config };
}

/** `--wait` takes an optional value: give it the default when no number follows. */
function withWaitValue(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a !== '--wait') {
      out.push(a);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && /^\d+(\.\d+)?$/.test(next)) {
      out.push(`--wait=${next}`);
      i++;
    } else {
      out.push(`--wait=${DEFAULT_WAIT_SEC}`);
    }
  }
  return out;
}

function integer(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${flag} takes a whole number`);
  return n;
}
