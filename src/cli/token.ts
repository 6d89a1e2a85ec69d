/**
 * `qasid token new ROLE [--id ID]`: make an admin API token. The token is printed once;
 * the config keeps only its SHA-256 (admin.tokens), so a leaked config leaks no token.
 */
import { createHash, randomBytes } from 'node:crypto';

const ROLES = ['viewer', 'operator', 'admin'] as const;
const USAGE = `Usage: qasid token new ROLE [--id ID]
  ROLE  viewer (read), operator (pause/resume carriers), admin (everything, incl. route reload and audit)
Prints the token once (give it to its holder) and the line to add to admin.tokens in the config.`;

export async function tokenCommand(argv: string[], out: (s: string) => void = (s) => console.log(s)): Promise<number> {
  const [sub, role, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === undefined) {
    out(USAGE);
    return sub === undefined ? 64 : 0;
  }
  if (sub !== 'new' || !ROLES.includes(role as (typeof ROLES)[number])) {
    console.error(USAGE);
    return 64;
  }
  const idAt = rest.indexOf('--id');
  const id = idAt >= 0 ? rest[idAt + 1] : `${role}-${randomBytes(3).toString('hex')}`;
  if (id === undefined || !/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
    console.error('qasid token: --id must be 1-64 of A-Z a-z 0-9 . _ -');
    return 64;
  }
  const token = `qasid_${randomBytes(32).toString('base64url')}`;
  const sha256 = createHash('sha256').update(token).digest('hex');
  out(`token (shown once): ${token}`);
  out(`add to admin.tokens: ${JSON.stringify({ id, sha256, role })}`);
  return 0;
}
