/**
 * The route table: data compiled once, then one cheap selection per message.
 *
 * Matching. A route matches a message when every criterion it gives holds:
 * - prefix:   the destination's E.164 digits start with one of the listed prefixes;
 * - operator: the destination's operator is listed — the ported operator when the
 *             ported-number table knows the number, else the owner of the longest
 *             operator prefix. Operator routes therefore follow mobile number portability
 *             (Pakistan has MNP); prefix routes address number ranges and countries;
 * - tenant, class: the message's value is listed (exact); no tenant never matches;
 * - sender:   the message's sender is listed, ignoring case.
 * A route without criteria is a catch-all.
 *
 * Precedence. Among the matching routes the one with the LONGEST matching prefix wins;
 * a route without a prefix criterion counts as length 0. Ties go to the route listed
 * first in the file. So a catch-all belongs after the other prefix-less routes;
 * compileRoutes() rejects a route that an earlier one makes unreachable, and warns
 * when no catch-all exists (a message no route matches gets `no_route`).
 *
 * Carriers. The first candidate is picked at random in proportion to weight; the
 * route's other carriers follow by weight (heaviest first, ties in listed order), then
 * `failover` in order. compileRoutes() guarantees no carrier appears twice.
 *
 * Cost. compileRoutes() builds a digit trie whose nodes hold the precomputed operator
 * and best-first candidate routes (trie.ts); selectRoute() walks the destination's
 * digits once and scans the candidates, allocating only its result.
 */
import { createHash } from 'node:crypto';
import { QasidError } from '../core/errors.js';
import { crossCheckProblems } from './checks.js';
import { schemaProblems, type RouteProblem } from './schema.js';
import { buildTrie, deepest, type TrieNode } from './trie.js';
import type { CompiledRoute, CompiledRoutes, RouteInput, RoutesFile, Selection } from './types.js';

export type { CompiledRoute, CompiledRoutes, MessageClass, RouteInput, RoutesFile, Selection } from './types.js';
export { MESSAGE_CLASSES } from './types.js';
export type { RouteProblem } from './schema.js';

const CLASS_BITS: Readonly<Record<string, number>> = { transactional: 1, otp: 2, marketing: 4 };

/** A route in the shape selectRoute() reads: sets and sums instead of arrays to search. */
interface Matcher {
  readonly id: string;
  readonly operators: ReadonlySet<string> | undefined;
  readonly tenants: ReadonlySet<string> | undefined;
  /** OR of CLASS_BITS; 0 = any class. */
  readonly classBits: number;
  /** Lowercased. */
  readonly senders: readonly string[] | undefined;
  /** `carriers` in listed order with running weight sums, for the weighted pick. */
  readonly listed: readonly string[];
  readonly cumulative: readonly number[];
  readonly total: number;
  /** `carriers` by weight desc, ties in listed order. */
  readonly byWeight: readonly string[];
  readonly failover: readonly string[];
}

interface Internals {
  readonly root: TrieNode;
  readonly matchers: readonly Matcher[];
}

/** The compiled index behind each table; a WeakMap keeps it off the public object. */
const INTERNALS = new WeakMap<CompiledRoutes, Internals>();

const NO_ROUTE: Selection = Object.freeze({ ok: false, reason: 'no_route' });

export interface CompileOptions {
  /** Where the table came from (a file path), named in the error message. */
  file?: string;
}

/**
 * Validates a route table (schema, then cross-field rules) and compiles it.
 * Throws QasidError CONFIG_INVALID listing every problem by key path
 * (`routes[2].carriers[0].id`), with `details.key` (the first) and `details.problems`.
 */
export function compileRoutes(file: unknown, knownCarriers: readonly string[], options: CompileOptions = {}): CompiledRoutes {
  const schema = schemaProblems(file);
  if (schema.length > 0) throw invalid(schema, options.file);
  const data = file as RoutesFile;
  const cross = crossCheckProblems(data, knownCarriers);
  if (cross.length > 0) throw invalid(cross, options.file);

  const routes = data.routes.map((r, index) => compileRoute(r, index));
  const operators = Object.fromEntries(Object.entries(data.operators ?? {}).map(([op, prefixes]) => [op, Object.freeze([...prefixes])]));
  const root = buildTrie({
    operators: Object.entries(operators),
    routePrefixes: routes.map((r) => r.match.prefix),
  });
  const warnings: RouteProblem[] = [];
  if (!routes.some((r) => Object.keys(r.match).length === 0)) {
    warnings.push({ key: 'routes', message: 'no catch-all route (one without criteria): a message that matches no route fails with no_route' });
  }
  const table: CompiledRoutes = Object.freeze({
    routes: Object.freeze(routes),
    operators: Object.freeze(operators),
    version: contentHash(routes, operators),
    warnings: Object.freeze(warnings.map((w) => Object.freeze(w))),
  });
  INTERNALS.set(table, { root, matchers: routes.map(matcher) });
  return table;
}

function invalid(problems: readonly RouteProblem[], file: string | undefined): QasidError {
  const where = file === undefined ? '' : ` (${file})`;
  const lines = problems.map((p) => `  ${p.key}: ${p.message}`);
  return new QasidError('CONFIG_INVALID', `route table is invalid${where}:\n${lines.join('\n')}`, {
    key: problems[0]?.key,
    ...(file === undefined ? {} : { file }),
    problems: problems.map((p) => ({ key: p.key, message: p.message, code: 'CONFIG_INVALID' })),
  });
}

