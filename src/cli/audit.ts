/**
 * `qasid audit verify`: walk the admin audit stream (<prefix>:audit) and check its hash
 * chain (src/admin/audit.ts).
 */
import { parseArgs } from 'node:util';
import { AuditLog } from '../admin/audit.js';
import { loadConfig, maskRedisUrl } from '../config/load.js';
import { errorMessage } from '../core/errors.js';
import type { RedisEndpoint } from '../queue/redis-options.js';
import { usageFailure } from './args.js';
import { connectCli } from './connect.js';
import { consoleIo, type CliIo } from './send.js';

const EXIT = { OK: 0, FAILED: 1, CONFIG: 2, USAGE: 64 } as const;

export const AUDIT_USAGE = `Usage: qasid audit verify [--config FILE] [--redis URL] [--prefix P]

Walks the admin audit stream (<prefix>:audit) from its first entry and checks the hash
chain: every entry's prev must be the previous entry's hash, and its hash must match its
fields. Prints "ok: N entries, chain intact", or "broken at <id>: <reason>" naming the
first entry that does not fit (edited, forged, or following a deleted one).

  --redis URL        default: redis.url of the config, else redis://127.0.0.1:6379
  --prefix P         default: redis.prefix of the config, else qasid
  --config FILE      the gateway's config file (also $QASID_CONFIG); $QASID_REDIS_URL and
                     $QASID_REDIS_PREFIX win over the file

Exit codes: 0 chain intact · 1 chain broken or Redis unreachable · 2 invalid configuration
· 64 bad command line`;

const OPTIONS = {
  redis: { type: 'string' },
  prefix: { type: 'string' },
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function auditCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  let values: { redis?: string; prefix?: string; config?: string; help?: boolean };
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    values = parsed.values;
    if (values.help) {
      io.out(AUDIT_USAGE);
      return EXIT.OK;
    }
    const [sub, ...extra] = parsed.positionals;
    if (sub !== 'verify') throw new Error(sub === undefined ? 'missing subcommand (verify)' : `unknown subcommand "${sub}"`);
    if (extra.length > 0) throw new Error(`unexpected argument "${extra[0] ?? ''}"`);
  } catch (e) {
    io.err(usageFailure('audit', e, AUDIT_USAGE));
    return EXIT.USAGE;
  }

  let url = values.redis;
  let prefix = values.prefix;
  let endpoint: RedisEndpoint;
  try {
    const cfg = loadConfig({ file: values.config, env: io.env ?? process.env, overrides: { carriers: [] } });
    endpoint = cfg.redis;
    url ??= cfg.redis.url.reveal();
    prefix ??= cfg.redis.prefix;
  } catch (e) {
    io.err(`qasid audit: configuration invalid: ${errorMessage(e)}`);
    return EXIT.CONFIG;
  }

  const redis = await connectCli(endpoint, 'audit', io, url);
  if (redis === undefined) return EXIT.FAILED;
  const where = maskRedisUrl(url);
  try {
    const result = await new AuditLog(redis, `${prefix}:audit`).verify();
    if (result.ok) {
      io.out(`ok: ${result.entries} entries, chain intact`);
      return EXIT.OK;
    }
    io.out(`broken at ${result.firstBroken}: ${result.reason} (${result.entries} entries intact before it)`);
    return EXIT.FAILED;
  } catch (e) {
    io.err(`qasid audit: ${errorMessage(e)} (Redis ${where})`);
    return EXIT.FAILED;
  } finally {
    redis.disconnect();
  }
}
