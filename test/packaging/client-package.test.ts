/**
 * The typed client as an upstream app gets it: `npm pack` of packages/client, installed
 * into an empty app outside the checkout, and the README's example
 * (examples/send-and-listen.mjs) run there with plain `node` against a real redis-server
 * and a whole gateway sending to a simulator over TCP.
 *
 * The install is offline: `npm ci` of the checkout fills the npm cache with tarballs but
 * not with the registry's package documents, so a lockless `npm install --offline` cannot
 * resolve a range. The app therefore gets a lockfile — the packed client plus the exact
 * entries of the checkout's package-lock.json that the client's dependencies reach — and
 * `npm ci --offline` installs it from the cache, as an app with a lockfile would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { Keyring } from '../../src/privacy/keyring.js';
import { startSimulator } from '../../src/sim/index.js';
import { startGateway, testConfig } from '../helpers/app.js';
import { redisForFile } from '../helpers/redis.js';

const run = promisify(execFile);
/** This process's environment without the npm_config_* settings an enclosing `npm test` set. */
const APP_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_config_')));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLIENT_DIR = join(ROOT, 'packages', 'client');
const EXAMPLE = join(ROOT, 'examples', 'send-and-listen.mjs');

const redis = redisForFile();
const cleanups = redis.cleanups;

interface LockEntry {
  version?: string;
  link?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [k: string]: unknown;
}

interface Manifest {
  name: string;
  version: string;
  license?: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** Time one step, for the test's own log. */
async function timed<T>(what: string, times: string[], f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const v = await f();
  times.push(`${what} ${Date.now() - t0} ms`);
  return v;
}

/**
 * The checkout's lockfile entries reached from `names`, at their own paths (the checkout's
 * tree is valid, so the subset keeps every lookup node would make), with the dev flags off.
 */
function lockClosure(names: readonly string[]): Record<string, LockEntry> {
  const all = readJson<{ packages: Record<string, LockEntry> }>(join(ROOT, 'package-lock.json')).packages;
  const out: Record<string, LockEntry> = {};
  const parent = (p: string): string => {
    const i = p.lastIndexOf('/node_modules/');
    return i < 0 ? '' : p.slice(0, i);
  };
  const visit = (from: string, name: string, optional: boolean): void => {
    for (let at = from; ; at = parent(at)) {
      const path = `${at === '' ? '' : `${at}/`}node_modules/${name}`;
      const entry = all[path];
      if (entry !== undefined && entry.link !== true) {
        if (out[path] !== undefined) return;
        const { dev: _d, devOptional: _o, peer: _p, ...kept } = entry;
        out[path] = kept;
        for (const d of Object.keys(entry.dependencies ?? {})) visit(path, d, false);
        for (const d of Object.keys(entry.optionalDependencies ?? {})) visit(path, d, true);
        return;
      }
      if (at === '') {
        if (optional) return;
        throw new Error(`${name} (needed from ${from || 'the app'}) is not in package-lock.json`);
      }
    }
  };
  for (const n of names) visit('', n, false);
  return out;
}

/** An empty ESM app in a fresh temp dir outside the checkout, depending on the tarball and ioredis. */
function writeApp(dir: string, tarball: string, client: Manifest): void {
  const spec = `file:${relative(dir, tarball)}`;
  const peers = client.peerDependencies ?? {};
  const dependencies = { [client.name]: spec, ...peers };
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'upstream-app', private: true, type: 'module', dependencies }, null, 2));
  const lock = {
    name: 'upstream-app',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'upstream-app', dependencies },
      [`node_modules/${client.name}`]: {
        version: client.version,
        resolved: spec,
        license: client.license,
        dependencies: client.dependencies,
        peerDependencies: client.peerDependencies,
        engines: client.engines,
      },
      ...lockClosure([...Object.keys(client.dependencies ?? {}), ...Object.keys(peers)]),
    },
  };
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(lock, null, 2));
}

test("the README's client example is examples/send-and-listen.mjs, verbatim", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const mention = readme.indexOf('`examples/send-and-listen.mjs`');
  assert.ok(mention >= 0, 'the README names examples/send-and-listen.mjs');
  const open = readme.indexOf('```js\n', mention);
  assert.ok(open >= 0, 'a ```js block follows the mention');
  const start = open + '```js\n'.length;
  const block = readme.slice(start, readme.indexOf('```\n', start));
  assert.equal(block, readFileSync(EXAMPLE, 'utf8'));
});

test('the client package depends on what the daemon pins, at the same version', () => {
  const rootPkg = readJson<Manifest>(join(ROOT, 'package.json'));
  const client = readJson<Manifest>(join(CLIENT_DIR, 'package.json'));
  assert.equal(client.version, rootPkg.version);
  for (const [name, range] of Object.entries({ ...client.dependencies, ...client.peerDependencies })) {
    assert.equal(range, rootPkg.dependencies?.[name], `${name}: the client's range is the daemon's`);
  }
});

