/**
 * The breach report against a real redis-server, the simulator over TCP and a whole
 * gateway: messages of two tenants and three classes, MO to a tenant's short code and to
 * one no tenant lists, dead letters, an erased subscriber, and a key rotated (first the
 * write key only, then the sweep). The report — from the library, `qasid breach report`
 * (table and JSON) and GET /breach/report — names exactly the right pseudonyms, tenants
 * and key ids, and nothing it prints holds a number or a text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import { hashToken } from '../../src/admin/auth.js';
import { breachCommand } from '../../src/cli/breach.js';
import { keysCommand } from '../../src/cli/keys.js';
import type { CliIo } from '../../src/cli/send.js';
import { envelopeKeyId } from '../../src/privacy/cipher.js';
import { Keyring } from '../../src/privacy/keyring.js';
import type { BreachReport } from '../../src/privacy/breach.js';
import { recordId } from '../../src/queue/keys.js';
import { startSimulator } from '../../src/sim/index.js';
import { startGateway, testConfig, testKeys } from '../helpers/app.js';
import { readEvents } from '../helpers/events.js';
import { redisForFile } from '../helpers/redis.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

const K1 = Keyring.generateKey();
const K2 = Keyring.generateKey();
const TOKEN = 'breach-officer-token';
const NO_QUIET = { start: '00:00', end: '00:00', timeZone: 'Asia/Karachi', jitterSec: 0 };
const TENANTS = [
  { tenant: 'acme', senders: ['8555', 'ACME'] },
  { tenant: 'globex', senders: ['GLOBEX'] },
];

/** The subscribers of the run: number (local and international spellings are checked) and what is sent to them. */
const N = {
  a: '+923001110001', // acme marketing; MO to 8555 (acme)
  b: '+923001110002', // acme otp
  c: '+923001110003', // globex transactional
  d: '+923001110004', // acme, erased
  e: '+923001110005', // MO to 9999 (no tenant lists it)
  f: '+923001110006', // a dead letter of globex (no sender)
  g: '+923001110007', // acme transactional under the new key k2
  h: '+923001110008', // after the window
};
const TEXTS = ['Exclusive offer alpha for you', 'Your code is 5521', 'Invoice 77 is due', 'Erase me later please', 'hello back to acme', 'who is this', 'Dead letter text here', 'Sent under the new key', 'After the window closed', 'not json at all'];

function capture(env: NodeJS.ProcessEnv = {}): { io: CliIo; out: string[]; err: string[]; text: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s), env }, out, err, text: () => [...out, ...err].join('\n') };
}

/** Every spelling of the run's numbers, and its texts: none may appear in an output. */
function leaks(output: string): string[] {
  const found: string[] = [];
  for (const n of Object.values(N)) {
    const digits = n.slice(1);
    for (const spelling of [digits, `0${digits.slice(2)}`, digits.slice(2), `${digits.slice(2, 5)}****${digits.slice(-3)}`]) if (output.includes(spelling)) found.push(spelling);
  }
  for (const t of TEXTS) if (output.includes(t)) found.push(t);
  return found;
}

async function finalOf(r: Redis, app: App, clientId: string): Promise<string> {
  let status: string | undefined;
  await until(
    async () => {
      status = (await readEvents(r, app.keys.events)).find((e) => e.clientId === clientId && e.final)?.status;
      return status !== undefined;
    },
    10_000,
    `a final event for ${clientId}`,
  );
  return status as string;
}

const groupsOf = (rep: BreachReport): Array<[string | null, string, string | null, number, string[], Record<string, number>, number]> =>
  rep.groups.map((g) => [g.tenant, g.data, g.messageClass, g.items, g.pseudonyms, g.keyIds, g.unnamed]);

