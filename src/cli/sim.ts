/**
 * `qasid sim`: run one or more SMSC simulator listeners until SIGINT/SIGTERM.
 * Every behaviour option has a flag (FLAGS is typed over all of them, so a new option
 * without a flag does not compile) and --help lists every flag and preset.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { errorMessage } from '../core/errors.js';
import { createLogger, type Logger } from '../log/logger.js';
import {
  DEFAULT_BEHAVIOUR,
  LONG_MO_METHODS,
  PRESET_ABOUT,
  PRESETS,
  mergeBehaviour,
  moBodies,
  resolvePreset,
  startSimulator,
  type LongMoMethod,
  type MoOptions,
  type SimBehaviour,
  type SimBehaviourPatch,
  type SimReceiptBehaviour,
  type SimServer,
} from '../sim/index.js';

type BehaviourOption = Exclude<keyof SimBehaviour, 'receipts'> | `receipts.${keyof SimReceiptBehaviour}`;

/** The command-line flag of every behaviour option. */
export const FLAGS: Readonly<Record<BehaviourOption, string>> = {
  messageIdFormat: 'message-id-format',
  'receipts.enabled': 'no-receipts',
  'receipts.delayMs': 'receipt-delay',
  'receipts.format': 'receipt-format',
  'receipts.idFormat': 'receipt-id-format',
  'receipts.stat': 'receipt-stat',
  'receipts.undeliverableEvery': 'undeliverable-every',
  'receipts.early': 'early-receipts',
  'receipts.spread': 'spread-receipts',
  'receipts.textIdFormat': 'receipt-text-id-format',
  'receipts.zeroLengthStateEvery': 'zero-length-state-every',
  tps: 'tps',
  tpsBurst: 'tps-burst',
  submitError: 'submit-error',
  blackhole: 'blackhole',
  blackholeAll: 'blackhole-all',
  dropAfterPdus: 'drop-after',
  responseDelayMs: 'response-delay',
  bindFail: 'bind-fail',
  credentials: 'credentials',
  malformedAfterPdus: 'malformed-after',
  unbindAfterPdus: 'unbind-after',
  heldReceiptLimit: 'held-receipt-limit',
  strayResponses: 'stray-responses',
  fuzz: 'fuzz',
  queries: 'queries',
};

