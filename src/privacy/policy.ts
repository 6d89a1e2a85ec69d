/**
 * Class policy that needs no Redis: marketing quiet hours (per tenant, deferred to the
 * opening with jitter) and the opt-out footer. The subscriber-level rules (opt-out,
 * consent, caps) are in subscribers.ts.
 */
import { senderKey } from './subscribers.js';
import type { QasidConfig } from '../config/types.js';
import { compileQuietHours, quietUntil, type CompiledQuietHours } from './quiet-hours.js';

export class ClassPolicy {
  private readonly quiet: CompiledQuietHours;
  private readonly tenantQuiet = new Map<string, CompiledQuietHours | null>();
  private readonly footers = new Map<string, string>();
  /** Per tenant, the sender ids it may use (compared as senderKey writes them); absent = any. */
  private readonly senders = new Map<string, Set<string>>();
  private readonly footer: string;

  constructor(
    private readonly cfg: QasidConfig['policy'],
    private readonly random: () => number = Math.random,
  ) {
    this.quiet = compileQuietHours(cfg.quietHours);
    this.footer = cfg.footer;
    for (const t of cfg.tenants) {
      if (t.quietHours !== undefined) this.tenantQuiet.set(t.tenant, t.quietHours === null ? null : compileQuietHours(t.quietHours));
      if (t.footer !== undefined) this.footers.set(t.tenant, t.footer);
      if (t.senders !== undefined) this.senders.set(t.tenant, new Set(t.senders.map(senderKey)));
    }
  }

  /**
   * Whether `tenant` may send from `sender`: a tenant with a `senders` list (its registered
   * masks and short codes) only from those, compared without a leading '+' and
   * case-insensitively; any other tenant, or no tenant, from any.
   */
  senderAllowed(tenant: string | undefined, sender: string): boolean {
    const allowed = tenant === undefined ? undefined : this.senders.get(tenant);
    return allowed === undefined || allowed.has(senderKey(sender));
  }

  /**
   * When a marketing message of `tenant` may go, if not now: the end of the quiet window
   * plus up to jitterSec of spread. Undefined outside quiet hours.
   */
  marketingOpensAt(tenant: string | undefined, now: number): number | undefined {
    const q = tenant === undefined || !this.tenantQuiet.has(tenant) ? this.quiet : this.tenantQuiet.get(tenant);
    if (!q) return undefined;
    const until = quietUntil(now, q);
    if (until === undefined) return undefined;
    return until + Math.floor(this.random() * this.cfg.quietHours.jitterSec * 1000);
  }

  /** Marketing text with the tenant's opt-out footer on a new line, unless it already holds it. */
  withFooter(text: string, tenant: string | undefined): string {
    const footer = (tenant === undefined ? undefined : this.footers.get(tenant)) ?? this.footer;
    if (footer === '' || normalise(text).includes(normalise(footer))) return text;
    return `${text}\n${footer}`;
  }
}

function normalise(s: string): string {
  return s.toLowerCase().replace(/\s+/g, ' ').trim();
}