test('a breach report over a window names exactly the pseudonyms, tenants and key ids held, through a key rotation, never a number or a text', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qasid-breach-'));
  const keyringFile = join(dir, 'keyring.json');
  writeFileSync(keyringFile, JSON.stringify({ current: 'k1', keys: { k1: K1 } }));
  const { hashKeyring } = testKeys();
  const s = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => s.close());
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], {
    privacy: { keyringFile, hashKeyring },
    policy: { quietHours: NO_QUIET, tenants: TENANTS },
    admin: { port: 0, tokens: [{ id: 'dpo', sha256: hashToken(TOKEN), role: 'admin' }] },
  });
  const cfgFile = join(dir, 'qasid.json');
  writeFileSync(cfgFile, JSON.stringify({ redis: { url: redis.url, prefix: config.redis.prefix }, privacy: { keyringFile, hashKeyring }, policy: { tenants: TENANTS } }));
  const { app, r } = await startGateway(redis.url, config, cleanups);
  const p = (e164: string): string => app.vault.hash(e164);
  const push = (m: Record<string, unknown>): Promise<string | null> => r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, from: '8555', ...m }));

  const from = Date.now() - 1;
  await push({ id: 'm-a', tenant: 'acme', to: '03001110001', class: 'marketing', consent: 'form-9', text: TEXTS[0] });
  await push({ id: 'm-b', tenant: 'acme', to: '+923001110002', class: 'otp', text: TEXTS[1] });
  await push({ id: 'm-c', tenant: 'globex', from: 'GLOBEX', to: '923001110003', class: 'transactional', text: TEXTS[2] });
  await push({ id: 'm-d', tenant: 'acme', to: '03001110004', text: TEXTS[3] });
  // Dead letters: one that names its number and tenant (no sender), one that is not JSON at all.
  await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: 'dead-f', tenant: 'globex', to: '03001110006', text: TEXTS[6] }));
  await r.xadd(app.keys.intake, '*', 'data', TEXTS[9] as string);
  for (const id of ['m-a', 'm-b', 'm-c', 'm-d']) assert.equal(await finalOf(r, app, id), 'delivered', id);
  assert.equal(await finalOf(r, app, 'dead-f'), 'rejected');
  assert.equal(s.injectMo({ from: '923001110001', to: '8555', text: TEXTS[4] }), 1);
  assert.equal(s.injectMo({ from: '923001110005', to: '9999', text: TEXTS[5] }), 1);
  await until(async () => (await r.xlen(app.keys.mo)) === 2 && (await r.xlen(app.keys.dead)) === 2, 5000, 'two MO entries and two dead letters');

  // D is erased over the admin API (audited), before the window closes.
  const erase = await fetch(`http://127.0.0.1:${app.admin.port}/subscribers/erase`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ msisdn: '03001110004' }) });
  assert.equal(erase.status, 200);

  // A new write key: what comes now is sealed under k2, the rest stays under k1 until the sweep.
  writeFileSync(keyringFile, JSON.stringify({ current: 'k2', keys: { k1: K1, k2: K2 } }));
  app.reloadKeys();
  await push({ id: 'm-g', tenant: 'acme', to: '03001110007', class: 'transactional', text: TEXTS[7] });
  assert.equal(await finalOf(r, app, 'm-g'), 'delivered');
  assert.equal(envelopeKeyId((await r.hget(app.keys.record(recordId('acme', 'm-g')), 'd')) as string), 'k2');
  await new Promise((res) => setTimeout(res, 5));
  const to = Date.now();
  await new Promise((res) => setTimeout(res, 5));
  // After the window: not in it.
  await push({ id: 'm-h', tenant: 'acme', to: '03001110008', text: TEXTS[8] });
  assert.equal(await finalOf(r, app, 'm-h'), 'delivered');

  const before = await app.breach.report({ from, to });
  assert.deepEqual(groupsOf(before), [
    ['acme', 'records', 'marketing', 1, [p(N.a)], { k1: 1 }, 0],
    ['acme', 'records', 'otp', 1, [p(N.b)], { k1: 1 }, 0],
    ['acme', 'records', 'transactional', 1, [p(N.g)], { k2: 1 }, 0],
    ['acme', 'mo', null, 1, [p(N.a)], { k1: 1 }, 0],
    ['globex', 'records', 'transactional', 1, [p(N.c)], { k1: 1 }, 0],
    ['globex', 'dead', null, 1, [p(N.f)], { k1: 1 }, 0],
    [null, 'mo', null, 1, [p(N.e)], { k1: 1 }, 0],
    [null, 'dead', null, 1, [], { k1: 1 }, 1],
  ]);
  assert.deepEqual(before.totals.tenants, ['acme', 'globex']);
  assert.equal(before.totals.subscribers, 6);
  assert.equal(before.totals.unnamed, 1);
  assert.deepEqual(before.totals.keyIds, { k1: { items: 7, subscribers: 5 }, k2: { items: 1, subscribers: 1 } });
  assert.deepEqual(before.totals.byData, { records: { items: 4, subscribers: 4 }, mo: { items: 2, subscribers: 2 }, dead: { items: 2, subscribers: 1 } });
  assert.deepEqual(
    before.subscribers.map((x) => [x.pseudonym, x.tenants, x.data, x.keyIds]),
    [
      [p(N.a), ['acme'], ['records', 'mo'], ['k1']],
      [p(N.b), ['acme'], ['records'], ['k1']],
      [p(N.c), ['globex'], ['records'], ['k1']],
      [p(N.e), [null], ['mo'], ['k1']],
      [p(N.f), ['globex'], ['dead'], ['k1']],
      [p(N.g), ['acme'], ['records'], ['k2']],
    ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
  );
  const all = JSON.stringify(before);
  assert.ok(!all.includes(p(N.d)), 'the erased subscriber is not named');
  assert.ok(!all.includes(p(N.h)), 'a message queued after the window is not in it');
  assert.deepEqual(before.erasures, { inWindow: 1, since: 0 });
  assert.deepEqual(before.rotations, []);

  // Filters: one tenant; one key.
  const acme = await app.breach.report({ from, to, tenant: 'acme' });
  assert.deepEqual(acme.totals.tenants, ['acme']);
  assert.deepEqual(acme.subscribers.map((x) => x.pseudonym).sort(), [p(N.a), p(N.b), p(N.g)].sort());
  const k2 = await app.breach.report({ from, to, keyId: 'k2' });
  assert.deepEqual(groupsOf(k2), [['acme', 'records', 'transactional', 1, [p(N.g)], { k2: 1 }, 0]]);
  // A window that closed before anything was sent holds nothing.
  const earlier = await app.breach.report({ from: from - 60_000, to: from - 30_000 });
  assert.deepEqual([earlier.groups, earlier.totals.items, earlier.erasures], [[], 0, { inWindow: 0, since: 1 }]);

  // The sweep moves records and dead letters to k2 (audited); MO entries stay under k1.
  const rot = capture();
  assert.equal(await keysCommand(['rotate', '--config', cfgFile, '--no-progress'], rot.io), 0, rot.text());
  const after = await app.breach.report({ from, to });
  assert.deepEqual(groupsOf(after), [
    ['acme', 'records', 'marketing', 1, [p(N.a)], { k2: 1 }, 0],
    ['acme', 'records', 'otp', 1, [p(N.b)], { k2: 1 }, 0],
    ['acme', 'records', 'transactional', 1, [p(N.g)], { k2: 1 }, 0],
    ['acme', 'mo', null, 1, [p(N.a)], { k1: 1 }, 0],
    ['globex', 'records', 'transactional', 1, [p(N.c)], { k2: 1 }, 0],
    // A dead letter moved by the sweep has a new id; it is judged by the one it had (`was`).
    ['globex', 'dead', null, 1, [p(N.f)], { k2: 1 }, 0],
    [null, 'mo', null, 1, [p(N.e)], { k1: 1 }, 0],
    [null, 'dead', null, 1, [], { k2: 1 }, 1],
  ]);
  assert.equal(after.rotations.length, 1);
  assert.equal(after.rotations[0]?.current, 'k2');
  assert.equal(after.rotations[0]?.moved, 5, 'the three records and two dead letters still under k1');
  const k1 = await app.breach.report({ from, to, keyId: 'k1' });
  assert.deepEqual(k1.subscribers.map((x) => x.pseudonym).sort(), [p(N.a), p(N.e)].sort(), 'a leaked k1 now exposes only the MO entries still under it');

  // The CLI: a table and JSON, the same report; the admin route: JSON. None holds a number or a text.
  const table = capture();
  assert.equal(await breachCommand(['report', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--config', cfgFile], table.io), 0, table.text());
  const tableText = table.out.join('\n');
  for (const x of [p(N.a), p(N.b), p(N.c), p(N.e), p(N.f), p(N.g)]) assert.ok(tableText.includes(x), `the table names ${x}`);
  assert.match(tableText, /^acme\s+records\s+marketing\s+1\s+1\s+0\s+k2=1$/m);
  assert.match(tableText, /^-\s+dead\s+-\s+1\s+0\s+1\s+k2=1$/m);
  assert.match(tableText, /^all\s+8\s+6\s+1\s+k1=2 k2=6$/m);
  assert.match(tableText, /Erasures \(audit trail\): 1 in the window, 0 since/);
  const json = capture();
  assert.equal(await breachCommand(['report', '--from', String(new Date(from).toISOString()), '--to', new Date(to).toISOString(), '--json', '--config', cfgFile], json.io), 0, json.text());
  const cliReport = JSON.parse(json.out.join('\n')) as BreachReport;
  assert.deepEqual(groupsOf(cliReport), groupsOf(after));
  const route = await fetch(`http://127.0.0.1:${app.admin.port}/breach/report?from=${new Date(from).toISOString()}&to=${to}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(route.status, 200);
  const routeText = await route.text();
  assert.deepEqual(groupsOf(JSON.parse(routeText) as BreachReport), groupsOf(after));
  const bad = await fetch(`http://127.0.0.1:${app.admin.port}/breach/report?to=${to}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(bad.status, 400);

  for (const [what, output] of [
    ['library', JSON.stringify([before, acme, k2, after, k1])],
    ['table', table.text()],
    ['json', json.text()],
    ['route', routeText],
  ] as const) {
    assert.deepEqual(leaks(output), [], `${what} output holds a number or a text`);
  }
  // Every report is audited, with counts and no pseudonym.
  const audited = (await app.audit.range('-', 1000)).filter((e) => e.fields.action === 'breach.report');
  assert.equal(audited.length, 3, 'the CLI twice, the route once');
  assert.ok(audited.every((e) => !(e.fields.detail ?? '').includes(p(N.a))));
  assert.deepEqual(JSON.parse(audited[2]?.fields.detail ?? '{}'), { from: new Date(from).toISOString(), to: new Date(to).toISOString(), subscribers: 6, items: 8, tenants: 2 });
});
