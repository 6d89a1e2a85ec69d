/**
 * Frequency caps over several sliding windows (policy.caps.<class>), a tenant's own
 * windows on top of them (policy.tenants[].caps), and the classes the do-not-contact list
 * holds back (policy.dnc.classes). The whole daemon on a moved clock, real Redis,
 * simulator over TCP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents, type StatusEvent } from '../helpers/events.js';
import { until } from '../helpers/until.js';
import { startGateway, testConfig, type Gateway } from '../helpers/app.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

const NO_QUIET = { quietHours: { start: '00:00', end: '00:00', timeZone: 'Asia/Karachi', jitterSec: 0 } };
const MIN = 60_000;

async function sim(): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => s.close());
  return s;
}

async function gateway(s: SimServer, policy: Record<string, unknown>, now?: () => number): Promise<Gateway> {
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { policy: { ...NO_QUIET, ...policy } });
  return startGateway(redis.url, config, cleanups, now ? { now } : {});
}

/** Push one message and wait for its final event; returns "status" or "status reason". */
async function send(r: Redis, app: App, m: Record<string, unknown>): Promise<string> {
  await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, from: '8555', text: 'Offer of the week', ...m }));
  let final: StatusEvent | undefined;
  await until(
    async () => {
      final = (await readEvents(r, app.keys.events)).find((e) => e.clientId === m.id && e.final);
      return final !== undefined;
    },
    10_000,
    `a final event for ${String(m.id)}`,
  );
  const e = final as StatusEvent;
  return e.reason === undefined ? e.status : `${e.status} ${e.reason}`;
}

/** A clock the test moves, running on from wherever it was set. */
function movedClock(start: number): { now: () => number; set: (t: number) => void } {
  let base = start;
  let setAt = Date.now();
  return { now: () => base + (Date.now() - setAt), set: (t) => void ((base = t), (setAt = Date.now())) };
}

test('caps of 3 per 15 minutes and 5 per day: the 4th in 15 minutes and the 6th in a day end blocked frequency_cap; blocked ones do not count', async () => {
  const s = await sim();
  const t0 = Date.parse('2026-11-23T06:00:00Z');
  const clock = movedClock(t0);
  const { app, r, lines } = await gateway(
    s,
    { caps: { marketing: [{ limit: 3, windowSec: 900 }, { limit: 5, windowSec: 86_400 }] } },
    clock.now,
  );
  const to = '03001239001';
  const mkt = (id: string): Record<string, unknown> => ({ id, to, class: 'marketing', consent: 'signup-1' });
  const submits = s.stats.submits;

  const first = [];
  for (const id of ['m1', 'm2', 'm3', 'm4']) first.push(await send(r, app, mkt(id)));
  assert.deepEqual(first, ['delivered', 'delivered', 'delivered', 'blocked frequency_cap'], 'the 4th in 15 minutes');

  clock.set(t0 + 16 * MIN);
  const later = [];
  for (const id of ['m5', 'm6', 'm7']) later.push(await send(r, app, mkt(id)));
  assert.deepEqual(later, ['delivered', 'delivered', 'blocked frequency_cap'], 'the 15-minute window is free again; the 6th of the day is not (m4 did not count)');
  assert.equal(await send(r, app, { id: 'other', to: '03001239002', class: 'marketing', consent: 'signup-1' }), 'delivered', 'caps are per subscriber');

  clock.set(t0 + 24 * 60 * MIN + MIN);
  assert.equal(await send(r, app, mkt('m8')), 'delivered', 'a day after m1–m3 they left the day window (m5, m6 are still in it)');
  assert.equal(await send(r, app, mkt('m9')), 'delivered');
  assert.equal(await send(r, app, mkt('m10')), 'delivered');
  assert.equal(await send(r, app, mkt('m11')), 'blocked frequency_cap', 'm8, m9, m10 fill 15 minutes, and with m5, m6 the day');
  assert.equal(s.stats.submits, submits + 9, 'no submit_sm for the blocked ones');

  // The log line says which window was full (the first listed, when several are); no number appears in it.
  const blocked = lines.filter((l) => l.event === 'policy.blocked');
  assert.deepEqual(
    blocked.map((l) => [l.reason, l.capScope, l.capLimit, l.capWindowSec]),
    [
      ['frequency_cap', 'class', 3, 900],
      ['frequency_cap', 'class', 5, 86_400],
      ['frequency_cap', 'class', 3, 900],
    ],
  );
  for (const l of blocked) assert.ok(!JSON.stringify(l).includes('1239001'), 'no number in the log line');

  // The cap key lives as long as its longest window.
  const [hash] = app.subscribers.hashes('+923001239001');
  const ttl = await r.pttl(app.keys.cap(hash as string, 'marketing'));
  assert.ok(ttl > 86_400_000 - 60_000 && ttl <= 86_400_000, `cap key TTL ${ttl} ms is the day window`);
});

