/**
 * Types of the route table: the file format (validated by config/routes.schema.json),
 * the compiled table, and one selection. Kept apart from table.ts so that the checks
 * and the table can both import them without an import cycle.
 */
import type { RouteProblem } from './schema.js';

export type MessageClass = 'transactional' | 'otp' | 'marketing';

export const MESSAGE_CLASSES: readonly MessageClass[] = Object.freeze(['transactional', 'otp', 'marketing']);

/** What routing needs to know about one message. */
export interface RouteInput {
  /** Destination, already normalised: '+923001234567'. */
  e164: string;
  tenant?: string;
  class: MessageClass;
  /** Source address (sender id) as the message gives it. */
  sender: string;
  /** Operator from the ported-number table, when the number was ported (mobile number portability). */
  portedOperator?: string;
}

/** The route table file, as written (config/routes.schema.json describes every key). */
export interface RoutesFile {
  version: 1;
  /** Operator id → E.164 digit prefixes without '+', e.g. { "jazz": ["92300", …], "zong": ["92310", …] }. */
  operators?: Record<string, string[]>;
  routes: Array<{
    id: string;
    /** For the people who maintain the table; ignored by Qasid. */
    description?: string;
    match?: { prefix?: string[]; operator?: string[]; tenant?: string[]; class?: MessageClass[]; sender?: string[] };
    /** Load-shared by weight (default 1). */
    carriers: Array<{ id: string; weight?: number }>;
    /** Tried in order after every `carriers` entry. */
    failover?: string[];
  }>;
}

/** One route as compiled: the file's route with defaults applied, deeply frozen. */
export interface CompiledRoute {
  readonly id: string;
  /** Position in the file; the tie-breaker between equally long prefixes. */
  readonly index: number;
  readonly match: {
    readonly prefix?: readonly string[];
    readonly operator?: readonly string[];
    readonly tenant?: readonly string[];
    readonly class?: readonly MessageClass[];
    readonly sender?: readonly string[];
  };
  readonly carriers: ReadonlyArray<{ readonly id: string; readonly weight: number }>;
  readonly failover: readonly string[];
}

/** A validated table, ready for selectRoute(). Only compileRoutes() makes one. */
export interface CompiledRoutes {
  readonly routes: readonly CompiledRoute[];
  readonly operators: Readonly<Record<string, readonly string[]>>;
  /**
   * Content hash (16 hex digits of SHA-256) of what routing does: it changes when any
   * route, operator, carrier, weight or order changes, not for whitespace, key order or
   * descriptions. Log it at load; compare it to skip a reload that changes nothing.
   */
  readonly version: string;
  /** Advice that does not make the table invalid, e.g. that no route is a catch-all. */
  readonly warnings: readonly RouteProblem[];
}

export type Selection =
  | {
      ok: true;
      routeId: string;
      /** The destination's operator (ported operator when given), when known. */
      operator?: string;
      /** Ordered candidates: weighted pick, the route's other carriers by weight (heaviest first, ties in listed order), then failover in order; never a duplicate. */
      carriers: string[];
    }
  | { ok: false; reason: 'no_route' };
