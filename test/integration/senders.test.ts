/**
 * Senders: source TON/NPI chosen from the sender by the carrier's rules, read off the wire
 * by the simulator; and the per-tenant allow-list of sender ids (policy.tenants[].senders).
 * The whole daemon, real Redis, simulator over TCP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SubmitSeen } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { untilFinals, type StatusEvent } from '../helpers/events.js';
import { startGateway, testConfig } from '../helpers/app.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

interface Sent {
  id: string;
  from: string;
  tenant?: string;
}

async function run(carrier: { id: string } & Record<string, unknown>, messages: Sent[], overrides: Record<string, unknown> = {}): Promise<{ seen: SubmitSeen[]; events: StatusEvent[] }> {
  const seen: SubmitSeen[] = [];
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC', onSubmit: (s) => seen.push(s) });
  cleanups.push(() => sim.close());
  const config = testConfig(redis.url, [{ ...carrier, port: sim.port }], overrides);
  const { app, r } = await startGateway(redis.url, config, cleanups);
  for (const m of messages) await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: m.id, to: '03001234567', from: m.from, text: `from ${m.from}`, ...(m.tenant ? { tenant: m.tenant } : {}) }));
  const events = await untilFinals(r, app.keys.events, messages.length, 15_000, 'every message to end');
  await app.stop();
  return { seen, events };
}

test('source TON/NPI by sender: alphanumeric 5/0, a short code 3/0, a number 1/1 — and each rule overridable per carrier', async () => {
  const senders = ['QASID', '8555', '+923001112233', '923001112233'];
  const { seen } = await run({ id: 'jazz' }, senders.map((from, i) => ({ id: `ton${i}`, from })));
  const by = Object.fromEntries(seen.map((s) => [s.sourceAddr, [s.sourceTon, s.sourceNpi]]));
  assert.deepEqual(by, { QASID: [5, 0], '8555': [3, 0], '923001112233': [1, 1] });
  assert.equal(seen.length, 4);

  const custom = await run(
    { id: 'zong', addressing: { shortCodeMaxDigits: 4, shortCodeTon: 6, shortCodeNpi: 9, alphanumericTon: 5, alphanumericNpi: 9, sourceTon: 2, sourceNpi: 8 } },
    ['QASID', '8555', '85551'].map((from, i) => ({ id: `tonc${i}`, from })),
  );
  assert.deepEqual(Object.fromEntries(custom.seen.map((s) => [s.sourceAddr, [s.sourceTon, s.sourceNpi]])), { QASID: [5, 9], '8555': [6, 9], '85551': [2, 8] });
});

test('a tenant with a senders list sends only from those (no + and case do not matter); others end blocked sender_not_allowed, unsent', async () => {
  const { seen, events } = await run(
    { id: 'jazz' },
    [
      { id: 's1', from: 'ACME', tenant: 'acme' },
      { id: 's2', from: 'acme', tenant: 'acme' },
      { id: 's3', from: '+8555', tenant: 'acme' },
      { id: 's4', from: 'OTHER', tenant: 'acme' },
      { id: 's5', from: 'OTHER', tenant: 'beta' },
      { id: 's6', from: 'OTHER' },
    ],
    { policy: { tenants: [{ tenant: 'acme', senders: ['ACME', '8555'] }] } },
  );
  const finals = Object.fromEntries(events.filter((e) => e.final).map((e) => [e.clientId, e.reason === undefined ? e.status : `${e.status} ${e.reason}`]));
  assert.deepEqual(finals, { s1: 'delivered', s2: 'delivered', s3: 'delivered', s4: 'blocked sender_not_allowed', s5: 'delivered', s6: 'delivered' });
  assert.equal(seen.length, 5, 'the blocked one never reached the carrier');
});
