/**
 * The admin access log's hook: every answered admin request becomes one AccessLine
 * (queue/access.ts) — method, route pattern, role and token id, client address, status,
 * latency, and the denial reason when registerSecurity refused it. The route is the
 * pattern fastify matched, so neither a query string nor a path parameter's raw text
 * beyond it is kept, and nothing of the body or the headers is read.
 *
 * The probes and the scrape (PUBLIC_ROUTES) are left out unless `probes` is set: a kubelet
 * and Prometheus call them every few seconds and would bury what people did. A denied
 * probe is written either way: it is not a probe's usual traffic.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessLine } from '../queue/access.js';
import { PUBLIC_ROUTES } from './auth.js';
import { UNMATCHED_ROUTE } from './denials.js';

export interface AccessLogOptions {
  record(line: AccessLine): void;
  /** Also write /livez, /readyz and /metrics requests (admin.accessLog.probes). */
  probes: boolean;
  /** When the answer went (ms); Date.now by default. */
  now?: () => number;
}

/** Installs the onResponse hook; registerSecurity's onRequest hook fills `request.access`. */
export function registerAccessLog(app: FastifyInstance, opts: AccessLogOptions): void {
  const now = opts.now ?? Date.now;
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const seen = request.access;
    if (!opts.probes && seen?.denied === undefined && PUBLIC_ROUTES.includes(route)) return;
    const line: AccessLine = {
      at: new Date(now()).toISOString(),
      method: request.method,
      route,
      role: seen?.actor?.role ?? 'none',
      actor: seen?.actor?.id ?? 'none',
      address: seen?.address ?? request.socket.remoteAddress ?? '',
      status: reply.statusCode,
      latencyMs: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (seen?.denied !== undefined) line.denied = seen.denied;
    opts.record(line);
  });
}
