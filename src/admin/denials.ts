/**
 * Denied admin requests: counted one by one, reported to the log and the audit stream
 * in aggregate, so that a flood of bad requests can fill neither.
 *
 * Every denial goes to the `count` hook (the qasid_admin_denied_total counter). Log
 * lines (`admin.denied`) and audit entries (action `admin.denied`) are kept per key —
 * client address, reason, and the token's id when the token was valid — and interval:
 * - the first denial of a quiet key is reported at once (count 1) and opens its window;
 * - the ones after it are held and summed; when the window has lasted `intervalMs`, one
 *   line and one entry report them (count N, first and last time, the routes tried) and
 *   the next window starts;
 * - a window with nothing held closes quietly, so the key is quiet again.
 * A steady flood from one address thus costs one line and one audit entry per interval,
 * and the counts of a key's reports add up to its denials. At most `maxKeys` keys are
 * held at once; denials for further keys fold into one key per reason with address `*`,
 * so a spread of addresses cannot grow memory, the log or the audit stream either.
 * stop() reports whatever is held.
 *
 * Never reported: the token, any part of it, or its hash.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { AuditInput } from './audit.js';

/** Why a request was denied; the `reason` label and field. A public contract: never renamed. */
export const DENIAL_REASONS = [
  /** The client address is not on admin.allowList (403). */
  'not_allowed',
  /** The client address went over admin.rateLimitPerMinute.perIp (429). */
  'rate_limited_ip',
  /** A valid token went over admin.rateLimitPerMinute.perToken (429). */
  'rate_limited_token',
  /** No Authorization header on a route that needs a role (401). */
  'no_token',
  /** A token that matches none configured: unknown, revoked or malformed (401). */
  'bad_token',
  /** A valid token whose role is below the route's (403). */
  'insufficient_role',
  /** A path that declares no role and is not public, or that no route serves (403). */
  'undeclared_route',
] as const;

export type DenialReason = (typeof DENIAL_REASONS)[number];

/** The route field for a path no route serves: the path itself is the caller's, not ours to store. */
export const UNMATCHED_ROUTE = '(unmatched)';

/** One denied request, as registerSecurity sees it. */
export interface Denial {
  reason: DenialReason;
  status: 401 | 403 | 429;
  /** The client address the allow-list judged (after trusted proxies). */
  address: string;
  method: string;
  /** The route pattern (`/carriers/:id/pause`), or UNMATCHED_ROUTE. */
  route: string;
  /** The token's owner, when the token was valid (insufficient_role, rate_limited_token). */
  actor?: { id: string; role: string };
}

export interface DenialReporterOptions {
  logger: Logger;
  audit: { append(entry: AuditInput): Promise<string> };
  /** Called for every denial, held or not. */
  count?: (reason: DenialReason) => void;
  clock?: Clock;
  /** How long a key's window lasts, in ms. */
  intervalMs?: number;
  /** Most keys held at once; beyond, one key per reason with address `*`. */
  maxKeys?: number;
}

export const DENIAL_INTERVAL_MS = 60_000;
export const DENIAL_MAX_KEYS = 256;
/** Distinct METHOD + route pairs named in one report; routes are patterns, so this rarely binds. */
const MAX_ROUTES = 16;

interface Window {
  openedAt: number;
  /** Denials held since the last report, and when the first and last of them came. */
  held: number;
  heldFrom: number;
  heldTo: number;
  routes: Set<string>;
  /** The latest denial held: what the report names (method, route). */
  last: Denial;
}

