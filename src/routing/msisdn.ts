/**
 * MSISDN normalisation to E.164 and masking for logs. Pure: libphonenumber-js with its
 * `max` metadata, which knows each range's type, so a fixed line (which cannot take an
 * SMS) is told apart from a mobile before a carrier is ever asked.
 *
 * Accepted shapes, for default region PK (country calling code 92):
 *   national        03001234567, 0300-1234567, 300 1234567
 *   international   +92 300 1234567, +92 (0)300 1234567
 *   00 prefix       00923001234567, 0092 300 1234567   (ITU's international prefix)
 *   bare country    923001234567   (country code typed without '+' or '00')
 * Digits may be ASCII or any Unicode decimal digits (Urdu ۰–۹ and Arabic ٠–٩ included);
 * spaces, '-', '.', '/' and brackets are separators. Anything else (letters, an "ext",
 * a second '+') makes the input invalid rather than being guessed around.
 */
import {
  getCountryCallingCode,
  isSupportedCountry,
  parseIncompletePhoneNumber,
  parsePhoneNumberFromString,
  type CountryCode,
  type PhoneNumber,
} from 'libphonenumber-js/max';
import metadata from 'libphonenumber-js/max/metadata';
import { QasidError } from '../core/errors.js';

export type NormaliseResult =
  | { ok: true; /** '+923001234567' */ e164: string; /** ISO 3166-1 alpha-2, e.g. 'PK'; '001' for non-geographic codes (+881…) */ country: string }
  | { ok: false; reason: 'invalid_number' | 'not_mobile' | 'empty' };

/** Region code libphonenumber gives non-geographic calling codes (+800, +881, +882 …). */
const NON_GEOGRAPHIC = '001';

/** Separators people type inside numbers; `\p{Nd}` admits every script's decimal digits. */
const ALLOWED = /^\+?[\p{Nd}\s\-./()]+$/u;

/** Whether `region` is an ISO 3166-1 alpha-2 code the metadata knows (for config validation). */
export function isSupportedRegion(region: string): boolean {
  return isSupportedCountry(region);
}

/**
 * Normalises a destination to E.164 and insists it is a mobile number.
 * - `empty`: nothing but whitespace.
 * - `invalid_number`: not a number, or not one any numbering plan assigns (too short,
 *   too long, unallocated range — including the UK's +44 7700 900xxx drama range).
 * - `not_mobile`: a valid number of a type that cannot take an SMS (fixed line, toll
 *   free, UAN, VoIP …). MOBILE and FIXED_LINE_OR_MOBILE count as mobile everywhere; a
 *   valid number whose type the metadata leaves undetermined counts as mobile only
 *   outside `defaultRegion` (foreign metadata is coarser than the home region's).
 *
 * Throws QasidError CONFIG_INVALID when `defaultRegion` is not a known region: that is a
 * deployment fault, not a property of one message; check it at boot with isSupportedRegion().
 */
export function normaliseMsisdn(input: string, defaultRegion: string): NormaliseResult {
  // Subscribers recur (OTPs, alerts): remember recent answers. The result depends only on
  // the input and the region, so the memo is exact; it is bounded (see Memo).
  const key = `${defaultRegion}|${input}`;
  const known = memo.get(key);
  if (known !== undefined) return known;
  const result = normaliseUncached(input, defaultRegion);
  memo.set(key, result);
  return result;
}

/**
 * A bounded memo in two generations: new answers go into `young`; when it is full it
 * becomes `old` and the previous `old` is dropped whole; a hit in `old` moves back to
 * `young`. Every operation is O(1) however full it is — unlike evicting the oldest key of
 * one big Map with `keys().next()`, which slows down as deleted slots pile up at its
 * front (≈25 µs a miss past 100,000 distinct numbers). Holds between MEMO_MAX/2 and
 * MEMO_MAX answers; the ones used within the last MEMO_MAX/2 distinct misses stay.
 */
