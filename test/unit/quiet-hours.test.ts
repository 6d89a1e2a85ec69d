import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileQuietHours, quietUntil, type CompiledQuietHours, type QuietHours } from '../../src/privacy/quiet-hours.js';

// Expected instants are written as ISO strings with explicit offsets, never derived from the module.
const at = (iso: string): number => {
  const ms = Date.parse(iso);
  assert.ok(Number.isFinite(ms), `bad ISO string in test: ${iso}`);
  return ms;
};

/** Asserts quietUntil(now) for each [now, expected opening | undefined], with a shared and a fresh window. */
function check(q: QuietHours, cases: Array<[string, string | undefined]>): void {
  const shared = compileQuietHours(q);
  for (const [now, opening] of cases) {
    const expected = opening === undefined ? undefined : at(opening);
    const label = `${q.start}-${q.end} ${q.timeZone} at ${now}`;
    assert.equal(quietUntil(at(now), compileQuietHours(q)), expected, label);
    assert.equal(quietUntil(at(now), shared), expected, `${label} (shared window)`);
  }
}

test('Asia/Karachi 21:00-09:00 wraps midnight, start quiet, end open', () => {
  check({ start: '21:00', end: '09:00', timeZone: 'Asia/Karachi' }, [
    ['2024-06-15T20:59:59+05:00', undefined],
    ['2024-06-15T20:59:59.999+05:00', undefined],
    ['2024-06-15T21:00:00+05:00', '2024-06-16T09:00:00+05:00'],
    ['2024-06-15T21:00:00+05:00', '2024-06-16T04:00:00Z'],
    ['2024-06-15T23:59:59.999+05:00', '2024-06-16T09:00:00+05:00'],
    ['2024-06-16T00:00:00+05:00', '2024-06-16T09:00:00+05:00'],
    ['2024-06-15T03:00:00+05:00', '2024-06-15T09:00:00+05:00'],
    ['2024-06-15T08:59:59.999+05:00', '2024-06-15T09:00:00+05:00'],
    ['2024-06-15T09:00:00+05:00', undefined],
    ['2024-06-15T12:00:00+05:00', undefined],
  ]);
});

test('compiled window exposes its canonical fields', () => {
  const q = compileQuietHours({ start: '21:00', end: '09:00', timeZone: 'asia/karachi' });
  assert.equal(q.timeZone, 'Asia/Karachi');
  assert.equal(q.start, '21:00');
  assert.equal(q.end, '09:00');
  assert.equal(q.startMinute, 21 * 60);
  assert.equal(q.endMinute, 9 * 60);
  assert.equal(q.active, true);
  assert.equal(quietUntil(at('2024-06-15T22:00:00+05:00'), q), at('2024-06-16T09:00:00+05:00'));
});

test('non-wrapping window 13:00-14:00', () => {
  check({ start: '13:00', end: '14:00', timeZone: 'Asia/Karachi' }, [
    ['2024-06-15T00:30:00+05:00', undefined],
    ['2024-06-15T12:59:59.999+05:00', undefined],
    ['2024-06-15T13:00:00+05:00', '2024-06-15T14:00:00+05:00'],
    ['2024-06-15T13:30:00+05:00', '2024-06-15T14:00:00+05:00'],
    ['2024-06-15T13:59:59.999+05:00', '2024-06-15T14:00:00+05:00'],
    ['2024-06-15T14:00:00+05:00', undefined],
    ['2024-06-15T23:00:00+05:00', undefined],
  ]);
});

test('start === end is never quiet', () => {
  const q = compileQuietHours({ start: '09:00', end: '09:00', timeZone: 'Europe/London' });
  assert.equal(q.active, false);
  for (const iso of ['2024-06-15T08:59:59.999+01:00', '2024-06-15T09:00:00+01:00', '2024-06-15T21:00:00+01:00', '2024-03-31T01:30:00Z', '1970-01-01T00:00:00Z']) {
    assert.equal(quietUntil(at(iso), q), undefined, iso);
  }
});

