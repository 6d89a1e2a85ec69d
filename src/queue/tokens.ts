/**
 * Admin tokens as Redis knows them: the list the gateway last started with (so a start
 * can audit the tokens added, removed or changed in admin.tokens since), and the tokens
 * revoked by `qasid token revoke` (refused by every instance from the next poll on, before
 * anyone edits the config). Both hold a token's SHA-256 — what admin.tokens holds — never
 * the token; neither is ever written to the log or the audit stream.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export interface ConfiguredToken {
  id: string;
  sha256: string;
  role: string;
}

/** One difference between the tokens recorded and the ones configured now. */
export interface TokenChange {
  change: 'added' | 'removed' | 'replaced' | 'role_changed';
  id: string;
  role: string;
  /** role_changed: the role it had. */
  was?: string;
}

export interface Revocation {
  id: string;
  /** When, ISO 8601. */
  at: string;
  /** Who revoked it (cli:<user>). */
  by: string;
}

export class TokenStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Pick<Keys, 'adminTokens' | 'revokedTokens'>,
  ) {}

  /**
   * Record `tokens` as the configured set and return what changed since the set recorded
   * last (the first time: every token, added). Order: by id.
   */
  async record(tokens: readonly ConfiguredToken[]): Promise<TokenChange[]> {
    const before = await this.redis.hgetall(this.keys.adminTokens);
    const now = new Map(tokens.map((t) => [t.id, t]));
    const changes: TokenChange[] = [];
    for (const [id, value] of Object.entries(before)) {
      const colon = value.indexOf(':');
      const role = value.slice(0, colon);
      const sha = value.slice(colon + 1);
      const t = now.get(id);
      if (t === undefined) changes.push({ change: 'removed', id, role });
      else if (t.sha256 !== sha) changes.push({ change: 'replaced', id, role: t.role });
      else if (t.role !== role) changes.push({ change: 'role_changed', id, role: t.role, was: role });
    }
    for (const t of tokens) if (before[t.id] === undefined) changes.push({ change: 'added', id: t.id, role: t.role });
    if (changes.length > 0) {
      const m = this.redis.multi().del(this.keys.adminTokens);
      if (tokens.length > 0) m.hset(this.keys.adminTokens, ...tokens.flatMap((t) => [t.id, `${t.role}:${t.sha256}`]));
      await m.exec();
    }
    return changes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Revoke the token with this SHA-256. False when it was revoked already. */
  async revoke(sha256: string, r: Revocation): Promise<boolean> {
    return (await this.redis.hsetnx(this.keys.revokedTokens, sha256, JSON.stringify(r))) === 1;
  }

  /** The SHA-256 of every revoked token. */
  async revoked(): Promise<Set<string>> {
    return new Set(await this.redis.hkeys(this.keys.revokedTokens));
  }
}
