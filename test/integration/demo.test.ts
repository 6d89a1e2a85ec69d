/**
 * `qasid demo`, the README's first command: in-process against a test Redis (the reuse
 * path), and once as a real child process that starts its own redis-server.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { demoCommand } from '../../src/cli/demo.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FULL_NUMBER = /\+?92\d{10}/;
let redis: TestRedis;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

test('demoCommand reuses the Redis of QASID_REDIS_URL, settles every entry as expected, exits 0', { timeout: 60_000 }, async () => {
  const out: string[] = [];
  const code = await demoCommand(['--messages', '50'], { out: (s) => out.push(s), err: (s) => out.push(s), env: { QASID_REDIS_URL: redis.url } });
  const text = out.join('\n');
  assert.equal(code, 0, text);
  assert.match(text, /reusing 127\.0\.0\.1:\d+/);
  assert.match(text, /pushed +57 entries/);
  assert.match(text, /^ {2}delivered +\d+ +\d+ +0 +50$/m);
  assert.match(text, /rejected {2}duplicate +0 +0 +2 +2/);
  assert.match(text, /result: ok/);
  assert.doesNotMatch(text, FULL_NUMBER);
  // The reused Redis is left running, with the demo's streams in it.
  const r = new Redis(redis.url);
  try {
    const prefix = /prefix (demo[0-9a-f]+)/.exec(text)?.[1];
    assert.ok(prefix);
    assert.ok((await r.xlen(`${prefix}:events`)) >= 55);
  } finally {
    r.disconnect();
  }
});

test('`node bin/qasid.js demo --messages 20` starts its own redis-server and exits 0', { timeout: 90_000 }, async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, QASID_FROM_SOURCE: '1' };
  delete env.QASID_REDIS_URL;
  const child = spawn(process.execPath, ['bin/qasid.js', 'demo', '--messages', '20'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.match(stdout, /delivered/);
  assert.match(stdout, /started redis-server on 127\.0\.0\.1:\d+/);
  assert.match(stdout, /redis-server stopped/);
  assert.doesNotMatch(stdout, FULL_NUMBER);
  assert.ok(stdout.split('\n').length < 40, 'the output fits a screen');
});
