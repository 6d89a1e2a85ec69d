/**
 * Who owns in-flight work, and what happens to work whose owner is gone or whose input is
 * poison — each test a defect that sent messages twice, lost them, or stalled the daemon:
 * a live daemon no longer takes back its own slow entries; a restart under the same name
 * resumes each of its entries once; a dead consumer's entries come back within seconds;
 * poison entries end and do not stall the rest; a half-done step is finished; a group
 * Redis lost is created again; validity is checked again after the wait for a token.
 */
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents, type StatusEvent } from '../helpers/events.js';
import { startGateway, testConfig, type Gateway, type RawCarrier } from '../helpers/app.js';
import { App as AppClass } from '../../src/app.js';
import { captureLogger } from '../../src/log/logger.js';
import { isQasidError } from '../../src/core/errors.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

async function sim(preset = 'HappySMSC'): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset });
  cleanups.push(() => s.close());
  return s;
}

function gateway(carriers: RawCarrier[], overrides: Record<string, unknown> = {}, opts: { now?: () => number } = {}): Promise<Gateway> {
  return startGateway(redis.url, testConfig(redis.url, carriers, overrides), cleanups, opts);
}

const msg = (id: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `hello ${id}`, ...extra });

async function finals(r: Redis, app: App, want: number, timeoutMs = 15_000): Promise<StatusEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const evs = (await readEvents(r, app.keys.events)).filter((e) => e.final);
    if (evs.length >= want || Date.now() > deadline) return evs;
    await new Promise((res) => setTimeout(res, 50));
  }
}

const pending = async (r: Redis, app: App): Promise<number> => Number(((await r.xpending(app.keys.intake, app.config.intake.group)) as [number])[0]);