test('npm pack → install offline into an empty app → the README example sends sealed and reads its events', async () => {
  const times: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'qasid-client-pkg-'));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  const packed = join(work, 'packed');
  const app = join(work, 'app');
  mkdirSync(packed);
  mkdirSync(app);

  // The package as npm would publish it: prepack compiles it.
  await timed('npm pack', times, () => run('npm', ['pack', CLIENT_DIR, '--pack-destination', packed, '--silent'], { cwd: ROOT, timeout: 60_000 }));
  const tarballs = readdirSync(packed).filter((f) => f.endsWith('.tgz'));
  assert.equal(tarballs.length, 1, 'npm pack wrote one tarball');
  const tarball = join(packed, tarballs[0] as string);
  const client = readJson<Manifest>(join(CLIENT_DIR, 'package.json'));
  const listed = await run('tar', ['-tzf', tarball]);
  const files = listed.stdout.split('\n').filter((f) => f !== '');
  assert.ok(files.includes('package/dist/lib/client/index.js') && files.includes('package/dist/lib/client/index.d.ts'), 'compiled client and declarations are packed');
  assert.ok(files.includes('package/dist/schema/mt-message.v1.json'), 'the schema message.ts reads at import is packed');
  assert.ok(!files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no TypeScript sources are packed');

  writeApp(app, tarball, client);
  // The app is a project of its own: none of the checkout's npm settings (which `npm test`
  // hands its children as npm_config_* variables, e.g. allow-scripts from .npmrc, refused
  // by a project-scoped install with EALLOWSCRIPTS) may reach its install.
  await timed('npm ci --offline', times, () => run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, timeout: 60_000, env: APP_ENV }));
  // Every dependency and peer of the installed client resolves, at a version in its range.
  await run('npm', ['ls', '--all', '--offline', '--silent'], { cwd: app, timeout: 30_000, env: APP_ENV });
  const installed = readdirSync(join(app, 'node_modules')).sort();
  for (const heavy of ['fastify', 'pino', 'prom-client', 'smpp', 'convict', 'libphonenumber-js', 'tsx', 'typescript']) {
    assert.ok(!installed.includes(heavy), `${heavy} is not installed with the client`);
  }

  // The declarations type-check in a strict TypeScript app, the library's own included.
  writeFileSync(
    join(app, 'check.ts'),
    [
      "import { Redis } from 'ioredis';",
      "import { InvalidMessageError, Keyring, QasidClient, type EventEntry, type OutgoingMessage } from '@qasid/client';",
      'const keyring: Keyring = Keyring.fromFile(process.env.QASID_KEYRING_FILE);',
      'const qasid = new QasidClient(new Redis(), { prefix: "qasid", keyring });',
      'const events: AsyncIterable<EventEntry> = qasid.events({ from: "$" });',
      'const msg: OutgoingMessage = { id: "a", to: "03001234567", from: "MyBank", text: "hi", class: "otp" };',
      'export const sent: Promise<string> = qasid.send(msg);',
      'export const field = (e: unknown): string | undefined => (e instanceof InvalidMessageError ? e.field : undefined);',
      'export { events };',
      '',
    ].join('\n'),
  );
  const tsconfig = {
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] },
    files: ['check.ts'],
  };
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await timed('tsc on the declarations', times, () => run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app, timeout: 60_000 }));

  // A real gateway with the keyring the app reads from its file.
  const keyring = Keyring.newSourceJson('k1');
  const keyringFile = join(work, 'keyring.json');
  writeFileSync(keyringFile, keyring);
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => sim.close());
  const config = testConfig(redis.url, [{ id: 'jazz', port: sim.port }], { privacy: { keyring, hashKeyring: Keyring.newSourceJson('h1') } });
  const { app: gw } = await startGateway(redis.url, config, cleanups);

  // What the app writes to the intake stream, seen by Redis itself.
  const watcher = new Redis(redis.url);
  cleanups.push(async () => void watcher.disconnect());
  const monitor = await watcher.monitor();
  cleanups.push(async () => void monitor.disconnect());
  const intakeWrites: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'xadd' && args[1] === gw.keys.intake) intakeWrites.push(args);
  });

  copyFileSync(EXAMPLE, join(app, 'send-and-listen.mjs'));
  const env = { PATH: process.env['PATH'] ?? '', QASID_REDIS_URL: redis.url, QASID_REDIS_PREFIX: config.redis.prefix, QASID_KEYRING_FILE: keyringFile };
  const out = await timed('node send-and-listen.mjs', times, () => run(process.execPath, ['send-and-listen.mjs'], { cwd: app, env, timeout: 30_000 }));
  assert.equal(out.stdout, 'order-8812-otp: accepted\norder-8812-otp: delivered (final)\n');
  assert.equal(out.stderr, '');

  assert.equal(intakeWrites.length, 1, 'one intake entry');
  const fields = (intakeWrites[0] as string[]).slice(3);
  assert.deepEqual([fields[0], fields.length], ['sealed', 2], 'the entry is sealed, with no clear `data` field');
  assert.ok(!fields.join(' ').includes('4821') && !fields.join(' ').includes('3001234567'), 'neither text nor number in clear');
  assert.equal(sim.stats.submits, 1);
  console.log(`client package: ${times.join(', ')}`);
});
