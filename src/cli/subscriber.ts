/**
 * `qasid subscriber …` and `qasid dnc import`: data-subject requests and opt-out
 * management from the command line, with the same logic (src/privacy/) and the same
 * audit trail as the admin API. The number is an argument here; it is never printed
 * back except inside an export, and the audit entry names its keyed hash.
 */
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { AuditLog } from '../admin/audit.js';
import { loadConfig } from '../config/load.js';
import type { QasidConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { readDncFile } from '../privacy/dnc.js';
import { SubjectRequests } from '../privacy/subject.js';
import { SubscriberStore, type ChoiceScope } from '../privacy/subscribers.js';
import { Vault } from '../privacy/vault.js';
import { keysFor, type Keys } from '../queue/keys.js';
import { Outputs } from '../queue/outputs.js';
import { MessageStore } from '../queue/store.js';
import { normaliseMsisdn } from '../routing/index.js';
import { cliActor as actor } from './actor.js';
import { usageFailure } from './args.js';
import { connectCli } from './connect.js';
import { commandProgress, progressInterval, PROGRESS_OPTIONS, PROGRESS_USAGE } from './progress.js';
import { consoleIo, type CliIo } from './send.js';

const EXIT = { OK: 0, FAILED: 1, CONFIG: 2, REDIS: 4, USAGE: 64 } as const;

export const SUBSCRIBER_USAGE = `Usage: qasid subscriber COMMAND MSISDN [options] [--config FILE]

  export MSISDN                 print, as JSON, everything Qasid holds about the number:
                                opt-outs and consents, messages (decrypted), MO, dead letters
  erase MSISDN                  delete every record, text, mapping, event, MO entry and
                                dead letter of the number; keep only its objections
                                (opt-outs, blocklist, do-not-contact) as keyed hashes
  opt-out MSISDN SCOPE          record an opt-out
  opt-out-remove MSISDN SCOPE   undo one (as a START keyword does for a sender)
  consent MSISDN --tenant T     add to the tenant's marketing opt-in list
  consent-withdraw MSISDN --tenant T

  SCOPE: --sender S (a short code or sender id: as STOP to it) · --tenant T (all
  marketing of tenant T) · --blocklist (nothing at all is sent to the number)

Every command is idempotent and written to the audit stream (actor cli:<user>, target =
the number's keyed hash). Needs the gateway's config (redis, privacy keyrings).
export and erase walk whole streams (intake, dead letters, events) and show progress on
standard error:
${PROGRESS_USAGE}

Exit codes: 0 done · 1 failed · 2 invalid configuration · 4 Redis unreachable · 64 bad command line`;

export const DNC_USAGE = `Usage: qasid dnc import FILE [--replace] [--config FILE]

Imports a do-not-contact list (e.g. the PTA DNCR export): one number per line, any
common format (03001234567, 923001234567, +92 300 1234567), CSV with the number first,
'#' comments and a header line allowed. Numbers are stored as keyed hashes only.
Marketing to a listed number ends blocked with reason dnc; OTP and transactional
traffic is not affected. --replace starts a new list generation: numbers missing from
this file stop counting once the import completes. Lines that are not mobile numbers are
counted and skipped (never printed). Progress (lines read) goes to standard error:
${PROGRESS_USAGE}

Exit codes: 0 done · 1 failed · 2 invalid configuration · 4 Redis unreachable · 64 bad command line`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  sender: { type: 'string' },
  tenant: { type: 'string' },
  blocklist: { type: 'boolean' },
  replace: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...PROGRESS_OPTIONS,
} as const;

interface ProgressFlags {
  'no-progress'?: boolean;
  'progress-interval'?: string;
}

interface Opened {
  redis: Redis;
  keys: Keys;
  config: QasidConfig;
  subscribers: SubscriberStore;
  /** The subject requests, reading through `redis` (by default the connection itself). */
  subjects: (redis?: Redis) => SubjectRequests;
  audit: AuditLog;
}

/** Connect and build the privacy services from the gateway's config. */
async function open(configFile: string | undefined, io: CliIo, name: string): Promise<Opened | number> {
  let config: QasidConfig;
  let vault: Vault;
  try {
    config = loadConfig({ file: configFile, env: io.env ?? process.env, overrides: { carriers: [] } });
    vault = Vault.load(config.privacy);
  } catch (e) {
    io.err(`qasid ${name}: configuration invalid: ${errorMessage(e)}`);
    return EXIT.CONFIG;
  }
  const redis = await connectCli(config.redis, name, io);
  if (redis === undefined) return EXIT.REDIS;
  const keys = keysFor(config.redis.prefix, config.intake.shards);
  const store = new MessageStore(redis, keys, vault);
  const subscribers = new SubscriberStore(redis, keys, vault, config.policy);
  const outputs = new Outputs(redis, keys, config.outputs.maxLen, vault);
  const subjects = (via: Redis = redis): SubjectRequests =>
    new SubjectRequests({ redis: via, keys, vault, store, subscribers, outputs, intakeGroup: config.intake.group, defaultRegion: config.numbers.defaultRegion });
  return { redis, keys, config, subscribers, subjects, audit: new AuditLog(redis, keys.audit) };
}

