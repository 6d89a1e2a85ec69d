/**
 * Admin API security: bearer tokens with roles, the client IP behind trusted proxies, an
 * IP allow-list, per-IP and per-token rate limits, and default deny.
 *
 * - Roles are ordered: admin ⊇ operator ⊇ viewer.
 * - Tokens are configured only as sha256 hex digests; comparison is constant-time.
 * - X-Forwarded-For is honoured only when the socket peer is a trusted proxy; the client
 *   is then the right-most address that is not itself a trusted proxy.
 * - The IP allow-list applies to every route (public ones too). An EMPTY allow-list means
 *   loopback only (127.0.0.0/8, ::1), never "everyone": list 0.0.0.0/0 and ::/0 for that.
 * - The public routes (probes and the scrape) draw on no rate limit; every other request,
 *   unknown paths included, counts against its address's limit.
 * - Default deny: a route needs `config: { role }` or must be one of PUBLIC_ROUTES;
 *   anything else (unknown paths included) answers 403.
 * - Every denial is handed to `onDenied` with its reason (denials.ts), never with the token,
 *   and answered with that reason as its code (errors.ts).
 * - A token revoked by `qasid token revoke` (revocations.ts) is refused as one that matches
 *   none (bad_token).
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { systemClock, type Clock } from '../core/clock.js';
import { TokenBucket } from '../throttle/bucket.js';
import { UNMATCHED_ROUTE, type Denial, type DenialReason } from './denials.js';
import { ADMIN_ERRORS, sendError } from './errors.js';

export type Role = 'viewer' | 'operator' | 'admin';

export interface ApiToken {
  id: string;
  /** Lower-case hex of sha256(token). */
  sha256: string;
  role: Role;
}

export interface Actor {
  id: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role that may call the route; absent → public only if in PUBLIC_ROUTES. */
    role?: Role;
  }
  interface FastifyRequest {
    /** Set by registerSecurity when a valid bearer token was presented on a role route. */
    actor?: Actor;
    /**
     * What registerSecurity found, for the access log (access.ts): the client address, the
     * token's owner when the token was valid (even if the request was then denied), and the
     * denial reason when it was denied.
     */
    access?: { address: string; actor?: Actor; denied?: DenialReason };
  }
}

/**
 * Routes that need no token and draw on no rate limit: the liveness and readiness probes
 * and the Prometheus scrape. A kubelet, a load balancer or Prometheus often shares its
 * address (a node, a proxy) with admin clients, and a probe turned away with 429 restarts
 * the pod or pages someone. They still answer only addresses on the allow-list.
 */
export const PUBLIC_ROUTES: readonly string[] = ['/livez', '/readyz', '/metrics'];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAtLeast(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * The actor for an `Authorization: Bearer <token>` header, or undefined. Every
 * configured token is compared (constant-time), so timing does not reveal which matched.
 */
export function authenticate(header: string | undefined, tokens: readonly ApiToken[]): Actor | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  const token = m?.[1];
  if (token === undefined) return undefined;
  const presented = createHash('sha256').update(token, 'utf8').digest();
  let found: Actor | undefined;
  for (const t of tokens) {
    const wellFormed = /^[0-9a-fA-F]{64}$/.test(t.sha256);
    // A malformed digest never matches, but is still compared (against zeros) for even timing.
    const equal = timingSafeEqual(presented, wellFormed ? Buffer.from(t.sha256, 'hex') : Buffer.alloc(32));
    if (equal && wellFormed && found === undefined) found = { id: t.id, role: t.role };
  }
  return found;
}

/** '::ffff:1.2.3.4' → '1.2.3.4'; strips an IPv6 zone; undefined when not an IP at all. */
export function normaliseIp(ip: string): string | undefined {
  let s = ip.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(s);
  if (mapped?.[1] !== undefined && isIP(mapped[1]) === 4) return mapped[1];
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const v = isIP(s);
  if (v === 4) return s;
  if (v === 6) return s.toLowerCase();
  return undefined;
}

