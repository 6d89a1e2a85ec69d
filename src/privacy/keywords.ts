/**
 * Opt-out / opt-in keywords in mobile-originated (MO) text. Pure: compile the lists once
 * (at boot or on reload), then classify each MO with a couple of map look-ups.
 *
 * Matching works on normalised text (see normaliseKeyword): case, spaces, punctuation,
 * symbols and emoji, Latin accents and Arabic-script diacritics do not count, and the
 * usual Urdu/Arabic letter and digit variants are folded together. A message is a
 * keyword when
 *   1. the whole normalised text equals any keyword ("S T O P", "Band Karo!", "بند کریں"), or
 *   2. its first word (the first whitespace-separated token with anything left after
 *      normalising) equals a single-word keyword: "STOP 8555", "stop please", "بند کرو".
 *      Exception: not when the second word is an Urdu negation ("band mat karo",
 *      "بند نہ کرو": "don't stop"); see FIRST_WORD_NEGATIONS.
 * So "don't stop", "stopwatch" and "I want to band my account" are not keywords.
 * Rule 1 is checked first: a multi-word keyword beats a single-word one at its start.
 */
import { QasidError } from '../core/errors.js';

/** Everything that does not count: see normaliseKeyword. \p{Z} and \s cover all spaces and line ends. */
const DROP = /[\s\p{Z}\p{P}\p{S}\p{Mn}\p{Me}\p{Cf}\p{Cc}\u0640]+/gu;

const FOLD: Readonly<Record<string, string>> = (() => {
  const map: Record<string, string> = {};
  const to = (target: string, sources: string): void => {
    for (const c of sources) map[c] = target;
  };
  to('\u06CC', '\u064A\u0649'); // ی ← ي ى (ئ arrives here as ي once its hamza is dropped)
  to('\u06A9', '\u0643\u06AA'); // ک ← ك ڪ
  to('\u06C1', '\u0647\u06BE\u06C3\u0629\u06D5'); // ہ ← ه ھ ۃ ة ە
  to('\u0627', '\u0671'); // ا ← ٱ
  to('\u0646', '\u06BA'); // ن ← ں
  for (let d = 0; d <= 9; d++) {
    map[String.fromCharCode(0x06f0 + d)] = String(d); // Urdu (Extended Arabic-Indic)
    map[String.fromCharCode(0x0660 + d)] = String(d); // Arabic-Indic
  }
  return Object.freeze(map);
})();
const FOLD_CHARS = new RegExp(`[${Object.keys(FOLD).join('')}]`, 'gu');

export type KeywordKind = 'stop' | 'start';

export interface KeywordLists {
  stop: readonly string[];
  start: readonly string[];
}

/**
 * Defaults, chosen to be what subscribers in Pakistan actually send and not words that
 * turn up in ordinary replies: no "NO", "YES", "NAHI", "BAS" or "CHALU" alone. Multi-word
 * entries match only as the whole message; single-word entries also as its first word.
 * Spelling variants that normalise alike (OPT-OUT, OPTOUT, Opt Out; ي/ی, ك/ک, ه/ہ …)
 * need no entry of their own.
 */
export const DEFAULT_KEYWORDS: KeywordLists = Object.freeze({
  stop: Object.freeze([
    // English (CTIA's set plus the UNSUB/UNREG forms local short codes use).
    'STOP',
    'STOPALL',
    'UNSUB',
    'UNSUBSCRIBE',
    'UNREG',
    'OPTOUT',
    'OPT OUT',
    'END',
    'QUIT',
    'CANCEL',
    // Roman Urdu.
    'BAND',
    'BUND',
    'BAND KARO',
    'BUND KARO',
    'BAND KAR DO',
    'BAND KAREIN',
    'BAND KAREN',
    'BAND KARAIN',
    'BAND KIJIYE',
    'SMS BAND',
    'SMS BAND KARO',
    'BAS KARO',
    'NAHI CHAHIYE',
    'NAHIN CHAHIYE',
    'NAHI CHAHIE',
    'NAHIN CHAHIE',
    'MAT BHEJO',
    'MAT BHEJEIN',
    'MAT BHEJAIN',
    'NA BHEJO',
    // Urdu script.
    'بند',
    'بند کرو',
    'بند کر دو',
    'بند کریں',
    'بند کیجیے',
    'بند کیجئے',
    'ایس ایم ایس بند کریں',
    'بس کرو',
    'نہیں چاہیے', // also چاہئے: ئ folds to ی
    'نہیں چاہیئے',
    'مت بھیجو',
    'مت بھیجیں',
    'نہ بھیجو',
    'نہ بھیجیں',
  ]),
  start: Object.freeze([
    // English.
    'START',
    'REG',
    'SUBSCRIBE',
    'UNSTOP',
    // Roman Urdu.
    'SHURU',
    'SHUROO',
    'SHURU KARO',
    'SHURU KAREIN',
    'SHURU KAREN',
    'CHALU KARO',
    'CHALU KAREIN',
    'DOBARA SHURU KARO',
    // Urdu script.
    'شروع',
    'شروع کرو',
    'شروع کریں',
    'شروع کر دو',
    'چالو کرو',
    'چالو کریں',
    'دوبارہ شروع کریں',
  ]),
});

