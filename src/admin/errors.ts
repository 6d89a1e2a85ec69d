/**
 * The admin API's error answers: one catalogue of stable codes, each with its HTTP status,
 * and the one place that turns a failure into a body.
 *
 * Every error body is `{ code, error }` — plus `problems` when a route table is refused:
 * - `code` comes from ADMIN_ERRORS: a public contract, never renamed, never reused. A
 *   denied request's code is its denial reason, the one counted and logged (denials.ts).
 * - `error` says what is wrong in words and never holds an absolute file path or anything
 *   else about the host: the detail (the file, the exception) goes to the log only, on a
 *   line whose `event` the answer names where that helps.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage, isQasidError } from '../core/errors.js';
import type { LogEvent } from '../log/events.js';
import type { Logger } from '../log/logger.js';
import { UNMATCHED_ROUTE, type DenialReason } from './denials.js';

interface AdminErrorSpec {
  status: 400 | 401 | 403 | 404 | 413 | 415 | 429 | 500;
  text: string;
}

/** Denials (auth.ts): the code is the denial reason itself. */
const DENIAL_ERRORS = {
  not_allowed: { status: 403, text: 'forbidden: this address may not use the admin server' },
  rate_limited_ip: { status: 429, text: 'too many requests from this address' },
  rate_limited_token: { status: 429, text: 'too many requests with this token' },
  no_token: { status: 401, text: 'unauthorized: this route needs a bearer token' },
  bad_token: { status: 401, text: 'unauthorized: the token is not valid' },
  insufficient_role: { status: 403, text: "forbidden: the token's role is below the route's" },
  undeclared_route: { status: 403, text: 'forbidden' },
} as const satisfies Record<DenialReason, AdminErrorSpec>;

export const ADMIN_ERRORS = {
  ...DENIAL_ERRORS,
  /** The body, query or parameters do not have the shape the route takes. */
  bad_request: { status: 400, text: 'the request is malformed' },
  /** The body's msisdn cannot be read as a number (it is never echoed). */
  bad_number: { status: 400, text: 'msisdn is not a usable number' },
  unknown_carrier: { status: 404, text: 'no carrier has this id' },
  /** routes.file cannot be read, is not JSON, or is not a valid table; `problems` say why. */
  routes_invalid: { status: 400, text: 'routes.file was not reloaded: it is invalid (see problems); the running table stays' },
  /** The carriers in the config file are invalid, or the route table names one no longer there; `problems` say why. */
  carriers_invalid: { status: 400, text: 'carriers were not reloaded: the config is invalid (see problems); the running carriers stay' },
  body_too_large: { status: 413, text: 'the request body is too large' },
  unsupported_media_type: { status: 415, text: 'send the body as application/json' },
  /** Anything unexpected; the log line `admin.request_failed` has the detail. */
  internal_error: { status: 500, text: 'the request failed; the admin server log has the detail (admin.request_failed)' },
} as const satisfies Record<string, AdminErrorSpec>;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** One thing wrong with a refused route table, by key path (`routes[2].carriers[0].id`). */
export interface AdminProblem {
  key: string;
  message: string;
}

export interface AdminErrorBody {
  code: AdminErrorCode;
  error: string;
  problems?: AdminProblem[];
}

/**
 * Absolute file paths (POSIX, `file:` URLs, Windows drive paths) in `text`, each replaced by
 * `<path>`. The answers are built from the catalogue and from problem messages that name
 * config keys, not files; this is the second line of defence for a message that embeds one.
 */
export function withoutPaths(text: string): string {
  return text
    .replace(/\bfile:\/\/[^\s'"`),:\]]*/g, '<path>')
    .replace(/(^|[\s'"`(=,:[])\/(?!\/)[^\s'"`),:\]]+/g, '$1<path>')
    .replace(/\b[A-Za-z]:\\[^\s'"`),:\]]*/g, '<path>');
}

export function errorBody(code: AdminErrorCode, message?: string, problems?: readonly AdminProblem[]): AdminErrorBody {
  return {
    code,
    error: message === undefined ? ADMIN_ERRORS[code].text : withoutPaths(message),
    ...(problems === undefined ? {} : { problems: problems.map((p) => ({ key: withoutPaths(p.key), message: withoutPaths(p.message) })) }),
  };
}

/** Answer `code` with its status; the message defaults to the catalogue's. */
export function sendError(reply: FastifyReply, code: AdminErrorCode, message?: string, problems?: readonly AdminProblem[]): FastifyReply {
  return reply.code(ADMIN_ERRORS[code].status).send(errorBody(code, message, problems));
}

export interface AdminErrorOptions {
  message?: string;
  problems?: readonly AdminProblem[];
  /** The line that carries the detail the answer leaves out (level error). */
  log?: { event: LogEvent; msg: string; fields: Record<string, unknown> };
  cause?: unknown;
}

/** Thrown by a route to answer `code`; registerErrorHandler sends it and writes its log line. */
export class AdminError extends Error {
  readonly code: AdminErrorCode;
  /** The answer's status; fastify's own handler uses it too, should this one be missing. */
  readonly statusCode: number;
  readonly problems: readonly AdminProblem[] | undefined;
  readonly log: AdminErrorOptions['log'];

  constructor(code: AdminErrorCode, opts: AdminErrorOptions = {}) {
    super(opts.message ?? ADMIN_ERRORS[code].text, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AdminError';
    this.code = code;
    this.statusCode = ADMIN_ERRORS[code].status;
    this.problems = opts.problems;
    this.log = opts.log;
  }
}

function where(request: FastifyRequest): Record<string, string> {
  return { method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, ...(request.actor ? { actor: request.actor.id } : {}) };
}

/**
 * Every error a route or hook throws becomes a catalogued body: an AdminError as it says;
 * fastify's own client errors (schema, JSON, size, content type) as bad_request and kin;
 * anything else as internal_error, with the detail logged as `admin.request_failed`.
 */
export function registerErrorHandler(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AdminError) {
      if (err.log !== undefined) logger.error({ event: err.log.event, code: err.code, ...where(request), ...err.log.fields }, err.log.msg);
      return sendError(reply, err.code, err.message, err.problems);
    }
    const status = err.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // A schema message names the field and the rule, never the value; other parser
      // messages are not ours to vouch for, so the catalogue's text stands in for them.
      if (err.validation !== undefined) return sendError(reply, 'bad_request', `${ADMIN_ERRORS.bad_request.text}: ${err.message}`);
      return sendError(reply, status === 413 ? 'body_too_large' : status === 415 ? 'unsupported_media_type' : 'bad_request');
    }
    logger.error({ event: 'admin.request_failed', ...where(request), err: errorMessage(err), ...(isQasidError(err) ? { code: err.code, details: err.details } : {}) }, 'admin request failed');
    return sendError(reply, 'internal_error');
  });
}
