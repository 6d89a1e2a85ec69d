/**
 * The message record's predicates (queue/record.ts): what the dispatcher and the receipt
 * path decide a record's work by, for every state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDue, isFinal, isSettledForNow, isWatched, mayHaveBeenSent, transition } from '../../src/queue/record.js';

test('each state answers the predicates as the message path reads it', () => {
  const rows: Array<[string, Record<string, string>, { final: boolean; watched: boolean; due: boolean; settled: boolean; sent: boolean }]> = [
    ['queued', { st: 'queued' }, { final: false, watched: false, due: false, settled: false, sent: false }],
    ['submitting', { st: 'submitting' }, { final: false, watched: false, due: false, settled: false, sent: true }],
    ['retry', { st: 'retry' }, { final: false, watched: false, due: true, settled: true, sent: false }],
    ['accepted', { st: 'accepted' }, { final: false, watched: true, due: false, settled: true, sent: false }],
    ['unknown', { st: 'unknown' }, { final: false, watched: true, due: false, settled: true, sent: false }],
    ['delivered by a receipt', { st: 'delivered', term: 'delivered' }, { final: true, watched: false, due: false, settled: false, sent: false }],
    // A receipt won the race against a late state write: term decides.
    ['terminal, st left accepted', { st: 'accepted', term: 'delivered' }, { final: true, watched: false, due: false, settled: false, sent: false }],
    ['terminal, st left retry', { st: 'retry', term: 'expired' }, { final: true, watched: false, due: false, settled: false, sent: false }],
  ];
  for (const [name, rec, want] of rows) {
    assert.deepEqual(
      { final: isFinal(rec), watched: isWatched(rec), due: isDue(rec), settled: isSettledForNow(rec), sent: mayHaveBeenSent(rec) },
      want,
      name,
    );
  }
});

test('transitions write the fields their states need, and their states answer the predicates', () => {
  const sending = transition.submitting('jazz', 3, 1);
  assert.deepEqual(sending, { st: 'submitting', car: 'jazz', parts: '3', rN: '1' });
  assert.ok(mayHaveBeenSent(sending));
  const accepted = transition.accepted(sending, ['a1', 'a2', 'a3']);
  assert.deepEqual(accepted, { st: 'accepted', car: 'jazz', parts: '3', rN: '1', mids: 'a1,a2,a3' });
  assert.ok(isWatched(accepted) && !isDue(accepted));
  assert.ok(isWatched(transition.unknown('SMPP_RESPONSE_TIMEOUT')));
  assert.ok(isWatched(transition.acceptedLate()));
  assert.deepEqual(transition.deferred({ att: '2', tErr: '{"jazz":1}' }), { st: 'retry', att: '2', tErr: '{"jazz":1}' });
  assert.deepEqual(transition.deferred({}), { st: 'retry', att: '0' });
  assert.ok(isDue(transition.deferred({})));
});
