/**
 * The per-tick batcher (queue/batch.ts): what is asked in one turn goes as one call per
 * group, a full batch goes at once, and a refused batch is split so one poison item fails
 * alone while a lost connection fails the batch as it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TickBatcher, TickScheduler } from '../../src/queue/batch.js';

function replyError(message: string): Error {
  const e = new Error(message);
  e.name = 'ReplyError';
  return e;
}

test('items asked for in one turn go as one call per group, results back in order', async () => {
  const runs: Array<[string, number[]]> = [];
  const b = new TickBatcher(async (group, items: number[]) => {
    runs.push([group, [...items]]);
    return items.map((n) => n * 10);
  });
  const out = await Promise.all([b.add('a', 1), b.add('b', 2), b.add('a', 3)]);
  assert.deepEqual(out, [10, 20, 30]);
  assert.deepEqual(runs, [
    ['a', [1, 3]],
    ['b', [2]],
  ]);
  // The next turn is a new batch.
  assert.equal(await b.add('a', 4), 40);
  assert.equal(runs.length, 3);
});

test('a full batch goes at once, without waiting for the turn to end', async () => {
  const sizes: number[] = [];
  const b = new TickBatcher(
    async (_g, items: number[]) => {
      sizes.push(items.length);
      return items;
    },
    { maxItems: 3 },
  );
  const all = [1, 2, 3, 4, 5].map((n) => b.add('g', n));
  assert.deepEqual(sizes, [3], 'the first three were sent when the third came');
  assert.deepEqual(await Promise.all(all), [1, 2, 3, 4, 5]);
  assert.deepEqual(sizes, [3, 2]);
});

test('a batch Redis refuses is split: the poison item fails alone, its neighbours succeed', async () => {
  let calls = 0;
  const b = new TickBatcher(async (_g, items: string[]) => {
    calls++;
    if (items.includes('poison')) throw replyError('ERR Error running script');
    return items.map((s) => s.toUpperCase());
  });
  const results = await Promise.allSettled(['a', 'poison', 'b'].map((s) => b.add('g', s)));
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    ['A', 'ERR Error running script', 'B'],
  );
  assert.equal(calls, 4, 'one batch, then each item alone');
});

test('a lost connection fails the whole batch as it is (each caller retries), and a short answer fails every item', async () => {
  let calls = 0;
  const lost = new TickBatcher(async () => {
    calls++;
    throw new Error('Connection is closed.');
  });
  const results = await Promise.allSettled([lost.add('g', 1), lost.add('g', 2)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
  assert.equal(calls, 1, 'not split');
  const short = new TickBatcher(async () => [1]);
  const r2 = await Promise.allSettled([short.add('g', 1), short.add('g', 2)]);
  assert.ok(r2.every((r) => r.status === 'rejected' && /1 results for 2 items/.test((r.reason as Error).message)));
});

test('batchers of one scheduler flush in their order, each issuing its call at once: what a lower order asked is sent first', async () => {
  const scheduler = new TickScheduler();
  const sent: string[] = [];
  const make = (name: string, order: number): TickBatcher<string, string> =>
    new TickBatcher(
      async (_g, items: string[]) => {
        sent.push(`${name}:${items.join('+')}`);
        return items;
      },
      { order, scheduler, maxItems: 3 },
    );
  const maps = make('map', 3);
  const accepts = make('accept', 1);
  const events = make('event', 2);
  // Asked in the "wrong" order within one turn: sent in the batchers' order.
  await Promise.all([maps.add('g', 'm1'), events.add('g', 'e1'), accepts.add('g', 'a1')]);
  assert.deepEqual(sent, ['accept:a1', 'event:e1', 'map:m1']);
  // A full batch flushes every batcher at once, still in order.
  sent.length = 0;
  const p = [accepts.add('g', 'a2'), maps.add('g', 'm2'), maps.add('g', 'm3'), maps.add('g', 'm4')];
  assert.deepEqual(sent, ['accept:a2', 'map:m2+m3+m4'], 'sent when the map batch filled, the accept first');
  await Promise.all(p);
});

test('an error in an item\'s place fails that item alone (a script that answers each item, the refused one with an error)', async () => {
  const b = new TickBatcher(async (_g, items: number[]) => items.map((n) => (n === 2 ? replyError('WRONGTYPE Operation against a key holding the wrong kind of value') : n)));
  const results = await Promise.allSettled([1, 2, 3].map((n) => b.add('g', n)));
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message.slice(0, 9))),
    [1, 'WRONGTYPE', 3],
  );
});
