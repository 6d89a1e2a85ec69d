/**
 * The admin HTTP server: liveness, readiness and metrics (public and free of the rate
 * limits, but still behind the IP allow-list), and the admin API (bearer tokens with roles,
 * default deny, rate limits, every change written to the hash-chained audit stream). Every
 * denied request is counted, and logged and audited in aggregate (denials.ts); every error
 * is answered with a catalogued code and no host detail (errors.ts). Every answered
 * request, denied ones too, is one line of the access log (access.ts).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Lifecycle } from '../core/lifecycle.js';
import type { Logger } from '../log/logger.js';
import type { AccessLine } from '../queue/access.js';
import { registerAccessLog } from './access.js';
import { registerSecurity, type SecurityOptions } from './auth.js';
import { DenialReporter, type DenialReason } from './denials.js';
import { registerErrorHandler } from './errors.js';
import { registerAdminRoutes, type AdminRouteDeps } from './routes.js';

export interface AdminDeps {
  host: string;
  port: number;
  security: SecurityOptions;
  routes: AdminRouteDeps;
  /** Where denied requests (`admin.denied`, aggregated per address and reason) and failed ones are logged. */
  logger: Logger;
  /** Told of every denied request (the qasid_admin_denied_total counter). */
  denied?(reason: DenialReason): void;
  /** Aggregation window of denial reports, ms; 60 s by default. */
  denialIntervalMs?: number;
  /**
   * Where each answered request's access line goes (the access log, `<prefix>:access`);
   * `probes`: the probes and the scrape too.
   */
  access?: { record(line: AccessLine): void; probes: boolean };
  /** PEM key and certificate: serve HTTPS. */
  tls?: { key: Buffer; cert: Buffer };
  /** 'starting' and 'draining' answer 503 on /readyz. */
  phase(): 'starting' | 'ready' | 'draining';
  /**
   * What else readiness needs, by name (e.g. redis, carrier, intake): while running, any
   * false check answers 503 on /readyz, naming it.
   */
  checks?(): Record<string, boolean>;
  /** The Prometheus text; scrapes that arrive while one is being rendered share it. */
  metrics(): Promise<{ body: string; contentType: string }>;
}

export class AdminServer implements Lifecycle {
  readonly name = 'admin';
  private readonly app: FastifyInstance;
  /** Denied requests, aggregated for the log and the audit stream (routes.audit). */
  readonly denials: DenialReporter;
  /** The port actually bound (differs from the configured one when that is 0). */
  port = 0;

  constructor(private readonly d: AdminDeps) {
    this.app = (d.tls ? Fastify({ logger: false, https: { key: d.tls.key, cert: d.tls.cert } }) : Fastify({ logger: false })) as unknown as FastifyInstance;
    this.denials = new DenialReporter({
      logger: d.logger,
      audit: d.routes.audit,
      ...(d.denied ? { count: (reason: DenialReason) => d.denied?.(reason) } : {}),
      ...(d.security.clock ? { clock: d.security.clock } : {}),
      ...(d.denialIntervalMs === undefined ? {} : { intervalMs: d.denialIntervalMs }),
    });
    registerErrorHandler(this.app, d.logger);
    registerSecurity(this.app, { ...d.security, onDenied: (x) => this.denials.report(x) });
    if (d.access) registerAccessLog(this.app, { record: (line) => d.access?.record(line), probes: d.access.probes });
    registerAdminRoutes(this.app, d.routes);
    this.app.get('/livez', async () => ({ ok: true }));
    this.app.get('/readyz', async (_req, reply) => {
      const phase = d.phase();
      const checks = d.checks?.() ?? {};
      const failing = Object.keys(checks).filter((k) => !checks[k]);
      const ready = phase === 'ready' && failing.length === 0;
      return reply.code(ready ? 200 : 503).send({ ready, phase, checks, ...(failing.length > 0 ? { failing } : {}) });
    });
    // /metrics draws on no rate limit, so a flood of scrapes costs one render at a time.
    let rendering: ReturnType<AdminDeps['metrics']> | undefined;
    this.app.get('/metrics', async (_req, reply) => {
      rendering ??= d.metrics().finally(() => (rendering = undefined));
      const m = await rendering;
      return reply.header('content-type', m.contentType).send(m.body);
    });
  }

  async start(): Promise<void> {
    await this.app.listen({ host: this.d.host, port: this.d.port });
    const addr = this.app.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.d.port;
  }

  /** Closes the server, then reports the denials still held (their audit entries need Redis up). */
  async stop(): Promise<void> {
    try {
      await this.app.close();
    } finally {
      await this.denials.stop();
    }
  }
}
