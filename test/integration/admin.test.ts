/**
 * Admin API security and audit trail against a real redis-server: role matrix, client IP
 * behind proxies, allow-list, rate limits, error bodies (a catalogued code, no host file
 * path; the detail in the log), and tamper detection of the audit chain (AuditLog.verify
 * and `qasid audit verify`).
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { AuditLog, GENESIS } from '../../src/admin/audit.js';
import { allowed, authenticate, clientIp, hashToken, registerSecurity, type ApiToken, type SecurityOptions } from '../../src/admin/auth.js';
import { DENIAL_REASONS } from '../../src/admin/denials.js';
import { ADMIN_ERRORS, registerErrorHandler, withoutPaths, type AdminErrorCode } from '../../src/admin/errors.js';
import { registerAdminRoutes, type SubscriberAdmin } from '../../src/admin/routes.js';
import { auditCommand } from '../../src/cli/audit.js';
import type { CliIo } from '../../src/cli/send.js';
import { QasidError } from '../../src/core/errors.js';
import { captureLogger } from '../../src/log/logger.js';
import { compileRoutes } from '../../src/routing/table.js';
import { startSimulator } from '../../src/sim/index.js';
import { startGateway, testConfig } from '../helpers/app.js';
import { redisClientForFile } from '../helpers/redis.js';
import { fakeSubscriberAdmin } from '../helpers/subscribers.js';

const redis = redisClientForFile();

const SECRETS = { viewer: 'viewer-secret-1', operator: 'operator-secret-2', admin: 'admin-secret-3' } as const;
const TOKENS: ApiToken[] = [
  { id: 'vera', sha256: hashToken(SECRETS.viewer), role: 'viewer' },
  { id: 'omar', sha256: hashToken(SECRETS.operator), role: 'operator' },
  { id: 'ayesha', sha256: hashToken(SECRETS.admin), role: 'admin' },
];

function prefix(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

interface Built {
  app: FastifyInstance;
  audit: AuditLog;
  paused: Set<string>;
  /** What the admin server logged. */
  lines: Array<Record<string, unknown>>;
}

interface Fakes {
  /** Stands in for App.reloadRoutes: throws as it would. */
  reload?: () => { version?: string };
  /** Stands in for App.reloadCarriers. */
  reloadCarriers?: () => Promise<{ added: string[]; changed: string[]; removed: string[] }>;
  subscribers?: Partial<SubscriberAdmin>;
}

async function build(sec: Partial<SecurityOptions> = {}, fakes: Fakes = {}): Promise<Built> {
  const app = Fastify({ logger: false });
  const { logger, lines } = captureLogger('info');
  registerErrorHandler(app, logger);
  registerSecurity(app, {
    tokens: TOKENS,
    allowList: ['127.0.0.1', '::1'],
    trustedProxies: [],
    rateLimit: { perIp: 100_000, perToken: 100_000 },
    ...sec,
  });
  app.get('/livez', async () => ({ ok: true }));
  app.get('/readyz', async () => ({ ready: true }));
  app.get('/debug', async () => ({ secret: 'leak' })); // no role, not public → default deny
  const audit = new AuditLog(redis.client, `${prefix()}:audit`);
  const carriers = new Set(['jazz', 'zong']);
  const paused = new Set<string>();
  registerAdminRoutes(app, {
    health: () => ({ carriers: [...carriers].map((id) => ({ id, paused: paused.has(id) })) }),
    pauseCarrier: (id) => carriers.has(id) && (paused.add(id), true),
    resumeCarrier: (id) => carriers.has(id) && paused.delete(id) !== undefined,
    reloadRoutes: fakes.reload ?? (() => ({ version: 'v2' })),
    reloadCarriers: fakes.reloadCarriers ?? (async () => ({ added: [], changed: [], removed: [] })),
    audit,
    subscribers: { ...fakeSubscriberAdmin(), ...fakes.subscribers },
  });
  await app.ready();
  return { app, audit, paused, lines };
}

function bearer(t: string): Record<string, string> {
  return { authorization: `Bearer ${t}` };
}

