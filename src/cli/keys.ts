/**
 * `qasid keys new | rotate`: make a cipher key, and move what Redis holds under older
 * keys to the keyring's current one (src/privacy/rotate.ts). Key material is printed
 * only by `keys new`, and only the key it just made.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { inspectConfig, loadConfig, maskRedisUrl } from '../config/load.js';
import type { QasidConfig } from '../config/types.js';
import { errorMessage, isQasidError } from '../core/errors.js';
import { Keyring, KEY_ID_PATTERN } from '../privacy/keyring.js';
import { rotateKeys, type RotationReport } from '../privacy/rotate.js';
import { loadKeyring } from '../privacy/vault.js';
import { keysFor } from '../queue/keys.js';
import type { RedisEndpoint } from '../queue/redis-options.js';
import { AuditLog } from '../admin/audit.js';
import { cliActor } from './actor.js';
import { usageFailure } from './args.js';
import { connectCli } from './connect.js';
import { commandProgress, progressInterval, PROGRESS_OPTIONS, PROGRESS_USAGE } from './progress.js';
import { consoleIo, type CliIo } from './send.js';

/** Within a part, a progress entry goes to the audit stream at most this often. */
const AUDIT_PROGRESS_MS = 60_000;

// As src/cli/run.ts: 1 here means some value could not be opened (or an unexpected error).
const EXIT = { OK: 0, FAILED: 1, CONFIG: 2, REDIS: 4, USAGE: 64 } as const;

export const KEYS_USAGE = `Usage: qasid keys new [--id ID] [--hash] [--config FILE]
       qasid keys rotate [--config FILE] [--redis URL] [--prefix P] [--batch N] [--json]

new      prints a fresh one-key keyring {"current":ID,"keys":{ID:"<base64 32 bytes>"}} on
         standard output, and on standard error what to do with it, judged from the
         config: where to put a first keyring, or how to rotate the one in use.
           --hash         the key is for privacy.hashKeyring (the keyed hashes that stand
                          for a subscriber), not privacy.keyring (encryption)
           --id ID        default: the first of k1, k2, … (h1, h2, … with --hash) that the
                          configured keyring does not hold; an ID it holds is refused
           --config FILE  the gateway's config (also $QASID_CONFIG and the QASID_* env)
rotate   re-encrypts what Redis holds under the keyring's older keys with its current
         key: message records (in place, compare-and-swap; plain legacy records get
         sealed) and dead letters (copied with a field "was" = old id, old one deleted).
         MO entries are only counted: they stay under their key until retention trims
         them. Prints what moved and what is still under each old key; a key showing 0
         can leave the keyring. Safe to run again; a second run moves nothing.
         Written to the audit stream: keys.rotate_started (before anything moves; a
         rotation that cannot be audited does not run), keys.rotate_progress after each
         part and every minute, keys.rotate_finished (or keys.rotate_stopped).
         The hash keyring needs no sweep (a hash cannot be recomputed without the number).

  --config FILE      the gateway's config file (also $QASID_CONFIG): privacy.keyring or
                     privacy.keyringFile, redis.url, redis.prefix
  --redis URL        default: redis.url of the config
  --prefix P         default: redis.prefix of the config
  --batch N          keys per SCAN / entries per XRANGE page (default 500)
  --json             print the report as JSON
${PROGRESS_USAGE}

Exit codes: 0 ok · 1 some value could not be opened (key not in the keyring, or damaged;
left as it was), or the audit stream could not be written · 2 invalid configuration · 4 Redis unreachable · 64 bad command line`;