const d = DEFAULT_BEHAVIOUR;
const BEHAVIOUR_HELP: ReadonlyArray<[string, string]> = [
  [`--${FLAGS.messageIdFormat} decimal|hex|uuid`, `message_id format in submit_sm_resp (default ${d.messageIdFormat})`],
  [`--${FLAGS['receipts.enabled']}`, 'never send delivery receipts (default: send when registered_delivery & 0x03)'],
  [`--${FLAGS['receipts.delayMs']} MS`, `receipt delay after the submit_sm_resp, 10 ms buckets (default ${d.receipts.delayMs})`],
  [`--${FLAGS['receipts.format']} tlv|text|both`, `receipt as TLVs (receipted_message_id, message_state), as id:… stat:… text, or both (default ${d.receipts.format})`],
  [`--${FLAGS['receipts.idFormat']} same|decimal|hex`, `message id as written in receipts; decimal/hex rewrite the same number (default ${d.receipts.idFormat})`],
  [`--${FLAGS['receipts.stat']} STAT`, `receipt state: DELIVRD EXPIRED DELETED UNDELIV ACCEPTD UNKNOWN REJECTD ENROUTE (default ${d.receipts.stat})`],
  [`--${FLAGS['receipts.undeliverableEvery']} N`, 'every Nth receipt reports UNDELIV err:001 (default 0 = off)'],
  [`--${FLAGS['receipts.early']}`, 'write each receipt before its submit_sm_resp, in the same flush'],
  [`--${FLAGS['receipts.spread']}`, 'spread receipts over every receiving session of the system_id, not the one the submit came on'],
  [`--${FLAGS['receipts.textIdFormat']} same|decimal|hex`, `message id in the receipt text when it differs from the TLV's; decimal/hex rewrite the same number (default ${d.receipts.textIdFormat})`],
  [`--${FLAGS['receipts.zeroLengthStateEvery']} N`, 'every Nth receipt writes message_state with length 0 (the text still says id and stat); delivered again on each bind until answered (default 0 = off)'],
  [`--${FLAGS.tps} N`, 'cap submit_sm per second per listener (token bucket); over it: ESME_RTHROTTLED 0x58 (default 0 = no cap)'],
  [`--${FLAGS.tpsBurst} N`, `with --tps: at most N submit_sm pass at once after a quiet spell (default 0 = one second's worth, N = tps)`],
  [`--${FLAGS.submitError} STATUS`, 'answer submit_sm with this command_status, e.g. 0x08 ESME_RSYSERR, 0x14 ESME_RMSGQFUL'],
  ['--submit-error-every N', 'with --submit-error: only every Nth submit_sm gets the error (default 1)'],
  [`--${FLAGS.blackhole}`, 'never answer submit_sm (bind, enquire_link, unbind still answered)'],
  [`--${FLAGS.blackholeAll}`, 'answer the bind, then nothing at all'],
  [`--${FLAGS.dropAfterPdus} N`, 'close a connection when its Nth PDU (bind counted) arrives; it and later PDUs go unanswered (default 0 = off)'],
  [`--${FLAGS.responseDelayMs} MS`, 'delay every submit_sm_resp (default 0)'],
  [`--${FLAGS.bindFail} STATUS`, 'answer every bind with this status, e.g. 0x0d ESME_RBINDFAIL, 0x0e ESME_RINVPASWD'],
  [`--${FLAGS.credentials} ID:PASSWORD`, 'accept only this system_id/password; others get ESME_RINVPASWD (default: accept any)'],
  [`--${FLAGS.malformedAfterPdus} N`, 'after the Nth PDU on a connection, write a frame with command_length 5 (default 0 = off)'],
  [`--${FLAGS.unbindAfterPdus} N`, 'after the Nth PDU on a connection, send unbind; unbind_resp closes it (default 0 = off)'],
  [`--${FLAGS.heldReceiptLimit} N`, `receipts held per system_id while no receiver is bound; beyond: dropped (default ${d.heldReceiptLimit})`],
  [`--${FLAGS.strayResponses}`, 'before each answer, write a response of another command with the same sequence number (submit_sm_resp for enquire_link, enquire_link_resp for submit_sm)'],
  [`--${FLAGS.fuzz} N`, 'send N hostile PDUs a second with intact framing (random bodies, zero-length and truncated TLVs, unknown commands, stray responses), over the bound sessions (default 0 = off)'],
  ['--fuzz-limit N', 'with --fuzz: stop after N hostile PDUs (default 0 = never)'],
  ['--fuzz-seed N', 'with --fuzz: PRNG seed, the same seed sends the same PDUs (default 1)'],
  [`--${FLAGS.queries} answer|ignore|refuse`, `query_sm: answer with the message's state (ENROUTE until its receipt would be due, then the receipt's state), never answer, or refuse with generic_nack (default ${d.queries})`],
];

function describePatch(patch: SimBehaviourPatch): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'receipts' && v && typeof v === 'object') {
      for (const [rk, rv] of Object.entries(v)) parts.push(`receipts.${rk}=${JSON.stringify(rv)}`);
    } else parts.push(`${k}=${JSON.stringify(v)}`);
  }
  return parts.length ? parts.join(' ') : '(the defaults)';
}

