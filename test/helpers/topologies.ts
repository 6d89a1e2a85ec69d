/**
 * Real Redis Cluster and Redis Sentinel set-ups for integration tests, built from the
 * throw-away redis-servers of src/cli/local-redis.ts: free loopback ports picked by the OS
 * (so two test files running at once never share one), no persistence, every file in one
 * temporary directory that stop() removes. Stop them in `after()` (clusterForFile() and
 * sentinelForFile() register that themselves), so a failing test still ends every process.
 *
 * With `tls` every server listens only for TLS (plain port 0), demands a client
 * certificate signed by the CA (tls-auth-clients), and speaks TLS to the others too: the
 * cluster bus (tls-cluster), replication (tls-replication; a sentinel uses it for the
 * master and replicas it monitors), presenting the client certificate (tls-client-cert-file:
 * the server certificate is for serverAuth only).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort, startRedisServer, type RedisServerOptions, type StartedRedis } from '../../src/cli/local-redis.js';
import { until } from './until.js';

const run = promisify(execFile);

/** TLS for a test topology: PEM files (see test/fixtures/tls/README.md). */
export interface TopologyTls {
  /** Every server's certificate and key (serverAuth). */
  certFile: string;
  keyFile: string;
  /** The CA that signs the server and client certificates, trusted by every server. */
  caFile: string;
  /** The certificate (clientAuth) and key the servers present to each other, and the helpers' own clients. */
  clientCertFile: string;
  clientKeyFile: string;
  /** The name the helpers' own clients check the server certificate against (default: the address they dial, 127.0.0.1). */
  servername?: string;
}

export interface TopologyOptions {
  /** TLS only (see above); plain TCP when absent. */
  tls?: TopologyTls;
  /**
   * Cluster only: every node announces itself by this host name instead of its address
   * (cluster-announce-hostname, cluster-preferred-endpoint-type hostname), so CLUSTER SLOTS
   * and MOVED name it — as on Kubernetes, where the certificates carry the pods' names.
   */
  announceHostname?: string;
}

export interface TestCluster {
  /** Every node, as host:port (127.0.0.1:port), in start order (masters and replicas). */
  nodes: string[];
  /** Whether the nodes listen only for TLS (started with `tls`). */
  tls: boolean;
  /** The masters now, and the slot ranges each serves (CLUSTER SLOTS, asked of a live node). */
  masters(): Promise<Array<{ node: string; slots: Array<[number, number]> }>>;
  /** SIGKILL the node at `hostPort` (with no replicas, its slots stay down: CLUSTERDOWN). */
  killNode(hostPort: string): Promise<void>;
  /** Stops every node and removes the directory; safe to call twice. */
  stop(): Promise<void>;
}

