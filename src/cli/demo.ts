/**
 * `qasid demo`: the first thing a newcomer runs. The whole message path, for real: a
 * Redis (the one at $QASID_REDIS_URL if it answers, else a throw-away redis-server), two
 * simulated carriers, the gateway configured from config/example.json and
 * config/routes.example.json, and a mixed batch pushed through QasidClient onto the
 * intake stream. It waits for every entry's final event, prints what became of them,
 * stops everything it started and exits 0 only when every outcome was the expected one.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { App } from '../app.js';
import { QasidClient, streamIdMs, type EventEntry, type OutgoingMessage } from '../client/index.js';
import { loadConfig, readConfigFile } from '../config/load.js';
import type { QasidConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { createLogger, type Logger } from '../log/logger.js';
import { Vault } from '../privacy/vault.js';
import { redisClient, redisClientOptions } from '../queue/redis-options.js';
import { startSimulator, type SimServer } from '../sim/index.js';
import { ensureRedis, type LocalRedis } from './local-redis.js';
import { consoleIo, type CliIo } from './send.js';

const EXAMPLE = fileURLToPath(new URL('../../config/example.json', import.meta.url));
const ROUTES = fileURLToPath(new URL('../../config/routes.example.json', import.meta.url));
const PRESET_FOR: Readonly<Record<string, string>> = { jazz: 'HexIdsDecimalReceiptsSMSC', zong: 'EarlyReceiptSMSC' };
const SETTLE_TIMEOUT_MS = 30_000;
/** Log events the demo causes on purpose (its broken entry); counted, not printed. */
const EXPECTED_LOG_EVENTS: ReadonlySet<string> = new Set(['intake.dead_lettered', 'intake.duplicate']);

export const DEMO_USAGE = `Usage: qasid demo [--messages N]

Runs the whole message path on this machine: a Redis ($QASID_REDIS_URL if it answers within
1 s, else a redis-server started on a free loopback port without persistence), two simulated
carriers (jazz: hex ids with decimal receipts; zong: receipts before the submit response),
and the gateway configured from config/example.json and config/routes.example.json.
Pushes N messages (default 200: English and Urdu, short and multi-part, OTPs, numbers written
in several ways) plus 3 invalid entries and 2 duplicates through QasidClient, waits for every
final event (30 s at most), prints a summary, stops everything it started.
Exit 0 when every entry ended exactly once and as expected, 1 otherwise, 64 on a bad option.`;

/** One entry the demo pushed, and what should become of it. */
interface Pushed {
  entryId: string;
  clientId: string;
  /** 'delivered' or 'rejected:<reason>'. */
  expect: string;
}

