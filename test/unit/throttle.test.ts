import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TokenBucket } from '../../src/throttle/bucket.js';
import { RateMeter, WindowedMax } from '../../src/throttle/meter.js';
import { PacedGate } from '../../src/dispatch/gate.js';
import { TokenBucket as SimTokenBucket } from '../../src/sim/scheduler.js';
import { DEFAULT_BEHAVIOUR, mergeBehaviour } from '../../src/sim/behaviour.js';
import { simUsage } from '../../src/cli/sim.js';
import { CarrierPacer, DEFAULT_COOL_DOWN_MS, DEFAULT_MARGIN, defaultBurst, defaultMinTps } from '../../src/throttle/pacer.js';
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

test('bucket: setBurst caps the tokens held at once; a larger burst fills only at the rate', () => {
  const clock = fakeClock();
  const b = new TokenBucket({ ratePerSec: 100, burst: 10, clock });
  b.setBurst(4);
  assert.equal(b.burst, 4);
  assert.equal(b.available, 4, 'tokens above the new burst are dropped');
  b.setBurst(20);
  assert.equal(b.available, 4);
  clock.advance(100);
  assert.ok(Math.abs(b.available - 14) < 1e-9);
  clock.advance(1000);
  assert.equal(b.available, 20);
  assert.throws(() => b.setBurst(0), RangeError);
});

test('bucket: empty(until) drops every token and accrues nothing before `until`', () => {
  const clock = fakeClock();
  const b = new TokenBucket({ ratePerSec: 100, burst: 10, clock });
  b.empty(clock.now() + 50);
  assert.equal(b.available, 0);
  assert.equal(b.msUntil(), 50 + 10);
  clock.advance(50);
  assert.equal(b.available, 0, 'nothing accrued during the pause');
  assert.equal(b.tryTake(), false);
  clock.advance(10);
  assert.ok(b.tryTake());
  b.empty();
  assert.equal(b.available, 0);
  assert.equal(b.msUntil(), 10);
});

// ---------- RateMeter ----------

test('windowed max: the largest sample of the window; older ones expire', () => {
  const m = new WindowedMax(3000);
  assert.equal(m.max(0), -Infinity);
  m.add(0, 5);
  m.add(1000, 9);
  m.add(2000, 7);
  assert.equal(m.max(2000), 9);
  assert.equal(m.max(3999), 9);
  assert.equal(m.max(4000), 7, 'the 9 left the window');
  for (let t = 5000; t < 100_000; t++) m.add(t, 100_000 - t); // falling samples: the queue stays bounded
  assert.equal(m.max(100_000), 100_000 - 97_001);
  assert.throws(() => new WindowedMax(0), RangeError);
});

test('meter: counts events over the last second in 100 ms slots; old ones expire', () => {
  const m = new RateMeter();
  const t0 = 1_700_000_000_000; // a multiple of 100
  for (let i = 0; i < 10; i++) m.add(t0 + i * 100 + 50, 10);
  assert.equal(m.count(t0 + 999), 100);
  assert.equal(m.span(t0 + 999), 999);
  assert.equal(m.count(t0 + 1000), 90, 'the first slot left the window');
  assert.equal(m.span(t0 + 1000), 900);
  assert.equal(m.count(t0 + 1850), 10, 'only the slot of t0 + 950 is left');
  assert.equal(m.count(t0 + 5000), 0, 'a long gap clears everything');
  m.add(t0 + 5000);
  assert.equal(m.count(t0 + 4000), 1, 'a clock stepping back counts into the newest slot');
  assert.throws(() => new RateMeter({ slots: 0 }), RangeError);
  assert.throws(() => new RateMeter({ windowMs: 0 }), RangeError);
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

test('pacer: a throttle with nothing measured yet cuts by the margin and blocks every take for the cool-down', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  p.onThrottled(p.epoch);
  const s = p.state();
  assert.equal(s.currentTps, 90);
  assert.equal(s.throttledTotal, 1);
  assert.equal(s.coolingDownUntil, clock.now() + DEFAULT_COOL_DOWN_MS);
  assert.equal(DEFAULT_COOL_DOWN_MS, 100);
  assert.equal(p.take(), false, 'the carrier said slow down');
  // The cool-down, then one token at the new rate: nothing was banked meanwhile.
  assert.equal(p.msUntilNext(), 100 + 12);
  clock.advance(99);
  assert.equal(p.take(), false);
  assert.equal(p.msUntilNext(), 1 + 12);
  clock.advance(1);
  assert.equal(p.state().coolingDownUntil, undefined);
  assert.equal(p.take(), false, 'no burst waiting at the end of the cool-down');
  assert.equal(p.msUntilNext(), 12);
  clock.advance(12);
  assert.ok(p.take());
});

test('pacer: without an epoch, a volley of throttle answers cuts once per cool-down, and extends it', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock, coolDownMs: 1000 });
  for (let i = 0; i < 30; i++) p.onThrottled(); // a whole window's worth of 0x58
  assert.equal(p.state().currentTps, 90);
  assert.equal(p.state().throttledTotal, 30);
  clock.advance(500);
  p.onThrottled();
  assert.equal(p.state().currentTps, 90);
  assert.equal(p.state().coolingDownUntil, clock.now() + 1000, 'extended');
  clock.advance(1000);
  p.onThrottled(); // after the cool-down: a new signal, after a second in which nothing was accepted
  assert.ok(Math.abs(p.state().currentTps - 63) < 1e-9, 'an empty measurement cuts the most (to 0.7 ×)');
});

