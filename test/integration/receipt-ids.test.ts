/**
 * Receipt ids per source (messageIds.receiptTlv / receiptText) and parked receipts that
 * never match: a real redis-server, simulators over TCP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import { ReceiptHandler, type ReceiptMetrics } from '../../src/dlr/reconciler.js';
import { MappingStore } from '../../src/dlr/mappings.js';
import { captureLogger } from '../../src/log/logger.js';
import { keysFor } from '../../src/queue/keys.js';
import { Outputs } from '../../src/queue/outputs.js';
import { MessageStore } from '../../src/queue/store.js';
import { Vault } from '../../src/privacy/vault.js';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { CarrierLink } from '../../src/smpp/link.js';
import { decodePdu, encodePdu } from '../../src/smpp/codec.js';
import type { CarrierConfig } from '../../src/config/types.js';
import { redisForFile } from '../helpers/redis.js';
import { readEvents } from '../helpers/events.js';
import { startGateway, testConfig, type RawCarrier } from '../helpers/app.js';
import { testCarrier } from '../helpers/carrier.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

async function sim(preset: string): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset });
  cleanups.push(() => s.close());
  return s;
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const msg = (id: string): string => JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `hello ${id}` });

/** Push `n` messages through a gateway with one carrier and return the final statuses. */
async function run(carrier: RawCarrier, n: number): Promise<{ app: App; statuses: string[]; r: Redis }> {
  const { app, r } = await startGateway(redis.url, testConfig(redis.url, [carrier]), cleanups);
  for (let i = 0; i < n; i++) await r.xadd(app.keys.intake, '*', 'data', msg(`m${i}`));
  let finals: string[] = [];
  await until(
    async () => {
      finals = (await readEvents(r, app.keys.events)).filter((e) => e.final).map((e) => e.status);
      // Accepted messages wait for their receipt; give the receipts a moment once all are accepted.
      return finals.length >= n;
    },
    4000,
    'final events',
  ).catch(() => undefined);
  return { app, statuses: finals, r };
}

test('hex in the TLV, decimal in the text, configured from the text (messageIds.receipt: decimal): every receipt matches by its text id', async () => {
  const s = await sim('HexTlvDecimalTextSMSC');
  const { app, statuses } = await run({ id: 'jazz', port: s.port, messageIds: { submitResp: 'hex', receipt: 'decimal' } }, 100);
  assert.equal(statuses.length, 100, `${statuses.length} of 100 settled`);
  assert.ok(statuses.every((st) => st === 'delivered'), statuses.join());
  assert.equal(app.receipts.counts.parked, 0);
});

test('hex in the TLV, decimal in the text, messageIds.receipt left verbatim: the TLV id finds no mapping, the text id does', async () => {
  const s = await sim('HexTlvDecimalTextSMSC');
  const { app, statuses } = await run({ id: 'jazz', port: s.port, messageIds: { submitResp: 'hex' } }, 50);
  assert.equal(statuses.length, 50, `${statuses.length} of 50 settled`);
  assert.ok(statuses.every((st) => st === 'delivered'), statuses.join());
  assert.equal(app.receipts.counts.parked, 0);
});

test('messageIds.receiptTlv and receiptText give each source its own format', async () => {
  const s = await sim('HexTlvDecimalTextSMSC');
  const { app, statuses } = await run({ id: 'jazz', port: s.port, messageIds: { submitResp: 'hex', receiptTlv: 'hex', receiptText: 'decimal' } }, 50);
  assert.deepEqual(app.config.carriers[0]?.messageIds, { submitResp: 'hex', receipt: 'verbatim', receiptTlv: 'hex', receiptText: 'decimal' });
  assert.equal(statuses.length, 50);
  assert.ok(statuses.every((st) => st === 'delivered'), statuses.join());
});

/** A ReceiptHandler on its own, on the file's Redis, with a short park time. */
function handler(carriers: CarrierConfig[], parkTtlMs: number): { h: ReceiptHandler; store: MessageStore; mappings: MappingStore; r: Redis; prefix: string; unmatched: Array<[string, string]>; lines: Array<Record<string, unknown>> } {
  const config = testConfig(redis.url, []);
  const prefix = config.redis.prefix;
  const r = new Redis(redis.url);
  cleanups.push(async () => void r.disconnect());
  const keys = keysFor(prefix);
  const vault = Vault.ephemeral();
  const store = new MessageStore(r, keys, vault);
  const unmatched: Array<[string, string]> = [];
  const metrics: ReceiptMetrics = { unmatched: (carrier, reason) => unmatched.push([carrier, reason]) };
  const { logger, lines } = captureLogger('debug');
  const mappings = new MappingStore(r, keys);
  const h = new ReceiptHandler({
    store,
    mappings,
    outputs: new Outputs(r, keys, 10_000, vault),
    carriers: new Map(carriers.map((c) => [c.id, c])),
    logger,
    parkTtlMs,
    lateMappingTtlMs: 60_000,
    metrics,
    // No MO is delivered here.
    mo: { onMo: async () => undefined },
  });
  cleanups.push(async () => h.stop());
  return { h, store, mappings, r, prefix, unmatched, lines };
}

