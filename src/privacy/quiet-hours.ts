/**
 * Marketing quiet hours: a daily window [start, end) of local wall-clock time in an IANA
 * time zone during which marketing messages are held back. `compileQuietHours` validates a
 * window once; `quietUntil(now)` then says whether `now` is quiet and, if so, the epoch ms at
 * which the window next opens. Pure: no I/O, no dependencies, only `Intl.DateTimeFormat`.
 *
 * Semantics (all by the local wall clock, so DST is handled the way people read clocks):
 * - "HH:MM" is strict 24-hour with two-digit hours, 00:00 to 23:59; "9:00" and "24:00" are
 *   rejected, as in the config schema. start > end wraps midnight (21:00-09:00); start ===
 *   end means no quiet hours at all.
 * - An instant is quiet when its local time of day t satisfies start <= t < end (or, when
 *   wrapping, t >= start || t < end): the start instant is quiet, the end instant is open.
 * - The opening is the first instant after `now` at which the local clock is outside the
 *   window: normally the real instant at which it reads `end` (for a repeated fall-back time,
 *   its first occurrence after `now`). If `end` is skipped by a spring-forward, it is the
 *   transition instant (the first instant after the missing time). If a fall-back sets the
 *   clock back to before `start` (a window starting inside the repeated hour), it is that
 *   transition instant, and the window closes again when the clock reads `start` once more.
 *   So for a quiet `now`, every instant in [now, quietUntil(now)) is quiet and quietUntil(now)
 *   itself is open.
 *
 * Speed: UTC offsets are read with `formatToParts` (a few µs each) on one cached
 * `Intl.DateTimeFormat` per zone, and only when `now` leaves the last computed run of equal
 * answers, which each compiled window caches as [from, to). Every other call is two number
 * comparisons and allocates nothing; a window recomputes about twice a day. Offset changes are
 * located by probing every PROBE_MS and bisecting to the millisecond, which assumes a zone
 * never changes its offset twice within PROBE_MS (true of every real zone). Offsets come from
 * the weekday and time of day only, so calendar quirks in old dates cannot skew them.
 */

/** "HH:MM" 24-hour local times and an IANA zone, e.g. { start: '21:00', end: '09:00', timeZone: 'Asia/Karachi' }. */
export interface QuietHours {
  start: string;
  end: string;
  timeZone: string;
}

/** A validated window; make one with compileQuietHours and reuse it (it caches its last answer). */
export interface CompiledQuietHours {
  readonly start: string;
  readonly end: string;
  /** The zone's canonical IANA name as Intl resolved it, e.g. 'asia/karachi' becomes 'Asia/Karachi'. */
  readonly timeZone: string;
  /** start and end as minutes after local midnight. */
  readonly startMinute: number;
  readonly endMinute: number;
  /** false when start === end: never quiet. */
  readonly active: boolean;
}

const SECOND_MS = 1000;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Largest |epoch ms| a Date can hold. */
const MAX_TIME_MS = 8.64e15;
/** Offset probes are this far apart. */
const PROBE_MS = 3 * 3_600_000;
/** Offset changes followed in one scan; real zones need at most one or two within a day. */
const MAX_STEPS = 8;
const HHMM = /^([01][0-9]|2[0-3]):([0-5][0-9])$/;
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** One formatter per canonical zone, shared by every compiled window. */
const formatters = new Map<string, Intl.DateTimeFormat>();

class Compiled implements CompiledQuietHours {
  readonly startMinute: number;
  readonly endMinute: number;
  readonly active: boolean;
  readonly startMs: number;
  readonly endMs: number;
  readonly wraps: boolean;
  /** Cache: quietUntil(t) === value for every t in [from, to). */
  from: number;
  to: number;
  value: number | undefined = undefined;

