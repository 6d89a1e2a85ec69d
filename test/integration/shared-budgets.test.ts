/**
 * The carrier budgets several instances share through Redis (real redis-server): the
 * send-time grants of throttle/shared-rate.ts and the bind-slot leases of
 * throttle/bind-slots.ts, each instance played by its own object and connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { SharedRate } from '../../src/throttle/shared-rate.js';
import { BindSlots } from '../../src/throttle/bind-slots.js';
import { SweepLease } from '../../src/queue/sweep-lease.js';
import { captureLogger } from '../../src/log/logger.js';
import { redisForFile } from '../helpers/redis.js';
import { until } from '../helpers/until.js';
import { perSecond } from '../helpers/instances.js';

const redis = redisForFile();
const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

function client(): Redis {
  const r = new Redis(redis.url);
  redis.cleanups.push(async () => void r.disconnect());
  return r;
}

/** Sends as fast as its grants allow, recording when each message went. */
function sender(rate: SharedRate, sent: number[]): { stop(): void } {
  let on = true;
  const loop = (): void => {
    if (!on) return;
    while (rate.ready()) {
      rate.consume();
      sent.push(Date.now());
    }
    const wait = rate.msUntil();
    setTimeout(loop, Number.isFinite(wait) ? Math.max(1, Math.min(wait, 50)) : 5);
  };
  rate.onGrant = () => undefined;
  loop();
  return {
    stop: () => {
      on = false;
      rate.stop();
    },
  };
}

test('two instances drawing on one carrier budget send its tps between them, each second within ±2 %, both fairly', { timeout: 20_000 }, async () => {
  const { logger } = captureLogger('warn');
  const TPS = 500;
  const key = 'rate:{t:c:a}';
  const sentA: number[] = [];
  const sentB: number[] = [];
  const a = sender(new SharedRate(client(), { key, carrier: 'a', tps: TPS, minTps: 25, logger }), sentA);
  const b = sender(new SharedRate(client(), { key, carrier: 'a', tps: TPS, minTps: 25, logger }), sentB);
  const from = Date.now() + 500;
  await sleep(4700);
  a.stop();
  b.stop();
  const total = perSecond([...sentA, ...sentB], from, from + 4000);
  assert.ok(total.every((n) => Math.abs(n - TPS) <= TPS * 0.02), `per second ${JSON.stringify(total)}, want ${TPS} ± 2 %`);
  const shareA = sentA.length / (sentA.length + sentB.length);
  assert.ok(shareA > 0.3 && shareA < 0.7, `both get a fair share (A ${sentA.length}, B ${sentB.length})`);
  // Even within the second: no 100 ms holds more than 1.5 × its share.
  const all = [...sentA, ...sentB].filter((x) => x >= from && x < from + 4000);
  for (let t = from; t < from + 4000; t += 100) {
    const n = all.filter((x) => x >= t && x < t + 100).length;
    assert.ok(n <= TPS * 0.15, `${n} sent in the 100 ms from +${t - from} ms (want about ${TPS / 10})`);
  }
});

test('an instance that stops leaves the whole rate to the other within a second; a throttle cut by one slows both', { timeout: 20_000 }, async () => {
  const { logger } = captureLogger('warn');
  const TPS = 400;
  const key = 'rate:{t:c:b}';
  const sentA: number[] = [];
  const sentB: number[] = [];
  const rateA = new SharedRate(client(), { key, carrier: 'b', tps: TPS, minTps: 20, logger, recoveryPerSec: 0.01 });
  const a = sender(rateA, sentA);
  const b = sender(new SharedRate(client(), { key, carrier: 'b', tps: TPS, minTps: 20, logger, recoveryPerSec: 0.01 }), sentB);
  await sleep(1500);
  a.stop();
  const stoppedAt = Date.now();
  await sleep(2500);
  const alone = perSecond(sentB, stoppedAt + 500, stoppedAt + 2500);
  assert.ok(alone.every((n) => Math.abs(n - TPS) <= TPS * 0.03), `the one left sends the carrier's rate: ${JSON.stringify(alone)}`);
  // A cut by the stopped one's object still reaches the shared rate.
  rateA.slowDown(0.5);
  await sleep(300);
  const cutAt = Date.now();
  await sleep(2200);
  b.stop();
  const slowed = perSecond(sentB, cutAt, cutAt + 2000);
  assert.ok(slowed.every((n) => n >= TPS * 0.45 && n <= TPS * 0.55), `the other instance slowed to the shared cut: ${JSON.stringify(slowed)}`);
});

interface Member {
  slots: BindSlots;
  bound: () => number[];
  lines: Array<Record<string, unknown>>;
}

function member(name: string, key: string, leaseMs: number, applyMs = 0, slotCount = 4): Member {
  const { logger, lines } = captureLogger('warn');
  let bound: number[] = [];
  let generation = 0;
  const slots = new BindSlots(client(), {
    key,
    carrier: 'c',
    instance: name,
    slots: slotCount,
    leaseMs,
    logger,
    apply: async (held, abrupt) => {
      // Unbinding takes applyMs (in-flight submits finish first) unless abrupt (a lost
      // lease closes at once); binding is at once. A later change overrides one still
      // unbinding (as CarrierLink.hold does).
      const g = ++generation;
      const dropping = bound.filter((i) => !held.includes(i));
      bound = [...new Set([...bound, ...held])].sort();
      if (dropping.length > 0 && !abrupt) await sleep(applyMs);
      if (g === generation) bound = [...held].sort();
    },
  });
  return { slots, bound: () => bound, lines };
}

