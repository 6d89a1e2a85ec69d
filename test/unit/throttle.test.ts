import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TokenBucket } from '../../src/throttle/bucket.js';
import { CarrierPacer, defaultBurst, defaultMinTps } from '../../src/throttle/pacer.js';
import { RETRY_SCHEDULE_MS, SLOWDOWN_DELAY_MS, nextRetryDelay, retryPlan } from '../../src/throttle/retry.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000_000): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

// ---------- TokenBucket ----------

test('bucket: starts full, refuses past the burst, refills continuously', () => {
  const clock = fakeClock();
  const b = new TokenBucket({ ratePerSec: 10, burst: 3, clock });
  assert.equal(b.available, 3);
  assert.ok(b.tryTake());
  assert.ok(b.tryTake(2));
  assert.equal(b.tryTake(), false);
  assert.equal(b.msUntil(), 100);
  clock.advance(50);
  assert.equal(b.tryTake(), false);
  assert.ok(Math.abs(b.available - 0.5) < 1e-9);
  clock.advance(50);
  assert.equal(b.msUntil(), 0);
  assert.ok(b.tryTake());
  clock.advance(60_000);
  assert.equal(b.available, 3, 'never above the burst after idling');
});

test('bucket: fractional rate 0.5/s gives one token every 2 s', () => {
  const clock = fakeClock();
  const b = new TokenBucket({ ratePerSec: 0.5, burst: 1, clock });
  assert.ok(b.tryTake());
  assert.equal(b.msUntil(), 2000);
  clock.advance(1999);
  assert.equal(b.tryTake(), false);
  assert.equal(b.msUntil(), 1);
  clock.advance(1);
  assert.ok(b.tryTake());
  assert.equal(b.rate, 0.5);
});

test('bucket: a take larger than the burst can never succeed', () => {
  const b = new TokenBucket({ ratePerSec: 100, burst: 2, clock: fakeClock() });
  assert.equal(b.msUntil(3), Infinity);
  assert.equal(b.tryTake(3), false);
  assert.equal(b.available, 2, 'a refused take consumes nothing');
});

test('bucket: setRate settles tokens earned at the old rate first', () => {
  const clock = fakeClock();
  const b = new TokenBucket({ ratePerSec: 10, burst: 10, clock });
  assert.ok(b.tryTake(10));
  clock.advance(500); // 5 tokens at 10/s
  b.setRate(1);
  assert.ok(Math.abs(b.available - 5) < 1e-9);
  assert.equal(b.rate, 1);
  assert.ok(b.tryTake(5));
  assert.equal(b.msUntil(), 1000);
  b.setRate(4);
  assert.equal(b.msUntil(), 250);
});

test('bucket: rejects nonsense options and a clock stepping back mints nothing', () => {
  const clock = fakeClock();
  assert.throws(() => new TokenBucket({ ratePerSec: 0, burst: 1, clock }), RangeError);
  assert.throws(() => new TokenBucket({ ratePerSec: 1, burst: -1, clock }), RangeError);
  assert.throws(() => new TokenBucket({ ratePerSec: Number.NaN, burst: 1, clock }), RangeError);
  const b = new TokenBucket({ ratePerSec: 10, burst: 1, clock });
  assert.throws(() => b.setRate(Infinity), RangeError);
  assert.ok(b.tryTake());
  clock.advance(-5000);
  assert.equal(b.available, 0);
  clock.advance(5000 + 100);
  assert.ok(b.tryTake());
});

/** Over any window [t_i, t_j] the tokens taken never exceed burst + rate·T. */
function assertBound(takes: ReadonlyArray<{ t: number; n: number }>, rate: number, burst: number): void {
  for (let i = 0; i < takes.length; i++) {
    let sum = 0;
    for (let j = i; j < takes.length; j++) {
      const tj = takes[j]!;
      sum += tj.n;
      const limit = burst + (rate * (tj.t - takes[i]!.t)) / 1000;
      assert.ok(sum <= limit + 1e-6, `took ${sum} in ${tj.t - takes[i]!.t} ms; limit ${limit}`);
    }
  }
}

