/**
 * `qasid audit verify`: walk the admin audit stream (<prefix>:audit) and check its hash
 * chain (src/admin/audit.ts). `qasid audit access`: print the admin access log
 * (<prefix>:access, src/queue/access.ts) from a time on.
 */
import { parseArgs } from 'node:util';
import { AuditLog, parseHead, type AuditHead } from '../admin/audit.js';
import { loadConfig, maskRedisUrl } from '../config/load.js';
import { errorMessage } from '../core/errors.js';
import { accessSince, type AccessEntry } from '../queue/access.js';
import { keysFor } from '../queue/keys.js';
import type { RedisEndpoint } from '../queue/redis-options.js';
import { usageFailure } from './args.js';
import { connectCli } from './connect.js';
import { consoleIo, type CliIo } from './send.js';

const EXIT = { OK: 0, FAILED: 1, CONFIG: 2, USAGE: 64 } as const;

export const AUDIT_USAGE = `Usage: qasid audit verify [--head ID:HASH] [--config FILE] [--redis URL] [--prefix P]
       qasid audit access [--since DURATION|TIME] [--json] [--config FILE] [--redis URL] [--prefix P]

verify walks the admin audit stream (<prefix>:audit) from its first entry and checks the
hash chain: every entry's prev must be the previous entry's hash, and its hash must match
its fields. Then it checks that the stream reaches its anchored head (<prefix>:{<prefix>:audit}:head,
moved by every append): entries cut off the end (XTRIM, XDEL of the newest) leave the head
naming an entry that is gone. Prints "ok: N entries, chain intact, head <id>", or
"broken at <id>: <reason>" naming the first entry that does not fit (edited, forged,
following a deleted one) or the head the stream no longer reaches.

  --head ID:HASH     also check a head kept outside Redis: the id and hash of an audit.head
                     log line (the daemon writes one every admin.auditHeadSec while the
                     trail grows). The stream must still hold that entry with that hash (or
                     retention must have trimmed past it), which finds a cut even when the
                     head key was rewritten with it.

access prints the admin access log (<prefix>:access), oldest first: one line per admin API
request — time, method, route, status, latency, role, token id, client address, and the
denial reason of a refused one. Never a body, a query string or a token.

  --since D|T        from when: a duration back from now (30s, 15m, 1h, 7d, 1h30m) or an ISO
                     time (2026-12-01T09:00:00Z); default 1h. Lines are kept
                     retention.accessSec (7 days by default).
  --json             one JSON object per line instead of columns
  --redis URL        default: redis.url of the config, else redis://127.0.0.1:6379
  --prefix P         default: redis.prefix of the config, else qasid
  --config FILE      the gateway's config file (also $QASID_CONFIG); $QASID_REDIS_URL and
                     $QASID_REDIS_PREFIX win over the file

Exit codes: 0 chain intact / lines printed · 1 chain broken or Redis unreachable · 2 invalid
configuration · 64 bad command line`;

const OPTIONS = {
  redis: { type: 'string' },
  prefix: { type: 'string' },
  config: { type: 'string', short: 'c' },
  since: { type: 'string' },
  json: { type: 'boolean' },
  head: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * When `--since` means, in ms: a duration back from `now` (one or more <integer><s|m|h|d|w>:
 * "15m", "1h30m") or an ISO 8601 time with a date. Throws a usage error otherwise.
 */
export function parseSince(text: string, now: number, flag = '--since'): number {
  const t = text.trim();
  if (/^(\d+[smhdw])+$/.test(t)) {
    let ms = 0;
    for (const [, n, unit] of t.matchAll(/(\d+)([smhdw])/g)) ms += Number(n) * (UNIT_MS[unit as string] as number);
    return now - ms;
  }
  const at = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : Number.NaN;
  if (Number.isNaN(at)) throw new Error(`${flag} "${text}" is neither a duration (15m, 1h, 7d) nor an ISO time (2026-12-01T09:00:00Z)`);
  return at;
}

/** One access line as columns: time, method, route, status, latency, role, token id, address[, denied reason]. */
export function accessRow(e: AccessEntry): string {
  const cols = [e.at, e.method.padEnd(6), e.route.padEnd(28), String(e.status), `${e.latencyMs.toFixed(1)} ms`.padStart(10), e.role.padEnd(8), e.actor.padEnd(12), e.address];
  if (e.denied !== undefined) cols.push(`denied ${e.denied}`);
  return cols.join('  ');
}

export async function auditCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  let values: { redis?: string; prefix?: string; config?: string; since?: string; json?: boolean; head?: string; help?: boolean };
  let given: AuditHead | undefined;
  let sub: 'verify' | 'access';
  let since = 0;
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    values = parsed.values;
    if (values.help) {
      io.out(AUDIT_USAGE);
      return EXIT.OK;
    }
    const [named, ...extra] = parsed.positionals;
    if (named !== 'verify' && named !== 'access') throw new Error(named === undefined ? 'missing subcommand (verify or access)' : `unknown subcommand "${named}"`);
    sub = named;
    if (extra.length > 0) throw new Error(`unexpected argument "${extra[0] ?? ''}"`);
    if (sub === 'verify' && (values.since !== undefined || values.json !== undefined)) throw new Error(`${values.since !== undefined ? '--since' : '--json'} is for qasid audit access`);
    if (sub === 'access' && values.head !== undefined) throw new Error('--head is for qasid audit verify');
    if (values.head !== undefined) {
      given = parseHead(values.head);
      if (given === undefined) throw new Error('--head must be <stream id>:<64 hex digits>, as an audit.head log line gives them (id and hash)');
    }
    if (sub === 'access') since = parseSince(values.since ?? '1h', Date.now());
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
  const keys = keysFor(prefix);
  try {
    if (sub === 'access') {
      let lines = 0;
      for await (const page of accessSince(redis, keys.access, since)) {
        for (const e of page) io.out(values.json ? JSON.stringify(e) : accessRow(e));
        lines += page.length;
      }
      io.err(`${lines} admin request${lines === 1 ? '' : 's'} since ${new Date(since).toISOString()}`);
      return EXIT.OK;
    }
    const result = await new AuditLog(redis, keys.audit, { headKey: keys.auditHead }).verify(given === undefined ? {} : { given });
    if (result.ok) {
      const head = result.head === undefined ? '' : `, head ${result.head.id}`;
      const checked = result.given === undefined ? '' : result.given === 'reached' ? `; holds the head given (${given?.id ?? ''})` : `; the head given (${given?.id ?? ''}) is older than the oldest entry kept (trimmed by retention)`;
      io.out(`ok: ${result.entries} entries, chain intact${head}${checked}`);
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