describe('role matrix', () => {
  let b: Built;
  before(async () => (b = await build()));
  after(async () => b.app.close());

  const routes = [
    { method: 'GET', url: '/carriers', need: 'viewer' },
    { method: 'POST', url: '/carriers/jazz/pause', need: 'operator' },
    { method: 'POST', url: '/carriers/jazz/resume', need: 'operator' },
    { method: 'POST', url: '/routes/reload', need: 'admin' },
    { method: 'GET', url: '/audit', need: 'admin' },
    { method: 'POST', url: '/subscribers/lookup', need: 'operator', payload: { msisdn: '+923001234567' } },
    { method: 'POST', url: '/subscribers/opt-out', need: 'operator', payload: { msisdn: '+923001234567', sender: '8555' } },
    { method: 'POST', url: '/subscribers/opt-out/remove', need: 'operator', payload: { msisdn: '+923001234567', sender: '8555' } },
    { method: 'POST', url: '/subscribers/consent', need: 'operator', payload: { msisdn: '+923001234567', tenant: 'acme' } },
    { method: 'POST', url: '/subscribers/consent/withdraw', need: 'operator', payload: { msisdn: '+923001234567', tenant: 'acme' } },
    { method: 'POST', url: '/subscribers/export', need: 'admin', payload: { msisdn: '+923001234567' } },
    { method: 'POST', url: '/subscribers/erase', need: 'admin', payload: { msisdn: '+923001234567' } },
  ] as const;
  const rank = { viewer: 0, operator: 1, admin: 2 } as const;
  const callers = [
    { name: 'no token', headers: {} as Record<string, string>, role: undefined },
    { name: 'bad token', headers: bearer('nope'), role: undefined },
    { name: 'malformed header', headers: { authorization: SECRETS.admin }, role: undefined },
    { name: 'viewer', headers: bearer(SECRETS.viewer), role: 'viewer' },
    { name: 'operator', headers: bearer(SECRETS.operator), role: 'operator' },
    { name: 'admin', headers: bearer(SECRETS.admin), role: 'admin' },
  ] as const;

  for (const route of routes) {
    for (const c of callers) {
      const want = c.role === undefined ? 401 : rank[c.role] >= rank[route.need] ? 200 : 403;
      test(`${route.method} ${route.url} as ${c.name} → ${want}`, async () => {
        const res = await b.app.inject({ method: route.method, url: route.url, headers: c.headers, remoteAddress: '127.0.0.1', ...('payload' in route ? { payload: route.payload } : {}) });
        assert.equal(res.statusCode, want, res.body);
        if (want === 401) assert.equal(res.headers['www-authenticate'], 'Bearer');
      });
    }
  }

  test('public routes need no token; undeclared and unknown routes are denied', async () => {
    for (const url of ['/livez', '/readyz']) {
      assert.equal((await b.app.inject({ url, remoteAddress: '127.0.0.1' })).statusCode, 200);
    }
    assert.equal((await b.app.inject({ url: '/debug', remoteAddress: '127.0.0.1', headers: bearer(SECRETS.admin) })).statusCode, 403);
    assert.equal((await b.app.inject({ url: '/nowhere', remoteAddress: '127.0.0.1' })).statusCode, 403);
  });

  test('subscriber routes: audit names the keyed hash, never the number; a bad number or scope is 400 without echoing it', async () => {
    const msisdn = '+923001234567';
    const res = await b.app.inject({ method: 'POST', url: '/subscribers/opt-out', headers: bearer(SECRETS.operator), remoteAddress: '127.0.0.1', payload: { msisdn, tenant: 'acme' } });
    assert.equal(res.statusCode, 200, res.body);
    const entries = await b.audit.range();
    const last = entries[entries.length - 1];
    assert.equal(last?.fields.action, 'subscriber.opt_out');
    assert.match(last?.fields.target ?? '', /^h1:/);
    assert.doesNotMatch(JSON.stringify(entries), /923001234567/);
    for (const payload of [{ msisdn: '12ab' }, { msisdn, sender: '8555', tenant: 'acme' }, { msisdn }]) {
      const bad = await b.app.inject({ method: 'POST', url: '/subscribers/opt-out', headers: bearer(SECRETS.operator), remoteAddress: '127.0.0.1', payload });
      assert.equal(bad.statusCode, 400, bad.body);
      assert.doesNotMatch(bad.body, /923001234567|12ab/);
    }
  });

  test('unknown carrier → 404, and nothing is audited for it', async () => {
    const before_ = (await b.audit.range()).length;
    const res = await b.app.inject({ method: 'POST', url: '/carriers/ufone/pause', headers: bearer(SECRETS.operator), remoteAddress: '127.0.0.1' });
    assert.equal(res.statusCode, 404);
    assert.equal((await b.audit.range()).length, before_);
  });
});

