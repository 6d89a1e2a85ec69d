/**
 * UCS-2 as SMSCs take it for data_coding 8 (3GPP TS 23.038 §4, "UCS2"): 16-bit units,
 * big-endian. In practice handsets and SMSCs treat it as UTF-16BE, so a character outside
 * the BMP (most emoji) travels as a surrogate pair, i.e. two units. Pure: no I/O.
 */

/** True for a UTF-16 high (leading) surrogate unit. */
export function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

/** True for a UTF-16 low (trailing) surrogate unit. */
export function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** UTF-16BE, two octets per UTF-16 code unit of `text`. */
export function encodeUcs2(text: string): Buffer {
  // Node writes UTF-16 code units as they are (lone surrogates included); swap to BE.
  return Buffer.from(text, 'utf16le').swap16();
}

/** UTF-16BE → string. An odd trailing octet (a truncated unit) is ignored. */
export function decodeUcs2(buf: Uint8Array): string {
  const even = buf.length & ~1;
  const le = Buffer.from(buf.subarray(0, even)); // a copy: swap16 works in place
  return le.swap16().toString('utf16le');
}
