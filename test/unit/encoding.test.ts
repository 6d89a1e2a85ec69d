import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SegmentedMessage } from 'sms-segments-calculator';
import {
  chooseCoding,
  countParts,
  decodeGsm7Unpacked,
  decodeUcs2,
  encodeGsm7Unpacked,
  encodeMessage,
  encodeUcs2,
  gsmSeptets,
  isGsm7,
} from '../../src/encoding/index.js';
import type { Coding, ConcatMethod, EncodedMessage, SmsPart } from '../../src/encoding/index.js';

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXT = '\f^{}\\[~]|€';
/** Urdu letters, digits and punctuation: single code points, each a grapheme cluster of its own. */
const URDU = 'ابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنںوہھءیےآ۰۱۲۳۴۵۶۷۸۹،۔؟';
/** Urdu diacritics (fathatan … sukun, superscript alef): combining marks that join the character before them. */
const HARAKAT = [...'\u064B\u064C\u064D\u064E\u064F\u0650\u0651\u0652\u0670'];
const ZWNJ = '\u200C';
const ZWJ = '\u200D';
/** Astral emoji without modifiers, ZWJ or regional indicators: one grapheme each, a surrogate pair each. */
const EMOJI = ['😀', '🎉', '🚀', '👍', '💯', '🙏', '🔥', '🤝'];
/** Emoji modifiers (Fitzpatrick skin tones), U+1F3FB–U+1F3FF. */
const SKIN_TONES = ['🏻', '🏼', '🏽', '🏾', '🏿'];
/** Emoji that take a skin tone (Emoji_Modifier_Base already in Unicode 10). */
const TONEABLE = ['👍', '👋', '🙏', '👩', '👨', '💪'];
/** Regional indicator pairs. */
const FLAGS = ['🇵🇰', '🇮🇳', '🇬🇧', '🇸🇦', '🇦🇪'];
/** Keycaps: character + VS16 + U+20E3. */
const KEYCAPS = ['1️⃣', '#️⃣', '*️⃣', '0️⃣'];
/** ZWJ sequences whose every join Unicode 10 already made (Glue_After_Zwj, E_Base_GAZ). */
const ZWJ_SEQUENCES = ['👨‍👩‍👧', '👩‍💻', '🏳️‍🌈', '👩🏽‍💻', '👁️‍🗨️'];
const METHODS: ConcatMethod[] = ['udh8', 'udh16', 'sar', 'payload'];

function ok(r: ReturnType<typeof encodeMessage>): EncodedMessage {
  if ('error' in r) assert.fail(`unexpected ${r.error}: ${r.parts} > ${r.maxParts}`);
  return r;
}

/** The text bytes of a part: short_message after the UDH, or message_payload. */
function payloadOf(p: SmsPart): Buffer {
  if (p.messagePayload) return p.messagePayload;
  return p.udhi ? p.shortMessage.subarray((p.shortMessage[0] as number) + 1) : p.shortMessage;
}

