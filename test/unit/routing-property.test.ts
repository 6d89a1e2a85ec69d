// Property tests: the trie-based selectRoute agrees with a naive reading of the rules
// (scan every route, keep the longest matching prefix, first wins on ties) on random
// tables and messages; maskMsisdn never shows more than it should.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isQasidError } from '../../src/core/errors.js';
import { compileRoutes, maskMsisdn, selectRoute, type CompiledRoutes, type MessageClass, type RouteInput, type RoutesFile } from '../../src/routing/index.js';

type Route = RoutesFile['routes'][number];
const CARRIERS = ['a', 'b', 'c', 'd', 'e'];
const CLASSES: MessageClass[] = ['transactional', 'otp', 'marketing'];

// A small digit alphabet so that prefixes overlap and nest often.
const digits = (min: number, max: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom('1', '2', '9'), minLength: min, maxLength: max });
const optionalList = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T[] | undefined> =>
  fc.option(fc.uniqueArray(arb, { minLength: 1, maxLength: 3 }), { nil: undefined });

const operatorsArb = fc
  .record({ o1: fc.uniqueArray(digits(1, 4), { minLength: 1, maxLength: 3 }), o2: fc.uniqueArray(digits(1, 4), { minLength: 1, maxLength: 3 }) })
  // A prefix belongs to one operator; '99999' is longer than any generated prefix.
  .map(({ o1, o2 }): Record<string, string[]> => ({ o1, o2: o2.some((p) => !o1.includes(p)) ? o2.filter((p) => !o1.includes(p)) : ['99999'] }));

const routeArb = fc.record({
  match: fc.record({
    prefix: optionalList(digits(1, 4)),
    operator: optionalList(fc.constantFrom('o1', 'o2')),
    tenant: optionalList(fc.constantFrom('t1', 't2')),
    class: optionalList(fc.constantFrom(...CLASSES)),
    sender: optionalList(fc.constantFrom('BANK', 'Shop')),
  }),
  carriers: fc.shuffledSubarray(CARRIERS, { minLength: 1 }),
  weights: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 5, maxLength: 5 }),
  failovers: fc.nat(3),
});

const fileArb = fc.record({ operators: operatorsArb, routes: fc.array(routeArb, { minLength: 1, maxLength: 8 }) }).map(({ operators, routes }): RoutesFile => ({
  version: 1,
  operators,
  routes: routes.map((r, i): Route => {
    const match = Object.fromEntries(Object.entries(r.match).filter(([, v]) => v !== undefined)) as Route['match'];
    const split = Math.max(1, r.carriers.length - r.failovers);
    return {
      id: `r${i}`,
      match,
      carriers: r.carriers.slice(0, split).map((id, k) => ({ id, weight: r.weights[k] ?? 1 })),
      failover: r.carriers.slice(split),
    };
  }),
}));

const inputArb = fc.record({
  e164: digits(0, 6).map((d) => `+${d}`),
  tenant: fc.option(fc.constantFrom('t1', 't2', 't3'), { nil: undefined }),
  class: fc.constantFrom(...CLASSES),
  sender: fc.constantFrom('BANK', 'bank', 'SHOP', 'Other'),
  portedOperator: fc.option(fc.constantFrom('o1', 'o2', 'ox'), { nil: undefined }),
});

/** Compiles, dropping the routes reported unreachable until the table is accepted. */
function compilePruned(file: RoutesFile): { file: RoutesFile; table: CompiledRoutes } {
  for (;;) {
    try {
      return { file, table: compileRoutes(file, CARRIERS) };
    } catch (e) {
      assert.ok(isQasidError(e, 'CONFIG_INVALID'));
      const problems = e.details['problems'] as Array<{ key: string }>;
      const drop = new Set(problems.map((p) => /^routes\[(\d+)\]$/.exec(p.key)?.[1]).map(Number));
      assert.ok(!drop.has(NaN), `generated an invalid table: ${e.message}`);
      file = { ...file, routes: file.routes.filter((_, i) => !drop.has(i)) };
    }
  }
}

