import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { tokenCommand } from '../../src/cli/token.js';

test('qasid token new prints a token once and the config line holding only its SHA-256', async () => {
  const out: string[] = [];
  assert.equal(await tokenCommand(['new', 'operator', '--id', 'alice'], (s) => out.push(s)), 0);
  const token = /token \(shown once\): (\S+)/.exec(out[0] ?? '')?.[1] ?? '';
  assert.match(token, /^qasid_[A-Za-z0-9_-]{43}$/);
  const entry = JSON.parse((out[1] ?? '').replace('add to admin.tokens: ', '')) as { id: string; sha256: string; role: string };
  assert.deepEqual(entry, { id: 'alice', sha256: createHash('sha256').update(token).digest('hex'), role: 'operator' });
  assert.ok(!(out[1] ?? '').includes(token), 'the config line never contains the token');
  assert.equal(await tokenCommand(['new', 'root'], () => undefined), 64);
});