function decode(coding: Coding, b: Buffer): string {
  return coding === 'gsm7' ? decodeGsm7Unpacked(b) : decodeUcs2(b);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const GRAPHEMES = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Grapheme clusters of `s` (UAX #29 as the runtime's ICU has it), CR LF counted as two
 * clusters: the GSM path and sms-segments-calculator both treat them as two characters.
 */
function clusters(s: string): string[] {
  return [...GRAPHEMES.segment(s)].flatMap(({ segment }) => (segment === '\r\n' ? ['\r', '\n'] : [segment]));
}

/** The text of each part. */
function partTexts(m: EncodedMessage): string[] {
  return m.parts.map((p) => decode(m.coding, payloadOf(p)));
}

/** Units a part of a concatenated message carries. */
function perPart(coding: Coding, method: ConcatMethod): number {
  if (coding === 'gsm7') return method === 'udh16' ? 152 : 153;
  return method === 'udh16' ? 66 : 67;
}

/**
 * Clusters of `s` that a boundary between the parts `texts` falls inside, leaving out the
 * clusters longer than `limit` units (those cannot be kept whole).
 */
function splitClusters(s: string, texts: string[], limit: number): string[] {
  const inside: string[] = [];
  const boundaries = new Set<number>();
  let at = 0;
  for (const t of texts.slice(0, -1)) boundaries.add((at += t.length));
  let start = 0;
  for (const c of clusters(s)) {
    for (let b = start + 1; b < start + c.length; b++) {
      if (boundaries.has(b) && c.length <= limit) inside.push(`${JSON.stringify(c)} cut at ${b - start}`);
    }
    start += c.length;
  }
  return inside;
}

/**
 * The same clusters, each spelled as 'ب' plus fathas (one unit each) so that the
 * calculator's grapheme-splitter (UAX #29 of Unicode 10) sees exactly these clusters with
 * these lengths: its packing of today's clusters. UCS-2 text only.
 */
function spelledForUnicode10(cs: string[]): string {
  return cs.map((c) => 'ب' + '\u064E'.repeat(c.length - 1)).join('');
}

test('"Hello" is GSM, one part, no UDH', () => {
  const m = ok(encodeMessage('Hello', { method: 'udh8', ref: 1 }));
  assert.equal(m.coding, 'gsm7');
  assert.equal(m.dataCoding, 0);
  assert.equal(m.units, 5);
  assert.equal(m.parts.length, 1);
  assert.deepEqual(m.parts[0], { shortMessage: Buffer.from('Hello'), udhi: false, seq: 1, total: 1 });
  assert.deepEqual(countParts('Hello'), { coding: 'gsm7', units: 5, parts: 1 });
});

test('160 plain characters fit one part; 161 take two (153 + 8)', () => {
  assert.equal(countParts('a'.repeat(160)).parts, 1);
  const m = ok(encodeMessage('a'.repeat(161), { method: 'udh8', ref: 7 }));
  assert.deepEqual(m.parts.map((p) => payloadOf(p).length), [153, 8]);
  assert.deepEqual(m.parts.map((p) => p.shortMessage.length), [159, 14]);
  assert.ok(m.parts.every((p) => p.udhi));
});

test('the euro sign and the other extension characters count two septets', () => {
  assert.equal(gsmSeptets('€'), 2);
  assert.equal(gsmSeptets('Price: 5€'), 10);
  assert.equal(gsmSeptets(GSM_EXT), 20);
  assert.deepEqual([...encodeGsm7Unpacked('€')], [0x1b, 0x65]);
  assert.deepEqual([...encodeGsm7Unpacked(GSM_EXT)], [
    0x1b, 0x0a, 0x1b, 0x14, 0x1b, 0x28, 0x1b, 0x29, 0x1b, 0x2f, 0x1b, 0x3c, 0x1b, 0x3d, 0x1b, 0x3e, 0x1b, 0x40, 0x1b, 0x65,
  ]);
  assert.equal(countParts('€'.repeat(80)).parts, 1);
  assert.equal(countParts('€'.repeat(81)).parts, 2);
});

test('an escape pair on the 153-septet boundary moves whole to the next part', () => {
  const m = ok(encodeMessage('a'.repeat(152) + '€' + 'a'.repeat(10), { method: 'udh8', ref: 1 }));
  assert.equal(m.units, 164);
  const [p1, p2] = m.parts.map(payloadOf) as [Buffer, Buffer];
  assert.equal(p1.length, 152);
  assert.equal(p1.at(-1), 0x61);
  assert.deepEqual([...p2.subarray(0, 3)], [0x1b, 0x65, 0x61]);
  // One septet earlier, the pair ends exactly on the boundary and stays.
  const n = ok(encodeMessage('a'.repeat(151) + '€' + 'a'.repeat(10), { method: 'udh8', ref: 1 }));
  assert.deepEqual(n.parts.map((p) => payloadOf(p).length), [153, 10]);
});

test('GSM alphabet quirks: Ç is 0x09, ç is not GSM and is never substituted', () => {
  assert.deepEqual([...encodeGsm7Unpacked('Ç@$¤_')], [0x09, 0x00, 0x02, 0x24, 0x11]);
  assert.equal(isGsm7('Ç'), true);
  assert.equal(isGsm7('ç'), false);
  assert.equal(chooseCoding('Ça va, garçon'), 'ucs2');
  assert.throws(() => encodeGsm7Unpacked('ç'), RangeError);
  assert.throws(() => gsmSeptets('ok ç'), RangeError);
  for (const ch of ['`', '\u001b', '\t', 'Α' /* Greek capital alpha */, 'ą', '\u00a0']) {
    assert.equal(isGsm7(ch), false, `U+${ch.charCodeAt(0).toString(16)}`);
  }
  assert.equal(isGsm7(GSM_BASIC + GSM_EXT), true);
  assert.equal(gsmSeptets(GSM_BASIC), 127);
});

test('GSM decoding is graceful with unknown and dangling escapes', () => {
  assert.equal(decodeGsm7Unpacked(Buffer.from([0x48, 0x1b])), 'H '); // trailing escape
  assert.equal(decodeGsm7Unpacked(Buffer.from([0x1b, 0x41, 0x42])), 'AB'); // undefined ext → basic char
  assert.equal(decodeGsm7Unpacked(Buffer.from([0x1b, 0x1b, 0x41])), ' A'); // reserved 0x1B1B
  assert.equal(decodeGsm7Unpacked(Buffer.from([0x41, 0x80, 0x1b, 0xff])), 'A\uFFFD\uFFFD');
  assert.equal(decodeGsm7Unpacked(Buffer.from([0x00, 0x02, 0x1b, 0x65])), '@$€');
});

test('GSM and UCS-2 round trips', () => {
  const all = GSM_BASIC + GSM_EXT;
  assert.equal(decodeGsm7Unpacked(encodeGsm7Unpacked(all)), all);
  const mixed = 'آپ کا کوڈ 1234 ہے 😀 €';
  assert.equal(decodeUcs2(encodeUcs2(mixed)), mixed);
  assert.deepEqual([...encodeUcs2('A😀')], [0x00, 0x41, 0xd8, 0x3d, 0xde, 0x00]);
  assert.equal(decodeUcs2(Buffer.from([0x00, 0x41, 0x06])), 'A'); // odd trailing octet ignored
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => decodeUcs2(encodeUcs2(s)) === s),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...all), { maxLength: 300 }), (a) => {
      const s = a.join('');
      return decodeGsm7Unpacked(encodeGsm7Unpacked(s)) === s;
    }),
    { numRuns: 300 },
  );
});

