/**
 * `qasid token new ROLE [--id ID]`: make an admin API token. The token is printed once;
 * the config keeps only its SHA-256 (admin.tokens), so a leaked config leaks no token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { EX_USAGE, usageFailure } from './args.js';

const ROLES = ['viewer', 'operator', 'admin'] as const;
export const TOKEN_USAGE = `Usage: qasid token new ROLE [--id ID]

  ROLE     viewer (read), operator (pause/resume carriers), admin (everything, incl. route reload and audit)
  --id ID  the name the token goes by in admin.tokens, the audit trail and the logs
           (1-64 of A-Z a-z 0-9 . _ -; default ROLE-<6 random hex digits>)

Prints the token once (give it to its holder) and the line to add to admin.tokens in the config.`;

export async function tokenCommand(argv: string[], out: (s: string) => void = (s) => console.log(s), err: (s: string) => void = (s) => console.error(s)): Promise<number> {
  let role: string;
  let id: string | undefined;
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { id: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
    if (values.help) {
      out(TOKEN_USAGE);
      return 0;
    }
    const [sub, r, ...extra] = positionals;
    if (sub !== 'new') throw new Error(sub === undefined ? 'missing subcommand (new)' : `unknown subcommand "${sub}"`);
    if (r === undefined) throw new Error(`missing ROLE (${ROLES.join(', ')})`);
    if (!ROLES.includes(r as (typeof ROLES)[number])) throw new Error(`unknown role "${r}" (${ROLES.join(', ')})`);
    if (extra.length > 0) throw new Error(`unexpected argument "${extra[0] ?? ''}"`);
    if (values.id !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(values.id)) throw new Error('--id must be 1-64 of A-Z a-z 0-9 . _ -');
    role = r;
    id = values.id;
  } catch (e) {
    err(usageFailure('token', e, TOKEN_USAGE));
    return EX_USAGE;
  }
  const token = `qasid_${randomBytes(32).toString('base64url')}`;
  const sha256 = createHash('sha256').update(token).digest('hex');
  out(`token (shown once): ${token}`);
  out(`add to admin.tokens: ${JSON.stringify({ id: id ?? `${role}-${randomBytes(3).toString('hex')}`, sha256, role })}`);
  return 0;
}
