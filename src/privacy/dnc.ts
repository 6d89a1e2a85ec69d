/**
 * Reader for do-not-contact list files, such as the PTA DNCR export a provider receives.
 * Streams line by line (readline over a file stream), so a file of millions of numbers is
 * never held in memory; only the current line is.
 *
 * Accepted layout, one entry a line:
 *   - LF, CRLF or CR line ends; UTF-8 (BOM or not) or UTF-16LE (BOM or not, as Excel's
 *     "Unicode text" saves). UTF-16BE is refused as a whole.
 *   - blank lines and lines starting with '#' are skipped; text from a '#' on is a comment
 *     (no number contains '#').
 *   - CSV/TSV: the number is the first column (up to the first ',', ';', tab or '|');
 *     surrounding quotes, Excel's ="…" and a leading apostrophe are dropped.
 *   - any shape normaliseMsisdn() accepts: 03001234567, 923001234567, +92 300 1234567,
 *     0092-300-1234567, 300-1234567, Urdu digits …
 *   - the first entry line is a header, skipped silently, when its first column has no
 *     digit at all ("MSISDN", "Number,Name,Date added 2024-01-01").
 *
 * Results carry only the line number and the E.164 number or a problem code, never the
 * line's text: a line we failed to parse may still be somebody's number.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { QasidError } from '../core/errors.js';
import { isSupportedRegion, normaliseUncached } from '../routing/msisdn.js';

/**
 * Problem codes a line can get:
 * - `invalid_number`: not a number any numbering plan assigns, or not a number at all.
 * - `not_mobile`: a valid number that cannot take SMS (fixed line, toll free, UAN …).
 * - `missing_number`: the first column is empty (",Ali,2024-01-01").
 */
export type DncProblem = 'invalid_number' | 'not_mobile' | 'missing_number';

export interface DncLineResult {
  /** 1-based physical line in the file (blank, comment and header lines count). */
  line: number;
  /** Set when the line held a mobile number: '+923001234567'. */
  e164?: string;
  /** Set instead of e164 otherwise: one of DncProblem. */
  problem?: string;
}

/** Longer first columns are not numbers; refusing them early keeps junk out of the normaliser's memo. */
const MAX_FIELD = 64;
const FIELD_END = /[,;\t|]/;
const QUOTED = /^=?(["'])(.*)\1$/s;
const HAS_DIGIT = /\p{Nd}/u;

/**
 * Streams `path` and yields one result per non-blank, non-comment, non-header line, in
 * file order. `defaultRegion` (ISO 3166-1 alpha-2, e.g. 'PK') reads national numbers.
 * Rejects (on the first next()) with QasidError CONFIG_INVALID for an unknown region or a
 * UTF-16BE file, and with the fs error when the file cannot be opened or read. Breaking
 * out of a for-await loop closes the file.
 */
export async function* readDncFile(path: string, defaultRegion: string): AsyncGenerator<DncLineResult> {
  if (!isSupportedRegion(defaultRegion)) {
    throw new QasidError('CONFIG_INVALID', `default region '${defaultRegion}' is not an ISO 3166-1 alpha-2 code with numbering metadata`, {
      key: 'defaultRegion',
    });
  }
  const handle = await open(path, 'r');
  let stream: ReturnType<FileHandle['createReadStream']>;
  try {
    const { encoding, start } = await sniffEncoding(handle, path);
    stream = handle.createReadStream({ encoding, start, autoClose: true });
  } catch (e) {
    await handle.close();
    throw e;
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  let headerPossible = true;
  try {
    for await (const raw of lines) {
      line++;
      const field = firstField(raw);
      if (field === undefined) continue; // blank or comment
      if (headerPossible) {
        headerPossible = false;
        if (field !== '' && !HAS_DIGIT.test(field)) continue;
      }
      yield parseField(line, field, defaultRegion);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** The number column of a line, trimmed and unquoted; undefined for blank and comment lines. */
function firstField(raw: string): string | undefined {
  let text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  const hash = text.indexOf('#');
  if (hash >= 0) text = text.slice(0, hash);
  text = text.trim();
  if (text === '') return undefined;
  const end = FIELD_END.exec(text);
  let field = (end === null ? text : text.slice(0, end.index)).trim();
  const quoted = QUOTED.exec(field);
  if (quoted !== null) field = (quoted[2] ?? '').trim();
  if (field.startsWith("'")) field = field.slice(1).trim();
  return field;
}

function parseField(line: number, field: string, region: string): DncLineResult {
  if (field === '') return { line, problem: 'missing_number' };
  if (field.length > MAX_FIELD) return { line, problem: 'invalid_number' };
  const result = normaliseUncached(field, region);
  if (result.ok) return { line, e164: result.e164 };
  return { line, problem: result.reason === 'empty' ? 'missing_number' : result.reason };
}

/** BOM first, then the NULs a BOM-less UTF-16 file has in every other byte of ASCII text. */
async function sniffEncoding(handle: FileHandle, path: string): Promise<{ encoding: 'utf8' | 'utf16le'; start: number }> {
  const head = Buffer.alloc(4);
  const { bytesRead } = await handle.read(head, 0, head.length, 0);
  const b = (i: number): number | undefined => (i < bytesRead ? head[i] : undefined);
  if (b(0) === 0xef && b(1) === 0xbb && b(2) === 0xbf) return { encoding: 'utf8', start: 3 };
  if (b(0) === 0xff && b(1) === 0xfe) return { encoding: 'utf16le', start: 2 };
  const be = b(0) === 0xfe && b(1) === 0xff;
  if (be || (b(0) === 0 && b(1) !== undefined && b(1) !== 0)) {
    throw new QasidError('CONFIG_INVALID', `${path}: UTF-16BE text is not supported; save the list as UTF-8`, { path });
  }
  if (b(0) !== undefined && b(0) !== 0 && b(1) === 0) return { encoding: 'utf16le', start: 0 };
  return { encoding: 'utf8', start: 0 };
}
