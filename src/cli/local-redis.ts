/**
 * A Redis for the demo: the one at `url` when it answers PING within a second, else a
 * throw-away redis-server on a free loopback port with no persistence (no RDB, no AOF),
 * stopped again by `stop()`. Tests start one with TLS too (`startRedisServer({ tls })`),
 * and the nodes of a Redis Cluster or a Sentinel set-up (test/helpers/topologies.ts) with
 * their own arguments, a config file, or in sentinel mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

export interface LocalRedis {
  url: string;
  /** Stops the redis-server this started; does nothing for a reused one. */
  stop(): Promise<void>;
  /** true when a redis-server was started here, false when `url` was reused. */
  started: boolean;
}

export const INSTALL_HINT = 'sudo apt-get install -y redis-server';

/** `options`: how to connect to `url` (its TLS settings, from redisClientOptions). */
export async function ensureRedis(url?: string, options: RedisOptions = {}): Promise<LocalRedis> {
  if (url !== undefined && url !== '' && (await reachable(url, 1000, options))) {
    return { url, started: false, stop: async () => undefined };
  }
  return startRedisServer();
}

/** Whether a Redis at `url` answers PING within `timeoutMs`; `options` as for ensureRedis. */
export async function reachable(url: string, timeoutMs: number, options: RedisOptions = {}): Promise<boolean> {
  let r: Redis;
  try {
    r = new Redis(url, { ...options, lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  } catch {
    return false;
  }
  r.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
    });
    await Promise.race([r.connect().then(() => r.ping()), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    r.disconnect();
  }
}

/** A port nothing listens on now, from the OS's ephemeral range (so parallel test files do not pick the same). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

/** TLS for a throw-away redis-server: PEM files; `authClients` demands a client certificate signed by `caFile`. */
export interface RedisServerTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  authClients: boolean;
}

/** Thrown by startRedisServer({ tls }) when this redis-server was built without TLS. */
export class RedisTlsUnsupportedError extends Error {
  constructor(output: string) {
    super(`this redis-server has no TLS support (built without BUILD_TLS=yes); it said: ${output.trim().split('\n').slice(-2).join(' ')}`);
    this.name = 'RedisTlsUnsupportedError';
  }
}

/** How startRedisServer() runs its redis-server, beyond a free loopback port and no persistence. */
export interface RedisServerOptions {
  /** Listen only for TLS (plain port 0 = off), at a rediss:// URL. */
  tls?: RedisServerTls;
  /** A config file read first, e.g. a sentinel's (which Sentinel rewrites, so it must be writable). */
  configFile?: string;
  /** Run as Redis Sentinel (`--sentinel`); it is ready once it has said its Sentinel ID. */
  sentinel?: boolean;
  /**
   * More arguments, given the port chosen: cluster mode, --replicaof, a cluster bus port.
   * Called again with each new port when one is taken.
   */
  args?: (port: number) => string[] | Promise<string[]>;
}

/** A redis-server that startRedisServer() started. */
export interface StartedRedis extends LocalRedis {
  /** Its loopback port (the TLS port with `tls`). */
  port: number;
  /** SIGKILL it (a crash: no shutdown, no goodbye to replicas) and wait until it has exited. */
  kill(): Promise<void>;
}

/**
 * A throw-away redis-server on a free loopback port, without persistence (tests and the
 * demo). With `tls` it listens only for TLS (plain port 0 = off), at a rediss:// URL.
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<StartedRedis> {
  let lastOutput = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const t = opts.tls;
    const listen = t === undefined
      ? ['--port', String(port)]
      : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', t.certFile, '--tls-key-file', t.keyFile, '--tls-ca-cert-file', t.caFile, '--tls-auth-clients', t.authClients ? 'yes' : 'no'];
    const extra = opts.args === undefined ? [] : await opts.args(port);
    const child = spawn(
      'redis-server',
      [
        ...(opts.configFile === undefined ? [] : [opts.configFile]),
        ...(opts.sentinel === true ? ['--sentinel'] : []),
        ...listen,
        '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no',
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const ready = await waitReady(child, opts.sentinel === true ? 'Sentinel ID is' : 'Ready to accept connections');
    if (ready.kind === 'missing') {
      throw new Error(`redis-server is not installed (needed by the demo when no Redis is reachable). Install it with:\n  ${INSTALL_HINT}\nor point QASID_REDIS_URL at a running Redis.`);
    }
    // "Bad directive or wrong number of arguments" at tls-port: no TLS in this build.
    if (ready.kind === 'failed' && t !== undefined && /tls-port/i.test(ready.output) && /bad directive|wrong number/i.test(ready.output)) {
      throw new RedisTlsUnsupportedError(ready.output);
    }
    if (ready.kind === 'ready') {
      // Drain its output so a full pipe never stalls it.
      child.stdout?.resume();
      child.stderr?.resume();
      // However this process ends (an exception, process.exit, a closed stdout), take it along.
      const onExit = (): void => void child.kill('SIGKILL');
      process.once('exit', onExit);
      return {
        url: `${t === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
        port,
        started: true,
        stop: async () => {
          await stopChild(child);
          process.removeListener('exit', onExit);
        },
        kill: async () => {
          await stopChild(child, 0, 'SIGKILL');
          process.removeListener('exit', onExit);
        },
      };
    }
    lastOutput = ready.output;
    child.kill('SIGKILL');
  }
  throw new Error(`could not start redis-server on a free loopback port${lastOutput === '' ? '' : `; its last output:\n${lastOutput.trim().split('\n').slice(-3).join('\n')}`}`);
}

type Ready = { kind: 'ready' } | { kind: 'missing' } | { kind: 'failed'; output: string };

/** Waits for `marker` in the server's log (10 s at most). */
function waitReady(child: ChildProcess, marker: string): Promise<Ready> {
  return new Promise((resolve) => {
    let out = '';
    const finish = (r: Ready): void => {
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'failed', output: out }), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(marker)) finish({ kind: 'ready' });
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', () => finish({ kind: 'failed', output: out }));
    child.once('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ENOENT' ? { kind: 'missing' } : { kind: 'failed', output: e.message }));
  });
}

/**
 * Send `signal` (SIGTERM) to a child process, SIGKILL it after `graceMs`; resolves once it
 * has exited (at once if it already had).
 */
export function stopChild(child: ChildProcess, graceMs = 3000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}