function compileRoute(r: RoutesFile['routes'][number], index: number): CompiledRoute {
  const m = r.match ?? {};
  const match: Record<string, readonly string[]> = {};
  for (const k of ['prefix', 'operator', 'tenant', 'class', 'sender'] as const) {
    const list = m[k];
    if (list !== undefined) match[k] = Object.freeze([...list]);
  }
  return Object.freeze({
    id: r.id,
    index,
    match: Object.freeze(match) as CompiledRoute['match'],
    carriers: Object.freeze(r.carriers.map((c) => Object.freeze({ id: c.id, weight: c.weight ?? 1 }))),
    failover: Object.freeze([...(r.failover ?? [])]),
  });
}

function matcher(r: CompiledRoute): Matcher {
  const cumulative: number[] = [];
  let total = 0;
  for (const c of r.carriers) cumulative.push((total += c.weight));
  const byWeight = r.carriers
    .map((c, i) => ({ c, i }))
    .sort((a, b) => b.c.weight - a.c.weight || a.i - b.i)
    .map(({ c }) => c.id);
  return {
    id: r.id,
    operators: r.match.operator === undefined ? undefined : new Set(r.match.operator),
    tenants: r.match.tenant === undefined ? undefined : new Set(r.match.tenant),
    classBits: (r.match.class ?? []).reduce((bits, c) => bits | (CLASS_BITS[c] ?? 0), 0),
    senders: r.match.sender === undefined ? undefined : [...new Set(r.match.sender.map((s) => s.toLowerCase()))],
    listed: r.carriers.map((c) => c.id),
    cumulative,
    total,
    byWeight,
    failover: r.failover,
  };
}

/** Hash of what routing does, in a canonical form: match lists and operators sorted. */
function contentHash(routes: readonly CompiledRoute[], operators: Readonly<Record<string, readonly string[]>>): string {
  const sorted = (xs: readonly string[] | undefined): string[] | null => (xs === undefined ? null : [...xs].sort());
  const canonical = {
    operators: Object.keys(operators)
      .sort()
      .map((op) => [op, sorted(operators[op])]),
    routes: routes.map((r) => [
      r.id,
      sorted(r.match.prefix),
      sorted(r.match.operator),
      sorted(r.match.tenant),
      sorted(r.match.class),
      sorted(r.match.sender?.map((s) => s.toLowerCase())),
      r.carriers.map((c) => [c.id, c.weight]),
      r.failover,
    ]),
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 16);
}

function internals(table: CompiledRoutes): Internals {
  const ix = INTERNALS.get(table);
  if (ix === undefined) throw new TypeError('not a compiled route table: pass the object compileRoutes() returned');
  return ix;
}

/** The destination's operator: the ported operator when given, else the owner of the longest operator prefix. */
export function operatorOf(table: CompiledRoutes, e164: string, portedOperator?: string): string | undefined {
  if (portedOperator !== undefined && portedOperator !== '') return portedOperator;
  return deepest(internals(table).root, e164).operator;
}

/**
 * Selects the route for one message and orders its carriers. `random` (default
 * Math.random, values in [0, 1)) makes the weighted pick deterministic in tests; it is
 * called once per selection, and not at all when the route has a single carrier.
 */
export function selectRoute(table: CompiledRoutes, input: RouteInput, random: () => number = Math.random): Selection {
  const ix = internals(table);
  const at = deepest(ix.root, input.e164);
  const operator = input.portedOperator !== undefined && input.portedOperator !== '' ? input.portedOperator : at.operator;
  const classBit = CLASS_BITS[input.class] ?? 0;
  const candidates = at.candidates;
  for (let i = 0; i < candidates.length; i++) {
    const m = ix.matchers[candidates[i] as number] as Matcher;
    if (m.operators !== undefined && (operator === undefined || !m.operators.has(operator))) continue;
    if (m.tenants !== undefined && (input.tenant === undefined || !m.tenants.has(input.tenant))) continue;
    if (m.classBits !== 0 && (m.classBits & classBit) === 0) continue;
    if (m.senders !== undefined && !senderListed(m.senders, input.sender)) continue;
    const carriers = order(m, random);
    return operator === undefined ? { ok: true, routeId: m.id, carriers } : { ok: true, routeId: m.id, operator, carriers };
  }
  return NO_ROUTE;
}

function order(m: Matcher, random: () => number): string[] {
  const n = m.listed.length;
  const out = new Array<string>(n + m.failover.length);
  let picked = m.listed[0] as string;
  if (n > 1) {
    const r = random() * m.total;
    let k = 0;
    while (k < n - 1 && r >= (m.cumulative[k] as number)) k++;
    picked = m.listed[k] as string;
  }
  out[0] = picked;
  let j = 1;
  for (const id of m.byWeight) if (id !== picked) out[j++] = id;
  for (const id of m.failover) out[j++] = id;
  return out;
}

/** Case-insensitive membership without allocating for ASCII senders (all GSM ones). */
function senderListed(lowered: readonly string[], sender: string): boolean {
  for (const s of lowered) if (equalsLowered(sender, s)) return true;
  return false;
}

function equalsLowered(input: string, lower: string): boolean {
  if (input.length === lower.length) {
    let i = 0;
    for (; i < input.length; i++) {
      const a = input.charCodeAt(i);
      const b = lower.charCodeAt(i);
      if (a === b || (a >= 65 && a <= 90 && a + 32 === b)) continue;
      if (a < 128) return false;
      break;
    }
    if (i === input.length) return true;
  }
  // Rare: non-ASCII letters, whose lowercase may differ in length; fold the slow way.
  return !isAscii(input) && input.toLowerCase() === lower;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 128) return false;
  return true;
}
