/** A whole Qasid (App) against a test Redis and simulators, configured like production. */
import { Redis } from 'ioredis';
import { App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { captureLogger } from '../../src/log/logger.js';
import type { CarrierConfig, QasidConfig } from '../../src/config/types.js';
import { randomBytes } from 'node:crypto';
import { Keyring } from '../../src/privacy/keyring.js';

/** Fresh keyrings for a test config (cipher and hash, distinct). */
export function testKeys(): { keyring: string; hashKeyring: string } {
  return { keyring: Keyring.newSourceJson('k1'), hashKeyring: Keyring.newSourceJson('h1') };
}

export interface RawCarrier {
  id: string;
  port: number;
  [k: string]: unknown;
}

/** Fast timers for tests; everything else as a production config would have it. */
export function testConfig(redisUrl: string, carriers: RawCarrier[], overrides: Record<string, unknown> = {}): QasidConfig {
  return loadConfig({
    env: {},
    overrides: {
      log: { level: 'warn' },
      redis: { url: redisUrl, prefix: `t${randomBytes(4).toString('hex')}` },
      shutdown: { drainMs: 2000, forceExitMs: 5000 },
      admin: { port: 0 },
      dispatch: { pollMs: 50 },
      intake: { blockMs: 100 },
      privacy: testKeys(),
      ...overrides,
      carriers: carriers.map((c) => ({
        host: '127.0.0.1',
        systemId: c.id,
        password: 'pw',
        window: 50,
        tps: 100000,
        timers: { responseMs: 2000, enquireLinkMs: 5000, inactivityMs: 15000, reconnectMinMs: 50, reconnectMaxMs: 500, unbindMs: 1000 },
        ...c,
      })),
    },
  });
}

export interface Gateway {
  app: App;
  /** A separate Redis connection for the test to push entries and read outputs. */
  r: Redis;
  lines: Array<Record<string, unknown>>;
}

/**
 * Start an App on `config`, wait until the named carriers (default: all) are bound, and
 * open a connection for the test. Stopping both is registered in `cleanups`.
 */
export async function startGateway(
  redisUrl: string,
  config: QasidConfig,
  cleanups: Array<() => Promise<void>>,
  opts: { level?: string; bound?: readonly string[]; now?: () => number; loadCarriers?: () => CarrierConfig[] } = {},
): Promise<Gateway> {
  const { logger, lines } = captureLogger(opts.level ?? 'info');
  const app = new App({ config, logger, ...(opts.now ? { now: opts.now } : {}), ...(opts.loadCarriers ? { loadCarriers: opts.loadCarriers } : {}) });
  cleanups.push(() => app.stop());
  await app.start();
  const bound = opts.bound ?? [...app.links.keys()];
  await Promise.all(bound.map((id) => app.links.get(id)?.waitAllBound(5000)));
  const r = new Redis(redisUrl);
  cleanups.push(async () => void r.disconnect());
  return { app, r, lines };
}
