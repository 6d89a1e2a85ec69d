/**
 * `qasid keys new | rotate`: make a cipher key, and move what Redis holds under older
 * keys to the keyring's current one (src/privacy/rotate.ts). Key material is printed
 * only by `keys new`, and only the key it just made.
 */
import { parseArgs } from 'node:util';
import { loadConfig, maskRedisUrl } from '../config/load.js';
import { errorMessage } from '../core/errors.js';
import { Keyring, KEY_ID_PATTERN } from '../privacy/keyring.js';
import { rotateKeys, type RotationReport } from '../privacy/rotate.js';
import { loadKeyring } from '../privacy/vault.js';
import { keysFor } from '../queue/keys.js';
import type { RedisEndpoint } from '../queue/redis-options.js';
import { connectCli } from './connect.js';
import { consoleIo, type CliIo } from './send.js';

// As src/cli/run.ts: 1 here means some value could not be opened (or an unexpected error).
const EXIT = { OK: 0, FAILED: 1, CONFIG: 2, REDIS: 4, USAGE: 64 } as const;

export const KEYS_USAGE = `Usage: qasid keys new [--id ID]
       qasid keys rotate [--config FILE] [--redis URL] [--prefix P] [--batch N] [--json]

new      prints a fresh one-key keyring {"current":ID,"keys":{ID:"<base64 32 bytes>"}}
         (default id k1). To rotate, add the key to the existing privacy.keyring's keys,
         make it "current", keep the old keys, and reload the gateway (SIGHUP).
rotate   re-encrypts what Redis holds under the keyring's older keys with its current
         key: message records (in place, compare-and-swap; plain legacy records get
         sealed) and dead letters (copied with a field "was" = old id, old one deleted).
         MO entries are only counted: they stay under their key until retention trims
         them. Prints what moved and what is still under each old key; a key showing 0
         can leave the keyring. Safe to run again; a second run moves nothing.

  --config FILE      the gateway's config file (also $QASID_CONFIG): privacy.keyring or
                     privacy.keyringFile, redis.url, redis.prefix
  --redis URL        default: redis.url of the config
  --prefix P         default: redis.prefix of the config
  --batch N          keys per SCAN / entries per XRANGE page (default 500)
  --json             print the report as JSON

Exit codes: 0 ok · 1 some value could not be opened (key not in the keyring, or damaged;
left as it was) · 2 invalid configuration · 4 Redis unreachable · 64 bad command line`;

const OPTIONS = {
  id: { type: 'string' },
  config: { type: 'string', short: 'c' },
  redis: { type: 'string' },
  prefix: { type: 'string' },
  batch: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Values {
  id?: string;
  config?: string;
  redis?: string;
  prefix?: string;
  batch?: string;
  json?: boolean;
  help?: boolean;
}

export async function keysCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  let values: Values;
  let sub: string;
  let batch: number | undefined;
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    values = parsed.values;
    if (values.help) {
      io.out(KEYS_USAGE);
      return EXIT.OK;
    }
    const [first, ...extra] = parsed.positionals;
    if (first !== 'new' && first !== 'rotate') throw new Error(first === undefined ? 'missing subcommand (new, rotate)' : `unknown subcommand "${first}"`);
    sub = first;
    if (extra.length > 0) throw new Error(`unexpected argument "${extra[0] ?? ''}"`);
    const only = sub === 'new' ? ['id'] : ['config', 'redis', 'prefix', 'batch', 'json'];
    for (const k of Object.keys(values)) if (k !== 'help' && !only.includes(k)) throw new Error(`--${k} does not go with "keys ${sub}"`);
    if (values.id !== undefined && !KEY_ID_PATTERN.test(values.id)) throw new Error(`--id must match ${KEY_ID_PATTERN.source}`);
    if (values.batch !== undefined) {
      batch = Number(values.batch);
      if (!/^\d+$/.test(values.batch) || batch < 1 || batch > 100_000) throw new Error('--batch must be a whole number from 1 to 100000');
    }
  } catch (e) {
    io.err(`qasid keys: ${errorMessage(e)}\n${KEYS_USAGE}`);
    return EXIT.USAGE;
  }

  if (sub === 'new') {
    const id = values.id ?? 'k1';
    io.out(Keyring.newSourceJson(id));
    io.err(`qasid keys: to rotate, add key "${id}" to the keys of your existing privacy.keyring, set "current": "${id}", keep the old keys, reload (SIGHUP), then run \`qasid keys rotate\``);
    return EXIT.OK;
  }

  let url: string;
  let prefix: string;
  let keyring: Keyring;
  let endpoint: RedisEndpoint;
  try {
    const cfg = loadConfig({ file: values.config, env: io.env ?? process.env, overrides: { carriers: [] } });
    endpoint = cfg.redis;
    url = values.redis ?? cfg.redis.url.reveal();
    prefix = values.prefix ?? cfg.redis.prefix;
    // Only the cipher keyring: the sweep needs no hash secrets.
    keyring = loadKeyring(cfg.privacy.keyring, cfg.privacy.keyringFile, 'privacy.keyring');
  } catch (e) {
    io.err(`qasid keys: configuration invalid: ${errorMessage(e)}`);
    return EXIT.CONFIG;
  }

  const redis = await connectCli(endpoint, 'keys', io, url);
  if (redis === undefined) return EXIT.REDIS;
  const where = maskRedisUrl(url);
  try {
    const report = await rotateKeys(redis, keysFor(prefix), keyring, batch === undefined ? {} : { batch });
    if (values.json) io.out(JSON.stringify(report));
    else for (const line of summary(report, keyring)) io.out(line);
    return report.records.failed + report.dead.failed > 0 ? EXIT.FAILED : EXIT.OK;
  } catch (e) {
    const lost = redis.status !== 'ready';
    io.err(`qasid keys: ${lost ? 'lost Redis' : 'rotation stopped'}: ${errorMessage(e)} (Redis ${where}); what moved stays moved, run it again`);
    return lost ? EXIT.REDIS : EXIT.FAILED;
  } finally {
    redis.disconnect();
  }
}

/** The report in words. Key ids only, never key material. */
function summary(r: RotationReport, keyring: Keyring): string[] {
  const lines = [
    `current key: ${keyring.currentId}`,
    `records: ${r.records.moved} moved, ${r.records.sealed} sealed (were plain), ${r.records.current} already current, ${r.records.failed} failed`,
    `dead letters: ${r.dead.moved} moved, ${r.dead.current} already current, ${r.dead.failed} failed`,
    r.mo.underOldKeys === 0
      ? 'MO entries: none under old keys'
      : `MO entries: ${r.mo.underOldKeys} under old keys (not rewritten; newest ${r.mo.newestOldEntry ?? '?'}): keep their keys until retention trims them`,
  ];
  for (const [id, n] of Object.entries(r.byKey)) {
    if (!keyring.has(id)) lines.push(`key ${id}: ${n} value(s) under it, and the keyring does not hold it`);
    else lines.push(n === 0 ? `key ${id}: nothing left under it; it can leave the keyring` : `key ${id}: ${n} still under it; keep it`);
  }
  const failed = r.records.failed + r.dead.failed;
  if (failed > 0) lines.push(`${failed} value(s) could not be opened (key not in the keyring, or damaged): left as they were`);
  return lines;
}
