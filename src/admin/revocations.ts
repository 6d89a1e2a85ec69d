/**
 * Revoked admin tokens, as the admin server checks them: the SHA-256s `qasid token revoke`
 * wrote to Redis, read at start and again every poll interval, turned into the ids of the
 * configured tokens they belong to. A revoked token is answered 401 bad_token like any
 * token that matches none; the check costs a Set lookup, never a Redis call. Until the
 * list has been read once every token counts as revoked (the admin server listens before
 * Redis is reached at start: it fails closed). While Redis cannot be read the last list
 * read stays in force (a revocation is never undone by an outage).
 */
import { errorMessage } from '../core/errors.js';
import type { Lifecycle } from '../core/lifecycle.js';
import type { Logger } from '../log/logger.js';
import type { ApiToken } from './auth.js';

export interface RevocationOptions {
  tokens: readonly ApiToken[];
  /** The SHA-256s revoked (queue/tokens.ts TokenStore.revoked). */
  read(): Promise<ReadonlySet<string>>;
  pollMs: number;
  logger: Logger;
}

export class TokenRevocations implements Lifecycle {
  readonly name = 'admin-revocations';
  #ids = new Set<string>();
  #read = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(private readonly o: RevocationOptions) {}

  /** Whether the configured token with this id was revoked (every one, until the list was first read). */
  has(id: string): boolean {
    return !this.#read || this.#ids.has(id);
  }

  async start(): Promise<void> {
    await this.poll();
    this.#timer = setInterval(() => {
      this.#running ??= this.poll().finally(() => (this.#running = undefined));
    }, this.o.pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Read the list again; keeps the last one when Redis cannot be read. */
  async poll(): Promise<void> {
    let revoked: ReadonlySet<string>;
    try {
      revoked = await this.o.read();
    } catch (e) {
      this.o.logger.warn({ event: 'admin.revocations_failed', err: errorMessage(e) }, 'the revoked-token list could not be read; the last one read stays in force');
      return;
    }
    const ids = new Set(this.o.tokens.filter((t) => revoked.has(t.sha256.toLowerCase())).map((t) => t.id));
    for (const id of ids) if (!this.#ids.has(id)) this.o.logger.warn({ event: 'admin.token_revoked', tokenId: id }, 'an admin token was revoked; it is refused from now on');
    // Never shrinks: a revocation stays once seen, whatever Redis says later.
    for (const id of ids) this.#ids.add(id);
    this.#read = true;
  }
}
