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
  /**
   * TLVs left out of `body` because they could not be read as their type (a number TLV
   * whose length is not its size, zero included; a value running past the end of the PDU;
   * a value its filter cannot decode). Absent when there were none.
   */
  readonly malformedTlvs?: number;
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

// TLVs are read tolerantly: a carrier's one bad TLV must not make the whole PDU
// undecodable (the package reads a number TLV at its offset whatever its declared length:
// a zero-length message_state throws at the end of a PDU and reads the next TLV's first
// octet anywhere else). A TLV whose value cannot be its type's (SMPP 3.4 §5.3.2: a number
// TLV's length is its size), that runs past the end of the PDU, or that its filter cannot
// decode is read as SKIPPED; decodePduSlow leaves it out of the body and counts it.
const SKIPPED: unique symbol = Symbol('qasid.tlv.skipped');
const t = smpp.types as Record<string, CodecType>;
const NUMBER_SIZES = new Map<unknown, number>([
  [t.int8, 1],
  [t.int16, 2],
  [t.int32, 4],
]);
for (const tlv of Object.values(smpp.tlvs)) {
  const inner = tlv.type as CodecType;
  const size = NUMBER_SIZES.get(inner);
  tlv.type = {
    read(buf: Buffer, offset: number, length = 0): unknown {
      if (offset + length > buf.length || (size !== undefined && length !== size)) return SKIPPED;
      return inner.read(buf, offset, length);
    },
    write: (value: unknown, buf: Buffer, offset: number) => inner.write(value, buf, offset),
    size: (value: unknown) => inner.size(value),
  } satisfies CodecType;
  const filter = tlv.filter;
  if (filter) {
    tlv.filter = {
      encode: filter.encode,
      // `this` is the PDU being decoded, as the package calls it.
      decode(this: unknown, value: unknown, skipUdh?: boolean): unknown {
        if (value === SKIPPED) return SKIPPED;
        try {
          return filter.decode.call(this, value, skipUdh);
        } catch {
          return SKIPPED;
        }
      },
    };
  }
}

// Mandatory C-Octet Strings must end in their NUL within the PDU (SMPP 3.4 §3.1; Kannel
// refuses such a PDU too). The package would read to the end of the frame instead, so a
// submit_sm_resp without the NUL became "accepted" with a garbage id and a deliver_sm whose
// source_addr lacks it lost every field after it (a receipt read as an MO). Such a body
// is undecodable: the session answers or settles it by its header (see session.ts).
const strictCstring: CodecType & { default: string } = {
  read(buf, offset) {
    const end = buf.indexOf(0, offset);
    if (end < 0) throw new RangeError('C-Octet String without its terminating NUL');
    return buf.toString('ascii', offset, end);
  },
  write: (value, buf, offset) => cstring.write(value, buf, offset),
  size: (value) => cstring.size(value),
  default: '',
};
for (const def of Object.values(smpp.commands)) {
  for (const p of Object.values(def.params ?? {})) {
    if (p.type === cstring) p.type = strictCstring;
    // A time field we cannot read (the package's time filter throws on some garbage)
    // stays the string it was: Qasid reads no time field of a PDU it receives.
    const filter = p.filter;
    if (filter) {
      p.filter = {
        encode: filter.encode,
        decode(this: unknown, value: unknown, skipUdh?: boolean): unknown {
          try {
            return filter.decode.call(this, value, skipUdh);
          } catch {
            return value;
          }
        },
      };
    }
  }
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
 * Decode one whole PDU (exactly command_length bytes). A body that cannot be parsed
 * throws QasidError('SMPP_DECODE_FAILED'); the frame itself is intact (the framer checked
 * its length), so the connection answers or settles the PDU by its header (pduHeader)
 * and carries on. TLVs that cannot be read are left out and counted (Pdu.malformedTlvs).
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
  let malformed = 0;
  for (const key of Object.keys(raw)) {
    if (HEADER_FIELDS.has(key)) continue;
    let value = raw[key];
    if (value === SKIPPED) {
      malformed++;
      continue;
    }
    if (Array.isArray(value) && value.includes(SKIPPED)) {
      // A multi-valued TLV keeps the values that could be read.
      const kept = value.filter((v) => v !== SKIPPED);
      malformed += value.length - kept.length;
      if (kept.length === 0) continue;
      value = kept;
    }
    body[key] = value;
  }
  const pdu: Pdu = { command: raw.command, commandId: raw.command_id, status: raw.command_status, seq: raw.sequence_number, body };
  return malformed > 0 ? { ...pdu, malformedTlvs: malformed } : pdu;
}

