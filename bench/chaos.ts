/**
 * Chaos run: the real daemon (`qasid run` children) against the in-process simulator and
 * a redis-server child on a random loopback port, under kills, restarts, a throttling or
 * dropping carrier, a Redis that comes back empty or from its AOF, and hostile intake.
 *
 *   npm run chaos                          every scenario
 *   node --import tsx bench/chaos.ts backlog sigterm   only these
 *
 * One row per scenario; exit 1 when a row misses its goal: 0 lost, 0 duplicate finals,
 * 0 crashes, RSS flat, and no message accepted by the SMSC more than once — except in the
 * SIGKILL scenarios, where every extra send must be one of the resubmits the restarted
 * daemon logged (the documented crash window), and the kill must land with submits in
 * flight (the SMSC answers 150 ms late there, so the window is open when the kill comes).
 *
 * Resubmits are counted from the `"event":"dispatch.resubmit"` log lines (level warn) of
 * every daemon of the scenario: the resubmit happens in the restarted process, so a scrape
 * of /metrics before the kill cannot see it; the restarted daemon's
 * `qasid_resubmits_total` is scraped before it stops and shown next to it as a check.
 *
 * Sends are counted by an SMPP tap between daemon and simulator (bench/chaos/harness.ts):
 * every message has a unique text, and the tap counts per text the submit_sm passed on to
 * the SMSC and not refused by it (an unanswered one counts: it may have been delivered).
 */
import { Redis } from 'ioredis';
import { startSimulator, type SimServer, type SimBehaviourPatch } from '../src/sim/index.js';
import { keysFor } from '../src/queue/keys.js';
import { Keyring } from '../src/privacy/keyring.js';
import { Cleanup, Daemon, RedisChild, SmppTap, duplicateFinals, freePort, sleep, tallyEvents, writeConfig, type CarrierOpts, type EventTally } from './chaos/harness.js';

interface Row {
  scenario: string;
  in: number;
  finals: number;
  lost: number;
  extraSends: number;
  resubmits: string;
  dupFinals: number;
  crashes: number;
  rss: string;
  note: string;
  ok: boolean;
}

/** What one scenario has running; `finish` turns it into a row. */
class Run {
  readonly cleanup = new Cleanup();
  readonly prefix = `chaos${Date.now().toString(36)}`;
  readonly keys = keysFor(this.prefix);
  redis!: RedisChild;
  r!: Redis;
  sim!: SimServer;
  tap!: SmppTap;
  readonly daemons: Daemon[] = [];
  /** One pair of keyrings for every daemon of the scenario (a restart keeps its keys). */
  private readonly keyrings = { keyring: Keyring.newSourceJson('k1'), hashKeyring: Keyring.newSourceJson('h1') };
  /** RSS of the scenario's last daemon, one reading a second once it has run 3 s (see `sampleRss`). */
  readonly rss: number[] = [];
  private rssTimer: NodeJS.Timeout | undefined;
  private readonly tally: EventTally = { finals: new Map(), statuses: new Map(), rejected: 0, total: 0 };
  private readonly cursor = { last: '-' };

  constructor(readonly name: string) {}

  async setup(opts: { preset?: string; behaviour?: SimBehaviourPatch; aof?: boolean } = {}): Promise<void> {
    this.redis = new RedisChild(await freePort(), opts.aof ?? false);
    await this.redis.start();
    this.cleanup.add(() => this.redis.kill9());
    this.r = new Redis(this.redis.url, { maxRetriesPerRequest: null });
    this.r.on('error', () => undefined);
    this.cleanup.add(() => this.r.disconnect());
    this.sim = await startSimulator({ port: 0, preset: opts.preset ?? 'HappySMSC', ...(opts.behaviour ? { behaviour: opts.behaviour } : {}) });
    this.cleanup.add(() => this.sim.close());
    this.tap = await SmppTap.start(this.sim.port);
    this.cleanup.add(() => this.tap.close());
  }

  id(i: number, tag = ''): string {
    return `${this.name}${tag}-${i}`;
  }

