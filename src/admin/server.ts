/**
 * The admin HTTP server. For now: liveness, readiness and Prometheus metrics. Roles,
 * tokens, allow-lists, rate limits and the audit trail arrive with the rest of the admin
 * API; until then bind it to loopback or a private interface.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Lifecycle } from '../core/lifecycle.js';

export interface AdminDeps {
  host: string;
  port: number;
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
    this.app = Fastify({ logger: false });
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
