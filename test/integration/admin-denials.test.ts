/**
 * Denied admin requests against a real redis-server: every kind of denial leaves a log
 * line (`admin.denied`), a metric increment (qasid_admin_denied_total{reason}) and an
 * audit entry, none of them holding the token; and a flood is aggregated, so the audit
 * stream and the log stay bounded while their counts still add up to every request.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { AuditLog, type AuditEntry } from '../../src/admin/audit.js';
import { hashToken, registerSecurity, type ApiToken, type SecurityOptions } from '../../src/admin/auth.js';
import { DENIAL_REASONS, DenialReporter, type DenialReason } from '../../src/admin/denials.js';
import { registerAdminRoutes } from '../../src/admin/routes.js';
import { AdminServer } from '../../src/admin/server.js';
import { LOG_EVENTS } from '../../src/log/events.js';
import { captureLogger } from '../../src/log/logger.js';
import { Metrics } from '../../src/metrics/registry.js';
import { redisClientForFile } from '../helpers/redis.js';
import { fakeSubscriberAdmin } from '../helpers/subscribers.js';
import { startGateway, testConfig } from '../helpers/app.js';
import { startSimulator } from '../../src/sim/index.js';

const redis = redisClientForFile();

const SECRETS = { viewer: 'vw-Zq9xK2mP7vLwT4rB', admin: 'ad-Hs3nQ8dY1cFj6uWe' } as const;
/** A token no one holds, as an attacker would present it. */
const BAD = 'zz-Pk4tR9wN2bXm7VqC';
const TOKENS: ApiToken[] = [
  { id: 'vera', sha256: hashToken(SECRETS.viewer), role: 'viewer' },
  { id: 'ayesha', sha256: hashToken(SECRETS.admin), role: 'admin' },
];

/** A clock the test moves. */
function manualClock(start = Date.parse('2026-12-01T10:00:00Z')): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

interface Built {
  app: FastifyInstance;
  audit: AuditLog;
  denials: DenialReporter;
  metrics: Metrics;
  lines: Array<Record<string, unknown>>;
}

async function build(sec: Partial<SecurityOptions> = {}, reporter: { intervalMs?: number; maxKeys?: number } = {}): Promise<Built> {
  const { logger, lines } = captureLogger('info');
  const metrics = new Metrics({ defaultMetrics: false });
  const audit = new AuditLog(redis.client, `t${randomBytes(4).toString('hex')}:audit`);
  const denials = new DenialReporter({ logger, audit, count: (reason) => metrics.adminDenied.inc({ reason }), ...(sec.clock ? { clock: sec.clock } : {}), ...reporter });
  const app = Fastify({ logger: false });
  registerSecurity(app, {
    tokens: TOKENS,
    allowList: ['127.0.0.1', '::1'],
    trustedProxies: [],
    rateLimit: { perIp: 100_000, perToken: 100_000 },
    ...sec,
    onDenied: (d) => denials.report(d),
  });
  app.get('/livez', async () => ({ ok: true }));
  app.get('/debug', async () => ({ secret: 'leak' })); // no role, not public → default deny
  registerAdminRoutes(app, { health: () => ({}), pauseCarrier: () => true, resumeCarrier: () => true, reloadRoutes: () => ({}), audit, subscribers: fakeSubscriberAdmin() });
  await app.ready();
  return { app, audit, denials, metrics, lines };
}

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

/** qasid_admin_denied_total by reason, as /metrics shows it. */
async function deniedCounts(m: Metrics): Promise<Partial<Record<DenialReason, number>>> {
  const text = await m.registry.getSingleMetricAsString('qasid_admin_denied_total');
  const out: Partial<Record<DenialReason, number>> = {};
  for (const [, reason, n] of text.matchAll(/^qasid_admin_denied_total\{reason="([a-z_]+)"\} (\d+)$/gm)) out[reason as DenialReason] = Number(n);
  return out;
}

function deniedLines(b: Built): Array<Record<string, unknown>> {
  return b.lines.filter((l) => l.event === 'admin.denied');
}

async function deniedEntries(b: Built): Promise<Array<AuditEntry & { detail: Record<string, unknown> }>> {
  return (await b.audit.range('-', 1000)).filter((e) => e.fields.action === 'admin.denied').map((e) => ({ ...e, detail: JSON.parse(e.fields.detail ?? '{}') as Record<string, unknown> }));
}

/** Neither the log nor the audit stream holds a token, a piece of one, or its hash. */
async function assertNoTokens(b: Built): Promise<void> {
  const text = JSON.stringify(b.lines) + JSON.stringify(await b.audit.range('-', 1000));
  for (const t of [BAD, SECRETS.viewer, SECRETS.admin]) {
    for (let i = 0; i + 6 <= t.length; i++) assert.ok(!text.includes(t.slice(i, i + 6)), `part of a token (${t.slice(i, i + 6)}) was recorded`);
    assert.ok(!text.includes(hashToken(t)), 'a token hash was recorded');
  }
}