test('parked receipts that never find their mapping are counted unmatched (never_matched) when their park time runs out, and dropped', async () => {
  const s = await sim('HappySMSC');
  const carrier = testCarrier(s.port, { id: 'jazz' });
  const { h, mappings, r, prefix, unmatched, lines } = handler([carrier], 300);
  const l = new CarrierLink({ carrier, logger: captureLogger('warn').logger, onDeliver: h.onDeliver });
  cleanups.push(() => l.stop());
  await l.start();
  await l.waitAllBound(3000);
  const body = { source_addr: 'QASID', destination_addr: '923001234567', registered_delivery: 1, short_message: Buffer.from('hi') };
  // Submitted past the dispatcher: no mapping is ever written, so every receipt parks.
  for (let i = 0; i < 10; i++) assert.equal((await l.submit(body)).kind, 'accepted');
  await until(() => h.counts.parked === 10, 3000, 'ten parked receipts');
  // One more whose mapping does land in time: it is not counted.
  const late = await l.submit(body);
  assert.ok(late.kind === 'accepted');
  await until(() => h.counts.parked === 11, 3000, 'the eleventh parked');
  assert.notEqual(await mappings.map('jazz', late.messageId, 'rec:0:1', 60_000), null, 'the mapping took the parked receipt');
  assert.equal(await r.zcard(`${prefix}:parked`), 11, 'every parked receipt is indexed');
  assert.ok((await r.pttl(`${prefix}:parked`)) > 0, 'the index has a TTL');
  await until(() => h.counts.neverMatched === 10, 3000, 'the sweep');
  await until(async () => (await r.zcard(`${prefix}:parked`)) === 0, 3000, 'the index emptied');
  assert.equal(h.counts.neverMatched, 10);
  assert.deepEqual(unmatched, Array.from({ length: 10 }, () => ['jazz', 'never_matched']));
  assert.deepEqual(await r.keys(`${prefix}:park:*`), [], 'the parked receipts are gone');
  const reported = lines.filter((x) => x.event === 'receipt.never_matched');
  assert.equal(reported.reduce((n, x) => n + Number(x.count), 0), 10);
  assert.equal(await h.sweepParked(), 0, 'a second sweep finds nothing');
});

test('two ids: matched by the text id when the TLV id has no mapping; parked under the TLV id when neither has one', async () => {
  const carrier = testCarrier(1, { id: 'c', messageIds: { submitResp: 'hex', receipt: 'verbatim', receiptTlv: 'verbatim', receiptText: 'verbatim' } });
  const { h, store, mappings, r, prefix } = handler([carrier], 60_000);
  const session = { id: 'c/trx0', carrier: 'c', bindType: 'transceiver' as const };
  const receipt = (tlvId: string, textId: string): ReturnType<typeof decodePdu> =>
    decodePdu(encodePdu('deliver_sm', 1, { esm_class: 4, short_message: Buffer.from(`id:${textId} stat:DELIVRD err:000`), receipted_message_id: tlvId, message_state: 2 }));
  // A record for the mapping to point at, wanting one receipt.
  const now = Date.now();
  await store.create('rec1', { gw: 'g1', cid: 'c1', to: '+923001234567', from: 'QASID', txt: 'hi', cls: 'transactional', pri: '0', vu: String(now + 60_000), rc: '1', eid: '0-1', st: 'accepted', at: String(now), rN: '1' }, 60_000);
  await mappings.map('c', '1000000000', 'rec1:0:1', 60_000);
  assert.equal(await h.onDeliver(receipt('3b9aca00', '1000000000'), session), 0);
  assert.equal(h.counts.matched, 1, 'matched through the text id');
  assert.equal(h.counts.parked, 0);
  const events = await readEvents(r, keysFor(prefix).events);
  assert.deepEqual(events.map((e) => [e.status, e.clientId]), [['delivered', 'c1']]);

  assert.equal(await h.onDeliver(receipt('aaaa1', '2000'), session), 0);
  assert.equal(h.counts.parked, 1);
  assert.notEqual(await r.get(keysFor(prefix).parked('c', 'aaaa1')), null, 'parked under the first id that parsed');
  assert.equal(await r.get(keysFor(prefix).parked('c', '2000')), null);
  assert.deepEqual(await r.zrange(`${prefix}:parked`, 0, -1), ['c:aaaa1']);
  const parked = await mappings.map('c', 'aaaa1', 'rec2:0:1', 60_000);
  assert.deepEqual(JSON.parse(parked ?? 'null'), { state: 'delivered', final: true, err: '000' });
});
