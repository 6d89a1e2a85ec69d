/** Decoding intake entries: never throws, bounded in depth and schedule, never quotes what it refuses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage, nestingDepth, MAX_DEPTH } from '../../src/queue/message.js';
import { clusterSlot } from '../helpers/slot.js';

const base = { v: 1, id: 'a1', to: '03001234567', from: 'QASID', text: 'hi' };
const limits = { maxScheduleMs: 86_400_000, now: Date.parse('2026-12-01T00:00:00Z') };

test('decodeMessage never throws, whatever the entry holds (random JSON and random strings)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.json({ depthSize: 'large' }), fc.string({ maxLength: 500 }), fc.jsonValue().map((v) => JSON.stringify({ ...base, meta: { v } }))), (data) => {
      const r = decodeMessage(data, 16_384, limits);
      assert.equal(typeof r.ok, 'boolean');
    }),
    { numRuns: 2000 },
  );
});

test('nesting thousands deep is refused as too_deep before the parser or validator see it', () => {
  for (const deep of [`${'['.repeat(5000)}${']'.repeat(5000)}`, `${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}`]) {
    const r = decodeMessage(JSON.stringify(base).replace(/}$/, `,"meta":{"x":${deep}}}`), 65_536, limits);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'too_deep');
  }
  const ok = decodeMessage(JSON.stringify({ ...base, meta: { a: { b: [1, [2]] } } }), 16_384, limits);
  assert.equal(ok.ok, true);
  // Brackets inside strings do not count.
  assert.equal(nestingDepth(JSON.stringify({ t: '[[[[{{{{\\"[[[' })), 1);
  assert.equal(nestingDepth(`${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`), MAX_DEPTH);
});

test('sendAt further ahead than messages.maxScheduleSec is refused as schedule_too_far; within it, accepted', () => {
  const far = decodeMessage(JSON.stringify({ ...base, sendAt: '9999-01-01T00:00:00Z' }), 16_384, limits);
  assert.equal(!far.ok && far.reason, 'schedule_too_far');
  assert.equal(!far.ok && far.clientId, 'a1');
  const near = decodeMessage(JSON.stringify({ ...base, sendAt: '2026-12-01T12:00:00Z' }), 16_384, limits);
  assert.equal(near.ok, true);
});

test('a refusal says what is wrong, never what the entry held (values, field names)', () => {
  const cases = [
    { ...base, '+923009876543': 'x' },
    { ...base, v: '03009876543' },
    { ...base, class: 'promo-03009876543' },
    { ...base, to: 12345678901 },
    { ...base, meta: 'secret text 03009876543' },
  ];
  for (const c of cases) {
    const r = decodeMessage(JSON.stringify(c), 16_384, limits);
    assert.equal(r.ok, false, JSON.stringify(c));
    if (!r.ok) {
      assert.doesNotMatch(r.detail, /9876543|secret|promo|12345678901/, r.detail);
      assert.ok(r.detail.length > 0);
    }
  }
  const unknown = decodeMessage(JSON.stringify({ ...base, '+923009876543': 1 }), 16_384, limits);
  assert.match(!unknown.ok ? unknown.detail : '', /a field the schema does not define/);
});

test('an oversized entry is refused with its size, before it is parsed', () => {
  const r = decodeMessage(`{"v":1,"text":"${'x'.repeat(2000)}"`, 1024, limits);
  assert.equal(!r.ok && r.reason, 'oversized');
  assert.match(!r.ok ? r.detail : '', /^entry is 2\d\d\d bytes, larger than 1024 bytes \(intake.maxEntryBytes\)$/);
});

test('the intake consumers\' lease hash shares the intake stream\'s Redis Cluster slot (the claim script reads both)', async () => {
  const { keysFor, sameSlot } = await import('../../src/queue/keys.js');
  const slot = clusterSlot;
  for (const prefix of ['qasid', 'tenant-a:q']) {
    const k = keysFor(prefix);
    assert.equal(slot(k.intakeOwners), slot(k.intake), k.intakeOwners);
    assert.ok(k.intakeOwners.startsWith(`${prefix}:`), 'it stays under the prefix');
  }
  // A key that already has a tag lends it.
  assert.equal(slot(sameSlot('qasid', 'qasid:mt:{3}', 'owners')), slot('qasid:mt:{3}'));
});
