import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { isQasidError } from '../../src/core/errors.js';
import { Keyring } from '../../src/privacy/keyring.js';
import { decrypt, encrypt, envelopeKeyId, isEnvelope, reencrypt, rewrap } from '../../src/privacy/cipher.js';
import { Pseudonymiser } from '../../src/privacy/pseudonym.js';

const K1 = Keyring.generateKey();
const K2 = Keyring.generateKey();
const ringJson = (current: string, keys: Record<string, string>): string => JSON.stringify({ current, keys });
const ring1 = Keyring.fromJson(ringJson('k1', { k1: K1 }), 'test');
const ring12 = Keyring.fromJson(ringJson('k2', { k1: K1, k2: K2 }), 'test');

/** Flip one base64url character in part `index` of an envelope, keeping the encoding canonical. */
function tamper(envelope: string, index: number, at = 2): string {
  const parts = envelope.split('.');
  const part = parts[index] ?? '';
  const c = part[at] === 'A' ? 'B' : 'A';
  parts[index] = part.slice(0, at) + c + part.slice(at + 1);
  return parts.join('.');
}

test('round trips ASCII, Urdu, emoji and empty text, with and without AAD', () => {
  for (const text of ['Your code is 123456', 'آپ کا کوڈ ۱۲۳۴ ہے', '👍🏽 family 👨‍👩‍👧 🇵🇰', '', 'x'.repeat(5000)]) {
    for (const aad of [undefined, 'msg:01HZX', '']) {
      const env = encrypt(ring1, text, aad);
      assert.ok(isEnvelope(env));
      assert.match(env, /^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
      assert.deepEqual(decrypt(ring1, env, aad), { ok: true, text, keyId: 'k1' });
    }
  }
});

test('the same text encrypts differently each time (random IV)', () => {
  assert.notEqual(encrypt(ring1, 'same'), encrypt(ring1, 'same'));
});

test('AAD binds the envelope to its record', () => {
  const env = encrypt(ring1, 'hello', 'msg:1');
  assert.deepEqual(decrypt(ring1, env, 'msg:2'), { ok: false, reason: 'auth_failed' });
  assert.deepEqual(decrypt(ring1, env), { ok: false, reason: 'auth_failed' });
  assert.deepEqual(decrypt(ring1, encrypt(ring1, 'hello'), 'msg:1'), { ok: false, reason: 'auth_failed' });
});

test('tampered IV, ciphertext or tag fails authentication', () => {
  const env = encrypt(ring1, 'a message of some length', 'r1');
  const body = env.split('.')[3] ?? '';
  assert.deepEqual(decrypt(ring1, tamper(env, 2), 'r1'), { ok: false, reason: 'auth_failed' }, 'iv');
  assert.deepEqual(decrypt(ring1, tamper(env, 3, 1), 'r1'), { ok: false, reason: 'auth_failed' }, 'ciphertext');
  assert.deepEqual(decrypt(ring1, tamper(env, 3, body.length - 8), 'r1'), { ok: false, reason: 'auth_failed' }, 'tag');
  // Swapping the key id in the header to another real key also fails.
  const moved = env.replace('v1.k1.', 'v1.k2.');
  assert.deepEqual(decrypt(ring12, moved, 'r1'), { ok: false, reason: 'auth_failed' });
  // Truncating the tag is caught.
  assert.equal(decrypt(ring1, env.slice(0, -4), 'r1').ok, false);
});

test('an envelope under a key the keyring lacks is unknown_key', () => {
  const env = encrypt(ring12, 'hi');
  assert.deepEqual(decrypt(ring1, env), { ok: false, reason: 'unknown_key' });
});

test('malformed input is reported, never thrown', () => {
  const good = encrypt(ring1, 'hi');
  const bad: unknown[] = [
    '', 'hello', 'v1', 'v1.k1', 'v1.k1.x.y', 'v2' + good.slice(2), good + '.extra', good.replace('v1.k1', 'v1.k 1'),
    good.replace('v1.k1', 'v1.' + 'k'.repeat(17)), tamper(good, 2).slice(0, -1) + '.' + (good.split('.')[3] ?? ''),
    'v1.k1.AAAAAAAAAAAAAAAA.AAAA', 'v1.k1.AAAAAAAAAAAAAAAA.' + '+'.repeat(24), good.replace(/.$/, '='), null, undefined, 42, {},
  ];
  for (const b of bad) {
    assert.deepEqual(decrypt(ring1, b as string), { ok: false, reason: 'malformed' }, String(b));
    assert.equal(isEnvelope(b), false, String(b));
  }
  assert.equal(isEnvelope(good), true);
  assert.equal(envelopeKeyId(good), 'k1');
  assert.equal(envelopeKeyId('nope'), undefined);
});

test('rotation: old envelopes stay readable and reencrypt moves them to the current key', () => {
  const old = encrypt(ring1, 'before rotation', 'rec:9');
  assert.deepEqual(decrypt(ring12, old, 'rec:9'), { ok: true, text: 'before rotation', keyId: 'k1' });
  const moved = reencrypt(ring12, old, 'rec:9');
  assert.ok(moved !== undefined);
  assert.equal(envelopeKeyId(moved), 'k2');
  assert.deepEqual(decrypt(ring12, moved, 'rec:9'), { ok: true, text: 'before rotation', keyId: 'k2' });
  assert.equal(reencrypt(ring12, moved, 'rec:9'), undefined, 'already current');
  assert.deepEqual(rewrap(ring12, moved, 'rec:9'), { status: 'current' });
  assert.deepEqual(rewrap(ring12, old, 'wrong'), { status: 'failed', reason: 'auth_failed' });
  assert.deepEqual(rewrap(ring12, 'junk'), { status: 'failed', reason: 'malformed' });
  assert.equal(reencrypt(ring12, old, 'wrong'), undefined);
  // Once k1 is retired, new-key envelopes still open and old ones are unknown_key.
  const ring2 = Keyring.fromJson(ringJson('k2', { k2: K2 }), 'test');
  assert.equal(decrypt(ring2, moved, 'rec:9').ok, true);
  assert.deepEqual(decrypt(ring2, old, 'rec:9'), { ok: false, reason: 'unknown_key' });
});

test('keyring validation names the key id and never echoes key material', () => {
  const short = Buffer.alloc(16, 7).toString('base64');
  const cases: [string, RegExp][] = [
    [ringJson('k1', { k1: short }), /key "k1" must be base64 of exactly 32 bytes/],
    [ringJson('k1', { k1: K1, bad: K1 + 'AAAA' }), /key "bad"/],
    [ringJson('k1', { k1: 'not base64 at all!!'.padEnd(44, '!') }), /key "k1"/],
    [ringJson('k9', { k1: K1 }), /keyring.current "k9" is not one of keyring.keys/],
    [ringJson('k1', { k1: K1, 'bad.id': K2 }), /key id "bad.id" must match/],
    [ringJson('k1', { k1: K1, ['x'.repeat(17)]: K2 }), /key id "x{17}" must match/],
    [ringJson('k1', {}), /keyring.keys is empty/],
    [JSON.stringify({ current: 'k1', keys: { k1: 12 } }), /key "k1"/],
    [JSON.stringify({ keys: { k1: K1 } }), /keyring.current must name/],
    [JSON.stringify([K1]), /must be an object/],
    [`{"current":"k1","keys":{"k1":"${K1}"`, /not valid JSON/],
  ];
  for (const [json, expected] of cases) {
    assert.throws(
      () => Keyring.fromJson(json, 'QASID_PRIVACY_KEYS'),
      (e: unknown) => {
        assert.ok(isQasidError(e, 'CONFIG_INVALID'), String(e));
        assert.match(e.message, expected);
        assert.match(e.message, /^QASID_PRIVACY_KEYS: /);
        const all = `${e.message} ${JSON.stringify(e.details)} ${inspect(e)} ${String(e.cause)}`;
        for (const secret of [K1, K2, short, K1.slice(0, 12), K2.slice(0, 12)]) assert.ok(!all.includes(secret), `leaked key material: ${all}`);
        return true;
      },
      json.slice(0, 40),
    );
  }
  // base64url spelling of the same key is accepted.
  const url = Buffer.from(K1, 'base64').toString('base64url');
  assert.deepEqual(Keyring.fromJson(ringJson('k1', { k1: url }), 't').key('k1'), Buffer.from(K1, 'base64'));
});

test('keyring exposes ids and keys but never prints key bytes', () => {
  assert.equal(ring12.currentId, 'k2');
  assert.deepEqual(ring12.ids(), ['k1', 'k2']);
  assert.deepEqual(ring12.key('k1'), Buffer.from(K1, 'base64'));
  assert.equal(ring12.key('nope'), undefined);
  const copy = ring12.key('k1');
  copy?.fill(0);
  assert.deepEqual(ring12.key('k1'), Buffer.from(K1, 'base64'), 'key() returns a copy');
  const expected = '[keyring: ids k1,k2; current k2]';
  const shown = [`${ring12}`, String(ring12), JSON.stringify(ring12), JSON.stringify({ ring12 }), inspect(ring12), inspect({ nested: { ring12 } }, { depth: 9, showHidden: true })];
  assert.equal(shown[0], expected);
  assert.equal(inspect(ring12), expected);
  for (const s of shown) {
    assert.ok(s.includes(expected), s);
    for (const k of [K1, K2]) {
      const b = Buffer.from(k, 'base64');
      for (const form of [k, b.toString('hex'), b.toString('base64url'), [...b.subarray(0, 4)].join(', ')]) assert.ok(!s.includes(form), s);
    }
  }
  assert.match(Keyring.generateKey(), /^[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(Keyring.generateKey(), Keyring.generateKey());
});

test('pseudonyms are stable per key, differ across keys, and hashes() covers every version', () => {
  const s1 = Keyring.generateKey();
  const s2 = Keyring.generateKey();
  const before = new Pseudonymiser({ current: 'p1', keys: { p1: s1 } });
  const during = new Pseudonymiser({ current: 'p2', keys: { p1: s1, p2: s2 } });
  const n = '+923001234567';
  const h1 = before.hash(n);
  assert.match(h1, /^p1:[A-Za-z0-9_-]{22}$/);
  assert.equal(before.hash(n), h1, 'stable');
  assert.notEqual(before.hash('+923001234568'), h1);
  const h2 = during.hash(n);
  assert.match(h2, /^p2:[A-Za-z0-9_-]{22}$/);
  assert.notEqual(h2.slice(3), h1.slice(3), 'different key, different hash');
  assert.deepEqual(during.hashes(n), [h2, h1], 'current first, then older versions');
  assert.deepEqual(before.hashes(n), [h1]);
  // Same secret, different keyring instance: same hash (survives restarts).
  assert.equal(new Pseudonymiser({ current: 'p1', keys: { p1: s1 } }).hash(n), h1);
  assert.throws(() => new Pseudonymiser({ current: 'p1', keys: { p1: 'short' } }), (e: unknown) => isQasidError(e, 'CONFIG_INVALID') && !e.message.includes('short'));
  for (const shown of [JSON.stringify(during), inspect(during), `${during}`]) assert.ok(!shown.includes(s1) && !shown.includes(s2), shown);
});

test('logFields carry a masked number and the hash, never the full number', () => {
  const p = new Pseudonymiser({ current: 'p1', keys: { p1: Keyring.generateKey() } });
  for (const n of ['+923001234567', '+447700900123', '+14155550100', '923001234567']) {
    const f = p.logFields(n);
    assert.deepEqual(Object.keys(f).sort(), ['subscriber', 'to']);
    assert.equal(f.subscriber, p.hash(n));
    assert.match(f.to, /\*/);
    const digits = n.replace(/\D/g, '');
    assert.ok(!JSON.stringify(f).replace(/\D/g, '').includes(digits), JSON.stringify(f));
  }
});

test('property: any unicode text round trips under any AAD, and a wrong AAD never opens it', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ maxLength: 20 }), (text, aad, other) => {
      const env = encrypt(ring12, text, aad);
      assert.ok(isEnvelope(env));
      assert.deepEqual(decrypt(ring12, env, aad), { ok: true, text, keyId: 'k2' });
      if (other !== aad) assert.deepEqual(decrypt(ring12, env, other), { ok: false, reason: 'auth_failed' });
    }),
    { numRuns: 500 },
  );
});

test('property: arbitrary strings never make decrypt throw', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.stringMatching(/^v1\.[a-z0-9]{1,3}\.[A-Za-z0-9_-]{14,18}\.[A-Za-z0-9_-]{0,40}$/)), (s) => {
      const r = decrypt(ring12, s);
      assert.equal(r.ok, false);
    }),
    { numRuns: 300 },
  );
});

test('cipher: IVs from the pool never repeat across refills, and every envelope opens', () => {
  const ring = Keyring.fromSource({ current: 'k1', keys: { k1: Keyring.generateKey() } }, 'test');
  const ivs = new Set<string>();
  // 3 × 512 IVs: the pool is refilled at least twice on the way.
  for (let i = 0; i < 1536; i++) {
    const env = encrypt(ring, `text ${i}`, `r${i}`);
    ivs.add(env.split('.')[2] as string);
    const opened = decrypt(ring, env, `r${i}`);
    assert.ok(opened.ok && opened.text === `text ${i}`);
  }
  assert.equal(ivs.size, 1536);
});
