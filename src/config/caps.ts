/**
 * Frequency caps and the do-not-contact classes in the configuration: the formats that
 * check them, and the reading of the older single-window form.
 *
 * A class's caps are a list of sliding windows, each `{ limit, windowSec }`: a message
 * that would make any window hold more than its limit ends blocked frequency_cap
 * (`policy.caps.<class>`, and per tenant `policy.tenants[].caps.<class>`, counting only
 * that tenant's messages). Versions before this one took one window per class,
 * `{ "limit": N, "windowSec": S }` (limit 0 = no cap), and the env vars
 * QASID_CAP_<CLASS> / QASID_CAP_<CLASS>_WINDOW_SEC; both are still read, as the list of
 * that one window (or none for limit 0), before convict sees the config.
 */
import { problem, type ConfigProblem } from './problems.js';

/** The policy classes, as the config names them. */
export const POLICY_CLASSES = ['marketing', 'otp', 'transactional'] as const;
export type PolicyClass = (typeof POLICY_CLASSES)[number];

export interface CapWindow {
  /** Most messages in the window. */
  limit: number;
  /** The window's length, in seconds. */
  windowSec: number;
}

/** Most windows one class (or one tenant's class) may have. */
export const MAX_CAP_WINDOWS = 8;
export const MAX_CAP_LIMIT = 1_000_000;
/** 30 days: a cap key lives as long as its longest window. */
export const MAX_CAP_WINDOW_SEC = 2_592_000;

/** What the single-window form meant when a key was left out (the defaults of that form). */
const LEGACY_DEFAULTS: Readonly<Record<PolicyClass, CapWindow>> = {
  marketing: { limit: 3, windowSec: 86_400 },
  otp: { limit: 5, windowSec: 600 },
  transactional: { limit: 0, windowSec: 3_600 },
};

/** The defaults of policy.caps (the same caps the single-window defaults gave). */
export const DEFAULT_CAPS: Readonly<Record<PolicyClass, CapWindow[]>> = {
  marketing: [{ limit: 3, windowSec: 86_400 }],
  otp: [{ limit: 5, windowSec: 600 }],
  transactional: [],
};

/** Why `v` is not a list of cap windows, or undefined when it is one. */
export function capWindowsProblem(v: unknown): string | undefined {
  if (!Array.isArray(v)) return 'must be a list of windows [{ "limit": N, "windowSec": S }, …] (or one window { "limit", "windowSec" })';
  if (v.length > MAX_CAP_WINDOWS) return `must have at most ${MAX_CAP_WINDOWS} windows`;
  const seen = new Set<number>();
  for (const [i, w] of v.entries()) {
    if (typeof w !== 'object' || w === null || Array.isArray(w)) return `[${i}] must be { "limit": N, "windowSec": S }`;
    const o = w as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => k !== 'limit' && k !== 'windowSec');
    if (extra.length > 0) return `[${i}] has unknown key ${extra[0] as string}`;
    if (!isInt(o.limit, 1, MAX_CAP_LIMIT)) return `[${i}].limit must be an integer from 1 to ${MAX_CAP_LIMIT} (leave the window out for no cap)`;
    if (!isInt(o.windowSec, 1, MAX_CAP_WINDOW_SEC)) return `[${i}].windowSec must be an integer from 1 to ${MAX_CAP_WINDOW_SEC} (seconds)`;
    if (seen.has(o.windowSec)) return `[${i}].windowSec ${o.windowSec} is listed twice`;
    seen.add(o.windowSec);
  }
  return undefined;
}

/** A convict format for policy.caps.<class>. */
export function capWindows(v: unknown): void {
  const why = capWindowsProblem(v);
  if (why !== undefined) throw new Error(why);
}

/** Why `v` is not a tenant's caps ({ <class>: windows }), or undefined. */
export function tenantCapsProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `must be { ${POLICY_CLASSES.map((c) => `"${c}": [windows]`).join(', ')} } (any of them)`;
  for (const [cls, windows] of Object.entries(v)) {
    if (!(POLICY_CLASSES as readonly string[]).includes(cls)) return `has unknown class ${cls} (classes: ${POLICY_CLASSES.join(', ')})`;
    const why = capWindowsProblem(windows);
    if (why !== undefined) return `.${cls}${why.startsWith('[') ? '' : ' '}${why}`;
  }
  return undefined;
}

