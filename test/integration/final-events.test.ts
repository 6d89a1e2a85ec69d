/**
 * A final event cut off by a crash is still written. The cut is made in real Redis: the
 * events stream key holds a string for a moment, so the XADD after a record became
 * terminal fails exactly where a crash would leave it (record terminal, no event).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { startSimulator, type SimServer, type SimBehaviourPatch } from '../../src/sim/index.js';
import { recordId } from '../../src/queue/keys.js';
import { encodePdu } from '../../src/smpp/codec.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents, type StatusEvent } from '../helpers/events.js';
import { startGateway, testConfig, type Gateway, type RawCarrier } from '../helpers/app.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

async function sim(behaviour?: SimBehaviourPatch): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC', behaviour });
  cleanups.push(() => s.close());
  return s;
}

function gateway(carriers: RawCarrier[], overrides: Record<string, unknown>, now?: () => number): Promise<Gateway> {
  return startGateway(redis.url, testConfig(redis.url, carriers, overrides), cleanups, now ? { now } : {});
}

async function eventsOf(r: Redis, key: string, clientId: string): Promise<StatusEvent[]> {
  return (await readEvents(r, key)).filter((e) => e.clientId === clientId);
}

/** The events stream cannot be written (a string under its key) until the returned function puts it back. */
async function cutEvents(r: Redis, key: string): Promise<() => Promise<void>> {
  const kept = (await r.exists(key)) === 1;
  if (kept) await r.rename(key, `${key}:kept`);
  await r.set(key, 'not a stream');
  return async () => {
    await r.del(key);
    if (kept) await r.rename(`${key}:kept`, key);
  };
}

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

const msg = (id: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `hello ${id}`, ...extra });

test('intake: a record made terminal whose event write failed gets its one final event when the entry is taken again', async () => {
  const s = await sim();
  const { app, r, lines } = await gateway([{ id: 'jazz', port: s.port }], { intake: { claimIdleMs: 1000 } });
  const rec = app.keys.record(recordId(undefined, 'cut1'));
  const restore = await cutEvents(r, app.keys.events);
  // A landline: rejected not_mobile without going to the carrier (an ending of the dispatcher's own, kept in `ev`).
  await r.xadd(app.keys.intake, '*', 'data', msg('cut1', { to: '04235761234', meta: { order: 7 } }));
  await until(async () => (await r.hget(rec, 'term')) === 'rejected', 5000, 'the record to become terminal');
  assert.ok((await r.hget(rec, 'ev')) !== null, 'the record keeps what its event says');
  assert.equal(Number(((await r.xpending(app.keys.intake, 'qasid')) as [number])[0]), 1, 'the entry is still pending');
  await restore();
  // The consumer claims its own idle entry after intake.claimIdleMs and finds the record terminal.
  await until(async () => (await eventsOf(r, app.keys.events, 'cut1')).length > 0, 5000, 'the recovered event');
  await new Promise((res) => setTimeout(res, 300));
  const evs = await eventsOf(r, app.keys.events, 'cut1');
  assert.deepEqual(
    evs.map((e) => [e.status, e.final, e.reason, e.meta]),
    [['rejected', true, 'not_mobile', { order: 7 }]],
  );
  assert.ok(evs[0]?.gatewayId !== undefined);
  assert.equal(Number(((await r.xpending(app.keys.intake, 'qasid')) as [number])[0]), 0);
  assert.ok(lines.some((l) => l.event === 'dispatch.event_recovered'));
  assert.equal(s.stats.submits, 0);
});