describe('client IP, allow-list and rate limits', () => {
  test('clientIp and allowed: pure cases (IPv4, IPv6, mapped, CIDR)', () => {
    assert.equal(clientIp('203.0.113.5', '127.0.0.1', ['10.0.0.0/8']), '203.0.113.5', 'untrusted peer: XFF ignored');
    assert.equal(clientIp('::ffff:10.0.0.1', '198.51.100.7, 10.0.0.2', ['10.0.0.0/8']), '198.51.100.7');
    assert.equal(clientIp('10.0.0.1', '2001:db8::1, ::ffff:10.9.9.9', ['10.0.0.0/8']), '2001:db8::1');
    assert.equal(clientIp('fd00::1', '192.0.2.4', ['fd00::/8']), '192.0.2.4');
    assert.equal(clientIp('10.0.0.1', '10.0.0.3, 10.0.0.2', ['10.0.0.0/8']), '10.0.0.3', 'all hops trusted: left-most');
    assert.equal(clientIp('10.0.0.1', 'garbage, 192.0.2.9', ['10.0.0.0/8']), '192.0.2.9');
    assert.equal(clientIp('10.0.0.1', 'garbage', ['10.0.0.0/8']), '10.0.0.1', 'malformed hop: stop at the proxy');
    assert.equal(clientIp('::ffff:127.0.0.1', undefined, []), '127.0.0.1');
    assert.ok(allowed('::ffff:127.0.0.1', []), 'empty allow-list = loopback');
    assert.ok(allowed('::1', []));
    assert.ok(!allowed('10.0.0.1', []));
    assert.ok(allowed('::ffff:10.1.2.3', ['10.0.0.0/8']));
    assert.ok(allowed('10.1.2.3', ['::ffff:10.0.0.0/104']));
    assert.ok(allowed('2001:db8::42', ['2001:db8::/32']));
    assert.ok(!allowed('2001:db9::42', ['2001:db8::/32']));
    assert.throws(() => allowed('1.2.3.4', ['1.2.3.0/33']));
    assert.equal(authenticate(`bearer ${SECRETS.viewer}`, TOKENS)?.id, 'vera');
    assert.equal(authenticate(`Bearer ${SECRETS.viewer}x`, TOKENS), undefined);
    assert.equal(authenticate(undefined, TOKENS), undefined);
  });

  test('IP not in the allow-list → 403, even with a valid token and a forged X-Forwarded-For', async () => {
    const { app } = await build({ allowList: ['203.0.113.0/24'] });
    try {
      const ok = await app.inject({ url: '/carriers', headers: bearer(SECRETS.viewer), remoteAddress: '203.0.113.9' });
      assert.equal(ok.statusCode, 200);
      const no = await app.inject({ url: '/carriers', headers: { ...bearer(SECRETS.admin), 'x-forwarded-for': '203.0.113.9' }, remoteAddress: '198.51.100.1' });
      assert.equal(no.statusCode, 403);
      assert.equal((await app.inject({ url: '/livez', remoteAddress: '127.0.0.1' })).statusCode, 403, 'the allow-list covers public routes');
    } finally {
      await app.close();
    }
  });

  test('per-IP limit: 429 with Retry-After at N+1, keyed on the socket when XFF comes from an untrusted peer', async () => {
    const { app } = await build({ allowList: ['0.0.0.0/0', '::/0'], trustedProxies: ['10.0.0.1'], rateLimit: { perIp: 3, perToken: 1000 } });
    try {
      const carriers = (socket: string, xff?: string) => app.inject({ url: '/carriers', headers: { ...bearer(SECRETS.viewer), ...(xff ? { 'x-forwarded-for': xff } : {}) }, remoteAddress: socket });
      for (let i = 0; i < 3; i++) assert.equal((await carriers('203.0.113.5', `192.0.2.${i}`)).statusCode, 200);
      const limited = await carriers('203.0.113.5', '192.0.2.99');
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json<{ code: string }>().code, 'rate_limited_ip');
      const retry = Number(limited.headers['retry-after']);
      assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `retry-after ${String(limited.headers['retry-after'])}`);
      // Another socket address has its own budget.
      assert.equal((await carriers('203.0.113.6')).statusCode, 200);
    } finally {
      await app.close();
    }
  });

  test('XFF from a trusted proxy is used: for the allow-list and for per-client limits', async () => {
    const { app } = await build({ allowList: ['203.0.113.0/24'], trustedProxies: ['10.0.0.0/8'], rateLimit: { perIp: 2, perToken: 1000 } });
    try {
      const via = (client: string) => app.inject({ url: '/carriers', headers: { ...bearer(SECRETS.viewer), 'x-forwarded-for': client }, remoteAddress: '::ffff:10.0.0.1' });
      assert.equal((await via('203.0.113.7')).statusCode, 200);
      assert.equal((await via('203.0.113.7, 10.0.0.5')).statusCode, 200, 'trusted hops are skipped');
      assert.equal((await via('203.0.113.7')).statusCode, 429);
      assert.equal((await via('203.0.113.8')).statusCode, 200, 'a different client behind the same proxy');
      assert.equal((await via('198.51.100.1')).statusCode, 403, 'a client outside the allow-list');
      assert.equal((await via('203.0.113.8, 198.51.100.1')).statusCode, 403, 'spoofed left-most hop does not help');
    } finally {
      await app.close();
    }
  });

  test('per-token limit: 429 with Retry-After at N+1', async () => {
    const { app } = await build({ rateLimit: { perIp: 1000, perToken: 2 } });
    try {
      const call = (t: string) => app.inject({ url: '/carriers', headers: bearer(t), remoteAddress: '127.0.0.1' });
      assert.equal((await call(SECRETS.viewer)).statusCode, 200);
      assert.equal((await call(SECRETS.viewer)).statusCode, 200);
      const res = await call(SECRETS.viewer);
      assert.equal(res.statusCode, 429);
      assert.ok(Number(res.headers['retry-after']) >= 1);
      assert.equal((await call(SECRETS.operator)).statusCode, 200, 'another token has its own budget');
    } finally {
      await app.close();
    }
  });
});

