/**
 * The per-carrier circuit breaker (dispatch/breaker.ts), on a clock the test moves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CarrierBreaker, type BreakerState } from '../../src/dispatch/breaker.js';

const cfg = { enabled: true, windowSec: 10, minSubmits: 4, errorShare: 0.5, coolDownSec: 30, probes: 2 };

test('opens once minSubmits were tried in the window and errorShare of them failed; not before', () => {
  const changes: Array<[BreakerState, BreakerState]> = [];
  const b = new CarrierBreaker(cfg, (to, from) => changes.push([from, to]));
  b.record(false, 0);
  b.record(false, 1);
  b.record(false, 2);
  assert.equal(b.state, 'closed', 'three submits: fewer than minSubmits');
  b.record(true, 3);
  assert.equal(b.state, 'open', '2 of 4 failed: errorShare reached');
  assert.deepEqual(changes, [['closed', 'open']]);
  assert.equal(b.allow(29_000), false, 'out of routing during the cool-down');
});

test('failures older than the window do not count', () => {
  const b = new CarrierBreaker(cfg);
  b.record(false, 0);
  b.record(false, 1_000);
  for (let t = 11_000; t < 11_004; t++) b.record(true, t);
  b.record(false, 11_010);
  assert.equal(b.state, 'closed', '1 of 5 in the window failed');
});

test('half open after the cool-down: one probe at a time, closed after `probes` accepted; a failed probe opens it again', () => {
  const b = new CarrierBreaker(cfg);
  for (let i = 0; i < 4; i++) b.record(false, i);
  assert.equal(b.state, 'open');
  assert.equal(b.allow(30_010), true, 'the first probe');
  assert.equal(b.state, 'half_open');
  assert.equal(b.allow(30_011), false, 'one probe at a time');
  b.record(true, 30_020);
  assert.equal(b.allow(30_021), true, 'the second probe');
  b.record(true, 30_030);
  assert.equal(b.state, 'closed');
  assert.equal(b.allow(30_031), true);

  for (let i = 0; i < 4; i++) b.record(false, 40_000 + i);
  assert.equal(b.state, 'open');
  assert.equal(b.allow(70_010), true);
  b.record(false, 70_020);
  assert.equal(b.state, 'open', 'a failed probe opens it again');
  assert.equal(b.allow(99_000), false, 'for another whole cool-down');
  assert.equal(b.allow(100_030), true);
});

test('an outcome that does not count gives a probe its slot back; a disabled breaker never opens', () => {
  const b = new CarrierBreaker(cfg);
  for (let i = 0; i < 4; i++) b.record(false, i);
  assert.equal(b.allow(31_000), true);
  b.release();
  assert.equal(b.allow(31_001), true, 'the slot came back');
  const off = new CarrierBreaker({ ...cfg, enabled: false });
  for (let i = 0; i < 100; i++) off.record(false, i);
  assert.equal(off.state, 'closed');
  assert.equal(off.allow(200), true);
});