test('pacer: one overload, one cut — answers to submits sent before the cut are echoes', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  const before = p.epoch;
  for (let i = 0; i < 30; i++) p.onThrottled(before);
  assert.equal(p.state().currentTps, 90);
  assert.equal(p.state().throttledTotal, 30);
  assert.equal(p.epoch, before + 1);
  assert.equal(p.state().coolingDownUntil, clock.now() + 100, 'echoes do not extend the cool-down');
  clock.advance(150); // a late echo, after the cool-down (a long round trip)
  p.onThrottled(before);
  assert.equal(p.state().currentTps, 90);
  assert.equal(p.state().coolingDownUntil, undefined, 'an echo neither cuts nor pauses');
  p.onThrottled(p.epoch); // a submit sent after the cut was refused: a new signal
  assert.ok(Math.abs(p.state().currentTps - 81) < 1e-9);
  assert.equal(p.epoch, before + 2);
});

test('pacer: the rate never drops below the floor', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock, minTps: 7, coolDownMs: 10 });
  for (let i = 0; i < 40; i++) {
    p.onThrottled(p.epoch);
    clock.advance(10);
  }
  assert.equal(p.state().currentTps, 7);
  const q = new CarrierPacer({ tps: 100, clock });
  for (let i = 0; i < 20; i++) {
    q.onThrottled(q.epoch);
    clock.advance(1000);
  }
  assert.equal(q.state().currentTps, 5, 'default floor tps/20');
});

test('pacer: paces at the lowered rate after the cool-down, with nothing banked during it', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock, recoveryPerSec: 1e-9 });
  p.onThrottled(p.epoch); // 90/s
  clock.advance(100);
  let sent = 0;
  const end = clock.now() + 10_000;
  while (clock.now() < end) {
    if (p.take()) sent++;
    else clock.advance(p.msUntilNext());
  }
  // 90/s for 10 s, and no burst at the start.
  assert.ok(sent >= 898 && sent <= 901, `sent ${sent}`);
});

test('pacer: clean traffic recovers 5 % of the current rate per second, compounded, up to configured', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  p.onThrottled(p.epoch); // 90, which is margin × the rate cut from: nothing to return to quickly
  p.onAccepted(); // during cool-down: no credit
  assert.equal(p.state().currentTps, 90);
  clock.advance(100); // cool-down over; credit starts from here
  p.onAccepted();
  assert.equal(p.state().currentTps, 90);
  for (let i = 0; i < 100; i++) {
    clock.advance(10);
    p.onAccepted();
  }
  const after1s = 90 * Math.exp(0.05);
  assert.ok(Math.abs(p.state().currentTps - after1s) < 1e-9, `after 1 s: ${p.state().currentTps}`);
  for (let i = 0; i < 2000; i++) {
    clock.advance(10);
    p.onAccepted();
  }
  assert.equal(p.state().currentTps, 100, 'capped at configured');
});

test('pacer: one answer after a long silence credits at most maxCreditMs', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 100, clock });
  p.onThrottled(p.epoch);
  clock.advance(600_000);
  p.onAccepted();
  const twoSeconds = 90 * Math.exp(0.05 * 2);
  assert.ok(Math.abs(p.state().currentTps - twoSeconds) < 1e-9, `2 s of credit: ${p.state().currentTps}`);
});

