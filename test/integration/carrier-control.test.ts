/**
 * Runtime control of a carrier, for every instance at once: an operator's pause (out of
 * routing, binds kept) or stop (unbound everywhere, slots given back) sent to one
 * instance's admin API holds on the others within about a second, and for an instance
 * started later; start and resume undo them. Audited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashToken, type ApiToken } from '../../src/admin/auth.js';
import { startSimulator } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents } from '../helpers/events.js';
import { startGateway, testConfig, type Gateway } from '../helpers/app.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;
const SECRET = 'operator-secret-9';
const TOKENS: ApiToken[] = [{ id: 'omar', sha256: hashToken(SECRET), role: 'operator' }];

test('stop a carrier on one instance: every instance unbinds it and keeps its messages; start binds it again; pause holds on every instance too; a later instance starts stopped', { timeout: 60_000 }, async () => {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => s.close());
  const prefix = `tcc${Date.now().toString(36)}`;
  const config = (name: string) =>
    testConfig(redis.url, [{ id: 'jazz', port: s.port, sessions: 2 }], {
      redis: { url: redis.url, prefix },
      intake: { blockMs: 100, consumer: name },
      admin: { port: 0, tokens: TOKENS },
      scale: { bindLeaseMs: 2000 },
    });
  const a = await startGateway(redis.url, config('ia'), cleanups);
  const b = await startGateway(redis.url, config('ib'), cleanups, { bound: [] });
  await until(() => s.boundSessions().length === 2, 8000, 'two binds between the two instances');
  const post = (g: Gateway, what: string) => fetch(`http://127.0.0.1:${g.app.admin.port}/carriers/jazz/${what}`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } });

  // Stop, sent to a only: b unbinds too.
  assert.equal((await post(a, 'stop')).status, 200);
  await until(() => s.boundSessions().length === 0, 5000, () => `no bind left (${s.boundSessions().length})`);
  assert.ok(a.lines.some((l) => l.event === 'carrier.binds_stopped'));
  await until(() => b.lines.some((l) => l.event === 'carrier.binds_stopped'), 3000, 'b followed');
  // Messages meanwhile wait (the carrier is the route's only one): none lost, none sent.
  for (let i = 0; i < 5; i++) await a.r.xadd(a.app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `cc-${i}`, to: '03001234567', from: 'QASID', text: `m ${i}` }));
  await new Promise((res) => setTimeout(res, 800));
  assert.equal(s.stats.submits, 0, 'nothing sent while stopped');
  // An instance started now starts with the carrier stopped.
  const c = await startGateway(redis.url, config('ic'), cleanups, { bound: [] });
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(s.boundSessions().length, 0, 'a later instance does not bind a stopped carrier');
  const health = (await (await fetch(`http://127.0.0.1:${c.app.admin.port}/carriers`, { headers: { authorization: `Bearer ${SECRET}` } })).json()) as { stopped: string[] };
  assert.deepEqual(health.stopped, ['jazz']);

  // Start, sent to b: binds come back (two, across the three), and the waiting messages go.
  assert.equal((await post(b, 'start')).status, 200);
  await until(() => s.boundSessions().length === 2, 8000, () => `binds back (${s.boundSessions().length})`);
  await until(async () => (await readEvents(a.r, a.app.keys.events)).filter((e) => e.final).length === 5, 15_000, 'the waiting messages delivered');

  // Pause, sent to c: no instance routes to it (binds stay).
  assert.equal((await post(c, 'pause')).status, 200);
  await new Promise((res) => setTimeout(res, 1500));
  const before = s.stats.submits;
  for (let i = 0; i < 5; i++) await a.r.xadd(a.app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `cp-${i}`, to: '03001234567', from: 'QASID', text: `p ${i}` }));
  await new Promise((res) => setTimeout(res, 1000));
  assert.equal(s.stats.submits, before, 'paused on every instance');
  assert.equal(s.boundSessions().length, 2, 'binds kept while paused');
  assert.equal((await post(a, 'resume')).status, 200);
  await until(async () => (await readEvents(a.r, a.app.keys.events)).filter((e) => e.final).length === 10, 15_000, 'resumed everywhere');

  // Unknown carrier: 404; each change audited.
  const unknown = await fetch(`http://127.0.0.1:${a.app.admin.port}/carriers/ufone/stop`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } });
  assert.equal(unknown.status, 404);
  const audited = (await a.r.xrange(a.app.keys.audit, '-', '+')).map(([, f]) => f[f.indexOf('action') + 1]);
  for (const action of ['carrier.stop', 'carrier.start', 'carrier.pause', 'carrier.resume']) assert.ok(audited.includes(action), `${action} audited (${audited.join(', ')})`);
});
