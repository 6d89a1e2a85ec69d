/**
 * Hand-written codec for the PDUs on the message path: encoding submit_sm, decoding
 * submit_sm_resp, deliver_sm, deliver_sm_resp, enquire_link(_resp) and generic_nack.
 * The `smpp` package's PDU class (`new PDU`, `_filter`, `toBuffer`, `for…in` over the
 * object) costs a few µs and several objects per PDU; these functions produce the same
 * bytes / the same decoded fields without it.
 *
 * Contract: a result is always byte-for-byte (encode) or field-for-field (decode) what
 * codec.ts's package path gives for the same input, as configured there (no text filter
 * on short_message/message_payload, string TLVs read to their declared length). Anything
 * these functions do not handle exactly — an unknown body key or TLV tag, a value of an
 * unexpected type or range, a truncated or inconsistent frame, a non-empty time field on
 * decode (the package turns those into Dates) — returns undefined, and the caller uses
 * the package. Layouts follow SMPP 3.4 §4.4.1 (submit_sm), §4.4.2 (submit_sm_resp),
 * §4.6.1 (deliver_sm), §5.3 (TLVs).
 *
 * Deliberately imports nothing from codec.ts (it imports us; madge forbids the cycle).
 */

/** Same shape as codec.ts `Pdu`. */
export interface FastPdu {
  readonly command: string;
  readonly commandId: number;
  readonly status: number;
  readonly seq: number;
  readonly body: Readonly<Record<string, unknown>>;
}

const HEADER = 16;
const SUBMIT_SM = 0x00000004;
const SUBMIT_SM_RESP = 0x80000004;
const DELIVER_SM = 0x00000005;
const DELIVER_SM_RESP = 0x80000005;
const ENQUIRE_LINK = 0x00000015;
const ENQUIRE_LINK_RESP = 0x80000015;
const GENERIC_NACK = 0x80000000;

// TLV tags the encoder writes (SMPP 3.4 §5.3.2).
const TAG_SAR_MSG_REF_NUM = 0x020c;
const TAG_SAR_TOTAL_SEGMENTS = 0x020e;
const TAG_SAR_SEGMENT_SEQNUM = 0x020f;
const TAG_MESSAGE_PAYLOAD = 0x0424;

// The encoder's TLV slots, recorded 2 bits each in body order (the package writes TLVs in
// the order the caller's object lists them: PDU.toBuffer walks `for (key in this)`).
const SLOT_SAR_REF = 0;
const SLOT_SAR_TOTAL = 1;
const SLOT_SAR_SEQ = 2;
const SLOT_PAYLOAD = 3;

function isU8(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xff;
}