  /** Writes entries `from`..`to-1`, one unique text each; returns their client ids. `validity`: seconds, per message. */
  async write(from: number, to: number, tag = '', validity?: number): Promise<string[]> {
    const ids: string[] = [];
    for (let start = from; start < to; start += 1000) {
      const pipe = this.r.pipeline();
      for (let i = start; i < Math.min(to, start + 1000); i++) {
        const id = this.id(i, tag);
        ids.push(id);
        pipe.xadd(this.keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `chaos ${id}`, ...(validity !== undefined ? { validity } : {}) }));
      }
      await pipe.exec();
    }
    return ids;
  }

  async daemon(carrier: CarrierOpts, extra: { consumer?: string; intake?: Record<string, unknown>; messages?: Record<string, unknown> } = {}): Promise<Daemon> {
    const adminPort = await freePort();
    const file = writeConfig({ redisUrl: this.redis.url, prefix: this.prefix, smscPort: this.tap.port, adminPort, carrier, keyrings: this.keyrings, ...extra });
    const d = new Daemon(file, adminPort);
    this.daemons.push(d);
    this.cleanup.add(() => d.alive() && d.kill('SIGKILL'));
    return d;
  }

  /** Waits until the tap has seen `n` accepted submits in all; takes the first RSS reading on the way. */
  async untilSent(n: number, ms: number): Promise<void> {
    await until(() => this.sent() >= n, ms, `${n} sends`);
  }

  sent(): number {
    let s = 0;
    for (const c of this.tap.sent.values()) s += c;
    return s;
  }

  async events(): Promise<EventTally> {
    return tallyEvents(this.r, this.keys.events, this.tally, this.cursor);
  }

  /** Polls the events stream until every id in `ids` has a final event, or `ms` passes. */
  async untilFinal(ids: string[], ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const t = await this.events();
      if (ids.every((id) => t.finals.has(id))) return;
      if (this.daemons.length > 0 && !this.daemons[this.daemons.length - 1]!.alive()) return;
      await sleep(250);
    }
  }

  /**
   * Starts reading `d`'s RSS once a second (after its first 3 s: start-up is not the
   * steady state), replacing any earlier daemon's readings: "flat" is judged on the
   * daemon that finishes the run.
   */
  sampleRss(d: Daemon): void {
    clearInterval(this.rssTimer);
    this.rss.length = 0;
    const from = Date.now() + 3000;
    this.rssTimer = setInterval(() => {
      const v = d.rssMiB();
      if (Date.now() >= from && !Number.isNaN(v)) this.rss.push(v);
    }, 1000);
    this.rssTimer.unref();
    this.cleanup.add(() => clearInterval(this.rssTimer));
  }

  /**
   * Peak of the first half of the readings against the peak of the second half. Flat: the
   * second is at most 20 % + 16 MiB above the first (V8 grows its heap in steps; a leak
   * keeps growing). Fewer than 6 readings: not judged.
   */
  rssVerdict(): { text: string; flat: boolean } {
    clearInterval(this.rssTimer);
    const n = this.rss.length;
    if (n < 6) return { text: `${n} readings`, flat: true };
    const first = Math.max(...this.rss.slice(0, Math.floor(n / 2)));
    const second = Math.max(...this.rss.slice(Math.floor(n / 2)));
    return { text: `${fmt(first)} → ${fmt(second)}`, flat: second <= first * 1.2 + 16 };
  }

  /** Stops the daemons still running, counts, and judges. `ids`: what must end; `allowResubmits`: SIGKILL scenarios. */
  async finish(ids: string[], opts: { allowResubmits?: boolean; note?: string; texts?: Set<string> } = {}): Promise<Row> {
    const last = this.daemons[this.daemons.length - 1];
    const rss = this.rssVerdict();
    const metric = last !== undefined && last.alive() ? await last.resubmitsMetric() : NaN;
    for (const d of this.daemons) await d.stop();
    const t = await this.events();
    let crashes = 0;
    for (const d of this.daemons) if (await d.crashed()) crashes++;
    const lost = ids.filter((id) => !t.finals.has(id)).length;
    const dup = duplicateFinals(t);
    const extra = this.tap.extraSends();
    const logged = this.daemons.reduce((s, d) => s + d.resubmits, 0);
    // A resubmit is a possible second send, not a certain one: the first copy may never have
    // reached the SMSC, or its answer died with the killed daemon's socket. Every extra send
    // must be one of the counted resubmits.
    const sendsOk = opts.allowResubmits === true ? extra <= logged : extra === 0;
    // No scenario here gives a message a reason to fail: a `failed` final is the gateway's own fault.
    const failed = [...t.statuses].filter(([k]) => k.startsWith('failed')).reduce((n, [, v]) => n + v, 0);
    const ok = lost === 0 && dup === 0 && crashes === 0 && sendsOk && rss.flat && failed === 0;
    if (!ok) {
      const missing = ids.filter((id) => !t.finals.has(id)).slice(0, 5);
      console.error(`--- ${this.name}: missed its goal; first missing: ${missing.join(', ')}`);
      for (const d of this.daemons) console.error(`--- daemon ${d.pid} (exit ${JSON.stringify(await d.exited)}) log tail:\n${d.log()}`);
    }
    return {
      scenario: this.name,
      in: ids.length,
      finals: ids.filter((id) => t.finals.has(id)).length,
      lost,
      extraSends: extra,
      resubmits: `${logged} (metric ${Number.isNaN(metric) ? '-' : metric})`,
      dupFinals: dup,
      crashes,
      rss: `${rss.text}${rss.flat ? '' : ' (grew)'}`,
      note: [opts.note ?? '', [...t.statuses].map(([k, v]) => `${k} ${v}`).join(', ')].filter((x) => x !== '').join('; '),
      ok,
    };
  }
}