describe('audit trail', () => {
  test('mutating calls are audited before the 200; the chain verifies; GET /audit pages', async () => {
    const { app, audit, paused } = await build();
    try {
      const post = (url: string, t: string) => app.inject({ method: 'POST', url, headers: bearer(t), remoteAddress: '127.0.0.1' });
      assert.equal((await post('/carriers/jazz/pause', SECRETS.operator)).statusCode, 200);
      assert.ok(paused.has('jazz'));
      assert.equal((await post('/carriers/jazz/resume', SECRETS.admin)).statusCode, 200);
      const reload = await post('/routes/reload', SECRETS.admin);
      assert.equal(reload.statusCode, 200);
      assert.equal(reload.json<{ version: string }>().version, 'v2');
      const entries = await audit.range();
      assert.deepEqual(
        entries.map((e) => [e.fields.actor, e.fields.role, e.fields.action, e.fields.target]),
        [
          ['omar', 'operator', 'carrier.pause', 'jazz'],
          ['ayesha', 'admin', 'carrier.resume', 'jazz'],
          ['ayesha', 'admin', 'routes.reload', undefined],
        ],
      );
      assert.equal(entries[0]?.fields.prev, GENESIS);
      assert.deepEqual(await audit.verify(), { ok: true, entries: 3, head: { id: entries[2]?.id, hash: entries[2]?.fields.hash } });

      const page = await app.inject({ url: `/audit?from=(${entries[0]?.id ?? ''}&count=1`, headers: bearer(SECRETS.admin), remoteAddress: '127.0.0.1' });
      assert.equal(page.statusCode, 200);
      const body = page.json<{ entries: { id: string; action: string }[] }>();
      assert.deepEqual(
        body.entries.map((e) => e.action),
        ['carrier.resume'],
      );
      const bad = await app.inject({ url: '/audit?count=0', headers: bearer(SECRETS.admin), remoteAddress: '127.0.0.1' });
      assert.equal(bad.statusCode, 400);
    } finally {
      await app.close();
    }
  });

  test('invalid routes on reload → 400 routes_invalid naming each problem by key, without the file path; not audited', async () => {
    const file = '/etc/qasid/routes.json';
    const reload = () => compileRoutes({ version: 1, routes: [{ id: 'all', carriers: [{ id: 'ufone' }] }] }, ['jazz', 'zong'], { file });
    const { app, audit, lines } = await build({}, { reload });
    try {
      const res = await app.inject({ method: 'POST', url: '/routes/reload', headers: bearer(SECRETS.admin), remoteAddress: '127.0.0.1' });
      assert.equal(res.statusCode, 400);
      const body = res.json<{ code: string; error: string; problems: Array<{ key: string; message: string }> }>();
      assert.equal(body.code, 'routes_invalid');
      assert.deepEqual(body.problems.map((p) => p.key), ['routes[0].carriers[0].id']);
      assert.match(body.problems[0]?.message ?? '', /unknown carrier 'ufone'/);
      assert.ok(!res.body.includes('/etc'), res.body);
      assert.equal((await audit.range()).length, 0);
      const logged = lines.filter((l) => l.event === 'routes.reload_failed');
      assert.equal(logged.length, 1);
      assert.match(String(logged[0]?.err), /\/etc\/qasid\/routes\.json/, 'the log keeps the file');
      assert.equal(logged[0]?.actor, 'ayesha');
    } finally {
      await app.close();
    }
  });

  test('concurrent appends from one process keep the chain intact; a new instance continues it', async () => {
    const key = `${prefix()}:audit`;
    const a = new AuditLog(redis.client, key);
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.append({ actor: 'x', role: 'admin', action: 'test', detail: { i, nested: { b: 1, a: [2, 3] } } })));
    await new AuditLog(redis.client, key).append({ actor: 'y', role: 'admin', action: 'test' });
    const v = await a.verify();
    assert.ok(v.ok && v.entries === 51 && v.head?.id === (await a.range('-', 100)).at(-1)?.id, JSON.stringify(v));
  });

  async function seeded(n: number): Promise<{ key: string; prefix: string; log: AuditLog; ids: string[] }> {
    const p = prefix();
    const key = `${p}:audit`;
    const log = new AuditLog(redis.client, key);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await log.append({ actor: 'omar', role: 'operator', action: 'carrier.pause', target: `c${i}` }));
    return { key, prefix: p, log, ids };
  }

  function capture(): { io: CliIo; out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (s) => out.push(s), err: (s) => err.push(s), env: {} }, out, err };
  }

  async function cli(p: string): Promise<{ code: number; text: string }> {
    const c = capture();
    const code = await auditCommand(['verify', '--redis', redis.url, '--prefix', p], c.io);
    return { code, text: [...c.out, ...c.err].join('\n') };
  }

  test('intact chain: auditCommand exits 0', async () => {
    const s = await seeded(4);
    const res = await cli(s.prefix);
    assert.equal(res.code, 0, res.text);
    assert.equal(res.text, `ok: 4 entries, chain intact, head ${s.ids[3] ?? ''}`);
    const empty = await cli(prefix());
    assert.equal(empty.code, 0);
    assert.equal(empty.text, 'ok: 0 entries, chain intact');
  });

  test('XDEL of a middle entry is caught at the entry after it', async () => {
    const s = await seeded(5);
    await redis.client.xdel(s.key, s.ids[2] as string);
    const v = await s.log.verify();
    assert.equal(v.ok, false);
    assert.ok(!v.ok && v.firstBroken === s.ids[3] && v.entries === 2, JSON.stringify(v));
    const res = await cli(s.prefix);
    assert.equal(res.code, 1);
    assert.match(res.text, new RegExp(`^broken at ${s.ids[3] ?? ''}: `));
  });

  test('XADD of a forged entry with a wrong prev is caught at that entry', async () => {
    const s = await seeded(3);
    const forged = await redis.client.xadd(s.key, '*', 'time', new Date().toISOString(), 'actor', 'mallory', 'role', 'admin', 'action', 'routes.reload', 'prev', GENESIS, 'hash', 'f'.repeat(64));
    const v = await s.log.verify();
    assert.ok(!v.ok && v.firstBroken === forged, JSON.stringify(v));
    const res = await cli(s.prefix);
    assert.equal(res.code, 1);
    assert.match(res.text, new RegExp(`^broken at ${forged ?? ''}: `));
  });

  test('a forged entry with the right prev but a made-up hash is caught', async () => {
    const s = await seeded(2);
    const last = await s.log.range(`(${s.ids[0] ?? ''}`, 1);
    const forged = await redis.client.xadd(s.key, '*', 'time', new Date().toISOString(), 'actor', 'mallory', 'role', 'admin', 'action', 'x', 'prev', last[0]?.fields.hash ?? '', 'hash', 'a'.repeat(64));
    const v = await s.log.verify();
    assert.ok(!v.ok && v.firstBroken === forged && /hash does not match/.test(v.reason), JSON.stringify(v));
  });

  test('an edited entry (deleted and re-added with a changed field) is caught', async () => {
    const s = await seeded(4);
    const [row] = await redis.client.xrange(s.key, s.ids[1] as string, s.ids[1] as string);
    assert.ok(row);
    const fields = row[1].slice();
    fields[fields.indexOf('actor') + 1] = 'someone-else';
    await redis.client.xdel(s.key, s.ids[1] as string);
    await redis.client.xadd(s.key, '*', ...fields);
    const v = await s.log.verify();
    assert.ok(!v.ok && v.firstBroken === s.ids[2], JSON.stringify(v));
  });
});