  constructor(
    readonly start: string,
    readonly end: string,
    readonly timeZone: string,
    readonly dtf: Intl.DateTimeFormat,
  ) {
    this.startMinute = minutes(start);
    this.endMinute = minutes(end);
    this.active = this.startMinute !== this.endMinute;
    this.startMs = this.startMinute * MINUTE_MS;
    this.endMs = this.endMinute * MINUTE_MS;
    this.wraps = this.startMinute > this.endMinute;
    // An inactive window is open at every instant; an active one starts with an empty cache.
    this.from = this.active ? 0 : -MAX_TIME_MS;
    this.to = this.active ? 0 : MAX_TIME_MS + 1;
  }

  /** Whether a local wall-clock time (epoch ms read as if UTC) falls inside the window. */
  inWindow(localMs: number): boolean {
    const t = mod(localMs, DAY_MS);
    return this.wraps ? t >= this.startMs || t < this.endMs : t >= this.startMs && t < this.endMs;
  }
}

/**
 * Validates and compiles a quiet-hours window. Throws TypeError/RangeError (both Errors) whose
 * message names the bad field: `start`/`end` not strict "HH:MM" (00:00-23:59, two-digit hour),
 * or `timeZone` not a zone this Node.js knows.
 */
export function compileQuietHours(q: QuietHours): CompiledQuietHours {
  if (typeof q !== 'object' || q === null) throw new TypeError('quiet hours: expected an object { start, end, timeZone }');
  for (const field of ['start', 'end'] as const) {
    const v: unknown = q[field];
    if (typeof v !== 'string' || !HHMM.test(v)) {
      throw new RangeError(`quiet hours ${field}: expected a local time "HH:MM" from 00:00 to 23:59 with a two-digit hour, got ${describe(v)}`);
    }
  }
  const zone: unknown = q.timeZone;
  if (typeof zone !== 'string' || zone === '') throw new TypeError(`quiet hours timeZone: expected an IANA time zone name, got ${describe(zone)}`);
  let timeZone: string;
  try {
    timeZone = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    throw new RangeError(`quiet hours timeZone: unknown time zone ${describe(zone)}`);
  }
  let dtf = formatters.get(timeZone);
  if (dtf === undefined) {
    dtf = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(timeZone, dtf);
  }
  return new Compiled(q.start, q.end, timeZone, dtf);
}

/**
 * undefined when `nowMs` is outside the quiet window; otherwise the epoch ms at which it next
 * opens (normally the next instant the local clock reads `end`; see the file header for DST).
 * Fractional ms are truncated down. Throws RangeError for a non-finite or out-of-Date-range time.
 */
export function quietUntil(nowMs: number, q: CompiledQuietHours): number | undefined {
  const c = q as Compiled;
  // Hot path. A foreign object or NaN fails these comparisons and is rejected by refresh.
  if (nowMs >= c.from && nowMs < c.to) return c.value;
  return refresh(q, nowMs);
}

function refresh(q: CompiledQuietHours, nowMs: number): number | undefined {
  if (!(q instanceof Compiled)) throw new TypeError('quietUntil: expected a window made by compileQuietHours()');
  if (!(Math.abs(nowMs) <= MAX_TIME_MS)) throw new RangeError(`quietUntil: nowMs must be epoch milliseconds within the Date range, got ${nowMs}`);
  if (!q.active) return undefined;
  const now = Math.floor(nowMs);
  const offset = offsetAt(q.dtf, now);
  const quiet = q.inWindow(now + offset);
  // from/to are whole ms, so a fractional nowMs is inside [from, to) exactly when its floor is.
  q.from = runStart(q, now, offset, quiet);
  q.to = runEnd(q, now, offset, quiet);
  q.value = quiet ? q.to : undefined;
  return q.value;
}

/** First instant after p (offset o there, state `quiet`) at which the window state differs. */
function runEnd(q: Compiled, p: number, o: number, quiet: boolean): number {
  const target = quiet ? q.endMs : q.startMs;
  for (let i = 0; i < MAX_STEPS; i++) {
    let delta = target - mod(p + o, DAY_MS);
    if (delta <= 0) delta += DAY_MS;
    const reached = p + delta; // the clock reads `target` here if the offset holds
    const change = firstOffsetChange(q.dtf, p, reached, o);
    if (change === undefined) return reached;
    // The clock jumps at `change`, before (or as) it reaches the target.
    const o2 = offsetAt(q.dtf, change);
    if (q.inWindow(change + o2) !== quiet) return change;
    p = change;
    o = o2;
  }
  return p; // unreachable for real zones; the state is `quiet` up to p, so callers just ask again then
}

