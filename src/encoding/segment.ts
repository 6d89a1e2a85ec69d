/**
 * Choose the encoding of a text and split it into SMS parts (3GPP TS 23.040). Pure: the
 * caller maps each SmsPart onto a submit_sm (short_message, esm_class, SAR TLVs or
 * message_payload) and the `smpp` package only ever sees Buffers and explicit data_coding.
 */
import { encodeGsm7Unpacked, GSM_ESCAPE, isGsm7 } from './gsm.js';
import { encodeUcs2, isHighSurrogate, isLowSurrogate } from './ucs2.js';

export type Coding = 'gsm7' | 'ucs2';
export type ConcatMethod = 'udh8' | 'udh16' | 'sar' | 'payload';

export interface SmsPart {
  /** short_message bytes: UDH (if any) + payload */
  shortMessage: Buffer;
  /** true when shortMessage starts with a UDH: caller sets esm_class |= 0x40 */
  udhi: boolean;
  /** SAR TLVs (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum) when method is 'sar' */
  sar?: { ref: number; total: number; seq: number };
  /** when method is 'payload': the whole message goes in the message_payload TLV and shortMessage is empty */
  messagePayload?: Buffer;
  /** 1-based */
  seq: number;
  total: number;
}

export interface EncodedMessage {
  coding: Coding;
  /** SMPP 3.4 §5.2.19: 0 = SMSC default alphabet (GSM 03.38 here), 8 = UCS2 */
  dataCoding: 0 | 8;
  /** septets for gsm7, UTF-16 units for ucs2 */
  units: number;
  parts: SmsPart[];
}

export interface TooLong {
  error: 'too_long';
  /** parts the text would need */
  parts: number;
  maxParts: number;
}

export interface EncodeOptions {
  method: ConcatMethod;
  /** concatenation reference, 0–65535: udh8 sends ref & 0xff, udh16 and sar all 16 bits */
  ref: number;
  /** 1–255 (the UDH and sar_total_segments count parts in one octet); default 255 */
  maxParts?: number;
}

/**
 * Units per part. TS 23.040 §9.2.3.24: user data is 140 octets = 160 septets or 70 UCS-2
 * units. A concatenation IE (§9.2.3.24.1, 8-bit ref: UDHL 05, IEI 00, IEDL 03, ref, total,
 * seq = 6 octets; §9.2.3.24.8, 16-bit ref: UDHL 06, IEI 08, IEDL 04 = 7 octets) leaves 134
 * or 133 octets: 153 / 152 septets (octets × 8 / 7, rounded down after the fill bits) or
 * 67 / 66 units. SAR parts carry no UDH, but handsets reassemble what the SMSC delivers
 * with a 6-octet UDH, so SAR uses the 8-bit limits.
 */
const LIMITS: Record<Coding, { single: number; udh8: number; udh16: number }> = {
  gsm7: { single: 160, udh8: 153, udh16: 152 },
  ucs2: { single: 70, udh8: 67, udh16: 66 },
};

/** Most parts a concatenated message can have: the total is one octet (TS 23.040 §9.2.3.24.1). */
const MAX_PARTS = 255;

/** GSM 03.38 when every character is in the default alphabet or its extension, else UCS-2. */
export function chooseCoding(text: string): Coding {
  return isGsm7(text) ? 'gsm7' : 'ucs2';
}

function perPartLimit(coding: Coding, method: ConcatMethod): number {
  return method === 'udh16' ? LIMITS[coding].udh16 : LIMITS[coding].udh8;
}

/**
 * Where each part ends (exclusive) in `n` units. `cut(start, end)` is asked only for a part
 * that would end before the text does (`end` = start + perPart < n) and returns where that
 * part may end instead, in (start, end]: a part carries fewer units when a full one would
 * end inside something that must stay whole.
 */
function partEnds(n: number, single: number, perPart: number, cut: (start: number, end: number) => number): number[] {
  if (n <= single) return [n];
  const ends: number[] = [];
  let start = 0;
  while (start < n) {
    const end = start + perPart >= n ? n : cut(start, start + perPart);
    ends.push(end);
    start = end;
  }
  return ends;
}

/** Extended grapheme clusters (UAX #29) as the runtime's ICU defines them; created on first use. */
let graphemeSegmenter: Intl.Segmenter | undefined;

const CR = 0x0d;
const LF = 0x0a;

/**
 * Part ends for UCS-2: a part never ends inside a grapheme cluster (a user-perceived
 * character: letter + diacritics such as Urdu zer/zabar/pesh, emoji + skin tone, ZWJ
 * sequence, flag, keycap), so a handset that shows parts on their own never shows half a
 * character; the cluster moves whole to the next part. A cluster longer than a whole part
 * (only pathological input, e.g. a 70-unit ZWJ chain) starts a part and is cut there at a
 * code point, never inside a surrogate pair. CR LF, one cluster to UAX #29 but two
 * characters to SMS, may be cut, as GSM text is (and as sms-segments-calculator counts).
 *
 * Clusters are looked up only around the cut points (Segments.containing), and only for a
 * text that needs more than one part.
 */