/**
 * The header of a whole frame as a Pdu with an empty body: what the session still knows
 * of a PDU whose body could not be decoded (SMPP 3.4 §3.2: the header is four integers,
 * readable whenever the framing is intact).
 */
export function pduHeader(frame: Buffer): Pdu {
  const commandId = frame.readUInt32BE(4);
  return { command: commandName(commandId), commandId, status: frame.readUInt32BE(8), seq: frame.readUInt32BE(12), body: {} };
}

/** `submit_sm_resp` for 0x80000004; `unknown` for an id SMPP 3.4 does not define. */
export function commandName(id: number): string {
  return smpp.commandsById[id]?.command ?? 'unknown';
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

// SMPP 3.4 §7.1.1 time fields (schedule_delivery_time, validity_period): 16 characters,
// "YYMMDDhhmmsstnnp". Relative times count years of 365 days and months of 30 days (the
// spec leaves their length to the SMSC); Qasid's longest validity, 7 days, needs only the
// days field, so no SMSC reads it differently.
const SEC_PER_DAY = 86_400;
const SEC_PER_MONTH = 30 * SEC_PER_DAY;
const SEC_PER_YEAR = 365 * SEC_PER_DAY;
/** Largest relative time: 99 years, 11 months, 29 days, 23:59:59. */
const MAX_RELATIVE_SEC = 99 * SEC_PER_YEAR + 11 * SEC_PER_MONTH + 29 * SEC_PER_DAY + SEC_PER_DAY - 1;

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * A duration as an SMPP relative time, "YYMMDDhhmmss000R" (SMPP 3.4 §7.1.1.2): whole
 * seconds rounded down, so the SMSC never holds a message past the validity it was
 * given; below 0 is 0, above 99 years is 99 years.
 */
export function smppRelativeTime(seconds: number): string {
  let s = Math.min(MAX_RELATIVE_SEC, Math.max(0, Math.floor(seconds)));
  const years = Math.floor(s / SEC_PER_YEAR);
  s -= years * SEC_PER_YEAR;
  const months = Math.floor(s / SEC_PER_MONTH);
  s -= months * SEC_PER_MONTH;
  const days = Math.floor(s / SEC_PER_DAY);
  s -= days * SEC_PER_DAY;
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  return `${two(years)}${two(months)}${two(days)}${two(hours)}${two(minutes)}${two(s - minutes * 60)}000R`;
}

/**
 * An instant (ms since the epoch) as an SMPP absolute time in UTC, "YYMMDDhhmmsst00+"
 * (SMPP 3.4 §7.1.1.1: t = tenths of a second, nn = quarter hours from UTC, here 00).
 */
export function smppAbsoluteTime(ms: number): string {
  const d = new Date(Math.floor(ms / 100) * 100);
  const tenths = Math.floor(d.getUTCMilliseconds() / 100);
  return `${two(d.getUTCFullYear() % 100)}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}${tenths}00+`;
}

const ABSOLUTE_TIME = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d)(\d\d)([+-])$/;
const RELATIVE_TIME = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)000R$/;

/**
 * The instant an SMPP time field names, read as an SMSC reads it (SMPP 3.4 §7.1.1): ms
 * since the epoch — `nowMs` plus the duration for a relative time (units as in
 * smppRelativeTime), years 2000–2099 for an absolute one. `null` for an empty field
 * (the SMSC's default applies); `undefined` for anything else, which an SMSC refuses
 * (ESME_RINVEXPIRY for validity_period, ESME_RINVSCHED for schedule_delivery_time).
 */
export function parseSmppTime(field: string, nowMs: number): number | null | undefined {
  if (field === '') return null;
  const rel = RELATIVE_TIME.exec(field);
  if (rel) {
    const [years, months, days, hours, minutes, seconds] = rel.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    return nowMs + (years * SEC_PER_YEAR + months * SEC_PER_MONTH + days * SEC_PER_DAY + hours * 3600 + minutes * 60 + seconds) * 1000;
  }
  const abs = ABSOLUTE_TIME.exec(field);
  if (!abs) return undefined;
  const [yy, mo, dd, hh, mi, ss, t, nn] = abs.slice(1, 9).map(Number) as [number, number, number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || dd < 1 || hh > 23 || mi > 59 || ss > 59 || nn > 48) return undefined;
  const local = Date.UTC(2000 + yy, mo - 1, dd, hh, mi, ss, t * 100);
  // The day must exist in its month (no 31 April): Date.UTC would roll it over.
  if (new Date(local).getUTCDate() !== dd) return undefined;
  // nn quarter hours between the local time written and UTC; '+' = local is ahead of UTC.
  const offsetMs = nn * 15 * 60_000;
  return abs[9] === '+' ? local - offsetMs : local + offsetMs;
}
