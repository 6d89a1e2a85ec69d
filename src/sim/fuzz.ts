/**
 * Hostile PDUs for the simulator's fuzzing mode: what a broken or malicious SMSC sends,
 * always with intact framing (command_length is the frame's length, the header is whole),
 * so a correct ESME must answer each one and keep its session. Pure and seeded: the same
 * seed gives the same PDUs.
 *
 * Never generated: unbind and outbind (a correct ESME ends the session for those), and a
 * response carrying a sequence number the ESME may have in flight — stray responses use
 * 0x7f000000 and above, which an ESME counting up from 1 does not reach in a test.
 */
import { HEADER_LENGTH } from '../smpp/codec.js';
import { CMD } from './wire.js';

export type HostileKind =
  /** deliver_sm whose body is random octets */
  | 'random_deliver_sm'
  /** a receipt whose number TLV has length 0; its text still says id and stat */
  | 'zero_length_tlv'
  /** a deliver_sm whose last TLV claims more octets than the PDU has */
  | 'truncated_tlv'
  /** a deliver_sm whose source_addr has no terminating NUL: undecodable */
  | 'unterminated_string'
  /** a request with a command_id SMPP 3.4 does not define */
  | 'unknown_command'
  /** a request an SMSC does not send an ESME (submit_sm, query_sm, bind_*, …), random body */
  | 'unsupported_request'
  /** a response to nothing (its own sequence number range), random body */
  | 'stray_response'
  /** enquire_link with junk TLVs after its (empty) body */
  | 'junk_enquire_link'
  /** data_sm whose body is random octets */
  | 'random_data_sm';

export const HOSTILE_KINDS: readonly HostileKind[] = [
  'random_deliver_sm',
  'zero_length_tlv',
  'truncated_tlv',
  'unterminated_string',
  'unknown_command',
  'unsupported_request',
  'stray_response',
  'junk_enquire_link',
  'random_data_sm',
];

/** First sequence number of stray responses (SMPP 3.4 §5.1.4 allows up to 0x7fffffff). */
export const STRAY_SEQ_BASE = 0x7f000000;

/** Number TLVs of a receipt (SMPP 3.4 §5.3.2): message_state, network-less ones an SMSC may add. */
const NUMBER_TAGS = [0x0427, 0x0425, 0x0426, 0x0005, 0x020c, 0x0017];
/** Requests an SMSC has no business sending an ESME (or that Qasid does not serve); 0x102 is alert_notification. */
const UNSUPPORTED = [0x00000001, 0x00000002, 0x00000003, 0x00000004, 0x00000007, 0x00000008, 0x00000009, 0x00000021, 0x00000102];
/** Responses, known and not. */
const RESPONSES = [CMD.SUBMIT_SM_RESP, CMD.DELIVER_SM_RESP, CMD.ENQUIRE_LINK_RESP, CMD.GENERIC_NACK, CMD.UNBIND_RESP, 0x80000009, 0x80000103, 0x800001ff];
const DATA_SM = 0x00000103;

/** mulberry32: a small, fast 32-bit PRNG; plenty for picking bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function frame(commandId: number, status: number, seq: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  out.writeUInt32BE(out.length, 0);
  out.writeUInt32BE(commandId >>> 0, 4);
  out.writeUInt32BE(status >>> 0, 8);
  out.writeUInt32BE(seq >>> 0, 12);
  body.copy(out, HEADER_LENGTH);
  return out;
}

function tlv(tag: number, value: Buffer, declared = value.length): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(tag, 0);
  h.writeUInt16BE(declared, 2);
  return Buffer.concat([h, value]);
}

/** The mandatory part of a receipt deliver_sm (SMPP 3.4 §4.6.1), esm_class 0x04, with `text` as short_message. */
function receiptBody(text: string): Buffer {
  const sm = Buffer.from(text, 'latin1');
  return Buffer.concat([
    Buffer.from('00' + '0101' + Buffer.from('923001234567').toString('hex') + '00' + '0500' + Buffer.from('QASID').toString('hex') + '00' + '040000' + '0000' + '00000000', 'hex'),
    Buffer.from([sm.length]),
    sm,
  ]);
}

export class HostilePdus {
  private readonly rand: () => number;
  private n = 0;

  constructor(seed: number) {
    this.rand = prng(seed);
  }

  private int(max: number): number {
    return Math.floor(this.rand() * max);
  }

  private bytes(max: number): Buffer {
    const b = Buffer.allocUnsafe(this.int(max + 1));
    for (let i = 0; i < b.length; i++) b[i] = this.int(256);
    return b;
  }

  private pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T;
  }

  /** The next hostile PDU; `seq()` gives the sequence number of a request (the simulator's own counter). */
  next(seq: () => number): { kind: HostileKind; bytes: Buffer } {
    const kind = this.pick(HOSTILE_KINDS);
    const n = ++this.n;
    switch (kind) {
      case 'random_deliver_sm':
        return { kind, bytes: frame(CMD.DELIVER_SM, 0, seq(), this.bytes(120)) };
      case 'zero_length_tlv': {
        const body = Buffer.concat([receiptBody(`id:F${n} sub:001 dlvrd:001 stat:DELIVRD err:000 text:`), tlv(this.pick(NUMBER_TAGS), Buffer.alloc(0)), tlv(0x001e, Buffer.from(`F${n}\0`))]);
        return { kind, bytes: frame(CMD.DELIVER_SM, 0, seq(), body) };
      }
      case 'truncated_tlv': {
        const value = this.bytes(6);
        const body = Buffer.concat([receiptBody(`id:T${n} stat:UNDELIV err:001`), tlv(this.pick([0x001e, 0x0427, 0x0424, 0x0423]), value, value.length + 1 + this.int(200))]);
        return { kind, bytes: frame(CMD.DELIVER_SM, 0, seq(), body) };
      }
      case 'unterminated_string': {
        const digits = Buffer.from('92300' + String(1_000_000 + this.int(8_999_999)), 'latin1');
        return { kind, bytes: frame(CMD.DELIVER_SM, 0, seq(), Buffer.concat([Buffer.from('000101', 'hex'), digits])) };
      }
      case 'unknown_command':
        return { kind, bytes: frame(0x00000200 + this.int(0x7d00), 0, seq(), this.bytes(40)) };
      case 'unsupported_request':
        return { kind, bytes: frame(this.pick(UNSUPPORTED), 0, seq(), this.bytes(60)) };
      case 'stray_response':
        return { kind, bytes: frame(this.pick(RESPONSES), this.pick([0, 0, 0x08, 0x58]), STRAY_SEQ_BASE + this.int(0x00ffffff), this.bytes(30)) };
      case 'junk_enquire_link': {
        const junk = Buffer.concat([tlv(this.pick(NUMBER_TAGS), Buffer.alloc(0)), tlv(0x1400 + this.int(0x100), this.bytes(8))]);
        return { kind, bytes: frame(CMD.ENQUIRE_LINK, 0, seq(), junk) };
      }
      default:
        return { kind, bytes: frame(DATA_SM, 0, seq(), this.bytes(80)) };
    }
  }
}
