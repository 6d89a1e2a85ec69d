/**
 * The admin API routes. Each declares the least role that may call it (`config.role`);
 * registerSecurity (auth.ts) enforces it and sets request.actor. Every mutating route, and
 * every one that reads what is held about subscribers (lookup, export, the breach report),
 * appends an audit entry after acting and before answering 200. Errors are answered with
 * a code from the catalogue in errors.ts (registerErrorHandler sends what is thrown).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorMessage, isQasidError } from '../core/errors.js';
import { breachAuditDetail, type BreachQuery, type BreachReport } from '../privacy/breach.js';
import type { AuditLog } from './audit.js';
import { AdminError, sendError, type AdminProblem } from './errors.js';

export interface AdminRouteDeps {
  health(): unknown;
  /** false when the carrier is unknown. */
  pauseCarrier(id: string): boolean | Promise<boolean>;
  resumeCarrier(id: string): boolean | Promise<boolean>;
  /** Unbind a carrier on every instance / bind it again (absent: the routes answer 404). */
  stopCarrier?(id: string): Promise<boolean>;
  startCarrier?(id: string): Promise<boolean>;
  /**
   * Re-reads routes.file. Throws QasidError CONFIG_INVALID when it cannot be read, is not
   * JSON or is not a valid table (`details.problems`, else `details.key`): answered 400
   * routes_invalid, without the file's path. Anything else thrown is a 500.
   */
  reloadRoutes(): { version?: string };
  /**
   * Re-reads the carriers from the config file and applies what changed (App.reloadCarriers).
   * A refused config (QasidError CONFIG_INVALID) is answered 400 carriers_invalid; without
   * it, POST /carriers/reload is not served.
   */
  reloadCarriers?(): Promise<{ added: string[]; changed: string[]; removed: string[] }>;
  audit: AuditLog;
  subscribers: SubscriberAdmin;
  /** The breach report over a window (privacy/breach.ts); without it, GET /breach/report is not served. */
  breachReport?(q: BreachQuery): Promise<BreachReport>;
}

/** Where a choice applies: a sender's STOP list, a tenant's list, or the blocklist. */
export type AdminScope = { kind: 'sender'; sender: string } | { kind: 'tenant'; tenant: string } | { kind: 'blocklist' };

/** Subscriber operations, all by number in the request body (never in a URL, which proxies log). */
export interface SubscriberAdmin {
  /** E.164, or why the input is not a usable number. */
  normalise(msisdn: string): { ok: true; e164: string } | { ok: false; reason: string };
  /** The keyed hash audit entries name instead of the number. */
  hash(e164: string): string;
  lookup(e164: string): Promise<unknown>;
  export(e164: string): Promise<unknown>;
  erase(e164: string): Promise<unknown>;
  optOut(e164: string, scope: AdminScope): Promise<void>;
  /** false when there was no such opt-out. */
  removeOptOut(e164: string, scope: AdminScope): Promise<boolean>;
  consent(e164: string, tenant: string): Promise<void>;
  withdrawConsent(e164: string, tenant: string): Promise<boolean>;
}

interface SubscriberBody {
  msisdn: string;
  sender?: string;
  tenant?: string;
  blocklist?: boolean;
}

const SUBSCRIBER_BODY = {
  type: 'object',
  required: ['msisdn'],
  additionalProperties: false,
  properties: {
    msisdn: { type: 'string', minLength: 3, maxLength: 32 },
    sender: { type: 'string', minLength: 1, maxLength: 16 },
    tenant: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' },
    blocklist: { type: 'boolean' },
  },
} as const;

/**
 * A refused reload as the caller sees it: the problems by key, no file path; the log line
 * (`routes.reload_failed`, as for SIGHUP) keeps the full message and details. Errors that
 * are not a refused table stay as they are, for the 500 path.
 */
function refusedRoutes(e: unknown, what: 'routes' | 'carriers' = 'routes'): unknown {
  if (!isQasidError(e) || e.action !== 'fail') return e;
  const listed = Array.isArray(e.details.problems) ? (e.details.problems as unknown[]) : [];
  const problems: AdminProblem[] = listed.flatMap((p) => {
    const { key, message } = (p ?? {}) as { key?: unknown; message?: unknown };
    return typeof key === 'string' && typeof message === 'string' ? [{ key, message }] : [];
  });
  if (problems.length === 0) problems.push({ key: typeof e.details.key === 'string' ? e.details.key : what === 'routes' ? 'routes.file' : 'carriers', message: e.message });
  if (what === 'carriers') {
    return new AdminError('carriers_invalid', {
      problems,
      log: { event: 'carriers.reload_failed', msg: 'carriers not reloaded; the running ones stay', fields: { err: errorMessage(e), details: e.details } },
      cause: e,
    });
  }
  return new AdminError('routes_invalid', {
    problems,
    log: { event: 'routes.reload_failed', msg: 'route table not reloaded; the running one stays', fields: { err: errorMessage(e), details: e.details } },
    cause: e,
  });
}

