/** The rate-limited fault log (src/log/throttled.ts), on a clock the test moves. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureLogger } from '../../src/log/logger.js';
import { ThrottledLog } from '../../src/log/throttled.js';

function setup(intervalMs = 10_000): { log: ThrottledLog; lines: Array<Record<string, unknown>>; clock: { t: number; now(): number } } {
  const { logger, lines } = captureLogger('debug');
  const clock = { t: 1_000_000, now: () => clock.t };
  return { log: new ThrottledLog(logger, { intervalMs, clock }), lines, clock };
}

const undecodable = (seq: number) => ({ event: 'session.undecodable_pdu' as const, seq });

test('the first line of a key is written at once; the rest of its interval is counted, not written', () => {
  const { log, lines, clock } = setup();
  assert.equal(log.log('warn', undecodable(1), 'bad'), true);
  for (let i = 2; i <= 1000; i++) {
    clock.t += 5;
    assert.equal(log.log('warn', undecodable(i), 'bad'), false);
  }
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.seq, 1);
  assert.equal(lines[0]?.suppressed, undefined, 'nothing was held before the first line');
  assert.equal(lines[0]?.level, 'warn');
  assert.equal(log.suppressedFor('session.undecodable_pdu'), 999);
});

test('after the interval the next line carries the count of those not written', () => {
  const { log, lines, clock } = setup();
  log.log('warn', undecodable(1), 'bad');
  for (let i = 0; i < 41; i++) log.log('warn', undecodable(2), 'bad');
  clock.t += 9_999;
  assert.equal(log.log('warn', undecodable(3), 'bad'), false, 'still inside the interval');
  clock.t += 1;
  assert.equal(log.log('warn', undecodable(4), 'bad'), true);
  assert.equal(lines.length, 2);
  assert.equal(lines[1]?.seq, 4);
  assert.equal(lines[1]?.suppressed, 42);
  assert.match(String(lines[1]?.msg), /42 more like it not logged/);
});

test('keys are independent: another event code, or the same code under another key, is written at once', () => {
  const { log, lines } = setup();
  log.log('warn', undecodable(1), 'bad');
  log.log('warn', { event: 'session.generic_nack' }, 'nack');
  log.log('warn', { event: 'receipt.unparseable', carrier: 'jazz' }, 'r', 'receipt.unparseable:jazz');
  log.log('warn', { event: 'receipt.unparseable', carrier: 'zong' }, 'r', 'receipt.unparseable:zong');
  log.log('warn', { event: 'receipt.unparseable', carrier: 'zong' }, 'r', 'receipt.unparseable:zong');
  assert.deepEqual(
    lines.map((l) => [l.event, l.carrier]),
    [
      ['session.undecodable_pdu', undefined],
      ['session.generic_nack', undefined],
      ['receipt.unparseable', 'jazz'],
      ['receipt.unparseable', 'zong'],
    ],
  );
});

test('flush() writes a held line once its interval has passed, so a flood that stops is accounted for', () => {
  const { log, lines, clock } = setup();
  log.log('warn', undecodable(1), 'bad');
  log.log('warn', undecodable(2), 'bad');
  log.log('warn', undecodable(3), 'bad');
  log.flush();
  assert.equal(lines.length, 1, 'not before the interval');
  clock.t += 10_000;
  log.flush();
  assert.equal(lines.length, 2);
  // The last held line is written; the one before it is counted.
  assert.equal(lines[1]?.seq, 3);
  assert.equal(lines[1]?.suppressed, 1);
  // Written lines plus their suppressed counts add up to every line asked for.
  assert.equal(lines.length + lines.reduce((n, l) => n + Number(l.suppressed ?? 0), 0), 3);
  clock.t += 10_000;
  log.flush();
  assert.equal(lines.length, 2, 'nothing held: nothing written');
  assert.equal(log.log('warn', undecodable(4), 'bad'), true, 'a quiet key writes at once again');
});

test('a steady flood writes one line per interval, and the counts add up exactly', () => {
  const { log, lines, clock } = setup(1000);
  let asked = 0;
  for (let ms = 0; ms < 60_000; ms += 3) {
    clock.t += 3;
    log.log('warn', undecodable(ms), 'bad');
    asked++;
    if (ms % 250 === 0) log.flush();
  }
  clock.t += 1000;
  log.flush();
  assert.ok(lines.length >= 59 && lines.length <= 62, `${lines.length} lines for 60 s`);
  assert.equal(lines.length + lines.reduce((n, l) => n + Number(l.suppressed ?? 0), 0), asked);
});

test('at most maxKeys keys are kept; the one forgotten first has its held line written', () => {
  const { logger, lines } = captureLogger('debug');
  const clock = { now: () => 0 };
  const log = new ThrottledLog(logger, { clock, maxKeys: 2 });
  log.log('warn', undecodable(1), 'a', 'k1');
  log.log('warn', undecodable(2), 'a', 'k1'); // held
  log.log('warn', undecodable(3), 'a', 'k2');
  log.log('warn', undecodable(4), 'a', 'k3'); // k1 forgotten: its held line goes out
  assert.deepEqual(
    lines.map((l) => l.seq),
    [1, 3, 4, 2],
  );
  assert.equal(log.suppressedFor('k1'), 0);
});