/** A matcher over IPs and CIDR blocks ('10.0.0.0/8', '::1', '::ffff:10.0.0.0/104'). */
export class IpList {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(entries: readonly string[]) {
    for (const raw of entries) {
      const [addrPart, prefixPart, extra] = raw.trim().split('/');
      const addr = addrPart === undefined ? undefined : normaliseIp(addrPart);
      if (addr === undefined || extra !== undefined) throw new RangeError(`not an IP address or CIDR block: "${raw}"`);
      const type = isIP(addr) === 4 ? 'ipv4' : 'ipv6';
      if (prefixPart === undefined) {
        this.#list.addAddress(addr, type);
        continue;
      }
      let prefix = Number(prefixPart);
      // An IPv4-mapped block written in IPv6 form: ::ffff:10.0.0.0/104 → 10.0.0.0/8.
      if (type === 'ipv4' && addrPart !== undefined && addrPart.includes(':')) prefix -= 96;
      const max = type === 'ipv4' ? 32 : 128;
      if (!/^\d+$/.test(prefixPart) || !Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new RangeError(`bad prefix length in "${raw}"`);
      this.#list.addSubnet(addr, prefix, type);
    }
    this.size = entries.length;
  }

  has(ip: string): boolean {
    const n = normaliseIp(ip);
    if (n === undefined) return false;
    return this.#list.check(n, isIP(n) === 4 ? 'ipv4' : 'ipv6');
  }
}

const LOOPBACK = new IpList(['127.0.0.0/8', '::1']);

function asList(l: readonly string[] | IpList): IpList {
  return l instanceof IpList ? l : new IpList(l);
}

/**
 * The client address. X-Forwarded-For counts only when the socket peer is a trusted
 * proxy; then the hops are read right to left and the first one that is not a trusted
 * proxy is the client. A malformed hop stops the walk at the last address known good.
 */
export function clientIp(socketAddress: string, xForwardedFor: string | undefined, trustedProxies: readonly string[] | IpList): string {
  const peer = normaliseIp(socketAddress) ?? socketAddress;
  const trusted = asList(trustedProxies);
  if (xForwardedFor === undefined || trusted.size === 0 || !trusted.has(peer)) return peer;
  const hops = xForwardedFor.split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normaliseIp(hops[i] ?? '');
    if (hop === undefined) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

/** Whether `ip` is in the allow-list. An empty list allows loopback only. */
export function allowed(ip: string, allowList: readonly string[] | IpList): boolean {
  const list = asList(allowList);
  return list.size === 0 ? LOOPBACK.has(ip) : list.has(ip);
}

export interface SecurityOptions {
  tokens: readonly ApiToken[];
  allowList: readonly string[];
  trustedProxies: readonly string[];
  /** Requests per minute (a token bucket: burst of that many, refilled continuously). */
  rateLimit: { perToken: number; perIp: number };
  /**
   * With several instances: count in Redis (rate-limiter-flexible), so the limits hold
   * across them. Absent: each process counts alone (token buckets).
   */
  shared?: { redis: Redis; keyPrefix: string };
  /** Injected for tests; Date.now by default. */
  clock?: Clock;
  /** Told of every denied request (a DenialReporter aggregates them for the log and the audit stream). */
  onDenied?: (denial: Denial) => void;
  /** Whether the configured token with this id was revoked (`qasid token revoke`): answered as bad_token. */
  isRevoked?: (tokenId: string) => boolean;
}

/** Counts requests per key; resolves 0 when this one is allowed (and counted), else seconds to wait. */
interface RequestLimiter {
  take(key: string): number | Promise<number>;
}

/**
 * The limits shared by every instance: rate-limiter-flexible's Redis limiter (one script
 * call per request, a fixed one-minute window per key). Should Redis be away, each
 * process falls back to counting alone (its insurance limiter), so the admin API stays
 * usable for the operator trying to find out why.
 */
class SharedLimiter implements RequestLimiter {
  readonly #limiter: RateLimiterRedis;

  constructor(perMinute: number, redis: Redis, keyPrefix: string) {
    this.#limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix,
      points: perMinute,
      duration: 60,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points: perMinute, duration: 60 }),
    });
  }

  async take(key: string): Promise<number> {
    try {
      await this.#limiter.consume(key);
      return 0;
    } catch (e) {
      if (e instanceof RateLimiterRes) return Math.max(1, Math.ceil(e.msBeforeNext / 1000));
      throw e;
    }
  }
}