test('bucket property: never more than burst + rate·T in any window, for random take patterns', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }).map((k) => k / 10), // 0.1 .. 500 per second
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 700 }), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 150 }),
      (rate, burst, steps) => {
        const clock = fakeClock();
        const b = new TokenBucket({ ratePerSec: rate, burst, clock });
        const takes: Array<{ t: number; n: number }> = [];
        for (const [dt, n] of steps) {
          clock.advance(dt);
          if (b.tryTake(n)) takes.push({ t: clock.now(), n });
        }
        assertBound(takes, rate, burst);
      },
    ),
    { numRuns: 300 },
  );
});

test('bucket property: a greedy sender that waits msUntil() gets the rate, and no more', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3000 }).map((k) => k / 10), fc.integer({ min: 1, max: 10 }), (rate, burst) => {
      const clock = fakeClock();
      const b = new TokenBucket({ ratePerSec: rate, burst, clock });
      const takes: Array<{ t: number; n: number }> = [];
      const start = clock.now();
      const horizonMs = Math.max(2_000, Math.ceil((50 * 1000) / rate));
      while (clock.now() - start <= horizonMs) {
        const wait = b.msUntil();
        if (wait > 0) clock.advance(wait);
        assert.ok(b.tryTake(), 'waiting msUntil() is always enough');
        takes.push({ t: clock.now(), n: 1 });
      }
      assertBound(takes, rate, burst);
      const elapsed = clock.now() - start;
      // Each wait is rounded up to a whole ms; with a small burst the surplus can spill
      // over the cap, so a token may cost up to 1 ms more than 1000/rate.
      const minExpected = burst + elapsed / (1000 / rate + 1) - 1;
      assert.ok(takes.length >= minExpected, `only ${takes.length} takes in ${elapsed} ms at ${rate}/s`);
    }),
    { numRuns: 100 },
  );
});

// ---------- CarrierPacer ----------

test('pacer: defaults — burst is 100 ms worth, floor max(1, tps/20) but never above tps', () => {
  assert.equal(defaultBurst(100), 10);
  assert.equal(defaultBurst(5), 1);
  assert.equal(defaultBurst(0.5), 1);
  assert.equal(defaultMinTps(100), 5);
  assert.equal(defaultMinTps(10), 1);
  assert.equal(defaultMinTps(0.5), 0.5);
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  let n = 0;
  while (p.take()) n++;
  assert.equal(n, 10);
  assert.equal(p.msUntilNext(), 10);
  assert.deepEqual(p.state(), { configuredTps: 100, currentTps: 100, throttledTotal: 0 });
  assert.throws(() => new CarrierPacer({ tps: 10, minTps: 20, clock }), RangeError);
  assert.throws(() => new CarrierPacer({ tps: 0, clock }), RangeError);
});

test('pacer: a throttle halves the rate and blocks every take for the cool-down', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  p.onThrottled();
  const s = p.state();
  assert.equal(s.currentTps, 50);
  assert.equal(s.throttledTotal, 1);
  assert.equal(s.coolingDownUntil, clock.now() + 1000);
  assert.equal(p.take(), false, 'tokens are there, but the carrier said slow down');
  assert.equal(p.msUntilNext(), 1000);
  clock.advance(999);
  assert.equal(p.take(), false);
  assert.equal(p.msUntilNext(), 1);
  clock.advance(1);
  assert.equal(p.state().coolingDownUntil, undefined);
  assert.ok(p.take());
});

test('pacer: a volley of throttle answers halves once per cool-down, and extends it', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  for (let i = 0; i < 30; i++) p.onThrottled(); // a whole window's worth of 0x58
  assert.equal(p.state().currentTps, 50);
  assert.equal(p.state().throttledTotal, 30);
  clock.advance(500);
  p.onThrottled();
  assert.equal(p.state().currentTps, 50);
  assert.equal(p.state().coolingDownUntil, clock.now() + 1000, 'extended');
  clock.advance(1000);
  p.onThrottled(); // after the cool-down: a new signal
  assert.equal(p.state().currentTps, 25);
});

