/**
 * Key rotation against a real redis-server and a whole gateway: a keyring reloaded with a
 * new current key writes under it at once, the old one stays readable, and the sweep
 * (rotateKeys / `qasid keys rotate`) moves records and dead letters to the new key so the
 * old one can leave the keyring. MO entries are only counted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import { keysCommand } from '../../src/cli/keys.js';
import type { CliIo } from '../../src/cli/send.js';
import { decrypt, encrypt, envelopeKeyId, isEnvelope } from '../../src/privacy/cipher.js';
import { Keyring } from '../../src/privacy/keyring.js';
import { rotateKeys, recordPattern, type RotationReport } from '../../src/privacy/rotate.js';
import { keysFor, recordId, type Keys } from '../../src/queue/keys.js';
import { MessageStore } from '../../src/queue/store.js';
import type { FieldSealer } from '../../src/queue/sealing.js';
import { startSimulator } from '../../src/sim/index.js';
import { startGateway, testConfig, testKeys } from '../helpers/app.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let r: Redis;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  redis = await startRedis();
  r = new Redis(redis.url);
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  r?.disconnect();
  await redis?.stop();
});

const K1 = Keyring.generateKey();
const K2 = Keyring.generateKey();
const ring = (current: string, keys: Record<string, string>): Keyring => Keyring.fromSource({ current, keys }, 'test');

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'qasid-keys-'));
}

function capture(env: NodeJS.ProcessEnv = {}): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s), env }, out, err };
}

function sealer(keyring: Keyring): FieldSealer {
  return {
    seal: (p, c) => encrypt(keyring, p, c),
    open: (s, c) => {
      const o = decrypt(keyring, s, c);
      return o.ok ? o.text : undefined;
    },
    isSealed: (v) => isEnvelope(v),
  };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function deadLetters(keys: Keys): Promise<Array<{ id: string; f: Record<string, string> }>> {
  return (await r.xrange(keys.dead, '-', '+')).map(([id, flat]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i] as string] = flat[i + 1] as string;
    return { id, f };
  });
}

async function finalStatus(app: App, clientId: string): Promise<string | undefined> {
  for (const [, f] of await r.xrange(app.keys.events, '-', '+')) {
    const e = JSON.parse(f[1] as string) as { clientId?: string; final: boolean; status: string };
    if (e.clientId === clientId && e.final) return e.status;
  }
  return undefined;
}

const msg = (id: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `hello ${id}`, ...extra });

test('a reloaded keyring writes under the new key; the sweep moves records and dead letters to it; the old key can then go', async () => {
  const dir = tempDir();
  const keyringFile = join(dir, 'keyring.json');
  writeFileSync(keyringFile, JSON.stringify({ current: 'k1', keys: { k1: K1 } }));
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => sim.close());
  const hashKeyring = testKeys().hashKeyring;
  const config = testConfig(redis.url, [{ id: 'jazz', port: sim.port }], { privacy: { keyringFile, hashKeyring } });
  const { app } = await startGateway(redis.url, config, cleanups, { level: 'warn' });
  const keys = app.keys;

  // Under k1: a scheduled message (its record waits in Redis) and a dead letter.
  const sendAt = (): string => new Date(Date.now() + 3000).toISOString();
  await r.xadd(keys.intake, '*', 'data', msg('rot-a', { sendAt: sendAt() }));
  await r.xadd(keys.intake, '*', 'data', 'not json');
  const recA = recordId(undefined, 'rot-a');
  await until('record a', async () => ((await r.hget(keys.record(recA), 'd')) === null ? undefined : true));
  await until('dead letter 1', async () => ((await r.xlen(keys.dead)) >= 1 ? true : undefined));
  // An MO entry under k1 (as Outputs.mo writes it).
  const moId = (await r.xadd(
    keys.mo,
    '*',
    'data',
    JSON.stringify({ v: 1, carrier: 'jazz', to: '3737', fromMasked: '+92300****567', subscriber: 'x', sealed: encrypt(ring('k1', { k1: K1 }), JSON.stringify({ from: '+923001234567', text: 'hi' }), 'mo'), textLength: 2, dataCoding: 0, at: new Date().toISOString() }),
  )) as string;
  // And one in a routed MO stream (mo.routes), newer.
  const routedMoId = (await r.xadd(
    keys.moStream('acme'),
    '*',
    'data',
    JSON.stringify({ v: 1, carrier: 'jazz', to: '8555', fromMasked: '+92300****567', subscriber: 'x', sealed: encrypt(ring('k1', { k1: K1 }), JSON.stringify({ from: '+923001234567', text: 'join' }), 'mo'), textLength: 4, dataCoding: 0, at: new Date().toISOString() }),
  )) as string;
  // A record from before encryption: `d` in plain JSON.
  const legacy = `legacy${randomBytes(4).toString('hex')}`;
  await r.hset(keys.record(legacy), 'i', JSON.stringify({ cid: 'old', gw: 'g-old' }), 'd', JSON.stringify({ to: '+923001234567', from: 'QASID', txt: 'before encryption' }), 'st', 'delivered', 'term', 'delivered');

  // New write key k2, k1 kept readable.
  writeFileSync(keyringFile, JSON.stringify({ current: 'k2', keys: { k1: K1, k2: K2 } }));
  assert.deepEqual(app.reloadKeys(), { current: 'k2', ids: ['k1', 'k2'] });
  await r.xadd(keys.intake, '*', 'data', msg('rot-b', { sendAt: sendAt() }));
  await r.xadd(keys.intake, '*', 'data', '{also not json');
  const recB = recordId(undefined, 'rot-b');
  await until('record b', async () => ((await r.hget(keys.record(recB), 'd')) === null ? undefined : true));
  await until('dead letter 2', async () => ((await r.xlen(keys.dead)) >= 2 ? true : undefined));

  const dA = (await r.hget(keys.record(recA), 'd')) as string;
  const dB = (await r.hget(keys.record(recB), 'd')) as string;
  assert.equal(envelopeKeyId(dA), 'k1');
  assert.equal(envelopeKeyId(dB), 'k2');
  const both = new MessageStore(r, keys, sealer(ring('k2', { k1: K1, k2: K2 })));
  assert.equal((await both.get(recA))?.txt, 'hello rot-a');
  assert.equal((await both.get(recB))?.txt, 'hello rot-b');
  const deadBefore = await deadLetters(keys);
  assert.deepEqual(
    deadBefore.map((e) => envelopeKeyId(e.f.data as string)),
    ['k1', 'k2'],
  );

  // The sweep, through the CLI with a config file naming the keyring file.
  const configFile = join(dir, 'qasid.json');
  writeFileSync(configFile, JSON.stringify({ redis: { url: redis.url, prefix: config.redis.prefix }, privacy: { keyringFile: 'keyring.json' }, mo: { routes: [{ to: '8555', stream: 'acme' }] } }));
  const first = capture();
  assert.equal(await keysCommand(['rotate', '--config', configFile, '--json', '--batch', '1'], first.io), 0, first.err.join('\n'));
  const report = JSON.parse(first.out.join('\n')) as RotationReport;
  assert.deepEqual(report, {
    records: { moved: 1, sealed: 1, current: 1, failed: 0 },
    dead: { moved: 1, current: 1, failed: 0 },
    mo: { underOldKeys: 2, newestOldEntry: routedMoId },
    byKey: { k1: 2 },
  });

  // Everything names k2; the moved dead letter kept its fields and says where it came from.
  for (const id of [recA, recB, legacy]) assert.equal(envelopeKeyId((await r.hget(keys.record(id), 'd')) as string), 'k2', id);
  const deadAfter = await deadLetters(keys);
  assert.equal(deadAfter.length, 2);
  assert.ok(deadAfter.every((e) => envelopeKeyId(e.f.data as string) === 'k2'));
  const movedDead = deadAfter.find((e) => e.f.was === deadBefore[0]?.id);
  assert.ok(movedDead, 'the copy names the old entry in `was`');
  assert.equal(movedDead.f.reason, deadBefore[0]?.f.reason);
  assert.equal(movedDead.f.entry, deadBefore[0]?.f.entry);
  assert.equal((await r.xrange(keys.dead, deadBefore[0]?.id as string, deadBefore[0]?.id as string)).length, 0, 'the old entry is gone');

  // A second run moves nothing.
  const again = await rotateKeys(r, keys, ring('k2', { k1: K1, k2: K2 }));
  assert.deepEqual(again, {
    records: { moved: 0, sealed: 0, current: 3, failed: 0 },
    dead: { moved: 0, current: 2, failed: 0 },
    mo: { underOldKeys: 1, newestOldEntry: moId },
    byKey: { k1: 1 },
  }, 'without moStreams: the default MO stream only');
  const text = capture();
  assert.equal(await keysCommand(['rotate', '--config', configFile], text.io), 0);
  const printed = text.out.join('\n');
  assert.match(printed, /records: 0 moved, 0 sealed \(were plain\), 3 already current, 0 failed/);
  assert.match(printed, /MO entries: 2 under old keys/, 'the routed stream counted too');
  assert.match(printed, /key k1: 2 still under it; keep it/);
  assert.ok(!printed.includes(K1) && !printed.includes(K2) && !text.err.join('').includes(K1), 'no key material printed');

  // A keyring without k1 opens every record and dead letter.
  const onlyK2 = ring('k2', { k2: K2 });
  const store2 = new MessageStore(r, keys, sealer(onlyK2));
  assert.equal((await store2.get(recA))?.txt, 'hello rot-a');
  assert.equal((await store2.get(recB))?.txt, 'hello rot-b');
  assert.equal((await store2.get(legacy))?.txt, 'before encryption');
  assert.deepEqual(
    deadAfter.map((e) => decrypt(onlyK2, e.f.data as string, 'dead')).map((o) => (o.ok ? o.text : o.reason)),
    ['{also not json', 'not json'],
  );
  // The gateway, running with k1+k2, still sends both once their time comes.
  assert.equal(await until('a delivered', () => finalStatus(app, 'rot-a')), 'delivered');
  assert.equal(await until('b delivered', () => finalStatus(app, 'rot-b')), 'delivered');
});

test('a value under a key the keyring lacks (or that does not authenticate) is counted failed and left untouched', async () => {
  const keys = keysFor(`t${randomBytes(4).toString('hex')}`);
  const k9 = ring('k9', { k9: Keyring.generateKey() });
  const k1 = ring('k1', { k1: K1 });
  const current = ring('k2', { k1: K1, k2: K2 });
  const values = {
    unknown: encrypt(k9, JSON.stringify({ txt: 'x' }), 'r-unknown'),
    copied: encrypt(k1, JSON.stringify({ txt: 'y' }), 'r-other'), // another record's envelope: fails to authenticate
    garbage: 'neither json nor an envelope',
    good: encrypt(k1, JSON.stringify({ txt: 'z' }), 'r-good'),
  };
  await r.hset(keys.record('r-unknown'), 'd', values.unknown);
  await r.hset(keys.record('r-copied'), 'd', values.copied);
  await r.hset(keys.record('r-garbage'), 'd', values.garbage);
  await r.hset(keys.record('r-good'), 'd', values.good);
  const deadUnknown = encrypt(k9, 'x', 'dead');
  const deadId = (await r.xadd(keys.dead, '*', 'reason', 'undecryptable', 'detail', 'd', 'entry', '1-1', 'sealedMt', encrypt(k9, 'y', 'mt'))) as string;
  const deadId2 = (await r.xadd(keys.dead, '*', 'reason', 'bad_json', 'detail', 'd', 'entry', '1-2', 'data', deadUnknown)) as string;
  await r.xadd(keys.dead, '*', 'reason', 'bad_json', 'detail', 'd', 'entry', '1-3', 'data', ''); // nothing sealed: names no key

  const progress: number[] = [];
  const report = await rotateKeys(r, keys, current, { batch: 2, onProgress: (n) => progress.push(n) });
  assert.deepEqual(report, {
    records: { moved: 1, sealed: 0, current: 0, failed: 3 },
    // The `undecryptable` dead letter arrived sealed under a key we never had: skipped, not a failure.
    dead: { moved: 0, current: 0, failed: 1 },
    mo: { underOldKeys: 0 },
    byKey: { k1: 1, k9: 2 },
  });
  assert.ok(progress.length >= 3 && progress.at(-1) === 7, `progress ${progress.join(',')}`);
  assert.equal(await r.hget(keys.record('r-unknown'), 'd'), values.unknown);
  assert.equal(await r.hget(keys.record('r-copied'), 'd'), values.copied);
  assert.equal(await r.hget(keys.record('r-garbage'), 'd'), values.garbage);
  assert.equal(envelopeKeyId((await r.hget(keys.record('r-good'), 'd')) as string), 'k2');
  assert.deepEqual(
    (await r.xrange(keys.dead, '-', '+')).slice(0, 2).map(([id]) => id),
    [deadId, deadId2],
  );
  assert.equal((await r.xrange(keys.dead, deadId2, deadId2))[0]?.[1][7], deadUnknown);

  // The CLI says so with exit code 1, naming the key id only.
  const dir = tempDir();
  writeFileSync(join(dir, 'keyring.json'), JSON.stringify({ current: 'k2', keys: { k1: K1, k2: K2 } }));
  const configFile = join(dir, 'qasid.json');
  writeFileSync(configFile, JSON.stringify({ redis: { url: redis.url, prefix: keys.intake.slice(0, -':mt'.length) }, privacy: { keyringFile: 'keyring.json' } }));
  const c = capture();
  assert.equal(await keysCommand(['rotate', '--config', configFile], c.io), 1);
  assert.match(c.out.join('\n'), /key k9: 2 value\(s\) under it, and the keyring does not hold it/);
  assert.match(c.out.join('\n'), /4 value\(s\) could not be opened/);
});

test('the SCAN pattern escapes glob characters: a prefix with * ? [ ] touches only its own records', async () => {
  const base = `g${randomBytes(3).toString('hex')}`;
  // Unescaped, `<base>?[ab]*\\:msg:{<base>?[ab]*\\:0}:*` would match the other prefix's keys too.
  const oddPrefix = `${base}?[ab]*\\`;
  const odd = keysFor(oddPrefix);
  const other = keysFor(`${base}Xa-any\\`);
  const k1 = ring('k1', { k1: K1 });
  await r.hset(odd.record('mine'), 'd', encrypt(k1, '{}', 'mine'));
  await r.hset(other.record('theirs'), 'd', encrypt(k1, '{}', 'theirs'));
  await r.hset(`${odd.record('x')}:not-a-record}`, 'd', 'x');
  assert.deepEqual(await r.keys(`${oddPrefix}:msg:{${oddPrefix}:0}:*`), [other.record('theirs')], 'the unescaped pattern would take the other prefix');
  const report = await rotateKeys(r, odd, ring('k2', { k1: K1, k2: K2 }));
  assert.deepEqual(report.records, { moved: 1, sealed: 0, current: 0, failed: 0 });
  assert.equal(envelopeKeyId((await r.hget(other.record('theirs'), 'd')) as string), 'k1');
  assert.equal(recordPattern(odd).idOf(odd.record('Ab-_9')), 'Ab-_9');
  assert.equal(recordPattern(odd).idOf(odd.record('a{b')), undefined);
  const esc = `${base}\\?\\[ab\\]\\*\\\\`;
  assert.equal(recordPattern(odd).pattern, `${esc}:msg:{${esc}:0}:*`);
});

test('keys new prints a fresh one-key keyring and a hint; bad command lines exit 64; a missing keyring is a config error', async () => {
  const c = capture();
  assert.equal(await keysCommand(['new', '--id', 'k7'], c.io), 0);
  assert.equal(c.out.length, 1);
  const k = Keyring.fromJson(c.out[0] as string, 'printed');
  assert.equal(k.currentId, 'k7');
  assert.deepEqual(k.ids(), ['k7']);
  // No keyring configured: the advice is for a first install.
  assert.match(c.err.join('\n'), /first privacy\.keyring/);
  assert.ok(!c.err.join('\n').includes(JSON.parse(c.out[0] as string).keys.k7), 'the hint holds no key');

  for (const argv of [[], ['old'], ['new', '--id', 'bad id'], ['new', 'x'], ['rotate', '--id', 'k1'], ['rotate', '--batch', '0']]) {
    const b = capture();
    assert.equal(await keysCommand(argv, b.io), 64, argv.join(' '));
  }
  const h = capture();
  assert.equal(await keysCommand(['--help'], h.io), 0);
  assert.match(h.out[0] as string, /qasid keys rotate/);

  const dir = tempDir();
  const noKeyring = join(dir, 'qasid.json');
  writeFileSync(noKeyring, JSON.stringify({ redis: { url: redis.url } }));
  const m = capture();
  assert.equal(await keysCommand(['rotate', '--config', noKeyring], m.io), 2);
  assert.match(m.err.join('\n'), /privacy\.keyring: required/);

  const unreachable = join(dir, 'down.json');
  writeFileSync(join(dir, 'keyring.json'), Keyring.newSourceJson('k1'));
  writeFileSync(unreachable, JSON.stringify({ redis: { url: 'redis://127.0.0.1:1' }, privacy: { keyringFile: 'keyring.json' } }));
  const u = capture();
  assert.equal(await keysCommand(['rotate', '--config', unreachable], u.io), 4);
  assert.match(u.err.join('\n'), /cannot reach Redis/);
});
