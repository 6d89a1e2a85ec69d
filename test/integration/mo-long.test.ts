/**
 * Long MO messages and MO routing, end to end: the simulator sends the parts of a long
 * MO (UDH with an 8- or 16-bit reference, SAR TLVs; out of order, repeated, some never)
 * over real TCP to a whole gateway on a real Redis, and the MO streams are read as a
 * consumer reads them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import { QasidClient, type OpenedMo } from '../../src/client/index.js';
import { longMoId } from '../../src/dlr/mo-assembly.js';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { startGateway, testConfig, type Gateway } from '../helpers/app.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

const LONG_TEXT = 'Please call me back about the parcel that was meant to arrive on Tuesday; nobody was home and the note left at the door had no number on it. Thanks!';

async function sim(): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => s.close());
  return s;
}

async function gateway(s: SimServer, mo: Record<string, unknown> = {}): Promise<Gateway> {
  return startGateway(redis.url, testConfig(redis.url, [{ id: 'jazz', port: s.port }], { mo }), cleanups, { level: 'debug' });
}

/** The opened entries of the default MO stream, or of a routed one. */
async function entries(r: Redis, app: App, stream?: string): Promise<OpenedMo[]> {
  const client = new QasidClient(r, { prefix: app.config.redis.prefix, keyring: app.vault.keyring });
  return (await client.readMo('-', 1000, stream)).map(({ mo }) => mo as OpenedMo);
}

async function entriesWhen(r: Redis, app: App, n: number, stream?: string): Promise<OpenedMo[]> {
  await until(async () => (await entries(r, app, stream)).length >= n, 5000, `${n} MO entries in ${stream ?? 'the default stream'}`);
  return entries(r, app, stream);
}

test('a long MO numbered by UDH (8- and 16-bit references) or SAR TLVs is one entry with its whole text, the UDH left out', async () => {
  const s = await sim();
  const { app, r } = await gateway(s);
  assert.equal(s.injectMo({ from: '923001110001', to: '8555', text: LONG_TEXT, long: 'udh8', ref: 200 }), 2);
  assert.equal(s.injectMo({ from: '923001110001', to: '8555', text: LONG_TEXT, long: 'udh16', ref: 0xbeef, partOctets: 60 }), 3);
  assert.equal(s.injectMo({ from: '923001110001', to: '8555', text: LONG_TEXT, long: 'sar', ref: 9, partOctets: 100 }), 2);
  // UCS-2 with an odd part size: a character is split between two parts, and still reads whole.
  const urdu = 'آپ کا پارسل منگل کو آنا تھا، کوئی گھر پر نہیں تھا۔ براہ کرم واپس کال کریں، شکریہ۔ '.repeat(2);
  assert.equal(s.injectMo({ from: '923001110001', to: '8555', text: urdu, long: 'udh8', ref: 201, partOctets: 67 }), Math.ceil((urdu.length * 2) / 67));
  const mos = await entriesWhen(r, app, 4);
  await new Promise((res) => setTimeout(res, 200));
  assert.equal((await entries(r, app)).length, 4, 'one entry per long MO, none per part');
  assert.deepEqual(
    mos.map((m) => [m.text, m.parts, m.partial, m.partsReceived, m.from, m.to, m.carrier]),
    [
      [LONG_TEXT, 2, undefined, undefined, '+923001110001', '8555', 'jazz'],
      [LONG_TEXT, 3, undefined, undefined, '+923001110001', '8555', 'jazz'],
      [LONG_TEXT, 2, undefined, undefined, '+923001110001', '8555', 'jazz'],
      [urdu, Math.ceil((urdu.length * 2) / 67), undefined, undefined, '+923001110001', '8555', 'jazz'],
    ],
  );
  assert.deepEqual(
    mos.map((m) => m.dataCoding),
    [1, 1, 1, 8],
  );
  assert.equal(s.stats.deliverResps, 2 + 3 + 2 + Math.ceil((urdu.length * 2) / 67), 'every part acknowledged');
  assert.equal(app.mo.counts.written, 4);
});