test('Urdu goes as UCS-2 with data_coding 8', () => {
  const text = 'آپ کا کوڈ 1234 ہے';
  const m = ok(encodeMessage(text, { method: 'udh8', ref: 1 }));
  assert.equal(m.coding, 'ucs2');
  assert.equal(m.dataCoding, 8);
  assert.equal(m.units, text.length);
  assert.equal(m.parts.length, 1);
  assert.deepEqual(m.parts[0]?.shortMessage, Buffer.from(text, 'utf16le').swap16());
  assert.equal(m.parts[0]?.udhi, false);
});

test('70 Urdu characters fit one part; 71 take two (67 + 4)', () => {
  assert.deepEqual(countParts('ب'.repeat(70)), { coding: 'ucs2', units: 70, parts: 1 });
  const m = ok(encodeMessage('ب'.repeat(71), { method: 'udh8', ref: 1 }));
  assert.deepEqual(m.parts.map((p) => payloadOf(p).length), [134, 8]);
  assert.deepEqual(m.parts.map((p) => p.shortMessage.length), [140, 14]);
});

test('an emoji on the 67-unit boundary is not split', () => {
  const text = 'ب'.repeat(66) + '😀' + 'ب'.repeat(10);
  const m = ok(encodeMessage(text, { method: 'udh8', ref: 1 }));
  assert.deepEqual(m.parts.map((p) => payloadOf(p).length / 2), [66, 12]);
  const decoded = m.parts.map((p) => decodeUcs2(payloadOf(p)));
  for (const s of decoded) assert.doesNotMatch(s, LONE_SURROGATE);
  assert.equal(decoded.join(''), text);
});

