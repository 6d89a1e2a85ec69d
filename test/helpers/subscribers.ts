/** An in-memory SubscriberAdmin for admin API tests that need no gateway behind them. */
import type { AdminScope, SubscriberAdmin } from '../../src/admin/routes.js';

export function fakeSubscriberAdmin(): SubscriberAdmin & { optOuts: Set<string> } {
  const optOuts = new Set<string>();
  const key = (e164: string, s: AdminScope): string => `${e164}|${s.kind === 'blocklist' ? 'blk' : s.kind === 'sender' ? `s:${s.sender}` : `t:${s.tenant}`}`;
  return {
    optOuts,
    normalise: (m) => (/^\+?\d{10,15}$/.test(m) ? { ok: true, e164: m.startsWith('+') ? m : `+${m}` } : { ok: false, reason: 'invalid_number' }),
    hash: (e164) => `h1:${Buffer.from(e164).toString('base64url').slice(0, 22)}`,
    lookup: async (e164) => ({ optedOut: [...optOuts].filter((k) => k.startsWith(`${e164}|`)).length }),
    export: async () => ({ messages: [] }),
    erase: async () => ({ records: 0 }),
    optOut: async (e164, s) => void optOuts.add(key(e164, s)),
    removeOptOut: async (e164, s) => optOuts.delete(key(e164, s)),
    consent: async () => undefined,
    withdrawConsent: async () => false,
  };
}
