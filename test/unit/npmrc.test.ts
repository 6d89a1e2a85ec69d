/**
 * The project .npmrc against package-lock.json: every dependency with an install script is
 * reviewed in `allow-scripts` (else `npm ci` warns and runs it unreviewed), the list names
 * nothing the lockfile lacks, and its entries are in a form npm can match.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** key=value lines of an .npmrc, comments and blanks dropped; a key may repeat. */
function npmrc(): Array<[string, string]> {
  return readFileSync(`${root}.npmrc`, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith(';'))
    .map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
    });
}

interface LockPackage {
  name?: string;
  hasInstallScript?: boolean;
  resolved?: string;
}

function lockPackages(): Array<[string, LockPackage]> {
  const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8')) as { packages: Record<string, LockPackage> };
  return Object.entries(lock.packages).filter(([path]) => path !== '');
}

/** `node_modules/a/node_modules/@s/b` → `@s/b`. */
const nameAt = (path: string, p: LockPackage): string => p.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

test('every package in the lockfile with an install script is listed in .npmrc allow-scripts, and only those', () => {
  const allowed = npmrc()
    .filter(([k]) => k === 'allow-scripts')
    .flatMap(([, v]) => v.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const scripted = [...new Set(lockPackages().filter(([, p]) => p.hasInstallScript === true).map(([path, p]) => nameAt(path, p)))].sort();
  assert.ok(scripted.length > 0, 'no install script in the lockfile: drop allow-scripts from .npmrc (and this test)');
  const names = allowed.map((a) => a.replace(/(.)@.*$/, '$1'));
  assert.deepEqual([...new Set(names)].sort(), scripted);
});

test('allow-scripts entries are bare names when the lockfile records no resolved URLs (npm refuses a pin it cannot verify)', () => {
  if (lockPackages().some(([, p]) => p.resolved !== undefined)) return;
  for (const [k, v] of npmrc()) if (k === 'allow-scripts') for (const entry of v.split(',')) assert.doesNotMatch(entry.trim(), /^@?[^@]+@/, `pinned entry "${entry}" never matches`);
});

test('.npmrc does not turn off scripts wholesale: `npm pack` of packages/client needs its prepack', () => {
  for (const [k, v] of npmrc()) assert.ok(!(k === 'ignore-scripts' && v !== 'false'), 'ignore-scripts in .npmrc also skips the project\'s own prepack');
});