/** The carrier accepts `perSec` answers a second for `ms` (evenly spaced). */
function acceptFor(p: CarrierPacer, clock: { advance(ms: number): void }, perSec: number, ms: number): void {
  const step = 1000 / perSec;
  for (let t = step; t <= ms + 1e-9; t += step) {
    clock.advance(step);
    p.onAccepted();
  }
}

test('pacer: a throttle sets the rate to margin × the accepted rate measured over the last second', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 500, clock });
  assert.equal(DEFAULT_MARGIN, 0.9);
  acceptFor(p, clock, 400, 1000);
  p.onThrottled(p.epoch);
  // 400/s measured in 100 ms slots (±1 answer at a slot edge) → 360: between 0.7 × 500 and margin × 500.
  assert.ok(Math.abs(p.state().currentTps - 360) < 7.2, `rate ${p.state().currentTps}`);
});

test('pacer: a second in which the process stalled does not drag the cut down: the best recent second counts', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 450, clock });
  acceptFor(p, clock, 400, 3000);
  clock.advance(400); // the event loop was blocked: no answers
  acceptFor(p, clock, 400, 100); // then the catch-up clump, part of it refused
  p.onThrottled(p.epoch);
  // The latest second alone reads ≈ 270/s (→ the 0.7 × floor of the cut, 315); the best of the last 3 s is 400.
  assert.ok(Math.abs(p.state().currentTps - 360) < 7.2, `rate ${p.state().currentTps}`);
});

test('pacer: ... but a carrier that slowed down is measured afresh within seconds', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 250, clock });
  acceptFor(p, clock, 400, 1000);
  acceptFor(p, clock, 200, 4000);
  p.onThrottled(p.epoch);
  assert.ok(Math.abs(p.state().currentTps - 180) < 3.6, `rate ${p.state().currentTps}`);
});

test('pacer: a cut lowers the rate by at least the margin and at most to 0.7 ×', () => {
  const clock = fakeClock();
  const fast = new CarrierPacer({ tps: 100, clock });
  acceptFor(fast, clock, 400, 1000); // the carrier took more than we sent: the cause was a burst
  fast.onThrottled(fast.epoch);
  assert.ok(Math.abs(fast.state().currentTps - 90) < 1e-9, 'at most margin × current');
  const slow = new CarrierPacer({ tps: 1000, clock });
  acceptFor(slow, clock, 10, 1000);
  slow.onThrottled(slow.epoch);
  assert.equal(slow.state().currentTps, 700, 'at least 0.7 × current');
});

test('pacer: a throttle after a silence cuts by the margin — an empty window is no measurement', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 1000, clock });
  acceptFor(p, clock, 400, 1000);
  clock.advance(10_000);
  p.onThrottled(p.epoch);
  assert.equal(p.state().currentTps, 900);
});

test('pacer: the burst follows the current rate; tokens above it are dropped', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 1000, clock });
  assert.equal(p.burst, 100);
  acceptFor(p, clock, 400, 1000);
  p.onThrottled(p.epoch); // 0.7 × 1000 (the deepest cut) → burst 70
  const rate = p.state().currentTps;
  assert.equal(rate, 700);
  clock.advance(60_000); // idle: the bucket fills to its (smaller) capacity
  let n = 0;
  while (p.take()) n++;
  assert.equal(n, Math.floor(rate / 10));
  const q = new CarrierPacer({ tps: 1000, clock, burst: 50 });
  q.onThrottled(q.epoch); // 900/s
  clock.advance(60_000);
  n = 0;
  while (q.take()) n++;
  assert.equal(n, 45, 'an explicit burst scales the same way');
});

test('pacer: after a cut deeper than the margin, the rate returns quickly towards margin × the rate cut from', () => {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: 1000, clock });
  acceptFor(p, clock, 100, 1000); // a second in which only 100/s got through (the process itself was slow)
  p.onThrottled(p.epoch);
  assert.equal(p.state().currentTps, 700);
  clock.advance(100);
  p.onAccepted();
  acceptFor(p, clock, 100, 500);
  // d(rate)/dt = 0.05·rate + 2/s·(900 − rate)  →  ≈ 842 after 0.5 s (slow probing alone: 718).
  const r05 = p.state().currentTps;
  assert.ok(r05 > 830 && r05 < 855, `after 0.5 s: ${r05}`);
  acceptFor(p, clock, 100, 1500);
  // Past 900 only slow probing is left: 5 % a second.
  const r2 = p.state().currentTps;
  assert.ok(r2 > 900 && r2 < 950, `after 2 s: ${r2}`);
});