/** No slot bound by two members at once. */
function overlap(ms: Member[]): number[] {
  const seen = new Map<number, number>();
  for (const m of ms) for (const i of m.bound()) seen.set(i, (seen.get(i) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([i]) => i);
}

test('bind slots: three members share 4 slots 2/1/1, never one slot twice, also while an unbind outlasts the lease; a dead member\'s slots return', { timeout: 30_000 }, async () => {
  const key = 'binds:{t:c:c}';
  const LEASE = 1000;
  // A slow unbind (1.5 leases): the slots it gives up must stay leased until it is done.
  const ms = ['m1', 'm2', 'm3'].map((n) => member(n, key, LEASE, LEASE * 1.5));
  let doubled: number[] = [];
  const watch = setInterval(() => {
    const o = overlap(ms);
    if (o.length > 0) doubled = o;
  }, 2);
  try {
    await (ms[0] as Member).slots.start();
    assert.deepEqual((ms[0] as Member).bound(), [0, 1, 2, 3], 'alone, a member binds every slot');
    await Promise.all(ms.slice(1).map((m) => m.slots.start()));
    await until(() => ms.map((m) => m.bound().length).sort().join() === '1,1,2', LEASE * 10, () => `shares 2/1/1 (${ms.map((m) => m.bound().join('+')).join(' ')})`);
    assert.deepEqual(doubled, [], 'no slot was bound by two members at once');
    // m3 dies without giving anything back: its slot returns after the lease.
    const m3 = ms[2] as Member;
    const inner = m3.slots as unknown as { timer: NodeJS.Timeout; syncing?: Promise<void>; applying: Promise<void> };
    inner.timer.close();
    // A renewal already on its way still lands (and may bind a slot it took): what m3
    // holds at its death is what it binds once that last one has settled.
    await inner.syncing;
    await inner.applying;
    const held3 = m3.bound();
    await until(() => ms.slice(0, 2).map((m) => m.bound().length).sort().join() === '2,2', LEASE * 6, () => `the two left hold 2 each (${ms.map((m) => m.bound().join('+')).join(' ')})`);
    const taken = ms.slice(0, 2).flatMap((m) => m.bound());
    assert.ok(held3.every((i) => taken.includes(i)), 'the dead member\'s slot was taken over');
    // m3's own view still shows its stale slot; the live ones are what a carrier sees.
    assert.deepEqual(overlap(ms.slice(0, 2)), [], 'no slot twice among the live members');
    // A clean stop gives slots back at once.
    await (ms[1] as Member).slots.stop();
    await until(() => (ms[0] as Member).bound().length === 4, LEASE * 4, 'the last member binds every slot');
    assert.deepEqual(doubled.filter((i) => !held3.includes(i)), [], 'never a slot twice');
  } finally {
    clearInterval(watch);
    for (const m of ms) await m.slots.stop().catch(() => undefined);
  }
});

test('a sweep lease: one instance at a time; given back, another takes it at once; a dead holder\'s runs out', async () => {
  const { logger, lines } = captureLogger('info');
  const key = 'sweep:retention';
  const a = new SweepLease(client(), { key, sweep: 'retention', instance: 'a', ttlMs: 300, logger });
  const b = new SweepLease(client(), { key, sweep: 'retention', instance: 'b', ttlMs: 300, logger });
  assert.equal(await a.hold(), true, 'the first takes it');
  assert.equal(await b.hold(), false, 'the second does not run the sweep');
  assert.equal(await a.hold(), true, 'the holder renews it');
  await a.giveBack();
  assert.equal(await b.hold(), true, 'given back: the other takes it at once');
  // b dies (no renewal): after the ttl a takes over.
  assert.equal(await a.hold(), false);
  await sleep(350);
  assert.equal(await a.hold(), true, 'a dead holder\'s lease ran out');
  assert.ok(lines.some((l) => l.event === 'sweep.lease' && l.held === true), 'logged');
});

test('more instances than sessions: the one left without a bind slot says so, once; it binds again when one leaves', { timeout: 20_000 }, async () => {
  const key = 'binds:{t:c:few}';
  const LEASE = 1000;
  const ms = ['n1', 'n2', 'n3'].map((n) => member(n, key, LEASE, 0, 2));
  try {
    for (const m of ms) await m.slots.start();
    await until(() => ms.map((m) => m.bound().length).sort().join() === '0,1,1', LEASE * 6, () => `shares 1/1/0 (${ms.map((m) => m.bound().join('+')).join(' ')})`);
    const without = ms.find((m) => m.bound().length === 0) as Member;
    const warned = (m: Member): number => m.lines.filter((l) => l.event === 'carrier.no_bind_share').length;
    await until(() => warned(without) === 1, LEASE * 2, 'the warning');
    assert.equal(without.lines.find((l) => l.event === 'carrier.no_bind_share')?.instances, 3);
    assert.deepEqual(ms.filter((m) => m !== without).map(warned), [0, 0], 'only the one without a slot warns');
    await sleep(LEASE);
    assert.equal(warned(without), 1, 'once, not at every renewal');
    // One with a slot leaves: the one without takes it.
    const leaving = ms.find((m) => m !== without) as Member;
    await leaving.slots.stop();
    await until(() => without.bound().length === 1, LEASE * 4, 'the slot taken');
  } finally {
    for (const m of ms) await m.slots.stop();
  }
});
