/**
 * Hand-rolled encoding for the simulator's hot path: scanning submit_sm and writing
 * submit_sm_resp and receipt deliver_sm straight into a per-connection output buffer.
 * The `smpp` package codec costs ≈ 5 µs to decode a submit_sm, 5 µs to encode its
 * response and 13 µs to encode a receipt (measured, Node 20) — more than the gateway's
 * own budget per message, which would make the simulator the bottleneck of every
 * benchmark. Everything else (bind, unbind, MO, generic_nack) goes through the codec.
 * Layouts follow SMPP 3.4 §4.4.1 (submit_sm), §4.4.2 (submit_sm_resp), §4.6.1 (deliver_sm).
 */
import { HEADER_LENGTH } from '../smpp/codec.js';

export const CMD = {
  GENERIC_NACK: 0x80000000,
  BIND_RECEIVER: 0x00000001,
  BIND_TRANSMITTER: 0x00000002,
  SUBMIT_SM: 0x00000004,
  SUBMIT_SM_RESP: 0x80000004,
  DELIVER_SM: 0x00000005,
  DELIVER_SM_RESP: 0x80000005,
  UNBIND: 0x00000006,
  UNBIND_RESP: 0x80000006,
  BIND_TRANSCEIVER: 0x00000009,
  ENQUIRE_LINK: 0x00000015,
  ENQUIRE_LINK_RESP: 0x80000015,
} as const;

/** SMPP 3.4 §5.3.2 TLV tags used in receipts. */
const TAG_RECEIPTED_MESSAGE_ID = 0x001e;
const TAG_MESSAGE_STATE = 0x0427;
/** SMPP 3.4 §5.2.12: esm_class bit 2 set = SMSC delivery receipt. */
const ESM_CLASS_RECEIPT = 0x04;

/**
 * A growable byte buffer that PDUs are written into and taken from once per tick.
 * It bump-allocates: take() hands out the written region and keeps writing after it,
 * so a flush allocates nothing until the backing store runs out.
 */
export class OutBuffer {
  buf: Buffer;
  private start = 0;
  private end = 0;

  constructor(private readonly chunkSize = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(chunkSize);
  }

  get pending(): number {
    return this.end - this.start;
  }

  /** Reserve n bytes; returns the offset in `this.buf` to write them at (valid until the next reserve). */
  reserve(n: number): number {
    if (this.end + n > this.buf.length) {
      const pending = this.end - this.start;
      const next = Buffer.allocUnsafe(Math.max(this.chunkSize, (pending + n) * 2));
      this.buf.copy(next, 0, this.start, this.end);
      this.buf = next;
      this.start = 0;
      this.end = pending;
    }
    const at = this.end;
    this.end += n;
    return at;
  }

  append(bytes: Buffer): void {
    const at = this.reserve(bytes.length);
    bytes.copy(this.buf, at);
  }

  /** Everything written since the last take, or null. The returned bytes are never overwritten. */
  take(): Buffer | null {
    if (this.end === this.start) return null;
    const out = this.buf.subarray(this.start, this.end);
    this.start = this.end;
    return out;
  }
}

export function writeHeader(out: OutBuffer, commandId: number, status: number, seq: number, bodyLength = 0): number {
  const len = HEADER_LENGTH + bodyLength;
  const at = out.reserve(len);
  const b = out.buf;
  b.writeUInt32BE(len, at);
  b.writeUInt32BE(commandId, at + 4);
  b.writeUInt32BE(status, at + 8);
  b.writeUInt32BE(seq, at + 12);
  return at + HEADER_LENGTH;
}

/** submit_sm_resp: message_id only on success (SMPP 3.4 §4.4.2: the body is not returned with an error status). */
export function writeSubmitResp(out: OutBuffer, seq: number, status: number, messageId: string): void {
  if (status !== 0) {
    writeHeader(out, CMD.SUBMIT_SM_RESP, status, seq);
    return;
  }
  const at = writeHeader(out, CMD.SUBMIT_SM_RESP, 0, seq, messageId.length + 1);
  out.buf.write(messageId, at, 'latin1');
  out.buf[at + messageId.length] = 0;
}

/** Offsets of the submit_sm fields the simulator needs; filled in place to avoid an allocation per PDU. */
export interface SubmitScan {
  srcTon: number;
  srcNpi: number;
  srcStart: number;
  srcEnd: number;
  dstTon: number;
  dstNpi: number;
  dstStart: number;
  dstEnd: number;
  /** validity_period, without its NUL: empty when validityStart = validityEnd. */
  validityStart: number;
  validityEnd: number;
  registeredDelivery: number;
  dataCoding: number;
  smStart: number;
  smLength: number;
}

export function newSubmitScan(): SubmitScan {
  return {
    srcTon: 0,
    srcNpi: 0,
    srcStart: 0,
    srcEnd: 0,
    dstTon: 0,
    dstNpi: 0,
    dstStart: 0,
    dstEnd: 0,
    validityStart: 0,
    validityEnd: 0,
    registeredDelivery: 0,
    dataCoding: 0,
    smStart: 0,
    smLength: 0,
  };
}

/** Offset of the NUL ending the C-string at `from`, or -1 if the frame ends first. */
function cstringEnd(frame: Buffer, from: number): number {
  for (let i = from; i < frame.length; i++) if (frame[i] === 0) return i;
  return -1;
}

