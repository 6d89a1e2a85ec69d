/**
 * The message store's batch scripts on a real redis-server: many messages decided in one
 * call, each answered in its place, and an item Redis refuses (its key of the wrong type)
 * fails alone without cutting the batch off halfway — the items before it are done and
 * reported done, so their callers still write the events they owe.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageStore, type RecordFields } from '../../src/queue/store.js';
import { keysFor } from '../../src/queue/keys.js';
import { Vault } from '../../src/privacy/vault.js';
import { redisClientForFile } from '../helpers/redis.js';

const redis = redisClientForFile();

function fields(i: number): RecordFields {
  const now = Date.now();
  return { gw: `g${i}`, cid: `c${i}`, to: '+923001234567', from: 'QASID', txt: 'hi', cls: 'transactional', pri: '0', vu: String(now + 60_000), rc: '1', eid: `0-${i}`, st: 'queued', at: String(now) };
}

test('creates, finals and receipts of one turn go as one call each, and one refused item fails alone', async () => {
  const r = redis.client;
  const keys = keysFor(`sb${Date.now().toString(36)}`);
  const store = new MessageStore(r, keys, Vault.ephemeral());
  const created = await Promise.all([1, 2, 3].map((i) => store.create(`rec${i}`, fields(i), 60_000)));
  assert.deepEqual(created.map((c) => c.created), [true, true, true]);
  const again = await store.create('rec2', { ...fields(9), eid: '0-9' }, 60_000);
  assert.equal(again.created, false);
  assert.equal(!again.created && again.fields.eid, '0-2', 'the existing record is returned, opened');

  // The middle record is clobbered with a value of another type.
  await r.del(keys.record('rec2'));
  await r.set(keys.record('rec2'), 'not a hash');
  const finals = await Promise.allSettled([1, 2, 3].map((i) => store.finalise(`rec${i}`, 'failed', { err: 'x' })));
  assert.deepEqual(
    finals.map((f) => (f.status === 'fulfilled' ? f.value : (f.reason as Error).message.slice(0, 9))),
    [true, 'WRONGTYPE', true],
    'the records on either side are made terminal, and each caller learns it did it',
  );
  assert.equal(await r.hget(keys.record('rec3'), 'term'), 'failed');
  // A second finalise is not the first.
  assert.deepEqual(await Promise.all([1, 3].map((i) => store.finalise(`rec${i}`, 'failed'))), [false, false]);

  const rec4 = await store.create('rec4', { ...fields(4), rN: '1' }, 60_000);
  assert.equal(rec4.created, true);
  const receipts = await Promise.all(['rec1', 'rec4', 'gone'].map((id) => store.applyReceipt(id, 'delivered', true, Date.now(), undefined)));
  assert.deepEqual(receipts.map((x) => x.outcome), ['late', 'final', 'gone']);
});