test("each part is held in Redis, sealed, before its deliver_sm_resp; the long MO's key names no number", async () => {
  const s = await sim();
  const { app, r } = await gateway(s);
  const acks = s.stats.deliverResps;
  assert.equal(s.injectMo({ from: '923001110002', to: '8555', text: LONG_TEXT, long: 'udh8', ref: 17, order: [2] }), 1);
  await until(() => s.stats.deliverResps > acks, 3000, 'the part acknowledged');
  // The instant it is acknowledged, the part is in Redis.
  const key = app.keys.moParts('jazz', longMoId(app.vault.hash('+923001110002'), '8555', 17, 2));
  const held = await r.hgetall(key);
  assert.ok(held['p:2'] !== undefined, 'part 2 held');
  assert.ok((await r.pttl(key)) > 0, 'with a TTL');
  assert.ok((await r.zscore(app.keys.moPartsDue('jazz'), key.slice(key.lastIndexOf(':') + 1))) !== null, 'indexed by deadline');
  const dump = JSON.stringify(held) + key;
  assert.doesNotMatch(dump, /923001110002|parcel|Tuesday/, 'neither the number nor the text in clear');
  assert.equal((await entries(r, app)).length, 0, 'nothing written before the last part');
  s.injectMo({ from: '923001110002', to: '8555', text: LONG_TEXT, long: 'udh8', ref: 17, order: [1] });
  const [mo] = await entriesWhen(r, app, 1);
  assert.equal(mo?.text, LONG_TEXT);
  assert.deepEqual(await r.hgetall(key), { done: '1' }, 'only a tombstone is left');
  assert.equal(await r.zcard(app.keys.moPartsDue('jazz')), 0);
});

test('out of order and repeated parts make one entry; a part repeated after it was written is ignored', async () => {
  const s = await sim();
  const { app, r, lines } = await gateway(s);
  s.injectMo({ from: '923001110003', to: '8555', text: LONG_TEXT, long: 'udh16', ref: 300, partOctets: 50, order: [3, 1, 2] });
  s.injectMo({ from: '923001110004', to: '8555', text: LONG_TEXT, long: 'sar', ref: 300, partOctets: 50, order: [2, 2, 1, 1, 3] });
  const mos = await entriesWhen(r, app, 2);
  assert.deepEqual(
    mos.map((m) => [m.from, m.text, m.parts]),
    [
      ['+923001110003', LONG_TEXT, 3],
      ['+923001110004', LONG_TEXT, 3],
    ],
  );
  const acks = s.stats.deliverResps;
  s.injectMo({ from: '923001110004', to: '8555', text: LONG_TEXT, long: 'sar', ref: 300, partOctets: 50, order: [2] });
  await until(() => s.stats.deliverResps > acks, 3000, 'the late part acknowledged');
  await new Promise((res) => setTimeout(res, 200));
  assert.equal((await entries(r, app)).length, 2, 'no entry for repeated parts');
  assert.equal(app.mo.counts.duplicates, 3);
  const ignored = lines.filter((l) => l.event === 'mo.part_ignored').map((l) => l.reason);
  assert.deepEqual(ignored, ['duplicate', 'duplicate', 'late']);
});

test('parts that never come: after mo.reassemblySec the parts held go out as one entry, partial, naming the parts held', async () => {
  const s = await sim();
  const { app, r, lines } = await gateway(s, { reassemblySec: 1 });
  const started = Date.now();
  s.injectMo({ from: '923001110005', to: '8555', text: LONG_TEXT, long: 'udh8', ref: 5, partOctets: 50, order: [3, 1] });
  const [mo] = await entriesWhen(r, app, 1);
  assert.ok(Date.now() - started >= 900, `written after the reassembly time (${Date.now() - started} ms)`);
  assert.equal(mo?.partial, true);
  assert.deepEqual(mo?.partsReceived, [1, 3]);
  assert.equal(mo?.parts, 3);
  assert.equal(mo?.text, LONG_TEXT.slice(0, 50) + LONG_TEXT.slice(100, 150));
  const log = lines.find((l) => l.event === 'mo.partial');
  assert.deepEqual([log?.parts, log?.partsReceived], [3, [1, 3]]);
  assert.doesNotMatch(JSON.stringify(lines), /923001110005|parcel/, 'no number or text in the log');
  // The missing part, late: acknowledged, ignored.
  const acks = s.stats.deliverResps;
  s.injectMo({ from: '923001110005', to: '8555', text: LONG_TEXT, long: 'udh8', ref: 5, partOctets: 50, order: [2] });
  await until(() => s.stats.deliverResps > acks, 3000, 'the late part acknowledged');
  await new Promise((res) => setTimeout(res, 300));
  assert.equal((await entries(r, app)).length, 1);
});

