/**
 * The admin HTTP server: liveness, readiness and metrics (public, but still behind the IP
 * allow-list), and the admin API (bearer tokens with roles, default deny, rate limits,
 * every change written to the hash-chained audit stream).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Lifecycle } from '../core/lifecycle.js';
import { registerSecurity, type SecurityOptions } from './auth.js';
import { registerAdminRoutes, type AdminRouteDeps } from './routes.js';

export interface AdminDeps {
  host: string;
  port: number;
  security: SecurityOptions;
  routes: AdminRouteDeps;
  /** PEM key and certificate: serve HTTPS. */
  tls?: { key: Buffer; cert: Buffer };
  /** 'starting' and 'draining' answer 503 on /readyz. */
  phase(): 'starting' | 'ready' | 'draining';
  metrics(): Promise<{ body: string; contentType: string }>;
}

export class AdminServer implements Lifecycle {
  readonly name = 'admin';
  private readonly app: FastifyInstance;
  /** The port actually bound (differs from the configured one when that is 0). */
  port = 0;

  constructor(private readonly d: AdminDeps) {
    this.app = (d.tls ? Fastify({ logger: false, https: { key: d.tls.key, cert: d.tls.cert } }) : Fastify({ logger: false })) as unknown as FastifyInstance;
    registerSecurity(this.app, d.security);
    registerAdminRoutes(this.app, d.routes);
    this.app.get('/livez', async () => ({ ok: true }));
    this.app.get('/readyz', async (_req, reply) => {
      const phase = d.phase();
      return reply.code(phase === 'ready' ? 200 : 503).send({ ready: phase === 'ready', phase });
    });
    this.app.get('/metrics', async (_req, reply) => {
      const m = await d.metrics();
      return reply.header('content-type', m.contentType).send(m.body);
    });
  }

  async start(): Promise<void> {
    await this.app.listen({ host: this.d.host, port: this.d.port });
    const addr = this.app.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : this.d.port;
  }

  async stop(): Promise<void> {
    await this.app.close();
  }
}