test('a grapheme cluster across the 67-unit boundary moves whole: flag, skin tone, kasra', () => {
  const b = 'ب';
  const cases: Array<[text: string, units: number[], cluster: string]> = [
    [b.repeat(65) + '🇵🇰' + b.repeat(65), [65, 67, 2], '🇵🇰'],
    [b.repeat(65) + '👍🏽' + b.repeat(65), [65, 67, 2], '👍🏽'],
    [b.repeat(66) + 'بِ' + b.repeat(66), [66, 67, 1], 'بِ'], // letter + kasra U+0650
  ];
  for (const [text, units, cluster] of cases) {
    assert.equal(text.length, 134);
    assert.deepEqual(countParts(text), { coding: 'ucs2', units: 134, parts: 3 });
    assert.equal(new SegmentedMessage(text).segmentsCount, 3);
    const m = ok(encodeMessage(text, { method: 'udh8', ref: 1 }));
    assert.deepEqual(m.parts.map((p) => payloadOf(p).length / 2), units);
    const texts = partTexts(m);
    assert.ok(texts[1]?.startsWith(cluster), cluster);
    assert.equal(texts.join(''), text);
  }
});

test('other clusters across a boundary: diacritics, ZWNJ, keycap, ZWJ sequences; CR LF may be cut', () => {
  const b = 'ب';
  const cases: Array<[before: number, cluster: string, method: ConcatMethod]> = [
    [65, 'بَّ', 'udh8'], // shadda + fatha
    [66, 'بٰ', 'udh8'], // superscript alef
    [66, 'ب' + ZWNJ, 'udh8'],
    [65, '1️⃣', 'udh8'],
    [60, '👨‍👩‍👧', 'udh8'],
    [61, '👩🏽‍💻', 'udh8'],
    [64, '🏳️‍🌈', 'udh8'],
    [65, '🇵🇰', 'udh16'],
    [65, 'بِ', 'udh16'],
  ];
  for (const [before, cluster, method] of cases) {
    const text = b.repeat(before) + cluster + b.repeat(80);
    assert.deepEqual(clusters(cluster), [cluster]);
    const m = ok(encodeMessage(text, { method, ref: 1 }));
    const texts = partTexts(m);
    assert.equal(texts[0], b.repeat(before), cluster);
    assert.ok(texts[1]?.startsWith(cluster), cluster);
    assert.equal(m.parts.length, countParts(text, method).parts);
    if (method === 'udh8') assert.equal(m.parts.length, new SegmentedMessage(text).segmentsCount, cluster);
  }
  // CR LF is one cluster to UAX #29, two characters to SMS: cut between them as GSM text is.
  const crlf = b.repeat(66) + '\r\n' + b.repeat(66);
  const m = ok(encodeMessage(crlf, { method: 'udh8', ref: 1 }));
  assert.deepEqual(partTexts(m), [b.repeat(66) + '\r', '\n' + b.repeat(66)]);
  assert.equal(new SegmentedMessage(crlf).segmentsCount, 2);
  const gsm = ok(encodeMessage('a'.repeat(152) + '\r\n' + 'a'.repeat(10), { method: 'udh8', ref: 1 }));
  assert.deepEqual(partTexts(gsm), ['a'.repeat(152) + '\r', '\n' + 'a'.repeat(10)]);
});