test('pacer: rejects nonsense options', () => {
  const clock = fakeClock();
  assert.throws(() => new CarrierPacer({ tps: 10, clock, margin: 1 }), RangeError);
  assert.throws(() => new CarrierPacer({ tps: 10, clock, margin: 0 }), RangeError);
  assert.throws(() => new CarrierPacer({ tps: 10, clock, burst: 0 }), RangeError);
  assert.throws(() => new CarrierPacer({ tps: 10, clock, coolDownMs: -1 }), RangeError);
});

test('pacer property: whatever the carrier answers, never more than burst + tps·T submits in any window', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2000 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.constantFrom('take', 'take', 'take', 'ok', 'ok', 'throttle', 'echo')), { minLength: 1, maxLength: 300 }),
      (tps, steps) => {
        const clock = fakeClock();
        const p = new CarrierPacer({ tps, clock });
        const takes: Array<{ t: number; n: number }> = [];
        for (const [dt, what] of steps) {
          clock.advance(dt);
          if (what === 'take') {
            while (p.take()) takes.push({ t: clock.now(), n: 1 });
          } else if (what === 'ok') p.onAccepted();
          else p.onThrottled(what === 'echo' ? p.epoch - 1 : p.epoch);
          assert.ok(p.state().currentTps >= p.minTps - 1e-9 && p.state().currentTps <= tps);
        }
        assertBound(takes, tps, p.burst);
      },
    ),
    { numRuns: 200 },
  );
});

/**
 * A carrier that counts submits in a token bucket (rate c, burst b, starting full) behind
 * a round trip of `rttMs`, and a sender with an endless backlog and `window` submits in
 * flight, on a 1 ms clock. Returns accepted submits per second and throttle answers.
 */
function simulateCarrier(o: { tps: number; c: number; b: number; window: number; rttMs: number; seconds: number }): { perSecond: number[]; throttled: number } {
  const clock = fakeClock();
  const p = new CarrierPacer({ tps: o.tps, clock });
  let tokens = o.b;
  let last = clock.now();
  const inFlight: Array<{ at: number; ok: boolean; epoch: number }> = [];
  const perSecond: number[] = [];
  let ok = 0;
  let throttled = 0;
  for (let ms = 1; ms <= o.seconds * 1000; ms++) {
    clock.advance(1);
    while (inFlight.length > 0 && (inFlight[0] as { at: number }).at <= clock.now()) {
      const a = inFlight.shift() as { ok: boolean; epoch: number };
      if (a.ok) {
        ok++;
        p.onAccepted();
      } else {
        throttled++;
        p.onThrottled(a.epoch);
      }
    }
    while (inFlight.length < o.window && p.take()) {
      tokens = Math.min(o.b, tokens + ((clock.now() - last) * o.c) / 1000);
      last = clock.now();
      const accepted = tokens >= 1;
      if (accepted) tokens -= 1;
      inFlight.push({ at: clock.now() + o.rttMs, ok: accepted, epoch: p.epoch });
    }
    if (ms % 1000 === 0) {
      perSecond.push(ok);
      ok = 0;
    }
  }
  return { perSecond, throttled };
}

test('pacer: configured above what the carrier takes, the accepted rate settles within 10 % of the carrier (not a tenth of it)', () => {
  const carriers = [
    { tps: 1000, c: 400, b: 40, window: 50, rttMs: 2 },
    { tps: 1000, c: 400, b: 40, window: 100, rttMs: 50 },
    { tps: 1000, c: 400, b: 10, window: 50, rttMs: 2 },
    { tps: 1000, c: 400, b: 400, window: 50, rttMs: 2 },
    { tps: 1000, c: 100, b: 10, window: 50, rttMs: 20 },
    { tps: 1000, c: 900, b: 90, window: 100, rttMs: 5 },
    { tps: 400, c: 50, b: 5, window: 10, rttMs: 100 },
    { tps: 5000, c: 2000, b: 200, window: 200, rttMs: 10 },
  ];
  for (const k of carriers) {
    const { perSecond, throttled } = simulateCarrier({ ...k, seconds: 30 });
    const steady = perSecond.slice(5);
    const rate = steady.reduce((a, b) => a + b, 0) / steady.length;
    const accepted = perSecond.reduce((a, b) => a + b, 0);
    const what = `${JSON.stringify(k)}: ${rate.toFixed(1)}/s in steady state, ${throttled} throttled; per second ${perSecond.join(',')}`;
    assert.ok(Math.abs(rate - k.c) <= k.c * 0.1, what);
    assert.ok(throttled <= accepted * 0.05, `throttle answers stay rare: ${what}`);
  }
});

