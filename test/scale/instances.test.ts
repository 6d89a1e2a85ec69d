/**
 * Several instances on one Redis (real `qasid run` processes, same prefix and group):
 * a carrier's `tps` and `sessions` are totals across them, receipts match on whichever
 * instance's bind they arrive, and a SIGKILLed instance's binds and share of the rate
 * move to the others within the bind lease. Checked at the simulator, as a carrier would.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { keysFor } from '../../src/queue/keys.js';
import { startRedis } from '../helpers/redis.js';
import { Keyring } from '../../src/privacy/keyring.js';
import { until } from '../helpers/until.js';
import { runDaemon, type Daemon } from '../helpers/daemon.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const TPS = 600;
const SESSIONS = 4;
const LEASE_MS = 2000;

interface Run {
  redisUrl: string;
  r: Redis;
  sim: SimServer;
  keys: ReturnType<typeof keysFor>;
  /** receivedAt of every submit_sm the simulator read. */
  submits: number[];
  start(name: string): Daemon;
}

async function setUp(prefix: string): Promise<Run> {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const submits: number[] = [];
  // Receipts over every receiving session: most reach an instance that did not submit.
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC', behaviour: { receipts: { spread: true } }, onSubmit: (s) => submits.push(s.receivedAt) });
  cleanups.push(() => sim.close());
  const r = new Redis(redis.url);
  cleanups.push(async () => void r.disconnect());
  const dir = mkdtempSync(join(tmpdir(), 'qasid-instances-'));
  const keyring = Keyring.newSourceJson('k1');
  const hashKeyring = Keyring.newSourceJson('h1');
  const start = (name: string): Daemon => {
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        log: { level: 'info' },
        redis: { url: redis.url, prefix },
        shutdown: { drainMs: 1000, forceExitMs: 10000 },
        intake: { blockMs: 100, consumer: name, leaseMs: LEASE_MS },
        scale: { bindLeaseMs: LEASE_MS },
        admin: { port: 0 },
        privacy: { keyring, hashKeyring },
        dispatch: { pollMs: 50, maxInFlight: 500 },
        carriers: [{ id: 'a', host: '127.0.0.1', port: sim.port, systemId: 'a', password: 'pw', window: 50, sessions: SESSIONS, tps: TPS, timers: { reconnectMinMs: 50, reconnectMaxMs: 500 } }],
      }),
    );
    return runDaemon(file, cleanups);
  };
  return { redisUrl: redis.url, r, sim, keys: keysFor(prefix), submits, start };
}

async function push(r: Redis, stream: string, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(n, i + 1000); j++) p.xadd(stream, '*', 'data', JSON.stringify({ v: 1, id: `${tag}-${j}`, to: '03001234567', from: 'QASID', text: `message ${j}` }));
    await p.exec();
  }
}

/** Final events per client id. */
async function finals(r: Redis, events: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [, f] of await r.xrange(events, '-', '+')) {
    const e = JSON.parse(f[1] as string) as { final: boolean; clientId?: string; id?: string };
    if (!e.final) continue;
    const id = e.clientId ?? e.id ?? '';
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** Submits per whole second, from the first full second after `from` to the last before `to` (ms since the epoch). */
function perSecond(submits: number[], from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = from; t + 1000 <= to; t += 1000) out.push(submits.filter((x) => x >= t && x < t + 1000).length);
  return out;
}

/** Who holds each of the carrier's bind slots, from the lease hash. */
async function holders(r: Redis, key: string): Promise<string[]> {
  const h = await r.hgetall(key);
  return Object.entries(h)
    .filter(([f]) => f.startsWith('s:'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, v]) => v.split('|')[0] as string);
}

test(`three instances share one carrier's ${TPS} tps and ${SESSIONS} binds: each second within ±5 %, never more binds, each message once`, { timeout: 60_000 }, async () => {
  const run = await setUp(`in${Date.now().toString(36)}`);
  const N = TPS * 10;
  await push(run.r, run.keys.intake, N, 'm');
  const daemons = ['i1', 'i2', 'i3'].map((n) => run.start(n));
  const log = (): string => daemons.map((d) => d.output().split('\n').slice(-20).join('\n')).join('\n---\n');
  await until(async () => (await finals(run.r, run.keys.events)).size >= N, 40_000, () => `every message final (${run.sim.stats.submitOk} submitted); logs:\n${log()}`, 250);
  const done = await finals(run.r, run.keys.events);
  assert.equal(done.size, N);
  assert.deepEqual([...done.values()].filter((n) => n !== 1), [], 'exactly one final event each');
  assert.equal(run.sim.stats.submitOk, N, 'each message submitted once');
  assert.ok(run.sim.stats.boundPeak <= SESSIONS, `never more than ${SESSIONS} binds at the carrier (peak ${run.sim.stats.boundPeak})`);
  const who = new Set(await holders(run.r, run.keys.bindSlots('a')));
  assert.deepEqual([...who].sort(), ['i1', 'i2', 'i3'], 'every instance holds a bind slot');
  // Receipts came over every bind: all matched, none left over.
  assert.equal(run.sim.stats.receiptsAcked, N, 'every receipt acknowledged');
  const s = run.submits;
  // Whole seconds from the second after the first submit to two before the last: as the
  // backlog runs out, instances finish their last entries unevenly.
  const seconds = perSecond(s, (s[0] as number) + 1000, (s[s.length - 1] as number) - 2000);
  assert.ok(seconds.length >= 5, `enough whole seconds to judge (${seconds.length})`);
  // Never over: no second above +5 % (a carrier throttles that). A second below means a
  // stall of this busy 2-core machine (the time is not owed later), so the low side is
  // judged on the mean, within ±3 %, and each second within −10 %.
  const over = seconds.filter((n) => n > TPS * 1.05);
  assert.deepEqual(over, [], `submits per second ${JSON.stringify(seconds)}, none above ${TPS} + 5 %`);
  const mean = seconds.reduce((a, b) => a + b, 0) / seconds.length;
  assert.ok(Math.abs(mean - TPS) <= TPS * 0.03 && seconds.every((n) => n >= TPS * 0.9), `submits per second ${JSON.stringify(seconds)}: mean ${mean.toFixed(1)}, want ${TPS} ± 3 %, each second ≥ −10 %`);
  for (const d of daemons) d.kill('SIGTERM');
  await Promise.all(daemons.map((d) => d.exited));
});

