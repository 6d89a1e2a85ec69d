/**
 * The only module that imports the `smpp` package. It is used as a PDU codec and
 * nothing else: sockets, framing, windows and timers are ours (the package's socket
 * layer never sets TCP_NODELAY, writes once per PDU, ignores backpressure and wedges
 * on an oversized PDU — see KNOWN facts in the README).
 */
import smpp from 'smpp';
import { QasidError } from '../core/errors.js';
import { decodeFast, encodeSubmitSm } from './fast.js';

/** A decoded PDU. Body fields keep the SMPP 3.4 names; text fields stay raw Buffers. */
export interface Pdu {
  readonly command: string;
  readonly commandId: number;
  readonly status: number;
  readonly seq: number;
  readonly body: Readonly<Record<string, unknown>>;
}

/** SMPP 3.4 §3.2: command_length covers the whole PDU, header included (16 octets). */
export const HEADER_LENGTH = 16;
/** Largest PDU we accept; a carrier sending `message_payload` can need more than the package's 16 KiB. */
export const MAX_PDU_LENGTH = 65_536;

const HEADER_FIELDS = new Set(['command', 'command_length', 'command_id', 'command_status', 'sequence_number']);

// The package decodes short_message/message_payload into text with its own (lossy)
// charset guess and mislabels GSM text; we keep raw bytes both ways and encode text
// ourselves (src/encoding). Removing the filters makes short_message a plain Buffer.
for (const def of Object.values(smpp.commands)) {
  const p = def.params?.short_message;
  if (p) delete p.filter;
}
if (smpp.tlvs.message_payload) delete smpp.tlvs.message_payload.filter;
smpp.PDU.maxLength = MAX_PDU_LENGTH;

// The package reads string TLVs up to the next NUL and ignores the TLV's own length, so
// a receipted_message_id sent without a NUL swallows the TLV after it. Read at most the
// declared length (SMPP 3.4 §3.3), stopping early at a NUL.
interface CodecType {
  read(buf: Buffer, offset: number, length?: number): unknown;
  write(value: unknown, buf: Buffer, offset: number): void;
  size(value: unknown): number;
}
const cstring = smpp.types.cstring as CodecType;
const tlvCstring: CodecType = {
  read(buf, offset, length = 0) {
    const max = Math.min(buf.length, offset + length);
    let end = offset;
    while (end < max && buf[end] !== 0) end++;
    return buf.toString('latin1', offset, end);
  },
  write: (value, buf, offset) => cstring.write(value, buf, offset),
  size: (value) => cstring.size(value),
};
for (const tlv of Object.values(smpp.tlvs)) {
  if (tlv.type === cstring) tlv.type = tlvCstring;
}

export const COMMAND_STATUS: Readonly<Record<string, number>> = Object.freeze({ ...smpp.errors });
const STATUS_NAMES = new Map<number, string>(Object.entries(smpp.errors).map(([k, v]) => [v, k]));

/** `ESME_RTHROTTLED` for 0x58, or the hex value when the status has no name. */
export function statusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `0x${status.toString(16).padStart(8, '0')}`;
}

export function commandId(command: string): number | undefined {
  return smpp.commands[command]?.id;
}

export function isResponseId(id: number): boolean {
  return (id & 0x80000000) !== 0;
}

/**
 * Encode one PDU. Throws QasidError(SMPP_DECODE_FAILED) never; encoding errors are programming errors.
 * submit_sm goes through the hand-written encoder (./fast.ts), which yields the package's
 * bytes exactly or declines; everything else, and whatever it declines, through the package.
 */
export function encodePdu(command: string, seq: number, body: Readonly<Record<string, unknown>> = {}, status = 0): Buffer {
  if (command === 'submit_sm' && status === 0) {
    const fast = encodeSubmitSm(seq, body);
    if (fast !== undefined) return fast;
  }
  return encodePduSlow(command, seq, body, status);
}

/** encodePdu through the package only (the reference the fast path is tested against). */
export function encodePduSlow(command: string, seq: number, body: Readonly<Record<string, unknown>> = {}, status = 0): Buffer {
  const pdu = new smpp.PDU(command, { ...body, sequence_number: seq, command_status: status });
  return pdu.toBuffer();
}

/** The response PDU to a request: `generic_nack` for a command we do not know. */
export function encodeResponse(req: Pdu, status = 0, body: Readonly<Record<string, unknown>> = {}): Buffer {
  const command = req.command === 'unknown' || isResponseId(req.commandId) ? 'generic_nack' : `${req.command}_resp`;
  const fixed = FIXED_RESPONSES[command];
  if (fixed && Object.keys(body).length === 0) {
    // The same bytes the package writes: an error response is the bare header; an OK
    // deliver_sm_resp carries an empty message_id (SMPP 3.4 §4.6.2), enquire_link_resp nothing.
    const out = Buffer.alloc(HEADER_LENGTH + (status === 0 ? fixed.okBodyLength : 0));
    out.writeUInt32BE(out.length, 0);
    out.writeUInt32BE(fixed.id, 4);
    out.writeUInt32BE(status, 8);
    out.writeUInt32BE(req.seq, 12);
    return out;
  }
  return encodePdu(command, req.seq, status === 0 ? body : {}, status);
}

/** Responses sent once per receipt or keep-alive, built without the package. */
const FIXED_RESPONSES: Readonly<Record<string, { id: number; okBodyLength: number }>> = {
  deliver_sm_resp: { id: 0x80000005, okBodyLength: 1 },
  enquire_link_resp: { id: 0x80000015, okBodyLength: 0 },
};

/**
 * Decode one whole PDU (exactly command_length bytes). A PDU the package cannot parse
 * throws QasidError('SMPP_DECODE_FAILED'); the session treats that as fatal for the
 * connection, because the byte stream can no longer be trusted.
 */
export function decodePdu(frame: Buffer): Pdu {
  // The hot PDUs (submit_sm_resp, deliver_sm, enquire_link, …) by hand, field for field
  // what the package gives; anything it declines (other commands, unknown TLVs, odd or
  // malformed frames) through the package, which also reports the errors.
  return decodeFast(frame, MAX_PDU_LENGTH) ?? decodePduSlow(frame);
}

/** decodePdu through the package only (the reference the fast path is tested against). */
export function decodePduSlow(frame: Buffer): Pdu {
  let raw: InstanceType<typeof smpp.PDU>;
  try {
    raw = new smpp.PDU(frame);
  } catch (cause) {
    throw new QasidError('SMPP_DECODE_FAILED', undefined, { commandId: frame.length >= 8 ? frame.readUInt32BE(4) : undefined }, { cause });
  }
  const body: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) {
    if (!HEADER_FIELDS.has(key)) body[key] = raw[key];
  }
  return { command: raw.command, commandId: raw.command_id, status: raw.command_status, seq: raw.sequence_number, body };
}

/** Read a body field as a string (cstring fields and TLVs), trimming a trailing NUL some SMSCs leave in TLVs. */
export function bodyString(pdu: Pdu, field: string): string | undefined {
  const v = pdu.body[field];
  if (v === undefined || v === null) return undefined;
  const s = Buffer.isBuffer(v) ? v.toString('latin1') : String(v);
  return s.replace(/\0+$/, '');
}

export function bodyNumber(pdu: Pdu, field: string): number | undefined {
  const v = pdu.body[field];
  return typeof v === 'number' ? v : undefined;
}

export function bodyBuffer(pdu: Pdu, field: string): Buffer | undefined {
  const v = pdu.body[field];
  return Buffer.isBuffer(v) ? v : undefined;
}