// ---------- PacedGate ----------

const macrotask = (): Promise<void> => new Promise((res) => setTimeout(res, 5));

/** Counts add/removeEventListener calls on one signal. */
function countListeners(signal: AbortSignal): { added: number; removed: number } {
  const n = { added: 0, removed: 0 };
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>): void => {
    n.added++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<typeof remove>): void => {
    n.removed++;
    remove(...args);
  };
  return n;
}

test('gate: waiters are served in FIFO order as tokens come', async () => {
  const clock = fakeClock();
  const g = new PacedGate(new CarrierPacer({ tps: 10, clock, burst: 1 }));
  assert.equal(await g.acquire(), true, 'the burst, at once');
  const order: number[] = [];
  const all = [0, 1, 2].map((i) => g.acquire().then((ok) => (order.push(i), ok)));
  assert.equal(g.waiting, 3);
  clock.advance(100);
  g.poke();
  await macrotask();
  assert.deepEqual(order, [0]);
  for (let i = 0; i < 2; i++) {
    clock.advance(100); // burst 1: one token at a time
    g.poke();
    await macrotask();
  }
  assert.deepEqual(await Promise.all(all), [true, true, true]);
  assert.deepEqual(order, [0, 1, 2]);
  assert.equal(g.waiting, 0);
});

test('gate: one abort listener per signal however many wait; its abort fails exactly its waiters', async () => {
  const clock = fakeClock();
  const g = new PacedGate(new CarrierPacer({ tps: 10, clock, burst: 1 }));
  assert.equal(await g.acquire(), true);
  const a = new AbortController();
  const b = new AbortController();
  const na = countListeners(a.signal);
  const nb = countListeners(b.signal);
  const results: Array<Promise<boolean>> = [];
  const first = g.acquire();
  for (let i = 0; i < 5000; i++) results.push(g.acquire(a.signal));
  const other = g.acquire(b.signal);
  const last = g.acquire();
  assert.equal(na.added, 1, 'one listener for 5000 waiters');
  assert.equal(nb.added, 1);
  assert.equal(g.waiting, 5003);
  a.abort();
  assert.deepEqual(new Set(await Promise.all(results)), new Set([false]));
  assert.equal(g.waiting, 3);
  for (let i = 0; i < 3; i++) {
    clock.advance(100);
    g.poke();
    await macrotask();
  }
  assert.deepEqual(await Promise.all([first, other, last]), [true, true, true]);
  assert.equal(nb.removed, 1, 'the listener leaves with its last waiter');
  assert.equal(await g.acquire(a.signal), false, 'an aborted signal fails at once');
  assert.equal(na.added, 1);
});

// ---------- the simulator's throttle ----------

test('simulator throttle: burst one second worth by default; tpsBurst caps it; refills at tps', () => {
  const drain = (b: SimTokenBucket, now: number): number => {
    let n = 0;
    while (b.take(now)) n++;
    return n;
  };
  assert.equal(drain(new SimTokenBucket(50, 0), 0), 50, 'the old behaviour: a second worth at once');
  const b = new SimTokenBucket(400, 0, 40);
  assert.equal(drain(b, 0), 40);
  let n = 0;
  for (let t = 1; t <= 1000; t++) n += drain(b, t);
  assert.equal(n, 400, '400 a second once the burst is spent');
  assert.equal(drain(b, 60_000), 40, 'never more than the burst after idling');
  assert.equal(mergeBehaviour(DEFAULT_BEHAVIOUR, { tps: 400, tpsBurst: 40 }).tpsBurst, 40);
  assert.throws(() => mergeBehaviour(DEFAULT_BEHAVIOUR, { tps: 400, tpsBurst: -1 }), /tpsBurst/);
  assert.match(simUsage(), /--tps-burst N/);
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
  assert.equal(SLOWDOWN_DELAY_MS, DEFAULT_COOL_DOWN_MS);
  assert.deepEqual(retryPlan('slowdown', 99), { kind: 'retry', delayMs: DEFAULT_COOL_DOWN_MS, spendsAttempt: false });
  assert.deepEqual(retryPlan('retry', 2, () => 0.5), { kind: 'retry', delayMs: 30_000, spendsAttempt: true });
  assert.deepEqual(retryPlan('retry', RETRY_SCHEDULE_MS.length + 1), { kind: 'give_up' });
  assert.deepEqual(retryPlan('fail', 1), { kind: 'give_up' });
});
