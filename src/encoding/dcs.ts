/** Text from the raw bytes of a deliver_sm, by its data_coding (pure). */
import { decodeGsm7Unpacked } from './gsm.js';
import { decodeUcs2 } from './ucs2.js';

/**
 * Decode MO text from raw bytes by data_coding. Values below 0x10 are SMPP's own (SMPP 3.4
 * §5.2.19); above, 3GPP TS 23.038 §4 coding groups, whose class bits the `smpp` package
 * misreads.
 */
export function decodeText(bytes: Buffer, dcs: number): string {
  let alphabet: 'gsm' | 'ucs2' | 'latin1';
  if (dcs < 0x10) alphabet = dcs === 0x00 ? 'gsm' : dcs === 0x08 ? 'ucs2' : 'latin1';
  else if ((dcs & 0xc0) === 0x00) alphabet = (['gsm', 'latin1', 'ucs2', 'latin1'] as const)[(dcs >> 2) & 0x03] ?? 'latin1';
  else if ((dcs & 0xf0) === 0xf0) alphabet = dcs & 0x04 ? 'latin1' : 'gsm';
  else if ((dcs & 0xf0) === 0xe0) alphabet = 'ucs2';
  else if ((dcs & 0xf0) === 0xc0 || (dcs & 0xf0) === 0xd0) alphabet = 'gsm';
  else alphabet = 'latin1';
  if (alphabet === 'ucs2') return decodeUcs2(bytes);
  if (alphabet === 'gsm') return decodeGsm7Unpacked(bytes);
  return bytes.toString('latin1');
}
