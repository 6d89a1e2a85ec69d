/**
 * Cross-field rules of a route table that JSON Schema cannot say, run on a file that
 * already conforms to config/routes.schema.json. Each problem names its key path.
 */
import type { RouteProblem } from './schema.js';
import type { RoutesFile } from './types.js';

type Route = RoutesFile['routes'][number];
type Match = NonNullable<Route['match']>;

export function crossCheckProblems(file: RoutesFile, knownCarriers: readonly string[]): RouteProblem[] {
  const problems: RouteProblem[] = [];
  const known = new Set(knownCarriers);
  const knownList = knownCarriers.length === 0 ? 'none are configured' : `known: ${knownCarriers.join(', ')}`;
  const operators = file.operators ?? {};
  const operatorIds = Object.keys(operators);

  // A prefix owned by two operators would make a number's operator depend on file order.
  const ownerOf = new Map<string, string>();
  for (const [op, prefixes] of Object.entries(operators)) {
    prefixes.forEach((p, i) => {
      const owner = ownerOf.get(p);
      if (owner === undefined) ownerOf.set(p, op);
      else problems.push({ key: `operators.${op}[${i}]`, message: `prefix ${p} already belongs to operator '${owner}'` });
    });
  }

  const firstWithId = new Map<string, number>();
  file.routes.forEach((route, r) => {
    const at = `routes[${r}]`;
    const earlier = firstWithId.get(route.id);
    if (earlier === undefined) firstWithId.set(route.id, r);
    else problems.push({ key: `${at}.id`, message: `route id '${route.id}' is already used by routes[${earlier}]` });

    (route.match?.operator ?? []).forEach((op, i) => {
      if (!Object.hasOwn(operators, op)) {
        const defined = operatorIds.length === 0 ? 'no operators are defined' : `defined: ${operatorIds.join(', ')}`;
        problems.push({ key: `${at}.match.operator[${i}]`, message: `operator '${op}' is not defined under operators (${defined})` });
      }
    });

    const listedAt = new Map<string, string>();
    const entries: Array<[string, string]> = [
      ...route.carriers.map((c, i): [string, string] => [c.id, `${at}.carriers[${i}].id`]),
      ...(route.failover ?? []).map((id, i): [string, string] => [id, `${at}.failover[${i}]`]),
    ];
    for (const [id, key] of entries) {
      if (!known.has(id)) problems.push({ key, message: `unknown carrier '${id}' (${knownList})` });
      const first = listedAt.get(id);
      if (first === undefined) listedAt.set(id, key);
      else problems.push({ key, message: `carrier '${id}' is already listed in this route at ${first}` });
    }
  });

  problems.push(...shadowProblems(file.routes));
  return problems;
}

/**
 * A route that can never be selected is a mistake, typically a catch-all listed above
 * a more specific route without a prefix. Route `a` (earlier) shadows `b` when it
 * matches everything `b` matches with at least the same precedence: `a` holds every
 * prefix of `b` (or neither has prefixes) and each other criterion of `a` is absent
 * or a superset of `b`'s. Sufficient, not exhaustive: it never reports a route that
 * can be selected.
 */
function shadowProblems(routes: RoutesFile['routes']): RouteProblem[] {
  const problems: RouteProblem[] = [];
  routes.forEach((b, j) => {
    for (let i = 0; i < j; i++) {
      const a = routes[i];
      if (a !== undefined && shadows(a.match ?? {}, b.match ?? {})) {
        problems.push({
          key: `routes[${j}]`,
          message: `route '${b.id}' can never be selected: routes[${i}] ('${a.id}') comes first and matches every message it matches with at least as long a prefix; move it above routes[${i}] or narrow routes[${i}]`,
        });
        break;
      }
    }
  });
  return problems;
}

function shadows(a: Match, b: Match): boolean {
  const prefixesCovered = b.prefix === undefined ? a.prefix === undefined : a.prefix !== undefined && covers(a.prefix, b.prefix);
  return (
    prefixesCovered &&
    criterionCovers(a.operator, b.operator) &&
    criterionCovers(a.tenant, b.tenant) &&
    criterionCovers(a.class, b.class) &&
    criterionCovers(
      a.sender?.map((s) => s.toLowerCase()),
      b.sender?.map((s) => s.toLowerCase()),
    )
  );
}

/** An absent criterion admits everything; a present one admits exactly its entries. */
function criterionCovers(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined) return true;
  return b !== undefined && covers(a, b);
}

function covers(superset: readonly string[], subset: readonly string[]): boolean {
  return subset.every((x) => superset.includes(x));
}
