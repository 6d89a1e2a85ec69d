/**
 * The health probes and the scrape (/livez, /readyz, /metrics) draw on no admin rate limit:
 * however many come from one address, they answer, while the admin API from that same
 * address is still cut off at its limit; and they still answer only the allow-list.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { AuditLog } from '../../src/admin/audit.js';
import { hashToken, registerSecurity, type ApiToken } from '../../src/admin/auth.js';
import type { Denial } from '../../src/admin/denials.js';
import { registerAdminRoutes } from '../../src/admin/routes.js';
import { AdminServer } from '../../src/admin/server.js';
import { captureLogger } from '../../src/log/logger.js';
import { redisClientForFile } from '../helpers/redis.js';
import { fakeSubscriberAdmin } from '../helpers/subscribers.js';

const redis = redisClientForFile();

const SECRET = 'viewer-probe-secret';
const TOKENS: ApiToken[] = [{ id: 'vera', sha256: hashToken(SECRET), role: 'viewer' }];
const bearer = { authorization: `Bearer ${SECRET}` };
const audit = (): AuditLog => new AuditLog(redis.client, `t${randomBytes(4).toString('hex')}:audit`);

describe('probes and the scrape are exempt from the rate limits', () => {
  test('1,000 of each from one address in a minute that never refills all answer; the admin API from it still gets 429 after its 600', async () => {
    const denials: Denial[] = [];
    const app = Fastify({ logger: false });
    // The default limits, on a clock that stands still: nothing refills during the test.
    registerSecurity(app, { tokens: TOKENS, allowList: ['127.0.0.1/32'], trustedProxies: [], rateLimit: { perIp: 600, perToken: 600 }, clock: { now: () => 0 }, onDenied: (d) => denials.push(d) });
    let ready = false;
    app.get('/livez', async () => ({ ok: true }));
    app.get('/readyz', async (_req, reply) => reply.code(ready ? 200 : 503).send({ ready }));
    app.get('/metrics', async () => 'qasid_up 1\n');
    registerAdminRoutes(app, { health: () => ({}), pauseCarrier: () => true, resumeCarrier: () => true, reloadRoutes: () => ({}), audit: audit(), subscribers: fakeSubscriberAdmin() });
    await app.ready();
    try {
      const statuses = new Map<string, number>();
      const tally = (key: string) => statuses.set(key, (statuses.get(key) ?? 0) + 1);
      for (let i = 0; i < 1000; i++) {
        if (i === 500) ready = true;
        for (const [method, url] of [['GET', '/livez'], ['HEAD', '/livez'], ['GET', '/readyz'], ['GET', '/metrics']] as const) {
          const res = await app.inject({ method, url, remoteAddress: '127.0.0.1' });
          tally(`${method} ${url} ${res.statusCode}`);
        }
      }
      assert.deepEqual(Object.fromEntries(statuses), {
        'GET /livez 200': 1000,
        'HEAD /livez 200': 1000,
        'GET /readyz 503': 500,
        'GET /readyz 200': 500,
        'GET /metrics 200': 1000,
      });
      assert.equal(denials.length, 0, 'no probe was denied');

      // The 4,000 probes used none of the address's budget: the admin API gets all 600, then 429.
      let passed = 0;
      let res = await app.inject({ url: '/carriers', headers: bearer, remoteAddress: '127.0.0.1' });
      while (res.statusCode === 200 && passed < 1000) {
        passed++;
        res = await app.inject({ url: '/carriers', headers: bearer, remoteAddress: '127.0.0.1' });
      }
      assert.equal(passed, 600);
      assert.equal(res.statusCode, 429);
      assert.deepEqual(denials.map((d) => [d.reason, d.route]), [['rate_limited_ip', '/carriers']]);
      // Probes keep answering while the address is over its limit.
      assert.equal((await app.inject({ url: '/livez', remoteAddress: '127.0.0.1' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/readyz', remoteAddress: '127.0.0.1' })).statusCode, 200);
      // Default deny still counts against the limit: an unknown path is not a probe.
      assert.equal((await app.inject({ url: '/livez/x', remoteAddress: '127.0.0.1' })).statusCode, 429);
      // The allow-list still covers the probes.
      const outside = await app.inject({ url: '/livez', remoteAddress: '198.51.100.7' });
      assert.equal(outside.statusCode, 403);
      assert.equal(denials.at(-1)?.reason, 'not_allowed');
    } finally {
      await app.close();
    }
  });

  test('the admin server over HTTP: probes past the limit answer, /metrics renders once for concurrent scrapes, the admin API is limited', async () => {
    const { logger } = captureLogger('warn');
    let phase: 'starting' | 'ready' | 'draining' = 'starting';
    let renders = 0;
    const server = new AdminServer({
      host: '127.0.0.1',
      port: 0,
      logger,
      security: { tokens: TOKENS, allowList: ['127.0.0.1/32'], trustedProxies: [], rateLimit: { perIp: 5, perToken: 1000 } },
      routes: { health: () => ({}), pauseCarrier: () => false, resumeCarrier: () => false, reloadRoutes: () => ({}), audit: audit(), subscribers: fakeSubscriberAdmin() },
      phase: () => phase,
      checks: () => ({ redis: true }),
      metrics: async () => {
        renders++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { body: 'qasid_up 1\n', contentType: 'text/plain; version=0.0.4' };
      },
    });
    await server.start();
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const get = async (path: string, headers: Record<string, string> = {}): Promise<number> => {
        const res = await fetch(`${base}${path}`, { headers });
        await res.arrayBuffer();
        return res.status;
      };
      const counts = async (path: string, n: number): Promise<Record<number, number>> => {
        const out: Record<number, number> = {};
        for (let i = 0; i < n; i++) {
          const s = await get(path);
          out[s] = (out[s] ?? 0) + 1;
        }
        return out;
      };
      assert.deepEqual(await counts('/livez', 50), { 200: 50 });
      assert.deepEqual(await counts('/readyz', 50), { 503: 50 });
      phase = 'ready';
      assert.deepEqual(await counts('/readyz', 50), { 200: 50 });
      assert.deepEqual(await counts('/metrics', 10), { 200: 10 });
      assert.equal(renders, 10, 'one render a scrape, one after the other');

      const together = await Promise.all(Array.from({ length: 20 }, () => get('/metrics')));
      assert.deepEqual(together, Array(20).fill(200));
      assert.ok(renders - 10 <= 2, `${renders - 10} renders for 20 concurrent scrapes`);

      const api = [];
      for (let i = 0; i < 6; i++) api.push(await get('/carriers', bearer));
      assert.deepEqual(api, [200, 200, 200, 200, 200, 429]);
      assert.equal(await get('/livez'), 200);
    } finally {
      await server.stop();
    }
  });
});
