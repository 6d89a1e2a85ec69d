/**
 * redisConnection() against a real 3-master Redis Cluster and a real Sentinel set-up
 * (test/helpers/topologies.ts), configured the way an operator would: through the
 * QASID_REDIS_* env vars and loadConfig().
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Redis, type Cluster } from 'ioredis';
import { loadConfig } from '../../src/config/load.js';
import { redisConnection, type RedisConn } from '../../src/queue/redis-options.js';
import { clusterForFile, sentinelForFile } from '../helpers/topologies.js';
import { within } from '../helpers/until.js';

// Registered first so it runs first: the clients go before the servers they talk to.
const clients: RedisConn[] = [];
after(() => {
  for (const c of clients) c.disconnect();
});
const topo = clusterForFile();
const sent = sentinelForFile();

/** `c`, closed with the file; its connection errors are expected (a node is killed). */
function keep<T extends RedisConn>(c: T): T {
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

function clusterClient(): Cluster {
  const cfg = loadConfig({ env: { QASID_REDIS_CLUSTER_NODES: topo.cluster.nodes.join(',') } });
  assert.equal(cfg.redis.topology, 'cluster');
  const c = keep(redisConnection(cfg.redis, { maxRetriesPerRequest: null, connectionName: 'qasid-test' }));
  assert.ok(c.isCluster);
  return c as Cluster;
}

/** A plain client of one node, closed with the file. */
function nodeClient(hostPort: string): Redis {
  const [host, port] = hostPort.split(':') as [string, string];
  return keep(new Redis(Number(port), host, { maxRetriesPerRequest: 1 }));
}

/** slot → the master that owns it, read from CLUSTER NODES of one node. */
async function slotOwners(r: Redis): Promise<(slot: number) => string> {
  const ranges: Array<[number, number, string]> = [];
  for (const line of String(await r.cluster('NODES')).trim().split('\n')) {
    const [, addr, flags, , , , , , ...slots] = line.split(' ') as string[];
    if (addr === undefined || flags === undefined || !flags.includes('master')) continue;
    const hostPort = addr.split('@')[0] as string;
    for (const s of slots) {
      const [from, to] = s.split('-').map(Number) as [number, number | undefined];
      ranges.push([from, to ?? from, hostPort]);
    }
  }
  return (slot) => {
    const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (owner === undefined) throw new Error(`slot ${slot} has no owner`);
    return owner[2];
  };
}

test('Cluster: keys spread over all three masters, each on the master that owns its slot', async () => {
  const c = clusterClient();
  const keys = Array.from({ length: 60 }, (_, i) => `spread:${i}`);
  for (const k of keys) await c.set(k, 'v');
  const nodes = topo.cluster.nodes;
  const first = nodeClient(nodes[0] as string);
  const ownerOf = await slotOwners(first);
  const expected = new Map<string, number>(nodes.map((n) => [n, 0]));
  for (const k of keys) {
    const owner = ownerOf(await first.cluster('KEYSLOT', k));
    expected.set(owner, (expected.get(owner) ?? 0) + 1);
  }
  const actual = new Map<string, number>();
  for (const n of nodes) actual.set(n, await nodeClient(n).dbsize());
  assert.deepEqual(actual, expected);
  for (const n of nodes) assert.ok((actual.get(n) ?? 0) > 0, `no key landed on ${n}`);
});

test('Cluster: a script whose keys share a hash tag runs (EVAL and defineCommand, on every master); keys in two slots are CROSSSLOT', async () => {
  const c = clusterClient();
  const lua = "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return redis.call('GET', KEYS[1])";
  assert.equal(await c.eval(lua, 2, '{msg:1}:a', '{msg:1}:b', 'x'), 'x');
  assert.equal(await c.get('{msg:1}:b'), 'x');

  // A defined command goes out as EVALSHA to the node of its first key; a node that has
  // not seen the script yet answers NOSCRIPT and gets EVAL — so each master learns it.
  c.defineCommand('setBoth', { numberOfKeys: 2, lua });
  const setBoth = (c as unknown as { setBoth(a: string, b: string, v: string): Promise<string> }).setBoth.bind(c);
  const ownerOf = await slotOwners(nodeClient(topo.cluster.nodes[0] as string));
  const seen = new Set<string>();
  for (let i = 0; seen.size < 3 && i < 200; i++) {
    const owner = ownerOf(await c.cluster('KEYSLOT', `{t${i}}`));
    if (seen.has(owner)) continue;
    seen.add(owner);
    assert.equal(await setBoth(`{t${i}}:a`, `{t${i}}:b`, `v${i}`), `v${i}`);
  }
  assert.equal(seen.size, 3);

  const [a, b] = ['cross:a', 'cross:b'];
  assert.notEqual(await c.cluster('KEYSLOT', a), await c.cluster('KEYSLOT', b));
  await assert.rejects(c.eval(lua, 2, a, b, 'y'), /CROSSSLOT/);
  assert.deepEqual([await c.exists(a), await c.exists(b)], [0, 0], 'the refused script wrote nothing');
});

test('Cluster: one explicit pipeline may not span masters; auto-pipelining may', async () => {
  const c = clusterClient();
  const ownerOf = await slotOwners(nodeClient(topo.cluster.nodes[0] as string));
  // Two keys on two different masters.
  const keys: string[] = [];
  const owners = new Set<string>();
  for (let i = 0; keys.length < 2; i++) {
    const k = `pipe:${i}`;
    const owner = ownerOf(await c.cluster('KEYSLOT', k));
    if (owners.has(owner)) continue;
    owners.add(owner);
    keys.push(k);
  }
  const [k1, k2] = keys as [string, string];
  await assert.rejects(c.pipeline().set(k1, '1').set(k2, '2').exec(), /same slots allocation group/);

  const auto = keep(redisConnection(loadConfig({ env: { QASID_REDIS_CLUSTER_NODES: topo.cluster.nodes.join(',') } }).redis, { enableAutoPipelining: true, maxRetriesPerRequest: null }));
  assert.deepEqual(await Promise.all([auto.set(k1, '1'), auto.set(k2, '2')]), ['OK', 'OK']);
  assert.deepEqual(await Promise.all([auto.get(k1), auto.get(k2)]), ['1', '2']);
});

test('Cluster: a blocking XREADGROUP holds its node connection, so it needs a client of its own', async () => {
  const c = clusterClient();
  const stream = '{intake:0}:mt';
  await c.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
  const ownerOf = await slotOwners(nodeClient(topo.cluster.nodes[0] as string));
  const streamNode = ownerOf(await c.cluster('KEYSLOT', stream));
  let sameNodeKey = '';
  for (let i = 0; sameNodeKey === ''; i++) if (ownerOf(await c.cluster('KEYSLOT', `other:${i}`)) === streamNode) sameNodeKey = `other:${i}`;
  await c.set(sameNodeKey, 'v');

  const read = c.xreadgroup('GROUP', 'g', 'consumer', 'COUNT', 10, 'BLOCK', 600, 'STREAMS', stream, '>');
  const t0 = performance.now();
  assert.equal(await c.get(sameNodeKey), 'v');
  const waited = performance.now() - t0;
  assert.equal(await read, null);
  assert.ok(waited >= 400, `a GET to the blocked node answered after ${waited.toFixed(0)} ms, expected to wait behind the BLOCK`);

  // Streams in two slots cannot be read in one XREADGROUP: one read per shard.
  await c.xgroup('CREATE', '{intake:1}:mt', 'g', '$', 'MKSTREAM');
  await assert.rejects(c.xreadgroup('GROUP', 'g', 'consumer', 'COUNT', 1, 'STREAMS', stream, '{intake:1}:mt', '>', '>'), /CROSSSLOT/);
});

/** The port of the server `r` talks to, as that server reports it. */
async function serverPort(r: Redis): Promise<number> {
  const m = /tcp_port:(\d+)/.exec(await r.info('server'));
  return Number(m?.[1]);
}

test('Sentinel: the client follows a failover to the promoted replica and keeps writing', async () => {
  const s = sent.sentinel;
  const cfg = loadConfig({ env: { QASID_REDIS_SENTINELS: s.sentinels.join(','), QASID_REDIS_SENTINEL_NAME: s.name } });
  assert.equal(cfg.redis.topology, 'sentinel');
  const c = keep(redisConnection(cfg.redis, { maxRetriesPerRequest: null, connectionName: 'qasid-test' }) as Redis);

  await c.set('before', '1');
  assert.equal(await serverPort(c), s.masterPort);
  // Replicated before the crash, so it must survive the failover.
  assert.equal(await c.wait(1, 2000), 1);

  // Writes keep going while the master dies; none may fail, each is retried until a master takes it.
  let stop = false;
  let written = 0;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      await c.set(`during:${i}`, String(i));
      written = i + 1;
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  await s.killMaster();
  const before = written;
  await within(
    (async () => {
      while (written <= before + 5) await new Promise((r) => setTimeout(r, 50));
    })(),
    15_000,
    () => `no write succeeded within 15 s of the master's death (${written} written)`,
  );
  const took = performance.now() - t0;
  stop = true;
  await writer;

  assert.equal(await s.currentMasterPort(), s.replicaPort);
  assert.equal(await serverPort(c), s.replicaPort);
  assert.match(await c.info('replication'), /role:master/);
  assert.equal(await c.get('before'), '1');
  assert.equal(await c.get(`during:${written - 1}`), String(written - 1));
  assert.ok(took < 15_000, `failover took ${took.toFixed(0)} ms`);
});
