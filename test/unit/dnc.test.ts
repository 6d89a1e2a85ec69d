import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { isQasidError } from '../../src/core/errors.js';
import { readDncFile, type DncLineResult } from '../../src/privacy/dnc.js';

const dir = mkdtempSync(join(tmpdir(), 'qasid-dnc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
function file(content: string | Buffer): string {
  const path = join(dir, `list-${++seq}.txt`);
  writeFileSync(path, content);
  return path;
}

async function readAll(path: string, region = 'PK'): Promise<DncLineResult[]> {
  const out: DncLineResult[] = [];
  for await (const r of readDncFile(path, region)) out.push(r);
  return out;
}

const PROBLEMS = ['invalid_number', 'not_mobile', 'missing_number'];

/** No result may carry a line's text: only its line number and E.164, or a code from a fixed set. */
function assertNoEcho(results: readonly DncLineResult[], lines: readonly string[]): void {
  for (const r of results) {
    if (r.e164 !== undefined) {
      assert.deepEqual(Object.keys(r).sort(), ['e164', 'line']);
      continue;
    }
    assert.deepEqual(Object.keys(r).sort(), ['line', 'problem']);
    assert.ok(PROBLEMS.includes(r.problem ?? ''), String(r.problem));
    const json = JSON.stringify({ ...r, line: undefined });
    for (const text of lines) {
      const digits = text.replace(/\D/g, '');
      if (digits.length >= 3) assert.ok(!json.includes(digits), `${json} echoes digits of a line`);
      if (!PROBLEMS.some((p) => p.includes(text.trim()))) assert.ok(!json.includes(text.trim()), `${json} echoes a line`);
    }
  }
}

const A = '+923001234567';

test('plain list in every accepted number shape, one per line', async () => {
  const lines = ['03001234567', '923001234567', '+92 300 1234567', '0092-300-1234567', '300-1234567', '۰۳۴۵۱۲۳۴۵۶۷', '+44 7911 123456'];
  const results = await readAll(file(lines.join('\n') + '\n'));
  assert.deepEqual(results, [
    { line: 1, e164: A },
    { line: 2, e164: A },
    { line: 3, e164: A },
    { line: 4, e164: A },
    { line: 5, e164: A },
    { line: 6, e164: '+923451234567' },
    { line: 7, e164: '+447911123456' },
  ]);
});

test('CRLF, header, blank lines and comments; line numbers are physical lines', async () => {
  const content = ['MSISDN', '', '# PTA DNCR export 2024-06-01', '03001234567', '   ', '  # indented comment', '03211234567  # inline comment', '\t', '0345 1234567', ''].join('\r\n');
  const results = await readAll(file(content));
  assert.deepEqual(results, [
    { line: 4, e164: A },
    { line: 7, e164: '+923211234567' },
    { line: 9, e164: '+923451234567' },
  ]);
});

test('comments and blank lines before the header do not stop it being skipped; only the first entry line can be a header', async () => {
  const results = await readAll(file('# comment\n\nPhone Number\n03001234567\nNumber\n'));
  assert.deepEqual(results, [
    { line: 4, e164: A },
    { line: 5, problem: 'invalid_number' },
  ]);
  // A first entry line with a number is data, not a header.
  assert.deepEqual(await readAll(file('03001234567\n03211234567\n')), [
    { line: 1, e164: A },
    { line: 2, e164: '+923211234567' },
  ]);
});

test('CSV: the number is the first column; quotes and Excel text markers are dropped', async () => {
  const content = [
    'msisdn,name,added_on',
    '03001234567,Ali,2024-01-01',
    '"+92 300 1234567","Khan, Sara",2024-01-02',
    "'03211234567,x",
    '="03451234567",y',
    ',Ali,2024-01-03',
    '0300-1234567;semicolon',
    '0300 1234567\ttab',
    'Ali,03001234567',
  ].join('\r\n');
  const results = await readAll(file(content));
  assert.deepEqual(results, [
    { line: 2, e164: A },
    { line: 3, e164: A },
    { line: 4, e164: '+923211234567' },
    { line: 5, e164: '+923451234567' },
    { line: 6, problem: 'missing_number' },
    { line: 7, e164: A },
    { line: 8, e164: A },
    { line: 9, problem: 'invalid_number' },
  ]);
});

test('invalid and fixed-line entries give problems that never echo the line', async () => {
  const lines = ['number', '0300123', '0512345678', '042-35761234', 'ali khan', '03001234567 ext 5', '+92+3001234567', '9.23001E+11', '9'.repeat(500), '03001234567'];
  const results = await readAll(file(lines.join('\n')));
  assert.deepEqual(results, [
    { line: 2, problem: 'invalid_number' },
    { line: 3, problem: 'not_mobile' },
    { line: 4, problem: 'not_mobile' },
    { line: 5, problem: 'invalid_number' },
    { line: 6, problem: 'invalid_number' },
    { line: 7, problem: 'invalid_number' },
    { line: 8, problem: 'invalid_number' },
    { line: 9, problem: 'invalid_number' },
    { line: 10, e164: A },
  ]);
  assertNoEcho(results, lines);
});

test('UTF-8 BOM, UTF-16LE (with and without BOM), old-Mac CR line ends, no final newline', async () => {
  const text = 'MSISDN\r\n03001234567\r\n0512345678';
  const expected = [
    { line: 2, e164: A },
    { line: 3, problem: 'not_mobile' },
  ];
  assert.deepEqual(await readAll(file(`\uFEFF${text}`)), expected);
  assert.deepEqual(await readAll(file(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]))), expected);
  assert.deepEqual(await readAll(file(Buffer.from(text, 'utf16le'))), expected);
  assert.deepEqual(await readAll(file('03001234567\r03211234567')), [
    { line: 1, e164: A },
    { line: 2, e164: '+923211234567' },
  ]);
  // A BOM before a number on line 1 is not part of the number.
  assert.deepEqual(await readAll(file('\uFEFF03001234567\n')), [{ line: 1, e164: A }]);
});

