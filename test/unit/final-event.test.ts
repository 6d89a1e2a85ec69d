import { test } from 'node:test';
import assert from 'node:assert/strict';
import { owedEvent, pendingFields } from '../../src/queue/final-event.js';
import type { StatusEvent } from '../../src/queue/outputs.js';

test('an event kept as its own fields comes back whole from the record (status and ids from the record)', () => {
  const e: StatusEvent = { v: 1, status: 'failed', final: true, at: '2026-11-22T10:00:00.000Z', clientId: 'c1', gatewayId: 'g1', tenant: 't', carrier: 'jazz', parts: 2, reason: 'retries_exhausted', error: 'ESME_RSYSERR', meta: { a: [1, 2], b: null } };
  const ev = pendingFields(e);
  const kept = JSON.parse(ev) as Record<string, unknown>;
  for (const k of ['v', 'status', 'final', 'clientId', 'gatewayId', 'tenant', 'meta']) assert.ok(!(k in kept), `${k} is in the record already`);
  const back = owedEvent({ term: 'failed', ev, cid: 'c1', gw: 'g1', ten: 't', meta: JSON.stringify(e.meta) });
  assert.deepEqual(back, e);
});

test('nothing is owed by a live record, or by a terminal one whose event was written', () => {
  assert.equal(owedEvent({ st: 'accepted', ev: '{"at":"x"}' }), undefined);
  assert.equal(owedEvent({ term: 'delivered' }), undefined);
});

test('unreadable kept fields still give the final event, with its status and ids', () => {
  const e = owedEvent({ term: 'delivered', ev: '{broken', cid: 'c2' });
  assert.equal(e?.status, 'delivered');
  assert.equal(e?.final, true);
  assert.equal(e?.clientId, 'c2');
  assert.equal(typeof e?.at, 'string');
});
