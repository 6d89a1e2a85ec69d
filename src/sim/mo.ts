/**
 * The simulator's MO messages (pure): the deliver_sm bodies one injected MO becomes — one,
 * or for a long MO its parts, numbered in a user data header (3GPP TS 23.040
 * §9.2.3.24.1 IE 0x00, 8-bit reference; §9.2.3.24.8 IE 0x08, 16-bit) or in SAR TLVs (SMPP
 * 3.4 §5.3.2.22–24), in the order a test asks for (out of order, duplicated, some left out).
 */

export type LongMoMethod = 'udh8' | 'udh16' | 'sar';
export const LONG_MO_METHODS: readonly LongMoMethod[] = ['udh8', 'udh16', 'sar'];

export interface MoOptions {
  from: string;
  to: string;
  /** Text: ASCII goes out as IA5 (data_coding 0x01), anything else as UCS-2 (0x08). */
  text?: string;
  /** Raw octets instead of `text`; sent with `dataCoding` (default 0x00). */
  shortMessage?: Buffer;
  dataCoding?: number;
  /** Send it as a long MO, in parts numbered this way. */
  long?: LongMoMethod;
  /**
   * Octets of text per part; default what fits in 140 octets beside the header (134 with
   * udh8, 133 with udh16, 140 with sar), rounded down to whole UCS-2 characters.
   */
  partOctets?: number;
  /** The long message's reference; default one counter per simulator. */
  ref?: number;
  /**
   * The parts to send, by number from 1, in this order; default each part once, in order.
   * `[2, 1]` is out of order, `[1, 1, 2]` repeats a part, `[1, 3]` leaves part 2 out.
   */
  order?: readonly number[];
}

/** esm_class UDHI (SMPP 3.4 §5.2.12). */
const ESM_UDHI = 0x40;
/** What a handset fits in one SMS: 140 octets of user data (3GPP TS 23.040 §9.2.3.16). */
const USER_DATA_OCTETS = 140;
const UDH_OCTETS: Readonly<Record<LongMoMethod, number>> = { udh8: 6, udh16: 7, sar: 0 };

/** The deliver_sm bodies of one MO, in the order they go out. `ref` is used when `mo.ref` is not set. */
export function moBodies(mo: MoOptions, ref: number): Array<Record<string, unknown>> {
  let payload: Buffer;
  let dataCoding: number;
  if (mo.shortMessage) {
    payload = mo.shortMessage;
    dataCoding = mo.dataCoding ?? 0x00;
  } else {
    const text = mo.text ?? '';
    // SMPP 3.4 §5.2.19: 0x01 = IA5 (ASCII), 0x08 = UCS-2 (big-endian).
    const ascii = /^[\x00-\x7f]*$/.test(text);
    payload = ascii ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf16le').swap16();
    dataCoding = mo.dataCoding ?? (ascii ? 0x01 : 0x08);
  }
  const base: Record<string, unknown> = {
    source_addr_ton: 1,
    source_addr_npi: 1,
    source_addr: mo.from,
    dest_addr_ton: 0,
    dest_addr_npi: 0,
    destination_addr: mo.to,
    data_coding: dataCoding,
  };
  if (mo.long === undefined) {
    // short_message holds at most 254 octets (SMPP 3.4 §5.2.21); longer goes in message_payload.
    return [payload.length > 254 ? { ...base, message_payload: payload } : { ...base, short_message: payload }];
  }
  const method = mo.long;
  let size = mo.partOctets ?? USER_DATA_OCTETS - UDH_OCTETS[method];
  if (mo.partOctets === undefined && dataCoding === 0x08) size -= size % 2;
  if (!Number.isInteger(size) || size < 1 || size > 254 - UDH_OCTETS[method]) throw new RangeError(`partOctets must be an integer from 1 to ${254 - UDH_OCTETS[method]}`);
  const chunks: Buffer[] = [];
  for (let i = 0; i < payload.length || chunks.length === 0; i += size) chunks.push(payload.subarray(i, i + size));
  if (chunks.length > 255) throw new RangeError(`a long MO has at most 255 parts (${chunks.length} of ${size} octets)`);
  const r = (mo.ref ?? ref) & (method === 'udh8' ? 0xff : 0xffff);
  const total = chunks.length;
  const order = mo.order ?? chunks.map((_, i) => i + 1);
  return order.map((seq) => {
    const chunk = chunks[seq - 1];
    if (chunk === undefined) throw new RangeError(`order names part ${seq} of ${total}`);
    if (method === 'sar') return { ...base, short_message: chunk, sar_msg_ref_num: r, sar_total_segments: total, sar_segment_seqnum: seq };
    const udh = method === 'udh8' ? Buffer.from([0x05, 0x00, 0x03, r, total, seq]) : Buffer.from([0x06, 0x08, 0x04, r >> 8, r & 0xff, total, seq]);
    return { ...base, esm_class: ESM_UDHI, short_message: Buffer.concat([udh, chunk]) };
  });
}
