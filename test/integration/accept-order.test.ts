/**
 * The order of a message's steps when its receipt comes at once (the SMSC sends it in the
 * same flush as the submit_sm_resp): the record is accepted and watched before a receipt
 * can match, so every message's `accepted` event comes before its final one and nothing
 * is left on the watch set (a stale member would write a second final at its deadline).
 * And a message whose first part's receipt settles it before the last part is accepted
 * (receiptOnPart first) is not watched again and gets no `accepted` after its final.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QasidClient } from '../../src/client/index.js';
import { startSimulator } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents, untilFinals } from '../helpers/events.js';
import { startGateway, testConfig } from '../helpers/app.js';

const redis = redisForFile();
const cleanups = redis.cleanups;
const N = 1000;

test('with receipts sent at once, every accepted event comes before its final and the watch set ends empty', { timeout: 60_000 }, async () => {
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC', behaviour: { receipts: { delayMs: 0 } } });
  cleanups.push(() => sim.close());
  // Only the first part of a long message asks for a receipt: it can settle the message
  // before the last part is even sent.
  const config = testConfig(redis.url, [{ id: 'now', port: sim.port, receiptOnPart: 'first' }]);
  const { app, r } = await startGateway(redis.url, config, cleanups);
  const client = new QasidClient(r, { prefix: config.redis.prefix });
  const batch = [];
  for (let i = 0; i < N; i++) {
    batch.push({ id: `ord-${i}`, to: `+92300${String(2_000_000 + i).padStart(7, '0')}`, from: 'QASID', text: i % 4 === 0 ? 'Two parts, please. '.repeat(10) : `Hello ${i}` });
  }
  await client.sendMany(batch);
  await untilFinals(r, app.keys.events, N, 30_000, 'every message to end');
  // Whatever is still in flight settles (a stale watch member would stay).
  await new Promise((res) => setTimeout(res, 300));
  const events = await readEvents(r, app.keys.events);
  const finals = events.filter((e) => e.final);
  assert.equal(finals.length, N, 'one final each');
  assert.ok(finals.every((e) => e.status === 'delivered'));
  const seen = new Map<string, string[]>();
  for (const e of events) seen.set(e.clientId as string, [...(seen.get(e.clientId as string) ?? []), e.final ? 'final' : e.status]);
  const outOfOrder = [...seen].filter(([, s]) => s.join(',') !== 'accepted,final' && s.join(',') !== 'final');
  assert.deepEqual(outOfOrder.slice(0, 5), [], `${outOfOrder.length} messages whose events are not "accepted, final"`);
  assert.ok([...seen.values()].filter((s) => s.length === 2).length >= N * 0.7, 'accepted events were written');
  assert.equal(await r.zcard(app.keys.watch), 0, 'nothing left watched');
});
