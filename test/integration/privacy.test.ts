/**
 * Consent, opt-out and class policy end to end: a real redis-server, the simulator over
 * TCP, a whole gateway. STOP/START from a handset, consent, the do-not-contact list,
 * quiet hours on a moved clock, frequency caps, the footer, erasure and export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { QasidClient } from '../../src/client/index.js';
import { Keyring } from '../../src/privacy/keyring.js';
import { recordId } from '../../src/queue/keys.js';
import type { App } from '../../src/app.js';
import { hashToken } from '../../src/admin/auth.js';
import { dncCommand, subscriberCommand } from '../../src/cli/subscriber.js';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents, type StatusEvent } from '../helpers/events.js';
import { startGateway, testConfig, testKeys, type Gateway } from '../helpers/app.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

type Ev = StatusEvent;
const events = (r: Redis, app: App): Promise<Ev[]> => readEvents(r, app.keys.events);

/** Wait until `clientId` has a final event (or an event of `status`), and return it. */
async function eventOf(r: Redis, app: App, clientId: string, status?: string, timeoutMs = 10_000): Promise<Ev> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = (await events(r, app)).find((x) => x.clientId === clientId && (status === undefined ? x.final : x.status === status));
    if (e) return e;
    if (Date.now() > deadline) assert.fail(`no ${status ?? 'final'} event for ${clientId}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function sim(): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => s.close());
  return s;
}

const NO_QUIET = { quietHours: { start: '00:00', end: '00:00', timeZone: 'Asia/Karachi', jitterSec: 0 } };

async function gateway(s: SimServer, overrides: Record<string, unknown> = {}, now?: () => number): Promise<Gateway> {
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], overrides);
  return startGateway(redis.url, config, cleanups, now ? { now } : {});
}

function push(r: Redis, app: App, m: Record<string, unknown>): Promise<string | null> {
  return r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, from: '8555', text: 'Hello there', ...m }));
}

test('STOP from a handset blocks marketing and transactional from that sender before deliver_sm_resp; START re-enables', async () => {
  const s = await sim();
  const { app, r } = await gateway(s, { policy: NO_QUIET });
  const acksBefore = s.stats.deliverResps;
  assert.equal(s.injectMo({ from: '923001230001', to: '8555', text: 'Stop ' }), 1);
  while (s.stats.deliverResps === acksBefore) await new Promise((res) => setTimeout(res, 5));
  // The opt-out was recorded before deliver_sm_resp went back: visible the instant it is acknowledged.
  assert.ok(((await app.subscribers.choices('+923001230001'))['o:s:8555'] ?? '') !== '', 'opt-out recorded before the response');

  const submits = s.stats.submits;
  await push(r, app, { id: 'mkt-1', to: '03001230001', class: 'marketing', consent: 'form-1' });
  await push(r, app, { id: 'txn-1', to: '03001230001', class: 'transactional' });
  await push(r, app, { id: 'otp-other-sender', to: '03001230001', class: 'otp', from: 'MyBank' });
  assert.deepEqual([(await eventOf(r, app, 'mkt-1')).status, (await eventOf(r, app, 'mkt-1')).reason], ['blocked', 'opt_out']);
  assert.deepEqual([(await eventOf(r, app, 'txn-1')).status, (await eventOf(r, app, 'txn-1')).reason], ['blocked', 'opt_out']);
  assert.equal((await eventOf(r, app, 'otp-other-sender')).status, 'delivered', 'STOP to 8555 does not stop MyBank');
  assert.equal(s.stats.submits, submits + 1, 'no submit_sm for the blocked messages');

  const mo = (await r.xrange(app.keys.mo, '-', '+')).map(([, f]) => JSON.parse(f[1] as string) as { keyword?: string });
  assert.equal(mo[0]?.keyword, 'stop');

  assert.equal(s.injectMo({ from: '923001230001', to: '8555', text: 'START' }), 1);
  const deadline = Date.now() + 3000;
  while ((await app.subscribers.choices('+923001230001'))['o:s:8555'] !== undefined && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  await push(r, app, { id: 'mkt-2', to: '03001230001', class: 'marketing', consent: 'form-1' });
  assert.equal((await eventOf(r, app, 'mkt-2')).status, 'delivered');
  assert.equal(s.stats.submits, submits + 2);
});

test('transactionalHonoursStop false: OTP and transactional go through a STOP, marketing does not', async () => {
  const s = await sim();
  const { app, r } = await gateway(s, { policy: { ...NO_QUIET, transactionalHonoursStop: false } });
  await app.subscribers.optOut('+923001230002', { kind: 'sender', sender: '8555' }, Date.now());
  await push(r, app, { id: 'otp', to: '+923001230002', class: 'otp' });
  await push(r, app, { id: 'mkt', to: '+923001230002', class: 'marketing', consent: 'c' });
  assert.equal((await eventOf(r, app, 'otp')).status, 'delivered');
  assert.equal((await eventOf(r, app, 'mkt')).reason, 'opt_out');
});

test('marketing needs a consent reference or the tenant opt-in list; without either it ends blocked no_consent', async () => {
  const s = await sim();
  const { app, r } = await gateway(s, { policy: NO_QUIET });
  await app.subscribers.consent('+923001230004', 'acme', Date.now());
  const submits = s.stats.submits;
  await push(r, app, { id: 'none', to: '03001230003', class: 'marketing' });
  await push(r, app, { id: 'ref', to: '03001230003', class: 'marketing', consent: 'signup-2026-11' });
  await push(r, app, { id: 'listed', to: '03001230004', class: 'marketing', tenant: 'acme' });
  await push(r, app, { id: 'other-tenant', to: '03001230004', class: 'marketing', tenant: 'globex' });
  const none = await eventOf(r, app, 'none');
  assert.deepEqual([none.status, none.reason], ['blocked', 'no_consent']);
  assert.equal((await eventOf(r, app, 'ref')).status, 'delivered');
  assert.equal((await eventOf(r, app, 'listed')).status, 'delivered');
  assert.equal((await eventOf(r, app, 'other-tenant')).reason, 'no_consent', 'consent is per tenant');
  assert.equal(s.stats.submits, submits + 2);
});

test('quiet hours: marketing at 20:59:59 PKT is sent, at 21:00:00 deferred to 09:00 and then sent; OTP is never held', async () => {
  const s = await sim();
  let fake = Date.parse('2026-11-23T15:59:59Z'); // 20:59:59 in Asia/Karachi (UTC+5)
  const t0 = Date.now();
  const now = (): number => fake + (Date.now() - t0);
  const { app, r } = await gateway(s, { policy: { quietHours: { jitterSec: 0 } } }, () => now());
  await push(r, app, { id: 'before', to: '03001230005', class: 'marketing', consent: 'c' });
  assert.equal((await eventOf(r, app, 'before')).status, 'delivered');

  fake = Date.parse('2026-11-23T16:00:00Z') - (Date.now() - t0); // 21:00:00 PKT now
  await push(r, app, { id: 'at-nine', to: '03001230006', class: 'marketing', consent: 'c' });
  await push(r, app, { id: 'otp', to: '03001230006', class: 'otp' });
  const deferred = await eventOf(r, app, 'at-nine', 'deferred');
  assert.equal(deferred.reason, 'quiet_hours');
  assert.equal(deferred.retryAt, '2026-11-24T04:00:00.000Z', '09:00 PKT the next morning');
  assert.equal((await eventOf(r, app, 'otp')).status, 'delivered');
  await new Promise((res) => setTimeout(res, 300));
  assert.equal((await events(r, app)).filter((e) => e.clientId === 'at-nine' && e.final).length, 0, 'held through the night');

  fake = Date.parse('2026-11-24T04:00:00Z') - (Date.now() - t0); // 09:00 PKT
  assert.equal((await eventOf(r, app, 'at-nine')).status, 'delivered');
});

test('frequency cap: the N+1th OTP to one subscriber inside the window ends blocked frequency_cap', async () => {
  const s = await sim();
  // The single-window form of earlier versions, still read (several windows: caps.test.ts).
  const { app, r } = await gateway(s, { policy: { ...NO_QUIET, caps: { otp: { limit: 3, windowSec: 600 } } } });
  const submits = s.stats.submits;
  for (let i = 1; i <= 4; i++) {
    await push(r, app, { id: `otp-${i}`, to: '03001230007', class: 'otp', text: `Code ${i}` });
    await eventOf(r, app, `otp-${i}`); // in order, so the 4th is the one over the cap
  }
  await push(r, app, { id: 'otp-other', to: '03001230008', class: 'otp' });
  const outcome = await Promise.all([1, 2, 3, 4].map(async (i) => (await eventOf(r, app, `otp-${i}`)).status));
  assert.deepEqual(outcome, ['delivered', 'delivered', 'delivered', 'blocked']);
  assert.equal((await eventOf(r, app, 'otp-4')).reason, 'frequency_cap');
  assert.equal((await eventOf(r, app, 'otp-other')).status, 'delivered', 'the cap is per subscriber');
  assert.equal(s.stats.submits, submits + 4);
});

test('the opt-out footer is added to marketing text that lacks it (more parts), and not twice', async () => {
  const s = await sim();
  const { app, r } = await gateway(s, { policy: NO_QUIET });
  const text = 'x'.repeat(150);
  await push(r, app, { id: 'mkt', to: '03001230009', class: 'marketing', consent: 'c', text });
  await push(r, app, { id: 'mkt-has', to: '03001230009', class: 'marketing', consent: 'c', text: `${'x'.repeat(130)} reply stop to opt out` });
  await push(r, app, { id: 'txn', to: '03001230009', text });
  assert.equal((await eventOf(r, app, 'mkt')).parts, 2, '150 + newline + footer > 160');
  assert.equal((await eventOf(r, app, 'mkt-has')).parts, 1);
  assert.equal((await eventOf(r, app, 'txn')).parts, 1);
});

test('DNC file import: marketing to a listed number is blocked dnc; OTP still goes; --replace drops numbers not in the new file', async () => {
  const s = await sim();
  const keys = testKeys();
  const { app, r } = await gateway(s, { policy: NO_QUIET, privacy: keys });
  const dir = mkdtempSync(join(tmpdir(), 'qasid-dnc-'));
  const list = join(dir, 'dncr.csv');
  writeFileSync(list, 'msisdn,added\r\n0300-1230010,2026-01-01\r\n# comment\r\n923001230011\r\nnot a number\r\n');
  const cfg = join(dir, 'qasid.json');
  writeFileSync(cfg, JSON.stringify({ redis: { url: redis.url, prefix: app.config.redis.prefix }, privacy: keys }));
  const out: string[] = [];
  const io = { out: (x: string) => out.push(x), err: (x: string) => out.push(x), env: {} };
  assert.equal(await dncCommand(['import', list, '--config', cfg], io), 0, out.join('\n'));
  assert.match(out.join('\n'), /imported 2 numbers.*skipped 1 \(1 invalid_number\)/);
  assert.doesNotMatch(out.join('\n'), /1230010|1230011/);
  app.subscribers.forgetDncGeneration(); // the daemon re-reads it within 5 s on its own

  await push(r, app, { id: 'mkt', to: '03001230010', class: 'marketing', consent: 'c' });
  await push(r, app, { id: 'otp', to: '03001230010', class: 'otp' });
  assert.deepEqual([(await eventOf(r, app, 'mkt')).status, (await eventOf(r, app, 'mkt')).reason], ['blocked', 'dnc']);
  assert.equal((await eventOf(r, app, 'otp')).status, 'delivered');

  writeFileSync(list, '923001230011\n');
  assert.equal(await dncCommand(['import', list, '--replace', '--config', cfg], io), 0);
  app.subscribers.forgetDncGeneration();
  await push(r, app, { id: 'mkt-after', to: '03001230010', class: 'marketing', consent: 'c' });
  await push(r, app, { id: 'mkt-still', to: '03001230011', class: 'marketing', consent: 'c' });
  assert.equal((await eventOf(r, app, 'mkt-after')).status, 'delivered', 'no longer on the list');
  assert.equal((await eventOf(r, app, 'mkt-still')).reason, 'dnc');
});

test('erasure over the admin API removes records, texts, mappings, events, MO and dead letters; export then holds only the opt-out', async () => {
  const s = await sim();
  const token = 'privacy-admin-token';
  const { app, r } = await gateway(s, { policy: NO_QUIET, admin: { port: 0, tokens: [{ id: 'dpo', sha256: hashToken(token), role: 'admin' }] } });
  const call = async (path: string, body: object): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${app.admin.port}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  await push(r, app, { id: 'a', to: '03001230012', text: 'Your parcel 77 is out for delivery' });
  await push(r, app, { id: 'b', to: '03001230012', text: 'Your parcel 78 is out for delivery', sendAt: new Date(Date.now() + 3_600_000).toISOString() });
  await push(r, app, { id: 'keep', to: '03001230013', text: 'Someone else entirely' });
  await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: 'bad', to: '03001230012', from: '8555', text: 'x', class: 'nope' }));
  await eventOf(r, app, 'a');
  await eventOf(r, app, 'b', 'deferred');
  await eventOf(r, app, 'keep');
  await eventOf(r, app, 'bad');
  assert.equal(s.injectMo({ from: '923001230012', to: '8555', text: 'Who is this?' }), 1);
  assert.equal(s.injectMo({ from: '923001230012', to: '8555', text: 'STOP' }), 1);
  const deadline = Date.now() + 3000;
  while ((await r.xlen(app.keys.mo)) < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));

  const before_ = await call('/subscribers/export', { msisdn: '0300-1230012' });
  assert.equal(before_.status, 200);
  const doc = before_.json as { messages: Array<{ text: string; status: string }>; mo: Array<{ text: string }>; deadLetters: unknown[]; choices: { optedOut: { senders: string[] } } };
  assert.deepEqual(doc.messages.map((m) => [m.text, m.status]).sort(), [['Your parcel 77 is out for delivery', 'delivered'], ['Your parcel 78 is out for delivery', 'retry']]);
  assert.deepEqual(doc.mo.map((m) => m.text), ['Who is this?', 'STOP']);
  assert.equal(doc.deadLetters.length, 1);
  assert.deepEqual(doc.choices.optedOut.senders, ['8555']);

  const erased = await call('/subscribers/erase', { msisdn: '+923001230012' });
  assert.equal(erased.status, 200);
  assert.deepEqual({ ...erased.json, subscriber: undefined }, { subscriber: undefined, records: 2, mappings: 1, events: 3, mo: 2, deadLetters: 1, queued: 0, stopped: 1 });
  // The scheduled one ends with its one final event, and is never sent.
  assert.equal((await eventOf(r, app, 'b')).reason, 'erased');

  const after_ = await call('/subscribers/export', { msisdn: '923001230012' });
  assert.deepEqual({ ...after_.json, subscriber: undefined }, {
    subscriber: undefined,
    choices: { blocklisted: false, doNotContact: false, optedOut: { senders: ['8555'], tenants: [] }, optedIn: { tenants: [] } },
    messages: [],
    mo: [],
    queued: [],
    deadLetters: [],
    frequency: {},
  });
  assert.equal((await eventOf(r, app, 'keep')).status, 'delivered', 'other subscribers untouched');
  assert.equal((await call('/subscribers/export', { msisdn: '03001230013' })).json.messages instanceof Array, true);
  assert.equal(((await call('/subscribers/export', { msisdn: '03001230013' })).json.messages as unknown[]).length, 1);

  const lookup = await call('/subscribers/lookup', { msisdn: '03001230012' });
  assert.deepEqual((lookup.json.choices as { optedOut: { senders: string[] } }).optedOut.senders, ['8555']);
  assert.equal(lookup.json.subscriber, app.vault.hash('+923001230012'));
  const again = await call('/subscribers/erase', { msisdn: '03001230012' });
  assert.deepEqual({ ...again.json, subscriber: undefined }, { subscriber: undefined, records: 0, mappings: 0, events: 0, mo: 0, deadLetters: 0, queued: 0, stopped: 0 }, 'idempotent');

  const audit = await app.audit.range();
  assert.deepEqual(audit.map((e) => e.fields.action).filter((a) => a?.startsWith('subscriber.')), ['subscriber.export', 'subscriber.erase', 'subscriber.export', 'subscriber.export', 'subscriber.export', 'subscriber.lookup', 'subscriber.erase']);
  assert.equal(audit.find((e) => e.fields.action === 'subscriber.erase')?.fields.target, app.vault.hash('+923001230012'));
  assert.doesNotMatch(JSON.stringify(audit), /1230012/);
});

test('`qasid subscriber` CLI: opt-out, export and erase with the gateway config; audited by hash; a bad number is refused', async () => {
  const s = await sim();
  const keys = testKeys();
  const { app } = await gateway(s, { policy: NO_QUIET, privacy: keys });
  const dir = mkdtempSync(join(tmpdir(), 'qasid-sub-'));
  const cfg = join(dir, 'qasid.json');
  writeFileSync(cfg, JSON.stringify({ redis: { url: redis.url, prefix: app.config.redis.prefix }, privacy: keys }));
  const run = async (...argv: string[]): Promise<{ code: number; text: string }> => {
    const out: string[] = [];
    const code = await subscriberCommand([...argv, '--config', cfg], { out: (x) => out.push(x), err: (x) => out.push(x), env: {} });
    return { code, text: out.join('\n') };
  };
  assert.equal((await run('opt-out', '03001230020', '--tenant', 'acme')).code, 0);
  const exported = await run('export', '+923001230020');
  assert.equal(exported.code, 0, exported.text);
  assert.deepEqual((JSON.parse(exported.text) as { choices: { optedOut: { tenants: string[] } } }).choices.optedOut.tenants, ['acme']);
  assert.equal((await run('erase', '923001230020')).code, 0);
  assert.equal((await run('opt-out', '03001230020')).code, 64, 'a scope is required');
  const bad = await run('export', '0300-12');
  assert.equal(bad.code, 64);
  assert.doesNotMatch(bad.text, /0300-12/);
  const audit = await app.audit.range();
  assert.deepEqual(audit.map((e) => e.fields.action), ['subscriber.opt_out', 'subscriber.export', 'subscriber.erase']);
  assert.ok(audit.every((e) => e.fields.actor?.startsWith('cli:') && e.fields.target === app.vault.hash('+923001230020')));
});

test('entries still waiting in the intake stream (clear or sealed) are exported, and erased: out of the stream, ended failed erased, never sent', async () => {
  const keys = testKeys();
  const prefix = `queued${Date.now().toString(36)}`;
  const r = new Redis(redis.url);
  cleanups.push(async () => void r.disconnect());
  const dir = mkdtempSync(join(tmpdir(), 'qasid-queued-'));
  const cfg = join(dir, 'qasid.json');
  writeFileSync(cfg, JSON.stringify({ redis: { url: redis.url, prefix }, privacy: keys }));
  const run = async (...argv: string[]): Promise<{ code: number; text: string }> => {
    const out: string[] = [];
    const code = await subscriberCommand([...argv, '--config', cfg], { out: (x) => out.push(x), err: (x) => out.push(x), env: {} });
    return { code, text: out.join('\n') };
  };
  // No daemon has read the stream yet (no consumer group either).
  const plain = new QasidClient(r, { prefix });
  const sealed = new QasidClient(r, { prefix, keyring: Keyring.fromJson(keys.keyring, 'test') });
  await plain.send({ id: 'q1', to: '03001230055', from: 'SHOP', text: 'Sale ends tonight' });
  await sealed.send({ id: 'q2', to: '+923001230055', from: 'BANK', text: 'Your code is 4411', tenant: 'acme' });
  await plain.send({ id: 'q3', to: '03001230056', from: 'SHOP', text: 'Someone else' });

  const exported = await run('export', '03001230055');
  assert.equal(exported.code, 0, exported.text);
  const doc = JSON.parse(exported.text) as { queued: Array<{ clientId: string; text: string; tenant?: string }> };
  assert.deepEqual(doc.queued.map((q) => [q.clientId, q.text, q.tenant]), [['q1', 'Sale ends tonight', undefined], ['q2', 'Your code is 4411', 'acme']]);

  const erased = await run('erase', '03001230055');
  assert.equal(erased.code, 0, erased.text);
  const report = JSON.parse(erased.text) as { queued: number; stopped: number };
  assert.deepEqual([report.queued, report.stopped], [2, 2]);
  const ends = (await readEvents(r, `${prefix}:events`)).map((e) => [e.clientId, e.status, e.final, e.reason]);
  assert.deepEqual(ends, [['q1', 'failed', true, 'erased'], ['q2', 'failed', true, 'erased']]);
  assert.equal(await r.xlen(`${prefix}:mt`), 1, 'only the other subscriber\'s entry is left');
  assert.deepEqual(JSON.parse((await run('export', '03001230055')).text).queued, []);

  // A daemon started now sends only what is left.
  const s = await sim();
  const { app } = await gateway(s, { policy: NO_QUIET, privacy: keys, redis: { url: redis.url, prefix } });
  assert.equal((await eventOf(r, app, 'q3')).status, 'delivered');
  assert.equal(s.stats.submits, 1);
  assert.equal(await r.exists(app.keys.record(recordId(undefined, 'q1'))), 0);
});
