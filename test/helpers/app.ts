/** A whole Qasid (App) against a test Redis and simulators, configured like production. */
import { loadConfig } from '../../src/config/load.js';
import type { QasidConfig } from '../../src/config/types.js';
import { randomBytes } from 'node:crypto';

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