class Memo<V> {
  #young = new Map<string, V>();
  #old = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.#young.get(key);
    if (v !== undefined) return v;
    const o = this.#old.get(key);
    if (o !== undefined) this.set(key, o);
    return o;
  }
  set(key: string, value: V): void {
    if (this.#young.size >= this.max / 2) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }
  get size(): number {
    return this.#young.size + this.#old.size;
  }
}

const MEMO_MAX = 100_000;
const memo = new Memo<NormaliseResult>(MEMO_MAX);

/** normaliseMsisdn without the memo: for bulk work (a DNC import) that would only churn it. */
export function normaliseUncached(input: string, defaultRegion: string): NormaliseResult {
  if (!isSupportedCountry(defaultRegion)) {
    throw new QasidError('CONFIG_INVALID', `default region '${defaultRegion}' is not an ISO 3166-1 alpha-2 code with numbering metadata`, {
      key: 'defaultRegion',
    });
  }
  const trimmed = input.trim();
  if (trimmed === '') return { ok: false, reason: 'empty' };
  if (!ALLOWED.test(trimmed)) return { ok: false, reason: 'invalid_number' };
  // '+' (kept only when leading) followed by ASCII digits; Unicode digits become ASCII.
  const compact = parseIncompletePhoneNumber(trimmed);
  const plus = compact.startsWith('+');
  const digits = plus ? compact.slice(1) : compact;
  if (digits === '') return { ok: false, reason: 'invalid_number' };

  if (plus) return classify(parseInternational(digits), defaultRegion);
  if (digits.startsWith('00')) return classify(parseInternational(digits.slice(2)), defaultRegion);

  // National first: '0300…' and '300…' are PK numbers; a national number that happens to
  // start with the country code's digits (Kohat is 0922) must not be re-read as foreign.
  const national = parsePhoneNumberFromString(digits, { defaultCountry: defaultRegion, extract: false });
  if (national?.isValid() === true) return classifyValid(national, defaultRegion);
  // "Country code without +": 923001234567 in region PK. libphonenumber usually does
  // this itself; doing it explicitly keeps the rule ours and visible.
  const cc = getCountryCallingCode(defaultRegion);
  if (digits.startsWith(cc)) {
    const international = parseInternational(digits);
    if (international?.isValid() === true) return classifyValid(international, defaultRegion);
  }
  return classify(national, defaultRegion);
}

function parseInternational(digits: string): PhoneNumber | undefined {
  if (digits === '') return undefined;
  return parsePhoneNumberFromString(`+${digits}`, { extract: false });
}

function classify(parsed: PhoneNumber | undefined, home: CountryCode): NormaliseResult {
  if (parsed === undefined || !parsed.isValid()) return { ok: false, reason: 'invalid_number' };
  return classifyValid(parsed, home);
}

/** `parsed` already passed isValid(): only its type is left to check. */
function classifyValid(parsed: PhoneNumber, home: CountryCode): NormaliseResult {
  const country = parsed.country ?? NON_GEOGRAPHIC;
  const type = parsed.getType();
  const mobile = type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE' || (type === undefined && country !== home);
  if (!mobile) return { ok: false, reason: 'not_mobile' };
  return { ok: true, e164: parsed.number, country };
}

/** Every country calling code (1–3 digits, a prefix code: none is a prefix of another). */
const CALLING_CODES: ReadonlySet<string> = new Set([
  ...Object.keys(metadata.country_calling_codes),
  ...Object.keys((metadata as { nonGeographic?: Record<string, unknown> }).nonGeographic ?? {}),
]);

/** Fewest digits masked, so even a short number never shows more than it hides. */
const MIN_MASKED = 4;
/** Digits kept after the country code, and at the end, when the number is long enough. */
const KEEP_AFTER_CC = 3;
const KEEP_TAIL = 3;

/**
 * Masks a number for logs: country code, the next 3 digits (the operator's range) and
 * the last 3 stay; everything between becomes '*': '+923001234567' → '+92300****567'.
 * At least 4 digits are always masked; shorter numbers give up kept digits (head and
 * tail alike) before the country code. Non-digits are dropped; a missing '+' stays
 * missing and then no country code is assumed.
 */
export function maskMsisdn(e164: string): string {
  const plus = e164.startsWith('+');
  const digits = e164.replace(/\D/g, '');
  const n = digits.length;
  const cc = plus ? callingCodeLength(digits) : 0;
  const masked = Math.min(n - cc, Math.max(MIN_MASKED, n - cc - KEEP_AFTER_CC - KEEP_TAIL));
  const spare = n - cc - masked;
  const tail = Math.min(KEEP_TAIL, Math.floor(spare / 2));
  const head = cc + Math.min(KEEP_AFTER_CC, spare - tail);
  return `${plus ? '+' : ''}${digits.slice(0, head)}${'*'.repeat(n - head - tail)}${digits.slice(n - tail)}`;
}

function callingCodeLength(digits: string): number {
  for (let len = 1; len <= 3 && len <= digits.length; len++) {
    if (CALLING_CODES.has(digits.slice(0, len))) return len;
  }
  return 0;
}
