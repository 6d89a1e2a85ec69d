/**
 * The log event catalogue (src/log/events.ts) against what the code emits and what the
 * README's event table documents: every `event: '…'` written in src/ is catalogued and
 * documented, and the README names no code the catalogue lacks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOG_EVENTS } from '../../src/log/events.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Codes written as `event: 'a.b'`, or as string literals in the expression after `event:` (a ternary). */
function emitted(): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of sources(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const [, expr] of text.matchAll(/\bevent:\s*([^,}\n]+)/g)) {
      for (const [, code] of (expr ?? '').matchAll(/'([a-z_]+\.[a-z_]+)'/g)) if (code !== undefined && !out.has(code)) out.set(code, file.slice(root.length));
    }
  }
  return out;
}

function documented(): Set<string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const table = /^\| event \| when \|\n((?:\|.*\n)+)/m.exec(readme)?.[1];
  assert.ok(table !== undefined, 'README has an "| event | when |" table');
  return new Set([...table.matchAll(/`([a-z_]+\.[a-z_]+)`/g)].map((m) => m[1] as string));
}

test('every event code the code emits is in the catalogue', () => {
  const codes = emitted();
  assert.ok(codes.size > 30, `only ${codes.size} codes found: is the scan broken?`);
  const missing = [...codes].filter(([code]) => !(code in LOG_EVENTS)).map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(missing, [], 'add these to src/log/events.ts');
});

test('every event code the code emits is in the README table, and the table names only catalogued codes', () => {
  const readme = documented();
  assert.deepEqual([...emitted().keys()].filter((c) => !readme.has(c)), [], 'add these to the README log-event table');
  assert.deepEqual([...readme].filter((c) => !(c in LOG_EVENTS)), [], 'the README names codes src/log/events.ts lacks');
});
