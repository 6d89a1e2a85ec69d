/**
 * The audit trail against a real redis-server and a whole gateway: every privileged
 * action — subscriber lookup, export, erasure, opt-out and consent changes, carrier pause
 * and resume, route and key reloads (admin API and SIGHUP), the breach report, key
 * rotation (start, progress, end), DNC import, token creation, revocation and the changes
 * to admin.tokens a start finds, and denied requests — leaves an entry; and a cut of the
 * newest entries (XDEL of the last ones, XTRIM of all) is found by `audit verify`, through
 * the head key and through a head kept in the log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, GENESIS, type AuditEntry } from '../../src/admin/audit.js';
import { AuditHeadLog } from '../../src/admin/audit-head.js';
import { hashToken } from '../../src/admin/auth.js';
import { auditCommand } from '../../src/cli/audit.js';
import { keysCommand } from '../../src/cli/keys.js';
import type { CliIo } from '../../src/cli/send.js';
import { dncCommand, subscriberCommand } from '../../src/cli/subscriber.js';
import { tokenCommand } from '../../src/cli/token.js';
import { captureLogger } from '../../src/log/logger.js';
import { Keyring } from '../../src/privacy/keyring.js';
import { startSimulator } from '../../src/sim/index.js';
import { startGateway, testConfig, testKeys } from '../helpers/app.js';
import { redisClientForFile } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

const redis = redisClientForFile();
const cleanups = redis.cleanups;

function capture(env: NodeJS.ProcessEnv = {}): { io: CliIo; text: () => string } {
  const lines: string[] = [];
  return { io: { out: (s) => lines.push(s), err: (s) => lines.push(s), env }, text: () => lines.join('\n') };
}

const SECRETS = { dpo: 'dpo-Qw8eR5tY2uI9oP3a', omar: 'op-Zx4cV7bN1mL6kJ2h', vera: 'vw-As9dF3gH8jK5lQ1w', old: 'old-Pm2nB6vC4xZ8sD7f' } as const;

test('every privileged action leaves an audit entry: admin API, SIGHUP, CLI, denied requests, token changes', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qasid-audit-'));
  const keyringFile = join(dir, 'keyring.json');
  const K1 = Keyring.generateKey();
  writeFileSync(keyringFile, JSON.stringify({ current: 'k1', keys: { k1: K1 } }));
  const { hashKeyring } = testKeys();
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const tokens = [
    { id: 'dpo', sha256: hashToken(SECRETS.dpo), role: 'admin' },
    { id: 'omar', sha256: hashToken(SECRETS.omar), role: 'operator' },
    { id: 'vera', sha256: hashToken(SECRETS.vera), role: 'viewer' },
    { id: 'old', sha256: hashToken(SECRETS.old), role: 'admin' },
  ];
  const s = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => s.close());
  const overrides = (t: typeof tokens): Record<string, unknown> => ({
    redis: { url: redis.url, prefix },
    privacy: { keyringFile, hashKeyring },
    admin: { port: 0, tokens: t, revocationPollSec: 1 },
  });
  const { app } = await startGateway(redis.url, testConfig(redis.url, [{ id: 'jazz', port: s.port }], overrides(tokens)), cleanups);
  const cfgFile = join(dir, 'qasid.json');
  writeFileSync(cfgFile, JSON.stringify({ redis: { url: redis.url, prefix }, privacy: { keyringFile, hashKeyring }, admin: { tokens } }));

  const call = async (method: 'GET' | 'POST', path: string, token: string | undefined, body?: object): Promise<number> => {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`http://127.0.0.1:${app.admin.port}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    await res.arrayBuffer();
    return res.status;
  };
  const number = { msisdn: '03001239001' };
  const hash = app.vault.hash('+923001239001');
  assert.equal(await call('POST', '/subscribers/lookup', SECRETS.omar, number), 200);
  assert.equal(await call('POST', '/subscribers/opt-out', SECRETS.omar, { ...number, sender: '8555' }), 200);
  assert.equal(await call('POST', '/subscribers/opt-out/remove', SECRETS.omar, { ...number, sender: '8555' }), 200);
  assert.equal(await call('POST', '/subscribers/consent', SECRETS.omar, { ...number, tenant: 'acme' }), 200);
  assert.equal(await call('POST', '/subscribers/consent/withdraw', SECRETS.omar, { ...number, tenant: 'acme' }), 200);
  assert.equal(await call('POST', '/subscribers/export', SECRETS.dpo, number), 200);
  assert.equal(await call('POST', '/subscribers/erase', SECRETS.dpo, number), 200);
  assert.equal(await call('POST', '/carriers/jazz/pause', SECRETS.omar), 200);
  assert.equal(await call('POST', '/carriers/jazz/resume', SECRETS.omar), 200);
  assert.equal(await call('POST', '/routes/reload', SECRETS.dpo), 200);
  assert.equal(await call('GET', `/breach/report?from=${Date.now() - 60_000}`, SECRETS.dpo), 200);
  // Denied: no token, a token no one holds, a role too small.
  assert.equal(await call('POST', '/carriers/jazz/pause', undefined), 401);
  assert.equal(await call('POST', '/carriers/jazz/pause', 'not-a-token-anyone-holds'), 401);
  assert.equal(await call('POST', '/subscribers/export', SECRETS.vera, number), 403);
  await app.admin.denials.settled();
  // SIGHUP.
  await app.reloadOnSignal();

  // The CLI: a consent change, a DNC import, a key rotation, a token made and one revoked.
  const env = {};
  const sub = capture(env);
  assert.equal(await subscriberCommand(['consent', '03001239002', '--tenant', 'acme', '--config', cfgFile], sub.io), 0, sub.text());
  const dncFile = join(dir, 'dnc.csv');
  writeFileSync(dncFile, 'msisdn\n03001239003\n');
  const dnc = capture(env);
  assert.equal(await dncCommand(['import', dncFile, '--config', cfgFile, '--no-progress'], dnc.io), 0, dnc.text());
  writeFileSync(keyringFile, JSON.stringify({ current: 'k2', keys: { k1: K1, k2: Keyring.generateKey() } }));
  const rot = capture(env);
  assert.equal(await keysCommand(['rotate', '--config', cfgFile, '--no-progress'], rot.io), 0, rot.text());
  const made: string[] = [];
  assert.equal(await tokenCommand(['new', 'viewer', '--id', 'newbie', '--config', cfgFile], (x) => made.push(x), (x) => made.push(x), env), 0, made.join('\n'));
  assert.match(made.join('\n'), /token \(shown once\): qasid_/);
  const revoked: string[] = [];
  assert.equal(await tokenCommand(['revoke', 'old', '--config', cfgFile], (x) => revoked.push(x), (x) => revoked.push(x), env), 0, revoked.join('\n'));
  assert.equal(await tokenCommand(['revoke', 'nobody', '--config', cfgFile], () => undefined, () => undefined, env), 64);
  // The running gateway refuses the revoked token within its poll (1 s), as a token that matches none.
  assert.equal(await call('GET', '/carriers', SECRETS.old), 200);
  await until(async () => (await call('GET', '/carriers', SECRETS.old)) === 401, 5000, 'the revoked token to be refused');
  await app.admin.denials.settled();

  // A restart with admin.tokens changed: old removed, newbie added, omar made admin.
  await app.stop();
  const changed = [...tokens.filter((t) => t.id !== 'old').map((t) => (t.id === 'omar' ? { ...t, role: 'admin' } : t)), { id: 'newbie', sha256: hashToken('newbie-secret'), role: 'viewer' }];
  const { app: app2 } = await startGateway(redis.url, testConfig(redis.url, [{ id: 'jazz', port: s.port }], overrides(changed)), cleanups);

  const entries = await app2.audit.range('-', 1000);
  const actions = entries.map((e) => e.fields.action);
  const one = (action: string, pred: (e: AuditEntry) => boolean = () => true): AuditEntry => {
    const found = entries.filter((e) => e.fields.action === action && pred(e));
    assert.ok(found.length > 0, `an audit entry ${action} (have: ${[...new Set(actions)].join(', ')})`);
    return found[0] as AuditEntry;
  };
  const by = (actor: string) => (e: AuditEntry) => e.fields.actor === actor;
  for (const a of ['subscriber.lookup', 'subscriber.opt_out', 'subscriber.opt_out_removed', 'subscriber.consent', 'subscriber.consent_withdrawn']) assert.equal(one(a, by('omar')).fields.target, hash, a);
  for (const a of ['subscriber.export', 'subscriber.erase']) assert.equal(one(a, by('dpo')).fields.target, hash, a);
  assert.equal(one('carrier.pause', by('omar')).fields.target, 'jazz');
  assert.equal(one('carrier.resume', by('omar')).fields.target, 'jazz');
  one('routes.reload', by('dpo'));
  one('breach.report', by('dpo'));
  one('routes.reload', by('signal:SIGHUP'));
  assert.equal(JSON.parse(one('keys.reload', by('signal:SIGHUP')).fields.detail ?? '{}').current, 'k1');
  assert.match(one('subscriber.consent', (e) => (e.fields.actor ?? '').startsWith('cli:')).fields.target ?? '', /^h1:/);
  assert.equal(JSON.parse(one('dnc.import').fields.detail ?? '{}').imported, 1);
  assert.deepEqual(JSON.parse(one('keys.rotate_started').fields.detail ?? '{}'), { current: 'k2', ids: ['k1', 'k2'] });
  assert.deepEqual(
    entries.filter((e) => e.fields.action === 'keys.rotate_progress').map((e) => JSON.parse(e.fields.detail ?? '{}').part),
    ['records', 'dead', 'mo'],
  );
  assert.equal(JSON.parse(one('keys.rotate_finished').fields.detail ?? '{}').current, 'k2');
  assert.deepEqual(JSON.parse(one('token.created').fields.detail ?? '{}'), { role: 'viewer' });
  assert.equal(one('token.created').fields.target, 'newbie');
  assert.deepEqual(JSON.parse(one('token.revoked').fields.detail ?? '{}'), { role: 'admin', already: false });
  // What a start found in admin.tokens: the first start added all four; the second the changes.
  assert.deepEqual(
    entries.filter((e) => e.fields.action?.startsWith('token.') && e.fields.actor === 'config').map((e) => [e.fields.action, e.fields.target]),
    [
      ['token.added', 'dpo'],
      ['token.added', 'old'],
      ['token.added', 'omar'],
      ['token.added', 'vera'],
      ['token.added', 'newbie'],
      ['token.removed', 'old'],
      ['token.role_changed', 'omar'],
    ],
  );
  // Denied requests: who, from which address, which route, why.
  const denied = entries.filter((e) => e.fields.action === 'admin.denied').map((e) => ({ actor: e.fields.actor, address: e.fields.target, ...(JSON.parse(e.fields.detail ?? '{}') as { reason: string; route: string; method: string }) }));
  const seen = denied.map((d) => [d.actor, d.address, d.reason, d.method, d.route]);
  assert.deepEqual(seen.slice(0, 3), [
    ['anonymous', '127.0.0.1', 'no_token', 'POST', '/carriers/:id/pause'],
    ['anonymous', '127.0.0.1', 'bad_token', 'POST', '/carriers/:id/pause'],
    ['vera', '127.0.0.1', 'insufficient_role', 'POST', '/subscribers/export'],
  ]);
  // The revoked token's refusal: bad_token, as a token that matches none; held in the window the
  // first bad_token of the address opened, and written when the first gateway stopped.
  assert.ok(denied.some((d) => d.reason === 'bad_token' && d.route === '/carriers' && d.method === 'GET'), JSON.stringify(denied));
  assert.ok(!JSON.stringify(entries).includes('1239001'), 'no number in the trail');
  for (const secret of Object.values(SECRETS)) assert.ok(!JSON.stringify(entries).includes(secret), 'no token in the trail');

  const v = capture();
  assert.equal(await auditCommand(['verify', '--config', cfgFile], v.io), 0, v.text());
  assert.match(v.text(), /^ok: \d+ entries, chain intact, head \d+-\d+$/);
});

async function seeded(n: number): Promise<{ key: string; prefix: string; log: AuditLog; ids: string[] }> {
  const p = `t${randomBytes(4).toString('hex')}`;
  const key = `${p}:audit`;
  const log = new AuditLog(redis.client, key);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await log.append({ actor: 'omar', role: 'operator', action: 'carrier.pause', target: `c${i}` }));
  return { key, prefix: p, log, ids };
}

async function verifyCli(prefix: string, ...extra: string[]): Promise<{ code: number; text: string }> {
  const c = capture();
  const code = await auditCommand(['verify', '--redis', redis.url, '--prefix', prefix, ...extra], c.io);
  return { code, text: c.text() };
}

test('XDEL of the newest entries is found: the stream no longer reaches its anchored head; an entry appended later still names the cut one', async () => {
  const s = await seeded(5);
  assert.equal((await verifyCli(s.prefix)).code, 0);
  await redis.client.xdel(s.key, s.ids[3] as string, s.ids[4] as string);
  const v = await s.log.verify();
  assert.ok(!v.ok && v.firstBroken === s.ids[4] && /ends at .*before its anchored head .*newest entries were cut off/.test(v.reason) && v.entries === 3, JSON.stringify(v));
  const cli = await verifyCli(s.prefix);
  assert.equal(cli.code, 1);
  assert.match(cli.text, new RegExp(`^broken at ${s.ids[4] ?? ''}: the stream ends at ${s.ids[2] ?? ''}`));
  // The next append chains to the head, not to what is left: the cut stays visible.
  const later = await new AuditLog(redis.client, s.key).append({ actor: 'x', role: 'admin', action: 'carrier.resume' });
  const after = await s.log.verify();
  assert.ok(!after.ok && after.firstBroken === later && /prev does not match/.test(after.reason), JSON.stringify(after));
});

test('XTRIM of every entry is found: the head names an entry of an empty stream', async () => {
  const s = await seeded(3);
  await redis.client.xtrim(s.key, 'MAXLEN', 0);
  const v = await s.log.verify();
  assert.ok(!v.ok && v.firstBroken === s.ids[2] && /stream is empty/.test(v.reason), JSON.stringify(v));
  assert.equal((await verifyCli(s.prefix)).code, 1);
});

test('a cut with the head key rewritten to match passes the head key, and is found by a head from the log (audit.head, verify --head)', async () => {
  const s = await seeded(4);
  const { logger, lines } = captureLogger('info');
  const headLog = new AuditHeadLog({ audit: s.log, logger, intervalMs: 60_000 });
  await headLog.start();
  await headLog.stop();
  const logged = lines.find((l) => l.event === 'audit.head');
  assert.deepEqual([logged?.id, logged?.hash], [s.ids[3], (await s.log.head())?.hash]);
  const given = `${String(logged?.id)}:${String(logged?.hash)}`;
  assert.equal((await verifyCli(s.prefix, '--head', given)).code, 0);
  // Idle: no second line for the same head.
  await headLog.tick();
  assert.equal(lines.filter((l) => l.event === 'audit.head').length, 1);

  // Cut the newest entry and point the head key at the one before: the head key is satisfied…
  const [prevRow] = await redis.client.xrange(s.key, s.ids[2] as string, s.ids[2] as string);
  await redis.client.xdel(s.key, s.ids[3] as string);
  await redis.client.hset(s.log.headKey, 'id', s.ids[2] as string, 'hash', (prevRow?.[1][(prevRow[1].indexOf('hash') ?? 0) + 1] as string) ?? '');
  assert.equal((await s.log.verify()).ok, true, 'a rewritten head key hides the cut from the head key alone');
  // …the head the log kept is not.
  const cli = await verifyCli(s.prefix, '--head', given);
  assert.equal(cli.code, 1);
  assert.match(cli.text, new RegExp(`^broken at ${s.ids[3] ?? ''}: the stream ends at ${s.ids[2] ?? ''}, before the head given`));
  assert.equal((await verifyCli(s.prefix, '--head', 'not-a-head')).code, 64);
});

test('retention trims the oldest entries but never the newest (the head): the chain and the head still verify; an older head given is "trimmed"', async () => {
  const s = await seeded(4);
  const oldHead = { id: s.ids[1] as string, hash: (await s.log.range('-', 10))[1]?.fields.hash as string };
  // Everything is older than the age: all but the newest go.
  assert.equal(await s.log.trimOlderThan(1, Date.now() + 60_000), 3);
  assert.deepEqual((await s.log.range()).map((e) => e.id), [s.ids[3]]);
  const v = await s.log.verify({ given: oldHead });
  assert.ok(v.ok && v.entries === 1 && v.head?.id === s.ids[3] && v.given === 'trimmed', JSON.stringify(v));
  await s.log.append({ actor: 'y', role: 'admin', action: 'routes.reload' });
  assert.equal((await s.log.verify()).ok, true);
});

test('two processes appending at once never fork the chain (the append is a compare-and-swap on the head)', async () => {
  const key = `t${randomBytes(4).toString('hex')}:audit`;
  const a = new AuditLog(redis.client, key);
  // A second connection, as a second process would have.
  const other = redis.client.duplicate();
  cleanups.push(async () => void other.disconnect());
  const b = new AuditLog(other, key);
  await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).append({ actor: i % 2 === 0 ? 'a' : 'b', role: 'admin', action: 'test', detail: { i } })));
  const v = await a.verify();
  assert.ok(v.ok && v.entries === 40, JSON.stringify(v));
});

test('a stream without a head (written before heads) fails verify until a gateway adopts its newest entry, saying so in the log', async () => {
  const s = await seeded(2);
  await redis.client.del(s.log.headKey);
  const v = await s.log.verify();
  assert.ok(!v.ok && /no anchored head/.test(v.reason), JSON.stringify(v));
  const { logger, lines } = captureLogger('info');
  const headLog = new AuditHeadLog({ audit: s.log, logger, intervalMs: 60_000 });
  await headLog.start();
  await headLog.stop();
  const adopted = lines.find((l) => l.event === 'audit.head' && l.adopted === true);
  assert.equal(adopted?.level, 'warn');
  assert.equal(adopted?.id, s.ids[1]);
  assert.equal((await s.log.verify()).ok, true);
  // An empty stream needs no head.
  const empty = new AuditLog(redis.client, `t${randomBytes(4).toString('hex')}:audit`);
  assert.deepEqual(await empty.verify(), { ok: true, entries: 0 });
  assert.equal((await empty.range()).length, 0);
  assert.equal(GENESIS.length, 64);
});