export async function subscriberCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  let values: { config?: string; sender?: string; tenant?: string; blocklist?: boolean; help?: boolean } & ProgressFlags;
  let sub: string;
  let msisdn: string;
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    values = parsed.values;
    if (values.help) {
      io.out(SUBSCRIBER_USAGE);
      return EXIT.OK;
    }
    const [s, m, ...extra] = parsed.positionals;
    if (s === undefined) throw new Error('missing command');
    if (!['export', 'erase', 'opt-out', 'opt-out-remove', 'consent', 'consent-withdraw'].includes(s)) throw new Error(`unknown command "${s}"`);
    if (m === undefined) throw new Error('missing MSISDN');
    if (extra.length > 0) throw new Error('unexpected extra argument');
    progressInterval(values['progress-interval']);
    sub = s;
    msisdn = m;
  } catch (e) {
    io.err(usageFailure('subscriber', e, SUBSCRIBER_USAGE));
    return EXIT.USAGE;
  }
  let scope: ChoiceScope | undefined;
  if (sub === 'opt-out' || sub === 'opt-out-remove') {
    const given = [values.sender !== undefined, values.tenant !== undefined, values.blocklist === true].filter(Boolean).length;
    if (given !== 1) {
      io.err(`qasid subscriber: ${sub} needs exactly one of --sender S, --tenant T, --blocklist`);
      return EXIT.USAGE;
    }
    scope = values.sender !== undefined ? { kind: 'sender', sender: values.sender } : values.tenant !== undefined ? { kind: 'tenant', tenant: values.tenant } : { kind: 'blocklist' };
  }
  if ((sub === 'consent' || sub === 'consent-withdraw') && values.tenant === undefined) {
    io.err(`qasid subscriber: ${sub} needs --tenant T`);
    return EXIT.USAGE;
  }

  const o = await open(values.config, io, 'subscriber');
  if (typeof o === 'number') return o;
  try {
    const num = normaliseMsisdn(msisdn, o.config.numbers.defaultRegion);
    if (!num.ok) {
      io.err(`qasid subscriber: the MSISDN argument is not a usable number (${num.reason})`);
      return EXIT.USAGE;
    }
    const e164 = num.e164;
    const target = o.subscribers.hashes(e164)[0] as string;
    const who = actor();
    switch (sub) {
      case 'export': {
        const doc = await withStreamProgress(o, io, values, 'subscriber.export', [...o.keys.intakeStreams, o.keys.dead], (subjects) => subjects.export(e164));
        await o.audit.append({ ...who, action: 'subscriber.export', target });
        io.out(JSON.stringify(doc, null, 2));
        return EXIT.OK;
      }
      case 'erase': {
        const report = await withStreamProgress(o, io, values, 'subscriber.erase', [...o.keys.intakeStreams, o.keys.dead, o.keys.events], (subjects) => subjects.erase(e164));
        await o.audit.append({ ...who, action: 'subscriber.erase', target, detail: { ...report } });
        io.out(JSON.stringify(report, null, 2));
        return EXIT.OK;
      }
      case 'opt-out':
      case 'opt-out-remove': {
        const s = scope as ChoiceScope;
        const text = s.kind === 'blocklist' ? 'blocklist' : s.kind === 'sender' ? `sender:${s.sender}` : `tenant:${s.tenant}`;
        let changed = true;
        if (sub === 'opt-out') await o.subscribers.optOut(e164, s, Date.now());
        else changed = await o.subscribers.optIn(e164, s);
        await o.audit.append({ ...who, action: sub === 'opt-out' ? 'subscriber.opt_out' : 'subscriber.opt_out_removed', target, detail: { scope: text, changed } });
        io.out(`${sub === 'opt-out' ? 'opted out' : changed ? 'opt-out removed' : 'no such opt-out'}: ${target} (${text})`);
        return EXIT.OK;
      }
      default: {
        const tenant = values.tenant as string;
        let changed = true;
        if (sub === 'consent') await o.subscribers.consent(e164, tenant, Date.now());
        else changed = await o.subscribers.withdrawConsent(e164, tenant);
        await o.audit.append({ ...who, action: sub === 'consent' ? 'subscriber.consent' : 'subscriber.consent_withdrawn', target, detail: { tenant, changed } });
        io.out(`${sub === 'consent' ? 'consent recorded' : changed ? 'consent withdrawn' : 'no such consent'}: ${target} (tenant ${tenant})`);
        return EXIT.OK;
      }
    }
  } catch (e) {
    io.err(`qasid subscriber: ${errorMessage(e)}`);
    return EXIT.FAILED;
  } finally {
    o.redis.disconnect();
  }
}