/** A convict format for policy.dnc.classes: distinct class names. */
export function dncClasses(v: unknown): void {
  if (!Array.isArray(v) || !v.every((c) => typeof c === 'string' && (POLICY_CLASSES as readonly string[]).includes(c))) {
    throw new Error(`must be a list of classes (${POLICY_CLASSES.join(', ')})`);
  }
  if (new Set(v).size !== v.length) throw new Error('lists a class twice');
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/**
 * The single-window form `{ limit, windowSec }` (either key may be left out: the form's
 * default fills it) as the list it stands for; any other value as it is, for the format
 * to judge. `problems` gets unknown keys, keyed by `key`.
 */
function windowsOf(value: unknown, cls: PolicyClass, key: string, where: string, problems: ConfigProblem[]): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const o = value as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => k !== 'limit' && k !== 'windowSec');
  if (extra.length > 0) {
    problems.push(problem(key, `has unknown key ${extra[0] as string}: give a list of windows [{ "limit", "windowSec" }, …] or one window { "limit", "windowSec" }${where}`));
    return DEFAULT_CAPS[cls];
  }
  const limit = o.limit ?? LEGACY_DEFAULTS[cls].limit;
  const windowSec = o.windowSec ?? LEGACY_DEFAULTS[cls].windowSec;
  return limit === 0 ? [] : [{ limit, windowSec }];
}

/**
 * Rewrites, in place, every single-window cap in a config file's data (or overrides) —
 * `policy.caps.<class>` and `policy.tenants[].caps.<class>` — as its list. Returns the
 * problems it found (unknown keys in such an object).
 */
export function migrateCaps(data: Record<string, unknown>, where = ''): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const policy = data.policy;
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) return problems;
  const p = policy as Record<string, unknown>;
  const rewrite = (caps: unknown, key: string): void => {
    if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) return;
    const c = caps as Record<string, unknown>;
    for (const cls of POLICY_CLASSES) if (c[cls] !== undefined) c[cls] = windowsOf(c[cls], cls, `${key}.${cls}`, where, problems);
  };
  rewrite(p.caps, 'policy.caps');
  if (Array.isArray(p.tenants)) p.tenants.forEach((t: unknown, i) => typeof t === 'object' && t !== null && rewrite((t as Record<string, unknown>).caps, `policy.tenants[${i}].caps`));
  return problems;
}

/** The env var of policy.caps.<class> (JSON list of windows). */
export function capsEnv(cls: PolicyClass): string {
  return `QASID_CAPS_${cls.toUpperCase()}`;
}

/**
 * The older env vars QASID_CAP_<CLASS> (limit) and QASID_CAP_<CLASS>_WINDOW_SEC, as the
 * JSON list QASID_CAPS_<CLASS> takes. Returns the env with those translated (the older
 * vars removed), and the problems: a value that is not an integer, or both forms at once.
 */
export function migrateCapsEnv(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  let out: NodeJS.ProcessEnv | undefined;
  for (const cls of POLICY_CLASSES) {
    const limitVar = `QASID_CAP_${cls.toUpperCase()}`;
    const windowVar = `${limitVar}_WINDOW_SEC`;
    const limitText = env[limitVar];
    const windowText = env[windowVar];
    if (limitText === undefined && windowText === undefined) continue;
    out ??= { ...env };
    delete out[limitVar];
    delete out[windowVar];
    const key = `policy.caps.${cls}`;
    if (env[capsEnv(cls)] !== undefined) {
      problems.push(problem(key, `set ${capsEnv(cls)} (a list of windows) or the older ${limitVar} / ${windowVar}, not both`));
      continue;
    }
    const int = (name: string, text: string | undefined, fallback: number): number | undefined => {
      if (text === undefined) return fallback;
      if (/^\d+$/.test(text.trim())) return Number(text.trim());
      problems.push(problem(key, `must be an integer (from env ${name})`));
      return undefined;
    };
    const limit = int(limitVar, limitText, LEGACY_DEFAULTS[cls].limit);
    const windowSec = int(windowVar, windowText, LEGACY_DEFAULTS[cls].windowSec);
    if (limit === undefined || windowSec === undefined) continue;
    out[capsEnv(cls)] = JSON.stringify(limit === 0 ? [] : [{ limit, windowSec }]);
  }
  return { env: out ?? env, problems };
}