describe('error bodies: a catalogued code, no host file path, the detail in the log', () => {
  /** A file path of this host, as it would appear in a message: the body must hold no such thing. */
  const HOST_PATH = /["'\s(=:,[]\/(?!\/)[\w.-]/;

  const cases: Array<{
    code: AdminErrorCode;
    sec?: Partial<SecurityOptions>;
    fakes?: Fakes;
    /** Requests before the one answered `code` (they pass). */
    warmup?: number;
    req: { method?: 'GET' | 'POST'; url: string; headers?: Record<string, string>; payload?: unknown; remoteAddress?: string };
    /** A log line with this event must name this text (the detail the body leaves out). */
    logged?: { event: string; has: string };
  }> = [
    { code: 'not_allowed', req: { url: '/carriers', headers: bearer(SECRETS.viewer), remoteAddress: '198.51.100.1' } },
    { code: 'rate_limited_ip', sec: { rateLimit: { perIp: 1, perToken: 1000 } }, warmup: 1, req: { url: '/carriers', headers: bearer(SECRETS.viewer) } },
    { code: 'rate_limited_token', sec: { rateLimit: { perIp: 1000, perToken: 1 } }, warmup: 1, req: { url: '/carriers', headers: bearer(SECRETS.viewer) } },
    { code: 'no_token', req: { url: '/carriers' } },
    { code: 'bad_token', req: { url: '/carriers', headers: bearer('nope') } },
    { code: 'insufficient_role', req: { method: 'POST', url: '/routes/reload', headers: bearer(SECRETS.viewer) } },
    { code: 'undeclared_route', req: { url: '/debug', headers: bearer(SECRETS.admin) } },
    { code: 'unknown_carrier', req: { method: 'POST', url: '/carriers/ufone/pause', headers: bearer(SECRETS.operator) } },
    { code: 'bad_request', req: { url: '/audit?count=0', headers: bearer(SECRETS.admin) } },
    { code: 'bad_request', req: { method: 'POST', url: '/subscribers/lookup', headers: bearer(SECRETS.operator), payload: { number: '+923001234567' } } },
    { code: 'bad_request', req: { method: 'POST', url: '/subscribers/lookup', headers: { ...bearer(SECRETS.operator), 'content-type': 'application/json' }, payload: '{"msisdn": "+9230012' } },
    { code: 'bad_number', req: { method: 'POST', url: '/subscribers/lookup', headers: bearer(SECRETS.operator), payload: { msisdn: '12ab' } } },
    {
      code: 'routes_invalid',
      fakes: {
        reload: () => {
          throw new QasidError('CONFIG_INVALID', "routes.file /srv/qasid/routes.json: ENOENT: no such file or directory, open '/srv/qasid/routes.json'", { key: 'routes.file' });
        },
      },
      req: { method: 'POST', url: '/routes/reload', headers: bearer(SECRETS.admin) },
      logged: { event: 'routes.reload_failed', has: '/srv/qasid/routes.json' },
    },
    {
      code: 'carriers_invalid',
      fakes: {
        reloadCarriers: () =>
          Promise.reject(new QasidError('CONFIG_INVALID', 'configuration invalid (/etc/qasid/qasid.json)', { file: '/etc/qasid/qasid.json', problems: [{ key: 'carriers[1].tps', message: 'must be >= 1' }] })),
      },
      req: { method: 'POST', url: '/carriers/reload', headers: bearer(SECRETS.admin) },
      logged: { event: 'carriers.reload_failed', has: '/etc/qasid/qasid.json' },
    },
    { code: 'body_too_large', req: { method: 'POST', url: '/subscribers/lookup', headers: bearer(SECRETS.operator), payload: { msisdn: 'x'.repeat(1_100_000) } } },
    { code: 'unsupported_media_type', req: { method: 'POST', url: '/subscribers/lookup', headers: { ...bearer(SECRETS.operator), 'content-type': 'text/xml' }, payload: '<msisdn/>' } },
    {
      code: 'internal_error',
      fakes: { subscribers: { export: () => Promise.reject(new Error("EACCES: permission denied, open '/var/lib/qasid/export.tmp'")) } },
      req: { method: 'POST', url: '/subscribers/export', headers: bearer(SECRETS.admin), payload: { msisdn: '+923001234567' } },
      logged: { event: 'admin.request_failed', has: '/var/lib/qasid/export.tmp' },
    },
    {
      code: 'internal_error',
      fakes: { subscribers: { lookup: () => Promise.reject(new QasidError('CONFIG_INVALID', 'privacy.keyringFile /run/secrets/qasid-keyring: keyring is not valid JSON')) } },
      req: { method: 'POST', url: '/subscribers/lookup', headers: bearer(SECRETS.operator), payload: { msisdn: '+923001234567' } },
      logged: { event: 'admin.request_failed', has: '/run/secrets/qasid-keyring' },
    },
  ];

  const seen = new Set<string>();
  for (const c of cases) {
    const status = ADMIN_ERRORS[c.code].status;
    test(`${c.code}: ${c.req.method ?? 'GET'} ${c.req.url} → ${status} { code: "${c.code}" }`, async () => {
      const b = await build({ ...c.sec }, c.fakes);
      try {
        const inject = () => b.app.inject({ method: c.req.method ?? 'GET', url: c.req.url, headers: c.req.headers ?? {}, remoteAddress: c.req.remoteAddress ?? '127.0.0.1', ...(c.req.payload === undefined ? {} : { payload: c.req.payload as string }) });
        for (let i = 0; i < (c.warmup ?? 0); i++) assert.equal((await inject()).statusCode, 200);
        const res = await inject();
        assert.equal(res.statusCode, status, res.body);
        const body = res.json<{ code: string; error: string }>();
        assert.equal(body.code, c.code);
        assert.equal(typeof body.error, 'string');
        assert.ok(body.error.length > 0);
        assert.doesNotMatch(res.body, HOST_PATH, 'no file path of the host in the answer');
        assert.doesNotMatch(res.body, /923001234567|12ab/, 'the number is not echoed');
        if (c.logged !== undefined) {
          const line = b.lines.find((l) => l.event === c.logged?.event);
          assert.ok(line !== undefined, JSON.stringify(b.lines));
          assert.equal(line.level, 'error');
          assert.ok(JSON.stringify(line).includes(c.logged.has), 'the log line keeps the detail');
        }
        seen.add(c.code);
      } finally {
        await b.app.close();
      }
    });
  }

  test('every catalogued code is answered above, and every denial reason is a code with the same status', () => {
    assert.deepEqual([...seen].sort(), Object.keys(ADMIN_ERRORS).sort());
    for (const reason of DENIAL_REASONS) assert.ok(reason in ADMIN_ERRORS, reason);
  });

  test('withoutPaths: absolute paths, file URLs and drive paths become <path>; keys and rates stay', () => {
    assert.equal(withoutPaths("routes.file /tmp/qasid-x1/routes.json: ENOENT, open '/tmp/qasid-x1/routes.json'"), "routes.file <path>: ENOENT, open '<path>'");
    assert.equal(withoutPaths('at file:///app/dist/app.js:12 (C:\\qasid\\routes.json)'), 'at <path>:12 (<path>)');
    assert.equal(withoutPaths('routes[0].carriers[0].id: unknown carrier "ufone"; body/msisdn must be string; 5/s'), 'routes[0].carriers[0].id: unknown carrier "ufone"; body/msisdn must be string; 5/s');
  });
});

describe('the daemon: POST /routes/reload with a broken routes file', () => {
  test('400 routes_invalid naming the problem by key, never the file path; the log line has the path', async () => {
    const s = await startSimulator({ port: 0 });
    const cleanups: Array<() => Promise<void>> = [];
    const dir = mkdtempSync(join(tmpdir(), 'qasid-admin-routes-'));
    try {
      const file = join(dir, 'routes.json');
      writeFileSync(file, JSON.stringify({ version: 1, routes: [{ id: 'default', carriers: [{ id: 'jazz' }] }] }));
      const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { admin: { port: 0, tokens: TOKENS }, routes: { file } });
      const { app, lines } = await startGateway(redis.url, config, cleanups);
      const reload = () => fetch(`http://127.0.0.1:${app.admin.port}/routes/reload`, { method: 'POST', headers: bearer(SECRETS.admin) });
      const good = await reload();
      assert.equal(good.status, 200, await good.text());

      for (const [what, content, key] of [
        ['an unknown carrier', JSON.stringify({ version: 1, routes: [{ id: 'default', carriers: [{ id: 'ufone' }] }] }), 'routes[0].carriers[0].id'],
        ['not JSON', '{"version": 1, "routes": [', 'routes.file'],
        ['no file at all', undefined, 'routes.file'],
      ] as const) {
        if (content === undefined) rmSync(file);
        else writeFileSync(file, content);
        const res = await reload();
        const text = await res.text();
        assert.equal(res.status, 400, `${what}: ${text}`);
        const body = JSON.parse(text) as { code: string; error: string; problems: Array<{ key: string; message: string }> };
        assert.equal(body.code, 'routes_invalid', what);
        assert.deepEqual(body.problems.map((p) => p.key), [key], what);
        assert.ok(!text.includes(dir) && !text.includes(tmpdir()), `${what}: the answer names the file: ${text}`);
        assert.doesNotMatch(text, /["'\s(=:,[]\/(?!\/)[\w.-]/, `${what}: a file path in the answer`);
      }
      const failed = lines.filter((l) => l.event === 'routes.reload_failed');
      assert.equal(failed.length, 3);
      for (const l of failed) assert.ok(JSON.stringify(l).includes(file), `the log line names the file: ${JSON.stringify(l)}`);
    } finally {
      for (const c of cleanups.reverse()) await c();
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
