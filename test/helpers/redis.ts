/**
 * A real redis-server on a random loopback port for one test file, with no persistence
 * (the demo's launcher, src/cli/local-redis.ts). Stop it in `after()`.
 */
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../src/cli/local-redis.js';

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const r = await startRedisServer();
  return { url: r.url, stop: () => r.stop() };
}

/** One redis-server for a test file, and its cleanups, run newest first when the file ends. */
export interface FileRedis {
  /** The server's URL (valid once the file's `before` hooks have run). */
  readonly url: string;
  /** Things to undo after the file's tests (simulators, gateways, connections); errors ignored. */
  readonly cleanups: Array<() => Promise<void>>;
}

/**
 * Registers before/after hooks that start a redis-server for the calling test file and,
 * at the end, run its cleanups in reverse and stop the server. Call at the top level.
 */
export function redisForFile(): FileRedis {
  let server: TestRedis | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await server?.stop();
  });
  return {
    get url(): string {
      if (server === undefined) throw new Error('redisForFile(): the redis-server is not started yet (use it inside a test)');
      return server.url;
    },
    cleanups,
  };
}

/** redisForFile() with one client connected to it for the file's tests. */
export interface FileRedisClient extends FileRedis {
  /** The client (inside a test or hook, once the server is up); disconnected at the end. */
  readonly client: Redis;
}

/** As redisForFile(), and a client on that server, opened at first use and closed in `after`. */
export function redisClientForFile(): FileRedisClient {
  const server = redisForFile();
  let client: Redis | undefined;
  return {
    get url(): string {
      return server.url;
    },
    cleanups: server.cleanups,
    get client(): Redis {
      if (client === undefined) {
        const c = new Redis(server.url);
        server.cleanups.push(async () => void c.disconnect());
        client = c;
      }
      return client;
    },
  };
}
