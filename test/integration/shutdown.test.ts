/**
 * SIGTERM during a run: the daemon (a real `qasid run` process) stops reading, lets what
 * is in flight settle or defers it, unbinds, and exits 0 — nothing lost, nothing left
 * pending. A second run finishes every message.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startSimulator } from '../../src/sim/index.js';
import { keysFor, recordId } from '../../src/queue/keys.js';
import { startRedis } from '../helpers/redis.js';
import { Keyring } from '../../src/privacy/keyring.js';
import { within } from '../helpers/until.js';
import { runDaemon } from '../helpers/daemon.js';

const N = 3000;
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

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

  // Every wait below is bounded so that all of them together (10 + 10 + 20 + 8 s) stay
  // inside the runner's 60 s per file: a hang fails with its diagnosis, not a timeout.
  const first = runDaemon(configFile, cleanups);
  // Let it get going, then stop it while hundreds are queued, paced and in flight.
  const deadline = Date.now() + 10_000;
  while (sim.stats.submitOk < 300 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  assert.ok(sim.stats.submitOk >= 300, `the daemon was sending (${sim.stats.submitOk}); log: ${first.output()}`);
  first.kill('SIGTERM');
  assert.equal(await within(first.exited, 10_000, () => `first run did not exit; log: ${first.output()}`), 0, first.output());
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

  const second = runDaemon(configFile, cleanups);
  const deadline2 = Date.now() + 20_000;
  let finals = finalsAfterFirst;
  while (finals.size < N && Date.now() < deadline2) {
    await new Promise((res) => setTimeout(res, 200));
    finals = await finalIds(r, keys.events);
  }
  second.kill('SIGTERM');
  assert.equal(await within(second.exited, 8_000, () => `second run did not exit; log: ${second.output()}`), 0, second.output());
  if (finals.size !== N) assert.fail(await unfinished(r, keys, finals, [first.output(), second.output()]));
  const all = await r.xrange(keys.events, '-', '+');
  const finalCount = all.filter(([, f]) => (JSON.parse(f[1] as string) as { final: boolean }).final).length;
  assert.equal(finalCount, N, 'exactly one final event each');
  assert.equal(sim.stats.submitOk, N, 'each sent once: nothing re-sent across the restart');
});

/** What is known about the messages that never ended: their events, and where Redis holds them. */
async function unfinished(r: Redis, keys: ReturnType<typeof keysFor>, finals: Set<string>, stderr: string[]): Promise<string> {
  const missing: string[] = [];
  for (let i = 0; i < N; i++) if (!finals.has(`sd-${i}`)) missing.push(`sd-${i}`);
  const seen = new Map<string, string[]>();
  for (const [, f] of await r.xrange(keys.events, '-', '+')) {
    const e = JSON.parse(f[1] as string) as { clientId: string; status: string };
    if (missing.includes(e.clientId)) seen.set(e.clientId, [...(seen.get(e.clientId) ?? []), e.status]);
  }
  const state = {
    due: await r.zcard(keys.due),
    watched: await r.zcard(keys.watch),
    unread: await r.xlen(keys.intake),
    pending: await r.xpending(keys.intake, 'qasid'),
  };
  const sample: string[] = [];
  for (const id of missing.slice(0, 10)) {
    const rec = await r.hgetall(keys.record(recordId(undefined, id)));
    const where = { st: rec.st, term: rec.term, att: rec.att, car: rec.car, err: rec.err, due: await r.zscore(keys.due, recordId(undefined, id)), watch: await r.zscore(keys.watch, recordId(undefined, id)) };
    sample.push(`${id}: ${(seen.get(id) ?? ['no event']).join(' > ')} ${JSON.stringify(where)}`);
  }
  return `${missing.length} of ${N} never ended; ${JSON.stringify(state)}\n${sample.join('\n')}\nstderr:\n${stderr.join('\n---\n').slice(-4000)}`;
}

async function finalIds(r: Redis, events: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const [, f] of await r.xrange(events, '-', '+')) {
    const e = JSON.parse(f[1] as string) as { final: boolean; clientId: string };
    if (e.final) out.add(e.clientId);
  }
  return out;
}
