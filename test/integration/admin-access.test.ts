/**
 * The admin access log against a whole gateway and a real redis-server: one line per
 * admin request, denied ones (401, 403) included, the probes and the scrape left out
 * unless admin.accessLog.probes; no token, body, query string or raw path in any line;
 * trimmed by age (retention.accessSec) by the retention sweeper; printed by
 * `qasid audit access`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import { hashToken } from '../../src/admin/auth.js';
import { auditCommand } from '../../src/cli/audit.js';
import type { CliIo } from '../../src/cli/send.js';
import { AccessStream, type AccessEntry } from '../../src/queue/access.js';
import { captureLogger } from '../../src/log/logger.js';
import { fieldsOf } from '../../src/queue/streams.js';
import { startSimulator } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { startGateway, testConfig, type Gateway } from '../helpers/app.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

const SECRETS = { viewer: 'vw-access-Qm3xT8', operator: 'op-access-Lr7pW2', admin: 'ad-access-Hz5nK4' } as const;
const BAD = 'zz-not-a-token-9Ux';
const MSISDN = '03001237788';
const DAY = 86_400_000;

async function gateway(admin: Record<string, unknown> = {}, others: Record<string, unknown> = {}): Promise<Gateway> {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => s.close());
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], {
    admin: {
      port: 0,
      tokens: [
        { id: 'vera', sha256: hashToken(SECRETS.viewer), role: 'viewer' },
        { id: 'omar', sha256: hashToken(SECRETS.operator), role: 'operator' },
        { id: 'ayesha', sha256: hashToken(SECRETS.admin), role: 'admin' },
      ],
      ...admin,
    },
    ...others,
  });
  return startGateway(redis.url, config, cleanups);
}

/** One request to the gateway's admin server; returns the status. */
async function call(app: App, method: string, path: string, token?: string, body?: unknown): Promise<number> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${app.admin.port}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  await res.arrayBuffer();
  return res.status;
}

async function entries(r: Redis, app: App): Promise<Array<Record<string, string>>> {
  await app.access.flush();
  return (await r.xrange(app.keys.access, '-', '+')).map(([, f]) => fieldsOf(f));
}

function capture(): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s), env: {} }, out, err };
}

test('one line per admin request, denied ones too; probes left out; never a token, a body or a query string; the CLI prints them', async () => {
  const { app, r } = await gateway();
  const asked: Array<[string, string, string | undefined, unknown?]> = [
    ['GET', '/carriers', SECRETS.viewer],
    ['GET', `/carriers?token=${SECRETS.admin}&msisdn=${MSISDN}`, SECRETS.viewer],
    ['GET', '/carriers', undefined],
    ['GET', '/audit?count=5', SECRETS.viewer],
    ['GET', '/carriers', BAD],
    ['POST', '/subscribers/lookup', SECRETS.operator, { msisdn: MSISDN }],
    ['POST', '/carriers/jazz/pause', SECRETS.admin],
    ['GET', `/nowhere/${MSISDN}`, SECRETS.admin],
  ];
  const statuses = [];
  for (const [method, path, token, body] of asked) statuses.push(await call(app, method, path, token, body));
  assert.deepEqual(statuses, [200, 200, 401, 403, 401, 200, 200, 403]);
  for (const path of ['/livez', '/readyz', '/metrics']) assert.equal(await call(app, 'GET', path), 200);

  const lines = await entries(r, app);
  assert.deepEqual(
    lines.map((l) => [l.method, l.route, l.status, l.role, l.actor, l.denied]),
    [
      ['GET', '/carriers', '200', 'viewer', 'vera', undefined],
      ['GET', '/carriers', '200', 'viewer', 'vera', undefined],
      ['GET', '/carriers', '401', 'none', 'none', 'no_token'],
      ['GET', '/audit', '403', 'viewer', 'vera', 'insufficient_role'],
      ['GET', '/carriers', '401', 'none', 'none', 'bad_token'],
      ['POST', '/subscribers/lookup', '200', 'operator', 'omar', undefined],
      ['POST', '/carriers/:id/pause', '200', 'admin', 'ayesha', undefined],
      ['GET', '(unmatched)', '403', 'none', 'none', 'undeclared_route'], // denied before any token is looked at
    ],
    'one line per request, in order; the probes and the scrape are not there',
  );
  for (const l of lines) {
    assert.deepEqual(Object.keys(l).sort(), ['actor', 'address', 'at', 'latencyMs', 'method', 'role', 'route', 'status', ...(l.denied === undefined ? [] : ['denied'])].sort());
    assert.equal(l.address, '127.0.0.1');
    assert.ok(Number(l.latencyMs) >= 0 && Number(l.latencyMs) < 5_000, `latency ${l.latencyMs} ms`);
    assert.ok(!Number.isNaN(Date.parse(l.at as string)));
  }
  const text = JSON.stringify(lines);
  for (const secret of [...Object.values(SECRETS), BAD, hashToken(SECRETS.viewer), '1237788', '?', 'token=', 'Bearer']) assert.ok(!text.includes(secret), `"${secret}" is in the access log`);

  // qasid audit access: columns, or JSON lines; --since bounds them.
  const prefix = app.config.redis.prefix;
  const table = capture();
  assert.equal(await auditCommand(['access', '--since', '10m', '--redis', redis.url, '--prefix', prefix], table.io), 0, table.err.join('\n'));
  assert.equal(table.out.length, 8);
  assert.match(table.out[3] ?? '', /^\S+Z {2}GET {5}\/audit +403 +\d+\.\d ms {2}viewer +vera +127\.0\.0\.1 {2}denied insufficient_role$/);
  assert.match(table.out[6] ?? '', /POST +\/carriers\/:id\/pause +200 .* admin +ayesha/);
  assert.match(table.err.join('\n'), /^8 admin requests since \S+Z$/);
  const json = capture();
  assert.equal(await auditCommand(['access', '--json', '--since', new Date(Date.now() - 60_000).toISOString(), '--redis', redis.url, '--prefix', prefix], json.io), 0);
  const parsed = json.out.map((l) => JSON.parse(l) as AccessEntry);
  assert.deepEqual(parsed.map((e) => [e.method, e.route, e.status, e.role, e.denied]), lines.map((l) => [l.method, l.route, Number(l.status), l.role, l.denied]));
  assert.ok(parsed.every((e) => typeof e.id === 'string' && typeof e.latencyMs === 'number'));
  const future = capture();
  assert.equal(await auditCommand(['access', '--since', new Date(Date.now() + 60_000).toISOString(), '--redis', redis.url, '--prefix', prefix], future.io), 0);
  assert.deepEqual(future.out, []);
  const bad = capture();
  assert.equal(await auditCommand(['access', '--since', 'yesterday', '--redis', redis.url, '--prefix', prefix], bad.io), 64);
  assert.match(bad.err.join('\n'), /--since "yesterday" is neither a duration/);
});

