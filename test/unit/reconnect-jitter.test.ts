/**
 * The reconnect delay (src/core/backoff.ts reconnectDelay): full jitter from the very
 * first reconnect, so sessions dropped together never come back together.
 * test/integration/link.test.ts measures the same spread over 32 live sessions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, reconnectDelay } from '../../src/core/backoff.js';

const p = { minMs: 1000, maxMs: 60_000 };

test('the first reconnect is spread over [min, 2 min]; the random source decides where', () => {
  assert.equal(reconnectDelay(p, 0, () => 0), 1000);
  assert.equal(reconnectDelay(p, 0, () => 0.5), 1500);
  assert.equal(reconnectDelay(p, 0, () => 0.999999), 2000);
  // Not what backoffDelay's first step does: that one has no span at all.
  assert.equal(backoffDelay(p, 0, () => 0), backoffDelay(p, 0, () => 0.999999));
});

test('many sessions\' first reconnects are spread, all within [min, max]', () => {
  const delays = Array.from({ length: 1000 }, () => reconnectDelay(p, 0));
  for (const d of delays) assert.ok(d >= p.minMs && d <= 2 * p.minMs && d <= p.maxMs, `delay ${d}`);
  assert.ok(new Set(delays).size > 500, `${new Set(delays).size} distinct first delays of 1000`);
  const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
  assert.ok(mean > 1400 && mean < 1600, `mean ${mean} ms, expected about 1500`);
});

test('later reconnects double their span and stop at max; an attempt past any limit stays bounded', () => {
  assert.equal(reconnectDelay(p, 1, () => 0.999999), 4000);
  assert.equal(reconnectDelay(p, 4, () => 0.999999), 32_000);
  assert.equal(reconnectDelay(p, 5, () => 0.999999), 60_000);
  assert.equal(reconnectDelay(p, 5, () => 0), 1000, 'full jitter: every span starts at min');
  assert.equal(reconnectDelay(p, 1e9, () => 0.999999), 60_000);
  for (let attempt = 0; attempt < 40; attempt++) {
    const d = reconnectDelay(p, attempt);
    assert.ok(d >= p.minMs && d <= p.maxMs, `attempt ${attempt}: ${d}`);
  }
});

test('min = max leaves nothing to spread: the delay is that value', () => {
  assert.equal(reconnectDelay({ minMs: 5000, maxMs: 5000 }, 0, () => 0.7), 5000);
});