test('empty files and files of only comments yield nothing', async () => {
  assert.deepEqual(await readAll(file('')), []);
  assert.deepEqual(await readAll(file('\n\r\n# nothing yet\n')), []);
  assert.deepEqual(await readAll(file('MSISDN\n')), []);
});

test('other default regions read national numbers their own way', async () => {
  assert.deepEqual(await readAll(file('07911 123456\n+923001234567\n'), 'GB'), [
    { line: 1, e164: '+447911123456' },
    { line: 2, e164: A },
  ]);
});

test('a missing file, an unknown region and UTF-16BE reject on the first next()', async () => {
  await assert.rejects(readAll(join(dir, 'no-such-file.txt')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  await assert.rejects(readAll(file('03001234567\n'), 'XX'), (e: unknown) => isQasidError(e, 'CONFIG_INVALID'));
  const be = Buffer.from('03001234567\n', 'utf16le').swap16();
  await assert.rejects(readAll(file(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))), (e: unknown) => isQasidError(e, 'CONFIG_INVALID'));
  await assert.rejects(readAll(file(be)), (e: unknown) => isQasidError(e, 'CONFIG_INVALID'));
  await assert.rejects(readAll(dir), (e: NodeJS.ErrnoException) => e.code === 'EISDIR');
});

test('breaking out early closes the file', async () => {
  const path = file(Array.from({ length: 1000 }, () => '03001234567').join('\n'));
  let n = 0;
  for await (const r of readDncFile(path, 'PK')) {
    assert.equal(r.e164, A);
    if (++n === 3) break;
  }
  assert.equal(n, 3);
  // Nothing is left holding the file open once the loop has let go of it.
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(!process.getActiveResourcesInfo().includes('FileHandle'), process.getActiveResourcesInfo().join());
  assert.equal((await readAll(path)).length, 1000);
});

test('a 200k-line file streams through with one result per entry line', async () => {
  const path = join(dir, 'big.csv');
  const out = createWriteStream(path);
  const total = 200_000;
  let chunk = 'MSISDN,source\r\n';
  for (let i = 0; i < total; i++) {
    // 5000 distinct numbers over five operator ranges (the normaliser's own cost is not under
    // test here); every 1000th line is junk, and a blank line follows every 997th.
    const body = i % 1000 === 999 ? 'not-a-number,x' : `03${String(i % 5)}${String(10_000_000 + (i % 5000)).slice(-8)},dncr`;
    chunk += i % 997 === 0 ? `${body}\r\n\r\n` : `${body}\r\n`;
    if (chunk.length > 64 * 1024 || i === total - 1) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end();
  await once(out, 'finish');

  let count = 0;
  let ok = 0;
  let invalid = 0;
  let lastLine = 0;
  for await (const r of readDncFile(path, 'PK')) {
    count++;
    assert.ok(r.line > lastLine);
    lastLine = r.line;
    if (r.e164 !== undefined) ok++;
    else if (r.problem === 'invalid_number') invalid++;
  }
  assert.equal(count, total);
  assert.equal(invalid, total / 1000);
  assert.equal(ok, total - total / 1000);
  assert.equal(lastLine, 1 + total + Math.ceil(total / 997));
});
