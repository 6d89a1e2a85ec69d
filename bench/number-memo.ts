/**
 * Scenario: number normalisation (routing/msisdn.ts) over many distinct subscribers —
 * the memo must stay fast once full. Normalises DISTINCT numbers (default 250,000) in
 * order, twice over, and prints µs per call for each quarter of the first pass (misses)
 * and for the second pass (hits, for the ones still remembered).
 *
 *   node --import tsx bench/number-memo.ts
 *   DISTINCT=500000 node --import tsx bench/number-memo.ts
 */
import { normaliseMsisdn } from '../src/routing/msisdn.js';

const DISTINCT = Number(process.env.DISTINCT ?? 250_000);
const numbers = Array.from({ length: DISTINCT }, (_, i) => `0300${String(1_000_000 + i).slice(-7)}`);

function pass(from: number, to: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = from; i < to; i++) normaliseMsisdn(numbers[i] as string, 'PK');
  return Number(process.hrtime.bigint() - t0) / 1000 / (to - from);
}

const q = DISTINCT / 4;
const quarters = [0, 1, 2, 3].map((k) => pass(k * q, (k + 1) * q));
const again = pass(0, DISTINCT);
console.log(
  JSON.stringify({
    scenario: `normaliseMsisdn over ${DISTINCT} distinct numbers`,
    'µs/call by quarter (misses)': quarters.map((x) => Math.round(x * 10) / 10),
    'second half / first half': Math.round(((quarters[2]! + quarters[3]!) / (quarters[0]! + quarters[1]!)) * 100) / 100,
    'µs/call second pass': Math.round(again * 10) / 10,
    node: process.version,
  }),
);
