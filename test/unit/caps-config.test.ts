/**
 * policy.caps (lists of sliding windows per class), the single-window form and env vars
 * of earlier versions, policy.tenants[].caps and policy.dnc.classes: what loads, and the
 * problems what does not load is reported with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.js';
import { isQasidError } from '../../src/core/errors.js';

type Problem = { key: string; message: string };

function load(policy: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): ReturnType<typeof loadConfig> {
  return loadConfig({ env, overrides: { policy } });
}

function problems(policy: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Problem[] {
  try {
    load(policy, env);
  } catch (e) {
    assert.ok(isQasidError(e), String(e));
    return e.details['problems'] as Problem[];
  }
  assert.fail('the config was accepted');
}

const REGULATOR = [
  { limit: 150, windowSec: 900 },
  { limit: 250, windowSec: 3_600 },
  { limit: 1_000, windowSec: 86_400 },
];

test('defaults: marketing 3 a day, OTP 5 per 10 minutes, transactional none; DNC holds back marketing', () => {
  const cfg = load();
  assert.deepEqual(cfg.policy.caps, { marketing: [{ limit: 3, windowSec: 86_400 }], otp: [{ limit: 5, windowSec: 600 }], transactional: [] });
  assert.deepEqual(cfg.policy.dnc, { classes: ['marketing'] });
});

test('several windows per class, from the file shape and from QASID_CAPS_<CLASS>', () => {
  assert.deepEqual(load({ caps: { marketing: REGULATOR, transactional: [] } }).policy.caps.marketing, REGULATOR);
  const cfg = load({}, { QASID_CAPS_OTP: JSON.stringify([{ limit: 3, windowSec: 900 }, { limit: 5, windowSec: 86_400 }]) });
  assert.deepEqual(cfg.policy.caps.otp, [
    { limit: 3, windowSec: 900 },
    { limit: 5, windowSec: 86_400 },
  ]);
});

test('the single-window form of earlier versions is read as a list of that window; limit 0 as none; a left-out key takes its old default', () => {
  const cfg = load({ caps: { marketing: { limit: 10, windowSec: 3_600 }, otp: { limit: 7 }, transactional: { limit: 0, windowSec: 60 } } });
  assert.deepEqual(cfg.policy.caps, { marketing: [{ limit: 10, windowSec: 3_600 }], otp: [{ limit: 7, windowSec: 600 }], transactional: [] });
  assert.deepEqual(load({ tenants: [{ tenant: 'acme', caps: { otp: { limit: 2, windowSec: 60 } } }] }).policy.tenants[0]?.caps, { otp: [{ limit: 2, windowSec: 60 }] });
  const bad = problems({ caps: { otp: { limit: 3, window: 60 } } });
  assert.deepEqual(bad.map((p) => p.key), ['policy.caps.otp']);
  assert.match(bad[0]?.message ?? '', /unknown key window/);
  assert.match(problems({ caps: { otp: { limit: -1, windowSec: 60 } } })[0]?.message ?? '', /\[0\]\.limit must be an integer from 1/);
});

test('the env vars of earlier versions, QASID_CAP_<CLASS> and _WINDOW_SEC, still work; with the new one too they are refused', () => {
  assert.deepEqual(load({}, { QASID_CAP_OTP: '7' }).policy.caps.otp, [{ limit: 7, windowSec: 600 }]);
  assert.deepEqual(load({}, { QASID_CAP_MARKETING: '2', QASID_CAP_MARKETING_WINDOW_SEC: '3600' }).policy.caps.marketing, [{ limit: 2, windowSec: 3_600 }]);
  assert.deepEqual(load({}, { QASID_CAP_TRANSACTIONAL_WINDOW_SEC: '60' }).policy.caps.transactional, [], 'its old default limit is 0: no cap');
  assert.deepEqual(load({}, { QASID_CAP_OTP: '0' }).policy.caps.otp, []);
  const both = problems({}, { QASID_CAP_OTP: '7', QASID_CAPS_OTP: '[]' });
  assert.deepEqual(both.map((p) => p.key), ['policy.caps.otp']);
  assert.match(both[0]?.message ?? '', /QASID_CAPS_OTP .* not both/);
  assert.match(problems({}, { QASID_CAP_OTP: 'five' })[0]?.message ?? '', /integer \(from env QASID_CAP_OTP\)/);
});

test('bad windows are refused, naming the class and the window', () => {
  const cases: Array<[unknown, RegExp]> = [
    [[{ limit: 0, windowSec: 60 }], /\[0\]\.limit must be an integer from 1 to 1000000/],
    [[{ limit: 1, windowSec: 0 }], /\[0\]\.windowSec must be an integer from 1 to 2592000/],
    [[{ limit: 1, windowSec: 2_592_001 }], /windowSec must be an integer/],
    [[{ limit: 1.5, windowSec: 60 }], /limit must be an integer/],
    [[{ limit: 2, windowSec: 60 }, { limit: 3, windowSec: 60 }], /\[1\]\.windowSec 60 is listed twice/],
    [[{ limit: 2, windowSec: 60, burst: 1 }], /\[0\] has unknown key burst/],
    [Array.from({ length: 9 }, (_, i) => ({ limit: 1, windowSec: i + 1 })), /at most 8 windows/],
    ['150/15m', /must be a JSON array/],
  ];
  for (const [value, why] of cases) {
    const p = problems({ caps: { marketing: value } });
    assert.deepEqual(p.map((x) => x.key), ['policy.caps.marketing'], JSON.stringify(value));
    assert.match(p[0]?.message ?? '', why, JSON.stringify(value));
  }
});

test("a tenant's caps: per class, the same windows; unknown classes and bad windows are refused", () => {
  const cfg = load({ tenants: [{ tenant: 'acme', senders: ['ACME'], caps: { marketing: [{ limit: 2, windowSec: 86_400 }] } }] });
  assert.deepEqual(cfg.policy.tenants[0]?.caps, { marketing: [{ limit: 2, windowSec: 86_400 }] });
  const cases: Array<[unknown, RegExp]> = [
    [{ promo: [] }, /\[0\]\.caps has unknown class promo/],
    [{ otp: [{ limit: 0, windowSec: 60 }] }, /\[0\]\.caps\.otp\[0\]\.limit must be an integer/],
    [{ otp: 'none' }, /\[0\]\.caps\.otp must be a list of windows/],
    [[], /\[0\]\.caps must be \{/],
  ];
  for (const [caps, why] of cases) {
    const p = problems({ tenants: [{ tenant: 'acme', caps }] });
    assert.deepEqual(p.map((x) => x.key), ['policy.tenants'], JSON.stringify(caps));
    assert.match(p[0]?.message ?? '', why, JSON.stringify(caps));
  }
});

test('policy.dnc.classes: any of the classes, each once; from QASID_DNC_CLASSES too', () => {
  assert.deepEqual(load({ dnc: { classes: ['marketing', 'otp'] } }).policy.dnc.classes, ['marketing', 'otp']);
  assert.deepEqual(load({ dnc: { classes: [] } }).policy.dnc.classes, []);
  assert.deepEqual(load({}, { QASID_DNC_CLASSES: '["marketing","transactional"]' }).policy.dnc.classes, ['marketing', 'transactional']);
  assert.match(problems({ dnc: { classes: ['promotional'] } })[0]?.message ?? '', /must be a list of classes \(marketing, otp, transactional\)/);
  assert.match(problems({ dnc: { classes: ['otp', 'otp'] } })[0]?.message ?? '', /lists a class twice/);
});