export interface TestSentinel {
  /** The one sentinel, as host:port. */
  sentinels: string[];
  /** Whether the servers and the sentinel listen only for TLS (started with `tls`). */
  tls: boolean;
  /** The master name it monitors. */
  name: string;
  /** The first master's and its replica's ports. */
  masterPort: number;
  replicaPort: number;
  /** SIGKILL whichever server the sentinel names master now; resolves once it has exited. */
  killMaster(): Promise<void>;
  /** The port of the master the sentinel names now. */
  currentMasterPort(): Promise<number>;
  /** Stops every server and the sentinel, removes the directory; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` (3) masters, each with `replicas` (0) replicas, all 16384
 * slots assigned, ready on every node (cluster_state:ok, every node known to every
 * other). With replicas, a killed master's replica takes over after the 2 s node timeout.
 */
export async function startRedisCluster(masters = 3, replicas = 0, options: TopologyOptions = {}): Promise<TestCluster> {
  const { tls } = options;
  const dir = mkdtempSync(join(tmpdir(), 'qasid-cluster-'));
  const servers: StartedRedis[] = [];
  const stop = once(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const total = masters * (1 + replicas);
    for (let i = 0; i < total; i++) {
      servers.push(
        await startRedisServer({
          ...serverTls(tls),
          args: async (port) => [
            ...tlsArgs(tls),
            '--cluster-enabled', 'yes',
            '--cluster-config-file', join(dir, `nodes-${port}.conf`),
            // The bus port defaults to port + 10000, which may be taken or past 65535.
            '--cluster-port', String(await freePortBut(port)),
            '--cluster-node-timeout', '2000',
            ...(options.announceHostname === undefined ? [] : ['--cluster-announce-hostname', options.announceHostname, '--cluster-preferred-endpoint-type', 'hostname']),
            '--dir', dir,
          ],
        }),
      );
    }
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', [...cliTls(tls), '--cluster', 'create', ...nodes, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    await eachNode(tls, servers, (r) =>
      until(
        async () => {
          const info = await r.cluster('INFO');
          return /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${total}\\b`).test(info) && /cluster_slots_ok:16384\b/.test(info);
        },
        20_000,
        'cluster_state:ok on every node',
        50,
      ),
    );
    const dead = new Set<string>();
    return {
      nodes,
      tls: tls !== undefined,
      masters: async () => {
        const live = nodes.find((n) => !dead.has(n)) as string;
        const r = new Redis(Number(live.split(':')[1]), '127.0.0.1', { ...clientTls(tls), lazyConnect: true, maxRetriesPerRequest: 1 });
        r.on('error', () => undefined);
        try {
          const slots = await r.cluster('SLOTS');
          const by = new Map<string, Array<[number, number]>>();
          for (const [from, to, master] of slots) {
            if (master === undefined) continue;
            const key = `${master[0]}:${master[1]}`;
            by.set(key, [...(by.get(key) ?? []), [from, to]]);
          }
          return [...by].map(([node, ranges]) => ({ node, slots: ranges }));
        } finally {
          r.disconnect();
        }
      },
      killNode: async (hostPort) => {
        dead.add(hostPort);
        const s = servers.find((x) => `127.0.0.1:${x.port}` === hostPort);
        if (s === undefined) throw new Error(`no node ${hostPort} in this cluster`);
        await s.kill();
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * One master, one replica of it (in sync), and one sentinel monitoring them under `name`
 * with quorum 1, a master judged down after 1 s without an answer, and a 5 s failover
 * timeout: killMaster() is followed by the replica's promotion within a few seconds.
 */
export async function startRedisSentinel(name = 'qasid-test', options: TopologyOptions = {}): Promise<TestSentinel> {
  const { tls } = options;
  const dir = mkdtempSync(join(tmpdir(), 'qasid-sentinel-'));
  const servers: StartedRedis[] = [];
  let sentinel: StartedRedis | undefined;
  const stop = once(async () => {
    await sentinel?.stop();
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const master = await startRedisServer({ ...serverTls(tls), args: () => [...tlsArgs(tls), '--dir', dir] });
    servers.push(master);
    const replica = await startRedisServer({ ...serverTls(tls), args: () => [...tlsArgs(tls), '--dir', dir, '--replicaof', '127.0.0.1', String(master.port)] });
    servers.push(replica);
    await eachNode(tls, [replica], (r) => until(async () => /master_link_status:up/.test(await r.info('replication')), 10_000, 'the replica in sync with its master', 50));

    // Sentinel rewrites this file (its id, the replicas it found): it lives in the set-up's directory.
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    // With TLS, tls-replication makes the sentinel speak TLS to the master and replicas.
    sentinel = await startRedisServer({ ...serverTls(tls), configFile: conf, sentinel: true, args: () => [...tlsArgs(tls), '--dir', dir] });
    const s = sentinel;
    // A replica the sentinel has not yet heard of (from the master's INFO) cannot be promoted.
    await eachNode(tls, [s], (r) =>
      until(
        async () => {
          const replicas = (await r.call('SENTINEL', 'REPLICAS', name)) as string[][];
          return replicas.some((fields) => field(fields, 'port') === String(replica.port) && field(fields, 'master-link-status') === 'ok' && !/s_down|disconnected/.test(field(fields, 'flags') ?? ''));
        },
        15_000,
        'the sentinel to know the replica',
        50,
      ),
    );

    const currentMasterPort = async (): Promise<number> => {
      const r = new Redis(s.port, '127.0.0.1', { ...clientTls(tls), maxRetriesPerRequest: 1, lazyConnect: true });
      r.on('error', () => undefined);
      try {
        const addr = (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
        return Number(addr[1]);
      } finally {
        r.disconnect();
      }
    };
    return {
      sentinels: [`127.0.0.1:${s.port}`],
      tls: tls !== undefined,
      name,
      masterPort: master.port,
      replicaPort: replica.port,
      currentMasterPort,
      killMaster: async () => {
        const port = await currentMasterPort();
        const current = servers.find((x) => x.port === port);
        if (current === undefined) throw new Error(`the sentinel names 127.0.0.1:${port} master, which this set-up did not start`);
        await current.kill();
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** startRedisCluster() for the calling test file: started in `before`, stopped in `after`. */
export function clusterForFile(masters = 3, replicas = 0, options: TopologyOptions = {}): { readonly cluster: TestCluster } {
  return forFile(() => startRedisCluster(masters, replicas, options), 'cluster');
}

/** startRedisSentinel() for the calling test file: started in `before`, stopped in `after`. */
export function sentinelForFile(name?: string, options: TopologyOptions = {}): { readonly sentinel: TestSentinel } {
  return forFile(() => startRedisSentinel(name, options), 'sentinel');
}

function forFile<T extends { stop(): Promise<void> }, K extends string>(start: () => Promise<T>, key: K): { readonly [k in K]: T } {
  let value: T | undefined;
  before(async () => {
    value = await start();
  });
  after(async () => {
    await value?.stop();
  });
  return Object.defineProperty({}, key, {
    get: (): T => {
      if (value === undefined) throw new Error(`${key}ForFile(): not started yet (use it inside a test)`);
      return value;
    },
  }) as { readonly [k in K]: T };
}

/** A free port other than `taken`. */
async function freePortBut(taken: number): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (p !== taken) return p;
  }
}

/** startRedisServer()'s own TLS options: TLS port only, client certificates demanded. */
function serverTls(tls: TopologyTls | undefined): Pick<RedisServerOptions, 'tls'> {
  return tls === undefined ? {} : { tls: { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile, authClients: true } };
}

/** TLS between the servers themselves: the cluster bus, replication, a sentinel's links, with the client certificate. */
function tlsArgs(tls: TopologyTls | undefined): string[] {
  if (tls === undefined) return [];
  return ['--tls-cluster', 'yes', '--tls-replication', 'yes', '--tls-client-cert-file', tls.clientCertFile, '--tls-client-key-file', tls.clientKeyFile];
}

/** redis-cli's TLS flags. */
function cliTls(tls: TopologyTls | undefined): string[] {
  return tls === undefined ? [] : ['--tls', '--cacert', tls.caFile, '--cert', tls.clientCertFile, '--key', tls.clientKeyFile];
}

/** ioredis options for the helpers' own clients of one server (verification on). */
function clientTls(tls: TopologyTls | undefined): RedisOptions {
  if (tls === undefined) return {};
  const servername = tls.servername === undefined ? {} : { servername: tls.servername };
  return { tls: { ca: readFileSync(tls.caFile), cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile), rejectUnauthorized: true, ...servername } };
}

/** Runs `body` with a short-lived client of each server, closed afterwards. */
async function eachNode(tls: TopologyTls | undefined, servers: readonly StartedRedis[], body: (r: Redis) => Promise<void>): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      const r = new Redis(s.port, '127.0.0.1', { ...clientTls(tls), maxRetriesPerRequest: 1 });
      r.on('error', () => undefined);
      try {
        await body(r);
      } finally {
        r.disconnect();
      }
    }),
  );
}

/** `value` of `key` in a flat [key, value, key, value...] reply (SENTINEL REPLICAS). */
function field(fields: readonly string[], key: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === key) return fields[i + 1];
  return undefined;
}

/** `fn` run once; later calls get the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
