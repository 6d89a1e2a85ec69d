/**
 * dispatch.unknownOutcome.<class> and carriers[].querySm: defaults, what loads, and the
 * problems a bad value is reported with (each naming its key); the resubmit plan (pure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { isQasidError } from '../../src/core/errors.js';
import { planAfterUnknown } from '../../src/dispatch/unknown-outcome.js';

type Problem = { key: string; message: string };

const CARRIER = { id: 'jazz', host: '127.0.0.1', port: 2775, systemId: 'q', password: 'pw' };

function problems(overrides: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Problem[] {
  try {
    loadConfig({ env, overrides });
  } catch (e) {
    assert.ok(isQasidError(e), String(e));
    return e.details['problems'] as Problem[];
  }
  assert.fail('the config was accepted');
}

test('defaults: every class final (a resend is asked for, never assumed); querySm off', () => {
  const cfg = loadConfig({ env: {}, overrides: { carriers: [CARRIER] } });
  for (const cls of ['otp', 'transactional', 'marketing'] as const) assert.deepEqual(cfg.dispatch.unknownOutcome[cls], { policy: 'final', delaySec: 30, maxResubmits: 1 });
  assert.deepEqual(cfg.carriers[0]?.querySm, { enabled: false, delaySec: 0, retrySec: 300, maxQueries: 3 });
});

test('resubmit for OTP from the file and from the environment', () => {
  const file = loadConfig({ env: {}, overrides: { dispatch: { unknownOutcome: { otp: { policy: 'resubmit', delaySec: 20, maxResubmits: 2 } } } } });
  assert.deepEqual(file.dispatch.unknownOutcome.otp, { policy: 'resubmit', delaySec: 20, maxResubmits: 2 });
  assert.equal(file.dispatch.unknownOutcome.marketing.policy, 'final');
  const env = loadConfig({ env: { QASID_UNKNOWN_OUTCOME_OTP: 'resubmit', QASID_UNKNOWN_OUTCOME_OTP_DELAY_SEC: '15', QASID_UNKNOWN_OUTCOME_OTP_MAX_RESUBMITS: '3' }, overrides: {} });
  assert.deepEqual(env.dispatch.unknownOutcome.otp, { policy: 'resubmit', delaySec: 15, maxResubmits: 3 });
});

test('a bad unknownOutcome value is refused, naming its key', () => {
  const at = (o: Record<string, unknown>, env?: NodeJS.ProcessEnv): Problem | undefined => problems({ dispatch: { unknownOutcome: o } }, env)[0];
  assert.equal(at({ otp: { policy: 'retry' } })?.key, 'dispatch.unknownOutcome.otp.policy');
  assert.match(at({ otp: { policy: 'retry' } })?.message ?? '', /final.*resubmit/);
  assert.equal(at({ marketing: { maxResubmits: 0 } })?.key, 'dispatch.unknownOutcome.marketing.maxResubmits');
  assert.equal(at({ marketing: { maxResubmits: 11 } })?.key, 'dispatch.unknownOutcome.marketing.maxResubmits');
  assert.equal(at({ transactional: { delaySec: 0 } })?.key, 'dispatch.unknownOutcome.transactional.delaySec');
  assert.equal(at({ transactional: { delaySec: 'soon' } })?.key, 'dispatch.unknownOutcome.transactional.delaySec');
  const env = problems({}, { QASID_UNKNOWN_OUTCOME_OTP_DELAY_SEC: '5s' });
  assert.equal(env[0]?.key, 'dispatch.unknownOutcome.otp.delaySec');
  assert.match(env[0]?.message ?? '', /QASID_UNKNOWN_OUTCOME_OTP_DELAY_SEC/);
});

test('carriers[].querySm: loads, and a bad value is refused naming its key', () => {
  const cfg = loadConfig({ env: {}, overrides: { carriers: [{ ...CARRIER, querySm: { enabled: true, delaySec: 600 } }] } });
  assert.deepEqual(cfg.carriers[0]?.querySm, { enabled: true, delaySec: 600, retrySec: 300, maxQueries: 3 });
  const bad = (q: unknown): Problem[] => problems({ carriers: [{ ...CARRIER, querySm: q }] });
  assert.deepEqual(bad({ enabled: 'yes' }).map((p) => p.key), ['carriers[0].querySm.enabled']);
  assert.deepEqual(bad({ maxQueries: 0 }).map((p) => p.key), ['carriers[0].querySm.maxQueries']);
  assert.deepEqual(bad({ retrySec: 0 }).map((p) => p.key), ['carriers[0].querySm.retrySec']);
  assert.deepEqual(bad({ delaySec: -1 }).map((p) => p.key), ['carriers[0].querySm.delaySec']);
  const extra = bad({ enabled: true, query: true });
  assert.equal(extra[0]?.key, 'carriers[0].querySm.query');
  assert.match(extra[0]?.message ?? '', /unknown key.*enabled, delaySec, retrySec, maxQueries/);
  assert.equal(bad(true)[0]?.key, 'carriers[0].querySm');
});

test('the resubmit plan: final watches; resubmit waits delaySec, stops at maxResubmits, never with less than minValiditySec left', () => {
  const now = 1_000_000;
  const rec = { vu: String(now + 300_000) };
  const resubmit = { policy: 'resubmit' as const, delaySec: 30, maxResubmits: 2 };
  assert.deepEqual(planAfterUnknown({ ...resubmit, policy: 'final' }, rec, now, 10), { kind: 'watch', why: 'final' });
  assert.deepEqual(planAfterUnknown(resubmit, rec, now, 10), { kind: 'resubmit', at: now + 30_000 });
  assert.deepEqual(planAfterUnknown(resubmit, { ...rec, rs: '1' }, now, 10), { kind: 'resubmit', at: now + 30_000 });
  assert.deepEqual(planAfterUnknown(resubmit, { ...rec, rs: '2' }, now, 10), { kind: 'watch', why: 'max_resubmits' });
  // 35 s left: the resend would leave with 5 s, under a 10 s minimum; over a 0 s one it goes.
  const short = { vu: String(now + 35_000) };
  assert.deepEqual(planAfterUnknown(resubmit, short, now, 10), { kind: 'watch', why: 'validity' });
  assert.deepEqual(planAfterUnknown(resubmit, short, now, 0), { kind: 'resubmit', at: now + 30_000 });
  assert.deepEqual(planAfterUnknown(resubmit, { vu: String(now + 20_000) }, now, 0), { kind: 'watch', why: 'validity' });
});