function ucs2Cut(text: string): (start: number, end: number) => number {
  let segments: Intl.Segments | undefined;
  return (start, end) => {
    if (text.charCodeAt(end - 1) === CR && text.charCodeAt(end) === LF) return end;
    graphemeSegmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    segments ??= graphemeSegmenter.segment(text);
    // end < text.length, so some cluster contains it.
    const cluster = segments.containing(end) as Intl.SegmentData;
    if (cluster.index === end) return end;
    if (cluster.index > start) return cluster.index;
    // The cluster began at or before `start` and runs past `end`: longer than a part.
    return isHighSurrogate(text.charCodeAt(end - 1)) && isLowSurrogate(text.charCodeAt(end)) ? end - 1 : end;
  };
}

interface Layout {
  coding: Coding;
  /** the encoded text: septets (one per octet) or UTF-16BE */
  bytes: Buffer;
  units: number;
  /** octets per unit in `bytes` */
  width: 1 | 2;
  ends: number[];
}

function layout(text: string, method: ConcatMethod): Layout {
  const coding = chooseCoding(text);
  const perPart = perPartLimit(coding, method);
  if (coding === 'gsm7') {
    const bytes = encodeGsm7Unpacked(text);
    // A part never ends between an escape and its character. No other GSM character joins
    // a neighbour into one grapheme cluster (CR LF aside, see ucs2Cut), so no segmenter here.
    // Our encoder emits 0x1B only as an escape prefix, never as the second septet.
    const ends = partEnds(bytes.length, LIMITS.gsm7.single, perPart, (_start, end) =>
      bytes[end - 1] === GSM_ESCAPE ? end - 1 : end,
    );
    return { coding, bytes, units: bytes.length, width: 1, ends };
  }
  const ends = partEnds(text.length, LIMITS.ucs2.single, perPart, ucs2Cut(text));
  return { coding, bytes: encodeUcs2(text), units: text.length, width: 2, ends };
}

/**
 * Coding, size and part count of `text`. `parts` is the number of SMS the handset
 * receives with `method` (default 'udh8'); for 'payload' it counts the parts the SMSC will
 * make from message_payload, assumed with 8-bit-reference UDHs.
 */
export function countParts(
  text: string,
  method: ConcatMethod = 'udh8',
): { coding: Coding; units: number; parts: number } {
  const l = layout(text, method);
  return { coding: l.coding, units: l.units, parts: l.ends.length };
}

function concatUdh(method: 'udh8' | 'udh16', ref: number, total: number, seq: number): Buffer {
  // TS 23.040 §9.2.3.24.1: UDHL=05, IEI=00 (8-bit ref), IEDL=03, ref, total, seq.
  if (method === 'udh8') return Buffer.from([0x05, 0x00, 0x03, ref & 0xff, total, seq]);
  // TS 23.040 §9.2.3.24.8: UDHL=06, IEI=08 (16-bit ref), IEDL=04, ref (big-endian), total, seq.
  return Buffer.from([0x06, 0x08, 0x04, (ref >> 8) & 0xff, ref & 0xff, total, seq]);
}

function checkOptions(opts: EncodeOptions): number {
  const maxParts = opts.maxParts ?? MAX_PARTS;
  if (!Number.isInteger(opts.ref) || opts.ref < 0 || opts.ref > 0xffff) {
    throw new RangeError(`ref must be an integer 0–65535, got ${opts.ref}`);
  }
  if (!Number.isInteger(maxParts) || maxParts < 1 || maxParts > MAX_PARTS) {
    throw new RangeError(`maxParts must be an integer 1–${MAX_PARTS}, got ${maxParts}`);
  }
  return maxParts;
}

/**
 * Encode `text` and split it into parts for `opts.method`. A text that fits one part
 * carries no UDH and no SAR TLVs whatever the method. Returns `too_long` (never throws)
 * when it needs more than `maxParts` parts; for 'payload' that count is the parts the SMSC
 * will make (see countParts). Throws RangeError only for a bad `ref` or `maxParts`.
 */
export function encodeMessage(text: string, opts: EncodeOptions): EncodedMessage | TooLong {
  const maxParts = checkOptions(opts);
  const l = layout(text, opts.method);
  const total = l.ends.length;
  if (total > maxParts) return { error: 'too_long', parts: total, maxParts };
  const head = { coding: l.coding, dataCoding: l.coding === 'gsm7' ? 0 : 8, units: l.units } as const;

  if (opts.method === 'payload') {
    // SMPP 3.4 §5.3.2.32: the whole message in message_payload, sm_length 0.
    const part: SmsPart = { shortMessage: Buffer.alloc(0), udhi: false, messagePayload: l.bytes, seq: 1, total: 1 };
    return { ...head, parts: [part] };
  }
  if (total === 1) {
    return { ...head, parts: [{ shortMessage: l.bytes, udhi: false, seq: 1, total: 1 }] };
  }

  const parts: SmsPart[] = [];
  let start = 0;
  for (const [i, end] of l.ends.entries()) {
    const seq = i + 1;
    const payload = l.bytes.subarray(start * l.width, end * l.width);
    start = end;
    if (opts.method === 'sar') {
      // SMPP 3.4 §5.3.2.22–24: sar_msg_ref_num (16 bit), sar_total_segments, sar_segment_seqnum.
      parts.push({ shortMessage: Buffer.from(payload), udhi: false, sar: { ref: opts.ref, total, seq }, seq, total });
    } else {
      const udh = concatUdh(opts.method, opts.ref, total, seq);
      parts.push({ shortMessage: Buffer.concat([udh, payload]), udhi: true, seq, total });
    }
  }
  return { ...head, parts };
}
