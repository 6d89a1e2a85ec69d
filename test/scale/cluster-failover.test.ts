/**
 * Three instances on a Redis Cluster of three masters with a replica each: the master
 * that serves the records' and the intake's slot is SIGKILLed mid-run; its replica takes
 * over (MOVED for the client, which refreshes its slot map), the instances carry on, and
 * every message still ends in a final event — a second one only for a message whose
 * handling the failover cut off after its event was written (at least once).
 *
 * Redis Cluster replicates asynchronously and offers no WAIT across a batch's masters, so
 * a write the dying master acknowledged but had not passed on is gone (a receipt's
 * mapping, say): such a message is not lost but ends at its deadline, `expired` or
 * `unknown`. Likewise a receipt whose event write the failover cut off: the SMSC's copy
 * delivered again finds the record settled, and the event is written from the record at
 * the watch deadline (queue/final-event.ts). The messages here are given 30 s of
 * validity and 5 s of receipt grace, so all of that happens inside the run.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, type Redis } from 'ioredis';
import { clusterForFile } from '../helpers/topologies.js';
import { drain, pushMessages, startInstances } from '../helpers/instances.js';
import { clusterSlot } from '../helpers/slot.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});
const topo = clusterForFile(3, 1);

test('a Redis Cluster master fails over mid-run (its replica takes its slots): the instances follow, every message ends in a final event, a second one only after a logged failure', { timeout: 110_000 }, async () => {
  const nodes = topo.cluster.nodes;
  const client = new Cluster(nodes.map((n) => ({ host: n.split(':')[0] as string, port: Number(n.split(':')[1]) })), { clusterRetryStrategy: () => 200 });
  client.on('error', () => undefined);
  cleanups.push(async () => void client.disconnect());
  const N = 6000;
  const run = await startInstances({ redis: { url: 'redis://unused:6379', cluster: { nodes } }, client: client as unknown as Redis, prefix: `cf${Date.now().toString(36)}`, tps: 400, sessions: 3, leaseMs: 3000, cleanups, extra: { messages: { defaultValiditySec: 30, receiptGraceSec: 5 } } });
  await pushMessages(run.r, run.keys.intake, N, 'f');
  // The master of the records' slot (the intake stream, the due and watch sets, every record).
  const slot = clusterSlot(run.keys.recordTag);
  const owner = (await topo.cluster.masters()).find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
  assert.ok(owner, 'the records\' slot has a master');
  let promoted = '';
  const { finals, log, output } = await drain(run, N, {
    instances: 3,
    tag: 'f',
    timeoutMs: 90_000,
    during: async () => {
      await topo.cluster.killNode(owner.node);
      // Wait for the replica to take the slot over (node timeout 2 s, then the election).
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && promoted === '') {
        await new Promise((res) => setTimeout(res, 250));
        const now = await topo.cluster.masters().catch(() => []);
        promoted = now.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b) && m.node !== owner.node)?.node ?? '';
      }
    },
  });
  assert.notEqual(promoted, '', 'a replica took over the slot');
  // None lost: every message has its final event.
  assert.equal(finals.size, N, 'every message ends in a final event');
  // A handler the failover cut off after its event was written but before its work was
  // released (the reply lost with the connection) leaves the work to be met again, and
  // the event is written again from the record: at least once. Each such second event
  // must follow a handling failure the daemons logged.
  const twice = [...finals].filter(([, n]) => n !== 1);
  const failed = (output().match(/"event":"dispatch\.error"|deliver handler failed/g) ?? []).length;
  assert.ok(twice.every(([, n]) => n === 2) && twice.length <= failed, `${twice.length} messages with a second final event, ${failed} logged handling failures; logs:\n${log()}`);
  // Most by far are delivered; what the failover cost shows in the rest.
  assert.ok(run.sim.stats.submitOk >= N, 'every message reached the carrier');
  assert.ok(run.sim.stats.boundPeak <= 3, `never more than 3 binds (peak ${run.sim.stats.boundPeak})`);
});
