/**
 * Delivery receipt parsing. Pure: a decoded deliver_sm (or data_sm) in, a
 * ParsedReceipt out. The raw carrier id is kept; matching it to our message goes
 * through normaliseId (ids.ts) with the carrier's receipt format.
 *
 * Two sources, TLVs preferred (SMPP 3.4 §5.3.2.12 receipted_message_id, §5.3.2.35
 * message_state, §5.3.2.31 network_error_code), and the de-facto text format of SMPP 3.4
 * Appendix B in short_message or message_payload:
 *   id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
 */
import type { Pdu } from '../smpp/codec.js';
import { bodyBuffer, bodyNumber, bodyString } from '../smpp/codec.js';

export type ReceiptState = 'delivered' | 'undeliverable' | 'expired' | 'rejected' | 'deleted' | 'unknown' | 'accepted' | 'enroute';

export interface ParsedReceipt {
  /** The carrier's id as written (TLV preferred), untouched but for trimming. */
  id: string;
  /**
   * The id of each source as written, when that source had one: some carriers write the
   * TLV and the text in different formats (messageIds.receiptTlv / receiptText), so each
   * is normalised with its own and matched in turn.
   */
  tlvId?: string;
  textId?: string;
  state: ReceiptState;
  /** True when the message will change state no more. */
  final: boolean;
  /** The text's stat word as written (DELIVRD, UNDELIV, ...), when the text had one. */
  stat?: string;
  /** The text's err field as written (e.g. '000'). */
  err?: string;
  /** YYMMDDhhmm[ss] as written. */
  submitDate?: string;
  doneDate?: string;
  /** Where the id and state came from. */
  source: 'tlv' | 'text' | 'both';
  /** SMPP 3.4 §5.3.2.31: network type (1 ANSI-136, 2 IS-95, 3 GSM, ...) and its 2-octet error code. */
  networkErrorCode?: { type: number; code: number };
}

export interface ReceiptTextFields {
  id: string;
  sub: string;
  dlvrd: string;
  submitDate: string;
  doneDate: string;
  stat: string;
  err: string;
  text: string;
}

/** SMPP 3.4 §5.2.12: bits 5..2 of esm_class in deliver_sm give the message type. */
const ESM_TYPE_MASK = 0x3c;
/** xx0001xx: SMSC (MC) Delivery Receipt. */
const ESM_DELIVERY_RECEIPT = 0x04;
/** xx1000xx: Intermediate Delivery Notification — a receipt that is never final. */
const ESM_INTERMEDIATE = 0x20;
/** bit 6: short_message starts with a User Data Header (SMPP 3.4 §5.2.12, GSM 03.40 §9.2.3.24). */
const ESM_UDHI = 0x40;

/**
 * True for the MC delivery receipt (0x04) and the intermediate delivery notification
 * (0x20, parsed but never final). Not for 0x08 (SME Delivery Acknowledgement) nor 0x10
 * (SME Manual/User Acknowledgement): those come from the handset's application, carry
 * no receipt format, and are handled as MO.
 */
export function isReceipt(esmClass: number): boolean {
  const type = esmClass & ESM_TYPE_MASK;
  return type === ESM_DELIVERY_RECEIPT || type === ESM_INTERMEDIATE;
}

/** SMPP 3.4 §5.2.28 message_state values. */
const MESSAGE_STATE: ReadonlyMap<number, ReceiptState> = new Map([
  [1, 'enroute'],
  [2, 'delivered'],
  [3, 'expired'],
  [4, 'deleted'],
  [5, 'undeliverable'],
  [6, 'accepted'],
  [7, 'unknown'],
  [8, 'rejected'],
]);

/**
 * Appendix B stat words (7 letters), plus the long spellings some SMSCs write out.
 * Unknown words map to 'unknown' (final) and keep the raw word in `stat`.
 */