/** Counts of final events per client id that appear more than once. */
function doubles(evs: StatusEvent[]): string[] {
  const seen = new Map<string, number>();
  for (const e of evs) seen.set(e.clientId ?? '', (seen.get(e.clientId ?? '') ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id}×${n}`);
}

test('a backlog that outlasts claimIdleMs: a live daemon keeps its own slow entries — each sent once, one final each', async () => {
  const s = await sim();
  // 150 messages at 50/s take 3 s: three times claimIdleMs. Idle time alone would say "dead".
  const { app, r, lines } = await gateway([{ id: 'jazz', port: s.port, tps: 50 }], { intake: { claimIdleMs: 1000 } });
  const pipe = r.pipeline();
  for (let i = 0; i < 150; i++) pipe.xadd(app.keys.intake, '*', 'data', msg(`slow${i}`, { receipt: false }));
  await pipe.exec();
  const evs = await finals(r, app, 150, 20_000);
  await new Promise((res) => setTimeout(res, 500));
  const all = (await readEvents(r, app.keys.events)).filter((e) => e.final);
  assert.equal(evs.length, 150);
  assert.deepEqual(doubles(all), [], 'no message has two final events');
  assert.equal(s.stats.submits, 150, 'each message reached the carrier once');
  assert.ok(!lines.some((l) => l.event === 'intake.claimed'), 'nothing was taken over');
  assert.equal(await pending(r, app), 0);
});

test('a restart under the same name resumes each of its pending entries exactly once (more than one batch of them)', async () => {
  const s = await sim();
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { intake: { consumer: 'same-name', batch: 50, blockMs: 100 } });
  const r = new Redis(redis.url);
  cleanups.push(async () => void r.disconnect());
  const intake = `${config.redis.prefix}:mt`;
  await r.xgroup('CREATE', intake, config.intake.group, '0', 'MKSTREAM');
  for (let i = 0; i < 180; i++) await r.xadd(intake, '*', 'data', msg(`own${i}`, { receipt: false }));
  // The previous process under this name read them all and died (no lease left behind).
  await r.xreadgroup('GROUP', config.intake.group, 'same-name', 'COUNT', 180, 'STREAMS', intake, '>');
  const { app } = await startGateway(redis.url, config, cleanups);
  const evs = await finals(r, app, 180, 15_000);
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(evs.length, 180);
  assert.deepEqual(doubles((await readEvents(r, app.keys.events)).filter((e) => e.final)), []);
  assert.equal(s.stats.submits, 180, 'each resumed entry was sent once');
  assert.equal(await pending(r, app), 0);
});

test('a crashed process left its lease behind: a restart under the same name waits it out; a live holder makes start-up fail', async () => {
  const s = await sim();
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { intake: { consumer: 'leased', leaseMs: 1500, blockMs: 100 } });
  const r = new Redis(redis.url);
  cleanups.push(async () => void r.disconnect());
  const owners = `${config.redis.prefix}:{${config.redis.prefix}:mt}:owners`;
  const [sec, usec] = (await r.time()) as unknown as [string, string];
  const serverNow = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  await r.hset(owners, 'leased', `crashed-token|${serverNow + 1200}`);
  const t0 = Date.now();
  const { app, lines } = await startGateway(redis.url, config, cleanups);
  assert.ok(Date.now() - t0 >= 900, 'start-up waited for the old lease to run out');
  assert.ok(lines.some((l) => l.event === 'intake.lease_wait'));
  await r.xadd(app.keys.intake, '*', 'data', msg('after-wait', { receipt: false }));
  assert.equal((await finals(r, app, 1)).length, 1);

  // A second instance under the same name while the first is alive: refused.
  const { logger } = captureLogger('warn');
  const second = new AppClass({ config, logger });
  cleanups.push(() => second.stop());
  await assert.rejects(second.start(), (e: unknown) => isQasidError(e, 'INTAKE_CONSUMER_IN_USE'));
});

test("a dead consumer's entries are taken over within seconds, all of them, and counted", async () => {
  const s = await sim();
  // claimIdleMs far away: only the lease decides.
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { intake: { claimIdleMs: 3_600_000, leaseMs: 2000, batch: 100, blockMs: 100 } });
  const r = new Redis(redis.url);
  cleanups.push(async () => void r.disconnect());
  const intake = `${config.redis.prefix}:mt`;
  await r.xgroup('CREATE', intake, config.intake.group, '0', 'MKSTREAM');
  const pipe = r.pipeline();
  for (let i = 0; i < 400; i++) pipe.xadd(intake, '*', 'data', msg(`orphan${i}`, { receipt: false }));
  await pipe.exec();
  await r.xreadgroup('GROUP', config.intake.group, 'dead-one', 'COUNT', 400, 'STREAMS', intake, '>');
  // Its lease ran out a moment ago.
  await r.hset(`${config.redis.prefix}:{${intake}}:owners`, 'dead-one', 'gone|1');
  const t0 = Date.now();
  const { app, lines } = await startGateway(redis.url, config, cleanups);
  const evs = await finals(r, app, 400, 10_000);
  const tookMs = Date.now() - t0;
  assert.equal(evs.length, 400);
  assert.ok(tookMs < 6000, `all 400 taken over and finished in ${tookMs} ms`);
  assert.equal(s.stats.submits, 400);
  assert.ok(lines.some((l) => l.event === 'intake.claimed'));
  const metrics = await (await fetch(`http://127.0.0.1:${app.admin.port}/metrics`)).text();
  assert.match(metrics, /^qasid_intake_claimed_total 400$/m);
  // The dead consumer is forgotten once it holds nothing.
  await until(async () => (await r.hget(`${config.redis.prefix}:{${intake}}:owners`, 'dead-one')) === null, 3000, 'the dead consumer to be forgotten');
  const consumers = (await r.xinfo('CONSUMERS', intake, config.intake.group)) as unknown[][];
  assert.ok(!consumers.some((c) => c.includes('dead-one')), 'and removed from the group');
});

test('poison entries: nesting 5,000 deep, a far sendAt, a bad field name — each ends with a reason, the good ones flow, a restart does not spin', async () => {
  const s = await sim();
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port }], { intake: { consumer: 'poisoned', batch: 100, blockMs: 100 } });
  const r = new Redis(redis.url);
  cleanups.push(async () => void r.disconnect());
  const intake = `${config.redis.prefix}:mt`;
  await r.xgroup('CREATE', intake, config.intake.group, '0', 'MKSTREAM');
  // 10 KB, under intake.maxEntryBytes: the depth, not the size, is what is wrong with it.
  const deep = `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`;
  const pipe = r.pipeline();
  for (let i = 0; i < 250; i++) pipe.xadd(intake, '*', 'data', `{"v":1,"id":"deep${i}","to":"03001234567","from":"A","text":"x","meta":${deep}}`);
  pipe.xadd(intake, '*', 'data', msg('far', { sendAt: '9999-01-01T00:00:00Z' }));
  pipe.xadd(intake, '*', 'data', JSON.stringify({ v: 1, id: 'badkey', to: '03001234567', from: 'A', text: 'x', '+923009876543': 1 }));
  pipe.xadd(intake, '*', 'data', JSON.stringify({ v: '03009876543', id: 'badv', to: '03001234567', from: 'A', text: 'x' }));
  await pipe.exec();
  // A previous process read them all before dying: they are this consumer's own on restart.
  await r.xreadgroup('GROUP', config.intake.group, 'poisoned', 'COUNT', 1000, 'STREAMS', intake, '>');
  for (let i = 0; i < 50; i++) await r.xadd(intake, '*', 'data', msg(`good${i}`, { receipt: false }));
  const { app, lines } = await startGateway(redis.url, config, cleanups);
  const evs = await finals(r, app, 303, 15_000);
  const reasons = new Map<string, number>();
  for (const e of evs) reasons.set(`${e.status} ${e.reason ?? ''}`.trim(), (reasons.get(`${e.status} ${e.reason ?? ''}`.trim()) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(reasons), {
    'rejected too_deep': 250,
    'rejected schedule_too_far': 1,
    'rejected invalid_schema': 1,
    'rejected unsupported_version': 1,
    accepted: 50,
  });
  assert.equal(await pending(r, app), 0);
  // Dead letters say what is wrong, never what the entry held.
  const dead = await r.xrange(app.keys.dead, '-', '+');
  assert.equal(dead.length, 253);
  for (const [, f] of dead) {
    const detail = f[f.indexOf('detail') + 1] ?? '';
    assert.doesNotMatch(detail, /92300|0300/, `detail "${detail}" quotes the entry`);
  }
  assert.ok(!lines.some((l) => l.event === 'dispatch.error'), 'no handler failed');
});

