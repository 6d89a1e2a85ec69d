/**
 * Several instances on one standalone Redis (real `qasid run` processes, same prefix and
 * group): a carrier's `tps` and `sessions` are totals across them, receipts match on
 * whichever instance's bind they arrive, and a SIGKILLed instance's binds and share of
 * the rate move to the others within the bind lease. Checked at the simulator, as a
 * carrier would. (instances-cluster / instances-sentinel run the same on those.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedis } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import type { Daemon } from '../helpers/daemon.js';
import { FinalsReader, drain, judgeRate, missingFinals, perSecond, pushMessages, slotHolders, startInstances } from '../helpers/instances.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const TPS = 1000;
const SESSIONS = 4;
const LEASE_MS = 2000;

async function standalone(tag: string, tps = TPS, extra?: Record<string, unknown>): Promise<Awaited<ReturnType<typeof startInstances>>> {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const client = new Redis(redis.url);
  cleanups.push(async () => void client.disconnect());
  return startInstances({ redis: { url: redis.url }, client, prefix: `${tag}${Date.now().toString(36)}`, tps, sessions: SESSIONS, leaseMs: LEASE_MS, cleanups, ...(extra ? { extra } : {}) });
}

test(`three instances share one carrier's ${TPS} tps and ${SESSIONS} binds: 10,000 messages, each once, no second over the rate, never more binds`, { timeout: 60_000 }, async () => {
  const run = await standalone('in');
  const N = 10_000;
  await pushMessages(run.r, run.keys.intake, N, 'm');
  const holders = new Set<string>();
  const { finals, log } = await drain(run, N, {
    instances: 3,
    tag: 'm',
    timeoutMs: 40_000,
    everyTick: async () => {
      for (const h of await slotHolders(run.r, run.keys.bindSlots('a'))) holders.add(h);
    },
  });
  assert.deepEqual([...finals.values()].filter((n) => n !== 1), [], 'exactly one final event each');
  assert.equal(run.sim.stats.submitOk, N, 'each message submitted once');
  assert.ok(run.sim.stats.boundPeak <= SESSIONS, `never more than ${SESSIONS} binds at the carrier (peak ${run.sim.stats.boundPeak})`);
  assert.deepEqual([...holders].sort(), ['i1', 'i2', 'i3'], `every instance held a bind slot; logs:\n${log()}`);
  // Receipts came over every bind, most to an instance that did not submit: all matched.
  assert.equal(run.sim.stats.receiptsAcked, N, 'every receipt acknowledged');
  const bad = judgeRate(run.submits, TPS);
  assert.equal(bad, undefined, bad);
});

test('SIGKILL one of three instances mid-run: its binds and share move to the others within the lease; a restart under its name takes part again; nothing lost', { timeout: 100_000 }, async () => {
  const tps = 600;
  // 30 s of validity and 5 s of receipt grace: a message whose outcome the kill left
  // unknown (its submit_sm_resp lost with the process, say) ends at its deadline inside
  // the run instead of a day later. (One accepted whose mapping the kill cut off has it
  // written again by the instance that takes its entry over.)
  const run = await standalone('ik', tps, { messages: { defaultValiditySec: 30, receiptGraceSec: 5 } });
  const N = tps * 12;
  await pushMessages(run.r, run.keys.intake, N, 'k');
  const daemons = new Map(['i1', 'i2', 'i3'].map((n) => [n, run.start(n)] as const));
  const log = (): string => [...daemons.values()].map((d) => d.output().split('\n').slice(-20).join('\n')).join('\n---\n');
  await until(() => run.sim.stats.submitOk >= tps * 3, 20_000, () => `traffic flowing; logs:\n${log()}`);
  await until(async () => new Set(await slotHolders(run.r, run.keys.bindSlots('a'))).size === 3, 10_000, 'all three hold slots');
  const killedAt = Date.now();
  (daemons.get('i3') as Daemon).kill('SIGKILL');
  await (daemons.get('i3') as Daemon).exited;
  // Its slots go to the two left within the lease (and a renewal).
  await until(
    async () => {
      const h = await slotHolders(run.r, run.keys.bindSlots('a'));
      return h.length === SESSIONS && !h.includes('i3');
    },
    LEASE_MS * 3,
    "the dead instance's slots taken over",
  );
  await until(() => run.sim.boundSessions().length === SESSIONS, LEASE_MS * 2, () => `all ${SESSIONS} binds back (${run.sim.boundSessions().length})`);
  const movedMs = Date.now() - killedAt;
  assert.ok(movedMs <= LEASE_MS * 3, `binds moved in ${movedMs} ms`);
  // The rate holds with two: whole seconds after the move, at the carrier's tps.
  const t = Date.now() + 200;
  await new Promise((res) => setTimeout(res, 2300));
  const two = perSecond(run.submits, t, t + 2000);
  assert.ok(two.every((n) => n <= tps * 1.05 && n >= tps * 0.9), `two instances keep the carrier's rate: ${JSON.stringify(two)}`);
  // A restart under the same name takes part again.
  daemons.set('i3', run.start('i3'));
  await until(async () => (await slotHolders(run.r, run.keys.bindSlots('a'))).includes('i3'), LEASE_MS * 4, () => `the restarted instance holds a slot again; log:\n${daemons.get('i3')?.output()}`);
  const reader = new FinalsReader(run.r, run.keys.events);
  let done = new Map<string, number>();
  try {
    await until(async () => (done = await reader.read()).size >= N, 60_000, 'every message final', 250);
  } catch {
    assert.fail(`${done.size} of ${N} final (${run.sim.stats.submitOk} submitted); missing:\n${await missingFinals(run, done, N, 'k')}\nlogs:\n${log()}`);
  }
  assert.deepEqual([...done.values()].filter((n) => n !== 1), [], 'exactly one final event each');
  assert.ok(run.sim.stats.boundPeak <= SESSIONS, `never more than ${SESSIONS} binds at the carrier (peak ${run.sim.stats.boundPeak})`);
  // What was on the wire when it died may go again (the documented unknown-outcome window); no more.
  assert.ok(run.sim.stats.submitOk - N <= 50, `resubmits stay within one window (${run.sim.stats.submitOk - N})`);
  for (const d of daemons.values()) d.kill('SIGTERM');
  await Promise.all([...daemons.values()].map((d) => d.exited));
});
