/**
 * The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 §6.2.1 and
 * §6.2.1.1), carried "unpacked": one septet value per octet. That is how SMPP
 * short_message carries data_coding 0 to almost every SMSC; the SMSC packs septets for
 * the air interface itself. Pure: no I/O.
 */

/** TS 23.038 §6.2.1: escape to the extension table (§6.2.1.1). Never a character of its own. */
export const GSM_ESCAPE = 0x1b;

/**
 * TS 23.038 §6.2.1, the default alphabet indexed by septet value. Position 0x1B is the
 * escape, not a character; the placeholder there is never matched (see below).
 * Note 0x09 is capital Ç: lowercase ç is not in the alphabet and is not substituted.
 */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ' + // 0x00–0x1F
  ' !"#¤%&\'()*+,-./0123456789:;<=>?' + // 0x20–0x3F (0x24 is ¤, not $)
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' + // 0x40–0x5F
  '¿abcdefghijklmnopqrstuvwxyzäöñüà'; // 0x60–0x7F

/** TS 23.038 §6.2.1.1: characters reached by 0x1B followed by this septet. */
const EXTENSION: ReadonlyArray<readonly [septet: number, char: string]> = [
  [0x0a, '\f'], // form feed (page break)
  [0x14, '^'],
  [0x28, '{'],
  [0x29, '}'],
  [0x2f, '\\'],
  [0x3c, '['],
  [0x3d, '~'],
  [0x3e, ']'],
  [0x40, '|'],
  [0x65, '€'],
];

const NONE = -1;
/** Flag in ENCODE marking an extension-table character (two septets: 0x1B, value). */
const EXT_FLAG = 0x100;

/**
 * UTF-16 code unit → septet (basic), EXT_FLAG | septet (extension) or NONE. A dense
 * table because this runs for every character of every message (128 KiB, built once).
 */
const ENCODE = new Int16Array(0x10000).fill(NONE);
/** Septet → character for decoding; the escape slot stays empty. */
const DECODE_BASIC: string[] = [];
const DECODE_EXT = new Map<number, string>();

for (let septet = 0; septet < 0x80; septet++) {
  if (septet === GSM_ESCAPE) {
    // TS 23.038 §6.2.1 note: a receiver that does not understand the escape shows a space.
    DECODE_BASIC.push(' ');
    continue;
  }
  const ch = BASIC.charAt(septet);
  ENCODE[ch.charCodeAt(0)] = septet;
  DECODE_BASIC.push(ch);
}
for (const [septet, ch] of EXTENSION) {
  ENCODE[ch.charCodeAt(0)] = EXT_FLAG | septet;
  DECODE_EXT.set(septet, ch);
}

/** Septets needed for one UTF-16 code unit: 1 (basic), 2 (extension) or 0 (not GSM). */
function septetsOf(code: number): 0 | 1 | 2 {
  const v = ENCODE[code] ?? NONE;
  if (v === NONE) return 0;
  return v & EXT_FLAG ? 2 : 1;
}

/** True when every character of `text` is in the default alphabet or its extension table. */
export function isGsm7(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (septetsOf(text.charCodeAt(i)) === 0) return false;
  }
  return true;
}

/**
 * Septets `text` takes in the default alphabet; extension characters count 2.
 * Throws RangeError when `text` is not GSM (check with isGsm7 first).
 */
export function gsmSeptets(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const s = septetsOf(text.charCodeAt(i));
    if (s === 0) throw new RangeError(`character U+${hex4(text.charCodeAt(i))} at ${i} is not in GSM 03.38`);
    n += s;
  }
  return n;
}

/**
 * One septet per octet (values 0x00–0x7F), extension characters as 0x1B + value.
 * Throws RangeError when `text` is not GSM: nothing is ever silently replaced.
 */
export function encodeGsm7Unpacked(text: string): Buffer {
  const out = Buffer.allocUnsafe(gsmSeptets(text));
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const v = ENCODE[text.charCodeAt(i)] ?? NONE;
    if (v & EXT_FLAG) {
      out[o++] = GSM_ESCAPE;
      out[o++] = v & 0x7f;
    } else {
      out[o++] = v;
    }
  }
  return out;
}

/**
 * Decode unpacked septets (MO text, receipt text). Never throws:
 * - 0x1B + a value the extension table does not define shows the basic character for
 *   that value (TS 23.038 §6.2.1.1 note); 0x1B 0x1B and a trailing 0x1B show a space;
 * - an octet above 0x7F is not a septet and becomes U+FFFD.
 */
export function decodeGsm7Unpacked(buf: Uint8Array): string {
  let out = '';
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i] as number;
    if (b > 0x7f) {
      out += '\uFFFD';
      continue;
    }
    if (b !== GSM_ESCAPE) {
      out += DECODE_BASIC[b] as string;
      continue;
    }
    const next = buf[i + 1];
    if (next === undefined || next === GSM_ESCAPE) {
      out += ' ';
      if (next !== undefined) i++;
      continue;
    }
    i++;
    out += next > 0x7f ? '\uFFFD' : (DECODE_EXT.get(next) ?? (DECODE_BASIC[next] as string));
  }
  return out;
}

function hex4(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0');
}