function scopeOf(b: SubscriberBody): AdminScope | string {
  const given = [b.sender !== undefined, b.tenant !== undefined, b.blocklist === true].filter(Boolean).length;
  if (given !== 1) return 'give exactly one of sender, tenant or blocklist: true';
  if (b.sender !== undefined) return { kind: 'sender', sender: b.sender };
  if (b.tenant !== undefined) return { kind: 'tenant', tenant: b.tenant };
  return { kind: 'blocklist' };
}

function scopeText(s: AdminScope): string {
  return s.kind === 'blocklist' ? 'blocklist' : s.kind === 'sender' ? `sender:${s.sender}` : `tenant:${s.tenant}`;
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
    ['stop', (id: string) => deps.stopCarrier?.(id) ?? false],
    ['start', (id: string) => deps.startCarrier?.(id) ?? false],
  ] as const) {
    app.post<{ Params: { id: string } }>(`/carriers/:id/${verb}`, { config: { role: 'operator' } }, async (req, reply) => {
      const id = req.params.id;
      if (!(await fn(id))) return sendError(reply, 'unknown_carrier', `unknown carrier "${id}"`);
      await deps.audit.append({ ...who(req), action: `carrier.${verb}`, target: id });
      return reply.code(200).send({ ok: true, carrier: id, action: verb });
    });
  }

  if (deps.reloadCarriers !== undefined) {
    const reloadCarriers = deps.reloadCarriers;
    app.post('/carriers/reload', { config: { role: 'admin' } }, async (req, reply) => {
      let result: { added: string[]; changed: string[]; removed: string[] };
      try {
        result = await reloadCarriers();
      } catch (e) {
        throw refusedRoutes(e, 'carriers');
      }
      await deps.audit.append({ ...who(req), action: 'carriers.reload', detail: result });
      return reply.code(200).send({ ok: true, ...result });
    });
  }

  app.post('/routes/reload', { config: { role: 'admin' } }, async (req, reply) => {
    let result: { version?: string };
    try {
      result = deps.reloadRoutes();
    } catch (e) {
      throw refusedRoutes(e);
    }
    await deps.audit.append({ ...who(req), action: 'routes.reload', detail: result.version === undefined ? {} : { version: result.version } });
    return reply.code(200).send({ ok: true, ...result });
  });

  app.get<{ Querystring: { from?: string; count?: string } }>('/audit', { config: { role: 'admin' } }, async (req, reply) => {
    const from = req.query.from ?? '-';
    const count = req.query.count === undefined ? 100 : Number(req.query.count);
    if (!STREAM_ID.test(from)) return sendError(reply, 'bad_request', 'from must be a stream id, "-" or "(id"');
    if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) return sendError(reply, 'bad_request', `count must be 1..${MAX_COUNT}`);
    const entries = await deps.audit.range(from, count);
    return { entries: entries.map((e) => ({ id: e.id, ...e.fields })) };
  });

  const report = deps.breachReport;
  if (report !== undefined) {
    app.get<{ Querystring: { from?: string; to?: string; tenant?: string; keyId?: string } }>('/breach/report', { config: { role: 'admin' } }, async (req, reply) => {
      const q = breachQuery(req.query, Date.now());
      if (typeof q === 'string') return sendError(reply, 'bad_request', q);
      const r = await report(q);
      // Naming every subscriber of a window is as worth recording as reading one.
      await deps.audit.append({ ...who(req), action: 'breach.report', detail: breachAuditDetail(r) });
      return reply.code(200).send(r);
    });
  }

  registerSubscriberRoutes(app, deps);
}

/** A time as a query gives it: ISO 8601 with a date, or ms since epoch. */
function timeOf(text: string): number {
  if (/^\d{1,15}$/.test(text)) return Number(text);
  return /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
}

