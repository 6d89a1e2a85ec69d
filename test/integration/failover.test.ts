/**
 * Temporary submit errors fail over to the route's next carrier; the per-carrier
 * failoverAfter, retryScheduleMs and submitErrors settings; through the whole daemon,
 * simulators over TCP (a carrier answering every submit with an error, and a happy one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents, untilFinals, type StatusEvent } from '../helpers/events.js';
import { startGateway, testConfig, type RawCarrier } from '../helpers/app.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

async function sim(behaviour: Parameters<typeof startSimulator>[0]['behaviour'] = {}): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC', behaviour });
  cleanups.push(() => s.close());
  return s;
}

/** Send `ids` through a daemon over `carriers` (the default route: in this order) and return every event once all have a final. */
async function run(carriers: RawCarrier[], ids: string[]): Promise<StatusEvent[]> {
  const config = testConfig(redis.url, carriers);
  const { app, r } = await startGateway(redis.url, config, cleanups);
  for (const id of ids) await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `hello ${id}` }));
  const events = await untilFinals(r, app.keys.events, ids.length, 15_000, 'every message to end');
  await app.stop();
  return events;
}

const SYSERR = { status: 0x08 };

test('a temporary error fails over to the route\'s next carrier at once (failoverAfter 1, the default): delivered there, no deferral', async () => {
  const err = await sim({ submitError: SYSERR });
  const happy = await sim();
  const events = await run([{ id: 'err', port: err.port }, { id: 'happy', port: happy.port }], ['f1', 'f2']);
  const finals = events.filter((e) => e.final);
  assert.deepEqual(finals.map((e) => [e.clientId, e.status, e.carrier]).sort(), [['f1', 'delivered', 'happy'], ['f2', 'delivered', 'happy']]);
  assert.equal(events.filter((e) => e.status === 'deferred').length, 0, 'moved on without waiting');
  assert.equal(err.stats.submits, 2, 'one try each on the erring carrier');
  assert.equal(happy.stats.submits, 2);
});

test('failoverAfter 2 with a short retryScheduleMs: two tries on the erring carrier (one deferral between), then the next carrier', async () => {
  const err = await sim({ submitError: SYSERR });
  const happy = await sim();
  const events = await run([{ id: 'err', port: err.port, failoverAfter: 2, retryScheduleMs: [100] }, { id: 'happy', port: happy.port }], ['g1']);
  assert.deepEqual(
    events.map((e) => [e.status, e.carrier, e.reason ?? null]),
    [
      ['deferred', 'err', 'carrier_error'],
      ['accepted', 'happy', null],
      ['delivered', 'happy', null],
    ],
  );
  assert.equal(err.stats.submits, 2);
});

test('submitErrors: a status made permanent ends rejected without failing over; one made failover moves on at once whatever failoverAfter says', async () => {
  const permanent = await sim({ submitError: SYSERR });
  const happy = await sim();
  const rejected = await run([{ id: 'err', port: permanent.port, submitErrors: { ESME_RSYSERR: 'fail' } }, { id: 'happy', port: happy.port }], ['p1']);
  assert.deepEqual(
    rejected.filter((e) => e.final).map((e) => [e.status, e.reason, e.error, e.carrier]),
    [['rejected', 'carrier_rejected', 'ESME_RSYSERR', 'err']],
  );
  assert.equal(happy.stats.submits, 0, 'never tried elsewhere');

  const vendor = await sim({ submitError: { status: 0x401 } });
  const other = await sim();
  // 0x401 is vendor-specific: permanent by default; this carrier says it means "try elsewhere".
  const moved = await run([{ id: 'vendor', port: vendor.port, failoverAfter: 5, submitErrors: { '0x401': 'failover' } }, { id: 'other', port: other.port }], ['p2']);
  assert.deepEqual(
    moved.filter((e) => e.final).map((e) => [e.status, e.carrier]),
    [['delivered', 'other']],
  );
  assert.equal(vendor.stats.submits, 1);
});

test('every carrier of the route erring: each is tried once per pass, the pass repeats on the schedule, then failed retries_exhausted', async () => {
  const a = await sim({ submitError: SYSERR });
  const b = await sim({ submitError: SYSERR });
  const events = await run([{ id: 'a', port: a.port, retryScheduleMs: [50] }, { id: 'b', port: b.port, retryScheduleMs: [50] }], ['x1']);
  const final = events.find((e) => e.final);
  assert.deepEqual([final?.status, final?.reason, final?.error], ['failed', 'retries_exhausted', 'ESME_RSYSERR']);
  assert.equal(events.filter((e) => e.status === 'deferred').length, 1, 'one wait between the two passes');
  assert.deepEqual([a.stats.submits, b.stats.submits], [2, 2]);
});

test('circuit breaker: an erring carrier is taken out of routing after a burst (its messages go straight to the next carrier), then probed and put back once it recovers', async () => {
  const flaky = await sim({ submitError: SYSERR });
  const happy = await sim();
  const config = testConfig(redis.url, [
    { id: 'flaky', port: flaky.port, breaker: { minSubmits: 5, errorShare: 0.5, windowSec: 10, coolDownSec: 1, probes: 2 } },
    { id: 'happy', port: happy.port },
  ]);
  const { app, r, lines } = await startGateway(redis.url, config, cleanups, { level: 'info' });
  const send = async (prefix: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `${prefix}${i}`, to: '03001234567', from: 'QASID', text: `hello ${prefix}${i}` }));
  };
  const finals = async (): Promise<StatusEvent[]> => (await readEvents(r, app.keys.events)).filter((e) => e.final);
  // A burst: those on their way before the fifth error came back are tried on the erring
  // carrier first and fail over; then the breaker opens.
  await send('a', 10);
  await until(async () => (await finals()).length >= 10, 15_000, 'the first 10 to end');
  const burst = flaky.stats.submits;
  assert.ok(burst >= 5 && burst <= 10, `${burst} tries on the erring carrier`);
  assert.equal(app.dispatcher.breakerStates().flaky, 'open');
  // While it is open, messages go straight to the next carrier.
  await send('b', 30);
  await until(async () => (await finals()).length >= 40, 15_000, 'the next 30 to end');
  assert.ok((await finals()).every((e) => e.status === 'delivered' && e.carrier === 'happy'));
  assert.equal(flaky.stats.submits, burst, 'the open carrier saw none of the next 30');
  assert.ok(lines.some((l) => l.event === 'carrier.breaker' && l.to === 'open' && l.carrier === 'flaky'));

  // It recovers; after the cool-down, probes go to it one at a time and it is back.
  flaky.setBehaviour({ submitError: null });
  await new Promise((res) => setTimeout(res, 1_200));
  const before = flaky.stats.submits;
  await send('c', 40);
  await until(async () => (await finals()).length >= 80, 15_000, 'the next 40 to end');
  assert.equal(app.dispatcher.breakerStates().flaky, 'closed');
  assert.ok(flaky.stats.submits - before >= 2, 'probes and then traffic reached it again');
  assert.ok(lines.some((l) => l.event === 'carrier.breaker' && l.to === 'half_open'));
  assert.ok(lines.some((l) => l.event === 'carrier.breaker' && l.to === 'closed'));
  const text = await app.metrics.render();
  assert.match(text, /qasid_carrier_breaker_state\{carrier="flaky"\} 0/);
});
