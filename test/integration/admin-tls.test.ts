/** The admin server over HTTPS when configured, and readiness by lifecycle phase. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { AdminServer } from '../../src/admin/server.js';
import { fakeSubscriberAdmin } from '../helpers/subscribers.js';
import { AuditLog } from '../../src/admin/audit.js';
import { silentLogger } from '../../src/log/logger.js';

const tlsFile = (f: string): Buffer => readFileSync(fileURLToPath(new URL(`../fixtures/tls/${f}`, import.meta.url)));

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, ca: tlsFile('ca.pem'), servername: 'localhost' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

test('admin over HTTPS with the configured certificate; /readyz is 503 while starting and draining', async (t) => {
  let phase: 'starting' | 'ready' | 'draining' = 'starting';
  // Never connected: the routes under test do not touch Redis.
  const redis = new Redis({ lazyConnect: true });
  const server = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    tls: { key: tlsFile('server.key'), cert: tlsFile('server.pem') },
    logger: silentLogger(),
    security: { tokens: [], allowList: ['127.0.0.1/32'], trustedProxies: [], rateLimit: { perIp: 100, perToken: 100 } },
    routes: { health: () => ({}), pauseCarrier: () => false, resumeCarrier: () => false, reloadRoutes: () => ({}), audit: new AuditLog(redis, 'x:audit'), subscribers: fakeSubscriberAdmin() },
    phase: () => phase,
    metrics: async () => ({ body: '', contentType: 'text/plain' }),
  });
  await server.start();
  t.after(() => server.stop());
  assert.equal(await get(server.port, '/livez'), 200);
  assert.equal(await get(server.port, '/readyz'), 503);
  phase = 'ready';
  assert.equal(await get(server.port, '/readyz'), 200);
  phase = 'draining';
  assert.equal(await get(server.port, '/readyz'), 503);
  // Plain HTTP to an HTTPS port gets no answer it could mistake for success.
  await assert.rejects(fetch(`http://127.0.0.1:${server.port}/livez`).then((r) => assert.notEqual(r.status, 200)));
});