test('pacer: the rate never drops below the floor', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock, minTps: 7, coolDownMs: 10 });
  for (let i = 0; i < 20; i++) {
    p.onThrottled();
    clock.advance(10);
  }
  assert.equal(p.state().currentTps, 7);
  const q = new CarrierPacer({ tps: 100, clock });
  for (let i = 0; i < 20; i++) {
    q.onThrottled();
    clock.advance(1000);
  }
  assert.equal(q.state().currentTps, 5, 'default floor tps/20');
});

test('pacer: paces at the halved rate after the cool-down', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock, recoveryPerSec: 1e-9 });
  p.onThrottled();
  clock.advance(1000);
  let sent = 0;
  const end = clock.now() + 10_000;
  while (clock.now() < end) {
    if (p.take()) sent++;
    else clock.advance(p.msUntilNext());
  }
  // 50/s for 10 s plus the burst accrued during the cool-down.
  assert.ok(sent >= 500 && sent <= 500 + 10 + 1, `sent ${sent}`);
});

test('pacer: clean traffic recovers +5 % of configured per second, up to configured', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  p.onThrottled(); // 50
  p.onAccepted(); // during cool-down: no credit
  assert.equal(p.state().currentTps, 50);
  clock.advance(1000); // cool-down over; credit starts from here
  p.onAccepted();
  assert.equal(p.state().currentTps, 50);
  for (let i = 0; i < 100; i++) {
    clock.advance(10);
    p.onAccepted();
  }
  assert.ok(Math.abs(p.state().currentTps - 55) < 1e-9, `after 1 s: ${p.state().currentTps}`);
  for (let i = 0; i < 2000; i++) {
    clock.advance(10);
    p.onAccepted();
  }
  assert.equal(p.state().currentTps, 100, 'capped at configured');
});

test('pacer: one answer after a long silence credits at most maxCreditMs', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  p.onThrottled();
  clock.advance(600_000);
  p.onAccepted();
  assert.ok(Math.abs(p.state().currentTps - 60) < 1e-9, `2 s of credit: ${p.state().currentTps}`);
});

// ---------- retry schedule ----------

test('retry: the schedule is data, increasing, and ends', () => {
  assert.deepEqual([...RETRY_SCHEDULE_MS], [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000]);
  assert.ok(Object.isFrozen(RETRY_SCHEDULE_MS));
  for (let i = 1; i <= RETRY_SCHEDULE_MS.length; i++) {
    assert.equal(nextRetryDelay(i, () => 0.5), RETRY_SCHEDULE_MS[i - 1]);
  }
  assert.equal(nextRetryDelay(RETRY_SCHEDULE_MS.length + 1), undefined);
  assert.equal(nextRetryDelay(0), undefined);
  assert.equal(nextRetryDelay(1.5), undefined);
});

test('retry: jitter stays within ±10 %', () => {
  assert.equal(nextRetryDelay(1, () => 0), 4_500);
  assert.equal(nextRetryDelay(1, () => 0.999999), 5_500);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: RETRY_SCHEDULE_MS.length }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
      const base = RETRY_SCHEDULE_MS[attempt - 1]!;
      const d = nextRetryDelay(attempt, () => r)!;
      assert.ok(d >= base * 0.9 && d <= base * 1.1, `${d} vs ${base}`);
    }),
  );
});

test('retry: plans — slowdown spends nothing, retry spends one then gives up, fail gives up', () => {
  assert.deepEqual(retryPlan('slowdown', 1), { kind: 'retry', delayMs: SLOWDOWN_DELAY_MS, spendsAttempt: false });
  assert.equal(SLOWDOWN_DELAY_MS, 1000);
  assert.deepEqual(retryPlan('slowdown', 99), { kind: 'retry', delayMs: 1000, spendsAttempt: false });
  assert.deepEqual(retryPlan('retry', 2, () => 0.5), { kind: 'retry', delayMs: 30_000, spendsAttempt: true });
  assert.deepEqual(retryPlan('retry', RETRY_SCHEDULE_MS.length + 1), { kind: 'give_up' });
  assert.deepEqual(retryPlan('fail', 1), { kind: 'give_up' });
});
