import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isQasidError } from '../../src/core/errors.js';
import {
  DEFAULT_KEYWORDS,
  FIRST_WORD_NEGATIONS,
  classifyKeyword,
  compileKeywords,
  normaliseKeyword,
  type KeywordKind,
} from '../../src/privacy/keywords.js';

const k = compileKeywords(DEFAULT_KEYWORDS);

function expectAll(kind: KeywordKind | undefined, texts: readonly string[]): void {
  for (const text of texts) assert.equal(classifyKeyword(text, k), kind, JSON.stringify(text));
}

test('normaliseKeyword: case, spaces, punctuation, NFKC, marks and format characters do not count', () => {
  assert.equal(normaliseKeyword('Band Karo!'), 'bandkaro');
  assert.equal(normaliseKeyword(' S T O P '), 'stop');
  assert.equal(normaliseKeyword('ＳＴＯＰ'), 'stop'); // full width
  assert.equal(normaliseKeyword('Opt-Out'), 'optout');
  assert.equal(normaliseKeyword('STÓP'), 'stop');
  assert.equal(normaliseKeyword('\u200Fstop\u200B🛑\uFE0F'), 'stop');
  assert.equal(normaliseKeyword('stop\r\n\t\u00A0\u3000'), 'stop');
  assert.equal(normaliseKeyword('...!?'), '');
});

test('normaliseKeyword: Urdu/Arabic diacritics, tatweel and letter variants fold together', () => {
  const bandKaren = normaliseKeyword('بند کریں');
  for (const variant of ['بَنْد کَرِیں', 'بنـــد کریں', 'بند كريں', 'بند کري\u06BA', 'بند کرىں', 'ﺑﻨﺪ کریں', 'بند\u200Cکریں', 'بند کریں۔']) {
    assert.equal(normaliseKeyword(variant), bandKaren, variant);
  }
  // ہ/ه/ۃ/ھ, ۓ/ے, ئ/ی, hamza/madda on alef and waw.
  assert.equal(normaliseKeyword('نهيں چاهئے'), normaliseKeyword('نہیں چاہیے'));
  assert.equal(normaliseKeyword('مت بهيجو'), normaliseKeyword('مت بھیجو'));
  assert.equal(normaliseKeyword('ۃ'), normaliseKeyword('ہ'));
  assert.equal(normaliseKeyword('ۓ'), normaliseKeyword('ے'));
  assert.equal(normaliseKeyword('أإآٱ'), 'اااا');
  assert.equal(normaliseKeyword('ؤ'), 'و');
  // Urdu and Arabic-Indic digits become ASCII.
  assert.equal(normaliseKeyword('STOP ۸۵۵۵'), 'stop8555');
  assert.equal(normaliseKeyword('٠١٢٣٤٥٦٧٨٩'), '0123456789');
});

test('default English stop keywords, in any case, spacing and punctuation', () => {
  expectAll('stop', ['STOP', 'stop', 'Stop.', ' S T O P ', 'stop!!!', '"STOP"', 'ＳＴＯＰ', 'STOP 🛑', '(stop)', 'StOp\r\n']);
  expectAll('stop', ['UNSUB', 'unsubscribe', 'Un-Subscribe', 'UNREG', 'OPTOUT', 'OPT OUT', 'opt-out', 'Opt Out!', 'END', 'quit', 'Cancel.', 'STOPALL']);
});

test('default Roman-Urdu stop keywords', () => {
  expectAll('stop', ['BAND', 'band', 'Bund', 'band karo', 'BANDKARO', 'Band Karo!', 'bund karo', 'band kar do', 'BAND KARDO', 'band karein', 'Band Karen', 'band karain']);
  expectAll('stop', ['nahi chahiye', 'NAHIN CHAHIYE', 'nahichahiye', 'Nahi chahie.', 'mat bhejo', 'MAT BHEJEIN', 'na bhejo', 'bas karo', 'sms band', 'SMS BAND KARO']);
});

