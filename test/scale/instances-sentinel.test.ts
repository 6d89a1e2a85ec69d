/**
 * Three instances through Redis Sentinel (redis.sentinels + sentinelName, ioredis'
 * Sentinel client): the master is SIGKILLed mid-run, the sentinel promotes the replica,
 * the instances follow it, and every message still ends in exactly one final event.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { sentinelForFile } from '../helpers/topologies.js';
import { drain, pushMessages, startInstances } from '../helpers/instances.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});
const topo = sentinelForFile('qasid');

test('three instances through Sentinel: the master dies mid-run, they follow the promoted replica, every message ends in one final event', { timeout: 90_000 }, async () => {
  const s = topo.sentinel;
  const client = new Redis({ sentinels: s.sentinels.map((n) => ({ host: n.split(':')[0] as string, port: Number(n.split(':')[1]) })), name: s.name, maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  cleanups.push(async () => void client.disconnect());
  const TPS = 800;
  const N = 10_000;
  const run = await startInstances({ redis: { url: 'redis://unused:6379', sentinels: s.sentinels, sentinelName: s.name }, client, prefix: `se${Date.now().toString(36)}`, tps: TPS, sessions: 3, leaseMs: 2000, cleanups });
  await pushMessages(run.r, run.keys.intake, N, 's');
  // WAIT: the backlog is on the replica before the master dies (a write it never got is lost by any failover).
  await client.call('WAIT', '1', '5000');
  let killedAt = 0;
  const { finals, log } = await drain(run, N, {
    instances: 3,
    tag: 's',
    timeoutMs: 70_000,
    during: async () => {
      killedAt = Date.now();
      await s.killMaster();
    },
  });
  assert.ok(killedAt > 0, 'the master was killed mid-run');
  assert.equal(await s.currentMasterPort(), s.replicaPort, 'the replica was promoted');
  const twice = [...finals].filter(([, n]) => n !== 1);
  assert.deepEqual(twice, [], `exactly one final event each; logs:\n${log()}`);
  assert.equal(finals.size, N);
  assert.ok(run.sim.stats.boundPeak <= 3, `never more than 3 binds (peak ${run.sim.stats.boundPeak})`);
});
