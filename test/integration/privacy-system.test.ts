/**
 * The privacy promise, checked the way an auditor would: run a mixed batch end to end
 * (sealed and plain intake, English, Urdu, long, OTP, marketing, duplicates, a dead
 * letter, MO with STOP), then read back every key in Redis and every log line the run
 * produced. No full number and no message text may appear anywhere — only ciphertext,
 * masks and keyed hashes. And every key either expires or is one the README lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { QasidClient } from '../../src/client/index.js';
import { startSimulator } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { startGateway, testConfig } from '../helpers/app.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

/** Every value held under the prefix, as text, with the key's name and TTL. */
async function dump(r: Redis, prefix: string): Promise<Array<{ key: string; type: string; ttl: number; text: string }>> {
  const out: Array<{ key: string; type: string; ttl: number; text: string }> = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await r.type(key);
      let value: unknown;
      if (type === 'hash') value = await r.hgetall(key);
      else if (type === 'stream') value = await r.xrange(key, '-', '+');
      else if (type === 'zset') value = await r.zrange(key, 0, -1, 'WITHSCORES');
      else if (type === 'set') value = await r.smembers(key);
      else if (type === 'list') value = await r.lrange(key, 0, -1);
      else value = await r.get(key);
      out.push({ key, type, ttl: await r.pttl(key), text: JSON.stringify(value) });
    }
  } while (cursor !== '0');
  return out;
}

const TEXTS = [
  'Your parcel QX-4471 is out for delivery today',
  'آپ کا پارسل آج پہنچا دیا جائے گا، شکریہ',
  'Reminder: the quarterly statement for account ending 9912 is ready to download from the portal. '.repeat(3),
  'Your one-time code is 482913. Do not share it.',
  'Weekend sale: twenty percent off every winter jacket in store',
];