const STAT_WORDS: ReadonlyMap<string, ReceiptState> = new Map([
  ['DELIVRD', 'delivered'],
  ['DELIVERED', 'delivered'],
  ['UNDELIV', 'undeliverable'],
  ['UNDELIVERABLE', 'undeliverable'],
  ['EXPIRED', 'expired'],
  ['REJECTD', 'rejected'],
  ['REJECTED', 'rejected'],
  ['DELETED', 'deleted'],
  ['UNKNOWN', 'unknown'],
  ['ACCEPTD', 'accepted'],
  ['ACCEPTED', 'accepted'],
  ['ENROUTE', 'enroute'],
]);

/**
 * ACCEPTD is treated as not final although §5.2.28 lists ACCEPTED among final states:
 * in practice SMSCs send it for "accepted by the network, outcome pending", and a
 * final DELIVRD/UNDELIV follows (Kannel maps it to "buffered" likewise).
 */
const NOT_FINAL: ReadonlySet<ReceiptState> = new Set(['enroute', 'accepted']);

/** A message_state value (SMPP 3.4 §5.2.28) as a receipt state; undefined for one §5.2.28 does not define. */
export function messageStateOf(value: number | undefined): ReceiptState | undefined {
  return value === undefined ? undefined : MESSAGE_STATE.get(value);
}

/** Whether a state is the message's last (ENROUTE and ACCEPTED are not: see NOT_FINAL). */
export function isFinalState(state: ReceiptState): boolean {
  return !NOT_FINAL.has(state);
}

// Keys of Appendix B, case-insensitive; "submit date" also as submit_date / submitdate
// (0x11 is '_' when the SMSC sent the text in the GSM 03.38 default alphabet). A key
// must not be glued to a preceding letter or digit, so 'sub' inside 'xsub:' is no key.
const KEY = /(?<![a-z0-9_])(id|sub|dlvrd|submit[ _\x11]?date|done[ _\x11]?date|stat|err|text)\s*:/gi;

const FIELD_NAMES: Readonly<Record<string, keyof ReceiptTextFields>> = {
  id: 'id',
  sub: 'sub',
  dlvrd: 'dlvrd',
  stat: 'stat',
  err: 'err',
  text: 'text',
};

function fieldName(key: string): keyof ReceiptTextFields | undefined {
  const k = key.toLowerCase();
  if (k.startsWith('submit')) return 'submitDate';
  if (k.startsWith('done')) return 'doneDate';
  return FIELD_NAMES[k];
}

/**
 * Whitespace as String.prototype.trim and RegExp `\s` define it (ECMAScript WhiteSpace and
 * LineTerminator): TAB, LF, VT, FF, CR, space, NBSP, the Zs spaces, LS, PS, BOM.
 */
function isSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * Parse the Appendix B text tolerantly: any case, fields in any order, missing fields,
 * extra spaces, submit_date. Each field's value is its first whitespace-delimited
 * token. Everything after the first 'text:' is the text field, unparsed, so a 'stat:'
 * inside the message text cannot override the real one. The first occurrence of a
 * field wins; empty fields are left out.
 *
 * Every receipt goes through here, so it walks the keys with KEY.exec and cuts each
 * value out with one slice (no match list, no trim or split copies).
 */
export function parseReceiptText(text: string): Partial<ReceiptTextFields> {
  const out: Partial<ReceiptTextFields> = {};
  // KEY is global: exec walks the keys from lastIndex (reset: a call may have stopped at `text:`).
  KEY.lastIndex = 0;
  let m = KEY.exec(text);
  while (m !== null) {
    const name = m[1] === undefined ? undefined : fieldName(m[1]);
    const start = m.index + m[0].length;
    if (name === 'text') {
      out.text = text.slice(start).replace(/^ /, '');
      break;
    }
    // A value runs to the next key, whatever that key is.
    const next = KEY.exec(text);
    if (name !== undefined && out[name] === undefined) {
      const end = next === null ? text.length : next.index;
      let from = start;
      while (from < end && isSpace(text.charCodeAt(from))) from++;
      let to = from;
      while (to < end && !isSpace(text.charCodeAt(to))) to++;
      if (to > from) out[name] = text.slice(from, to);
    }
    m = next;
  }
  KEY.lastIndex = 0;
  return out;
}

