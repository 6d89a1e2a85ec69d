/**
 * Real Redis Cluster and Redis Sentinel set-ups for integration tests, built from the
 * throw-away redis-servers of src/cli/local-redis.ts: free loopback ports picked by the OS
 * (so two test files running at once never share one), no persistence, every file in one
 * temporary directory that stop() removes. Stop them in `after()` (clusterForFile() and
 * sentinelForFile() register that themselves), so a failing test still ends every process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startRedisServer, type StartedRedis } from '../../src/cli/local-redis.js';
import { until } from './until.js';

const run = promisify(execFile);

export interface TestCluster {
  /** Every node, as host:port (127.0.0.1:port), in start order (masters and replicas). */
  nodes: string[];
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
export async function startRedisCluster(masters = 3, replicas = 0): Promise<TestCluster> {
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
          args: async (port) => [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', join(dir, `nodes-${port}.conf`),
            // The bus port defaults to port + 10000, which may be taken or past 65535.
            '--cluster-port', String(await freePortBut(port)),
            '--cluster-node-timeout', '2000',
            '--dir', dir,
          ],
        }),
      );
    }
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    await eachNode(servers, (r) =>
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
      masters: async () => {
        const live = nodes.find((n) => !dead.has(n)) as string;
        const r = new Redis(Number(live.split(':')[1]), '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
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
export async function startRedisSentinel(name = 'qasid-test'): Promise<TestSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'qasid-sentinel-'));
  const servers: StartedRedis[] = [];
  let sentinel: StartedRedis | undefined;
  const stop = once(async () => {
    await sentinel?.stop();
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    const master = await startRedisServer({ args: () => ['--dir', dir] });
    servers.push(master);
    const replica = await startRedisServer({ args: () => ['--dir', dir, '--replicaof', '127.0.0.1', String(master.port)] });
    servers.push(replica);
    await eachNode([replica], (r) => until(async () => /master_link_status:up/.test(await r.info('replication')), 10_000, 'the replica in sync with its master', 50));

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
    sentinel = await startRedisServer({ configFile: conf, sentinel: true, args: () => ['--dir', dir] });
    const s = sentinel;
    // A replica the sentinel has not yet heard of (from the master's INFO) cannot be promoted.
    await eachNode([s], (r) =>
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
      const r = new Redis(s.port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: true });
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
export function clusterForFile(masters = 3, replicas = 0): { readonly cluster: TestCluster } {
  return forFile(() => startRedisCluster(masters, replicas), 'cluster');
}

/** startRedisSentinel() for the calling test file: started in `before`, stopped in `after`. */
export function sentinelForFile(name?: string): { readonly sentinel: TestSentinel } {
  return forFile(() => startRedisSentinel(name), 'sentinel');
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

/** Runs `body` with a short-lived client of each server, closed afterwards. */
async function eachNode(servers: readonly StartedRedis[], body: (r: Redis) => Promise<void>): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      const r = new Redis(s.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
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