function isU16(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

/** A string the package writes one octet per character, unchanged: 7-bit ASCII only. */
function isAscii(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * The package's `filters.time.encode` for a string: a relative time of up to 12 digits
 * is left-padded with zeros and given "000R"; anything else (empty, 16 characters) is
 * kept as it is.
 */
function timeEncode(v: string): string {
  return v.length > 0 && v.length <= 12 ? `${'000000000000'.slice(v.length)}${v}000R` : v;
}

function writeAscii(b: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i);
  b[o++] = 0;
  return o;
}

const EMPTY = Buffer.alloc(0);

/**
 * submit_sm, status 0, as `new PDU('submit_sm', {...body, sequence_number: seq}).toBuffer()`
 * writes it; undefined when the body holds anything this does not reproduce exactly.
 */
export function encodeSubmitSm(seq: number, body: Readonly<Record<string, unknown>>): Buffer | undefined {
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) return undefined;
  let serviceType = '';
  let srcTon = 0;
  let srcNpi = 0;
  let src = '';
  let dstTon = 0;
  let dstNpi = 0;
  let dst = '';
  let esmClass = 0;
  let protocolId = 0;
  let priority = 0;
  let schedule = '';
  let validity = '';
  let registered = 0;
  let replace = 0;
  let dataCoding = 0;
  let defaultMsgId = 0;
  let sm: Buffer = EMPTY;
  let sarRef = 0;
  let sarTotal = 0;
  let sarSeq = 0;
  let payload: Buffer = EMPTY;
  let tlvOrder = 0;
  let tlvCount = 0;
  let tlvBytes = 0;

  for (const key in body) {
    // The package sees `{...body}`: own enumerable keys only.
    if (!Object.prototype.hasOwnProperty.call(body, key)) continue;
    const v = body[key];
    switch (key) {
      case 'service_type':
        if (!isAscii(v)) return undefined;
        serviceType = v;
        break;
      case 'source_addr_ton':
        if (!isU8(v)) return undefined;
        srcTon = v;
        break;
      case 'source_addr_npi':
        if (!isU8(v)) return undefined;
        srcNpi = v;
        break;
      case 'source_addr':
        if (!isAscii(v)) return undefined;
        src = v;
        break;
      case 'dest_addr_ton':
        if (!isU8(v)) return undefined;
        dstTon = v;
        break;
      case 'dest_addr_npi':
        if (!isU8(v)) return undefined;
        dstNpi = v;
        break;
      case 'destination_addr':
        if (!isAscii(v)) return undefined;
        dst = v;
        break;
      case 'esm_class':
        if (!isU8(v)) return undefined;
        esmClass = v;
        break;
      case 'protocol_id':
        if (!isU8(v)) return undefined;
        protocolId = v;
        break;
      case 'priority_flag':
        if (!isU8(v)) return undefined;
        priority = v;
        break;
      case 'schedule_delivery_time':
        if (!isAscii(v)) return undefined;
        schedule = timeEncode(v);
        break;
      case 'validity_period':
        if (!isAscii(v)) return undefined;
        validity = timeEncode(v);
        break;
      case 'registered_delivery':
        if (!isU8(v)) return undefined;
        registered = v;
        break;
      case 'replace_if_present_flag':
        if (!isU8(v)) return undefined;
        replace = v;
        break;
      case 'data_coding':
        if (!isU8(v)) return undefined;
        dataCoding = v;
        break;
      case 'sm_default_msg_id':
        if (!isU8(v)) return undefined;
        defaultMsgId = v;
        break;
      case 'short_message':
        // sm_length is one octet; the package throws on more (and the fallback repeats that).
        if (!Buffer.isBuffer(v) || v.length > 0xff) return undefined;
        sm = v;
        break;
      case 'sar_msg_ref_num':
        if (!isU16(v)) return undefined;
        sarRef = v;
        tlvOrder |= SLOT_SAR_REF << (2 * tlvCount++);
        tlvBytes += 4 + 2;
        break;
      case 'sar_total_segments':
        if (!isU8(v)) return undefined;
        sarTotal = v;
        tlvOrder |= SLOT_SAR_TOTAL << (2 * tlvCount++);
        tlvBytes += 4 + 1;
        break;
      case 'sar_segment_seqnum':
        if (!isU8(v)) return undefined;
        sarSeq = v;
        tlvOrder |= SLOT_SAR_SEQ << (2 * tlvCount++);
        tlvBytes += 4 + 1;
        break;
      case 'message_payload':
        if (!Buffer.isBuffer(v) || v.length > 0xffff) return undefined;
        payload = v;
        tlvOrder |= SLOT_PAYLOAD << (2 * tlvCount++);
        tlvBytes += 4 + v.length;
        break;
      default:
        return undefined;
    }
  }

  const length =
    HEADER +
    serviceType.length + 1 +
    2 + src.length + 1 +
    2 + dst.length + 1 +
    3 + // esm_class, protocol_id, priority_flag
    schedule.length + 1 +
    validity.length + 1 +
    4 + // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    1 + sm.length +
    tlvBytes;
  const b = Buffer.allocUnsafe(length);
  b.writeUInt32BE(length, 0);
  b.writeUInt32BE(SUBMIT_SM, 4);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(seq, 12);
  let o = writeAscii(b, HEADER, serviceType);
  b[o++] = srcTon;
  b[o++] = srcNpi;
  o = writeAscii(b, o, src);
  b[o++] = dstTon;
  b[o++] = dstNpi;
  o = writeAscii(b, o, dst);
  b[o++] = esmClass;
  b[o++] = protocolId;
  b[o++] = priority;
  o = writeAscii(b, o, schedule);
  o = writeAscii(b, o, validity);
  b[o++] = registered;
  b[o++] = replace;
  b[o++] = dataCoding;
  b[o++] = defaultMsgId;
  b[o++] = sm.length;
  o += sm.copy(b, o);
  for (let i = 0; i < tlvCount; i++) {
    switch ((tlvOrder >>> (2 * i)) & 3) {
      case SLOT_SAR_REF:
        b.writeUInt16BE(TAG_SAR_MSG_REF_NUM, o);
        b.writeUInt16BE(2, o + 2);
        b.writeUInt16BE(sarRef, o + 4);
        o += 6;
        break;
      case SLOT_SAR_TOTAL:
        b.writeUInt16BE(TAG_SAR_TOTAL_SEGMENTS, o);
        b.writeUInt16BE(1, o + 2);
        b[o + 4] = sarTotal;
        o += 5;
        break;
      case SLOT_SAR_SEQ:
        b.writeUInt16BE(TAG_SAR_SEGMENT_SEQNUM, o);
        b.writeUInt16BE(1, o + 2);
        b[o + 4] = sarSeq;
        o += 5;
        break;
      default:
        b.writeUInt16BE(TAG_MESSAGE_PAYLOAD, o);
        b.writeUInt16BE(payload.length, o + 2);
        o += 4;
        o += payload.copy(b, o);
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------
// Decoding

/** How the package reads a TLV's value (after codec.ts's overrides). */
export type FastTlvKind =
  /** types.tlv.int8/16/32: a big-endian number; we require the declared length to match. */
  | 'u8'
  | 'u16'
  | 'u32'
  /** codec.ts tlvCstring: latin1, to the declared length or the first NUL. */
  | 'cstring'
  /** types.tlv.buffer without a filter: the raw bytes (a view into the frame). */
  | 'buffer';

/**
 * TLVs decoded by name: every single-valued, filter-free TLV of the package (as codec.ts
 * configures it) that a deliver_sm or a response can plausibly carry. A tag not listed here
 * — vendor TLVs, multi-valued or filtered ones, broadcast TLVs — sends the PDU to the package.
 */
export const FAST_TLVS: ReadonlyMap<number, { readonly name: string; readonly kind: FastTlvKind }> = new Map(
  (
    [
      [0x0005, 'dest_addr_subunit', 'u8'],
      [0x0006, 'dest_network_type', 'u8'],
      [0x0007, 'dest_bearer_type', 'u8'],
      [0x0008, 'dest_telematics_id', 'u16'],
      [0x000d, 'source_addr_subunit', 'u8'],
      [0x000e, 'source_network_type', 'u8'],
      [0x000f, 'source_bearer_type', 'u8'],
      [0x0010, 'source_telematics_id', 'u16'],
      [0x0017, 'qos_time_to_live', 'u32'],
      [0x0019, 'payload_type', 'u8'],
      [0x001d, 'additional_status_info_text', 'cstring'],
      [0x001e, 'receipted_message_id', 'cstring'],
      [0x0030, 'ms_msg_wait_facilities', 'u8'],
      [0x0201, 'privacy_indicator', 'u8'],
      [0x0202, 'source_subaddress', 'buffer'],
      [0x0203, 'dest_subaddress', 'buffer'],
      [0x0204, 'user_message_reference', 'u16'],
      [0x0205, 'user_response_code', 'u8'],
      [0x020a, 'source_port', 'u16'],
      [0x020b, 'dest_port', 'u16'],
      [0x020c, 'sar_msg_ref_num', 'u16'],
      [0x020d, 'language_indicator', 'u8'],
      [0x020e, 'sar_total_segments', 'u8'],
      [0x020f, 'sar_segment_seqnum', 'u8'],
      [0x0210, 'sc_interface_version', 'u8'],
      [0x0304, 'number_of_messages', 'u8'],
      [0x0420, 'dpf_result', 'u8'],
      [0x0421, 'set_dpf', 'u8'],
      [0x0422, 'ms_availability_status', 'u8'],
      [0x0423, 'network_error_code', 'buffer'],
      [0x0424, 'message_payload', 'buffer'],
      [0x0425, 'delivery_failure_reason', 'u8'],
      [0x0426, 'more_messages_to_send', 'u8'],
      [0x0427, 'message_state', 'u8'],
      [0x0428, 'congestion_state', 'u8'],
      [0x0501, 'ussd_service_op', 'u8'],
      [0x060d, 'source_network_id', 'cstring'],
      [0x060e, 'dest_network_id', 'cstring'],
      [0x1201, 'display_time', 'u8'],
      [0x1203, 'sms_signal', 'u16'],
      [0x1204, 'ms_validity', 'buffer'],
      [0x130c, 'alert_on_message_delivery', 'u8'],
      [0x1380, 'its_reply_type', 'u8'],
      [0x1383, 'its_session_info', 'buffer'],
    ] as const
  ).map(([tag, name, kind]) => [tag, { name, kind }]),
);

/** Offset of the NUL ending the C-string at `from`, or -1 if the frame ends first. */
function nul(frame: Buffer, from: number): number {
  for (let i = from; i < frame.length; i++) if (frame[i] === 0) return i;
  return -1;
}

/**
 * `frame.toString('ascii', start, end)`, as the package reads C-strings, without a native
 * call for the short 7-bit strings of a PDU; anything else goes to toString itself.
 */
function ascii(frame: Buffer, start: number, end: number): string {
  if (end - start > 24) return frame.toString('ascii', start, end);
  let s = '';
  for (let i = start; i < end; i++) {
    const c = frame[i] as number;
    if (c > 0x7f) return frame.toString('ascii', start, end);
    s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Read TLVs from `o` to the end of the frame into `body`, as the package does: stop when
 * fewer than 4 octets remain (ignoring them), a repeated tag overwrites the earlier value.
 * False for a tag we do not decode by name, a number TLV whose length is not its size, or
 * a value running past the end: the package path (codec.ts) then decodes the PDU, leaving
 * such TLVs out and counting them, so one bad TLV never costs the rest of the PDU.
 */
function readTlvs(frame: Buffer, o: number, body: Record<string, unknown>): boolean {
  const len = frame.length;
  while (o + 4 <= len) {
    const tag = frame.readUInt16BE(o);
    const n = frame.readUInt16BE(o + 2);
    o += 4;
    const end = o + n;
    if (end > len) return false;
    const spec = FAST_TLVS.get(tag);
    if (spec === undefined) return false;
    switch (spec.kind) {
      case 'u8':
        if (n !== 1) return false;
        body[spec.name] = frame[o];
        break;
      case 'u16':
        if (n !== 2) return false;
        body[spec.name] = frame.readUInt16BE(o);
        break;
      case 'u32':
        if (n !== 4) return false;
        body[spec.name] = frame.readUInt32BE(o);
        break;
      case 'cstring': {
        let e = o;
        while (e < end && frame[e] !== 0) e++;
        body[spec.name] = frame.toString('latin1', o, e);
        break;
      }
      default:
        body[spec.name] = frame.subarray(o, end);
    }
    o = end;
  }
  return true;
}

/** submit_sm_resp / deliver_sm_resp: message_id (absent when the body is empty), then TLVs. */
function decodeResp(frame: Buffer, command: string, commandId: number, status: number, seq: number): FastPdu | undefined {
  const body: Record<string, unknown> = {};
  if (frame.length > HEADER) {
    const e = nul(frame, HEADER);
    if (e < 0) return undefined;
    body.message_id = ascii(frame, HEADER, e);
    if (!readTlvs(frame, e + 1, body)) return undefined;
  }
  return { command, commandId, status, seq, body };
}

function decodeDeliverSm(frame: Buffer, status: number, seq: number): FastPdu | undefined {
  const len = frame.length;
  let e = nul(frame, HEADER);
  if (e < 0) return undefined;
  const serviceType = ascii(frame, HEADER, e);
  let o = e + 1;
  if (o + 2 >= len) return undefined;
  const srcTon = frame[o] as number;
  const srcNpi = frame[o + 1] as number;
  e = nul(frame, o + 2);
  if (e < 0) return undefined;
  const src = ascii(frame, o + 2, e);
  o = e + 1;
  if (o + 2 >= len) return undefined;
  const dstTon = frame[o] as number;
  const dstNpi = frame[o + 1] as number;
  e = nul(frame, o + 2);
  if (e < 0) return undefined;
  const dst = ascii(frame, o + 2, e);
  o = e + 1;
  // esm_class, protocol_id, priority_flag, then schedule_delivery_time and validity_period
  // both empty (the package's time filter makes a Date of a non-empty one: left to it),
  // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id, sm_length.
  if (o + 10 > len || frame[o + 3] !== 0 || frame[o + 4] !== 0) return undefined;
  const smLength = frame[o + 9] as number;
  const smStart = o + 10;
  if (smStart + smLength > len) return undefined;
  const body: Record<string, unknown> = {
    service_type: serviceType,
    source_addr_ton: srcTon,
    source_addr_npi: srcNpi,
    source_addr: src,
    dest_addr_ton: dstTon,
    dest_addr_npi: dstNpi,
    destination_addr: dst,
    esm_class: frame[o],
    protocol_id: frame[o + 1],
    priority_flag: frame[o + 2],
    schedule_delivery_time: '',
    validity_period: '',
    registered_delivery: frame[o + 5],
    replace_if_present_flag: frame[o + 6],
    data_coding: frame[o + 7],
    sm_default_msg_id: frame[o + 8],
    short_message: frame.subarray(smStart, smStart + smLength),
  };
  if (!readTlvs(frame, smStart + smLength, body)) return undefined;
  return { command: 'deliver_sm', commandId: DELIVER_SM, status, seq, body };
}

/**
 * Decode one whole frame of a hot command as codec.ts decodePdu would; undefined for any
 * other command, and for anything unusual, so the caller falls back to the package.
 */
export function decodeFast(frame: Buffer, maxLength = 65_536): FastPdu | undefined {
  const len = frame.length;
  if (len < HEADER || len > maxLength || frame.readUInt32BE(0) !== len) return undefined;
  const commandId = frame.readUInt32BE(4);
  const status = frame.readUInt32BE(8);
  const seq = frame.readUInt32BE(12);
  switch (commandId) {
    case SUBMIT_SM_RESP:
      return decodeResp(frame, 'submit_sm_resp', commandId, status, seq);
    case DELIVER_SM_RESP:
      return decodeResp(frame, 'deliver_sm_resp', commandId, status, seq);
    case DELIVER_SM:
      return decodeDeliverSm(frame, status, seq);
    case ENQUIRE_LINK:
    case ENQUIRE_LINK_RESP:
    case GENERIC_NACK: {
      const body: Record<string, unknown> = {};
      if (!readTlvs(frame, HEADER, body)) return undefined;
      const command = commandId === ENQUIRE_LINK ? 'enquire_link' : commandId === ENQUIRE_LINK_RESP ? 'enquire_link_resp' : 'generic_nack';
      return { command, commandId, status, seq, body };
    }
    default:
      return undefined;
  }
}
