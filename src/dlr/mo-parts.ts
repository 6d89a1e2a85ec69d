/**
 * The parts of a long MO message (pure): where a deliver_sm says it is one part of
 * several, and how the held parts become one text again.
 *
 * A part says so in its user data header (esm_class UDHI, 0x40; 3GPP TS 23.040
 * §9.2.3.24.1 IE 0x00 with an 8-bit reference, §9.2.3.24.8 IE 0x08 with a 16-bit one) or
 * in the SAR TLVs (SMPP 3.4 §5.3.2.22–24: sar_msg_ref_num, sar_total_segments,
 * sar_segment_seqnum). The UDH never reaches the text. The parts' raw payloads are joined
 * in part order and decoded once, so a UCS-2 character (or a GSM escape) split across two
 * parts reads whole.
 */
import { bodyBuffer, bodyNumber, type Pdu } from '../smpp/codec.js';

/** esm_class bit 6: short_message starts with a user data header (SMPP 3.4 §5.2.12). */
export const ESM_UDHI = 0x40;
/** UDH information elements (3GPP TS 23.040 §9.2.3.24). */
const IE_CONCAT_8 = 0x00;
const IE_CONCAT_16 = 0x08;

/** A deliver_sm's text bytes without any UDH, and the part it is of a long MO when it is one. */
export interface MoPayload {
  /** The text's raw octets (the UDH taken off). */
  payload: Buffer;
  /** Set when the PDU is one part of a message of two or more. */
  part?: MoPartRef;
}

export interface MoPartRef {
  /** The sender's reference of the long message (8 or 16 bits). */
  ref: number;
  /** How many parts the message has (2–255). */
  total: number;
  /** This part's number, from 1. */
  seq: number;
  /** Where the part numbering came from. */
  via: 'udh8' | 'udh16' | 'sar';
}

/**
 * The payload of an MO deliver_sm, and its place in a long message. A header that cannot
 * be read (its length runs past the data) leaves the bytes as they came; numbering that
 * makes no sense (0 parts, part 0, a part past the total) or a total of 1 is a message of
 * its own.
 */
export function moPayload(pdu: Pdu): MoPayload {
  const raw = bodyBuffer(pdu, 'message_payload') ?? bodyBuffer(pdu, 'short_message') ?? Buffer.alloc(0);
  const udhi = ((bodyNumber(pdu, 'esm_class') ?? 0) & ESM_UDHI) !== 0;
  let payload = raw;
  let part: MoPartRef | undefined;
  if (udhi && raw.length > 0) {
    const udhl = raw[0] as number;
    if (1 + udhl <= raw.length) {
      payload = raw.subarray(1 + udhl);
      part = concatIe(raw.subarray(1, 1 + udhl));
    }
  }
  if (part === undefined) {
    const ref = bodyNumber(pdu, 'sar_msg_ref_num');
    const total = bodyNumber(pdu, 'sar_total_segments');
    const seq = bodyNumber(pdu, 'sar_segment_seqnum');
    if (ref !== undefined && total !== undefined && seq !== undefined) part = { ref, total, seq, via: 'sar' };
  }
  return part !== undefined && sane(part) ? { payload, part } : { payload };
}

function sane(p: MoPartRef): boolean {
  return Number.isInteger(p.total) && Number.isInteger(p.seq) && p.total >= 2 && p.total <= 255 && p.seq >= 1 && p.seq <= p.total;
}

/** The concatenation IE of a UDH (its information elements, without the length octet). */
function concatIe(udh: Buffer): MoPartRef | undefined {
  for (let i = 0; i + 2 <= udh.length; ) {
    const iei = udh[i] as number;
    const len = udh[i + 1] as number;
    const data = udh.subarray(i + 2, i + 2 + len);
    if (data.length < len) return undefined;
    if (iei === IE_CONCAT_8 && len === 3) return { ref: data[0] as number, total: data[1] as number, seq: data[2] as number, via: 'udh8' };
    if (iei === IE_CONCAT_16 && len === 4) return { ref: data.readUInt16BE(0), total: data[2] as number, seq: data[3] as number, via: 'udh16' };
    i += 2 + len;
  }
  return undefined;
}

/** One held part: its number, its raw payload and its data_coding. */
export interface HeldPart {
  seq: number;
  payload: Buffer;
  dataCoding: number;
}

/** The text of a long MO, from the parts held. */
export interface JoinedMo {
  text: string;
  /** The data_coding of the lowest part held (parts of one message share it). */
  dataCoding: number;
  /** The part numbers held, ascending. */
  received: number[];
  /** Every part from 1 to total is there. */
  complete: boolean;
}

/**
 * Join the parts in order and decode. Consecutive parts are joined as raw bytes and
 * decoded once (a character may straddle them); where a part is missing, the runs on
 * either side are decoded apart and written one after the other.
 */
export function joinParts(parts: readonly HeldPart[], total: number, decode: (bytes: Buffer, dcs: number) => string): JoinedMo {
  const bySeq = new Map<number, HeldPart>();
  for (const p of parts) if (!bySeq.has(p.seq)) bySeq.set(p.seq, p);
  const received = [...bySeq.keys()].sort((a, b) => a - b);
  const dataCoding = bySeq.get(received[0] ?? 0)?.dataCoding ?? 0;
  let text = '';
  let run: Buffer[] = [];
  let last = -1;
  for (const seq of received) {
    if (seq !== last + 1 && run.length > 0) {
      text += decode(Buffer.concat(run), dataCoding);
      run = [];
    }
    run.push((bySeq.get(seq) as HeldPart).payload);
    last = seq;
  }
  if (run.length > 0) text += decode(Buffer.concat(run), dataCoding);
  return { text, dataCoding, received, complete: received.length === total && received[0] === 1 && received[received.length - 1] === total };
}