/** Earliest instant f <= p such that the window state is `quiet` on all of [f, p] (offset o at p). */
function runStart(q: Compiled, p: number, o: number, quiet: boolean): number {
  const target = quiet ? q.startMs : q.endMs;
  for (let i = 0; i < MAX_STEPS; i++) {
    const reached = p - mod(mod(p + o, DAY_MS) - target, DAY_MS); // the clock last read `target` here if the offset held
    // Include reached - 1: if the offset changes exactly at `reached`, the state may continue before it.
    const change = lastOffsetChange(q.dtf, reached - 1, p, o);
    if (change === undefined) return reached;
    const o1 = offsetAt(q.dtf, change - 1);
    if (q.inWindow(change - 1 + o1) !== quiet) return change;
    p = change - 1;
    o = o1;
  }
  return p; // unreachable for real zones; conservative (the state holds on [p, original p])
}

/** First instant in (lo, hi] whose offset is not o (offset at lo is o), or undefined. */
function firstOffsetChange(dtf: Intl.DateTimeFormat, lo: number, hi: number, o: number): number | undefined {
  while (lo < hi) {
    const probe = Math.min(lo + PROBE_MS, hi);
    if (offsetAt(dtf, probe) !== o) return bisect(dtf, lo, probe, o);
    lo = probe;
  }
  return undefined;
}

/** Last instant t in (lo, hi] with offset o at t but not at t - 1 (offset at hi is o), or undefined. */
function lastOffsetChange(dtf: Intl.DateTimeFormat, lo: number, hi: number, o: number): number | undefined {
  while (hi > lo) {
    const probe = Math.max(hi - PROBE_MS, lo);
    const op = offsetAt(dtf, probe);
    if (op !== o) return bisect(dtf, probe, hi, op);
    hi = probe;
  }
  return undefined;
}

/** Offset at lo is oLo and at hi is not: the first instant in (lo, hi] whose offset is not oLo. */
function bisect(dtf: Intl.DateTimeFormat, lo: number, hi: number, oLo: number): number {
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (offsetAt(dtf, mid) === oLo) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The zone's UTC offset in ms at instant t (local wall clock minus UTC). */
function offsetAt(dtf: Intl.DateTimeFormat, t: number): number {
  // Beyond the Date range, assume the offset at its edge (scans may probe a day or so past now).
  const clamped = Math.min(Math.max(t, -MAX_TIME_MS), MAX_TIME_MS);
  const second = clamped - mod(clamped, SECOND_MS); // Intl shows whole seconds
  let weekday = -1;
  let h = 0;
  let m = 0;
  let s = 0;
  for (const part of dtf.formatToParts(second)) {
    switch (part.type) {
      case 'weekday':
        weekday = WEEKDAYS.indexOf(part.value);
        break;
      case 'hour':
        h = Number(part.value) % 24; // some ICU versions write midnight as 24
        break;
      case 'minute':
        m = Number(part.value);
        break;
      case 'second':
        s = Number(part.value);
        break;
    }
  }
  if (weekday < 0) throw new Error(`quiet hours: could not read the weekday from Intl for ${dtf.resolvedOptions().timeZone}`);
  // Offsets are under a day, so the local date is the UTC date or one either side: the
  // weekday says which, with no calendar arithmetic (which ICU does in Julian before 1582).
  const utcDay = Math.floor(second / DAY_MS);
  let dayShift = mod(weekday - (utcDay + 4), 7); // 1970-01-01 was a Thursday
  if (dayShift === 6) dayShift = -1;
  return dayShift * DAY_MS + ((h * 60 + m) * 60 + s) * SECOND_MS - (second - utcDay * DAY_MS);
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

function describe(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : typeof v;
}