test('a cluster longer than a part is cut at a code point, never inside a surrogate pair', () => {
  const family = '👨' + (ZWJ + '👩').repeat(23); // 71 units, one cluster
  const marks = 'ب' + '\u064E'.repeat(100); // 101 units, one cluster
  assert.deepEqual(clusters(family), [family]);
  assert.deepEqual(clusters(marks), [marks]);
  const b = 'ب';
  const cases: Array<[text: string, method: ConcatMethod, units: number[]]> = [
    [family, 'udh8', [66, 5]], // 67 would split 👩
    [b.repeat(60) + family, 'udh8', [60, 66, 5]], // the long cluster starts a part
    [family + b.repeat(60), 'udh8', [66, 65]],
    [marks, 'udh8', [67, 34]],
    [marks, 'udh16', [66, 35]],
    // Each long cluster starts a part of its own, so it is cut as few times as possible.
    [b.repeat(10) + marks + marks, 'udh8', [10, 67, 34, 67, 34]],
  ];
  for (const [text, method, units] of cases) {
    assert.equal(countParts(text, method).parts, units.length);
    const m = ok(encodeMessage(text, { method, ref: 1 }));
    assert.deepEqual(m.parts.map((p) => payloadOf(p).length / 2), units);
    const texts = partTexts(m);
    for (const t of texts) assert.doesNotMatch(t, LONE_SURROGATE);
    assert.equal(texts.join(''), text);
  }
});

test('grapheme clusters are looked up only for UCS-2 text of more than one part, once per message', () => {
  const proto = Intl.Segmenter.prototype;
  const original = proto.segment;
  let calls = 0;
  proto.segment = function (this: Intl.Segmenter, input: string) {
    calls++;
    return original.call(this, input);
  };
  try {
    for (const text of ['a'.repeat(1000), '€'.repeat(500), 'ب'.repeat(70), 'ب'.repeat(69) + 'ِ', '👍🏽'.repeat(17)]) {
      countParts(text);
      ok(encodeMessage(text, { method: 'udh8', ref: 1 }));
    }
    assert.equal(calls, 0);
    assert.equal(countParts('ب'.repeat(71)).parts, 2);
    assert.equal(calls, 1);
    assert.equal(ok(encodeMessage('ب'.repeat(670), { method: 'udh8', ref: 1 })).parts.length, 10);
    assert.equal(calls, 2);
  } finally {
    proto.segment = original;
  }
});

test('where sms-segments-calculator 1.3.0 counts differently, and why', () => {
  // Its grapheme-splitter 1.0.4 implements UAX #29 of Unicode 10; we use the runtime's ICU.
  // If this test fails the calculator changed: revisit the oracle in the property test.
  const b = 'ب';
  const family = '👨' + (ZWJ + '👩').repeat(23); // 71 units, one cluster
  const cases: Array<[text: string, ours: number, calculator: number, why: string]> = [
    // Since Unicode 11 a skin tone is Extend and joins whatever precedes it; in 10 it stood alone after a non-emoji.
    [b.repeat(65) + b + '🏽' + b.repeat(65), 3, 2, 'skin tone after a letter'],
    // Unicode 10 glued ❤ (Glue_After_Zwj) to any ZWJ; since 11 only an emoji + ZWJ joins the next emoji.
    [b.repeat(65) + b + ZWJ + '❤' + b.repeat(65), 2, 3, 'letter + ZWJ + ❤'],
    // ❤️‍🔥 (Unicode 13.1): Unicode 10 joins only Glue_After_Zwj after a ZWJ, not 🔥.
    [b.repeat(64) + '❤️‍🔥' + b.repeat(64), 3, 2, 'heart on fire'],
    // A grapheme-splitter bug (GB9 already forbids it in 10): after a flag only the first mark joins it.
    [b.repeat(62) + '🇵🇰\u064E\u064E' + b.repeat(62), 3, 2, 'flag + two fathas'],
    // Clusters longer than a part: the calculator never cuts one, it overfills a part instead
    // (here its second part holds 71 units, 4 more than fit) and may leave the first empty.
    [b.repeat(60) + family, 3, 2, 'letters + 71-unit cluster'],
    [family + b.repeat(60), 2, 3, '71-unit cluster + letters'],
  ];
  for (const [text, ours, calculator, why] of cases) {
    assert.equal(countParts(text).parts, ours, why);
    assert.equal(new SegmentedMessage(text).segmentsCount, calculator, why);
  }
  // The first four are only the clustering: the calculator agrees given today's clusters.
  for (const [text, ours, , why] of cases.slice(0, 4)) {
    assert.equal(new SegmentedMessage(spelledForUnicode10(clusters(text))).segmentsCount, ours, why);
  }
  assert.deepEqual(new SegmentedMessage(family).segments.map((s) => s.length - 6), [0, 1]); // 6 UDH octets each
});