// Europe/London 2024-03-31: at 01:00Z the clock jumps from 01:00 GMT to 02:00 BST (01:00-02:00 local never happens).
test('Europe/London spring-forward: wrapping window opens at the real 09:00 BST', () => {
  check({ start: '21:00', end: '09:00', timeZone: 'Europe/London' }, [
    ['2024-03-30T20:59:59.999+00:00', undefined],
    ['2024-03-30T21:00:00+00:00', '2024-03-31T09:00:00+01:00'],
    ['2024-03-31T00:59:59.999+00:00', '2024-03-31T09:00:00+01:00'],
    ['2024-03-31T02:00:00+01:00', '2024-03-31T09:00:00+01:00'],
    ['2024-03-31T08:59:59.999+01:00', '2024-03-31T09:00:00+01:00'],
    ['2024-03-31T09:00:00+01:00', undefined],
  ]);
});

test('Europe/London spring-forward: a missing end time opens at the first instant after it', () => {
  check({ start: '00:30', end: '01:30', timeZone: 'Europe/London' }, [
    ['2024-03-31T00:29:59.999+00:00', undefined],
    ['2024-03-31T00:30:00+00:00', '2024-03-31T02:00:00+01:00'],
    ['2024-03-31T00:59:59.999+00:00', '2024-03-31T02:00:00+01:00'],
    ['2024-03-31T02:00:00+01:00', undefined],
    // An ordinary day for comparison.
    ['2024-03-30T00:45:00+00:00', '2024-03-30T01:30:00+00:00'],
    // Backwards across the change with one window: an open run after the jump must not reach back before it.
    ['2024-03-31T02:30:00+01:00', undefined],
    ['2024-03-31T00:45:00+00:00', '2024-03-31T02:00:00+01:00'],
  ]);
  // A window lying wholly inside the skipped hour is never quiet that night.
  const skipped = compileQuietHours({ start: '01:00', end: '02:00', timeZone: 'Europe/London' });
  for (let t = at('2024-03-30T23:00:00Z'); t <= at('2024-03-31T03:00:00Z'); t += 60_000) {
    assert.equal(quietUntil(t, skipped), undefined, new Date(t).toISOString());
  }
  // A missing start time: quiet from the jump.
  check({ start: '01:30', end: '03:00', timeZone: 'Europe/London' }, [
    ['2024-03-31T00:59:59.999+00:00', undefined],
    ['2024-03-31T02:00:00+01:00', '2024-03-31T03:00:00+01:00'],
    ['2024-03-31T03:00:00+01:00', undefined],
  ]);
});

// Europe/London 2024-10-27: at 01:00Z the clock goes back from 02:00 BST to 01:00 GMT (01:00-02:00 local happens twice).
test('Europe/London fall-back: wrapping window opens at the real 09:00 GMT', () => {
  check({ start: '21:00', end: '09:00', timeZone: 'Europe/London' }, [
    ['2024-10-26T20:59:59.999+01:00', undefined],
    ['2024-10-26T21:00:00+01:00', '2024-10-27T09:00:00+00:00'],
    ['2024-10-27T01:30:00+01:00', '2024-10-27T09:00:00+00:00'],
    ['2024-10-27T01:30:00+00:00', '2024-10-27T09:00:00+00:00'],
    ['2024-10-27T09:00:00+00:00', undefined],
  ]);
});

test('Europe/London fall-back: a window covering the repeated hour', () => {
  // 01:00-02:00: both passes through 01:xx are quiet; the clock first reads 02:00 at 02:00 GMT.
  check({ start: '01:00', end: '02:00', timeZone: 'Europe/London' }, [
    ['2024-10-27T00:59:59.999+01:00', undefined],
    ['2024-10-27T01:00:00+01:00', '2024-10-27T02:00:00+00:00'],
    ['2024-10-27T01:59:59.999+01:00', '2024-10-27T02:00:00+00:00'],
    ['2024-10-27T01:00:00+00:00', '2024-10-27T02:00:00+00:00'],
    ['2024-10-27T01:59:59.999+00:00', '2024-10-27T02:00:00+00:00'],
    ['2024-10-27T02:00:00+00:00', undefined],
  ]);
  // A repeated end time: opens at its first occurrence, closes again when the clock goes back.
  check({ start: '00:00', end: '01:30', timeZone: 'Europe/London' }, [
    ['2024-10-27T00:30:00+01:00', '2024-10-27T01:30:00+01:00'],
    ['2024-10-27T01:30:00+01:00', undefined],
    ['2024-10-27T01:59:59.999+01:00', undefined],
    ['2024-10-27T01:00:00+00:00', '2024-10-27T01:30:00+00:00'],
    ['2024-10-27T01:30:00+00:00', undefined],
  ]);
  // A start inside the repeated hour: going back to 01:00 leaves the window (documented), until 01:30 again.
  check({ start: '01:30', end: '05:00', timeZone: 'Europe/London' }, [
    ['2024-10-27T01:29:59.999+01:00', undefined],
    ['2024-10-27T01:45:00+01:00', '2024-10-27T01:00:00+00:00'],
    ['2024-10-27T01:00:00+00:00', undefined],
    ['2024-10-27T01:30:00+00:00', '2024-10-27T05:00:00+00:00'],
  ]);
});