test('an oversized entry is dead-lettered without its body: its size and a hash', async () => {
  const s = await sim();
  const { app, r } = await gateway([{ id: 'jazz', port: s.port }], { intake: { maxEntryBytes: 1024 } });
  const big = msg('big', { text: 'x'.repeat(1900) });
  await r.xadd(app.keys.intake, '*', 'data', big);
  const evs = await finals(r, app, 1);
  assert.deepEqual(evs.map((e) => [e.status, e.reason]), [['rejected', 'oversized']]);
  const [[, f] = ['', []]] = await r.xrange(app.keys.dead, '-', '+');
  const fields = Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i], f[2 * i + 1]]));
  assert.equal(fields.data, '', 'the body is not kept');
  assert.match(fields.detail ?? '', new RegExp(`${Buffer.byteLength(big)} bytes.*sha256 [0-9a-f]{64}`));
});

test('a crash between two writes of one step: accepted but never watched, or deferred but never due — finished by the retry', async () => {
  const s = await sim('NoReceiptSMSC');
  let offset = 0;
  const now = (): number => Date.now() + offset;
  const { app, r, lines } = await gateway([{ id: 'jazz', port: s.port }], { messages: { receiptGraceSec: 0 } }, { now });
  // The watch set cannot be written (a string in its place): the step after "accepted" fails.
  await r.set(app.keys.watch, 'cut');
  await r.xadd(app.keys.intake, '*', 'data', msg('halfway', { validity: 30 }));
  const rec = app.keys.record((await import('../../src/queue/keys.js')).recordId(undefined, 'halfway'));
  await until(async () => (await r.hget(rec, 'st')) === 'accepted', 5000, 'the record to say accepted');
  await until(() => lines.some((l) => l.event === 'dispatch.error'), 5000, 'the failed step');
  assert.equal(await pending(r, app), 1, 'the entry is kept while its step is unfinished');
  await r.del(app.keys.watch);
  // The retry finds it accepted, puts it on the watch set, and lets the entry go.
  await until(async () => (await r.zscore(app.keys.watch, (await import('../../src/queue/keys.js')).recordId(undefined, 'halfway'))) !== null, 5000, 'the watch entry');
  await until(async () => (await pending(r, app)) === 0, 3000, 'the entry to be released');
  offset = 31_000;
  const evs = await finals(r, app, 1, 5000);
  assert.deepEqual(evs.map((e) => [e.status, e.reason]), [['expired', 'no_receipt']]);
  assert.equal(s.stats.submits, 1);
});

test('a crash between the accept and the carrier-id mapping: whoever resumes the entry writes the mapping again, and the receipt parked meanwhile settles it', async () => {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC', behaviour: { receipts: { delayMs: 1500 } } });
  cleanups.push(() => s.close());
  const { app, r, lines } = await gateway([{ id: 'jazz', port: s.port }], { messages: { receiptGraceSec: 0 } });
  // The simulator's first message id; its parked-receipt key of the wrong type makes the
  // mapping step fail after the accept landed, and the test takes the mapping away — as a
  // process killed between the accept and the mapping would leave it.
  const parkedKey = app.keys.parked('jazz', '1000000000');
  await r.hset(parkedKey, 'x', '1');
  await r.xadd(app.keys.intake, '*', 'data', msg('cut-before-map', { validity: 60 }));
  const rec = app.keys.record((await import('../../src/queue/keys.js')).recordId(undefined, 'cut-before-map'));
  await until(() => lines.some((l) => l.event === 'dispatch.error'), 5000, 'the failed mapping step');
  assert.equal(await r.del(app.keys.carrierId('jazz', '1000000000')), 1, 'the mapping taken away');
  assert.equal(await r.hget(rec, 'st'), 'accepted');
  // The retry (1 s on) finds the record accepted and writes the mapping again; the receipt
  // (1.5 s on) matches it — or, had it come first, would be parked and applied by the rewrite.
  const evs = await finals(r, app, 1, 10_000);
  assert.deepEqual(evs.map((e) => e.status), ['delivered'], 'settled by its receipt, not expired at its deadline');
  await r.del(parkedKey);
  await until(async () => (await pending(r, app)) === 0, 5000, 'the entry released');
  assert.equal(s.stats.submits, 1, 'sent once');
  assert.equal((await finals(r, app, 2, 500)).length, 1, 'one final event');
});