/** Buckets per key, with the idle (full) ones dropped now and then so the map stays small. */
class Limiter implements RequestLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  #ops = 0;

  constructor(
    private readonly perMinute: number,
    private readonly clock: Clock,
  ) {}

  /** 0 when allowed (and counted), else seconds to wait. */
  take(key: string): number {
    if (++this.#ops % 1000 === 0) this.#prune();
    let b = this.#buckets.get(key);
    if (b === undefined) {
      b = new TokenBucket({ ratePerSec: this.perMinute / 60, burst: this.perMinute, clock: this.clock });
      this.#buckets.set(key, b);
    }
    if (b.tryTake()) return 0;
    return Math.max(1, Math.ceil(b.msUntil() / 1000));
  }

  #prune(): void {
    for (const [k, b] of this.#buckets) if (b.available >= b.burst) this.#buckets.delete(k);
  }
}

/** Installs the onRequest hook. Call before the routes are registered (or after; hooks apply app-wide). */
export function registerSecurity(app: FastifyInstance, opts: SecurityOptions): void {
  const allowList = new IpList(opts.allowList);
  const trusted = new IpList(opts.trustedProxies);
  const clock = opts.clock ?? systemClock;
  const shared = opts.shared;
  const perIp: RequestLimiter = shared ? new SharedLimiter(opts.rateLimit.perIp, shared.redis, `${shared.keyPrefix}:ip`) : new Limiter(opts.rateLimit.perIp, clock);
  const perToken: RequestLimiter = shared ? new SharedLimiter(opts.rateLimit.perToken, shared.redis, `${shared.keyPrefix}:token`) : new Limiter(opts.rateLimit.perToken, clock);
  const tokens = [...opts.tokens];
  const onDenied = opts.onDenied;

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const xff = request.headers['x-forwarded-for'];
    const ip = clientIp(request.socket.remoteAddress ?? '', Array.isArray(xff) ? xff.join(',') : xff, trusted);
    const url = request.routeOptions.url;
    const access: NonNullable<FastifyRequest['access']> = { address: ip };
    request.access = access;
    /** Report the denial and answer it, the reason being the body's code. */
    const deny = (reason: DenialReason, actor?: Actor): FastifyReply => {
      access.denied = reason;
      if (actor) access.actor = actor;
      onDenied?.({ reason, status: ADMIN_ERRORS[reason].status, address: ip, method: request.method, route: url ?? UNMATCHED_ROUTE, ...(actor ? { actor: { id: actor.id, role: actor.role } } : {}) });
      return sendError(reply, reason);
    };
    if (!allowed(ip, allowList)) return deny('not_allowed');

    const role = request.routeOptions.config?.role;
    // Probes and scrapes neither wait for nor use up the address's budget.
    if (role === undefined && url !== undefined && PUBLIC_ROUTES.includes(url)) return;

    const ipWait = await perIp.take(ip);
    if (ipWait > 0) {
      reply.header('retry-after', String(ipWait));
      return deny('rate_limited_ip');
    }

    if (role === undefined) return deny('undeclared_route');

    const header = request.headers.authorization;
    const found = authenticate(header, tokens);
    // A revoked token is one that matches none: the answer does not tell it apart.
    const actor = found !== undefined && opts.isRevoked?.(found.id) === true ? undefined : found;
    if (actor === undefined) {
      reply.header('www-authenticate', 'Bearer');
      return deny(header === undefined ? 'no_token' : 'bad_token');
    }
    const tokenWait = await perToken.take(actor.id);
    if (tokenWait > 0) {
      reply.header('retry-after', String(tokenWait));
      return deny('rate_limited_token', actor);
    }
    if (!roleAtLeast(actor.role, role)) return deny('insufficient_role', actor);
    request.actor = actor;
    access.actor = actor;
  });
}