test('concatenation UDH bytes are exact (8- and 16-bit reference)', () => {
  const text = 'a'.repeat(161);
  const u8 = ok(encodeMessage(text, { method: 'udh8', ref: 0x1234 }));
  assert.deepEqual([...u8.parts.map((p) => p.shortMessage.subarray(0, 6))], [
    Buffer.from('050003340201', 'hex'),
    Buffer.from('050003340202', 'hex'),
  ]);
  const u16 = ok(encodeMessage(text, { method: 'udh16', ref: 0x1234 }));
  assert.deepEqual([...u16.parts.map((p) => p.shortMessage.subarray(0, 7))], [
    Buffer.from('06080412340201', 'hex'),
    Buffer.from('06080412340202', 'hex'),
  ]);
  // 16-bit reference leaves 152 septets / 66 units per part.
  assert.deepEqual(u16.parts.map((p) => payloadOf(p).length), [152, 9]);
  assert.deepEqual(u16.parts.map((p) => ({ seq: p.seq, total: p.total, udhi: p.udhi })), [
    { seq: 1, total: 2, udhi: true },
    { seq: 2, total: 2, udhi: true },
  ]);
  const urdu = ok(encodeMessage('ب'.repeat(133), { method: 'udh16', ref: 9 }));
  assert.deepEqual(urdu.parts.map((p) => payloadOf(p).length / 2), [66, 66, 1]);
  assert.equal(countParts('ب'.repeat(133), 'udh16').parts, 3);
  assert.equal(countParts('ب'.repeat(133)).parts, 2);
});

test('SAR parts carry no UDH and the sar_* fields', () => {
  const m = ok(encodeMessage('a'.repeat(310), { method: 'sar', ref: 0xbeef }));
  assert.equal(m.parts.length, 3);
  assert.deepEqual(m.parts.map((p) => p.sar), [
    { ref: 0xbeef, total: 3, seq: 1 },
    { ref: 0xbeef, total: 3, seq: 2 },
    { ref: 0xbeef, total: 3, seq: 3 },
  ]);
  assert.ok(m.parts.every((p) => !p.udhi && p.messagePayload === undefined));
  assert.deepEqual(m.parts.map((p) => p.shortMessage.length), [153, 153, 4]);
});

test('payload method: one part, empty short_message, everything in message_payload', () => {
  const text = 'a'.repeat(400) + '€';
  const m = ok(encodeMessage(text, { method: 'payload', ref: 1 }));
  assert.equal(m.parts.length, 1);
  const [p] = m.parts as [SmsPart];
  assert.equal(p.shortMessage.length, 0);
  assert.equal(p.udhi, false);
  assert.equal(p.sar, undefined);
  assert.deepEqual(p.messagePayload, encodeGsm7Unpacked(text));
  assert.equal(countParts(text, 'payload').parts, 3); // what the SMSC will deliver
});