export async function demoCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  let n: number;
  try {
    const { values } = parseArgs({ args: argv, options: { messages: { type: 'string', short: 'n', default: '200' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      io.out(DEMO_USAGE);
      return 0;
    }
    n = Number(values.messages);
    if (!Number.isInteger(n) || n < 10 || n > 100_000) throw new Error('--messages must be a whole number from 10 to 100000');
  } catch (e) {
    io.err(`qasid demo: ${errorMessage(e)}`);
    return 64;
  }

  const env = io.env ?? process.env;
  // Interrupted: exit at once; the redis-server started here goes with the process.
  const onSignal = (signal: NodeJS.Signals): void => {
    io.err(`qasid demo: ${signal}, stopping`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let redis: LocalRedis | undefined;
  const sims = new Map<string, SimServer>();
  let app: App | undefined;
  let conn: Redis | undefined;
  try {
    // A Redis to reuse comes from the environment with its TLS settings (QASID_REDIS_URL,
    // QASID_REDIS_TLS_*); nothing else in the environment shapes the demo.
    const reuse = loadConfig({ env: redisEnv(env), overrides: { carriers: [] } }).redis;
    redis = await ensureRedis(env.QASID_REDIS_URL, redisClientOptions(reuse));
    const prefix = `demo${randomBytes(3).toString('hex')}`;
    const raw = readConfigFile(EXAMPLE);
    const rawCarriers = (raw.carriers ?? []) as Array<Record<string, unknown> & { id: string }>;
    for (const c of rawCarriers) sims.set(c.id, await startSimulator({ port: 0, name: c.id, preset: PRESET_FOR[c.id] ?? 'HappySMSC' }));
    // The example config as it stands, pointed at the simulators, this Redis and a fresh prefix.
    const config: QasidConfig = loadConfig({
      file: EXAMPLE,
      env: {},
      overrides: {
        log: { level: 'warn' },
        redis: { url: redis.url, prefix, ...(redis.started ? {} : { tls: reuse.tls }) },
        routes: { file: ROUTES },
        // A free port: several demos (or a daemon) may run on one machine.
        admin: { port: 0 },
        carriers: rawCarriers.map((c) => ({ ...c, port: (sims.get(c.id) as SimServer).port })),
      },
    });
    const quiet = { count: 0 };
    // Throwaway keys: what the demo writes is sealed like production, and unreadable after it.
    app = new App({ config, logger: demoLogger(quiet), vault: Vault.ephemeral() });

    io.out(`Qasid demo — the message path through Redis, ${config.carriers.length} simulated carriers\n`);
    const ignored = redis.started && (env.QASID_REDIS_URL ?? '') !== '' ? ' — $QASID_REDIS_URL did not answer within 1 s' : '';
    io.out(`  redis    ${redis.started ? `started redis-server on ${hostPort(redis.url)} (no persistence)` : `reusing ${hostPort(redis.url)} ($QASID_REDIS_URL)`}, prefix ${prefix}${ignored}`);
    await app.start();
    await Promise.all([...app.links.values()].map((l) => l.waitAllBound(10_000)));
    for (const h of app.health()) {
      const c = config.carriers.find((x) => x.id === h.carrier);
      const sim = sims.get(h.carrier);
      io.out(`  ${h.carrier.padEnd(8)} ${h.sessionsBound}/${h.sessionsTotal} sessions bound (${c?.bindMode ?? '?'}, ${c?.tps ?? '?'} tps) to simulator ${PRESET_FOR[h.carrier] ?? 'HappySMSC'} :${sim?.port ?? '?'}`);
    }

    conn = redisClient(config.redis, { lazyConnect: true, maxRetriesPerRequest: 1 });
    conn.on('error', () => undefined);
    await conn.connect();
    // A subscriber who once sent STOP to QASID (as an MO would record it).
    await app.subscribers.optOut(OPTED_OUT, { kind: 'sender', sender: 'QASID' }, Date.now());
    // Sealed intake entries: no number or text in clear in the stream, not even briefly.
    const client = new QasidClient(conn, { prefix, maxEntryBytes: config.intake.maxEntryBytes, keyring: app.vault.keyring, shards: config.intake.shards });
    const batch = demoBatch(n);
    const t0 = Date.now();
    const ids = await client.sendMany(batch.messages.map((m) => m.msg));
    const pushed: Pushed[] = batch.messages.map((m, i) => ({ entryId: ids[i] as string, clientId: m.msg.id, expect: m.expect }));
    // An entry no client would let through (QasidClient refuses it): written raw.
    const badId = 'demo-no-text';
    const rawId = await conn.xadd(await client.streamFor({ id: badId }), '*', 'data', JSON.stringify({ v: 1, id: badId, to: '03001234567', from: 'QASID' }));
    pushed.push({ entryId: rawId as string, clientId: badId, expect: 'rejected:invalid_schema' });
    io.out(`  pushed   ${pushed.length} entries to ${client.keys.shards === 1 ? client.keys.intake : `${client.keys.shards} intake shards`}: ${n} messages (${batch.mix}) + 3 invalid + 2 duplicates + 2 stopped by policy (no consent, opted out) — sealed in the stream`);

    const expected = new Map<string, string[]>();
    for (const p of pushed) expected.set(p.clientId, [...(expected.get(p.clientId) ?? []), p.expect]);
    const settled = await waitForFinals(client, expected, SETTLE_TIMEOUT_MS);
    const elapsed = Date.now() - t0;
    if (!settled.ok) {
      io.out(`  TIMEOUT  after ${SETTLE_TIMEOUT_MS / 1000} s, ${settled.missing.length} entries have no final event: ${settled.missing.slice(0, 8).join(', ')}${settled.missing.length > 8 ? ' …' : ''}`);
    } else {
      io.out(`  settled  every entry has its final event after ${(elapsed / 1000).toFixed(1)} s`);
    }
    // A moment more, so a second final event for anything would show up too.
    await new Promise((r) => setTimeout(r, 300));
    const events = await readAll(client);
    const report = summarise(pushed, expected, events, config.carriers.map((c) => c.id));
    for (const line of report.table) io.out(line);
    const parts = [...sims.entries()].map(([id, s]) => `${id} ${s.stats.submitOk}`).join(', ');
    const partsTotal = [...sims.values()].reduce((a, s) => a + s.stats.submitOk, 0);
    io.out(`\n  ms from XADD to      accepted p50     p99    final p50     p99`);
    for (const c of [...config.carriers.map((x) => x.id), 'all']) {
      const l = report.latency.get(c) ?? { accepted: [], final: [] };
      const tps = config.carriers.find((x) => x.id === c)?.tps;
      io.out(`    ${`${c}${tps === undefined ? '' : ` (${tps} tps)`}`.padEnd(16)} ${ms(l.accepted, 0.5, 12)} ${ms(l.accepted, 0.99, 7)} ${ms(l.final, 0.5, 12)} ${ms(l.final, 0.99, 7)}`);
    }
    io.out('    (each carrier is paced to its tps: the queue ahead of a message is most of its wait)');
    io.out(`  parts sent: ${partsTotal} submit_sm for ${report.delivered} delivered messages (${parts}); ${app.receipts.counts.matched} receipts matched, ${app.receipts.counts.parked} arrived before their response and were parked`);

    const dead = await conn.xlen(client.keys.dead);
    const k = app.keys;
    io.out(`\n  streams  ${k.events} (status events) · ${k.mo} (MO) · ${k.dead} (dead letters: ${dead})`);
    io.out(`  look     ${redisCli(redis.url)} XRANGE ${k.events} - + COUNT 5`);
    if (redis.started) io.out('           (this redis-server stops with the demo; set QASID_REDIS_URL to a running Redis to keep the streams)');
    io.out(`  metrics  http://${config.admin.host}:${app.admin.port}/metrics while it runs; deploy/grafana has the dashboard`);

    conn.disconnect();
    conn = undefined;
    await app.stop();
    app = undefined;
    const unbinds = [...sims.values()].reduce((a, s) => a + s.stats.unbinds, 0);
    io.out(`  stopped  ${unbinds} sessions unbound politely${redis.started ? '; redis-server stopped' : ''}`);
    const problems = settled.ok ? report.problems : [`${settled.missing.length} entries without a final event`, ...report.problems];
    if (problems.length === 0) {
      io.out(`\nresult: ok — ${pushed.length} entries, each with exactly one final event, all as expected`);
      return 0;
    }
    io.out(`\nresult: FAILED — ${problems.length} unexpected outcome(s):`);
    for (const p of problems.slice(0, 8)) io.out(`  ${p}`);
    if (quiet.count > 0 && problems.length > 0) io.out(`  (${quiet.count} expected warnings were not printed)`);
    return 1;
  } catch (e) {
    io.err(`qasid demo failed: ${errorMessage(e)}`);
    return 1;
  } finally {
    conn?.disconnect();
    await app?.stop();
    await Promise.all([...sims.values()].map((s) => s.close()));
    await redis?.stop();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

interface DemoMessage {
  msg: OutgoingMessage;
  expect: string;
}

const ENGLISH = [
  'Your parcel is on its way and will arrive tomorrow.',
  'Your bill of Rs. 2,450 is due on the 15th. Thank you!',
  'Reminder: your appointment is at 10:30 AM.',
  'Your account was credited with Rs. 5,000.',
];
const URDU = ['آپ کا پارسل روانہ کر دیا گیا ہے۔ شکریہ!', 'آپ کا بل جمع ہو گیا ہے۔', 'کل صبح دس بجے آپ کی ملاقات ہے۔'];
const LONG_ENGLISH =
  'Dear customer, thank you for shopping with us. Your order has been packed and handed to our courier partner. ' +
  'It will reach you within two working days. You can track it in the app at any time, and reply STOP to stop these updates.';
const LONG_URDU =
  'محترم صارف، ہمارے ساتھ خریداری کا شکریہ۔ آپ کا آرڈر پیک کر کے کورئیر کے حوالے کر دیا گیا ہے اور دو دن میں آپ تک پہنچ جائے گا۔ ' +
  'آپ ایپ میں کسی بھی وقت اسے دیکھ سکتے ہیں۔';

/** Jazz (0300-0309, 0320-0329) and Zong (0310-0319) ranges, per config/routes.example.json. */
const JAZZ = ['300', '301', '302', '303', '320', '321'];
const ZONG = ['310', '311', '312', '313', '315'];
/** The ways people write the same Pakistani mobile number. */
const FORMATS: ReadonlyArray<(op: string, sub: string) => string> = [
  (op, sub) => `0${op}${sub}`,
  (op, sub) => `0${op}-${sub}`,
  (op, sub) => `92${op}${sub}`,
  (op, sub) => `+92${op}${sub}`,
  (op, sub) => `0092${op}${sub}`,
  (op, sub) => `+92 ${op} ${sub}`,
];

/** n valid messages of several kinds, two bad numbers, and two entries reusing an id. */
/** A number the demo records as opted out of sender QASID before sending. */
const OPTED_OUT = '+923001112233';

export function demoBatch(n: number): { messages: DemoMessage[]; mix: string } {
  const messages: DemoMessage[] = [];
  const kinds = { English: 0, Urdu: 0, 'long English': 0, 'long Urdu': 0, OTP: 0 };
  for (let i = 0; i < n; i++) {
    const ops = i % 4 < 2 ? JAZZ : ZONG;
    const op = ops[Math.floor(i / 4) % ops.length] as string;
    const sub = String(1_000_000 + ((i * 7919) % 9_000_000)).slice(0, 7);
    const to = (FORMATS[i % FORMATS.length] as (op: string, sub: string) => string)(op, sub);
    const id = `demo-${String(i).padStart(5, '0')}`;
    const base = { id, to, from: i % 3 === 0 ? 'MyBank' : 'QASID', meta: { n: i } };
    let msg: OutgoingMessage;
    switch (i % 10) {
      case 3:
        kinds.Urdu++;
        msg = { ...base, text: URDU[i % URDU.length] as string };
        break;
      case 5:
        kinds['long English']++;
        msg = { ...base, text: LONG_ENGLISH };
        break;
      case 7:
        kinds['long Urdu']++;
        msg = { ...base, text: LONG_URDU };
        break;
      case 8:
        kinds.OTP++;
        msg = { ...base, class: 'otp', text: `Your Qasid code is ${String(100_000 + ((i * 48271) % 900_000))}. It expires in 5 minutes.` };
        break;
      default:
        kinds.English++;
        msg = { ...base, text: ENGLISH[i % ENGLISH.length] as string };
    }
    messages.push({ msg, expect: 'delivered' });
  }
  messages.push({ msg: { id: 'demo-bad-number', to: '0300 12', from: 'QASID', text: 'A number too short to be one' }, expect: 'rejected:invalid_number' });
  messages.push({ msg: { id: 'demo-fixed-line', to: '042 35761234', from: 'QASID', text: 'A Lahore landline cannot take an SMS' }, expect: 'rejected:not_mobile' });
  messages.push({ msg: { id: 'demo-no-consent', to: '03217654321', from: 'QASID', class: 'marketing', text: 'Big sale today!' }, expect: 'blocked:no_consent' });
  messages.push({ msg: { id: 'demo-opted-out', to: OPTED_OUT, from: 'QASID', class: 'marketing', consent: 'form-77', text: 'Big sale today!' }, expect: 'blocked:opt_out' });
  for (const dup of [messages[1], messages[2]]) {
    if (dup) messages.push({ msg: { ...dup.msg, text: 'The same id again: never sent twice' }, expect: 'rejected:duplicate' });
  }
  const mix = Object.entries(kinds)
    .filter(([, c]) => c > 0)
    .map(([k, c]) => `${c} ${k}`)
    .join(', ');
  return { messages, mix: `${mix}; ${FORMATS.length} number formats` };
}

/** Follow the events stream until every client id has as many final events as it has entries. */
async function waitForFinals(client: QasidClient, expected: ReadonlyMap<string, readonly string[]>, timeoutMs: number): Promise<{ ok: true } | { ok: false; missing: string[] }> {
  const want = new Map([...expected].map(([id, e]) => [id, e.length]));
  let outstanding = [...want.values()].reduce((a, b) => a + b, 0);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    for await (const { event } of client.events({ from: '0', blockMs: 500, signal: ac.signal })) {
      if (!event.final || event.clientId === undefined) continue;
      const left = want.get(event.clientId);
      if (left === undefined || left === 0) continue;
      want.set(event.clientId, left - 1);
      if (--outstanding === 0) return { ok: true };
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return { ok: false, missing: [...want].filter(([, left]) => left > 0).map(([id]) => id) };
}

async function readAll(client: QasidClient): Promise<EventEntry[]> {
  const out: EventEntry[] = [];
  let from = '-';
  for (;;) {
    const page = await client.readEvents(from, 1000);
    out.push(...(from === '-' ? page : page.slice(1)));
    const last = page[page.length - 1];
    if (page.length < 1000 || last === undefined) return out;
    from = last.id;
  }
}

interface Report {
  table: string[];
  problems: string[];
  /** By carrier and 'all': XADD → accepted event, XADD → delivered event, in ms. */
  latency: Map<string, { accepted: number[]; final: number[] }>;
  delivered: number;
}

function outcome(e: { status: string; reason?: string }): string {
  return e.status === 'delivered' ? 'delivered' : `${e.status}:${e.reason ?? e.status}`;
}

function summarise(pushed: readonly Pushed[], expected: ReadonlyMap<string, readonly string[]>, events: readonly EventEntry[], carriers: readonly string[]): Report {
  const xaddMs = new Map<string, number>();
  for (const p of pushed) if (!xaddMs.has(p.clientId)) xaddMs.set(p.clientId, streamIdMs(p.entryId));
  const finals = new Map<string, string[]>();
  const latency = new Map<string, { accepted: number[]; final: number[] }>();
  const lat = (carrier: string | undefined): Array<{ accepted: number[]; final: number[] }> =>
    [carrier ?? '-', 'all'].map((k) => {
      const l = latency.get(k) ?? { accepted: [], final: [] };
      latency.set(k, l);
      return l;
    });
  const cols = [...carriers, '-'];
  const rows = new Map<string, Map<string, number>>();
  let delivered = 0;
  for (const { id, event } of events) {
    const cid = event.clientId;
    if (cid === undefined || !expected.has(cid)) continue;
    const since = streamIdMs(id) - (xaddMs.get(cid) ?? streamIdMs(id));
    if (event.status === 'accepted') for (const l of lat(event.carrier)) l.accepted.push(since);
    if (!event.final) continue;
    const o = outcome(event);
    finals.set(cid, [...(finals.get(cid) ?? []), o]);
    if (event.status === 'delivered') {
      delivered++;
      for (const l of lat(event.carrier)) l.final.push(since);
    }
    const row = rows.get(o) ?? new Map<string, number>();
    const col = event.carrier !== undefined && carriers.includes(event.carrier) ? event.carrier : '-';
    row.set(col, (row.get(col) ?? 0) + 1);
    rows.set(o, row);
  }
  const problems: string[] = [];
  for (const [cid, want] of expected) {
    const got = [...(finals.get(cid) ?? [])].sort();
    const exp = [...want].sort();
    if (got.join('|') !== exp.join('|')) problems.push(`${cid}: expected ${exp.join(' + ')}, got ${got.length === 0 ? 'no final event' : got.join(' + ')}`);
  }
  const w = 8;
  const label = 28;
  const table = [`\n  ${'final status'.padEnd(label)}${cols.map((c) => c.padStart(w)).join('')}${'total'.padStart(w)}`];
  const order = [...rows.keys()].sort((a, b) => (a === 'delivered' ? -1 : b === 'delivered' ? 1 : a.localeCompare(b)));
  const totals = new Map<string, number>();
  for (const o of order) {
    const row = rows.get(o) as Map<string, number>;
    let sum = 0;
    const cells = cols.map((c) => {
      const v = row.get(c) ?? 0;
      sum += v;
      totals.set(c, (totals.get(c) ?? 0) + v);
      return String(v).padStart(w);
    });
    table.push(`  ${o.replace(':', '  ').padEnd(label)}${cells.join('')}${String(sum).padStart(w)}`);
  }
  const grand = [...totals.values()].reduce((a, b) => a + b, 0);
  table.push(`  ${'all entries'.padEnd(label)}${cols.map((c) => String(totals.get(c) ?? 0).padStart(w)).join('')}${String(grand).padStart(w)}`);
  return { table, problems, latency, delivered };
}

function quantile(xs: readonly number[], q: number): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

function ms(xs: readonly number[], q: number, width: number): string {
  const v = quantile(xs, q);
  return (v === undefined ? '–' : String(v)).padStart(width);
}

/** The QASID_REDIS_* variables of `env`: the Redis to reuse and how to reach it. */
function redisEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('QASID_REDIS_')));
}

/** host:port of a Redis URL, without credentials. */
function hostPort(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port === '' ? '6379' : u.port}`;
  } catch {
    return '(redis)';
  }
}

/** The redis-cli command line reaching that Redis, never with its password. */
function redisCli(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'redis-cli';
  }
  const args = ['redis-cli'];
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') args.push('-h', u.hostname);
  args.push('-p', u.port === '' ? '6379' : u.port);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && db !== '0') args.push('-n', db);
  if (u.protocol === 'rediss:') args.push('--tls');
  if (u.password !== '') args.push('--askpass');
  return args.join(' ');
}

/** warn and above to stderr, except the warnings the demo provokes on purpose. */
function demoLogger(quiet: { count: number }): Logger {
  return createLogger({
    level: 'warn',
    destination: {
      write(line: string): void {
        try {
          const event = (JSON.parse(line) as { event?: unknown }).event;
          if (typeof event === 'string' && EXPECTED_LOG_EVENTS.has(event)) {
            quiet.count++;
            return;
          }
        } catch {
          // not JSON: print it as it is
        }
        process.stderr.write(line);
      },
    },
  });
}
