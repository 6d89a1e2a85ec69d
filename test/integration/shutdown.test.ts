/**
 * SIGTERM during a run: the daemon (a real `qasid run` process) stops reading, lets what
 * is in flight settle or defers it, unbinds, and exits 0 — nothing lost, nothing left
 * pending. A second run finishes every message.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startSimulator } from '../../src/sim/index.js';
import { keysFor } from '../../src/queue/keys.js';
import { startRedis } from '../helpers/redis.js';
import { Keyring } from '../../src/privacy/keyring.js';

const BIN = fileURLToPath(new URL('../../bin/qasid.js', import.meta.url));
const N = 3000;
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function runDaemon(configFile: string): { exited: Promise<number | null>; kill: (s: NodeJS.Signals) => void; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, 'run', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, QASID_FROM_SOURCE: '1' } });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { exited, kill: (s) => child.kill(s), stderr: () => err };
}

test('SIGTERM mid-run: exit 0, no entry pending, nothing lost; a restart finishes every message', async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  // A slow carrier (40 msg/s) so plenty is queued and in flight when the signal lands.
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => sim.close());
  const prefix = `sd${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'qasid-shutdown-'));
  const configFile = join(dir, 'qasid.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      log: { level: 'warn' },
      redis: { url: redis.url, prefix },
      shutdown: { drainMs: 1000, forceExitMs: 10000 },
      intake: { blockMs: 100 },
      admin: { port: 0 },
      privacy: { keyring: Keyring.newSourceJson('k1'), hashKeyring: Keyring.newSourceJson('h1') },
      dispatch: { pollMs: 50, maxInFlight: 500 },
      carriers: [{ id: 'jazz', host: '127.0.0.1', port: sim.port, systemId: 'jazz', password: 'pw', window: 20, tps: 400, timers: { reconnectMinMs: 50, reconnectMaxMs: 500 } }],
    }),
  );
  const keys = keysFor(prefix);
  const r = new Redis(redis.url);
  cleanups.push(async () => void r.disconnect());
  const pipe = r.pipeline();
  for (let i = 0; i < N; i++) pipe.xadd(keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `sd-${i}`, to: '03001234567', from: 'QASID', text: `message ${i}` }));
  await pipe.exec();

  const first = runDaemon(configFile);
  // Let it get going, then stop it while hundreds are queued, paced and in flight.
  const deadline = Date.now() + 20_000;
  while (sim.stats.submitOk < 300 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  assert.ok(sim.stats.submitOk >= 300, `the daemon was sending (${sim.stats.submitOk}); stderr: ${first.stderr()}`);
  first.kill('SIGTERM');
  assert.equal(await first.exited, 0, first.stderr());
  assert.ok(sim.stats.unbinds >= 1, 'it unbound politely');

  const group = 'qasid';
  const pending = (await r.xpending(keys.intake, group)) as [number];
  assert.equal(Number(pending[0]), 0, 'no entry left pending');
  const finalsAfterFirst = await finalIds(r, keys.events);
  const due = await r.zcard(keys.due);
  const backlog = await r.xlen(keys.intake);
  const watched = await r.zcard(keys.watch);
  // Every message is accounted for: finished, deferred, waiting for its receipt, or still unread in the stream.
  assert.ok(finalsAfterFirst.size + due + watched + backlog >= N, `final ${finalsAfterFirst.size} + due ${due} + watched ${watched} + unread ${backlog} < ${N}`);
  assert.ok(backlog > 0, 'it stopped reading before the stream was empty');

  const second = runDaemon(configFile);
  const deadline2 = Date.now() + 60_000;
  let finals = finalsAfterFirst;
  while (finals.size < N && Date.now() < deadline2) {
    await new Promise((res) => setTimeout(res, 200));
    finals = await finalIds(r, keys.events);
  }
  second.kill('SIGTERM');
  assert.equal(await second.exited, 0, second.stderr());
  assert.equal(finals.size, N, 'every message ended');
  const all = await r.xrange(keys.events, '-', '+');
  const finalCount = all.filter(([, f]) => (JSON.parse(f[1] as string) as { final: boolean }).final).length;
  assert.equal(finalCount, N, 'exactly one final event each');
  assert.equal(sim.stats.submitOk, N, 'each sent once: nothing re-sent across the restart');
});

async function finalIds(r: Redis, events: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const [, f] of await r.xrange(events, '-', '+')) {
    const e = JSON.parse(f[1] as string) as { final: boolean; clientId: string };
    if (e.final) out.add(e.clientId);
  }
  return out;
}
