/**
 * Walking a Redis stream in pages, and reading the flat field/value arrays its entries
 * come as. Used by the sweeps that read whole streams (erasure, key rotation, audit).
 */
import type { Redis } from 'ioredis';

export type StreamRow = [id: string, fields: string[]];

/** The milliseconds part of a stream id ('1712345678901-0' → 1712345678901). */
export function streamIdMs(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}

/**
 * Every entry of `key` from `start` up to `end` (inclusive; '+' = the newest), `count` at
 * a time, in id order. Entries added behind the cursor while walking are seen as well,
 * unless `end` stops short of them.
 */
export async function* streamPages(redis: Redis, key: string, count: number, end = '+', start = '-'): AsyncGenerator<StreamRow[]> {
  let from = start;
  for (;;) {
    const rows = (await redis.xrange(key, from, end, 'COUNT', count)) as StreamRow[];
    if (rows.length > 0) yield rows;
    const last = rows[rows.length - 1];
    if (rows.length < count || last === undefined || last[0] === end) return;
    from = `(${last[0]}`;
  }
}

/** The value of `name` in a flat [field, value, …] array. */
export function fieldOf(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === name) return flat[i + 1];
  return undefined;
}

/** A flat [field, value, …] array as an object. */
export function fieldsOf(flat: readonly string[]): Record<string, string> {
  const r: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) r[flat[i] as string] = flat[i + 1] as string;
  return r;
}