test('a single-part message carries no UDH or SAR whatever the method', () => {
  for (const method of METHODS.filter((x) => x !== 'payload')) {
    for (const text of ['a'.repeat(160), 'ب'.repeat(70), '']) {
      const m = ok(encodeMessage(text, { method, ref: 42 }));
      assert.equal(m.parts.length, 1, method);
      assert.deepEqual(m.parts[0], { shortMessage: m.parts[0]?.shortMessage, udhi: false, seq: 1, total: 1 });
    }
  }
});

test('too_long beyond maxParts, for every method', () => {
  for (const method of METHODS) {
    const perPart = method === 'udh16' ? 152 : 153;
    assert.equal(ok(encodeMessage('a'.repeat(perPart * 3), { method, ref: 1, maxParts: 3 })).units, perPart * 3);
    assert.deepEqual(encodeMessage('a'.repeat(perPart * 3 + 1), { method, ref: 1, maxParts: 3 }), {
      error: 'too_long',
      parts: 4,
      maxParts: 3,
    });
  }
  assert.equal(ok(encodeMessage('a'.repeat(153 * 255), { method: 'udh8', ref: 1 })).parts.length, 255);
  assert.deepEqual(encodeMessage('a'.repeat(153 * 255 + 1), { method: 'udh8', ref: 1 }), {
    error: 'too_long',
    parts: 256,
    maxParts: 255,
  });
});

test('bad ref or maxParts is a programming error', () => {
  for (const opts of [{ ref: -1 }, { ref: 65536 }, { ref: 1.5 }, { ref: 1, maxParts: 0 }, { ref: 1, maxParts: 256 }]) {
    assert.throws(() => encodeMessage('x', { method: 'udh8', ...opts }), RangeError);
  }
  // udh8 carries the low octet of a 16-bit ref.
  const m = ok(encodeMessage('a'.repeat(200), { method: 'udh8', ref: 0x1ff }));
  assert.equal(m.parts[0]?.shortMessage[3], 0xff);
});

test('the alphabet agrees with sms-segments-calculator on every BMP character', () => {
  for (let c = 0; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    const lib = new SegmentedMessage(ch);
    assert.equal(isGsm7(ch), lib.encodingName === 'GSM-7', `U+${c.toString(16)}`);
    if (isGsm7(ch)) assert.equal(gsmSeptets(ch), lib.numberOfCharacters, `U+${c.toString(16)}`);
  }
});

const gsmChar = fc.constantFrom(...GSM_BASIC, ...GSM_EXT);
/** Clusters that the calculator's Unicode 10 rules and today's split alike, whatever their neighbours. */
const cluster = fc.oneof(
  { arbitrary: gsmChar, weight: 3 },
  { arbitrary: fc.constantFrom(...URDU), weight: 4 },
  { arbitrary: fc.constantFrom(...HARAKAT), weight: 2 }, // join whatever precedes them
  { arbitrary: fc.constantFrom(ZWNJ, ZWJ + 'ب', ZWJ + 'ا'), weight: 1 },
  { arbitrary: fc.constantFrom(...EMOJI), weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom(...TONEABLE), fc.constantFrom(...SKIN_TONES)).map(([e, t]) => e + t), weight: 1 },
  // Followed by a letter: grapheme-splitter cuts the second mark after a flag (see above).
  { arbitrary: fc.tuple(fc.constantFrom(...FLAGS), fc.constantFrom(...URDU, ' ')).map(([f, c]) => f + c), weight: 1 },
  { arbitrary: fc.constantFrom(...KEYCAPS), weight: 1 },
  { arbitrary: fc.constantFrom(...ZWJ_SEQUENCES), weight: 1 },
);
/** Also what Unicode 10 clusters otherwise: a lone skin tone, ZWJ or regional indicator, newer sequences. */
const anything = fc.oneof(
  { arbitrary: cluster, weight: 15 },
  {
    arbitrary: fc.constantFrom(...SKIN_TONES, ZWJ, '🇵', '🇵🇰\u064E\u064E', '❤️‍🔥', '🧑‍🤝‍🧑', '😮‍💨', '🫶🏽'),
    weight: 1,
  },
);
const text = fc
  // size 'max': lengths spread over the whole range, so most texts take several parts.
  .oneof(
    fc.array(gsmChar, { maxLength: 700, size: 'max' }),
    fc.array(cluster, { maxLength: 400, size: 'max' }),
    fc.array(anything, { maxLength: 400, size: 'max' }),
  )
  .map((a) => a.join(''));

