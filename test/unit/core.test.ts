import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { backoffDelay } from '../../src/core/backoff.js';
import { Secret } from '../../src/core/secret.js';
import { once, runAll } from '../../src/core/lifecycle.js';
import { classifyStatus } from '../../src/smpp/status.js';

test('backoff grows exponentially, is capped, and jitters within [min, cap]', () => {
  const p = { minMs: 100, maxMs: 5000 };
  assert.equal(backoffDelay(p, 0, () => 1), 100);
  assert.equal(backoffDelay(p, 3, () => 1), 800);
  assert.equal(backoffDelay(p, 3, () => 0), 100);
  assert.equal(backoffDelay(p, 20, () => 1), 5000);
  assert.equal(backoffDelay(p, 1000, () => 1), 5000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(p, 4);
    assert.ok(d >= 100 && d <= 1600, `delay ${d}`);
  }
});

test('a Secret never prints', () => {
  const s = new Secret('hunter2');
  assert.equal(s.reveal(), 'hunter2');
  assert.ok(!JSON.stringify({ s }).includes('hunter2'));
  assert.ok(!`${s}`.includes('hunter2'));
  assert.ok(!inspect({ nested: { s } }).includes('hunter2'));
});

test('once memoises; runAll runs every step even when one fails', async () => {
  let n = 0;
  const f = once(async () => ++n);
  assert.equal(await f(), 1);
  assert.equal(await f(), 1);
  const ran: string[] = [];
  const failures = await runAll([
    ['a', async () => void ran.push('a')],
    ['b', async () => { throw new Error('boom'); }],
    ['c', async () => void ran.push('c')],
  ]);
  assert.deepEqual(ran, ['a', 'c']);
  assert.deepEqual(failures.map((f) => f.step), ['b']);
});

test('command_status classification', () => {
  assert.equal(classifyStatus(0), 'ok');
  assert.equal(classifyStatus(0x58), 'slowdown');
  assert.equal(classifyStatus(0x14), 'slowdown');
  assert.equal(classifyStatus(0x08), 'retry');
  assert.equal(classifyStatus(0x0b), 'fail');
  assert.equal(classifyStatus(0x0400), 'fail');
});