/** The receipt text from message_payload (preferred; §5.3.2.32) or short_message, decoded. */
export function receiptText(pdu: Pdu): string | undefined {
  const payload = bodyBuffer(pdu, 'message_payload');
  const shortMessage = bodyBuffer(pdu, 'short_message');
  let bytes = payload !== undefined && payload.length > 0 ? payload : shortMessage;
  if (bytes === undefined || bytes.length === 0) return undefined;
  const esmClass = bodyNumber(pdu, 'esm_class') ?? 0;
  if ((esmClass & ESM_UDHI) !== 0 && bytes === shortMessage) {
    const udhLength = (bytes[0] ?? 0) + 1; // UDHL octet + UDH (GSM 03.40 §9.2.3.24)
    bytes = bytes.subarray(Math.min(udhLength, bytes.length));
  }
  let text: string;
  if (bodyNumber(pdu, 'data_coding') === 8) {
    // UCS-2, big-endian (SMPP 3.4 §5.2.19); Node only decodes little-endian, so swap a copy.
    const even = Buffer.from(bytes.subarray(0, bytes.length - (bytes.length % 2)));
    text = even.swap16().toString('utf16le');
  } else {
    // Receipt text is ASCII in practice; latin1 keeps every byte one character.
    text = bytes.toString('latin1');
  }
  return text.replace(/\0+$/, '');
}

function networkErrorCode(pdu: Pdu): { type: number; code: number } | undefined {
  const b = bodyBuffer(pdu, 'network_error_code');
  if (b === undefined || b.length !== 3) return undefined;
  return { type: b.readUInt8(0), code: b.readUInt16BE(1) };
}

/**
 * The receipt in `pdu`, or undefined when it is not a receipt (not deliver_sm/data_sm,
 * or esm_class says MO), when no id can be found, or when neither message_state nor a
 * stat field says anything about the message's state.
 * When the TLV and the text disagree, the TLV wins (the text is free-form and the id in
 * it is sometimes truncated or reformatted).
 */
export function parseReceipt(pdu: Pdu): ParsedReceipt | undefined {
  if (pdu.command !== 'deliver_sm' && pdu.command !== 'data_sm') return undefined;
  const esmClass = bodyNumber(pdu, 'esm_class') ?? 0;
  if (!isReceipt(esmClass)) return undefined;

  const tlvId = bodyString(pdu, 'receipted_message_id')?.trim() || undefined;
  const stateNumber = bodyNumber(pdu, 'message_state');
  const tlvState = stateNumber === undefined ? undefined : MESSAGE_STATE.get(stateNumber);
  const rawText = receiptText(pdu);
  const fields = rawText === undefined ? {} : parseReceiptText(rawText);
  const textId = fields.id;
  const textState = fields.stat === undefined ? undefined : (STAT_WORDS.get(fields.stat.toUpperCase()) ?? 'unknown');

  const id = tlvId ?? textId;
  const state = tlvState ?? textState;
  if (id === undefined || state === undefined) return undefined;

  const fromTlv = tlvId !== undefined || tlvState !== undefined;
  const fromText = textId !== undefined || textState !== undefined;
  const receipt: ParsedReceipt = {
    id,
    state,
    final: !NOT_FINAL.has(state) && (esmClass & ESM_TYPE_MASK) !== ESM_INTERMEDIATE,
    source: fromTlv && fromText ? 'both' : fromTlv ? 'tlv' : 'text',
  };
  if (tlvId !== undefined) receipt.tlvId = tlvId;
  if (textId !== undefined) receipt.textId = textId;
  if (fields.stat !== undefined) receipt.stat = fields.stat;
  if (fields.err !== undefined) receipt.err = fields.err;
  if (fields.submitDate !== undefined) receipt.submitDate = fields.submitDate;
  if (fields.doneDate !== undefined) receipt.doneDate = fields.doneDate;
  const nec = networkErrorCode(pdu);
  if (nec !== undefined) receipt.networkErrorCode = nec;
  return receipt;
}
