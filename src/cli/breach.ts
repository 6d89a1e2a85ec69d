/**
 * `qasid breach report`: which subscribers' data Qasid held in a window of time, per tenant
 * and data class, under which keys (src/privacy/breach.ts) — pseudonyms and counts, never
 * a number or a text. A readable table, or the report as JSON. Audited (`breach.report`).
 */
import { parseArgs } from 'node:util';
import { AuditLog } from '../admin/audit.js';
import { loadConfig } from '../config/load.js';
import type { QasidConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { BreachScanner, breachAuditDetail, senderTenants, type BreachReport } from '../privacy/breach.js';
import { KEY_ID_PATTERN } from '../privacy/keyring.js';
import { Vault } from '../privacy/vault.js';
import { keysFor } from '../queue/keys.js';
import { MessageStore } from '../queue/store.js';
import { cliActor } from './actor.js';
import { usageFailure } from './args.js';
import { parseSince } from './audit.js';
import { connectCli } from './connect.js';
import { consoleIo, type CliIo } from './send.js';

const EXIT = { OK: 0, FAILED: 1, CONFIG: 2, REDIS: 4, USAGE: 64 } as const;

export const BREACH_USAGE = `Usage: qasid breach report --from T [--to T] [--tenant X] [--key-id K] [--json] [--config FILE]

Names the subscribers whose message records, MO entries or dead letters Qasid held during
the window, per tenant, data class (records, mo, dead) and message class (marketing, otp,
transactional, where the record says), the key ids that protected them, and counts. Each
subscriber is named by pseudonym — the keyed hash logs and audit entries use — never by
number; no text is shown. The audit trail adds how many subscribers were erased in the
window and since (they are not named: erasure removed what named them), and the key
rotations since it opened. Written to the audit stream (breach.report).

  --from T        window start: an ISO time (2026-12-01T09:00:00Z) or a duration back from
                  now (72h, 7d)
  --to T          window end, the same way; default now
  --tenant X      only this tenant's data (an MO counts for the tenants whose senders list
                  holds its short code)
  --key-id K      only data under this key id (e.g. a key that leaked; "plain": stored
                  without encryption)
  --json          the report as one JSON document
  --config FILE   the gateway's config (also $QASID_CONFIG): redis, keyrings, tenants

Exit codes: 0 done · 1 failed · 2 invalid configuration · 4 Redis unreachable · 64 bad command line`;

const OPTIONS = {
  from: { type: 'string' },
  to: { type: 'string' },
  tenant: { type: 'string' },
  'key-id': { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function breachCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  let values: { from?: string; to?: string; tenant?: string; 'key-id'?: string; json?: boolean; config?: string; help?: boolean };
  let from: number;
  let to: number;
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    values = parsed.values;
    if (values.help) {
      io.out(BREACH_USAGE);
      return EXIT.OK;
    }
    const [sub, ...extra] = parsed.positionals;
    if (sub !== 'report') throw new Error(sub === undefined ? 'missing subcommand (report)' : `unknown subcommand "${sub}"`);
    if (extra.length > 0) throw new Error(`unexpected argument "${extra[0] ?? ''}"`);
    if (values.from === undefined) throw new Error('--from is required');
    const now = Date.now();
    from = parseSince(values.from, now, '--from');
    to = values.to === undefined ? now : parseSince(values.to, now, '--to');
    if (to < from) throw new Error('--to is before --from');
    if (from > now) throw new Error('--from is in the future');
    if (values.tenant !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(values.tenant)) throw new Error('--tenant must be 1-64 of A-Z a-z 0-9 . _ -');
    const keyId = values['key-id'];
    if (keyId !== undefined && keyId !== 'plain' && !KEY_ID_PATTERN.test(keyId)) throw new Error(`--key-id must match ${KEY_ID_PATTERN.source} (or be "plain")`);
  } catch (e) {
    io.err(usageFailure('breach', e, BREACH_USAGE));
    return EXIT.USAGE;
  }

  let config: QasidConfig;
  let vault: Vault;
  try {
    config = loadConfig({ file: values.config, env: io.env ?? process.env, overrides: { carriers: [] } });
    vault = Vault.load(config.privacy);
  } catch (e) {
    io.err(`qasid breach: configuration invalid: ${errorMessage(e)}`);
    return EXIT.CONFIG;
  }
  const redis = await connectCli(config.redis, 'breach', io);
  if (redis === undefined) return EXIT.REDIS;
  const keys = keysFor(config.redis.prefix, config.intake.shards);
  try {
    const scanner = new BreachScanner({ redis, keys, vault, store: new MessageStore(redis, keys, vault), defaultRegion: config.numbers.defaultRegion, tenantsOf: senderTenants(config.policy.tenants) });
    const query = { from, to, ...(values.tenant === undefined ? {} : { tenant: values.tenant }), ...(values['key-id'] === undefined ? {} : { keyId: values['key-id'] }) };
    const report = await scanner.report(query);
    await new AuditLog(redis, keys.audit, { headKey: keys.auditHead }).append({ ...cliActor(), action: 'breach.report', detail: breachAuditDetail(report) });
    if (values.json) io.out(JSON.stringify(report, null, 2));
    else for (const line of breachTable(report)) io.out(line);
    return EXIT.OK;
  } catch (e) {
    io.err(`qasid breach: ${errorMessage(e)}`);
    return EXIT.FAILED;
  } finally {
    redis.disconnect();
  }
}

function table(rows: readonly string[][], right: ReadonlySet<number>): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (right.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

const keyList = (o: Record<string, number>): string =>
  Object.entries(o)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');

/** The report as lines of text: groups, totals, subscribers, erasures and rotations. */
export function breachTable(r: BreachReport): string[] {
  const lines = [`Breach report for ${r.window.from} to ${r.window.to} (made ${r.generatedAt})`];
  lines.push(`Subscribers are named by pseudonym (keyed hash under secret ${r.pseudonymSecret}); no number or text is shown.`);
  const f = [r.filters.tenant === undefined ? '' : `tenant ${r.filters.tenant}`, r.filters.keyId === undefined ? '' : `key id ${r.filters.keyId}`].filter(Boolean);
  if (f.length > 0) lines.push(`Only: ${f.join(', ')}.`);
  lines.push('');
  if (r.groups.length === 0) lines.push('Nothing held in the window.');
  else {
    const rows = [['TENANT', 'DATA', 'CLASS', 'ITEMS', 'SUBSCRIBERS', 'UNNAMED', 'KEY IDS']];
    for (const g of r.groups) rows.push([g.tenant ?? '-', g.data, g.messageClass ?? '-', String(g.items), String(g.subscribers), String(g.unnamed), keyList(g.keyIds)]);
    const keyTotals = Object.fromEntries(Object.entries(r.totals.keyIds).map(([k, v]) => [k, v.items]));
    rows.push(['all', '', '', String(r.totals.items), String(r.totals.subscribers), String(r.totals.unnamed), keyList(keyTotals)]);
    lines.push(...table(rows, new Set([3, 4, 5])));
  }
  lines.push('');
  lines.push(`By data class: ${Object.entries(r.totals.byData).map(([c, v]) => `${c} ${v.items} items / ${v.subscribers} subscribers`).join(' · ')}`);
  const keys = Object.entries(r.totals.keyIds);
  lines.push(`By key id: ${keys.length === 0 ? 'none' : keys.map(([k, v]) => `${k} ${v.items} items / ${v.subscribers} subscribers`).join(' · ')}`);
  lines.push(`Tenants touched: ${r.totals.tenants.length === 0 ? 'none' : r.totals.tenants.join(', ')}`);
  lines.push('');
  lines.push(`Subscribers (${r.subscribers.length}):`);
  if (r.subscribers.length > 0) {
    const rows = [['PSEUDONYM', 'TENANTS', 'DATA', 'KEY IDS']];
    for (const s of r.subscribers) rows.push([s.pseudonym, s.tenants.map((t) => t ?? '-').join(','), s.data.join(','), s.keyIds.join(',')]);
    lines.push(...table(rows, new Set()).map((l) => `  ${l}`));
  }
  lines.push('');
  lines.push(`Erasures (audit trail): ${r.erasures.inWindow} in the window, ${r.erasures.since} since; erased subscribers are not named.`);
  if (r.rotations.length === 0) lines.push('Key rotations since the window opened: none.');
  else {
    lines.push('Key rotations since the window opened (what they moved was under the older key before):');
    for (const x of r.rotations) lines.push(`  ${x.at} by ${x.actor}${x.current === undefined ? '' : `, to ${x.current}`}${x.moved === undefined ? '' : `, ${x.moved} moved`}`);
  }
  return lines;
}