test('receipt: a receipt that settled the record but whose event write failed — the handler writes it again within seconds, once', async () => {
  const s = await sim({ receipts: { delayMs: 700 } });
  const { app, r, lines } = await gateway([{ id: 'jazz', port: s.port }], {});
  const rec = app.keys.record(recordId(undefined, 'cut1r'));
  await r.xadd(app.keys.intake, '*', 'data', msg('cut1r'));
  await until(async () => (await eventsOf(r, app.keys.events, 'cut1r')).some((e) => e.status === 'accepted'), 5000, 'the accepted event');
  const restore = await cutEvents(r, app.keys.events);
  await until(async () => (await r.hget(rec, 'term')) === 'delivered', 5000, 'the receipt to settle the record');
  await until(async () => s.stats.deliverResps === 1, 2000, 'the deliver_sm_resp');
  assert.equal(s.stats.deliverRespStatus['ESME_RX_T_APPN'], 1, 'not acknowledged: it was not fully recorded');
  await restore();
  // No SMSC retry, no deadline: the handler's own retry (1 s, then doubling).
  await until(async () => (await eventsOf(r, app.keys.events, 'cut1r')).some((e) => e.final), 6000, 'the final event');
  assert.ok(lines.some((l) => l.event === 'receipt.event_retried'));
  await until(async () => (await r.zscore(app.keys.watch, recordId(undefined, 'cut1r'))) === null, 3000, 'no longer watched');
  await new Promise((res) => setTimeout(res, 300));
  assert.deepEqual((await eventsOf(r, app.keys.events, 'cut1r')).map((e) => e.status), ['accepted', 'delivered']);
});

test('receipt: a receipt that settled the record but whose event write failed, and whose handler stopped, is written when the watch comes due', async () => {
  const s = await sim({ receipts: { delayMs: 700 } });
  let offset = 0;
  const { app, r } = await gateway([{ id: 'jazz', port: s.port }], { messages: { receiptGraceSec: 0 } }, () => Date.now() + offset);
  const rec = app.keys.record(recordId(undefined, 'cut2'));
  await r.xadd(app.keys.intake, '*', 'data', msg('cut2', { validity: 30 }));
  await until(async () => (await eventsOf(r, app.keys.events, 'cut2')).some((e) => e.status === 'accepted'), 5000, 'the accepted event');
  // Between the submit_sm_resp and the receipt, the events stream cannot be written.
  const restore = await cutEvents(r, app.keys.events);
  await until(async () => (await r.hget(rec, 'term')) === 'delivered', 5000, 'the receipt to settle the record');
  await until(async () => s.stats.deliverResps === 1, 2000, 'the deliver_sm_resp');
  assert.equal(s.stats.deliverRespStatus['ESME_RX_T_APPN'], 1, 'not acknowledged: it was not fully recorded');
  // As if its process died here: the handler's own retries end.
  app.receipts.stop();
  await restore();
  await new Promise((res) => setTimeout(res, 1500));
  assert.deepEqual((await eventsOf(r, app.keys.events, 'cut2')).map((e) => e.status), ['accepted']);
  // The message's validity (30 s) passes: its watch entry comes due and finds it settled.
  offset = 31_000;
  await until(async () => (await eventsOf(r, app.keys.events, 'cut2')).some((e) => e.final), 5000, 'the recovered final event');
  await new Promise((res) => setTimeout(res, 300));
  const evs = await eventsOf(r, app.keys.events, 'cut2');
  assert.deepEqual(
    evs.map((e) => [e.status, e.final, e.carrier, e.parts]),
    [
      ['accepted', false, 'jazz', 1],
      ['delivered', true, 'jazz', 1],
    ],
  );
  assert.equal(await r.zscore(app.keys.watch, recordId(undefined, 'cut2')), null, 'no longer watched');
});

