/**
 * The figures of benchmark rounds: medians, ranges and ratios across rounds, as JSON lines
 * and as a table for people.
 */

/** One round's figures by name; the name carries the unit. */
export type Figures = Record<string, number>;

export interface Round {
  checkout: string;
  figures: Figures;
}

/** The value at quantile p (0…1) of xs: the element at ⌊p·n⌋ of the sorted values. */
export function quantile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

/** Median (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Rounds a figure for printing: more decimals the smaller it is. */
export function tidy(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(x);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return Number(x.toFixed(digits));
}

export function tidyAll(f: Figures): Figures {
  return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, tidy(v)]));
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number;
}

export interface SummaryRow {
  figure: string;
  /** By checkout label (`head`, `base`). */
  by: Record<string, Spread>;
  /** median(head) / median(base), when there is a base. */
  'head/base'?: number;
}

/** Per figure: each checkout's median and range over its rounds, and head/base. */
export function summarise(rounds: readonly Round[], labels: readonly string[]): SummaryRow[] {
  const names = [...new Set(rounds.flatMap((r) => Object.keys(r.figures)))];
  return names.map((figure) => {
    const by: Record<string, Spread> = {};
    for (const label of labels) {
      const xs = rounds.filter((r) => r.checkout === label).map((r) => r.figures[figure]).filter((x): x is number => x !== undefined && Number.isFinite(x));
      if (xs.length > 0) by[label] = { median: tidy(median(xs)), min: tidy(Math.min(...xs)), max: tidy(Math.max(...xs)), rounds: xs.length };
    }
    const head = by.head?.median;
    const base = by.base?.median;
    const row: SummaryRow = { figure, by };
    if (head !== undefined && base !== undefined && base !== 0) row['head/base'] = Number((head / base).toFixed(3));
    return row;
  });
}

/** The summary as an aligned text table. */
export function table(rows: readonly SummaryRow[], labels: readonly string[]): string {
  const cell = (s: Spread | undefined): string => (s === undefined ? '–' : s.rounds === 1 ? `${s.median}` : `${s.median} (${s.min}–${s.max})`);
  const header = ['figure', ...labels.map((l) => `${l} median (min–max)`), ...(labels.length > 1 ? ['head/base'] : [])];
  const body = rows.map((r) => [r.figure, ...labels.map((l) => cell(r.by[l])), ...(labels.length > 1 ? [r['head/base']?.toFixed(2) ?? '–'] : [])]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => (row[i] ?? '').length)));
  return [header, ...body].map((row) => row.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n');
}
