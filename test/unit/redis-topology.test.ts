/**
 * Redis Sentinel and Redis Cluster in the config (redis.sentinels, redis.sentinelName,
 * redis.sentinelPassword, redis.cluster.nodes) and the clients redisConnection() builds
 * from them — options only, nothing connects (lazyConnect).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster, ClusterOptions, Redis } from 'ioredis';
import { isQasidError, type QasidError } from '../../src/core/errors.js';
import { formatConfig, loadConfig } from '../../src/config/load.js';
import { parseHostPort } from '../../src/config/schema.js';
import { redisConnection, urlCredentials } from '../../src/queue/redis-options.js';

const dir = mkdtempSync(join(tmpdir(), 'qasid-topology-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(data: unknown): string {
  const path = join(dir, `config-${++n}.json`);
  writeFileSync(path, JSON.stringify(data));
  return path;
}

function rejects(data: unknown, env: NodeJS.ProcessEnv = {}): QasidError {
  try {
    loadConfig({ file: file(data), env });
  } catch (e) {
    assert.ok(isQasidError(e, 'CONFIG_INVALID'), `expected CONFIG_INVALID, got ${String(e)}`);
    return e;
  }
  assert.fail('config was accepted');
}

function problems(e: QasidError): Array<{ key: string; message: string }> {
  return e.details['problems'] as Array<{ key: string; message: string }>;
}

test('by default the topology is standalone, with no sentinels and no cluster nodes', () => {
  const r = loadConfig({ env: {} }).redis;
  assert.equal(r.topology, 'standalone');
  assert.deepEqual([r.sentinels, r.sentinelName, r.sentinelPassword.reveal(), r.cluster.nodes], [[], '', '', []]);
});

test('sentinels and cluster nodes both given: CONFIG_INVALID naming both keys', () => {
  const e = rejects({ redis: { sentinels: ['10.0.0.1:26379'], sentinelName: 'mymaster', cluster: { nodes: ['10.0.0.2:6379'] } } });
  assert.deepEqual(problems(e).map((p) => p.key), ['redis.cluster.nodes']);
  assert.match(e.message, /redis\.cluster\.nodes: set redis\.sentinels \(Redis Sentinel\) or redis\.cluster\.nodes \(Redis Cluster\), not both/);
  // The same from the environment.
  const env = rejects({}, { QASID_REDIS_SENTINELS: '10.0.0.1:26379', QASID_REDIS_SENTINEL_NAME: 'm', QASID_REDIS_CLUSTER_NODES: '10.0.0.2:6379' });
  assert.match(env.message, /redis\.sentinels .*redis\.cluster\.nodes.*not both/);
});

test('a bad host:port is refused, naming the key and the entry', () => {
  for (const bad of ['10.0.0.1', '10.0.0.1:0', 'redis:65536', 'redis:port', ':6379', 'two words:1', '[::1:6379', 'redis://h:1']) {
    const e = rejects({ redis: { cluster: { nodes: ['10.0.0.9:6379', bad] } } });
    assert.deepEqual(problems(e).map((p) => p.key), ['redis.cluster.nodes'], bad);
    assert.match(e.message, /redis\.cluster\.nodes: \[1\] .* must be host:port/, bad);
  }
  const twice = rejects({ redis: { sentinels: ['s1:26379', 's1:26379'], sentinelName: 'm' } });
  assert.match(twice.message, /redis\.sentinels: \[1\] s1:26379 is listed twice/);
  const fromEnv = rejects({}, { QASID_REDIS_SENTINELS: 's1:26379,s2', QASID_REDIS_SENTINEL_NAME: 'm' });
  assert.match(fromEnv.message, /redis\.sentinels: \[1\] "s2" must be host:port.*\(from env QASID_REDIS_SENTINELS\)/);
  assert.deepEqual(problems(rejects({ redis: { sentinels: 's1:26379' } })).map((p) => p.key), ['redis.sentinels']);
});

test('parseHostPort: names, IPv4, bracketed IPv6, ports 1 to 65535', () => {
  assert.deepEqual(parseHostPort('redis-0.redis.svc.cluster.local:6379'), { host: 'redis-0.redis.svc.cluster.local', port: 6379 });
  assert.deepEqual(parseHostPort('10.0.0.1:1'), { host: '10.0.0.1', port: 1 });
  assert.deepEqual(parseHostPort('[fd00::1]:26379'), { host: 'fd00::1', port: 26379 });
  for (const bad of ['fd00::1:6379', 'h:65536', 'h:', 'h', '-h:1', 'h:1 ']) assert.equal(parseHostPort(bad), undefined, bad);
});

test('env: comma-separated or a JSON array; the sentinel password is a Secret, masked when printed', () => {
  const r = loadConfig({ env: { QASID_REDIS_SENTINELS: ' 10.0.0.1:26379, 10.0.0.2:26379 ,[fd00::3]:26379,', QASID_REDIS_SENTINEL_NAME: 'mymaster', QASID_REDIS_SENTINEL_PASSWORD: 'sentinel-pw7' } }).redis;
  assert.equal(r.topology, 'sentinel');
  assert.deepEqual(r.sentinels, [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }, { host: 'fd00::3', port: 26379 }]);
  assert.equal(r.sentinelName, 'mymaster');
  assert.equal(r.sentinelPassword.reveal(), 'sentinel-pw7');

  const cfg = loadConfig({ env: { QASID_REDIS_CLUSTER_NODES: '["10.0.1.1:6379","10.0.1.2:6379"]', QASID_REDIS_URL: 'redis://app:clusterpw3@ignored:6379' } });
  assert.equal(cfg.redis.topology, 'cluster');
  assert.deepEqual(cfg.redis.cluster.nodes, [{ host: '10.0.1.1', port: 6379 }, { host: '10.0.1.2', port: 6379 }]);
  assert.deepEqual(problems(rejects({}, { QASID_REDIS_CLUSTER_NODES: '["10.0.1.1:6379"' })).map((p) => p.key), ['redis.cluster.nodes']);

  const printed = formatConfig(loadConfig({ env: { QASID_REDIS_SENTINELS: '10.0.0.1:26379,[fd00::3]:26379', QASID_REDIS_SENTINEL_NAME: 'mymaster', QASID_REDIS_SENTINEL_PASSWORD: 'sentinel-pw7', QASID_REDIS_URL: 'redis://:masterpw5@x:6379/2' } }));
  assert.ok(!printed.includes('sentinel-pw7') && !printed.includes('masterpw5'));
  const view = JSON.parse(printed) as { redis: Record<string, unknown> };
  assert.deepEqual(view.redis['sentinels'], ['10.0.0.1:26379', '[fd00::3]:26379']);
  assert.equal(view.redis['sentinelPassword'], '[secret]');
  assert.deepEqual(view.redis['cluster'], { nodes: [] });
});

test('the rules between the keys: a master name with sentinels, sentinel keys only with them, db 0 for a cluster', () => {
  assert.deepEqual(problems(rejects({ redis: { sentinels: ['s1:26379'] } })).map((p) => p.key), ['redis.sentinelName']);
  assert.deepEqual(problems(rejects({ redis: { sentinelName: 'mymaster' } })).map((p) => p.key), ['redis.sentinelName']);
  const pw = rejects({}, { QASID_REDIS_SENTINEL_PASSWORD: 'x', QASID_REDIS_CLUSTER_NODES: 'n1:6379' });
  assert.deepEqual(problems(pw).map((p) => p.key), ['redis.sentinelPassword']);
  assert.match(pw.message, /only applies with redis\.sentinels/);
  const db = rejects({ redis: { url: 'redis://h:6379/3', cluster: { nodes: ['n1:6379'] } } });
  assert.deepEqual(problems(db).map((p) => p.key), ['redis.url']);
  assert.match(db.message, /a Redis Cluster has only db 0/);
  assert.equal(loadConfig({ file: file({ redis: { url: 'redis://h:6379/0', cluster: { nodes: ['n1:6379'] } } }), env: {} }).redis.topology, 'cluster');
  assert.equal(loadConfig({ file: file({ redis: { url: 'redis://h:6379/4', sentinels: ['s1:26379'], sentinelName: 'm' } }), env: {} }).redis.topology, 'sentinel');
});

test('urlCredentials: user, password (percent-decoded) and db from redis.url', () => {
  assert.deepEqual(urlCredentials('rediss://app:p%40ss@h:6380/2'), { username: 'app', password: 'p@ss', db: 2 });
  assert.deepEqual(urlCredentials('redis://:pw@h'), { password: 'pw' });
  assert.deepEqual(urlCredentials('redis://h:6379'), {});
});

test('redisConnection: a Cluster of masters with redis.url credentials and TLS on every node', () => {
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, 'ca-pem');
  const cfg = loadConfig({ file: file({ redis: { url: 'rediss://app:clusterpw@ignored:6380', tls: { caFile: ca, servername: 'redis.internal' }, cluster: { nodes: ['10.0.1.1:6380', '10.0.1.2:6380'] } } }), env: {} });
  const retryStrategy = (): null => null;
  const c = redisConnection(cfg.redis, { lazyConnect: true, enableAutoPipelining: true, maxRetriesPerRequest: null, connectionName: 'qasid', retryStrategy }) as Cluster;
  try {
    assert.equal(c.isCluster, true);
    const o = c.options as ClusterOptions;
    assert.deepEqual((c as unknown as { startupNodes: unknown[] }).startupNodes, [{ host: '10.0.1.1', port: 6380 }, { host: '10.0.1.2', port: 6380 }]);
    assert.equal(o.scaleReads, 'master');
    assert.equal(o.enableAutoPipelining, true);
    assert.equal(o.lazyConnect, true);
    assert.equal(o.clusterRetryStrategy, retryStrategy);
    const node = o.redisOptions ?? {};
    assert.equal(node.username, 'app');
    assert.equal(node.password, 'clusterpw');
    assert.equal(node.maxRetriesPerRequest, null);
    assert.equal(node.connectionName, 'qasid');
    assert.equal('db' in node, false);
    assert.equal('lazyConnect' in node || 'enableAutoPipelining' in node || 'retryStrategy' in node, false);
    assert.equal(String(node.tls?.ca), 'ca-pem');
    assert.equal(node.tls?.servername, 'redis.internal');
    assert.equal(node.tls?.rejectUnauthorized, true);
  } finally {
    c.disconnect();
  }
  const plain = redisConnection(loadConfig({ env: { QASID_REDIS_CLUSTER_NODES: 'n1:6379' } }).redis, { lazyConnect: true }) as Cluster;
  assert.equal(plain.options.redisOptions?.tls, undefined);
  plain.disconnect();
});

test('redisConnection: Sentinel with the master name, the sentinels, redis.url credentials and TLS for both', () => {
  const ca = join(dir, 'ca2.pem');
  writeFileSync(ca, 'ca2-pem');
  const cfg = loadConfig({
    file: file({ redis: { url: 'rediss://:masterpw@ignored:6380/3', tls: { caFile: ca }, sentinels: ['10.0.0.1:26379', '10.0.0.2:26379'], sentinelName: 'mymaster', sentinelPassword: 'spw' } }),
    env: {},
  });
  const r = redisConnection(cfg.redis, { lazyConnect: true, maxRetriesPerRequest: null }) as Redis;
  try {
    const o = r.options;
    assert.equal(r.isCluster, false);
    assert.deepEqual(o.sentinels, [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }]);
    assert.equal(o.name, 'mymaster');
    assert.equal(o.sentinelPassword, 'spw');
    assert.equal(o.password, 'masterpw');
    assert.equal(o.db, 3);
    assert.equal(o.maxRetriesPerRequest, null);
    assert.equal(o.enableTLSForSentinelMode, true);
    assert.equal(String(o.tls?.ca), 'ca2-pem');
    assert.equal(String(o.sentinelTLS?.ca), 'ca2-pem');
  } finally {
    r.disconnect();
  }
  const plain = redisConnection(loadConfig({ env: { QASID_REDIS_SENTINELS: 's:26379', QASID_REDIS_SENTINEL_NAME: 'm' } }).redis, { lazyConnect: true }) as Redis;
  assert.equal(plain.options.tls, undefined);
  assert.equal(plain.options.enableTLSForSentinelMode, false);
  assert.equal(plain.options.sentinelPassword, undefined);
  plain.disconnect();
});

test('redisConnection: standalone is redisClient() for redis.url', () => {
  const r = redisConnection(loadConfig({ env: { QASID_REDIS_URL: 'redis://:pw@10.9.9.9:6390/1' } }).redis, { lazyConnect: true }) as Redis;
  assert.deepEqual([r.isCluster, r.options.host, r.options.port, r.options.password, r.options.db, r.options.sentinels], [false, '10.9.9.9', 6390, 'pw', 1, null]);
  r.disconnect();
});