function sameClusters(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Parts agree with countParts, decode back to `s`, and keep escapes, surrogate pairs and clusters whole. */
function checkParts(s: string): ReturnType<typeof countParts> {
  const counted = countParts(s);
  assert.equal(counted.coding, chooseCoding(s));
  for (const method of METHODS) {
    const m = ok(encodeMessage(s, { method, ref: 0x4321 }));
    assert.equal(m.coding, counted.coding);
    assert.equal(m.units, counted.units);
    if (method === 'payload') {
      assert.equal(m.parts.length, 1);
      assert.equal(countParts(s, method).parts, counted.parts);
    } else {
      assert.equal(m.parts.length, countParts(s, method).parts);
    }
    if (method === 'udh8' || method === 'sar') assert.equal(m.parts.length, counted.parts);
    const decoded = partTexts(m);
    for (const d of decoded) assert.doesNotMatch(d, LONE_SURROGATE);
    assert.equal(decoded.join(''), s);
    assert.deepEqual(splitClusters(s, decoded, perPart(m.coding, method)), [], method);
    for (const p of m.parts) {
      if (m.coding === 'gsm7' && p.total > 1) assert.notEqual(payloadOf(p).at(-1), 0x1b);
      assert.ok(p.shortMessage.length <= (m.coding === 'gsm7' ? 160 : 140));
    }
  }
  return counted;
}

test('property: parts agree with sms-segments-calculator, and parts decode back to the text', () => {
  let runs = 0;
  let direct = 0;
  fc.assert(
    fc.property(text, (s) => {
      runs++;
      const { parts, coding } = checkParts(s);
      const lib = new SegmentedMessage(s);
      const cs = clusters(s);
      if (sameClusters(lib.graphemes, cs)) {
        direct++;
        assert.equal(parts, lib.segmentsCount);
      } else if (cs.every((c) => c.length <= 66)) {
        // Unicode 10 clusters this text otherwise (see above): the calculator's packing of today's clusters.
        assert.equal(coding, 'ucs2');
        assert.equal(parts, new SegmentedMessage(spelledForUnicode10(cs)).segmentsCount);
      }
    }),
    { numRuns: 600 },
  );
  // The calculator as it is, not only its packing, was the oracle for most texts.
  assert.ok(direct >= runs / 2, `${direct} of ${runs}`);
});

test('property: a cluster longer than a part is still cut, surrogate-safe, and only it', () => {
  const long = fc.oneof(
    fc
      .tuple(fc.constantFrom(...URDU), fc.array(fc.constantFrom(...HARAKAT, ZWNJ), { minLength: 60, maxLength: 300 }))
      .map(([c, marks]) => c + marks.join('')),
    fc
      .array(fc.constantFrom('👩', '👨', '👧', '👦', '👩🏽', '❤️', '🔥'), { minLength: 15, maxLength: 100 })
      .map((a) => a.join(ZWJ)),
  );
  fc.assert(
    fc.property(
      fc.array(cluster, { maxLength: 150 }),
      long,
      fc.array(cluster, { maxLength: 150 }),
      (before, l, after) => {
        checkParts(before.join('') + l + after.join(''));
      },
    ),
    { numRuns: 200 },
  );
});