test('after a mixed run no number or text is in clear in Redis or the logs, and every key expires or is listed', { timeout: 60_000 }, async () => {
  const jazz = await startSimulator({ port: 0, preset: 'HappySMSC' });
  const zong = await startSimulator({ port: 0, preset: 'EarlyReceiptSMSC' });
  cleanups.push(() => jazz.close(), () => zong.close());
  const config = testConfig(redis.url, [{ id: 'jazz', port: jazz.port }, { id: 'zong', port: zong.port }], {
    policy: { quietHours: { start: '00:00', end: '00:00', timeZone: 'Asia/Karachi', jitterSec: 0 } },
  });
  const { app, r, lines } = await startGateway(redis.url, config, cleanups, { level: 'debug' });
  const prefix = config.redis.prefix;
  const sealedClient = new QasidClient(r, { prefix, keyring: app.vault.keyring });
  const plainClient = new QasidClient(r, { prefix });

  const numbers: string[] = [];
  const batch = [];
  for (let i = 0; i < 200; i++) {
    const national = `3${['00', '01', '11', '21', '33'][i % 5] as string}${String(4_000_000 + i * 37).padStart(7, '0')}`;
    numbers.push(national);
    const to = i % 3 === 0 ? `0${national}` : i % 3 === 1 ? `+92${national}` : `92${national}`;
    const kind = i % 5;
    batch.push({
      id: `sys-${i}`,
      to,
      from: '8555',
      text: TEXTS[kind] as string,
      class: kind === 3 ? ('otp' as const) : kind === 4 ? ('marketing' as const) : ('transactional' as const),
      ...(kind === 4 ? { consent: `form-${i}` } : {}),
      ...(i % 7 === 0 ? { tenant: 'acme' } : {}),
    });
  }
  await sealedClient.sendMany(batch.slice(0, 100));
  await plainClient.sendMany(batch.slice(100));
  await plainClient.sendMany([{ ...batch[5], text: 'A duplicate, never sent' } as (typeof batch)[number]]);
  // A dead letter holding a number and text.
  await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: 'sys-bad', to: '03219998877', from: '8555', text: 'Broken entry text here', class: 'bulk' }));
  numbers.push('3219998877');
  // MO: a question and a STOP.
  jazz.injectMo({ from: '923451112233', to: '8555', text: 'When will my parcel arrive?' });
  jazz.injectMo({ from: '923451112233', to: '8555', text: 'STOP' });
  numbers.push('3451112233');

  const deadline = Date.now() + 30_000;
  let finals = 0;
  while (Date.now() < deadline) {
    finals = (await r.xrange(app.keys.events, '-', '+')).filter(([, f]) => (JSON.parse(f[1] as string) as { final: boolean }).final).length;
    if (finals >= 202 && (await r.xlen(app.keys.mo)) >= 2) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(finals, 202, '200 messages + duplicate + dead letter each end once');
  await until(async () => (await r.xlen(app.keys.intake)) === 0, 2000, 'handled intake entries, sealed or plain, to be removed');
  await app.stop();

  const held = await dump(r, prefix);
  assert.ok(held.length > 200, `records are held (${held.length} keys)`);
  const everything = held.map((k) => `${k.key} ${k.text}`);
  const logText = lines.map((l) => JSON.stringify(l));
  assert.ok(logText.length > 0);
  for (const [where, texts] of [['redis', everything], ['logs', logText]] as const) {
    for (const n of numbers) {
      // The national significant number is in every spelling of the number.
      const hit = texts.find((t) => t.includes(n));
      assert.equal(hit, undefined, `${where}: number ${n.slice(0, 3)}… in clear: ${hit?.slice(0, 200)}`);
    }
    for (const t of [...TEXTS, 'When will my parcel arrive?', 'Broken entry text here', 'A duplicate, never sent']) {
      const fragment = t.slice(0, 24);
      const hit = texts.find((x) => x.includes(fragment) || x.includes(JSON.stringify(fragment).slice(1, -1)));
      assert.equal(hit, undefined, `${where}: text "${fragment}" in clear: ${hit?.slice(0, 200)}`);
    }
  }
  // What is there instead: masks and hashes in the logs, envelopes in records.
  assert.ok(logText.some((l) => /"subscriber":"h1:[A-Za-z0-9_-]{22}"/.test(l)), 'logs follow a subscriber by keyed hash');
  const records = held.filter((k) => k.key.startsWith(`${prefix}:msg:`));
  assert.equal(records.length, 200, "one record per distinct message (not for the duplicate or the dead letter)");
  for (const rec of records) assert.match(rec.text, /"d":"v1\.k1\./, 'record data sealed under k1');

  // Keys without a TTL: only those the README lists, each for a reason.
  const allowed = [
    /:mt$/, /:events$/, /:mo$/, /:dead$/, /:audit$/, /:access$/, // streams: trimmed by age (retention.*Sec)
    /:due:\{[^}]+\}$/, /:watch:\{[^}]+\}$/, // schedules: members removed when settled
    /:layout$/, // which key layout this Redis holds (queue/migrate.ts)
    /:shards$/, // the intake shard count the data was written with (queue/shards.ts)
    /:carriers:control$/, // an operator's pause or stop of a carrier, for every instance
    /:\{[^}]+:mt\}:owners$/, // intake consumers' leases: removed at stop, or once a dead consumer holds nothing
    /:sub:\{[^}]+\}$/, // a subscriber's objections: kept so they are honoured
    /:\{[^}]+:audit\}:head$/, /:audit:anchor$/, // the audit chain's two ends: kept with the stream
    /:admin:tokens$/, /:admin:revoked$/, // the admin tokens a start found, and the revoked ones
  ];
  const forever = held.filter((k) => k.ttl === -1).map((k) => k.key.slice(prefix.length));
  const unexplained = forever.filter((k) => !allowed.some((re) => re.test(k)));
  assert.deepEqual(unexplained, [], 'every other key has a TTL');
  assert.ok(forever.some((k) => /:sub:/.test(k)), 'the STOP is kept');
});