export class DenialReporter {
  readonly #logger: Logger;
  readonly #audit: DenialReporterOptions['audit'];
  readonly #count: ((reason: DenialReason) => void) | undefined;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  readonly #windows = new Map<string, Window>();
  readonly #writes = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: DenialReporterOptions) {
    this.#logger = opts.logger;
    this.#audit = opts.audit;
    this.#count = opts.count;
    this.#clock = opts.clock ?? systemClock;
    this.#intervalMs = opts.intervalMs ?? DENIAL_INTERVAL_MS;
    this.#maxKeys = opts.maxKeys ?? DENIAL_MAX_KEYS;
  }

  /** Count one denial, and report it now or hold it for its key's next report. */
  report(d: Denial): void {
    this.#count?.(d.reason);
    const now = this.#clock.now();
    let key = keyOf(d);
    let w = this.#windows.get(key);
    if (w === undefined && this.#windows.size >= this.#maxKeys) {
      // Too many keys at once: fold into the reason's catch-all, which keeps no address or actor.
      d = { reason: d.reason, status: d.status, address: '*', method: d.method, route: d.route };
      key = keyOf(d);
      w = this.#windows.get(key);
    }
    if (w !== undefined && now - w.openedAt >= this.#intervalMs) {
      this.#roll(key, w, now);
      w = this.#windows.get(key);
    }
    if (w === undefined) {
      this.#windows.set(key, { openedAt: now, held: 0, heldFrom: now, heldTo: now, routes: new Set(), last: d });
      this.#emit(d, 1, now, now, [routeOf(d)]);
      this.#arm();
      return;
    }
    if (w.held === 0) w.heldFrom = now;
    w.held++;
    w.heldTo = now;
    w.last = d;
    if (w.routes.size < MAX_ROUTES) w.routes.add(routeOf(d));
  }

  /** Report every window whose interval is over; runs on a timer, and on demand in tests. */
  sweep(): void {
    const now = this.#clock.now();
    for (const [key, w] of this.#windows) if (now - w.openedAt >= this.#intervalMs) this.#roll(key, w, now);
    if (this.#windows.size === 0) this.#disarm();
  }

  /** Report everything held now, whatever the windows' age; resolves when the audit writes have settled. */
  async flush(): Promise<void> {
    for (const w of this.#windows.values()) this.#release(w);
    this.#windows.clear();
    this.#disarm();
    await this.settled();
  }

  /** Resolves once every audit write started so far has settled. */
  async settled(): Promise<void> {
    while (this.#writes.size > 0) await Promise.all([...this.#writes]);
  }

  /** At shutdown: report what is held. */
  stop(): Promise<void> {
    return this.flush();
  }

  /** Number of keys held (for tests and the memory bound). */
  get keys(): number {
    return this.#windows.size;
  }

  /** The window's interval is over: report what it held and start the next, or close it when it held nothing. */
  #roll(key: string, w: Window, now: number): void {
    if (w.held === 0) {
      this.#windows.delete(key);
      return;
    }
    this.#release(w);
    w.openedAt = now;
  }

  #release(w: Window): void {
    if (w.held === 0) return;
    this.#emit(w.last, w.held, w.heldFrom, w.heldTo, [...w.routes].sort());
    w.held = 0;
    w.routes = new Set();
  }

  #emit(d: Denial, count: number, from: number, to: number, routes: string[]): void {
    const first = new Date(from).toISOString();
    const last = new Date(to).toISOString();
    const fields = { reason: d.reason, status: d.status, address: d.address, method: d.method, route: d.route, count, first, last, ...(d.actor ? { actor: d.actor.id } : {}) };
    this.#logger.warn({ event: 'admin.denied', ...fields, ...(count > 1 ? { routes } : {}) }, count === 1 ? 'admin request denied' : `${count} admin requests denied`);
    const write = this.#audit
      .append({
        actor: d.actor?.id ?? 'anonymous',
        role: d.actor?.role ?? 'none',
        action: 'admin.denied',
        target: d.address,
        detail: { reason: d.reason, status: d.status, method: d.method, route: d.route, count, first, last, routes },
      })
      .then(
        () => undefined,
        (e: unknown) => this.#logger.error({ event: 'admin.audit_failed', reason: d.reason, address: d.address, count, err: errorMessage(e) }, 'denied admin requests not written to the audit stream; the log line stands'),
      );
    this.#writes.add(write);
    void write.finally(() => this.#writes.delete(write));
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    // A quarter of the interval: a window's report comes at most 1.25 intervals after it opened.
    this.#timer = setInterval(() => this.sweep(), Math.max(10, this.#intervalMs / 4));
    this.#timer.unref();
  }

  #disarm(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function keyOf(d: Denial): string {
  return `${d.reason}\u0000${d.address}\u0000${d.actor?.id ?? ''}`;
}

function routeOf(d: Denial): string {
  return `${d.method} ${d.route}`;
}