// America/New_York: 2024-03-10 02:00 EST -> 03:00 EDT; 2024-11-03 02:00 EDT -> 01:00 EST.
test('America/New_York across both DST changes', () => {
  check({ start: '21:00', end: '09:00', timeZone: 'America/New_York' }, [
    ['2024-03-09T22:00:00-05:00', '2024-03-10T09:00:00-04:00'],
    ['2024-03-10T08:59:59.999-04:00', '2024-03-10T09:00:00-04:00'],
    ['2024-11-02T23:00:00-04:00', '2024-11-03T09:00:00-05:00'],
    ['2024-11-03T01:30:00-05:00', '2024-11-03T09:00:00-05:00'],
  ]);
  check({ start: '01:30', end: '02:30', timeZone: 'America/New_York' }, [
    ['2024-03-10T01:45:00-05:00', '2024-03-10T03:00:00-04:00'],
    ['2024-03-10T03:00:00-04:00', undefined],
  ]);
  check({ start: '02:00', end: '02:30', timeZone: 'America/New_York' }, [
    ['2024-03-10T01:59:59.999-05:00', undefined],
    ['2024-03-10T03:00:00-04:00', undefined],
  ]);
});

test('times are exact in other fixed and historical offsets', () => {
  check({ start: '22:00', end: '06:00', timeZone: 'Asia/Kolkata' }, [['2024-01-01T23:00:00+05:30', '2024-01-02T06:00:00+05:30']]);
  check({ start: '22:00', end: '06:00', timeZone: 'UTC' }, [['2024-01-01T23:00:00Z', '2024-01-02T06:00:00Z']]);
  // Asia/Karachi kept daylight time (UTC+6) in summer 2008.
  check({ start: '21:00', end: '09:00', timeZone: 'Asia/Karachi' }, [['2008-07-01T22:00:00+06:00', '2008-07-02T09:00:00+06:00']]);
});

test('fractional ms are truncated; out-of-order calls agree with fresh windows', () => {
  const q = compileQuietHours({ start: '21:00', end: '09:00', timeZone: 'Asia/Karachi' });
  assert.equal(quietUntil(at('2024-06-15T20:59:59.999+05:00') + 0.5, q), undefined);
  assert.equal(quietUntil(at('2024-06-15T21:00:00+05:00') + 0.5, q), at('2024-06-16T09:00:00+05:00'));
  assert.equal(quietUntil(at('2024-06-16T08:59:59.999+05:00') + 0.9, q), at('2024-06-16T09:00:00+05:00'));
  const times = ['2024-06-16T03:00:00+05:00', '2024-06-15T22:00:00+05:00', '2024-06-16T10:00:00+05:00', '2024-06-15T10:00:00+05:00', '2024-06-16T08:00:00+05:00'];
  for (const iso of times) {
    assert.equal(quietUntil(at(iso), q), quietUntil(at(iso), compileQuietHours({ start: '21:00', end: '09:00', timeZone: 'Asia/Karachi' })), iso);
  }
});