test('STOP split over two parts opts the sender out: keywords read the reassembled text', async () => {
  const s = await sim();
  const { app, r } = await gateway(s);
  // Part 1 is "ST", part 2 "OP please": neither part alone is a keyword.
  s.injectMo({ from: '923001110006', to: '8555', text: 'STOP please', long: 'udh8', partOctets: 2, order: [2, 1, 3, 4, 5, 6] });
  const [mo] = await entriesWhen(r, app, 1);
  assert.equal(mo?.text, 'STOP please');
  assert.equal(mo?.keyword, 'stop');
  assert.ok(((await app.subscribers.choices('+923001110006'))['o:s:8555'] ?? '') !== '', 'opted out of 8555');
});

test('MO routing: by short code, by keyword and by prefix to named streams, the rest to the default; breach report, export and erasure cover them', async () => {
  const s = await sim();
  const { app, r } = await gateway(s, {
    routes: [
      { to: '8555', keyword: 'JOIN', stream: 'acme-join' },
      { to: '8555', stream: 'acme' },
      { keyword: 'win', stream: 'contest' },
      { to: '+77*', stream: 'longnum' },
    ],
  });
  const from = '923001110007';
  s.injectMo({ from, to: '8555', text: 'join now' });
  s.injectMo({ from, to: '8555', text: 'Hello' });
  s.injectMo({ from, to: '9000', text: 'WIN! a prize' });
  s.injectMo({ from, to: '9000', text: 'Hello' });
  s.injectMo({ from, to: '77123456', text: 'Hi' });
  // A long MO is routed by its reassembled text.
  s.injectMo({ from, to: '9000', text: `win ${LONG_TEXT}`, long: 'udh8' });
  await entriesWhen(r, app, 1);
  await entriesWhen(r, app, 2, 'contest');
  const texts = async (stream?: string): Promise<string[]> => (await entries(r, app, stream)).map((m) => m.text);
  assert.deepEqual(await texts('acme-join'), ['join now']);
  assert.deepEqual(await texts('acme'), ['Hello']);
  assert.deepEqual(await texts('contest'), ['WIN! a prize', `win ${LONG_TEXT}`]);
  assert.deepEqual(await texts('longnum'), ['Hi']);
  assert.deepEqual(await texts(), ['Hello'], 'no rule: the default stream');
  assert.equal(await r.xlen(`${app.config.redis.prefix}:mo:acme`), 1, 'a routed stream is <prefix>:mo:<name>');

  // A breach report counts the routed entries with the default one's.
  const breach = await app.breach.report({ from: Date.now() - 60_000, to: Date.now() + 1000 });
  assert.equal(breach.totals.byData.mo.items, 6);

  const exported = await app.subjects.export(`+${from}`);
  assert.deepEqual(exported.mo.map((m) => [m.stream, m.text]).sort(), [
    ['acme', 'Hello'],
    ['acme-join', 'join now'],
    ['contest', 'WIN! a prize'],
    ['contest', `win ${LONG_TEXT}`],
    ['longnum', 'Hi'],
    [undefined, 'Hello'],
  ].sort());
  const report = await app.subjects.erase(`+${from}`);
  assert.equal(report.mo, 6);
  for (const stream of [undefined, 'acme-join', 'acme', 'contest', 'longnum']) assert.deepEqual(await entries(r, app, stream), [], `${stream ?? 'default'} emptied`);

});

test('a long MO still waiting for parts is in the export, pending, and an erasure drops it: it is never written', async () => {
  const s = await sim();
  const { app, r } = await gateway(s, { reassemblySec: 1 });
  const acks = s.stats.deliverResps;
  s.injectMo({ from: '923001110009', to: '8555', text: LONG_TEXT, long: 'udh8', ref: 77, partOctets: 80, order: [1] });
  await until(() => s.stats.deliverResps > acks, 3000, 'part 1 acknowledged');
  const exported = await app.subjects.export('+923001110009');
  assert.deepEqual(
    exported.mo.map((m) => [m.pending, m.to, m.text, m.parts, m.partsReceived]),
    [[true, '8555', LONG_TEXT.slice(0, 80), 2, [1]]],
  );
  const report = await app.subjects.erase('+923001110009');
  assert.equal(report.mo, 1);
  const key = app.keys.moParts('jazz', longMoId(app.vault.hash('+923001110009'), '8555', 77, 2));
  assert.equal(await r.exists(key), 0, 'the parts are gone');
  assert.equal(await r.zcard(app.keys.moPartsDue('jazz')), 0, 'and out of the sweep');
  // Past the reassembly time: nothing was written.
  await new Promise((res) => setTimeout(res, 1800));
  assert.deepEqual(await entries(r, app), []);
  assert.equal(app.mo.counts.partial, 0);
});