/** Scan a submit_sm frame (SMPP 3.4 §4.4.1). Returns false when the mandatory body is truncated. */
export function scanSubmit(frame: Buffer, s: SubmitScan): boolean {
  let o = cstringEnd(frame, HEADER_LENGTH); // service_type
  if (o < 0) return false;
  o += 1;
  s.srcTon = frame[o] ?? 0;
  s.srcNpi = frame[o + 1] ?? 0;
  s.srcStart = o + 2;
  o = cstringEnd(frame, s.srcStart);
  if (o < 0) return false;
  s.srcEnd = o;
  o += 1;
  s.dstTon = frame[o] ?? 0;
  s.dstNpi = frame[o + 1] ?? 0;
  s.dstStart = o + 2;
  o = cstringEnd(frame, s.dstStart);
  if (o < 0) return false;
  s.dstEnd = o;
  o += 4; // NUL, esm_class, protocol_id, priority_flag
  o = cstringEnd(frame, o); // schedule_delivery_time
  if (o < 0) return false;
  s.validityStart = o + 1;
  o = cstringEnd(frame, s.validityStart); // validity_period
  if (o < 0) return false;
  s.validityEnd = o;
  o += 1;
  // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length
  if (o + 5 > frame.length) return false;
  s.registeredDelivery = frame[o] as number;
  s.dataCoding = frame[o + 2] as number;
  s.smLength = frame[o + 4] as number;
  s.smStart = o + 5;
  return s.smStart + s.smLength <= frame.length;
}

/** A receipt waiting to be written; addresses are as the submit_sm carried them. */
export interface PendingReceipt {
  /** The id as the receipt writes it (see receipts.idFormat). */
  readonly id: string;
  readonly systemId: string;
  readonly srcTon: number;
  readonly srcNpi: number;
  readonly src: string;
  readonly dstTon: number;
  readonly dstNpi: number;
  readonly dst: string;
  /** First 20 octets of the original short_message for the `text:` field (text data codings only). */
  readonly text: Buffer | null;
  readonly submittedAt: number;
  readonly stat: string;
  readonly state: number;
  readonly err: string;
  readonly format: 'tlv' | 'text' | 'both';
  /** The id the text writes, when it differs from `id` (receipts.textIdFormat). */
  readonly textId?: string;
  /** Write message_state with length 0 and no value (receipts.zeroLengthStateEvery). */
  readonly zeroLengthState?: boolean;
}

let cachedMinute = -1;
let cachedStamp = '';

/** YYMMDDhhmm in UTC, as the receipt text's `submit date` / `done date` (SMPP 3.4 Appendix B). Cached per minute. */
export function receiptDate(ms: number): string {
  const minute = Math.floor(ms / 60_000);
  if (minute === cachedMinute) return cachedStamp;
  const d = new Date(minute * 60_000);
  const p = (n: number): string => (n < 10 ? `0${n}` : String(n));
  const stamp = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
  cachedMinute = minute;
  cachedStamp = stamp;
  return stamp;
}

/** The receipt text of SMPP 3.4 Appendix B, without the trailing `text:` octets. */
export function receiptText(r: PendingReceipt, doneAt: number): string {
  const dlvrd = r.state === 2 ? '001' : '000';
  return `id:${r.textId ?? r.id} sub:001 dlvrd:${dlvrd} submit date:${receiptDate(r.submittedAt)} done date:${receiptDate(doneAt)} stat:${r.stat} err:${r.err} text:`;
}

/** A receipt deliver_sm: from the handset (submit's destination) to the sender (submit's source), esm_class 0x04. */
export function writeReceipt(out: OutBuffer, seq: number, r: PendingReceipt, doneAt: number): void {
  const withText = r.format !== 'tlv';
  const withTlv = r.format !== 'text';
  const head = withText ? receiptText(r, doneAt) : '';
  const textLen = withText ? head.length + (r.text ? r.text.length : 0) : 0;
  const body =
    1 + // service_type
    2 + r.dst.length + 1 +
    2 + r.src.length + 1 +
    3 + // esm_class, protocol_id, priority_flag
    2 + // schedule_delivery_time, validity_period (empty)
    4 + // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    1 + textLen +
    (withTlv ? 4 + r.id.length + 1 + 4 + (r.zeroLengthState ? 0 : 1) : 0);
  let o = writeHeader(out, CMD.DELIVER_SM, 0, seq, body);
  const b = out.buf;
  b[o++] = 0;
  b[o++] = r.dstTon;
  b[o++] = r.dstNpi;
  o += b.write(r.dst, o, 'latin1');
  b[o++] = 0;
  b[o++] = r.srcTon;
  b[o++] = r.srcNpi;
  o += b.write(r.src, o, 'latin1');
  b[o++] = 0;
  b[o++] = ESM_CLASS_RECEIPT;
  b.fill(0, o, o + 8); // protocol_id … sm_default_msg_id (data_coding 0: SMSC default alphabet, the text is ASCII)
  o += 8;
  b[o++] = textLen;
  if (withText) {
    o += b.write(head, o, 'latin1');
    if (r.text) o += r.text.copy(b, o);
  }
  if (withTlv) {
    b.writeUInt16BE(TAG_RECEIPTED_MESSAGE_ID, o);
    b.writeUInt16BE(r.id.length + 1, o + 2);
    o += 4;
    o += b.write(r.id, o, 'latin1');
    b[o++] = 0;
    b.writeUInt16BE(TAG_MESSAGE_STATE, o);
    if (r.zeroLengthState) {
      b.writeUInt16BE(0, o + 2);
    } else {
      b.writeUInt16BE(1, o + 2);
      b[o + 4] = r.state;
    }
  }
}

/** A frame whose command_length (5) is below the 16-octet header: any correct peer must drop the connection. */
export const MALFORMED_FRAME: Buffer = Buffer.from('00000005800000040000000000000000', 'hex');