/** The query of GET /breach/report, or why it is not one. */
export function breachQuery(qs: { from?: string; to?: string; tenant?: string; keyId?: string }, now: number): BreachQuery | string {
  if (qs.from === undefined) return 'from is required (an ISO time, or ms since epoch)';
  const from = timeOf(qs.from);
  const to = qs.to === undefined ? now : timeOf(qs.to);
  if (Number.isNaN(from) || Number.isNaN(to)) return 'from and to must be ISO times (2026-12-01T09:00:00Z) or ms since epoch';
  if (to < from) return 'to is before from';
  if (from > now) return 'from is in the future';
  const q: BreachQuery = { from, to };
  if (qs.tenant !== undefined) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(qs.tenant)) return 'tenant must be 1-64 of A-Z a-z 0-9 . _ -';
    q.tenant = qs.tenant;
  }
  if (qs.keyId !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,16}$/.test(qs.keyId)) return 'keyId must be a key id (1-16 of A-Z a-z 0-9 _ -) or "plain"';
    q.keyId = qs.keyId;
  }
  return q;
}

function registerSubscriberRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const subs = deps.subscribers;
  const opts = (role: 'operator' | 'admin') => ({ config: { role }, schema: { body: SUBSCRIBER_BODY } });
  /** Normalise the body's number; on failure answer 400 (without echoing the number). */
  const number = (req: FastifyRequest<{ Body: SubscriberBody }>): { ok: true; e164: string; hash: string } | { ok: false; error: string } => {
    const n = subs.normalise(req.body.msisdn);
    return n.ok ? { ok: true, e164: n.e164, hash: subs.hash(n.e164) } : { ok: false, error: `msisdn is not a usable number (${n.reason})` };
  };

  app.post<{ Body: SubscriberBody }>('/subscribers/lookup', opts('operator'), async (req, reply) => {
    const n = number(req);
    if (!n.ok) return sendError(reply, 'bad_number', n.error);
    const found = await subs.lookup(n.e164);
    // A lookup tells whoever asks what one person chose: recorded like a change.
    await deps.audit.append({ ...who(req), action: 'subscriber.lookup', target: n.hash });
    return reply.code(200).send(found);
  });

  for (const [path, action, fn] of [
    ['/subscribers/export', 'subscriber.export', (e164: string) => subs.export(e164)],
    ['/subscribers/erase', 'subscriber.erase', (e164: string) => subs.erase(e164)],
  ] as const) {
    app.post<{ Body: SubscriberBody }>(path, opts('admin'), async (req, reply) => {
      const n = number(req);
      if (!n.ok) return sendError(reply, 'bad_number', n.error);
      const result = await fn(n.e164);
      // Reading everything about a person is as worth recording as changing it.
      await deps.audit.append({ ...who(req), action, target: n.hash });
      return reply.code(200).send(result);
    });
  }

  for (const [path, action, fn] of [
    ['/subscribers/opt-out', 'subscriber.opt_out', async (e164: string, s: AdminScope) => (await subs.optOut(e164, s), true)],
    ['/subscribers/opt-out/remove', 'subscriber.opt_out_removed', (e164: string, s: AdminScope) => subs.removeOptOut(e164, s)],
  ] as const) {
    app.post<{ Body: SubscriberBody }>(path, opts('operator'), async (req, reply) => {
      const n = number(req);
      if (!n.ok) return sendError(reply, 'bad_number', n.error);
      const scope = scopeOf(req.body);
      if (typeof scope === 'string') return sendError(reply, 'bad_request', scope);
      const changed = await fn(n.e164, scope);
      await deps.audit.append({ ...who(req), action, target: n.hash, detail: { scope: scopeText(scope), changed } });
      return reply.code(200).send({ ok: true, subscriber: n.hash, scope: scopeText(scope), changed });
    });
  }

  for (const [path, action, fn] of [
    ['/subscribers/consent', 'subscriber.consent', async (e164: string, t: string) => (await subs.consent(e164, t), true)],
    ['/subscribers/consent/withdraw', 'subscriber.consent_withdrawn', (e164: string, t: string) => subs.withdrawConsent(e164, t)],
  ] as const) {
    app.post<{ Body: SubscriberBody }>(path, opts('operator'), async (req, reply) => {
      const n = number(req);
      if (!n.ok) return sendError(reply, 'bad_number', n.error);
      const tenant = req.body.tenant;
      if (tenant === undefined || req.body.sender !== undefined || req.body.blocklist !== undefined) return sendError(reply, 'bad_request', 'give tenant (and only tenant): consent is per tenant');
      const changed = await fn(n.e164, tenant);
      await deps.audit.append({ ...who(req), action, target: n.hash, detail: { tenant, changed } });
      return reply.code(200).send({ ok: true, subscriber: n.hash, tenant, changed });
    });
  }
}