test("a tenant's own windows count only its messages, on top of the class's; export shows them and erasure removes them", async () => {
  const s = await sim();
  const { app, r, lines } = await gateway(s, {
    caps: { otp: [{ limit: 4, windowSec: 600 }] },
    tenants: [{ tenant: 'acme', caps: { otp: [{ limit: 2, windowSec: 3_600 }] } }],
  });
  const to = '03001239003';
  const otp = (id: string, tenant: string): Record<string, unknown> => ({ id, to, class: 'otp', tenant, text: `Code ${id}` });
  const outcome = [];
  for (const [id, tenant] of [['a1', 'acme'], ['a2', 'acme'], ['a3', 'acme'], ['b1', 'beta'], ['b2', 'beta'], ['b3', 'beta']] as const) outcome.push(`${id} ${await send(r, app, otp(id, tenant))}`);
  assert.deepEqual(outcome, ['a1 delivered', 'a2 delivered', 'a3 blocked frequency_cap', 'b1 delivered', 'b2 delivered', 'b3 blocked frequency_cap']);
  assert.deepEqual(
    lines.filter((l) => l.event === 'policy.blocked').map((l) => [l.capScope, l.capLimit, l.capWindowSec]),
    [
      ['tenant', 2, 3_600],
      ['class', 4, 600],
    ],
    "acme's third is over its own cap; beta's third is over the class's 4 (a1, a2, b1, b2)",
  );

  const exported = await app.subjects.export('+923001239003');
  assert.deepEqual(exported.frequency, { otp: 4, 'otp:tenant:acme': 2 });
  await app.subjects.erase('+923001239003');
  const [hash] = app.subscribers.hashes('+923001239003');
  assert.equal(await r.exists(app.keys.cap(hash as string, 'otp'), app.keys.tenantCap(hash as string, 'otp', 'acme')), 0, 'both cap keys erased');
});

/** Import `numbers` as the do-not-contact list. */
async function importDnc(app: App, numbers: string[]): Promise<void> {
  async function* list(): AsyncGenerator<string> {
    yield* numbers;
  }
  await app.subscribers.importDnc(list(), true);
}

test('the do-not-contact list holds back marketing by default, and the classes policy.dnc.classes names', async () => {
  const s = await sim();
  const byDefault = await gateway(s, {});
  await importDnc(byDefault.app, ['+923001239004']);
  const to = '03001239004';
  assert.equal(await send(byDefault.r, byDefault.app, { id: 'd-mkt', to, class: 'marketing', consent: 'c' }), 'blocked dnc');
  assert.equal(await send(byDefault.r, byDefault.app, { id: 'd-otp', to, class: 'otp' }), 'delivered');
  assert.equal(await send(byDefault.r, byDefault.app, { id: 'd-txn', to, class: 'transactional' }), 'delivered');
  await byDefault.app.stop();

  const wider = await gateway(s, { dnc: { classes: ['marketing', 'otp'] } });
  await importDnc(wider.app, ['+923001239005']);
  const to2 = '03001239005';
  assert.equal(await send(wider.r, wider.app, { id: 'w-mkt', to: to2, class: 'marketing', consent: 'c' }), 'blocked dnc');
  assert.equal(await send(wider.r, wider.app, { id: 'w-otp', to: to2, class: 'otp' }), 'blocked dnc');
  assert.equal(await send(wider.r, wider.app, { id: 'w-txn', to: to2, class: 'transactional' }), 'delivered');
  assert.equal(await send(wider.r, wider.app, { id: 'w-other', to: '03001239006', class: 'otp' }), 'delivered', 'only listed numbers');

  const none = await gateway(s, { dnc: { classes: [] } });
  await importDnc(none.app, ['+923001239007']);
  assert.equal(await send(none.r, none.app, { id: 'n-mkt', to: '03001239007', class: 'marketing', consent: 'c' }), 'delivered', 'an empty list of classes: the list holds nothing back');
});
