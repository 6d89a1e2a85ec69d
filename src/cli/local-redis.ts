/**
 * A Redis for the demo: the one at `url` when it answers PING within a second, else a
 * throw-away redis-server on a free loopback port with no persistence (no RDB, no AOF),
 * stopped again by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';

export interface LocalRedis {
  url: string;
  /** Stops the redis-server this started; does nothing for a reused one. */
  stop(): Promise<void>;
  /** true when a redis-server was started here, false when `url` was reused. */
  started: boolean;
}

export const INSTALL_HINT = 'sudo apt-get install -y redis-server';

export async function ensureRedis(url?: string): Promise<LocalRedis> {
  if (url !== undefined && url !== '' && (await reachable(url, 1000))) {
    return { url, started: false, stop: async () => undefined };
  }
  return startRedisServer();
}

/** Whether a Redis at `url` answers PING within `timeoutMs`. */
export async function reachable(url: string, timeoutMs: number): Promise<boolean> {
  let r: Redis;
  try {
    r = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

/** A throw-away redis-server on a free loopback port, without persistence (tests and the demo). */
export async function startRedisServer(): Promise<LocalRedis> {
  let lastOutput = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const ready = await waitReady(child);
    if (ready.kind === 'missing') {
      throw new Error(`redis-server is not installed (needed by the demo when no Redis is reachable). Install it with:\n  ${INSTALL_HINT}\nor point QASID_REDIS_URL at a running Redis.`);
    }
    if (ready.kind === 'ready') {
      // Drain its output so a full pipe never stalls it.
      child.stdout?.resume();
      child.stderr?.resume();
      // However this process ends (an exception, process.exit, a closed stdout), take it along.
      const onExit = (): void => void child.kill('SIGKILL');
      process.once('exit', onExit);
      return {
        url: `redis://127.0.0.1:${port}`,
        started: true,
        stop: async () => {
          await stopChild(child);
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

function waitReady(child: ChildProcess): Promise<Ready> {
  return new Promise((resolve) => {
    let out = '';
    const finish = (r: Ready): void => {
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => finish({ kind: 'failed', output: out }), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) finish({ kind: 'ready' });
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', () => finish({ kind: 'failed', output: out }));
    child.once('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ENOENT' ? { kind: 'missing' } : { kind: 'failed', output: e.message }));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