describe('every kind of denial: one log line, one metric increment, one audit entry', () => {
  const cases: Array<{
    reason: DenialReason;
    status: number;
    sec?: Partial<SecurityOptions>;
    /** Requests before the one denied (they pass). */
    warmup?: number;
    req: { method?: 'GET' | 'POST'; url: string; headers?: Record<string, string>; remoteAddress?: string };
    route: string;
    actor: [string, string];
  }> = [
    { reason: 'not_allowed', status: 403, sec: { allowList: ['203.0.113.0/24'] }, req: { url: '/carriers', headers: bearer(SECRETS.admin), remoteAddress: '198.51.100.1' }, route: '/carriers', actor: ['anonymous', 'none'] },
    { reason: 'rate_limited_ip', status: 429, sec: { rateLimit: { perIp: 2, perToken: 1000 } }, warmup: 2, req: { url: '/carriers', headers: bearer(SECRETS.viewer) }, route: '/carriers', actor: ['anonymous', 'none'] },
    { reason: 'rate_limited_token', status: 429, sec: { rateLimit: { perIp: 1000, perToken: 1 } }, warmup: 1, req: { url: '/carriers', headers: bearer(SECRETS.viewer) }, route: '/carriers', actor: ['vera', 'viewer'] },
    { reason: 'no_token', status: 401, req: { url: '/carriers' }, route: '/carriers', actor: ['anonymous', 'none'] },
    { reason: 'bad_token', status: 401, req: { url: '/carriers', headers: bearer(BAD) }, route: '/carriers', actor: ['anonymous', 'none'] },
    { reason: 'bad_token', status: 401, req: { url: '/carriers', headers: { authorization: BAD } }, route: '/carriers', actor: ['anonymous', 'none'] },
    { reason: 'insufficient_role', status: 403, req: { method: 'POST', url: '/routes/reload', headers: bearer(SECRETS.viewer) }, route: '/routes/reload', actor: ['vera', 'viewer'] },
    { reason: 'undeclared_route', status: 403, req: { url: '/debug', headers: bearer(SECRETS.admin) }, route: '/debug', actor: ['anonymous', 'none'] },
    { reason: 'undeclared_route', status: 403, req: { url: `/nowhere/${BAD}?token=${BAD}` }, route: '(unmatched)', actor: ['anonymous', 'none'] },
  ];

  for (const c of cases) {
    test(`${c.reason}: ${c.req.method ?? 'GET'} ${c.req.url.slice(0, 20)} → ${c.status}`, async () => {
      const b = await build(c.sec);
      try {
        const inject = () => b.app.inject({ method: c.req.method ?? 'GET', url: c.req.url, headers: c.req.headers ?? {}, remoteAddress: c.req.remoteAddress ?? '127.0.0.1' });
        for (let i = 0; i < (c.warmup ?? 0); i++) assert.ok((await inject()).statusCode < 400);
        const res = await inject();
        assert.equal(res.statusCode, c.status, res.body);
        await b.denials.settled();
        const address = c.req.remoteAddress ?? '127.0.0.1';

        const lines = deniedLines(b);
        assert.equal(lines.length, 1, JSON.stringify(b.lines));
        assert.equal(lines[0]?.level, 'warn');
        assert.deepEqual(
          [lines[0]?.reason, lines[0]?.status, lines[0]?.route, lines[0]?.method, lines[0]?.address, lines[0]?.count],
          [c.reason, c.status, c.route, c.req.method ?? 'GET', address, 1],
        );
        assert.equal(lines[0]?.actor, c.actor[0] === 'anonymous' ? undefined : c.actor[0]);

        assert.deepEqual(await deniedCounts(b.metrics), { [c.reason]: 1 });

        const entries = await deniedEntries(b);
        assert.equal(entries.length, 1);
        const e = entries[0];
        assert.deepEqual([e?.fields.actor, e?.fields.role, e?.fields.target], [...c.actor, address]);
        assert.deepEqual([e?.detail.reason, e?.detail.status, e?.detail.route, e?.detail.method, e?.detail.count], [c.reason, c.status, c.route, c.req.method ?? 'GET', 1]);
        assert.deepEqual(await b.audit.verify(), { ok: true, entries: 1, head: await b.audit.head() });
        await assertNoTokens(b);
      } finally {
        await b.app.close();
      }
    });
  }

  test('granted requests leave nothing', async () => {
    const b = await build();
    try {
      assert.equal((await b.app.inject({ url: '/carriers', headers: bearer(SECRETS.viewer), remoteAddress: '127.0.0.1' })).statusCode, 200);
      assert.equal((await b.app.inject({ url: '/livez', remoteAddress: '127.0.0.1' })).statusCode, 200);
      await b.denials.flush();
      assert.deepEqual([deniedLines(b).length, await deniedCounts(b.metrics), (await deniedEntries(b)).length], [0, {}, 0]);
    } finally {
      await b.app.close();
    }
  });

  test('the reasons and the event codes are catalogued', () => {
    assert.deepEqual([...DENIAL_REASONS].sort(), ['bad_token', 'insufficient_role', 'no_token', 'not_allowed', 'rate_limited_ip', 'rate_limited_token', 'undeclared_route']);
    for (const code of ['admin.denied', 'admin.audit_failed']) assert.ok(code in LOG_EVENTS, code);
  });
});