/**
 * Runs a subject request with progress: the entries of `streams` it reads (XRANGE pages),
 * against their lengths when it starts. SubjectRequests walks them through the Redis
 * client it is given, so it is given one that counts what those reads return.
 */
async function withStreamProgress<T>(o: Opened, io: CliIo, flags: ProgressFlags, op: string, streams: readonly string[], body: (subjects: SubjectRequests) => Promise<T>): Promise<T> {
  const progress = commandProgress(io.progress, flags, { op, unit: 'entries' });
  if (!progress.visible) return body(o.subjects());
  const lengths = await Promise.all(streams.map((k) => o.redis.xlen(k)));
  progress.setTotal(lengths.reduce((a, b) => a + b, 0));
  const watched = new Set(streams);
  const counting = new Proxy(o.redis, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop !== 'xrange') return value.bind(target);
      return async (...args: unknown[]): Promise<unknown> => {
        const rows = (await (value as (...a: unknown[]) => Promise<unknown[]>).apply(target, args)) as unknown[];
        if (watched.has(String(args[0]))) progress.add(rows.length);
        return rows;
      };
    },
  });
  try {
    const result = await body(o.subjects(counting));
    // Done: a stream it had no need to walk (no events to delete) counts as walked.
    progress.setTotal(progress.done);
    return result;
  } finally {
    progress.finish();
  }
}

/** Lines in a file (newline bytes, or CRs when it has no LF), for an ETA; undefined when it cannot be read. */
async function countLines(path: string): Promise<number | undefined> {
  let lf = 0;
  let cr = 0;
  let last = -1;
  try {
    for await (const chunk of createReadStream(path)) {
      const buf = chunk as Buffer;
      for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) lf++;
      if (lf === 0) for (let i = buf.indexOf(13); i >= 0; i = buf.indexOf(13, i + 1)) cr++;
      if (buf.length > 0) last = buf[buf.length - 1] as number;
    }
  } catch {
    return undefined;
  }
  const ends = lf > 0 ? lf : cr;
  return ends + (last >= 0 && last !== 10 && last !== 13 ? 1 : 0);
}

export async function dncCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  let values: { config?: string; replace?: boolean; help?: boolean } & ProgressFlags;
  let file: string;
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    values = parsed.values;
    if (values.help) {
      io.out(DNC_USAGE);
      return EXIT.OK;
    }
    const [s, f, ...extra] = parsed.positionals;
    if (s !== 'import') throw new Error(s === undefined ? 'missing subcommand (import)' : `unknown subcommand "${s}"`);
    if (f === undefined) throw new Error('missing FILE');
    if (extra.length > 0) throw new Error('unexpected extra argument');
    progressInterval(values['progress-interval']);
    file = f;
  } catch (e) {
    io.err(usageFailure('dnc', e, DNC_USAGE));
    return EXIT.USAGE;
  }
  const o = await open(values.config, io, 'dnc');
  if (typeof o === 'number') return o;
  const problems: Record<string, number> = {};
  const progress = commandProgress(io.progress, values, { op: 'dnc.import', unit: 'lines' });
  try {
    if (progress.visible) progress.setTotal(await countLines(file));
    const numbers = (async function* () {
      for await (const r of readDncFile(file, o.config.numbers.defaultRegion)) {
        progress.update(r.line);
        if (r.e164 !== undefined) yield r.e164;
        else if (r.problem !== undefined) problems[r.problem] = (problems[r.problem] ?? 0) + 1;
      }
    })();
    const t0 = Date.now();
    const result = await o.subscribers.importDnc(numbers, values.replace === true);
    progress.setTotal(progress.done);
    progress.finish();
    const skipped = Object.values(problems).reduce((a, b) => a + b, 0);
    await o.audit.append({ ...actor(), action: 'dnc.import', detail: { imported: result.imported, skipped, replace: values.replace === true, generation: result.generation } });
    const why = Object.entries(problems).map(([k, v]) => `${v} ${k}`).join(', ');
    io.out(`imported ${result.imported} numbers (generation ${result.generation}${values.replace === true ? ', replacing the previous list' : ''}) in ${((Date.now() - t0) / 1000).toFixed(1)} s; skipped ${skipped}${why === '' ? '' : ` (${why})`}`);
    return EXIT.OK;
  } catch (e) {
    progress.finish();
    io.err(`qasid dnc: ${errorMessage(e)}`);
    return EXIT.FAILED;
  } finally {
    o.redis.disconnect();
  }
}
