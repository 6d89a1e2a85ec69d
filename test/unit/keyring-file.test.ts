/** Keyring.fromFile: the keyring file that `qasid keys new` writes and QASID_KEYRING_FILE names. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isQasidError } from '../../src/core/errors.js';
import { Keyring } from '../../src/privacy/keyring.js';

const dir = mkdtempSync(join(tmpdir(), 'qasid-keyring-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Asserts `f` throws a QasidError with `code` whose message matches `message` and holds none of `secrets`. */
function throwsCode(f: () => unknown, code: string, message: RegExp, secrets: readonly string[] = []): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(isQasidError(e), 'a QasidError');
    assert.equal(e.code, code);
    assert.match(e.message, message);
    for (const s of secrets) assert.ok(!e.message.includes(s) && !JSON.stringify(e.details).includes(s), 'no key material in the error');
    return true;
  });
}

test('reads what `qasid keys new` writes, newline and all, like fromJson', () => {
  const key = Keyring.generateKey();
  const ring = Keyring.fromFile(file('ring.json', `${JSON.stringify({ current: 'k2', keys: { k1: Keyring.generateKey(), k2: key } })}\n`));
  assert.equal(ring.currentId, 'k2');
  assert.deepEqual(ring.ids(), ['k1', 'k2']);
  assert.deepEqual(ring.key('k2'), Buffer.from(key, 'base64'));
});

test('no path (an unset env variable), a missing, unreadable or empty file: CONFIG_SECRET_MISSING', () => {
  throwsCode(() => Keyring.fromFile(undefined), 'CONFIG_SECRET_MISSING', /no path given \(is QASID_KEYRING_FILE set\?\)/);
  throwsCode(() => Keyring.fromFile(''), 'CONFIG_SECRET_MISSING', /no path given/);
  throwsCode(() => Keyring.fromFile(join(dir, 'absent.json')), 'CONFIG_SECRET_MISSING', /absent\.json: cannot read the file \(ENOENT\)/);
  throwsCode(() => Keyring.fromFile(dir), 'CONFIG_SECRET_MISSING', /cannot read the file \(EISDIR\)/);
  throwsCode(() => Keyring.fromFile(file('empty.json', ' \n')), 'CONFIG_SECRET_MISSING', /empty\.json: the file is empty/);
  if (process.getuid?.() !== 0) {
    const locked = file('locked.json', Keyring.newSourceJson());
    chmodSync(locked, 0o000);
    throwsCode(() => Keyring.fromFile(locked), 'CONFIG_SECRET_MISSING', /cannot read the file \(EACCES\)/);
  }
});

test('bad contents are CONFIG_INVALID, named by `origin`, without quoting the file', () => {
  const key = Keyring.generateKey();
  throwsCode(() => Keyring.fromFile(file('bad.json', `{"current":"k1","keys":{"k1":"${key}"`), 'privacy.keyringFile'), 'CONFIG_INVALID', /^privacy\.keyringFile: keyring is not valid JSON$/, [key]);
  throwsCode(() => Keyring.fromFile(file('short.json', JSON.stringify({ current: 'k1', keys: { k1: key.slice(0, 20) } }))), 'CONFIG_INVALID', /short\.json: key "k1" must be base64 of exactly 32 bytes/, [key.slice(0, 20)]);
});