test('invalid input throws naming the field', () => {
  const base: QuietHours = { start: '21:00', end: '09:00', timeZone: 'Asia/Karachi' };
  // Strict "HH:MM": two-digit hour 00-23, minute 00-59 (same rule as the config schema).
  for (const bad of ['25:00', '24:00', '9:00', '12:60', '0900', '09:00 ', '09:00:00', '', '９:00']) {
    assert.throws(() => compileQuietHours({ ...base, start: bad }), (e: Error) => e instanceof Error && /quiet hours start/.test(e.message) && e.message.includes(JSON.stringify(bad)), `start ${bad}`);
    assert.throws(() => compileQuietHours({ ...base, end: bad }), (e: Error) => e instanceof Error && /quiet hours end/.test(e.message), `end ${bad}`);
  }
  assert.throws(() => compileQuietHours({ ...base, timeZone: 'Mars/Base' }), (e: Error) => /quiet hours timeZone/.test(e.message) && /Mars\/Base/.test(e.message));
  assert.throws(() => compileQuietHours({ ...base, timeZone: '' }), /quiet hours timeZone/);
  assert.throws(() => compileQuietHours({ ...base, start: 2100 as unknown as string }), /quiet hours start.*number/);
  assert.throws(() => compileQuietHours({ ...base, timeZone: undefined as unknown as string }), /quiet hours timeZone/);
  assert.throws(() => compileQuietHours(null as unknown as QuietHours), /quiet hours/);
  // Accepted edges.
  assert.doesNotThrow(() => compileQuietHours({ start: '00:00', end: '23:59', timeZone: 'UTC' }));
});

test('quietUntil rejects bad times and windows it did not compile', () => {
  const q = compileQuietHours({ start: '21:00', end: '09:00', timeZone: 'Asia/Karachi' });
  assert.throws(() => quietUntil(Number.NaN, q), RangeError);
  assert.throws(() => quietUntil(Number.POSITIVE_INFINITY, q), RangeError);
  const fake = { start: '21:00', end: '09:00', timeZone: 'Asia/Karachi', startMinute: 1260, endMinute: 540, active: true } satisfies CompiledQuietHours;
  assert.throws(() => quietUntil(0, fake), TypeError);
});

/** Independent reference: read the wall clock with a fresh formatter and step minute by minute. */
function reference(q: QuietHours, now: number): number | undefined {
  const f = new Intl.DateTimeFormat('en-GB', { timeZone: q.timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const s = Number(q.start.slice(0, 2)) * 60 + Number(q.start.slice(3));
  const e = Number(q.end.slice(0, 2)) * 60 + Number(q.end.slice(3));
  const quiet = (t: number): boolean => {
    const [h, m] = f.format(t).split(':').map(Number) as [number, number];
    const x = h * 60 + m;
    return s === e ? false : s < e ? x >= s && x < e : x >= s || x < e;
  };
  if (!quiet(now)) return undefined;
  // Boundaries and offset changes fall on whole minutes in these zones.
  for (let t = Math.floor(now / 60_000) * 60_000 + 60_000; t < now + 3 * 86_400_000; t += 60_000) {
    if (!quiet(t)) return t;
  }
  throw new Error('reference found no opening');
}

test('property: matches a minute-stepping reference around DST changes, in any call order', () => {
  const transitions = ['2024-03-31T01:00:00Z', '2024-10-27T01:00:00Z', '2024-03-10T07:00:00Z', '2024-11-03T06:00:00Z', '2024-06-15T12:00:00Z'].map(at);
  const minute = fc.oneof(fc.integer({ min: 0, max: 1439 }), fc.constantFrom(0, 30, 60, 90, 120, 150, 180, 1260, 540));
  const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  fc.assert(
    fc.property(
      fc.constantFrom('Europe/London', 'America/New_York', 'Asia/Karachi'),
      minute,
      minute,
      fc.constantFrom(...transitions),
      fc.array(fc.integer({ min: -36 * 3_600_000, max: 36 * 3_600_000 }), { minLength: 1, maxLength: 6 }),
      (timeZone, start, end, centre, offsets) => {
        const q: QuietHours = { start: hhmm(start), end: hhmm(end), timeZone };
        const shared = compileQuietHours(q);
        // Each time, then two a little earlier: the shared window's cached run is probed from both sides.
        for (const now of offsets.flatMap((d) => [centre + d, centre + d - 20 * 60_000, centre + d - 95 * 60_000 + 1])) {
          const got = quietUntil(now, shared);
          assert.equal(got, reference(q, now), `${q.start}-${q.end} ${timeZone} at ${new Date(now).toISOString()}`);
          if (got !== undefined) {
            assert.ok(got > now);
            assert.equal(quietUntil(got, shared), undefined, 'open at the opening');
            assert.equal(quietUntil(got - 1, shared), got, 'quiet just before the opening');
          }
        }
      },
    ),
    { numRuns: 150 },
  );
});
