/**
 * Decisions about PDUs an SMSC got wrong (pure): which response answers which request,
 * and what answers a PDU whose framing is intact but whose body cannot be decoded. The
 * session (session.ts) counts and logs them; see README "How a carrier link behaves".
 */
import { COMMAND_STATUS, encodePdu, encodeResponse, type Pdu } from './codec.js';

/**
 * What a misbehaving SMSC can send that the session survives, one count per PDU:
 * - `undecodable`: a whole frame whose body could not be decoded (answered or settled by its header);
 * - `tlv_skipped`: a PDU used without one or more TLVs that could not be read as their type;
 * - `stray_response`: a response that answers no request in flight (unknown sequence
 *   number, or the sequence number of a request of another command);
 * - `unexpected`: a request the session does not handle (answered generic_nack).
 */
export type PduFault = 'undecodable' | 'tlv_skipped' | 'stray_response' | 'unexpected';

/** SMPP 3.4 §5.1.3: the command_length does not fit the command (its body cannot be read). */
const ESME_RINVCMDLEN = COMMAND_STATUS.ESME_RINVCMDLEN ?? 0x02;

/**
 * Requests whose response body is what the caller needs (the carrier's message_id): an OK
 * response we cannot read leaves the outcome unknown — the SMSC has the message, and we do
 * not know under which id. Any other request is settled by the response's status alone.
 */
const BODY_BEARING: ReadonlySet<string> = new Set(['submit_sm', 'data_sm', 'submit_multi']);

/** A response answers a request when it is that command's own response, or generic_nack (valid for any, SMPP 3.4 §4.3). */
export function answers(request: string, response: Pdu): boolean {
  return response.command === 'generic_nack' || response.command === `${request}_resp`;
}

/** An OK answer to `request` whose body cannot be decoded leaves its outcome unknown. */
export function needsBody(request: string): boolean {
  return BODY_BEARING.has(request);
}

/**
 * What answers a request whose body cannot be decoded (`head`: its header, empty body):
 * - `handle`: enquire_link and unbind mean what their header says — handle them as usual;
 * - `reply`: deliver_sm / data_sm get their response with ESME_ROK — bytes that do not
 *   parse will never parse, so an error status would only make the SMSC deliver them
 *   again on every bind; any other request gets generic_nack ESME_RINVCMDLEN;
 * - `ignore`: alert_notification takes no response (SMPP 3.4 §4.12).
 */
export function undecodableRequest(head: Pdu): { kind: 'handle' } | { kind: 'reply'; bytes: Buffer } | { kind: 'ignore' } {
  switch (head.command) {
    case 'enquire_link':
    case 'unbind':
      return { kind: 'handle' };
    case 'deliver_sm':
    case 'data_sm':
      return { kind: 'reply', bytes: encodeResponse(head, 0) };
    case 'alert_notification':
      return { kind: 'ignore' };
    default:
      return { kind: 'reply', bytes: encodePdu('generic_nack', head.seq, {}, ESME_RINVCMDLEN) };
  }
}

/** A command_id as logged: `0x00000005`. */
export function hexId(id: number): string {
  return `0x${id.toString(16).padStart(8, '0')}`;
}