const fmt = (n: number): string => (Number.isNaN(n) ? '-' : `${n.toFixed(0)}M`);

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

// ---------------------------------------------------------------- scenarios

type Scenario = { name: string; deadlineMs: number; run: (s: Run) => Promise<Row> };

/** 5,000 at 50/s with default intake settings is a 100 s backlog, past intake.claimIdleMs (60 s): nothing may be taken back and sent twice. */
const backlog: Scenario = {
  name: 'backlog',
  deadlineMs: 160_000,
  async run(s) {
    await s.setup();
    const ids = await s.write(0, 5000);
    const d = await s.daemon({ tps: 50 });
    await s.untilSent(50, 15_000);
    s.sampleRss(d);
    await s.untilFinal(ids, 140_000);
    return s.finish(ids, { note: 'tps 50, default intake settings' });
  },
};

function sigkill(name: string, second: string | undefined, intake: Record<string, unknown>): Scenario {
  return {
    name,
    deadlineMs: 110_000,
    async run(s) {
      // Answers 150 ms late: with window 20 the kill lands with about 20 submits unanswered.
      await s.setup({ behaviour: { responseDelayMs: 150 } });
      const ids = await s.write(0, 3000);
      const first = await s.daemon({ tps: 400 }, { consumer: 'chaos-a', intake });
      await s.untilSent(1000, 30_000);
      first.kill('SIGKILL');
      await first.exited;
      await until(() => s.tap.orphaned > 0 || s.sim.connections() === 0, 2000, 'the killed daemon\'s connections to close').catch(() => undefined);
      const inFlight = s.tap.orphaned;
      const next = await s.daemon({ tps: 400 }, { consumer: second ?? 'chaos-a', intake });
      s.sampleRss(next);
      await s.untilFinal(ids, 80_000);
      const row = await s.finish(ids, { allowResubmits: true, note: `killed with ${inFlight} submits unanswered; restart as ${second ?? 'chaos-a'}` });
      // The crash window must have been open: otherwise the row proves nothing about it.
      if (inFlight === 0) {
        row.ok = false;
        row.note += ' (no submit in flight at the kill)';
      }
      return row;
    },
  };
}

const sigterm: Scenario = {
  name: 'sigterm',
  deadlineMs: 90_000,
  async run(s) {
    await s.setup();
    const ids = await s.write(0, 6000);
    const first = await s.daemon({ tps: 400 }, { consumer: 'chaos-a' });
    await s.untilSent(1000, 20_000);
    await first.stop();
    const { code } = await first.exited;
    s.sampleRss(await s.daemon({ tps: 400 }, { consumer: 'chaos-a' }));
    await s.untilFinal(ids, 60_000);
    return s.finish(ids, { note: `first run exit ${code}` });
  },
};

/** The SMSC allows 50/s and answers ESME_RTHROTTLED beyond; the daemon is configured for 200/s. */
const throttling: Scenario = {
  name: 'throttling',
  deadlineMs: 100_000,
  async run(s) {
    await s.setup({ preset: 'ThrottledSMSC' });
    const ids = await s.write(0, 1500);
    const d = await s.daemon({ tps: 200 });
    await s.untilSent(50, 15_000);
    s.sampleRss(d);
    await s.untilFinal(ids, 80_000);
    return s.finish(ids, { note: `SMSC 50/s vs tps 200; ${s.sim.stats.throttled} throttled answers` });
  },
};

/**
 * Messages in these rows live 30 s with a 5 s receipt grace, so a submit whose answer died
 * with its connection (outcome unknown: it is never sent again) ends within the run, at its
 * validity + grace, rather than an hour later.
 */