/**
 * Second words that turn a leading single-word keyword into its negation in Urdu word
 * order ("band mat karo", "stop na karo", "بند نہ کریں" = "don't stop"). Normalised form.
 * Only rule 2 (first word) looks at them; a whole-message keyword still matches.
 */
export const FIRST_WORD_NEGATIONS: ReadonlySet<string> = new Set(
  ['mat', 'mt', 'na', 'nah', 'nahi', 'nahin', 'nai', 'nahein', 'مت', 'نہ', 'نا', 'نہیں', 'نہی'].map(normaliseKeyword),
);

/** Lists compiled for cheap classification. Build with compileKeywords(); treat as opaque. */
export interface CompiledKeywords {
  /** Every keyword, normalised, to its kind (rule 1: whole message). */
  readonly whole: ReadonlyMap<string, KeywordKind>;
  /** Single-word keywords, normalised, to their kind (rule 2: first word). */
  readonly firstWord: ReadonlyMap<string, KeywordKind>;
}

/**
 * Compiles keyword lists. Throws QasidError CONFIG_INVALID (an Error) naming the entry
 * when a keyword normalises to nothing (only spaces, punctuation or marks) or when the
 * same normalised keyword is in both lists. Duplicates within one list are harmless.
 */
export function compileKeywords(lists: KeywordLists): CompiledKeywords {
  const whole = new Map<string, KeywordKind>();
  const firstWord = new Map<string, KeywordKind>();
  const origin = new Map<string, string>();
  for (const kind of ['stop', 'start'] as const) {
    const entries: unknown = lists[kind];
    if (!Array.isArray(entries)) throw new QasidError('CONFIG_INVALID', `keyword list '${kind}' is not a list`, { list: kind });
    entries.forEach((entry, index) => {
      const where = `keyword list '${kind}' entry ${index}`;
      if (typeof entry !== 'string') throw new QasidError('CONFIG_INVALID', `${where} is not a string`, { list: kind, index });
      const key = normaliseKeyword(entry);
      if (key === '') {
        throw new QasidError('CONFIG_INVALID', `${where} (${JSON.stringify(entry)}) is empty once case, spaces, punctuation and marks are dropped`, {
          list: kind,
          index,
          entry,
        });
      }
      const other = whole.get(key);
      if (other !== undefined && other !== kind) {
        throw new QasidError(
          'CONFIG_INVALID',
          `${where} (${JSON.stringify(entry)}) is also in the '${other}' list (as ${JSON.stringify(origin.get(key))}); both normalise to ${JSON.stringify(key)}`,
          { list: kind, index, entry, normalised: key },
        );
      }
      whole.set(key, kind);
      if (!origin.has(key)) origin.set(key, entry);
      // Only an opt-out may lead a longer message ("STOP 8555", "stop please"); an opt-in
      // must be the whole message, so an ordinary reply starting "start…" never undoes a STOP.
      if (kind === 'stop' && words(entry.normalize('NFKC')).length === 1) firstWord.set(key, kind);
    });
  }
  return { whole, firstWord };
}

/** 'stop' for an opt-out, 'start' for an opt-in, undefined for anything else. */
export function classifyKeyword(text: string, k: CompiledKeywords): KeywordKind | undefined {
  const nfkc = text.normalize('NFKC');
  const all = fold(nfkc);
  if (all === '') return undefined;
  const whole = k.whole.get(all);
  if (whole !== undefined) return whole;
  const [first, second] = words(nfkc, 2);
  if (first === undefined) return undefined;
  const kind = k.firstWord.get(first);
  if (kind === undefined) return undefined;
  if (second !== undefined && FIRST_WORD_NEGATIONS.has(second)) return undefined;
  return kind;
}

/**
 * The form keywords are compared in: NFKC (full-width, presentation forms, ligatures);
 * lower case; no whitespace, punctuation, symbols (emoji included), format characters
 * (ZWNJ, RLM, BOM …) or non-spacing marks (Latin accents; Arabic harakat, superscript
 * alef, hamza and madda above/below, Quranic marks); no tatweel; Urdu/Arabic variants
 * folded: ي ى ئ→ی, ك ڪ→ک, ه ھ ۃ ة ە ۂ→ہ, ۓ→ے, أ إ آ ٱ→ا, ؤ→و, ں→ن, and Urdu (۰–۹)
 * and Arabic-Indic (٠–٩) digits to ASCII. "Band Karo!" → "bandkaro"; "بَند" → "بند".
 */
export function normaliseKeyword(text: string): string {
  return fold(text.normalize('NFKC'));
}

/**
 * `nfkc` must already be NFKC. Canonical decomposition splits ۓ, ئ, أ, آ, ؤ, ۂ and
 * accented Latin into base letter + mark so the marks can be dropped; NFC at the end
 * puts back anything (Hangul, say) that decomposition took apart and nothing dropped.
 */
function fold(nfkc: string): string {
  return nfkc
    .normalize('NFD')
    .toLowerCase()
    .replace(DROP, '')
    .replace(FOLD_CHARS, (c) => FOLD[c] ?? c)
    .normalize('NFC');
}

/** Up to `max` whitespace-separated tokens of NFKC text, folded, skipping those that fold to ''. */
function words(nfkc: string, max = Infinity): string[] {
  const out: string[] = [];
  for (const m of nfkc.matchAll(/\S+/gu)) {
    const w = fold(m[0]);
    if (w === '') continue;
    out.push(w);
    if (out.length >= max) break;
  }
  return out;
}