test('default Urdu-script stop keywords, with diacritics and Arabic-keyboard letters', () => {
  expectAll('stop', ['بند', ' بند ', 'بند۔', 'بَند', 'بند کرو', 'بند کر دو', 'بند کردو', 'بند کریں', 'بند کیجیے', 'بند کیجئے', 'بس کرو']);
  expectAll('stop', ['نہیں چاہیے', 'نہیں چاہئے', 'نہیں چاہیئے', 'نهيں چاهيے', 'نہیں چاہیے!', 'مت بھیجو', 'مت بهيجو', 'مت بھیجیں', 'نہ بھیجو', 'ایس ایم ایس بند کریں']);
});

test('default start keywords: English, Roman Urdu, Urdu script', () => {
  expectAll('start', ['START', 'start', 'Start.', ' s t a r t ', 'REG', 'subscribe', 'UNSTOP', 'un-stop']);
  expectAll('start', ['SHURU', 'shuroo', 'shuru karo', 'SHURUKARO', 'Shuru Karein', 'chalu karo', 'CHALU KAREIN', 'dobara shuru karo']);
  expectAll('start', ['شروع', 'شُروع', 'شروع کرو', 'شروع کریں', 'شروع كريں', 'شروع کر دو', 'چالو کرو', 'چالو کریں', 'دوبارہ شروع کریں']);
});

test('first-word rule: a single-word keyword leading the message matches', () => {
  expectAll('stop', ['STOP 8555', 'stop please', 'Stop sending me these', 'STOP\nSent from my phone', 'STOP, thanks', '- stop please', '👍 stop it', 'unsub 1234', 'band karo please', 'BAND 8555', 'بند کرو بھائی', 'STOP ۸۵۵۵']);
  // An opt-in must be the whole message: an ordinary reply that starts with "start" never undoes a STOP.
  expectAll(undefined, ['START 8555', 'start again', 'REG 1234', 'شروع کریں پلیز', 'shuru karo please']);
});

test('first-word rule: keywords elsewhere in the message, or inside a word, do not match', () => {
  expectAll(undefined, ["don't stop", 'dont stop', 'stopwatch', 'I want to band my account', 'please stop', 'Ok. Stop', 'bands', 'ending', 'restart', 'startup', 'the end']);
  expectAll(undefined, ['meri service band karo', 'mujhe nahi chahiye ye', 'نہیں', 'ابھی بند کرو', 'STOP8555']);
});

test('first-word rule: a multi-word keyword does not count as a first word', () => {
  // "nahi chahiye" and "opt out" match only as the whole message.
  expectAll(undefined, ['nahi chahiye shukriya', 'opt out now', 'mat bhejo yeh', 'chalu karo abhi']);
});

test('first-word rule: an Urdu negation as second word means "don\'t stop"', () => {
  expectAll(undefined, ['band mat karo', 'BAND NA KARO', 'stop mat karo', 'band nahi karna', 'بند نہ کرو', 'بند مت کریں', 'بند نہیں کرنا', 'shuru mat karo']);
  assert.ok(FIRST_WORD_NEGATIONS.has('mat'));
  // A negation elsewhere, or the polite tag "na" at the end, does not block.
  expectAll('stop', ['band karo na', 'stop it mat bhejo', 'بند کرو نا']);
});

test('common replies that are not keywords', () => {
  expectAll(undefined, ['', '   ', '...', '👍', 'NO', 'yes', 'nahi', 'Nahin', 'ok', 'bas', 'chalu', 'Thanks', 'ہاں', 'نہیں', 'جی', '12345', 'brand?']);
});

test('stop and start are told apart, and a whole-message keyword beats its first word', () => {
  assert.equal(classifyKeyword('STOP', k), 'stop');
  assert.equal(classifyKeyword('START', k), 'start');
  assert.equal(classifyKeyword('UNSTOP', k), 'start');
  assert.equal(classifyKeyword('stop start', k), 'stop');
  assert.equal(classifyKeyword('start stop', k), undefined);
  const custom = compileKeywords({ stop: ['BAND'], start: ['BAND KHOLO'] });
  assert.equal(classifyKeyword('band kholo', custom), 'start');
  assert.equal(classifyKeyword('band', custom), 'stop');
  assert.equal(classifyKeyword('band kholo please', custom), 'stop'); // first word only: documented limit
});