test('receipt delivered again: a final event still owed after a minute is written then; a fresh one is left to its writer', async () => {
  const s = await sim({ receipts: { delayMs: 700 } });
  let offset = 0;
  const { app, r } = await gateway([{ id: 'jazz', port: s.port }], {}, () => Date.now() + offset);
  const recKey = app.keys.record(recordId(undefined, 'cut3'));
  await r.xadd(app.keys.intake, '*', 'data', msg('cut3'));
  await until(async () => (await eventsOf(r, app.keys.events, 'cut3')).some((e) => e.status === 'accepted'), 5000, 'the accepted event');
  const restore = await cutEvents(r, app.keys.events);
  await until(async () => s.stats.deliverResps === 1, 5000, 'the refused receipt');
  await restore();
  const carrierId = (await r.hget(recKey, 'mids')) ?? '';
  assert.notEqual(carrierId, '');
  // The SMSC tries the receipt again (what it does with ESME_RX_T_APPN).
  const again = (seq: number): Buffer =>
    encodePdu('deliver_sm', seq, { source_addr: '923001234567', destination_addr: 'QASID', esm_class: 0x04, receipted_message_id: carrierId, message_state: 2, short_message: Buffer.from(`id:${carrierId} sub:001 dlvrd:001 submit date:2611220000 done date:2611220000 stat:DELIVRD err:000 text:`) });
  s.sendRawToAll(again(900_001));
  await until(async () => s.stats.deliverResps === 2, 5000, 'the second copy answered');
  assert.deepEqual((await eventsOf(r, app.keys.events, 'cut3')).map((e) => e.status), ['accepted'], 'within a minute the owed event may be being written elsewhere: left alone');
  offset = 61_000;
  s.sendRawToAll(again(900_002));
  await until(async () => (await eventsOf(r, app.keys.events, 'cut3')).some((e) => e.final), 5000, 'the recovered final event');
  assert.deepEqual((await eventsOf(r, app.keys.events, 'cut3')).map((e) => [e.status, e.carrier]), [['accepted', 'jazz'], ['delivered', 'jazz']]);
  assert.equal(await r.zscore(app.keys.watch, recordId(undefined, 'cut3')), null, 'no longer watched');
});

test('erasure: a message a receipt settled whose final event was cut off gets it before its record goes', async () => {
  const s = await sim({ receipts: { delayMs: 700 } });
  const { app, r } = await gateway([{ id: 'jazz', port: s.port }], {});
  const recKey = app.keys.record(recordId(undefined, 'cut4'));
  await r.xadd(app.keys.intake, '*', 'data', msg('cut4', { to: '03001230044' }));
  await until(async () => (await eventsOf(r, app.keys.events, 'cut4')).some((e) => e.status === 'accepted'), 5000, 'the accepted event');
  const restore = await cutEvents(r, app.keys.events);
  await until(async () => (await r.hget(recKey, 'term')) === 'delivered', 5000, 'the receipt to settle the record');
  await until(async () => s.stats.deliverResps === 1, 2000, 'the refused receipt');
  await restore();
  const report = await app.subjects.erase('+923001230044');
  assert.equal(report.records, 1);
  assert.equal(await r.exists(recKey), 0);
  // The accepted event went with the erasure (it names the message); the final one is written after it.
  assert.deepEqual((await eventsOf(r, app.keys.events, 'cut4')).map((e) => [e.status, e.final, e.carrier]), [['delivered', true, 'jazz']]);
});

test('no crash, no second event: messages that ended normally are not written again when their deadlines pass or their receipts repeat', async () => {
  const s = await sim();
  let offset = 0;
  const { app, r, lines } = await gateway([{ id: 'jazz', port: s.port }], { messages: { receiptGraceSec: 0 } }, () => Date.now() + offset);
  await r.xadd(app.keys.intake, '*', 'data', msg('plain1', { validity: 30 }));
  await r.xadd(app.keys.intake, '*', 'data', msg('plain2', { to: '04235761234' }));
  const final = async (id: string): Promise<boolean> => (await eventsOf(r, app.keys.events, id)).some((e) => e.final);
  await until(async () => (await final('plain1')) && (await final('plain2')), 5000, 'both final');
  const mids = (await r.hget(app.keys.record(recordId(undefined, 'plain1')), 'mids')) ?? '';
  // The SMSC repeats the receipt a minute later; the validity passes.
  offset = 61_000;
  s.sendRawToAll(encodePdu('deliver_sm', 900_003, { source_addr: '923001234567', destination_addr: 'QASID', esm_class: 0x04, receipted_message_id: mids, message_state: 2, short_message: Buffer.from('') }));
  await until(async () => s.stats.deliverResps === 2, 5000, 'the repeat answered');
  await new Promise((res) => setTimeout(res, 300));
  for (const id of ['plain1', 'plain2']) assert.equal((await eventsOf(r, app.keys.events, id)).filter((e) => e.final).length, 1, id);
  assert.ok(!lines.some((l) => l.event === 'dispatch.event_recovered'));
});
