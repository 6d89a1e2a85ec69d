/**
 * Temporary submit errors fail over to the route's next carrier; the per-carrier
 * failoverAfter, retryScheduleMs and submitErrors settings; through the whole daemon,
 * simulators over TCP (a carrier answering every submit with an error, and a happy one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents, type StatusEvent } from '../helpers/events.js';
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
  let events: StatusEvent[] = [];
  await until(
    async () => {
      events = await readEvents(r, app.keys.events);
      return events.filter((e) => e.final).length >= ids.length;
    },
    15_000,
    'every message to end',
  );
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