test('custom lists replace the defaults', () => {
  const custom = compileKeywords({ stop: ['ROKO', 'Rok Do', 'رکو'], start: ['JAARI', 'جاری رکھیں'] });
  assert.equal(classifyKeyword('roko', custom), 'stop');
  assert.equal(classifyKeyword('Roko 8555', custom), 'stop');
  assert.equal(classifyKeyword('rok do', custom), 'stop');
  assert.equal(classifyKeyword('ROKDO', custom), 'stop');
  assert.equal(classifyKeyword('rok do please', custom), undefined);
  assert.equal(classifyKeyword('رُکو', custom), 'stop');
  assert.equal(classifyKeyword('jaari', custom), 'start');
  assert.equal(classifyKeyword('جاری رکھیں', custom), 'start');
  assert.equal(classifyKeyword('STOP', custom), undefined);
  assert.equal(classifyKeyword('START', custom), undefined);
  const empty = compileKeywords({ stop: [], start: [] });
  assert.equal(classifyKeyword('STOP', empty), undefined);
  // Duplicates within one list, in any spelling, are harmless.
  const dup = compileKeywords({ stop: ['STOP', 'stop', 'S-T-O-P'], start: [] });
  assert.equal(classifyKeyword('stop', dup), 'stop');
});

test('compile errors name the bad entry', () => {
  const fails = (lists: { stop: string[]; start: string[] }, pattern: RegExp): void => {
    assert.throws(
      () => compileKeywords(lists),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.ok(isQasidError(e, 'CONFIG_INVALID'));
        assert.match(e.message, pattern);
        return true;
      },
    );
  };
  fails({ stop: ['STOP', '   '], start: [] }, /'stop' entry 1 \(" {3}"\) is empty/);
  fails({ stop: ['STOP'], start: ['START', '!?.'] }, /'start' entry 1 \("!\?\."\) is empty/);
  fails({ stop: ['STOP'], start: ['\u064E\u0640'] }, /'start' entry 0/);
  fails({ stop: ['STOP', 'BAND'], start: ['Band.'] }, /'start' entry 0 \("Band\."\) is also in the 'stop' list \(as "BAND"\)/);
  fails({ stop: ['بند'], start: ['بَند'] }, /'start' entry 0 .* also in the 'stop' list/);
  fails({ stop: ['OPT OUT'], start: ['optout'] }, /"optout".*'stop' list \(as "OPT OUT"\)/);
  fails({ stop: 'STOP' as unknown as string[], start: [] }, /'stop' is not a list/);
});

test('defaults are frozen, compile cleanly and avoid ordinary replies', () => {
  assert.ok(Object.isFrozen(DEFAULT_KEYWORDS));
  assert.ok(Object.isFrozen(DEFAULT_KEYWORDS.stop));
  assert.ok(Object.isFrozen(DEFAULT_KEYWORDS.start));
  const all = [...DEFAULT_KEYWORDS.stop, ...DEFAULT_KEYWORDS.start].map(normaliseKeyword);
  for (const common of ['no', 'yes', 'nahi', 'nahin', 'haan', 'ok', 'bas', 'chalu', 'نہیں', 'ہاں']) {
    assert.ok(!all.includes(normaliseKeyword(common)), common);
  }
  // Every default entry classifies as its own list, alone and as a first word when single.
  for (const kind of ['stop', 'start'] as const) {
    for (const keyword of DEFAULT_KEYWORDS[kind]) assert.equal(classifyKeyword(keyword, k), kind, keyword);
  }
});

test('classification is cheap enough to run on every MO', () => {
  // Not a timing assertion: a long message still gives the right answer.
  const long = `STOP ${'x'.repeat(70_000)}`;
  assert.equal(classifyKeyword(long, k), 'stop');
  assert.equal(classifyKeyword(`please ${'stop '.repeat(10_000)}`, k), undefined);
});
