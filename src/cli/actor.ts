/** Who a CLI command acts as, in the audit trail: `cli:<login name>`, with the admin role (it holds the gateway's config). */
import { userInfo } from 'node:os';

export function cliActor(): { actor: string; role: string } {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (containers): keep 'unknown'
  }
  return { actor: `cli:${user}`, role: 'admin' };
}