test('validity is checked again after the wait for a token: a message past it ends expired and is not sent', async () => {
  const s = await sim();
  let offset = 0;
  const now = (): number => Date.now() + offset;
  const { app, r } = await gateway([{ id: 'jazz', port: s.port, tps: 5 }], {}, { now });
  for (let i = 0; i < 20; i++) await r.xadd(app.keys.intake, '*', 'data', msg(`v${i}`, { validity: 30, receipt: false }));
  await until(() => s.stats.submits >= 3, 5000, 'the first submits');
  // Half a minute passes for the messages while most still wait for their token.
  offset = 31_000;
  const evs = await finals(r, app, 20, 10_000);
  const expired = evs.filter((e) => e.status === 'expired');
  assert.equal(evs.length, 20);
  assert.ok(expired.length >= 12, `${expired.length} ended expired`);
  assert.ok(expired.every((e) => e.reason === 'validity_passed'));
  assert.equal(s.stats.submits, 20 - expired.length, 'no expired message reached the carrier');
});

test('Redis restarted empty: the consumer group is created again and new entries flow', async () => {
  const s = await sim();
  const { app, r, lines } = await gateway([{ id: 'jazz', port: s.port }]);
  await r.xadd(app.keys.intake, '*', 'data', msg('before', { receipt: false }));
  assert.equal((await finals(r, app, 1)).length, 1);
  await r.flushall();
  await r.xadd(app.keys.intake, '*', 'data', msg('after', { receipt: false }));
  await until(() => lines.some((l) => l.event === 'intake.group_recreated'), 5000, 'the group to be recreated');
  const evs = await finals(r, app, 1, 5000);
  assert.deepEqual(evs.map((e) => [e.clientId, e.status]), [['after', 'accepted']]);
});

/** A redis-server of this test's own on a fixed port, so it can be killed and started again there. */
async function ownRedis(port: number): Promise<{ kill(): void }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  cleanups.push(async () => void child.kill('SIGKILL'));
  const deadline = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((res) => setTimeout(res, 20));
  }
  return { kill: () => child.kill('SIGKILL') };
}

test('/readyz: 503 naming what is wrong while no carrier is bound, while Redis is down; a Redis restarted empty is picked up again', async () => {
  const port = await new Promise<number>((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => res(p));
    });
  });
  let server = await ownRedis(port);
  const url = `redis://127.0.0.1:${port}`;
  const s = await sim();
  const { app, r } = await startGateway(url, testConfig(url, [{ id: 'jazz', port: s.port }]), cleanups);
  r.on('error', () => undefined); // it reconnects by itself while the server is down
  const ready = async (): Promise<{ status: number; failing?: string[] }> => {
    const res = await fetch(`http://127.0.0.1:${app.admin.port}/readyz`);
    return { status: res.status, ...((await res.json()) as { failing?: string[] }) };
  };
  assert.equal((await ready()).status, 200);

  server.kill();
  await until(async () => (await ready()).status === 503, 5000, '/readyz to say 503 with Redis down');
  assert.ok((await ready()).failing?.includes('redis'));
  server = await ownRedis(port);
  await until(async () => (await ready()).status === 200, 10_000, '/readyz to recover with Redis back');
  // Restarted empty: no group, no lease. New entries still flow.
  await r.xadd(app.keys.intake, '*', 'data', msg('after-restart', { receipt: false }));
  const evs = await finals(r, app, 1, 10_000);
  assert.deepEqual(evs.map((e) => [e.clientId, e.status]), [['after-restart', 'accepted']]);

  await s.close();
  await until(async () => (await ready()).status === 503, 5000, '/readyz to say 503 with no carrier bound');
  assert.deepEqual((await ready()).failing, ['carrier']);
  // Stopped while this test's Redis is still up (the cleanups stop it first).
  await app.stop();
});
