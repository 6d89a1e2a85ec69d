/**
 * The admin API routes. Each declares the least role that may call it (`config.role`);
 * registerSecurity (auth.ts) enforces it and sets request.actor. Every mutating route
 * appends an audit entry after acting and before answering 200.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorMessage } from '../core/errors.js';
import type { AuditLog } from './audit.js';

export interface AdminRouteDeps {
  health(): unknown;
  /** false when the carrier is unknown. */
  pauseCarrier(id: string): boolean;
  resumeCarrier(id: string): boolean;
  /** Throws when the new routes are invalid (the message is returned to the caller). */
  reloadRoutes(): { version?: string };
  audit: AuditLog;
}

const STREAM_ID = /^(?:-|\+|\(?\d+(?:-\d+)?)$/;
const MAX_COUNT = 1000;

function who(req: FastifyRequest): { actor: string; role: string } {
  // registerSecurity sets actor on every role route; 'unknown' only if it was not installed.
  return { actor: req.actor?.id ?? 'unknown', role: req.actor?.role ?? 'unknown' };
}

export function registerAdminRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  app.get('/carriers', { config: { role: 'viewer' } }, async () => deps.health());

  for (const [verb, fn] of [
    ['pause', (id: string) => deps.pauseCarrier(id)],
    ['resume', (id: string) => deps.resumeCarrier(id)],
  ] as const) {
    app.post<{ Params: { id: string } }>(`/carriers/:id/${verb}`, { config: { role: 'operator' } }, async (req, reply) => {
      const id = req.params.id;
      if (!fn(id)) return reply.code(404).send({ error: `unknown carrier "${id}"` });
      await deps.audit.append({ ...who(req), action: `carrier.${verb}`, target: id });
      return reply.code(200).send({ ok: true, carrier: id, action: verb });
    });
  }

  app.post('/routes/reload', { config: { role: 'admin' } }, async (req, reply) => {
    let result: { version?: string };
    try {
      result = deps.reloadRoutes();
    } catch (e) {
      return reply.code(400).send({ error: errorMessage(e) });
    }
    await deps.audit.append({ ...who(req), action: 'routes.reload', detail: result.version === undefined ? {} : { version: result.version } });
    return reply.code(200).send({ ok: true, ...result });
  });

  app.get<{ Querystring: { from?: string; count?: string } }>('/audit', { config: { role: 'admin' } }, async (req, reply) => {
    const from = req.query.from ?? '-';
    const count = req.query.count === undefined ? 100 : Number(req.query.count);
    if (!STREAM_ID.test(from)) return reply.code(400).send({ error: 'from must be a stream id, "-" or "(id"' });
    if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) return reply.code(400).send({ error: `count must be 1..${MAX_COUNT}` });
    const entries = await deps.audit.range(from, count);
    return { entries: entries.map((e) => ({ id: e.id, ...e.fields })) };
  });
}
