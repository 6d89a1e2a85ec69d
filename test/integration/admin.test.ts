/**
 * Admin API security and audit trail against a real redis-server: role matrix, client IP
 * behind proxies, allow-list, rate limits, and tamper detection of the audit chain
 * (AuditLog.verify and `qasid audit verify`).
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { AuditLog, GENESIS } from '../../src/admin/audit.js';
import { allowed, authenticate, clientIp, hashToken, registerSecurity, type ApiToken, type SecurityOptions } from '../../src/admin/auth.js';
import { registerAdminRoutes } from '../../src/admin/routes.js';
import { auditCommand } from '../../src/cli/audit.js';
import type { CliIo } from '../../src/cli/send.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { fakeSubscriberAdmin } from '../helpers/subscribers.js';

let redis: TestRedis;
let r: Redis;

before(async () => {
  redis = await startRedis();
  r = new Redis(redis.url);
});

after(async () => {
  r?.disconnect();
  await redis?.stop();
});

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
}

async function build(sec: Partial<SecurityOptions> = {}, reloadError?: string): Promise<Built> {
  const app = Fastify({ logger: false });
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
  const audit = new AuditLog(r, `${prefix()}:audit`);
  const carriers = new Set(['jazz', 'zong']);
  const paused = new Set<string>();
  registerAdminRoutes(app, {
    health: () => ({ carriers: [...carriers].map((id) => ({ id, paused: paused.has(id) })) }),
    pauseCarrier: (id) => carriers.has(id) && (paused.add(id), true),
    resumeCarrier: (id) => carriers.has(id) && paused.delete(id) !== undefined,
    reloadRoutes: () => {
      if (reloadError !== undefined) throw new Error(reloadError);
      return { version: 'v2' };
    },
    audit,
    subscribers: fakeSubscriberAdmin(),
  });
  await app.ready();
  return { app, audit, paused };
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
      for (let i = 0; i < 3; i++) {
        const res = await app.inject({ url: '/livez', headers: { 'x-forwarded-for': `192.0.2.${i}` }, remoteAddress: '203.0.113.5' });
        assert.equal(res.statusCode, 200);
      }
      const limited = await app.inject({ url: '/livez', headers: { 'x-forwarded-for': '192.0.2.99' }, remoteAddress: '203.0.113.5' });
      assert.equal(limited.statusCode, 429);
      const retry = Number(limited.headers['retry-after']);
      assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `retry-after ${String(limited.headers['retry-after'])}`);
      // Another socket address has its own budget.
      assert.equal((await app.inject({ url: '/livez', remoteAddress: '203.0.113.6' })).statusCode, 200);
    } finally {
      await app.close();
    }
  });

  test('XFF from a trusted proxy is used: for the allow-list and for per-client limits', async () => {
    const { app } = await build({ allowList: ['203.0.113.0/24'], trustedProxies: ['10.0.0.0/8'], rateLimit: { perIp: 2, perToken: 1000 } });
    try {
      const via = (client: string) => app.inject({ url: '/livez', headers: { 'x-forwarded-for': client }, remoteAddress: '::ffff:10.0.0.1' });
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
      assert.deepEqual(await audit.verify(), { ok: true, entries: 3 });

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

  test('invalid routes on reload → 400 with the message, not audited', async () => {
    const { app, audit } = await build({}, 'route 3: unknown carrier "ufone"');
    try {
      const res = await app.inject({ method: 'POST', url: '/routes/reload', headers: bearer(SECRETS.admin), remoteAddress: '127.0.0.1' });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<{ error: string }>().error, 'route 3: unknown carrier "ufone"');
      assert.equal((await audit.range()).length, 0);
    } finally {
      await app.close();
    }
  });

  test('concurrent appends from one process keep the chain intact; a new instance continues it', async () => {
    const key = `${prefix()}:audit`;
    const a = new AuditLog(r, key);
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.append({ actor: 'x', role: 'admin', action: 'test', detail: { i, nested: { b: 1, a: [2, 3] } } })));
    await new AuditLog(r, key).append({ actor: 'y', role: 'admin', action: 'test' });
    assert.deepEqual(await a.verify(), { ok: true, entries: 51 });
  });

  async function seeded(n: number): Promise<{ key: string; prefix: string; log: AuditLog; ids: string[] }> {
    const p = prefix();
    const key = `${p}:audit`;
    const log = new AuditLog(r, key);
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
    assert.equal(res.text, 'ok: 4 entries, chain intact');
    const empty = await cli(prefix());
    assert.equal(empty.code, 0);
    assert.equal(empty.text, 'ok: 0 entries, chain intact');
  });

  test('XDEL of a middle entry is caught at the entry after it', async () => {
    const s = await seeded(5);
    await r.xdel(s.key, s.ids[2] as string);
    const v = await s.log.verify();
    assert.equal(v.ok, false);
    assert.ok(!v.ok && v.firstBroken === s.ids[3] && v.entries === 2, JSON.stringify(v));
    const res = await cli(s.prefix);
    assert.equal(res.code, 1);
    assert.match(res.text, new RegExp(`^broken at ${s.ids[3] ?? ''}: `));
  });

  test('XADD of a forged entry with a wrong prev is caught at that entry', async () => {
    const s = await seeded(3);
    const forged = await r.xadd(s.key, '*', 'time', new Date().toISOString(), 'actor', 'mallory', 'role', 'admin', 'action', 'routes.reload', 'prev', GENESIS, 'hash', 'f'.repeat(64));
    const v = await s.log.verify();
    assert.ok(!v.ok && v.firstBroken === forged, JSON.stringify(v));
    const res = await cli(s.prefix);
    assert.equal(res.code, 1);
    assert.match(res.text, new RegExp(`^broken at ${forged ?? ''}: `));
  });

  test('a forged entry with the right prev but a made-up hash is caught', async () => {
    const s = await seeded(2);
    const last = await s.log.range(`(${s.ids[0] ?? ''}`, 1);
    const forged = await r.xadd(s.key, '*', 'time', new Date().toISOString(), 'actor', 'mallory', 'role', 'admin', 'action', 'x', 'prev', last[0]?.fields.hash ?? '', 'hash', 'a'.repeat(64));
    const v = await s.log.verify();
    assert.ok(!v.ok && v.firstBroken === forged && /hash does not match/.test(v.reason), JSON.stringify(v));
  });

  test('an edited entry (deleted and re-added with a changed field) is caught', async () => {
    const s = await seeded(4);
    const [row] = await r.xrange(s.key, s.ids[1] as string, s.ids[1] as string);
    assert.ok(row);
    const fields = row[1].slice();
    fields[fields.indexOf('actor') + 1] = 'someone-else';
    await r.xdel(s.key, s.ids[1] as string);
    await r.xadd(s.key, '*', ...fields);
    const v = await s.log.verify();
    assert.ok(!v.ok && v.firstBroken === s.ids[2], JSON.stringify(v));
  });
});
