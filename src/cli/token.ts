/**
 * `qasid token new ROLE [--id ID]`: make an admin API token. The token is printed once;
 * the config keeps only its SHA-256 (admin.tokens), so a leaked config leaks no token.
 * With the gateway's config (--config, $QASID_CONFIG) or --redis, the creation is written
 * to the audit stream first (token.created; no token, no hash).
 *
 * `qasid token revoke ID`: refuse a configured token from now on, on every instance, before
 * the config is edited: its SHA-256 goes to `<prefix>:admin:revoked` (queue/tokens.ts),
 * which the gateways read every admin.revocationPollSec; audited (token.revoked).
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { AuditLog } from '../admin/audit.js';
import { loadConfig } from '../config/load.js';
import type { QasidConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { keysFor } from '../queue/keys.js';
import { TokenStore } from '../queue/tokens.js';
import { cliActor } from './actor.js';
import { EX_USAGE, usageFailure } from './args.js';
import { connectCli } from './connect.js';

const ROLES = ['viewer', 'operator', 'admin'] as const;
const EXIT = { OK: 0, FAILED: 1, CONFIG: 2, REDIS: 4, USAGE: EX_USAGE } as const;

export const TOKEN_USAGE = `Usage: qasid token new ROLE [--id ID] [--config FILE | --redis URL --prefix P]
       qasid token revoke ID [--config FILE]

new      makes a token. ROLE: viewer (read), operator (pause/resume carriers, subscriber
         choices), admin (everything, incl. route reload, audit, export, erasure, breach report)
           --id ID  the name the token goes by in admin.tokens, the audit trail and the logs
                    (1-64 of A-Z a-z 0-9 . _ -; default ROLE-<6 random hex digits>)
         Prints the token once (give it to its holder) and the line to add to admin.tokens.
         With the gateway's config (--config, or $QASID_CONFIG) or --redis, token.created
         (id and role) is written to the audit stream first; if that fails, no token is
         made. Without either it is not audited here: the gateway writes token.added when it
         starts with the new line in admin.tokens.
revoke   refuses the token ID of admin.tokens from now on, on every instance within
         admin.revocationPollSec (5 s), without a restart; written to the audit stream
         (token.revoked). Remove the line from admin.tokens at the next config change (the
         gateway then writes token.removed). A revoked token stays refused even if its line
         is kept.
           --config FILE  the gateway's config (also $QASID_CONFIG): admin.tokens, redis

Exit codes: 0 done · 1 failed (the audit stream could not be written) · 2 invalid
configuration · 4 Redis unreachable · 64 bad command line, or no such token`;

interface TokenValues {
  id?: string;
  config?: string;
  redis?: string;
  prefix?: string;
  help?: boolean;
}

export async function tokenCommand(
  argv: string[],
  out: (s: string) => void = (s) => console.log(s),
  err: (s: string) => void = (s) => console.error(s),
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let values: TokenValues;
  let sub: 'new' | 'revoke';
  let arg: string;
  try {
    const parsed = parseArgs({
      args: argv,
      options: { id: { type: 'string' }, config: { type: 'string', short: 'c' }, redis: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
    values = parsed.values;
    if (values.help) {
      out(TOKEN_USAGE);
      return EXIT.OK;
    }
    const [s, r, ...extra] = parsed.positionals;
    if (s !== 'new' && s !== 'revoke') throw new Error(s === undefined ? 'missing subcommand (new, revoke)' : `unknown subcommand "${s}"`);
    sub = s;
    if (sub === 'new') {
      if (r === undefined) throw new Error(`missing ROLE (${ROLES.join(', ')})`);
      if (!ROLES.includes(r as (typeof ROLES)[number])) throw new Error(`unknown role "${r}" (${ROLES.join(', ')})`);
      if (values.id !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(values.id)) throw new Error('--id must be 1-64 of A-Z a-z 0-9 . _ -');
    } else {
      if (r === undefined) throw new Error('missing ID (the token id in admin.tokens)');
      for (const k of ['id', 'redis', 'prefix'] as const) if (values[k] !== undefined) throw new Error(`--${k} does not go with "token revoke"`);
    }
    if (extra.length > 0) throw new Error(`unexpected argument "${extra[0] ?? ''}"`);
    arg = r;
  } catch (e) {
    err(usageFailure('token', e, TOKEN_USAGE));
    return EXIT.USAGE;
  }
  return sub === 'new' ? newToken(arg, values, out, err, env) : revokeToken(arg, values, out, err, env);
}

/** The gateway's config and a Redis connection; a number is the exit code of a failure (already reported). */
async function connect(values: TokenValues, err: (s: string) => void, env: NodeJS.ProcessEnv): Promise<{ config: QasidConfig; redis: Redis; prefix: string } | number> {
  let config: QasidConfig;
  try {
    config = loadConfig({ file: values.config, env, overrides: { carriers: [] } });
  } catch (e) {
    err(`qasid token: configuration invalid: ${errorMessage(e)}`);
    return EXIT.CONFIG;
  }
  const redis = await connectCli(config.redis, 'token', { out: () => undefined, err, env }, values.redis ?? config.redis.url.reveal());
  if (redis === undefined) return EXIT.REDIS;
  return { config, redis, prefix: values.prefix ?? config.redis.prefix };
}

