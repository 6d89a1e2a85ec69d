/**
 * Progress of the long CLI commands against a real redis-server: when standard error is
 * not a terminal, JSON lines at the interval and one at the end — checked through a real
 * pipe on `qasid dnc import`, and in-process for `keys rotate` and `subscriber export|erase`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { QasidClient } from '../../src/client/index.js';
import { keysCommand } from '../../src/cli/keys.js';
import type { CliIo } from '../../src/cli/send.js';
import { subscriberCommand } from '../../src/cli/subscriber.js';
import { testKeys } from '../helpers/app.js';
import { redisForFile } from '../helpers/redis.js';

const BIN = fileURLToPath(new URL('../../bin/qasid.js', import.meta.url));
const redis = redisForFile();
const dir = mkdtempSync(join(tmpdir(), 'qasid-progress-'));

interface ProgressLine {
  event: string;
  op: string;
  done: number;
  total: number | null;
  ratePerSec: number;
  etaSec: number | null;
  elapsedSec: number;
  final: boolean;
}

function progressLines(text: string): ProgressLine[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ProgressLine)
    .filter((l) => l.event === 'progress');
}

function configFile(prefix: string): string {
  const path = join(dir, `${prefix}.json`);
  writeFileSync(path, JSON.stringify({ redis: { url: redis.url, prefix }, privacy: testKeys() }));
  return path;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Captures output, and progress as if standard error were a pipe. */
function capture(env: NodeJS.ProcessEnv = {}): { io: CliIo; out: string[]; err: string[]; progress: () => ProgressLine[] } {
  const out: string[] = [];
  const err: string[] = [];
  let written = '';
  const io: CliIo = { out: (s) => out.push(s), err: (s) => err.push(s), env, progress: { write: (s) => void (written += s), isTTY: false } };
  return { io, out, err, progress: () => progressLines(written) };
}

test('`qasid dnc import` through a pipe: JSON progress lines at the interval, counting up to the file, then a final one', { timeout: 120_000 }, async () => {
  const count = 20_000;
  const lines = ['msisdn'];
  for (let i = 0; i < count; i++) lines.push(`0300${String(1_000_000 + i)}`);
  const list = join(dir, 'dncr.csv');
  writeFileSync(list, `${lines.join('\n')}\n`);
  const cfg = configFile('dnc');

  const r = await run(['dnc', 'import', list, '--config', cfg, '--progress-interval', '20']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`imported ${count} numbers`));
  assert.doesNotMatch(r.stdout, /"progress"/, 'progress stays off standard output');
  const p = progressLines(r.stderr);
  assert.ok(p.length >= 2, `at least one line on the way and the final one: ${r.stderr}`);
  assert.ok(p.every((l) => l.op === 'dnc.import' && l.total !== null && l.ratePerSec >= 0 && l.elapsedSec >= 0));
  assert.deepEqual(
    p.map((l) => l.final),
    [...p.slice(1).map(() => false), true],
  );
  for (let i = 1; i < p.length; i++) assert.ok((p[i] as ProgressLine).done >= (p[i - 1] as ProgressLine).done, 'the count only grows');
  const last = p[p.length - 1] as ProgressLine;
  assert.deepEqual([last.done, last.total, last.etaSec], [count + 1, count + 1, 0]);
  const mid = p[0] as ProgressLine;
  assert.ok(mid.done < count + 1 && mid.total === count + 1, JSON.stringify(mid));

  const quiet = await run(['dnc', 'import', list, '--config', cfg, '--no-progress']);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.deepEqual(progressLines(quiet.stderr), []);

  const bad = await run(['dnc', 'import', list, '--config', cfg, '--progress-interval', 'soon']);
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /--progress-interval must be a whole number/);
});

test('`keys rotate` and `subscriber export|erase` report progress (no total for the SCAN of rotate; stream lengths for the subject requests)', async () => {
  const prefix = 'subj';
  const keys = testKeys();
  const cfg = join(dir, 'subj.json');
  writeFileSync(cfg, JSON.stringify({ redis: { url: redis.url, prefix }, privacy: keys }));
  const r = new Redis(redis.url);
  redis.cleanups.push(async () => void r.disconnect());
  const client = new QasidClient(r, { prefix });
  for (let i = 0; i < 30; i++) await client.send({ id: `m${i}`, to: `0300123${String(4000 + i)}`, from: 'SHOP', text: `message ${i}` });

  const rotate = capture();
  assert.equal(await keysCommand(['rotate', '--config', cfg], rotate.io), 0, rotate.err.join('\n'));
  const rp = rotate.progress();
  assert.ok(rp.length >= 1);
  assert.deepEqual([rp.at(-1)?.op, rp.at(-1)?.final, rp.at(-1)?.total], ['keys.rotate', true, null]);

  const exported = capture();
  assert.equal(await subscriberCommand(['export', '03001234004', '--config', cfg], exported.io), 0, exported.err.join('\n'));
  assert.equal((JSON.parse(exported.out.join('\n')) as { queued: unknown[] }).queued.length, 1);
  const ep = exported.progress();
  assert.deepEqual(ep.map((l) => [l.op, l.final, l.done, l.total]), [['subscriber.export', true, 30, 30]]);

  const erased = capture();
  assert.equal(await subscriberCommand(['erase', '03001234004', '--config', cfg, '--progress-interval', '10'], erased.io), 0, erased.err.join('\n'));
  const last = erased.progress().at(-1);
  assert.deepEqual([last?.op, last?.final], ['subscriber.erase', true]);
  assert.ok((last?.done ?? 0) >= 30 && last?.done === last?.total, JSON.stringify(last));

  const off = capture();
  assert.equal(await subscriberCommand(['export', '03001234005', '--config', cfg, '--no-progress'], off.io), 0);
  assert.deepEqual(off.progress(), []);
});
