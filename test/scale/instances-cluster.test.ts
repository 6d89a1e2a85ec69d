/**
 * Three instances on a real 3-master Redis Cluster (redis.cluster.nodes, ioredis' Cluster
 * client): every script call stays on one hash slot (a CROSSSLOT would fail the run),
 * keys spread over the masters, and the carrier's tps and sessions hold across instances.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type Redis } from 'ioredis';
import { clusterForFile } from '../helpers/topologies.js';
import { drain, judgeRate, pushMessages, startInstances } from '../helpers/instances.js';
import { clusterSlot } from '../helpers/slot.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});
const topo = clusterForFile();

test('three instances on a 3-master Redis Cluster, the intake in three shards: 10,000 messages, each once; the carrier\'s tps and binds hold; records on every master', { timeout: 60_000 }, async () => {
  const nodes = topo.cluster.nodes;
  const client = new Cluster(nodes.map((n) => ({ host: n.split(':')[0] as string, port: Number(n.split(':')[1]) })));
  cleanups.push(async () => void client.disconnect());
  const TPS = 500;
  const N = 10_000;
  const run = await startInstances({
    redis: { url: 'redis://unused:6379', cluster: { nodes } },
    client: client as unknown as Redis,
    prefix: `cl${Date.now().toString(36)}`,
    tps: TPS,
    sessions: 4,
    leaseMs: 2000,
    cleanups,
    // Three intake shards: each message's entry, record, due and watch set in its shard's slot.
    shards: 3,
  });
  await pushMessages(run.r, run.keys, N, 'c');
  const lengths = await Promise.all(run.keys.intakeStreams.map((stream) => client.xlen(stream)));
  assert.ok(lengths.every((n) => n > N / 6), `every shard has its share of the entries (${lengths.join(', ')})`);
  const shardMasters = new Set(run.keys.intakeStreams.map((stream) => client.slots[clusterSlot(stream)]?.[0]));
  assert.equal(shardMasters.size, 3, 'the three shards sit on three masters');
  // Each instance's subscriber keys (caps, held index) land on the other masters too.
  const { finals } = await drain(run, N, { instances: 3, tag: 'c', timeoutMs: 45_000 });
  assert.deepEqual([...finals.values()].filter((n) => n !== 1), [], 'exactly one final event each');
  assert.equal(run.sim.stats.submitOk, N, 'each message submitted once');
  assert.ok(run.sim.stats.boundPeak <= 4, `never more than 4 binds (peak ${run.sim.stats.boundPeak})`);
  assert.equal(run.sim.stats.receiptsAcked, N, 'every receipt acknowledged, on whichever instance it reached');
  // Never over the rate; how close it stays under is judged on standalone Redis
  // (instances.test.ts): here three masters and three daemons share two cores with
  // another test file, and a stall is time not owed later.
  const bad = judgeRate(run.submits, TPS, { overOnly: true });
  assert.equal(bad, undefined, bad);
  const sizes = await Promise.all(client.nodes('master').map((m) => m.dbsize()));
  assert.ok(sizes.every((n) => n > N / 10), `the records are spread over every master (${sizes.join(', ')} keys)`);
});