const OPTIONS = {
  id: { type: 'string' },
  hash: { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  redis: { type: 'string' },
  prefix: { type: 'string' },
  batch: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...PROGRESS_OPTIONS,
} as const;

interface Values {
  id?: string;
  hash?: boolean;
  config?: string;
  redis?: string;
  prefix?: string;
  batch?: string;
  json?: boolean;
  help?: boolean;
  'no-progress'?: boolean;
  'progress-interval'?: string;
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
    const only = sub === 'new' ? ['id', 'hash', 'config'] : ['config', 'redis', 'prefix', 'batch', 'json', 'no-progress', 'progress-interval'];
    for (const k of Object.keys(values)) if (k !== 'help' && !only.includes(k)) throw new Error(`--${k} does not go with "keys ${sub}"`);
    if (values.id !== undefined && !KEY_ID_PATTERN.test(values.id)) throw new Error(`--id must match ${KEY_ID_PATTERN.source}`);
    if (values.batch !== undefined) {
      batch = Number(values.batch);
      if (!/^\d+$/.test(values.batch) || batch < 1 || batch > 100_000) throw new Error('--batch must be a whole number from 1 to 100000');
    }
    progressInterval(values['progress-interval']);
  } catch (e) {
    io.err(usageFailure('keys', e, KEYS_USAGE));
    return EXIT.USAGE;
  }

  if (sub === 'new') return newKey(values, io);

  let url: string;
  let prefix: string;
  let shards: number;
  let keyring: Keyring;
  let endpoint: RedisEndpoint;
  let moStreams: string[];
  try {
    const cfg = loadConfig({ file: values.config, env: io.env ?? process.env, overrides: { carriers: [] } });
    endpoint = cfg.redis;
    url = values.redis ?? cfg.redis.url.reveal();
    prefix = values.prefix ?? cfg.redis.prefix;
    shards = cfg.intake.shards;
    moStreams = [...new Set(cfg.mo.routes.map((r) => r.stream))];
    // Only the cipher keyring: the sweep needs no hash secrets.
    keyring = loadKeyring(cfg.privacy.keyring, cfg.privacy.keyringFile, 'privacy.keyring');
  } catch (e) {
    io.err(`qasid keys: configuration invalid: ${errorMessage(e)}`);
    return EXIT.CONFIG;
  }

  const redis = await connectCli(endpoint, 'keys', io, url);
  if (redis === undefined) return EXIT.REDIS;
  const where = maskRedisUrl(url);
  const keys = keysFor(prefix, shards);
  const audit = new AuditLog(redis, keys.audit, { headKey: keys.auditHead });
  const who = cliActor();
  try {
    // Before anything moves: a rotation that cannot be audited does not run.
    await audit.append({ ...who, action: 'keys.rotate_started', detail: { current: keyring.currentId, ids: keyring.ids() } });
  } catch (e) {
    io.err(`qasid keys: rotation not started: the audit stream cannot be written: ${errorMessage(e)} (Redis ${where})`);
    redis.disconnect();
    return EXIT.FAILED;
  }
  // SCAN gives no total up front: the count and rate are shown, no ETA.
  const progress = commandProgress(io.progress, values, { op: 'keys.rotate', unit: 'values' });
  // Progress goes to the audit stream after each part, and every AUDIT_PROGRESS_MS within one.
  let seen = 0;
  let auditedAt = Date.now();
  const note = (detail: object): Promise<unknown> => audit.append({ ...who, action: 'keys.rotate_progress', detail }).catch(() => undefined);
  try {
    const report = await rotateKeys(redis, keys, keyring, {
      ...(batch === undefined ? {} : { batch }),
      moStreams,
      onProgress: (n) => {
        progress.update(n);
        seen = n;
        if (Date.now() - auditedAt >= AUDIT_PROGRESS_MS) {
          auditedAt = Date.now();
          void note({ values: seen });
        }
      },
      onPart: async (part, r) => {
        auditedAt = Date.now();
        await note({ part, values: seen, records: { ...r.records }, dead: { ...r.dead }, mo: { ...r.mo } });
      },
    });
    progress.finish();
    const finished = { current: keyring.currentId, moved: report.records.moved + report.records.sealed + report.dead.moved, failed: report.records.failed + report.dead.failed, byKey: report.byKey };
    const audited = await audit.append({ ...who, action: 'keys.rotate_finished', detail: finished }).then(
      () => true,
      (e: unknown) => (io.err(`qasid keys: the rotation finished but its end could not be written to the audit stream: ${errorMessage(e)}`), false),
    );
    if (values.json) io.out(JSON.stringify(report));
    else for (const line of summary(report, keyring)) io.out(line);
    return report.records.failed + report.dead.failed > 0 || !audited ? EXIT.FAILED : EXIT.OK;
  } catch (e) {
    progress.finish();
    const lost = redis.status !== 'ready';
    await audit.append({ ...who, action: 'keys.rotate_stopped', detail: { values: seen, reason: lost ? 'redis_lost' : 'failed' } }).catch(() => undefined);
    io.err(`qasid keys: ${lost ? 'lost Redis' : 'rotation stopped'}: ${errorMessage(e)} (Redis ${where}); what moved stays moved, run it again`);
    return lost ? EXIT.REDIS : EXIT.FAILED;
  } finally {
    redis.disconnect();
  }
}

type KeyringName = 'privacy.keyring' | 'privacy.hashKeyring';

/** What the config says of one keyring: not set, set but unusable, or in use with these ids. */
type Configured =
  | { kind: 'none' }
  | { kind: 'file-absent'; file: string }
  | { kind: 'unusable'; why: string }
  | { kind: 'in-use'; ids: string[]; current: string }
  | { kind: 'unknown'; why: string };

/**
 * `keys new`: the key, and advice that fits the keyring it is for and whether one is in
 * use: a first install stores it and points the config at it; a rotation adds it.
 */