export function simUsage(): string {
  const pad = (rows: ReadonlyArray<readonly [string, string]>): string => {
    const w = Math.max(...rows.map(([a]) => a.length)) + 2;
    return rows.map(([a, b]) => `  ${a.padEnd(w)}${b}`).join('\n');
  };
  return `Usage: qasid sim [options]

Run an SMPP 3.4 SMSC simulator until SIGINT/SIGTERM. Statuses take decimal or 0x hex.

Listener:
${pad([
  ['--host HOST', 'interface to listen on (default 127.0.0.1)'],
  ['--port PORT', 'port of the single listener (default 2775; 0 = random)'],
  ['--name NAME', 'listener name in logs and stats (default: the preset name)'],
  ['--preset NAME', 'behaviour preset, case-insensitive, SMSC suffix optional (default HappySMSC)'],
  ['--listen NAME=PORT:PRESET', 'a listener; repeat for several in one process (NAME= and :PRESET optional); replaces --port/--name/--preset'],
  ['--tls-key FILE', 'PEM private key: serve SMPP over TLS (needs --tls-cert)'],
  ['--tls-cert FILE', 'PEM certificate for --tls-key'],
  ['--stats-interval MS', 'print one JSON stats line per listener every MS (default 0 = never)'],
  ['--mo FROM:TO:TEXT', 'once a receiver or transceiver is bound, deliver this MO once (on one session of the first listener with one); repeat for several, sent in order. TEXT may hold ":"'],
  ['--mo-long udh8|udh16|sar', 'send every --mo as a long MO: in parts numbered in a UDH (8- or 16-bit reference) or in SAR TLVs'],
  ['--mo-part-octets N', 'with --mo-long: text octets per part (default 134 udh8, 133 udh16, 140 sar; UCS-2 rounded down to even)'],
  ['--mo-delay MS', 'with --mo: wait this long after the bind (default 500)'],
  ['--log-level LEVEL', 'pino log level (default info)'],
  ['-h, --help', 'this text'],
])}

Behaviour (applied on top of each listener's preset):
${pad(BEHAVIOUR_HELP)}

Presets:
${Object.entries(PRESETS)
  .map(([name, patch]) => `  ${name.padEnd(27)}${PRESET_ABOUT[name] ?? ''}\n  ${''.padEnd(27)}${describePatch(patch)}`)
  .join('\n')}
`;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  host: { type: 'string' },
  port: { type: 'string' },
  name: { type: 'string' },
  preset: { type: 'string' },
  listen: { type: 'string', multiple: true },
  'tls-key': { type: 'string' },
  'tls-cert': { type: 'string' },
  'stats-interval': { type: 'string' },
  mo: { type: 'string', multiple: true },
  'mo-long': { type: 'string' },
  'mo-part-octets': { type: 'string' },
  'mo-delay': { type: 'string' },
  'log-level': { type: 'string' },
  'message-id-format': { type: 'string' },
  'no-receipts': { type: 'boolean' },
  'receipt-delay': { type: 'string' },
  'receipt-format': { type: 'string' },
  'receipt-id-format': { type: 'string' },
  'receipt-stat': { type: 'string' },
  'undeliverable-every': { type: 'string' },
  'early-receipts': { type: 'boolean' },
  'spread-receipts': { type: 'boolean' },
  'receipt-text-id-format': { type: 'string' },
  'zero-length-state-every': { type: 'string' },
  tps: { type: 'string' },
  'tps-burst': { type: 'string' },
  'submit-error': { type: 'string' },
  'submit-error-every': { type: 'string' },
  blackhole: { type: 'boolean' },
  'blackhole-all': { type: 'boolean' },
  'drop-after': { type: 'string' },
  'response-delay': { type: 'string' },
  'bind-fail': { type: 'string' },
  credentials: { type: 'string' },
  'malformed-after': { type: 'string' },
  'unbind-after': { type: 'string' },
  'held-receipt-limit': { type: 'string' },
  'stray-responses': { type: 'boolean' },
  fuzz: { type: 'string' },
  'fuzz-limit': { type: 'string' },
  'fuzz-seed': { type: 'string' },
  queries: { type: 'string' },
} as const;

class UsageError extends Error {}

function isParseArgsError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new UsageError(`--${flag} needs a non-negative integer (decimal or 0x hex), got "${v}"`);
  return n;
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: false }>>['values'];