const SHORT_LIVED = { receiptGraceSec: 5 };
const VALIDITY_SEC = 30;

/** Every connection torn down four times during the run, windows full. */
const carrierDrop: Scenario = {
  name: 'carrier-drop',
  deadlineMs: 100_000,
  async run(s) {
    await s.setup();
    const ids = await s.write(0, 3000, '', VALIDITY_SEC);
    const d = await s.daemon({ tps: 300 }, { messages: SHORT_LIVED });
    await s.untilSent(200, 15_000);
    s.sampleRss(d);
    for (let k = 0; k < 4; k++) {
      s.sim.dropAll();
      await sleep(1500);
    }
    await s.untilFinal(ids, 80_000);
    return s.finish(ids, { note: `4× dropAll; ${s.sim.stats.receiptsRedelivered} receipts redelivered` });
  },
};

/** The SMSC stops answering submit_sm for 30 s (binds and enquire_link still answered), then recovers. */
const blackHole: Scenario = {
  name: 'black-hole',
  deadlineMs: 110_000,
  async run(s) {
    await s.setup();
    const ids = await s.write(0, 3000, '', VALIDITY_SEC * 2);
    const d = await s.daemon({ tps: 100 }, { messages: SHORT_LIVED });
    await s.untilSent(300, 15_000);
    s.sampleRss(d);
    s.sim.setBehaviour({ blackhole: true });
    await sleep(30_000);
    s.sim.setBehaviour({ blackhole: false });
    await s.untilFinal(ids, 70_000);
    return s.finish(ids, { note: `30 s without answers` });
  },
};

/** 100,000 hostile PDUs with intact framing from the carrier (2,000/s) while 3,000 messages flow. */
const hostilePdus: Scenario = {
  name: 'hostile-pdus',
  deadlineMs: 110_000,
  async run(s) {
    await s.setup({ behaviour: { fuzz: { perSecond: 2000, limit: 100_000, seed: 7 } } });
    const ids = await s.write(0, 3000);
    const d = await s.daemon({ tps: 50 });
    await s.untilSent(50, 15_000);
    s.sampleRss(d);
    await s.untilFinal(ids, 90_000);
    const fuzzSent = s.sim.stats.fuzzSent;
    const row = await s.finish(ids, { note: `${fuzzSent} hostile PDUs sent; ${s.sim.stats.connections} connections` });
    if (fuzzSent < 100_000) {
      row.ok = false;
      row.note += ' (fewer than 100,000 hostile PDUs)';
    }
    return row;
  },
};


/**
 * redis-server SIGKILLed mid-run and started again on the same port. Without persistence
 * everything written before is gone by design: only entries written after the restart
 * must end. With AOF (everysec) every entry must end.
 */
function redisRestart(name: string, aof: boolean): Scenario {
  return {
    name,
    deadlineMs: 110_000,
    async run(s) {
      await s.setup({ aof });
      const before = await s.write(0, 2000);
      const d = await s.daemon({ tps: 400 });
      await s.untilSent(500, 15_000);
      s.sampleRss(d);
      await s.redis.kill9();
      await sleep(1000);
      await s.redis.start();
      await until(async () => (await s.r.ping().catch(() => '')) === 'PONG', 10_000, 'redis back');
      const after = await s.write(0, 4000, '-post');
      const ids = aof ? [...before, ...after] : after;
      await s.untilFinal(ids, 80_000);
      return s.finish(ids, { note: aof ? 'AOF everysec: all 6000 must end' : `empty restart: ${before.length} pre-kill entries lost by design, only post-restart counted` });
    },
  };
}

