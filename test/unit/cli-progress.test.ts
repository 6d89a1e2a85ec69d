/**
 * src/cli/progress.ts on a moved clock: JSON lines at the interval and at the end when
 * the output is not a terminal, one redrawn line when it is, and any renderer in their
 * place through the ProgressRenderer interface.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress, commandProgress, describe, type ProgressState } from '../../src/cli/progress.js';

function clock(): { now: () => number; at: (ms: number) => void } {
  let t = 1_000_000;
  const start = t;
  return { now: () => t, at: (ms) => void (t = start + ms) };
}

test('not a terminal: one JSON line per interval with count, total, rate and ETA, and a final one', () => {
  const c = clock();
  let written = '';
  const p = new Progress({ op: 'dnc.import', unit: 'lines', total: 100, intervalMs: 1000, now: c.now, output: { write: (s) => void (written += s), isTTY: false } });
  c.at(500);
  p.update(10);
  assert.equal(written, '', 'nothing before the interval');
  c.at(1000);
  p.update(20);
  c.at(1500);
  p.add(10);
  c.at(2000);
  p.finish();
  p.finish();
  const lines = written.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines, [
    { event: 'progress', op: 'dnc.import', done: 20, total: 100, ratePerSec: 20, etaSec: 4, elapsedSec: 1, final: false },
    { event: 'progress', op: 'dnc.import', done: 30, total: 100, ratePerSec: 15, etaSec: 5, elapsedSec: 2, final: true },
  ]);
});

test('without a total: null total and ETA; a count past an estimated total raises the total', () => {
  const c = clock();
  let written = '';
  const open = new Progress({ op: 'keys.rotate', intervalMs: 10, now: c.now, output: { write: (s) => void (written += s) } });
  c.at(2000);
  open.update(500);
  open.finish();
  const [first] = written.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual([first?.total, first?.etaSec, first?.ratePerSec], [null, null, 250]);

  const grown = new Progress({ op: 'subscriber.erase', total: 10, now: c.now });
  grown.update(12);
  assert.deepEqual([grown.state().total, grown.state().etaSec], [12, 0]);
});

test('a terminal: cli-progress redraws one line in place — a bar and the counts — and the final render ends it', () => {
  const c = clock();
  const writes: string[] = [];
  const p = new Progress({ op: 'dnc.import', unit: 'lines', total: 50_000, now: c.now, output: { write: (s) => void writes.push(s), isTTY: true, columns: 200 } });
  c.at(3000);
  p.update(12_000);
  c.at(6000);
  p.update(24_000);
  p.finish();
  const lines = writes.filter((w) => w.includes('dnc.import'));
  assert.deepEqual(lines, [
    '=====--------------- dnc.import  12,000 / 50,000 lines  24%  4,000/s  ETA 10s',
    '==========---------- dnc.import  24,000 / 50,000 lines  48%  4,000/s  done in 6s',
  ]);
  // Each drawing goes back to the first column and clears what an older, longer line left.
  assert.equal(writes.filter((w) => w === '\x1b[1G').length, 2);
  assert.equal(writes.filter((w) => w === '\x1b[0K').length, 2);
  assert.equal(writes[writes.length - 1], '\n', 'the final render leaves the line on its own');

  const unknown: string[] = [];
  const n = new Progress({ op: 'keys.rotate', unit: 'values', now: c.now, output: { write: (s) => void unknown.push(s), isTTY: true, columns: 20 } });
  c.at(7000);
  n.update(10);
  n.finish();
  assert.ok(unknown.some((w) => w.startsWith('keys.rotate  10 values')), 'no total: no bar, the count alone');
});

test('any renderer can take the place of the built-in ones; --no-progress and no output show nothing', () => {
  const c = clock();
  const seen: ProgressState[] = [];
  const p = new Progress({ op: 'x.y', total: 4, now: c.now, renderer: { intervalMs: 1, render: (s) => void seen.push(s) } });
  c.at(1);
  p.update(1);
  c.at(2);
  p.update(4);
  p.finish();
  assert.deepEqual(
    seen.map((s) => [s.done, s.final]),
    [
      [1, false],
      [4, false],
      [4, true],
    ],
  );
  assert.equal(describe({ ...(seen[0] as ProgressState), unit: 'items', total: undefined, etaSec: undefined }), 'x.y  1 items  1,000/s');

  let written = '';
  const off = commandProgress({ write: (s) => void (written += s) }, { 'no-progress': true }, { op: 'dnc.import', unit: 'lines' });
  off.update(5);
  off.finish();
  assert.equal(off.visible, false);
  assert.equal(written, '');
  assert.equal(commandProgress(undefined, {}, { op: 'dnc.import', unit: 'lines' }).visible, false);
  assert.throws(() => commandProgress({ write: () => undefined }, { 'progress-interval': '5' }, { op: 'a', unit: 'b' }), /from 10 to 3600000/);
});
