/**
 * rediss:// on Redis Cluster and Redis Sentinel, against real redis-servers that listen
 * only for TLS (plain port 0), demand client certificates and speak TLS among themselves
 * (test/helpers/topologies.ts): redisConnection() built from the config reaches every
 * cluster master, and the sentinel and the master it names, over TLS; the daemon runs a
 * message end to end on each; a plain connection and an untrusted CA are refused, and the
 * refusal says why. A cluster whose certificates carry only a host name (nodes announce
 * it) is reached by that name, and refused when dialled by address.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import { App } from '../../src/app.js';
import { auditCommand } from '../../src/cli/audit.js';
import type { CliIo } from '../../src/cli/send.js';
import { loadConfig } from '../../src/config/load.js';
import type { QasidConfig } from '../../src/config/types.js';
import { isQasidError } from '../../src/core/errors.js';
import { captureLogger } from '../../src/log/logger.js';
import { redisConnection, type RedisConn } from '../../src/queue/redis-options.js';
import { startSimulator } from '../../src/sim/index.js';
import { testConfig, testKeys } from '../helpers/app.js';
import { readEvents } from '../helpers/events.js';
import { clusterForFile, sentinelForFile, type TopologyTls } from '../helpers/topologies.js';

const pem = (f: string): string => fileURLToPath(new URL(`../fixtures/tls/${f}`, import.meta.url));
const CA = pem('ca.pem');
const CLIENT = { certFile: pem('client.pem'), keyFile: pem('client.key') };
const SERVERS: TopologyTls = { certFile: pem('server.pem'), keyFile: pem('server.key'), caFile: CA, clientCertFile: CLIENT.certFile, clientKeyFile: CLIENT.keyFile };
/** Servers whose certificate names only `localhost` (no IP address). */
const BY_NAME: TopologyTls = { ...SERVERS, certFile: pem('server-dns.pem'), keyFile: pem('server-dns.key'), servername: 'localhost' };

// Registered first so it runs first: clients and daemons go before the servers they talk to.
const cleanups: Array<() => Promise<void>> = [];
const dir = mkdtempSync(join(tmpdir(), 'qasid-topology-tls-'));
after(async () => {
  // Each bounded, so one that hangs (a client of a refused topology) cannot keep the servers' own stop() from running next.
  for (const c of cleanups.reverse()) await Promise.race([c().catch(() => undefined), new Promise((res) => setTimeout(res, 3000).unref())]);
  rmSync(dir, { recursive: true, force: true });
});
const topo = clusterForFile(3, 0, { tls: SERVERS });
const named = clusterForFile(3, 0, { tls: BY_NAME, announceHostname: 'localhost' });
const sent = sentinelForFile('qasid-tls', { tls: SERVERS });

/** redis.* as an operator writes it in the environment: rediss://, redis.tls.*, then the topology's own keys. */
function fromEnv(env: Record<string, string>): QasidConfig['redis'] {
  return loadConfig({ env: { QASID_REDIS_URL: 'rediss://unused:6379', QASID_REDIS_TLS_CA_FILE: CA, QASID_REDIS_TLS_CERT_FILE: CLIENT.certFile, QASID_REDIS_TLS_KEY_FILE: CLIENT.keyFile, ...env } }).redis;
}

const clusterEnv = (nodes: readonly string[]): Record<string, string> => ({ QASID_REDIS_CLUSTER_NODES: nodes.join(',') });
const sentinelEnv = (): Record<string, string> => ({ QASID_REDIS_SENTINELS: sent.sentinel.sentinels.join(','), QASID_REDIS_SENTINEL_NAME: sent.sentinel.name });

/** A client of `redis` that retries as the daemon does, closed with the file. */
function keep(redis: QasidConfig['redis']): RedisConn {
  const c = redisConnection(redis, { maxRetriesPerRequest: null, connectionName: 'qasid-test' });
  c.on('error', () => undefined);
  cleanups.push(async () => void c.disconnect());
  return c;
}

type Attempt = { ok: true } | { ok: false; errors: string };

/** One attempt as a CLI command makes it (no retries, 3 s), with SET; a refusal comes back with every error ioredis reported. */
async function attempt(redis: QasidConfig['redis']): Promise<Attempt> {
  const c = redisConnection(redis, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const errors: string[] = [];
  c.on('error', (e: Error) => errors.push(e.message));
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
    });
    await Promise.race([(async () => {
      await c.connect();
      assert.equal(await c.set(`probe:${randomBytes(3).toString('hex')}`, '1'), 'OK');
    })(), deadline]);
    return { ok: true };
  } catch (e) {
    return { ok: false, errors: [...errors, (e as Error).message].join(' | ') };
  } finally {
    clearTimeout(timer);
    c.disconnect();
  }
}

function refused(a: Attempt, why: RegExp): string {
  assert.equal(a.ok, false, 'the connection was accepted');
  if (a.ok) return '';
  assert.match(a.errors, why);
  return a.errors;
}

