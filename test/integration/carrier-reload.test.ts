/**
 * Carrier settings reloaded without a restart (POST /carriers/reload, SIGHUP): validated
 * before the swap — an invalid config, or a route naming a carrier no longer there, leaves
 * the running carriers as they were — then a changed carrier is bound again with its new
 * settings (tps, sessions), a new one bound and routed to. Audited.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashToken, type ApiToken } from '../../src/admin/auth.js';
import type { CarrierConfig } from '../../src/config/types.js';
import { QasidError } from '../../src/core/errors.js';
import { startSimulator } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents } from '../helpers/events.js';
import { startGateway, testConfig, type RawCarrier } from '../helpers/app.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;
const SECRET = 'admin-secret-7';
const TOKENS: ApiToken[] = [{ id: 'ayesha', sha256: hashToken(SECRET), role: 'admin' }];

test('reload: a changed carrier rebinds with its new tps and sessions, a new one is bound and taken into routing; a bad config or a route left without its carrier changes nothing', { timeout: 60_000 }, async () => {
  const simA = await startSimulator({ port: 0, preset: 'HappySMSC' });
  const simB = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => simA.close(), () => simB.close());
  const dir = mkdtempSync(join(tmpdir(), 'qasid-reload-'));
  const routesFile = join(dir, 'routes.json');
  writeFileSync(routesFile, JSON.stringify({ version: 1, routes: [{ id: 'default', carriers: [{ id: 'jazz' }] }] }));
  const overrides = { admin: { port: 0, tokens: TOKENS }, routes: { file: routesFile } };
  const jazz: RawCarrier = { id: 'jazz', port: simA.port, tps: 20, sessions: 1 };
  const config = testConfig(redis.url, [jazz], overrides);
  // What the config file says now: the test changes it between reloads.
  let next: () => CarrierConfig[] = () => [...config.carriers];
  const { app, r, lines } = await startGateway(redis.url, config, cleanups, { loadCarriers: () => next() });
  const reload = () => fetch(`http://127.0.0.1:${app.admin.port}/carriers/reload`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } });
  const send = async (tag: string, n: number): Promise<number> => {
    const t0 = Date.now();
    for (let i = 0; i < n; i++) await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `${tag}-${i}`, to: '03001234567', from: 'QASID', text: `${tag} ${i}` }));
    await until(async () => (await readEvents(r, app.keys.events)).filter((e) => e.final && e.clientId?.startsWith(`${tag}-`)).length === n, 20_000, `${tag}: every message final`);
    return Date.now() - t0;
  };
  assert.equal(simA.boundSessions().length, 1);
  const slow = await send('slow', 30);
  assert.ok(slow >= 1200, `30 at 20 tps take over a second (${slow} ms)`);

  // Nothing changed: nothing happens.
  let res = await reload();
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, added: [], changed: [], removed: [] });

  // jazz at 1,000 tps on two sessions, and a new carrier zong.
  const changed = testConfig(redis.url, [{ ...jazz, tps: 1000, sessions: 2 }, { id: 'zong', port: simB.port }], overrides).carriers;
  next = () => [...changed];
  res = await reload();
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { ok: true, added: ['zong'], changed: ['jazz'], removed: [] });
  await until(() => simA.boundSessions().length === 2 && simB.boundSessions().length === 1, 8000, () => `jazz on 2 binds, zong on 1 (${simA.boundSessions().length}, ${simB.boundSessions().length})`);
  const fast = await send('fast', 30);
  assert.ok(fast < 1000, `30 at 1,000 tps take well under a second (${fast} ms)`);
  assert.ok(lines.some((l) => l.event === 'carriers.reloaded'));
  // The new carrier takes traffic: a route to it (the route table is checked against the new carriers).
  writeFileSync(routesFile, JSON.stringify({ version: 1, routes: [{ id: 'default', carriers: [{ id: 'zong' }] }] }));
  assert.equal((await fetch(`http://127.0.0.1:${app.admin.port}/routes/reload`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}` } })).status, 200);
  const beforeB = simB.stats.submits;
  await send('via-zong', 5);
  assert.equal(simB.stats.submits - beforeB, 5, 'sent through the new carrier');

  // A config the checks refuse: 400 with the problem by key; the running carriers stay.
  next = () => {
    throw new QasidError('CONFIG_INVALID', 'configuration invalid', { problems: [{ key: 'carriers[0].tps', message: 'must be > 0' }] });
  };
  res = await reload();
  assert.equal(res.status, 400);
  const body = (await res.json()) as { code: string; problems: Array<{ key: string }> };
  assert.equal(body.code, 'carriers_invalid');
  assert.deepEqual(body.problems.map((p) => p.key), ['carriers[0].tps']);
  // Removing zong while a route names it: refused as a whole.
  next = () => [changed[0] as CarrierConfig];
  res = await reload();
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { code: string }).code, 'carriers_invalid');
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(simB.boundSessions().length, 1, 'zong still bound');
  assert.equal(simA.boundSessions().length, 2, 'jazz untouched');

  // Audited: the one reload that changed something.
  const audited = (await r.xrange(app.keys.audit, '-', '+')).map(([, f]) => f[f.indexOf('action') + 1]);
  assert.ok(audited.includes('carriers.reload'), audited.join(', '));
});