function behaviourFrom(v: Values): SimBehaviourPatch {
  const receipts: Partial<SimReceiptBehaviour> = {};
  if (v['no-receipts']) receipts.enabled = false;
  if (v['receipt-delay'] !== undefined) receipts.delayMs = num('receipt-delay', v['receipt-delay']);
  if (v['receipt-format'] !== undefined) receipts.format = v['receipt-format'] as SimReceiptBehaviour['format'];
  if (v['receipt-id-format'] !== undefined) receipts.idFormat = v['receipt-id-format'] as SimReceiptBehaviour['idFormat'];
  if (v['receipt-stat'] !== undefined) receipts.stat = v['receipt-stat'].toUpperCase() as SimReceiptBehaviour['stat'];
  if (v['undeliverable-every'] !== undefined) receipts.undeliverableEvery = num('undeliverable-every', v['undeliverable-every']);
  if (v['early-receipts']) receipts.early = true;
  if (v['spread-receipts']) receipts.spread = true;
  if (v['receipt-text-id-format'] !== undefined) receipts.textIdFormat = v['receipt-text-id-format'] as SimReceiptBehaviour['textIdFormat'];
  if (v['zero-length-state-every'] !== undefined) receipts.zeroLengthStateEvery = num('zero-length-state-every', v['zero-length-state-every']);
  const patch: SimBehaviourPatch = { receipts };
  if (v['message-id-format'] !== undefined) patch.messageIdFormat = v['message-id-format'] as SimBehaviour['messageIdFormat'];
  patch.tps = num('tps', v.tps);
  patch.tpsBurst = num('tps-burst', v['tps-burst']);
  if (v['submit-error'] !== undefined) patch.submitError = { status: num('submit-error', v['submit-error']) ?? 0, every: num('submit-error-every', v['submit-error-every']) ?? 1 };
  else if (v['submit-error-every'] !== undefined) throw new UsageError('--submit-error-every needs --submit-error');
  if (v.blackhole) patch.blackhole = true;
  if (v['blackhole-all']) patch.blackholeAll = true;
  patch.dropAfterPdus = num('drop-after', v['drop-after']);
  patch.responseDelayMs = num('response-delay', v['response-delay']);
  if (v['bind-fail'] !== undefined) patch.bindFail = { status: num('bind-fail', v['bind-fail']) ?? 0 };
  if (v.credentials !== undefined) {
    const i = v.credentials.indexOf(':');
    if (i <= 0) throw new UsageError('--credentials needs SYSTEM_ID:PASSWORD');
    patch.credentials = { systemId: v.credentials.slice(0, i), password: v.credentials.slice(i + 1) };
  }
  patch.malformedAfterPdus = num('malformed-after', v['malformed-after']);
  patch.unbindAfterPdus = num('unbind-after', v['unbind-after']);
  patch.heldReceiptLimit = num('held-receipt-limit', v['held-receipt-limit']);
  if (v['stray-responses']) patch.strayResponses = true;
  if (v.queries !== undefined) patch.queries = v.queries as SimBehaviour['queries'];
  const fuzz = num('fuzz', v.fuzz);
  if (fuzz !== undefined && fuzz > 0) patch.fuzz = { perSecond: fuzz, limit: num('fuzz-limit', v['fuzz-limit']) ?? 0, seed: num('fuzz-seed', v['fuzz-seed']) ?? 1 };
  else if (v['fuzz-limit'] !== undefined || v['fuzz-seed'] !== undefined) throw new UsageError('--fuzz-limit and --fuzz-seed need --fuzz N');
  return patch;
}

/** `FROM:TO:TEXT`: the first two colons end the addresses, the text is the rest (it may hold colons). */
export function parseMoSpec(spec: string): { from: string; to: string; text: string } {
  const m = /^([^:]+):([^:]+):(.*)$/s.exec(spec);
  if (!m) throw new UsageError(`--mo needs FROM:TO:TEXT, got "${spec}"`);
  return { from: m[1] as string, to: m[2] as string, text: m[3] as string };
}

/** The MOs --mo asks for, with --mo-long and --mo-part-octets; [] without --mo. */
export function moInjections(v: Pick<Values, 'mo' | 'mo-long' | 'mo-part-octets' | 'mo-delay'>): MoOptions[] {
  const specs = v.mo ?? [];
  if (specs.length === 0) {
    const alone = (['mo-long', 'mo-part-octets', 'mo-delay'] as const).find((k) => v[k] !== undefined);
    if (alone !== undefined) throw new UsageError(`--${alone} needs --mo FROM:TO:TEXT`);
    return [];
  }
  const long = v['mo-long'];
  if (long !== undefined && !(LONG_MO_METHODS as readonly string[]).includes(long)) throw new UsageError(`--mo-long needs ${LONG_MO_METHODS.join('|')}, got "${long}"`);
  if (v['mo-part-octets'] !== undefined && long === undefined) throw new UsageError('--mo-part-octets needs --mo-long');
  const partOctets = num('mo-part-octets', v['mo-part-octets']);
  const out = specs.map((s) => ({ ...parseMoSpec(s), ...(long === undefined ? {} : { long: long as LongMoMethod }), ...(partOctets === undefined ? {} : { partOctets }) }));
  // Checked here (part size, part count), not once a session is bound.
  for (const mo of out) {
    try {
      moBodies(mo, 1);
    } catch (e) {
      throw new UsageError(`--mo ${mo.from}:${mo.to}:…: ${errorMessage(e)}`);
    }
  }
  return out;
}