describe('a flood is aggregated per address and reason', () => {
  test('1,000 bad requests from one address: a bounded number of audit entries and log lines whose counts add up to 1,000', async () => {
    // The default per-address limit: the first 600 are bad tokens, the rest rate-limited (the clock stands still, so nothing refills).
    const b = await build({ rateLimit: { perIp: 600, perToken: 600 }, clock: manualClock() });
    try {
      for (let i = 0; i < 1000; i++) {
        const res = await b.app.inject({ url: i % 2 === 0 ? '/carriers' : '/audit', headers: bearer(`${BAD}${i}`), remoteAddress: '127.0.0.1' });
        assert.ok(res.statusCode === 401 || res.statusCode === 429);
      }
      await b.denials.settled();
      assert.equal((await deniedEntries(b)).length, 2, 'during the flood: the first of each reason only');
      await b.denials.flush();

      const entries = await deniedEntries(b);
      assert.ok(entries.length <= 4, `${entries.length} audit entries`);
      const sum = (xs: Array<{ reason: unknown; count: unknown }>, reason?: string): number => xs.filter((x) => reason === undefined || x.reason === reason).reduce((a, x) => a + Number(x.count), 0);
      const details = entries.map((e) => e.detail as { reason: unknown; count: unknown; routes?: unknown });
      assert.equal(sum(details), 1000);
      assert.deepEqual([sum(details, 'bad_token'), sum(details, 'rate_limited_ip')], [600, 400]);
      assert.deepEqual(await deniedCounts(b.metrics), { bad_token: 600, rate_limited_ip: 400 });
      const lines = deniedLines(b) as Array<{ reason: unknown; count: unknown }>;
      assert.ok(lines.length <= 4, `${lines.length} log lines`);
      assert.equal(sum(lines), 1000);
      // A summary names the routes tried.
      assert.deepEqual(details.find((d) => d.reason === 'bad_token' && Number(d.count) > 1)?.routes, ['GET /audit', 'GET /carriers']);
      assert.deepEqual(await b.audit.verify(), { ok: true, entries: entries.length, head: await b.audit.head() });
      await assertNoTokens(b);
    } finally {
      await b.app.close();
    }
  });

  test('a steady flood over five minutes: the first at once, then one report per interval', async () => {
    const clock = manualClock();
    const b = await build({ clock }, { intervalMs: 60_000 });
    try {
      for (let i = 0; i < 1000; i++) {
        await b.app.inject({ url: '/carriers', remoteAddress: '127.0.0.1' });
        clock.advance(300); // 1,000 requests over 300 s
      }
      await b.denials.flush();
      const entries = await deniedEntries(b);
      const counts = entries.map((e) => Number(e.detail.count));
      assert.equal(counts.reduce((a, n) => a + n, 0), 1000);
      assert.equal(counts[0], 1);
      // 300 s at one report per 60 s window: the immediate one, four full windows, and what the flush found.
      assert.ok(entries.length >= 5 && entries.length <= 7, `${entries.length} entries: ${counts.join(',')}`);
      for (const e of entries.slice(1)) {
        const span = Date.parse(String(e.detail.last)) - Date.parse(String(e.detail.first));
        assert.ok(span < 60_000, `one report covers ${span} ms`);
      }
      // Quiet for an interval: the next denial is reported at once again.
      clock.advance(120_000);
      b.denials.sweep();
      await b.app.inject({ url: '/carriers', remoteAddress: '127.0.0.1' });
      await b.denials.settled();
      const last = (await deniedEntries(b)).at(-1);
      assert.equal(last?.detail.count, 1);
      assert.equal(entries.length + 1, (await deniedEntries(b)).length);
    } finally {
      await b.app.close();
    }
  });

  test('many addresses: at most maxKeys are tracked, the rest fold into one key per reason (address *)', async () => {
    const b = await build({ allowList: ['0.0.0.0/0'] }, { maxKeys: 16 });
    try {
      for (let i = 0; i < 200; i++) await b.app.inject({ url: '/carriers', remoteAddress: `198.51.100.${i}` });
      assert.ok(b.denials.keys <= 17, `${b.denials.keys} keys held`);
      await b.denials.flush();
      const entries = await deniedEntries(b);
      assert.equal(entries.length, 16 + 2);
      assert.equal(entries.reduce((a, e) => a + Number(e.detail.count), 0), 200);
      assert.deepEqual(
        entries.filter((e) => e.fields.target === '*').map((e) => e.detail.count),
        [1, 183],
      );
      assert.deepEqual(await deniedCounts(b.metrics), { no_token: 200 });
    } finally {
      await b.app.close();
    }
  });
});