test('SIGKILL one of three instances mid-run: its binds and share move to the others within the lease; a restart under its name resumes; nothing lost', { timeout: 60_000 }, async () => {
  const run = await setUp(`ik${Date.now().toString(36)}`);
  const N = TPS * 12;
  await push(run.r, run.keys.intake, N, 'k');
  const daemons = new Map(['i1', 'i2', 'i3'].map((n) => [n, run.start(n)] as const));
  const log = (): string => [...daemons.values()].map((d) => d.output().split('\n').slice(-20).join('\n')).join('\n---\n');
  await until(() => run.sim.stats.submitOk >= TPS * 3, 20_000, () => `traffic flowing; logs:\n${log()}`);
  await until(async () => new Set(await holders(run.r, run.keys.bindSlots('a'))).size === 3, 10_000, 'all three hold slots');
  const killedAt = Date.now();
  (daemons.get('i3') as Daemon).kill('SIGKILL');
  await (daemons.get('i3') as Daemon).exited;
  // Its slots go to the two left within the lease (and a renewal).
  await until(async () => {
    const h = await holders(run.r, run.keys.bindSlots('a'));
    return h.length === SESSIONS && !h.includes('i3');
  }, LEASE_MS * 3, 'the dead instance\'s slots taken over');
  await until(() => run.sim.boundSessions().length === SESSIONS, LEASE_MS * 2, () => `all ${SESSIONS} binds back (${run.sim.boundSessions().length})`);
  const movedMs = Date.now() - killedAt;
  assert.ok(movedMs <= LEASE_MS * 3, `binds moved in ${movedMs} ms`);
  // The rate holds with two: a whole second after the move, at the carrier's tps.
  const t = Date.now() + 200;
  await new Promise((res) => setTimeout(res, 2300));
  const two = perSecond(run.submits, t, t + 2000);
  assert.ok(two.every((n) => Math.abs(n - TPS) <= TPS * 0.1), `two instances keep the carrier's rate: ${JSON.stringify(two)}`);
  // A restart under the same name takes part again.
  daemons.set('i3', run.start('i3'));
  await until(async () => (await holders(run.r, run.keys.bindSlots('a'))).includes('i3'), LEASE_MS * 4, () => `the restarted instance holds a slot again; log:\n${daemons.get('i3')?.output()}`);
  try {
    await until(async () => (await finals(run.r, run.keys.events)).size >= N, 30_000, 'every message final', 250);
  } catch (e) {
    const [watch, due, pending, size] = await Promise.all([run.r.zcard(run.keys.watch), run.r.zcard(run.keys.due), run.r.xpending(run.keys.intake, 'qasid'), finals(run.r, run.keys.events).then((f) => f.size)]);
    const st = run.sim.stats;
    assert.fail(`${(e as Error).message}: ${size} of ${N} final; watch ${watch}, due ${due}, pending ${JSON.stringify(pending)}; sim submitted ${st.submitOk}, receipts sent ${st.receiptsSent} acked ${st.receiptsAcked} redelivered ${st.receiptsRedelivered} held ${st.receiptsHeld} dropped ${st.receiptsDropped}`);
  }
  const done = await finals(run.r, run.keys.events);
  assert.deepEqual([...done.values()].filter((n) => n !== 1), [], 'exactly one final event each');
  assert.ok(run.sim.stats.boundPeak <= SESSIONS, `never more than ${SESSIONS} binds at the carrier (peak ${run.sim.stats.boundPeak})`);
  // What was on the wire when it died may go again (the documented unknown-outcome window); no more.
  assert.ok(run.sim.stats.submitOk - N <= 50, `resubmits stay within one window (${run.sim.stats.submitOk - N})`);
  for (const d of daemons.values()) d.kill('SIGTERM');
  await Promise.all([...daemons.values()].map((d) => d.exited));
});
