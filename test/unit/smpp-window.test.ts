import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendWindow, type InFlight } from '../../src/smpp/window.js';
import { QasidError, isQasidError } from '../../src/core/errors.js';

function entry(seq: number, deadline: number, counted = true): InFlight<string> & { result?: string } {
  const e: InFlight<string> & { result?: string } = { seq, command: 'submit_sm', sentAt: 0, deadline, counted, written: true, settle: (r) => (e.result = r) };
  return e;
}

test('a full window makes the next caller wait until a slot frees, FIFO', async () => {
  const w = new SendWindow<string>(2);
  await w.reserve();
  await w.reserve();
  assert.equal(w.free, 0);
  const order: number[] = [];
  const p1 = w.reserve().then(() => order.push(1));
  const p2 = w.reserve().then(() => order.push(2));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, [], 'nobody gets a slot while the window is full');
  assert.equal(w.waiting, 2);
  w.add(entry(1, 100));
  w.complete(1);
  await p1;
  assert.deepEqual(order, [1]);
  w.release();
  await p2;
  assert.deepEqual(order, [1, 2]);
  assert.equal(w.used, 2);
});

test('control entries take no slot', () => {
  const w = new SendWindow<string>(1);
  assert.ok(w.tryReserve());
  w.add(entry(1, 100));
  w.add(entry(2, 100, false));
  assert.equal(w.inflightCount, 2);
  w.complete(2);
  assert.equal(w.used, 1);
});

test('expire returns only entries past their deadline and frees their slots', () => {
  const w = new SendWindow<string>(3);
  for (const [seq, deadline] of [[1, 50], [2, 150], [3, 100]] as const) {
    assert.ok(w.tryReserve());
    w.add(entry(seq, deadline));
  }
  const gone = w.expire(100).map((e) => e.seq).sort();
  assert.deepEqual(gone, [1, 3]);
  assert.equal(w.used, 1);
  assert.equal(w.inflightCount, 1);
});

test('drain hands back every in-flight entry and rejects waiters (no slot leaks to them)', async () => {
  const w = new SendWindow<string>(1);
  assert.ok(w.tryReserve());
  w.add(entry(9, 100));
  const waiting = w.reserve();
  const back = w.drain(new QasidError('SMPP_CONNECTION_CLOSED'));
  assert.deepEqual(back.map((e) => e.seq), [9]);
  await assert.rejects(waiting, (e: unknown) => isQasidError(e, 'SMPP_CONNECTION_CLOSED'));
  assert.equal(w.used, 0);
});

test('an aborted wait leaves the queue', async () => {
  const w = new SendWindow<string>(1);
  assert.ok(w.tryReserve());
  const ac = new AbortController();
  const p = w.reserve(ac.signal);
  ac.abort();
  await assert.rejects(p, (e: unknown) => isQasidError(e, 'SMPP_WINDOW_WAIT_ABORTED'));
  assert.equal(w.waiting, 0);
  w.release();
  assert.equal(w.used, 0);
});
