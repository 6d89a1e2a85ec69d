/**
 * MO routing (pure): which stream an MO goes to, by its destination (a short code or long
 * number, exactly or by prefix) and its keyword (the text's first word, case-insensitive).
 * Rules are tried in order and the first that matches wins; an MO no rule matches goes to
 * the default stream. The rules were validated with the config (config/schema.ts
 * moRoutesFormat), so compiling cannot fail.
 */
import type { MoRoute } from '../config/types.js';

interface CompiledRule {
  stream: string;
  /** Destination digits, without a leading '+'. */
  to?: string;
  prefix: boolean;
  /** Lower case. */
  keyword?: string;
}

export interface MoRouter {
  /** The routed stream's name, or undefined for the default stream. */
  streamOf(to: string, text: string): string | undefined;
  /** Every stream name a rule names, once each. */
  readonly streams: readonly string[];
}

const EDGE_PUNCTUATION = /^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu;

/** The text's first word, lower case, without punctuation around it ("Join!" → "join"). */
export function firstWord(text: string): string {
  const word = text.trim().split(/\s+/u)[0] ?? '';
  return word.replace(EDGE_PUNCTUATION, '').toLowerCase();
}

function digits(addr: string): string {
  return addr.trim().replace(/^\+/, '');
}

export function compileMoRoutes(rules: readonly MoRoute[]): MoRouter {
  const compiled: CompiledRule[] = rules.map((r) => {
    const c: CompiledRule = { stream: r.stream, prefix: false };
    if (r.to !== undefined) {
      c.prefix = r.to.endsWith('*');
      c.to = digits(c.prefix ? r.to.slice(0, -1) : r.to);
    }
    if (r.keyword !== undefined) c.keyword = r.keyword.toLowerCase();
    return c;
  });
  const streams = [...new Set(compiled.map((c) => c.stream))];
  return {
    streams,
    streamOf(to: string, text: string): string | undefined {
      if (compiled.length === 0) return undefined;
      const dest = digits(to);
      let word: string | undefined;
      for (const c of compiled) {
        if (c.to !== undefined && (c.prefix ? !dest.startsWith(c.to) : dest !== c.to)) continue;
        if (c.keyword !== undefined && (word ??= firstWord(text)) !== c.keyword) continue;
        return c.stream;
      }
      return undefined;
    },
  };
}
