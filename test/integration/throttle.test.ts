/**
 * Throttle adaptation end to end: a gateway configured above what the carrier takes
 * must settle near the carrier's real rate, not collapse far below it. Real redis-server,
 * the simulator over loopback TCP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { startGateway, testConfig } from '../helpers/app.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

const CARRIER_TPS = 400;
const CARRIER_BURST = 40;
const CONFIGURED_TPS = 1000;
/** Seconds left out at the start: the process warming up, the first overload and the cuts that answer it. */
const WARM_UP_S = 5;
/** Seconds over which the steady rate is measured. */
const MEASURE_S = 12;

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

test(`a gateway configured at ${CONFIGURED_TPS} tps settles within 10 % of a carrier that takes ${CARRIER_TPS}/s (burst ${CARRIER_BURST})`, { timeout: 45_000 }, async (t) => {
  const s = await startSimulator({ port: 0, preset: 'ThrottledSMSC', behaviour: { tps: CARRIER_TPS, tpsBurst: CARRIER_BURST, receipts: { enabled: false } } });
  cleanups.push(() => s.close());
  const { app, r } = await startGateway(redis.url, testConfig(redis.url, [{ id: 'jazz', port: s.port, tps: CONFIGURED_TPS }]), cleanups, { level: 'warn' });

  // A backlog that outlasts the measurement: there is always more to send than the carrier takes.
  const total = Math.ceil(CARRIER_TPS * (WARM_UP_S + MEASURE_S) * 1.3);
  for (let i = 0; i < total; i += 500) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(total, i + 500); j++) {
      p.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `th${j}`, to: '03001234567', from: 'QASID', text: `hello ${j}`, receipt: false }));
    }
    await p.exec();
  }

  // Per-second accepted (and offered) counts, from the simulator's own counters.
  const perSecond: number[] = [];
  const offered: number[] = [];
  let last = { ok: s.stats.submitOk, all: s.stats.submits };
  let steadyFrom = { at: 0, ok: 0 };
  const t0 = performance.now();
  for (let k = 1; k <= WARM_UP_S + MEASURE_S; k++) {
    await sleep(Math.max(0, t0 + k * 1000 - performance.now()));
    perSecond.push(s.stats.submitOk - last.ok);
    offered.push(s.stats.submits - last.all);
    last = { ok: s.stats.submitOk, all: s.stats.submits };
    if (k === WARM_UP_S) steadyFrom = { at: performance.now(), ok: s.stats.submitOk };
  }
  // Over the time that actually passed (a timer may fire late on a busy machine).
  const rate = ((s.stats.submitOk - steadyFrom.ok) * 1000) / (performance.now() - steadyFrom.at);
  const detail = `accepted per second ${JSON.stringify(perSecond)}; submit_sm per second ${JSON.stringify(offered)}; throttled ${s.stats.throttled}`;
  t.diagnostic(`steady ${rate.toFixed(1)}/s; ${detail}`);
  assert.ok(s.stats.submitOk < total, `the backlog must outlast the measurement (${detail})`);
  assert.ok(s.stats.throttled > 0, `the carrier did throttle (${detail})`);
  assert.ok(Math.abs(rate - CARRIER_TPS) <= CARRIER_TPS * 0.1, `steady accepted rate ${rate.toFixed(1)}/s, want ${CARRIER_TPS} ± 10 % (${detail})`);
});