/** 100,000 hostile entries mixed with 1,000 good ones: every one ends (dead letter, or a final), RSS flat. */
const hostile: Scenario = {
  name: 'hostile',
  deadlineMs: 170_000,
  async run(s) {
    await s.setup();
    const HOSTILE = 100_000;
    const GOOD = 1000;
    const good: string[] = [];
    const deep = (n: number): unknown => (n === 0 ? 1 : { a: deep(n - 1) });
    const kinds = [
      () => ['data', randomBytes()],
      () => ['nodata', 'x'],
      () => ['data', JSON.stringify(deep(40))],
      () => ['data', JSON.stringify({ v: 1, id: 42, to: ['x'], from: null, text: { t: 1 } })],
      () => ['data', JSON.stringify({ v: 1, id: `h${n}`, to: '03001234567', from: 'Q', text: 'x', meta: { big: 'x'.repeat(5000) } })],
      () => ['data', JSON.stringify({ v: 1, id: `h${n}`, to: '03001234567', from: 'Q', text: 'x', sendAt: 'yesterday-ish' })],
      () => ['data', JSON.stringify({ v: 1, id: `h${n}`, to: '03001234567', from: 'Q', text: 'x', sendAt: '2999-01-01T00:00:00Z' })],
      () => ['data', 'x'.repeat(70_000)],
      () => ['data', JSON.stringify({ v: 2, id: `h${n}` })],
    ];
    let n = 0;
    const d0 = Date.now();
    for (let b = 0; b < (HOSTILE + GOOD) / 1010; b++) {
      const pipe = s.r.pipeline();
      for (let i = 0; i < 1000; i++) {
        const [f, v] = kinds[n++ % kinds.length]!() as [string, string];
        pipe.xadd(s.keys.intake, '*', f, v);
      }
      for (let i = 0; i < 10; i++) {
        const id = s.id(good.length);
        good.push(id);
        pipe.xadd(s.keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `chaos ${id}` }));
      }
      await pipe.exec();
    }
    const d = await s.daemon({ tps: 400 });
    await until(() => d.rssMiB() > 0, 10_000, 'daemon up');
    await sleep(2000);
    s.sampleRss(d);
    await s.untilFinal(good, 150_000 - (Date.now() - d0));
    await until(async () => (await s.r.xlen(s.keys.dead)) >= n, 20_000, 'dead letters').catch(() => undefined);
    const dead = await s.r.xlen(s.keys.dead);
    const left = await s.r.xlen(s.keys.intake);
    const row = await s.finish(good, { note: '' });
    const t = await s.events();
    row.in = n + GOOD;
    row.lost += Math.max(0, n - dead);
    row.finals += dead;
    row.note = `${dead}/${n} dead-lettered, ${t.rejected} rejected events, ${left} left in intake; ${row.note}`;
    row.ok = row.ok && dead >= n && t.rejected >= n;
    return row;
  },
};

function randomBytes(): string {
  const len = 1 + Math.floor(Math.random() * 200);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(Math.floor(Math.random() * 256));
  return s;
}

const SCENARIOS: Scenario[] = [
  backlog,
  sigkill('sigkill-same-name', undefined, {}),
  sigkill('sigkill-new-name', 'chaos-b', { leaseMs: 3000 }),
  sigterm,
  throttling,
  carrierDrop,
  blackHole,
  redisRestart('redis-restart-empty', false),
  redisRestart('redis-restart-aof', true),
  hostile,
  hostilePdus,
];

async function runOne(sc: Scenario): Promise<Row> {
  const s = new Run(sc.name);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hard deadline ${sc.deadlineMs} ms`)), sc.deadlineMs)));
  const t0 = Date.now();
  try {
    const row = await Promise.race([sc.run(s), deadline]);
    row.note = `${row.note}; ${((Date.now() - t0) / 1000).toFixed(0)} s`;
    return row;
  } catch (e) {
    console.error(`--- ${sc.name}: ${(e as Error).message}`);
    for (const d of s.daemons) console.error(`--- daemon ${d.pid} log tail:\n${d.log()}`);
    return { scenario: sc.name, in: 0, finals: 0, lost: NaN, extraSends: NaN, resubmits: '-', dupFinals: NaN, crashes: NaN, rss: '-', note: `ERROR: ${(e as Error).message}`, ok: false };
  } finally {
    clearTimeout(timer);
    await s.cleanup.run();
  }
}

function table(rows: Row[]): string {
  const head = ['scenario', 'in', 'finals', 'lost', 'sent>1', 'resubmits', 'dup finals', 'crashes', 'RSS peak 1st → 2nd half', 'ok', 'note'];
  const body = rows.map((r) => [r.scenario, r.in, r.finals, r.lost, r.extraSends, r.resubmits, r.dupFinals, r.crashes, r.rss, r.ok ? 'yes' : 'NO', r.note].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.name === w));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const rows: Row[] = [];
for (const sc of SCENARIOS.filter((s) => wanted.length === 0 || wanted.includes(s.name))) {
  console.error(`running ${sc.name} …`);
  const row = await runOne(sc);
  rows.push(row);
  console.error(table([row]).split('\n').pop());
}
console.log(table(rows));
process.exit(rows.every((r) => r.ok) ? 0 : 1);
