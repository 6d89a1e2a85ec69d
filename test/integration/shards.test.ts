/**
 * The intake in several shards (intake.shards): a writer (QasidClient) puts each message
 * on the shard of its client id, read from Redis; every instance reads every shard; each
 * message's record and schedules live in its shard's slot; idempotency holds across
 * shards; erasure finds a message in any shard; and a dataset keeps the shard count it
 * holds work under.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QasidClient } from '../../src/client/index.js';
import { App } from '../../src/app.js';
import { captureLogger } from '../../src/log/logger.js';
import { isQasidError } from '../../src/core/errors.js';
import { keysFor, recordId } from '../../src/queue/keys.js';
import { clusterSlot } from '../../src/queue/slot.js';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents, type StatusEvent } from '../helpers/events.js';
import { startGateway, testConfig } from '../helpers/app.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

async function sim(): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => s.close());
  return s;
}

const N = 300;

test('three shards: the client spreads messages by client id, the daemon reads every shard, records live in their shard; a duplicate on another shard is still a duplicate', async () => {
  const s = await sim();
  const { app, r } = await startGateway(redis.url, testConfig(redis.url, [{ id: 'jazz', port: s.port }], { intake: { blockMs: 100, shards: 3 } }), cleanups);
  const keys = app.keys;
  assert.deepEqual(new Set(keys.intakeStreams.map((k) => clusterSlot(k))).size, 3, 'three slots');
  // The client learns the count from Redis (written by the daemon at start).
  const client = new QasidClient(r, { prefix: app.config.redis.prefix });
  const ids = await client.sendMany(Array.from({ length: N }, (_, i) => ({ id: `sh-${i}`, to: '03001234567', from: 'QASID', text: `m ${i}` })));
  assert.equal(ids.length, N);
  let first: StatusEvent[] = [];
  await until(async () => (first = (await readEvents(r, keys.events)).filter((e) => e.final)).length >= N, 20_000, 'every message final');
  assert.equal(first.length, N, 'one final each');
  assert.ok(first.every((e) => e.status === 'delivered'), 'all delivered');
  assert.equal(s.stats.submits, N);
  // Each shard had its share, and each record sits in the shard its id hashes to.
  const per = [0, 0, 0];
  for (let i = 0; i < N; i++) {
    const shard = keys.shardOf(recordId(undefined, `sh-${i}`));
    per[shard] = (per[shard] ?? 0) + 1;
  }
  assert.ok(per.every((n) => n > N / 6), `spread over the shards: ${per.join(', ')}`);
  for (const i of [0, 1, 2, 3]) {
    const rec = recordId(undefined, `sh-${i}`);
    const key = keys.record(rec);
    assert.equal(clusterSlot(key), clusterSlot(keys.intakeStreams[keys.shardOf(rec)] as string), 'record in its shard stream\'s slot');
    assert.equal(await r.hget(key, 'term'), 'delivered');
  }
  // Handled entries are gone from every shard.
  await until(async () => (await Promise.all(keys.intakeStreams.map((k) => r.xlen(k)))).every((n) => n === 0), 5000, 'every shard emptied');
  // The same client id written raw to a shard it does not hash to: found as a duplicate all the same.
  const dupId = 'sh-0';
  const home = keys.shardOf(recordId(undefined, dupId));
  const other = keys.intakeStreams[(home + 1) % 3] as string;
  const entry = await r.xadd(other, '*', 'data', JSON.stringify({ v: 1, id: dupId, to: '03001234567', from: 'QASID', text: 'again' }));
  let dup: StatusEvent | undefined;
  await until(async () => (dup = (await readEvents(r, keys.events)).find((e) => e.entryId === entry)) !== undefined, 5000, 'the duplicate rejected');
  assert.equal(dup?.status, 'rejected');
  assert.equal(dup?.reason, 'duplicate');
  assert.equal(s.stats.submits, N, 'not sent again');
});

test('erasure finds a message in a shard other than 0: its record out of that shard\'s due set, its final event written', async () => {
  const s = await sim();
  const { app, r } = await startGateway(redis.url, testConfig(redis.url, [{ id: 'jazz', port: s.port }], { intake: { blockMs: 100, shards: 4 } }), cleanups);
  const keys = app.keys;
  const client = new QasidClient(r, { prefix: app.config.redis.prefix });
  // A message scheduled an hour ahead, on a shard other than 0: its record waits in that shard's due set.
  let id = 0;
  while (keys.shardOf(recordId(undefined, `later-${id}`)) === 0) id++;
  const later = `later-${id}`;
  const shard = keys.shardOf(recordId(undefined, later));
  await client.send({ id: later, to: '03007654321', from: 'QASID', text: 'later', sendAt: new Date(Date.now() + 3_600_000).toISOString() });
  const rec = recordId(undefined, later);
  await until(async () => (await r.zscore(keys.zset('due', shard), rec)) !== null, 5000, 'scheduled in its shard');
  const report = await app.subjects.erase('+923007654321');
  assert.equal(report.records, 1, 'its record erased');
  assert.equal(await r.exists(keys.record(rec)), 0);
  assert.equal(await r.zscore(keys.zset('due', shard), rec), null, 'out of its shard\'s due set');
  const evs = (await readEvents(r, keys.events)).filter((e) => e.clientId === later && e.final);
  assert.deepEqual(evs.map((e) => [e.status, e.reason]), [['failed', 'erased']]);
});

test('a dataset keeps its shard count while it holds work: another count is refused, naming the key; once drained it may change', async () => {
  const s = await sim();
  const prefix = `tsh${Date.now().toString(36)}`;
  const base = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { redis: { url: redis.url, prefix }, intake: { blockMs: 100, shards: 1 } });
  const { app, r } = await startGateway(redis.url, base, cleanups);
  const client = new QasidClient(r, { prefix });
  await client.send({ id: 'waiting', to: '03001234567', from: 'QASID', text: 'later', sendAt: new Date(Date.now() + 3_600_000).toISOString() });
  await until(async () => (await r.zcard(app.keys.due)) === 1, 5000, 'scheduled');
  await app.stop();
  const two = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { redis: { url: redis.url, prefix }, intake: { blockMs: 100, shards: 2 } });
  const refused = new App({ config: two, logger: captureLogger('error').logger });
  cleanups.push(() => refused.stop());
  await assert.rejects(refused.start(), (e: unknown) => isQasidError(e) && e.code === 'CONFIG_INVALID' && /intake\.shards is 2.*written with 1.*1 due/.test(e.message));
  await refused.stop();
  // Drained (here: the scheduled one removed), the count may change; the client follows it.
  await r.del(app.keys.due);
  await r.del(keysFor(prefix).record(recordId(undefined, 'waiting')));
  const { app: again, lines } = await startGateway(redis.url, two, cleanups);
  assert.ok(lines.some((l) => l.event === 'intake.shards_changed' && l.from === 1 && l.to === 2));
  assert.equal(await r.get(again.keys.shardCount), '2');
  const follower = new QasidClient(r, { prefix });
  assert.ok((await follower.streamFor({ id: 'x' })).startsWith(`${prefix}:mt:{`), 'a new client writes to the shards');
});
