/**
 * One slow carrier must not slow down another: messages waiting for a carrier's tokens
 * or window are bounded per carrier (dispatch.carrierWaitMs of its rate); beyond that they
 * wait in the due set, so the shared in-flight pool stays open to the other carriers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../../src/sim/index.js';
import { readEvents } from '../helpers/events.js';
import { startGateway, testConfig } from '../helpers/app.js';
import { redisForFile } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const ROUTES = fileURLToPath(new URL('../../config/routes.example.json', import.meta.url));

test('a 25-tps carrier and a fast one in one daemon: the fast one is not held up by the slow one\'s backlog', async () => {
  const slowSim = await startSimulator({ port: 0 });
  const fastSim = await startSimulator({ port: 0 });
  redis.cleanups.push(() => slowSim.close(), () => fastSim.close());
  const config = testConfig(
    redis.url,
    [
      { id: 'jazz', port: slowSim.port, tps: 25, window: 10 },
      { id: 'zong', port: fastSim.port, window: 50 },
    ],
    { routes: { file: ROUTES }, dispatch: { pollMs: 50, maxInFlight: 150, carrierWaitMs: 1000 } },
  );
  const { app, r } = await startGateway(redis.url, config, redis.cleanups);
  // 200 for the slow carrier first (8 s of its rate, more than the whole pool), then 1,500 for the fast one.
  const pipe = r.pipeline();
  for (let i = 0; i < 200; i++) pipe.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `slow-${i}`, to: `0300${String(1_000_000 + i).slice(-7)}`, from: 'QASID', text: `s${i}` }));
  for (let i = 0; i < 1500; i++) pipe.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `fast-${i}`, to: `0310${String(1_000_000 + i).slice(-7)}`, from: 'QASID', text: `f${i}` }));
  await pipe.exec();
  const t0 = Date.now();
  // Held up, the fast carrier would wait for the slow one: the pool of 150 full of messages
  // waiting for jazz's tokens. Not held up, it is done long before jazz has sent 4 s worth (measured: 35 vs 136 held up).
  const finals = async (prefix: string): Promise<number> => (await readEvents(r, app.keys.events)).filter((e) => e.final && e.clientId?.startsWith(prefix)).length;
  await until(async () => (await finals('fast-')) === 1500, 10_000, 'the fast carrier\'s 1,500 finals');
  const fastDone = Date.now() - t0;
  assert.ok(slowSim.stats.submits < 100, `fast carrier done in ${fastDone} ms, while the slow one sent ${slowSim.stats.submits} of 200`);
  // The slow carrier's messages were parked in Redis, not lost: every one ends delivered.
  await until(async () => (await readEvents(r, app.keys.events)).filter((e) => e.final && e.clientId?.startsWith('slow-')).length === 200, 20_000, 'the slow carrier\'s finals');
  const evs = (await readEvents(r, app.keys.events)).filter((e) => e.final);
  assert.equal(evs.filter((e) => e.status === 'delivered').length, 1700);
  assert.equal(new Set(evs.map((e) => e.clientId)).size, 1700, 'one final each');
  assert.equal(slowSim.stats.submits, 200, 'each sent once, on its own carrier');
  assert.equal(fastSim.stats.submits, 1500);
  assert.equal(evs.filter((e) => e.status === 'deferred').length, 0, 'waiting for a busy carrier writes no event');
});

test('a carrier alone keeps its backlog in memory: with no other carrier to make room for, nothing goes round the due set', async () => {
  const s = await startSimulator({ port: 0 });
  redis.cleanups.push(() => s.close());
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port, tps: 200, window: 10 }], { dispatch: { pollMs: 50, maxInFlight: 300, carrierWaitMs: 100 } });
  const { app, r } = await startGateway(redis.url, config, redis.cleanups);
  const pipe = r.pipeline();
  for (let i = 0; i < 300; i++) pipe.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `solo-${i}`, to: `0300${String(1_000_000 + i).slice(-7)}`, from: 'QASID', text: `x${i}` }));
  await pipe.exec();
  let dueSeen = 0;
  await until(async () => {
    dueSeen = Math.max(dueSeen, await r.zcard(app.keys.due));
    return (await readEvents(r, app.keys.events)).filter((e) => e.final).length === 300;
  }, 15_000, 'every final');
  assert.equal(dueSeen, 0, 'the budget (20 here) never sent a message to the due set');
  assert.equal(s.stats.submits, 300);
});