/** The certificate the other end of `c`'s connection presented (its CN), or undefined when not TLS. */
function peerCn(c: Redis): string | undefined {
  const s = c.stream;
  return s instanceof TLSSocket ? String(s.getPeerCertificate().subject.CN) : undefined;
}

/** The daemon on `redis` (plus a prefix), one message through the simulator: its final status. */
async function oneMessage(redis: QasidConfig['redis'], raw: Record<string, unknown>, id: string): Promise<{ status: string | undefined; errors: unknown[] }> {
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC' });
  cleanups.push(() => sim.close());
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const config = testConfig('rediss://unused:6379', [{ id: 'jazz', port: sim.port }], { redis: { url: 'rediss://unused:6379', prefix, tls: { caFile: CA, ...CLIENT }, ...raw } });
  assert.equal(config.redis.topology, redis.topology);
  const { logger, lines } = captureLogger('info');
  const app = new App({ config, logger });
  cleanups.push(() => app.stop());
  await app.start();
  await app.links.get('jazz')?.waitAllBound(5000);
  const r = keep(config.redis) as unknown as Redis;
  await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: 'hello over tls' }));
  const deadline = Date.now() + 10_000;
  let status: string | undefined;
  while (status === undefined && Date.now() < deadline) {
    status = (await readEvents(r, app.keys.events)).find((e) => e.final && e.clientId === id)?.status;
    if (status === undefined) await new Promise((res) => setTimeout(res, 50));
  }
  await app.stop();
  return { status, errors: lines.filter((l) => l.event === 'redis.error') };
}

test('Cluster over TLS: every master is reached over TLS with the CA and client certificate of redis.tls; keys land on all three', async () => {
  // First an attempt that gives up (a refusal fails the test instead of retrying for ever).
  assert.deepEqual(await attempt(fromEnv(clusterEnv(topo.cluster.nodes))), { ok: true });
  const c = keep(fromEnv(clusterEnv(topo.cluster.nodes))) as Cluster;
  assert.ok(c.isCluster);
  for (let i = 0; i < 60; i++) await c.set(`spread:${i}`, 'v');
  const masters = c.nodes('master');
  assert.equal(masters.length, 3);
  for (const m of masters) {
    assert.equal(peerCn(m), 'localhost', `${m.options.host}:${m.options.port} is not a TLS connection`);
    assert.ok((await m.dbsize()) > 0, `no key on ${m.options.host}:${m.options.port}`);
  }
});

test('Cluster over TLS: the daemon runs a message end to end', async () => {
  const { status, errors } = await oneMessage(fromEnv(clusterEnv(topo.cluster.nodes)), { cluster: { nodes: topo.cluster.nodes } }, 'cl-tls-1');
  assert.equal(status, 'delivered');
  assert.deepEqual(errors, []);
});

test('Cluster over TLS: a plain connection to the TLS-only ports fails; an untrusted CA or a wrong name is refused and the error says why', async () => {
  const nodes = topo.cluster.nodes;
  refused(await attempt(loadConfig({ env: { QASID_REDIS_URL: 'redis://unused:6379', ...clusterEnv(nodes) } }).redis), /ECONNRESET|Connection is closed|socket hang up|EPIPE/);
  const wrongCa = refused(await attempt(fromEnv({ ...clusterEnv(nodes), QASID_REDIS_TLS_CA_FILE: pem('untrusted-ca.pem') })), /self[- ]signed certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN/);
  // Both the cluster's error event and the failed connect() name it, not only "Connection is closed.".
  assert.match(wrongCa, /Failed to refresh slots cache\. \(last node error: [^)]*certificate/);
  assert.match(wrongCa, /None of startup nodes is available \(last node error: [^)]*certificate/);
  refused(await attempt(fromEnv({ ...clusterEnv(nodes), QASID_REDIS_TLS_SERVERNAME: 'redis.example' })), /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate/);
  // Verification is on unless switched off: without the CA the system CAs do not know ours.
  refused(await attempt(loadConfig({ env: { QASID_REDIS_URL: 'rediss://unused:6379', QASID_REDIS_TLS_CERT_FILE: CLIENT.certFile, QASID_REDIS_TLS_KEY_FILE: CLIENT.keyFile, ...clusterEnv(nodes) } }).redis), /certificate/);
});

