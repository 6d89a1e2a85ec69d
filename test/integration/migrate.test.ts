/**
 * Key layout 1 → 2 (queue/migrate.ts) on a real redis-server: records, mappings, parked
 * receipts and both schedules move with their TTLs and scores, a receipt for a message
 * accepted before the upgrade still settles it, and a second start does nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { ReceiptHandler } from '../../src/dlr/reconciler.js';
import { MappingStore } from '../../src/dlr/mappings.js';
import { captureLogger } from '../../src/log/logger.js';
import { keysFor } from '../../src/queue/keys.js';
import { migrateKeys } from '../../src/queue/migrate.js';
import { Outputs } from '../../src/queue/outputs.js';
import { MessageStore } from '../../src/queue/store.js';
import { Vault } from '../../src/privacy/vault.js';
import { decodePdu, encodePdu } from '../../src/smpp/codec.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents } from '../helpers/events.js';
import { testConfig } from '../helpers/app.js';
import { testCarrier } from '../helpers/carrier.js';

const redis = redisForFile();

test('layout-1 keys move to layout 2 with their TTLs and scores; a receipt for a message accepted before the upgrade still settles it; a second start does nothing', async () => {
  const r = new Redis(redis.url);
  redis.cleanups.push(async () => void r.disconnect());
  const config = testConfig(redis.url, []);
  const prefix = config.redis.prefix;
  const keys = keysFor(prefix);
  const vault = Vault.ephemeral();
  const now = Date.now();

  // What a layout-1 daemon left: an accepted message waiting for its receipt, one waiting
  // for a retry, their schedules, a mapping and a parked receipt; and another prefix's keys.
  await r.hset(`${prefix}:msg:{rec1}`, 'i', JSON.stringify({ cid: 'c1', gw: 'g1' }), 'st', 'accepted', 'car', 'c', 'rN', '1', 'eid', `${now}-0`);
  await r.pexpire(`${prefix}:msg:{rec1}`, 600_000);
  await r.hset(`${prefix}:msg:{rec2}`, 'i', JSON.stringify({ cid: 'c2', gw: 'g2' }), 'st', 'retry');
  await r.pexpire(`${prefix}:msg:{rec2}`, 600_000);
  await r.set(`${prefix}:cid:{c:ab12}`, 'rec1:0:1', 'PX', 300_000);
  await r.set(`${prefix}:park:{c:zz9}`, JSON.stringify({ state: 'delivered', final: true }), 'PX', 300_000);
  await r.zadd(`${prefix}:watch`, now + 120_000, 'rec1');
  await r.zadd(`${prefix}:due`, now + 5_000, 'rec2');
  // Already in the new due set with a later time: the earlier one wins.
  await r.zadd(keys.due, now + 50_000, 'rec2');
  await r.hset('other:msg:{rec9}', 'st', 'accepted');

  const report = await migrateKeys(r, prefix, keys);
  assert.deepEqual(report, { records: 2, mappings: 1, parked: 1, due: 1, watch: 1 });
  for (const old of [`${prefix}:msg:{rec1}`, `${prefix}:msg:{rec2}`, `${prefix}:cid:{c:ab12}`, `${prefix}:park:{c:zz9}`, `${prefix}:watch`, `${prefix}:due`]) {
    assert.equal(await r.exists(old), 0, `${old} is gone`);
  }
  assert.equal(await r.hget(keys.record('rec1'), 'st'), 'accepted');
  const ttl = await r.pttl(keys.record('rec1'));
  assert.ok(ttl > 590_000 && ttl <= 600_000, `the record keeps its TTL (${ttl})`);
  assert.ok((await r.pttl(keys.carrierId('c', 'ab12'))) > 290_000, 'the mapping keeps its TTL');
  assert.notEqual(await r.get(keys.parked('c', 'zz9')), null);
  assert.equal(Number(await r.zscore(keys.watch, 'rec1')), now + 120_000);
  assert.equal(Number(await r.zscore(keys.due, 'rec2')), now + 5_000);
  assert.equal(await r.hget('other:msg:{rec9}', 'st'), 'accepted', "another prefix's keys are not touched");
  assert.equal(await r.get(keys.layout), '2');
  assert.equal(await migrateKeys(r, prefix, keys), undefined, 'a second start skips the scan');

  // The receipt for the message accepted before the upgrade settles it.
  const store = new MessageStore(r, keys, vault);
  const mappings = new MappingStore(r, keys);
  const h = new ReceiptHandler({
    store,
    mappings,
    outputs: new Outputs(r, keys, 10_000, vault),
    carriers: new Map([['c', testCarrier(1, { id: 'c' })]]),
    logger: captureLogger('warn').logger,
    parkTtlMs: 60_000,
    lateMappingTtlMs: 60_000,
    // No MO is delivered here.
    mo: { onMo: async () => undefined },
  });
  redis.cleanups.push(async () => h.stop());
  const pdu = decodePdu(encodePdu('deliver_sm', 1, { esm_class: 4, short_message: Buffer.from('id:ab12 stat:DELIVRD err:000'), receipted_message_id: 'ab12', message_state: 2 }));
  assert.equal(await h.onDeliver(pdu, { id: 'c/trx0', carrier: 'c', bindType: 'transceiver' }), 0);
  const events = await readEvents(r, keys.events);
  assert.deepEqual(
    events.map((e) => [e.status, e.clientId, e.final]),
    [['delivered', 'c1', true]],
  );
  assert.equal(await r.zscore(keys.watch, 'rec1'), null, 'off the watch set');
});
