/**
 * The admin access log's hook (admin/access.ts) over fastify's inject(), and the CLI's
 * --since and columns (cli/audit.ts). No sockets, no Redis: the lines go to an array.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerAccessLog } from '../../src/admin/access.js';
import { hashToken, registerSecurity } from '../../src/admin/auth.js';
import { accessRow, parseSince } from '../../src/cli/audit.js';
import type { AccessLine } from '../../src/queue/access.js';

async function build(probes: boolean): Promise<{ app: FastifyInstance; lines: AccessLine[] }> {
  const lines: AccessLine[] = [];
  const app = Fastify({ logger: false });
  registerSecurity(app, {
    tokens: [{ id: 'vera', sha256: hashToken('viewer-token'), role: 'viewer' }],
    allowList: ['127.0.0.1', '10.0.0.0/8'],
    trustedProxies: ['10.0.0.1'],
    rateLimit: { perIp: 1_000, perToken: 1_000 },
  });
  registerAccessLog(app, { record: (l) => lines.push(l), probes, now: () => Date.parse('2026-12-01T09:00:00Z') });
  app.get('/livez', async () => ({ ok: true }));
  app.get('/carriers', { config: { role: 'viewer' } }, async () => ({ carriers: [] }));
  await app.ready();
  return { app, lines };
}

test('probes are left out unless asked for; a denied probe is written either way', async () => {
  const { app, lines } = await build(false);
  assert.equal((await app.inject({ url: '/livez', remoteAddress: '127.0.0.1' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/livez', remoteAddress: '192.0.2.7' })).statusCode, 403);
  assert.deepEqual(lines.map((l) => [l.route, l.status, l.address, l.denied]), [['/livez', 403, '192.0.2.7', 'not_allowed']]);
  const withProbes = await build(true);
  await withProbes.app.inject({ url: '/livez', remoteAddress: '127.0.0.1' });
  assert.deepEqual(withProbes.lines.map((l) => [l.route, l.status, l.role]), [['/livez', 200, 'none']]);
});

test('a line: the route pattern, role and token id, the client behind a trusted proxy, status and latency; nothing of the query or headers', async () => {
  const { app, lines } = await build(false);
  await app.inject({ url: '/carriers?msisdn=03001234567', remoteAddress: '10.0.0.1', headers: { authorization: 'Bearer viewer-token', 'x-forwarded-for': '10.1.2.3' } });
  const [line] = lines;
  assert.ok(line);
  assert.equal(line.at, '2026-12-01T09:00:00.000Z');
  assert.deepEqual({ ...line, latencyMs: 0 }, { at: line.at, method: 'GET', route: '/carriers', role: 'viewer', actor: 'vera', address: '10.1.2.3', status: 200, latencyMs: 0 });
  assert.ok(line.latencyMs >= 0);
  assert.ok(!JSON.stringify(lines).includes('viewer-token') && !JSON.stringify(lines).includes('1234567'));
});

test('--since: a duration back from now or an ISO time; anything else is refused', () => {
  const now = Date.parse('2026-12-01T12:00:00Z');
  assert.equal(parseSince('15m', now), now - 15 * 60_000);
  assert.equal(parseSince('1h30m', now), now - 90 * 60_000);
  assert.equal(parseSince('7d', now), now - 7 * 86_400_000);
  assert.equal(parseSince('2w', now), now - 14 * 86_400_000);
  assert.equal(parseSince('45s', now), now - 45_000);
  assert.equal(parseSince('2026-12-01T09:00:00Z', now), Date.parse('2026-12-01T09:00:00Z'));
  assert.equal(parseSince('2026-12-01', now), Date.parse('2026-12-01'));
  for (const bad of ['yesterday', '15', 'm15', '1.5h', '', '12:00']) assert.throws(() => parseSince(bad, now), /neither a duration/, bad);
});

test('the columns of qasid audit access', () => {
  const row = accessRow({ id: '1-0', at: '2026-12-01T09:00:00.000Z', method: 'GET', route: '/audit', role: 'viewer', actor: 'vera', address: '127.0.0.1', status: 403, latencyMs: 0.4, denied: 'insufficient_role' });
  assert.equal(row, '2026-12-01T09:00:00.000Z  GET     /audit                        403      0.4 ms  viewer    vera          127.0.0.1  denied insufficient_role');
});