test('Cluster over TLS: the daemon with an untrusted CA fails to start (REDIS_UNAVAILABLE, naming the certificate), without an uncaught error', async () => {
  const nodes = topo.cluster.nodes;
  const config = testConfig('rediss://unused:6379', [], { redis: { url: 'rediss://unused:6379', prefix: 'tbadca', tls: { caFile: pem('untrusted-ca.pem'), ...CLIENT }, cluster: { nodes } } });
  for (let i = 0; i < 3; i++) {
    const { logger, lines } = captureLogger('info');
    const app = new App({ config, logger });
    cleanups.push(() => app.stop());
    await assert.rejects(app.start(), (e) => isQasidError(e, 'REDIS_UNAVAILABLE') && /certificate/.test((e as Error).message));
    assert.ok(lines.some((l) => l.event === 'redis.error' && /certificate/.test(String(l.err))), JSON.stringify(lines));
    await app.stop();
  }
  await new Promise((res) => setTimeout(res, 200));
});

test('Cluster over TLS with certificates for a host name only: reached by that name (the nodes announce it), refused by address', async () => {
  const byAddress = named.cluster.nodes;
  const byName = byAddress.map((n) => n.replace(/^127\.0\.0\.1:/, 'localhost:'));
  assert.deepEqual(await attempt(fromEnv(clusterEnv(byName))), { ok: true });
  const c = keep(fromEnv(clusterEnv(byName))) as Cluster;
  for (let i = 0; i < 30; i++) await c.set(`named:${i}`, 'v');
  const masters = c.nodes('master');
  assert.deepEqual(masters.map((m) => m.options.host), ['localhost', 'localhost', 'localhost']);
  for (const m of masters) assert.equal(peerCn(m), 'localhost');
  // The certificate has no IP address: dialled by address, the name check fails — and says so.
  refused(await attempt(fromEnv(clusterEnv(byAddress))), /ERR_TLS_CERT_ALTNAME_INVALID|IP: 127\.0\.0\.1 is not in the cert's list/);
});

test('Sentinel over TLS: the sentinel (TLS only) names the master, reached over TLS; both with redis.tls', async () => {
  assert.deepEqual(await attempt(fromEnv(sentinelEnv())), { ok: true });
  const c = keep(fromEnv(sentinelEnv())) as Redis;
  assert.equal(await c.set('over-tls', '1'), 'OK');
  assert.equal(peerCn(c), 'localhost');
  assert.deepEqual(await c.config('GET', 'port'), ['port', '0'], 'the master listens for TLS only');
  assert.equal(Number((await c.config('GET', 'tls-port') as string[])[1]), sent.sentinel.masterPort);
});

test('Sentinel over TLS: the daemon runs a message end to end (WAIT for the replica included)', async () => {
  const { status, errors } = await oneMessage(fromEnv(sentinelEnv()), { sentinels: sent.sentinel.sentinels, sentinelName: sent.sentinel.name }, 'sn-tls-1');
  assert.equal(status, 'delivered');
  assert.deepEqual(errors, []);
});

function capture(): { io: CliIo; text: () => string } {
  const out: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => out.push(s), env: {} }, text: () => out.join('\n') };
}

test('Sentinel over TLS: a plain connection fails; an untrusted CA is refused, naming the certificate — a CLI command says so at once', async () => {
  const env = sentinelEnv();
  refused(await attempt(loadConfig({ env: { QASID_REDIS_URL: 'redis://unused:6379', ...env } }).redis), /All sentinels are unreachable/);
  const wrongCa = refused(await attempt(fromEnv({ ...env, QASID_REDIS_TLS_CA_FILE: pem('untrusted-ca.pem') })), /All sentinels are unreachable/);
  assert.match(wrongCa, /sentinel error: [^)]*(self[- ]signed certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/);
  refused(await attempt(fromEnv({ ...env, QASID_REDIS_TLS_SERVERNAME: 'redis.example' })), /sentinel error: [^)]*ERR_TLS_CERT_ALTNAME_INVALID/);

  const file = join(dir, 'untrusted.json');
  writeFileSync(file, JSON.stringify({ redis: { url: 'rediss://unused:6379', tls: { caFile: pem('untrusted-ca.pem'), ...CLIENT }, sentinels: sent.sentinel.sentinels, sentinelName: sent.sentinel.name }, privacy: testKeys() }));
  const out = capture();
  const t0 = Date.now();
  assert.equal(await auditCommand(['verify', '--config', file], out.io), 1);
  assert.ok(Date.now() - t0 < 4000, `the command took ${Date.now() - t0} ms to give up`);
  assert.match(out.text(), /cannot reach Redis at .*All sentinels are unreachable.*certificate/);
});

test('Sentinel over TLS: the client follows a failover to the promoted replica, over TLS', async () => {
  const s = sent.sentinel;
  const c = keep(fromEnv(sentinelEnv())) as Redis;
  await c.set('before-failover', '1');
  assert.equal(await c.wait(1, 2000), 1);
  await s.killMaster();
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await c.set('after-failover', '1');
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
  assert.equal(await s.currentMasterPort(), s.replicaPort);
  assert.equal(Number((await c.config('GET', 'tls-port') as string[])[1]), s.replicaPort);
  assert.equal(peerCn(c), 'localhost');
  assert.equal(await c.get('before-failover'), '1');
});