test('the access log is trimmed by age: retention.accessSec (7 days by default), by the retention sweeper', async () => {
  const { app, r } = await gateway();
  for (let i = 0; i < 3; i++) assert.equal(await call(app, 'GET', '/carriers', SECRETS.viewer), 200);
  assert.equal((await entries(r, app)).length, 3);
  assert.equal(app.config.retention.accessSec, 604_800);
  assert.equal((await app.retention.sweep(Date.now() + 6 * DAY)).access, 0, 'younger than 7 days: kept');
  assert.equal(await r.xlen(app.keys.access), 3);
  assert.equal((await app.retention.sweep(Date.now() + 7 * DAY + 60_000)).access, 3, 'older than 7 days: trimmed, exactly');
  assert.equal(await r.xlen(app.keys.access), 0);

  // Its own setting: an hour, and one line older than that among newer ones.
  const short = await gateway({}, { retention: { accessSec: 3_600 } });
  assert.equal(await call(short.app, 'GET', '/carriers'), 401);
  await short.app.access.flush();
  const older = Number((await short.r.xrange(short.app.keys.access, '-', '+'))[0]?.[0].split('-')[0]);
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(await call(short.app, 'GET', '/carriers'), 401);
  await short.app.access.flush();
  const removed = await short.app.retention.sweep(older + 3_600_000 + 10);
  assert.equal(removed.access, 1, 'the older line only');
  assert.equal(await short.r.xlen(short.app.keys.access), 1);
});

test('admin.accessLog.probes: the probes and the scrape are written too', async () => {
  const { app, r } = await gateway({ accessLog: { probes: true } });
  for (const path of ['/livez', '/readyz', '/metrics']) assert.equal(await call(app, 'GET', path), 200);
  assert.deepEqual(
    (await entries(r, app)).map((l) => [l.route, l.status, l.role]),
    [
      ['/livez', '200', 'none'],
      ['/readyz', '200', 'none'],
      ['/metrics', '200', 'none'],
    ],
  );
});

test('a write that fails costs the request nothing: the lines are dropped with one admin.access_log_failed warning', async () => {
  const { logger, lines } = captureLogger('info');
  // A client that cannot reach any Redis and does not queue commands: every write fails at once.
  const nowhere = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  nowhere.on('error', () => undefined);
  cleanups.push(async () => void nowhere.disconnect());
  const access = new AccessStream(nowhere, 'x:access', { maxLen: 1_000, logger });
  const line = { at: new Date().toISOString(), method: 'GET', route: '/carriers', role: 'viewer', actor: 'vera', address: '127.0.0.1', status: 200, latencyMs: 1.5 };
  access.record(line);
  access.record(line);
  await access.flush();
  const failed = lines.filter((l) => l.event === 'admin.access_log_failed');
  assert.equal(failed.length, 1);
  assert.equal(failed[0]?.reason, 'write_failed');
  assert.ok(Number(failed[0]?.lines) >= 1);
  await access.stop();
  access.record(line);
  await access.flush();
  assert.equal(lines.filter((l) => l.event === 'admin.access_log_failed').length, 1, 'after stop() lines are dropped quietly');
});