/** Wait for a listener with a bound receiver or transceiver, then deliver each MO once on it. */
async function injectWhenBound(sims: readonly SimServer[], mos: readonly MoOptions[], delayMs: number, signal: AbortSignal, logger: Logger): Promise<void> {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
  const receiving = (s: SimServer): boolean => s.boundSessions().some((b) => b.mode !== 'transmitter');
  let target: SimServer | undefined;
  while (!signal.aborted && (target = sims.find(receiving)) === undefined) await sleep(50);
  if (target === undefined) return;
  await sleep(delayMs);
  for (const mo of mos) {
    if (signal.aborted) return;
    const pdus = target.injectMo(mo);
    logger.info({ event: 'sim.session', sim: target.name, action: 'mo_injected', deliverSm: pdus, ...(mo.long ? { long: mo.long } : {}) }, pdus > 0 ? 'MO delivered' : 'MO not delivered: no receiver bound');
  }
}

interface ListenSpec {
  name?: string;
  port: number;
  preset?: string;
}

/** `name=port:preset`, `port:preset`, `name=port` or `port`. */
function parseListen(spec: string): ListenSpec {
  const m = /^(?:([^=]+)=)?(\d+)(?::(.+))?$/.exec(spec);
  if (!m) throw new UsageError(`--listen needs NAME=PORT:PRESET, got "${spec}"`);
  const preset = m[3];
  if (preset !== undefined) resolvePreset(preset);
  return { name: m[1], port: num('listen', m[2]) ?? 0, preset };
}

export interface SimCommandIo {
  /** Stops the simulator as SIGINT would (tests). */
  signal?: AbortSignal;
  /** Where help and stats lines go; default stdout. */
  out?: (text: string) => void;
  /** Where usage errors go; default stderr. */
  err?: (text: string) => void;
}

export async function simCommand(argv: string[], io: SimCommandIo = {}): Promise<number> {
  const out = io.out ?? ((s: string) => void process.stdout.write(s));
  const err = io.err ?? ((s: string) => void process.stderr.write(s));
  let v: Values;
  let specs: ListenSpec[];
  let patch: SimBehaviourPatch;
  let tlsOpts: { key: Buffer; cert: Buffer } | undefined;
  let statsMs: number;
  let mos: MoOptions[];
  let moDelayMs: number;
  try {
    v = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true }).values;
    if (v.help) {
      out(simUsage());
      return 0;
    }
    patch = behaviourFrom(v);
    mergeBehaviour(DEFAULT_BEHAVIOUR, patch); // validates values before anything listens
    statsMs = num('stats-interval', v['stats-interval']) ?? 0;
    mos = moInjections(v);
    moDelayMs = num('mo-delay', v['mo-delay']) ?? 500;
    if (v.preset !== undefined) resolvePreset(v.preset);
    specs = v.listen?.length ? v.listen.map(parseListen) : [{ name: v.name, port: num('port', v.port) ?? 2775, preset: v.preset }];
    if (Boolean(v['tls-key']) !== Boolean(v['tls-cert'])) throw new UsageError('--tls-key and --tls-cert go together');
    if (v['tls-key'] && v['tls-cert']) tlsOpts = { key: readFileSync(v['tls-key']), cert: readFileSync(v['tls-cert']) };
  } catch (e) {
    err(`qasid sim: ${errorMessage(e)}\nRun qasid sim --help for usage.\n`);
    // Exit codes as in `qasid help`: 2 invalid configuration (bad values, unknown preset, unreadable TLS file), 64 bad command line.
    return e instanceof UsageError || isParseArgsError(e) ? 64 : 2;
  }
  const logger = createLogger({ name: 'qasid-sim', level: v['log-level'] ?? 'info' });
  const host = v.host ?? '127.0.0.1';
  const sims: SimServer[] = [];
  try {
    for (const s of specs) sims.push(await startSimulator({ host, port: s.port, name: s.name, preset: s.preset, behaviour: patch, tls: tlsOpts, logger }));
  } catch (e) {
    err(`qasid sim: ${errorMessage(e)}\n`);
    await Promise.allSettled(sims.map((s) => s.close()));
    return 3;
  }
  const timer =
    statsMs > 0
      ? setInterval(() => {
          for (const s of sims) out(`${JSON.stringify({ sim: s.name, port: s.port, time: new Date().toISOString(), connections: s.connections(), stats: s.stats })}\n`);
        }, statsMs)
      : null;
  const moAbort = new AbortController();
  const injecting = mos.length > 0 ? injectWhenBound(sims, mos, moDelayMs, moAbort.signal, logger) : Promise.resolve();
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop, { once: true });
  });
  if (timer) clearInterval(timer);
  moAbort.abort();
  await injecting.catch(() => undefined);
  await Promise.allSettled(sims.map((s) => s.close()));
  return 0;
}
