import { test } from 'node:test';
import assert from 'node:assert/strict';
import { owedEvent, pendingFields } from '../../src/queue/final-event.js';
import type { StatusEvent } from '../../src/queue/outputs.js';

test('an event kept as its own fields comes back whole from the record (status and ids from the record)', () => {
  const e: StatusEvent = { v: 2, status: 'failed', final: true, at: '2026-11-22T10:00:00.000Z', clientId: 'c1', gatewayId: 'g1', tenant: 't', carrier: 'jazz', parts: 2, reason: 'retries_exhausted', error: 'ESME_RSYSERR', meta: { a: [1, 2], b: null } };
  const ev = pendingFields(e);
  const kept = JSON.parse(ev) as Record<string, unknown>;
  for (const k of ['v', 'status', 'final', 'clientId', 'gatewayId', 'tenant', 'meta']) assert.ok(!(k in kept), `${k} is in the record already`);
  const back = owedEvent({ term: 'failed', ev, cid: 'c1', gw: 'g1', ten: 't', meta: JSON.stringify(e.meta) }, 0);
  assert.deepEqual(back, e);
});

test('a record a receipt ended gives its event from what the receipt left (carrier, parts, error unless delivered)', () => {
  const now = Date.parse('2026-11-22T11:00:00.000Z');
  assert.deepEqual(owedEvent({ term: 'undeliverable', car: 'zong', parts: '2', rErr: '001', cid: 'c3', gw: 'g3' }, now), {
    v: 2,
    status: 'undeliverable',
    final: true,
    clientId: 'c3',
    gatewayId: 'g3',
    carrier: 'zong',
    parts: 2,
    error: '001',
    at: '2026-11-22T11:00:00.000Z',
  });
  assert.equal(owedEvent({ term: 'delivered', car: 'zong', rErr: '000' }, now)?.error, undefined);
});

test('a record that has not ended owes no final event', () => {
  assert.equal(owedEvent({ st: 'accepted', ev: '{"at":"x"}' }, 0), undefined);
});

test('unreadable kept fields still give the final event, with its status and ids', () => {
  const e = owedEvent({ term: 'delivered', ev: '{broken', cid: 'c2' }, 0);
  assert.equal(e?.status, 'delivered');
  assert.equal(e?.final, true);
  assert.equal(e?.clientId, 'c2');
  assert.equal(typeof e?.at, 'string');
});
