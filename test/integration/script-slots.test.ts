/**
 * Every Lua script call's keys share one Redis Cluster hash slot (a script may touch the
 * keys of one slot only). Every command any client of this process sends is watched
 * while a mixed run goes end to end — long and short messages, duplicates, receipts
 * before their submit_sm_resp (parked), a retry, a dead letter, MO with STOP, long MOs
 * (completed, and timed out), a routed MO, erasure and
 * a key rotation — and each EVAL / EVALSHA is checked: the batches of many messages most
 * of all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { QasidClient } from '../../src/client/index.js';
import { rotateKeys } from '../../src/privacy/rotate.js';
import { startSimulator } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { startGateway, testConfig } from '../helpers/app.js';
import { until } from '../helpers/until.js';
import { clusterSlot } from '../helpers/slot.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

interface ScriptCall {
  script: string;
  keys: string[];
}

const calls: ScriptCall[] = [];
type Sent = { name: string; args: unknown[] };
const original = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (this: Redis, command: Parameters<typeof original>[0], stream?: Parameters<typeof original>[1]) {
  const c = command as unknown as Sent;
  if (c.name === 'evalsha' || c.name === 'eval') {
    const args = c.args.map((a) => (Buffer.isBuffer(a) ? a.toString() : String(a)));
    const n = Number(args[1]);
    calls.push({ script: (args[0] as string).slice(0, 12), keys: args.slice(2, 2 + n) });
  }
  return original.call(this, command, stream);
} as typeof original;

test('every script call touches the keys of one hash slot, batches of many messages included', { timeout: 60_000 }, async () => {
  const happy = await startSimulator({ port: 0, preset: 'HappySMSC' });
  const early = await startSimulator({ port: 0, preset: 'EarlyReceiptSMSC' });
  cleanups.push(() => happy.close(), () => early.close());
  const config = testConfig(redis.url, [{ id: 'happy', port: happy.port }, { id: 'early', port: early.port }], { mo: { reassemblySec: 1, routes: [{ to: '9000', stream: 'acme' }] } });
  const { app, r } = await startGateway(redis.url, config, cleanups);
  const client = new QasidClient(r, { prefix: config.redis.prefix });
  const batch = [];
  for (let i = 0; i < 300; i++) {
    batch.push({
      id: `slot-${i}`,
      to: `+92300${String(1_000_000 + i * 7919).padStart(7, '0')}`,
      from: i % 2 === 0 ? 'QASID' : '8555',
      text: i % 10 === 0 ? 'A long message that needs more than one part. '.repeat(5) : `Code ${i}`,
      ...(i % 4 === 0 ? { class: 'otp' as const } : {}),
    });
  }
  await client.sendMany(batch);
  await client.sendMany([{ ...(batch[3] as (typeof batch)[number]), text: 'A duplicate' }]);
  await r.xadd(app.keys.intake, '*', 'data', 'not json');
  happy.injectMo({ from: '923451112233', to: '8555', text: 'STOP' });
  // Long MOs: one whole (held, then completed), one that times out (taken by the sweep); one routed.
  happy.injectMo({ from: '923451112233', to: '8555', text: 'A long reply from a handset. '.repeat(8), long: 'udh8' });
  happy.injectMo({ from: '923451112244', to: '8555', text: 'A long reply from a handset. '.repeat(8), long: 'sar', order: [2] });
  happy.injectMo({ from: '923451112233', to: '9000', text: 'Hello' });
  const finals = async (): Promise<number> => (await r.xrange(app.keys.events, '-', '+')).filter(([, f]) => (JSON.parse(f[1] as string) as { final: boolean }).final).length;
  await until(async () => (await finals()) >= 302, 30_000, 'every entry to end');
  await until(async () => (await r.xrange(app.keys.mo, '-', '+')).some(([, f]) => (f[1] as string).includes('"partial":true')), 10_000, 'the partial long MO');
  await until(async () => (await r.xlen(app.keys.moStream('acme'))) === 1, 10_000, 'the routed MO');
  await app.subjects.erase('+923001000000');
  await app.audit.append({ actor: 'test', role: 'admin', action: 'subscriber.erase', target: app.vault.hash('+923001000000') });
  await app.stop();
  await rotateKeys(r, app.keys, app.vault.keyring);

  assert.ok(calls.length > 0, 'scripts were called');
  const many = calls.filter((c) => c.keys.length > 2);
  assert.ok(many.length >= 5, `batches over several messages were seen (${many.length})`);
  const split = calls.filter((c) => new Set(c.keys.map((k) => clusterSlot(k))).size > 1);
  assert.deepEqual(
    split.slice(0, 3).map((c) => ({ script: c.script, keys: c.keys.slice(0, 4) })),
    [],
    `${split.length} of ${calls.length} script calls touch keys of more than one slot`,
  );
});
