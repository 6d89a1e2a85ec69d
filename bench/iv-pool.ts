/**
 * Scenario: the cost of a 12-byte AES-GCM IV — randomBytes(12) per call against a slice of
 * a pooled buffer refilled with randomFillSync (what privacy/cipher.ts does).
 *
 *   node --import tsx bench/iv-pool.ts
 */
import { randomBytes, randomFillSync } from 'node:crypto';

const N = Number(process.env.CALLS ?? 1_000_000);
const perCall = (f: () => void): number => {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f();
  return Number(process.hrtime.bigint() - t0) / N;
};
const pool = Buffer.allocUnsafe(12 * 512);
let off = pool.length;
const sliced = (): void => {
  if (off + 12 > pool.length) {
    randomFillSync(pool);
    off = 0;
  }
  pool.subarray(off, (off += 12));
};
const rows = [];
for (let round = 0; round < 3; round++) rows.push({ 'randomBytes(12) ns': Math.round(perCall(() => randomBytes(12))), 'pooled slice ns': Math.round(perCall(sliced)) });
console.log(JSON.stringify({ scenario: `12-byte IVs, ${N} calls, 3 interleaved rounds`, rows, node: process.version }));