describe('the admin server', () => {
  test('stop() reports the denials still held; a failed audit write is logged, the request still denied', async () => {
    const { logger, lines } = captureLogger('info');
    const audit = new AuditLog(redis.client, `t${randomBytes(4).toString('hex')}:audit`);
    const counted: string[] = [];
    const server = new AdminServer({
      host: '127.0.0.1',
      port: 0,
      logger,
      denied: (reason) => counted.push(reason),
      security: { tokens: TOKENS, allowList: ['127.0.0.1/32'], trustedProxies: [], rateLimit: { perIp: 100, perToken: 100 } },
      routes: { health: () => ({}), pauseCarrier: () => false, resumeCarrier: () => false, reloadRoutes: () => ({}), audit, subscribers: fakeSubscriberAdmin() },
      phase: () => 'ready',
      metrics: async () => ({ body: '', contentType: 'text/plain' }),
    });
    await server.start();
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`http://127.0.0.1:${server.port}/carriers`, { headers: bearer(BAD) })).status, 401);
    await server.stop();
    assert.deepEqual(counted, Array(5).fill('bad_token'));
    const entries = (await audit.range()).map((e) => JSON.parse(e.fields.detail ?? '{}') as { count: number });
    assert.deepEqual(entries.map((e) => e.count), [1, 4]);
    assert.equal(lines.filter((l) => l.event === 'admin.denied').length, 2);

    const broken = { append: () => Promise.reject(new Error('Connection is closed.')) };
    const failing = captureLogger('info');
    const d = new DenialReporter({ logger: failing.logger, audit: broken });
    d.report({ reason: 'no_token', status: 401, address: '127.0.0.1', method: 'GET', route: '/carriers' });
    await d.stop();
    assert.deepEqual(failing.lines.map((l) => l.event), ['admin.denied', 'admin.audit_failed']);
  });
});

describe('the daemon at shutdown', () => {
  test('denials held when the daemon stops are audited before its Redis connections close', async () => {
    const s = await startSimulator({ port: 0 });
    const cleanups: Array<() => Promise<void>> = [];
    try {
      const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { redis: { url: redis.url, prefix: `t${randomBytes(4).toString('hex')}` } });
      const { app, r: rr, lines } = await startGateway(redis.url, config, cleanups);
      const base = `http://127.0.0.1:${app.admin.port}`;
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${base}/carriers`, { headers: bearer(BAD) })).status, 401);
      await app.stop();
      const details = (await rr.xrange(app.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('detail') + 1] ?? '{}') as { reason?: string; count?: number });
      // The first at once, the four held since then in one summary written at stop.
      assert.deepEqual(details.filter((d) => d.reason === 'bad_token').map((d) => d.count), [1, 4]);
      assert.equal(lines.filter((l) => l.event === 'admin.audit_failed').length, 0);
    } finally {
      for (const c of cleanups.reverse()) await c();
      await s.close();
    }
  });
});

test('the admin rate limit is shared through Redis: two instances together allow perIp a minute, probes never count', async () => {
  const keyPrefix = `t${randomBytes(4).toString('hex')}:adminrl`;
  const shared = { redis: redis.client, keyPrefix };
  // Connected first: while the client is not ready, each instance counts alone (its insurance limiter).
  await redis.client.ping();
  const a = await build({ rateLimit: { perIp: 4, perToken: 1000 }, shared });
  const b = await build({ rateLimit: { perIp: 4, perToken: 1000 }, shared });
  const get = (x: Built, url = '/carriers'): Promise<number> => x.app.inject({ method: 'GET', url, headers: bearer(SECRETS.viewer), remoteAddress: '127.0.0.1' }).then((r) => r.statusCode);
  // Probes first, many of them: they draw on no budget.
  for (let i = 0; i < 10; i++) assert.equal(await get(i % 2 === 0 ? a : b, '/livez'), 200);
  assert.deepEqual([await get(a), await get(b), await get(a), await get(b)], [200, 200, 200, 200], 'four between them');
  assert.equal(await get(a), 429, 'the fifth, on either instance, is over the shared limit');
  assert.equal(await get(b), 429);
  assert.ok((await redis.client.pttl(`${keyPrefix}:ip:127.0.0.1`)) > 0, 'the count lives in Redis with a TTL');
  await Promise.all([a.app.close(), b.app.close()]);
});