function newKey(values: Values, io: CliIo): number {
  const name: KeyringName = values.hash === true ? 'privacy.hashKeyring' : 'privacy.keyring';
  const other: KeyringName = name === 'privacy.keyring' ? 'privacy.hashKeyring' : 'privacy.keyring';
  let mine: Configured;
  let theirs: Configured;
  try {
    const { startup } = inspectConfig({ file: values.config, env: io.env ?? process.env, overrides: { carriers: [] } });
    mine = configured(name, startup.privacy);
    theirs = configured(other, startup.privacy);
  } catch (e) {
    const listed = isQasidError(e) ? e.details['problems'] : undefined;
    const why = Array.isArray(listed) ? (listed as Array<{ key: string; message: string }>).map((p) => `${p.key}: ${p.message}`).join('; ') : errorMessage(e);
    mine = theirs = { kind: 'unknown', why };
  }
  const letter = name === 'privacy.hashKeyring' ? 'h' : 'k';
  const held = mine.kind === 'in-use' ? mine.ids : [];
  if (values.id !== undefined && held.includes(values.id)) {
    io.err(`qasid keys: ${name} already holds a key "${values.id}"; a second one under that id would replace it. Choose another --id (e.g. ${freeId(letter, held)})`);
    return EXIT.USAGE;
  }
  const id = values.id ?? freeId(letter, held);
  io.out(Keyring.newSourceJson(id));
  for (const line of advice(name, id, mine, theirs)) io.err(`qasid keys: ${line}`);
  return EXIT.OK;
}

function configured(name: KeyringName, privacy: QasidConfig['privacy']): Configured {
  const inline = name === 'privacy.keyring' ? privacy.keyring : privacy.hashKeyring;
  const file = name === 'privacy.keyring' ? privacy.keyringFile : privacy.hashKeyringFile;
  if (inline.reveal() === '' && file === '') return { kind: 'none' };
  // The config names the file and it is not there yet: a first install, written in order.
  if (file !== '' && !existsSync(file)) return { kind: 'file-absent', file };
  try {
    const ring = loadKeyring(inline, file, name);
    return { kind: 'in-use', ids: ring.ids(), current: ring.currentId };
  } catch (e) {
    return { kind: 'unusable', why: errorMessage(e) };
  }
}

/** k1, k2, … : the first the keyring does not hold. */
function freeId(letter: string, held: readonly string[]): string {
  for (let n = 1; ; n++) if (!held.includes(`${letter}${n}`)) return `${letter}${n}`;
}

function advice(name: KeyringName, id: string, mine: Configured, theirs: Configured): string[] {
  const hash = name === 'privacy.hashKeyring';
  const env = hash ? 'QASID_HASH_KEYRING' : 'QASID_KEYRING';
  const what = hash ? 'the keyed-hash secret' : 'the encryption key';
  const place = `save it as a file only the gateway's user can read (e.g. /etc/qasid/${hash ? 'hash-keyring' : 'keyring'}.json) and set ${name}File (env ${env}_FILE), or give the JSON itself in ${env}`;
  const lines: string[] = [];
  switch (mine.kind) {
    case 'in-use':
      if (hash) {
        lines.push(
          `to rotate ${name} (holds ${mine.ids.join(', ')}; current ${mine.current}): add secret "${id}" to its keys, set "current": "${id}", keep the old secrets, and reload every instance (SIGHUP).`,
          `Opt-outs, consents and the do-not-contact list recorded under the old secrets are found only through them: keep them while those matter, and re-import the DNC list (qasid dnc import) to hold it under "${id}". Nothing is re-encrypted: \`qasid keys rotate\` is for privacy.keyring.`,
        );
      } else {
        lines.push(
          `to rotate ${name} (holds ${mine.ids.join(', ')}; current ${mine.current}): add key "${id}" to its keys, set "current": "${id}", keep the old keys, reload every instance (SIGHUP),`,
          `then run \`qasid keys rotate\` to re-encrypt what Redis holds under the old keys; a key can leave the keyring once the report shows nothing under it.`,
        );
      }
      break;
    case 'unusable':
      lines.push(`${name} is configured but cannot be used (${mine.why}).`, `If this is its first key, ${place}. If a keyring was in use, repair it rather than replace it: what it encrypted or hashed needs its keys.`);
      break;
    case 'none':
      lines.push(`this is a first ${name} (${what}): ${place}.`);
      break;
    case 'file-absent':
      lines.push(`this is a first ${name} (${what}): save it as ${mine.file}, which ${name}File names, readable only by the gateway's user.`);
      break;
    case 'unknown':
      lines.push(`the config could not be read (${mine.why}), so this advice cannot tell whether ${name} is in use.`, `For a first keyring: ${place}. To rotate one in use: add "${id}" to its keys, make it "current", keep the old keys, and reload (SIGHUP).`);
      break;
  }
  if (mine.kind !== 'in-use' && theirs.kind === 'none') {
    const other = hash ? 'privacy.keyring' : 'privacy.hashKeyring';
    lines.push(`qasid run needs ${other} as well, with a key of its own: \`qasid keys new${hash ? '' : ' --hash'}\`.`);
  }
  return lines;
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