async function newToken(role: string, values: TokenValues, out: (s: string) => void, err: (s: string) => void, env: NodeJS.ProcessEnv): Promise<number> {
  const id = values.id ?? `${role}-${randomBytes(3).toString('hex')}`;
  if (values.config !== undefined || values.redis !== undefined || (env.QASID_CONFIG ?? '') !== '') {
    const c = await connect(values, err, env);
    if (typeof c === 'number') return c;
    const keys = keysFor(c.prefix);
    try {
      await new AuditLog(c.redis, keys.audit, { headKey: keys.auditHead }).append({ ...cliActor(), action: 'token.created', target: id, detail: { role } });
    } catch (e) {
      err(`qasid token: no token made: the audit stream cannot be written: ${errorMessage(e)}`);
      return EXIT.FAILED;
    } finally {
      c.redis.disconnect();
    }
  }
  const token = `qasid_${randomBytes(32).toString('base64url')}`;
  const sha256 = createHash('sha256').update(token).digest('hex');
  out(`token (shown once): ${token}`);
  out(`add to admin.tokens: ${JSON.stringify({ id, sha256, role })}`);
  return EXIT.OK;
}

async function revokeToken(id: string, values: TokenValues, out: (s: string) => void, err: (s: string) => void, env: NodeJS.ProcessEnv): Promise<number> {
  const c = await connect(values, err, env);
  if (typeof c === 'number') return c;
  try {
    const t = c.config.admin.tokens.find((x) => x.id === id);
    if (t === undefined) {
      err(`qasid token: admin.tokens has no token "${id}" (ids: ${c.config.admin.tokens.map((x) => x.id).join(', ') || 'none'})`);
      return EXIT.USAGE;
    }
    const keys = keysFor(c.prefix);
    const who = cliActor();
    const fresh = await new TokenStore(c.redis, keys).revoke(t.sha256.toLowerCase(), { id, at: new Date().toISOString(), by: who.actor });
    await new AuditLog(c.redis, keys.audit, { headKey: keys.auditHead }).append({ ...who, action: 'token.revoked', target: id, detail: { role: t.role, already: !fresh } });
    out(`${fresh ? 'revoked' : 'already revoked'}: ${id} (${t.role}); every gateway refuses it within admin.revocationPollSec (${c.config.admin.revocationPollSec} s). Remove it from admin.tokens at the next config change.`);
    return EXIT.OK;
  } catch (e) {
    err(`qasid token: ${errorMessage(e)}`);
    return EXIT.FAILED;
  } finally {
    c.redis.disconnect();
  }
}