function referenceOperator(file: RoutesFile, digitsOnly: string, ported: string | undefined): string | undefined {
  if (ported !== undefined) return ported;
  let best: string | undefined;
  let bestLen = 0;
  for (const [op, prefixes] of Object.entries(file.operators ?? {})) {
    for (const p of prefixes) if (digitsOnly.startsWith(p) && p.length > bestLen) [best, bestLen] = [op, p.length];
  }
  return best;
}

function referenceSelect(file: RoutesFile, input: RouteInput, r: number): { routeId: string; operator: string | undefined; carriers: string[] } | undefined {
  const d = input.e164.slice(1);
  const operator = referenceOperator(file, d, input.portedOperator);
  let best: Route | undefined;
  let bestLen = -1;
  for (const route of file.routes) {
    const m = route.match ?? {};
    let len = 0;
    if (m.prefix !== undefined) {
      const lens = m.prefix.filter((p) => d.startsWith(p)).map((p) => p.length);
      if (lens.length === 0) continue;
      len = Math.max(...lens);
    }
    if (m.operator !== undefined && (operator === undefined || !m.operator.includes(operator))) continue;
    if (m.tenant !== undefined && (input.tenant === undefined || !m.tenant.includes(input.tenant))) continue;
    if (m.class !== undefined && !m.class.includes(input.class)) continue;
    if (m.sender !== undefined && !m.sender.some((s) => s.toLowerCase() === input.sender.toLowerCase())) continue;
    if (len > bestLen) [best, bestLen] = [route, len];
  }
  if (best === undefined) return undefined;
  const weights = best.carriers.map((c) => c.weight ?? 1);
  const total = weights.reduce((a, b) => a + b, 0);
  let k = 0;
  for (let acc = weights[0] ?? 0; k < weights.length - 1 && r * total >= acc; acc += weights[++k] ?? 0);
  const picked = best.carriers[k]?.id as string;
  const rest = best.carriers
    .map((c, i) => ({ id: c.id, w: c.weight ?? 1, i }))
    .sort((x, y) => y.w - x.w || x.i - y.i)
    .map((c) => c.id)
    .filter((id) => id !== picked);
  return { routeId: best.id, operator, carriers: [picked, ...rest, ...(best.failover ?? [])] };
}

test('selectRoute agrees with a naive scan of every route', () => {
  fc.assert(
    fc.property(fileArb, fc.array(inputArb, { minLength: 1, maxLength: 20 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (generated, inputs, r) => {
      const { file, table } = compilePruned(generated);
      for (const input of inputs) {
        const expected = referenceSelect(file, input, r);
        const actual = selectRoute(table, input, () => r);
        if (expected === undefined) {
          assert.deepEqual(actual, { ok: false, reason: 'no_route' });
        } else {
          assert.ok(actual.ok, JSON.stringify({ input, expected }));
          assert.equal(actual.routeId, expected.routeId, JSON.stringify(input));
          assert.equal(actual.operator, expected.operator);
          assert.deepEqual(actual.carriers, expected.carriers);
          assert.equal(new Set(actual.carriers).size, actual.carriers.length);
        }
      }
    }),
    { numRuns: 500 },
  );
});

test('the routes rejected as unreachable never win: dropping them changes no outcome', () => {
  // Soundness of the unreachable-route check, judged by the naive reading of the rules.
  fc.assert(
    fc.property(fileArb, fc.array(inputArb, { minLength: 1, maxLength: 30 }), (generated, inputs) => {
      const { file } = compilePruned(generated);
      for (const input of inputs) {
        assert.equal(referenceSelect(file, input, 0)?.routeId, referenceSelect(generated, input, 0)?.routeId, JSON.stringify(input));
      }
    }),
    { numRuns: 500 },
  );
});

test('masking keeps the length and hides at least min(4, national digits)', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), minLength: 1, maxLength: 15 }), (d) => {
      const masked = maskMsisdn(`+${d}`);
      assert.equal(masked.length, d.length + 1);
      assert.match(masked, /^\+\d*\**\d*$/);
      const hidden = (masked.match(/\*/g) ?? []).length;
      assert.ok(hidden >= Math.min(4, Math.max(0, d.length - 3)), masked);
      const shown = masked.replace(/[+*]/g, '');
      assert.ok(shown.length <= Math.max(0, d.length - 4) || hidden === d.length - shown.length);
    }),
  );
});
