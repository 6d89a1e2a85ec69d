/**
 * The final event of a long message carries each receipt-bearing part's receipt
 * (partStatus), so a consumer sees which part failed; a one-part message has none. Real
 * Redis, the simulator over TCP; the record keeps them, so an event rebuilt after a crash
 * says the same (queue/final-event.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator } from '../../src/sim/index.js';
import { owedEvent } from '../../src/queue/final-event.js';
import { redisForFile } from '../helpers/redis.js';
import { untilFinals, type StatusEvent } from '../helpers/events.js';
import { startGateway, testConfig } from '../helpers/app.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

test('a three-part message whose third receipt says UNDELIV ends undeliverable, naming each part; a one-part message names none', async () => {
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC', behaviour: { receipts: { undeliverableEvery: 3 } } });
  cleanups.push(() => sim.close());
  const config = testConfig(redis.url, [{ id: 'jazz', port: sim.port, receiptOnPart: 'all' }]);
  const { app, r } = await startGateway(redis.url, config, cleanups);
  await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: 'long', to: '03001234567', from: 'QASID', text: 'Three parts of text, each of them long enough. '.repeat(8) }));
  const events = await untilFinals(r, app.keys.events, 1, 10_000, 'the long message to end');
  const final = events.find((e) => e.final) as StatusEvent;
  assert.equal(final.parts, 3);
  assert.equal(final.status, 'undeliverable');
  assert.deepEqual(Object.keys(final.partStatus ?? {}).sort(), ['1', '2', '3']);
  assert.deepEqual(Object.values(final.partStatus ?? {}).sort(), ['delivered', 'delivered', 'undeliverable']);
  // The record keeps them: the event a crash recovery would write says the same.
  const { recordId } = await import('../../src/queue/keys.js');
  const rec = await r.hgetall(app.keys.record(recordId(undefined, 'long')));
  const rebuilt = owedEvent({ ...rec, ...(JSON.parse(rec.i ?? '{}') as Record<string, string>) }, Date.now());
  assert.deepEqual(rebuilt?.partStatus, final.partStatus);

  await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: 'short', to: '03001234567', from: 'QASID', text: 'One part' }));
  const short = (await untilFinals(r, app.keys.events, 2, 10_000, 'the short one to end')).find((e) => e.final && e.clientId === 'short');
  assert.equal(short?.status, 'delivered');
  assert.equal(short?.partStatus, undefined);
});
