/**
 * Carrier message-id normalisation. A carrier may write the same message's id in
 * submit_sm_resp in one format and in the receipt in another (commonly hex in
 * submit_sm_resp, decimal in the receipt text — SMPP 3.4 Appendix B leaves the id's
 * format to the SMSC). Each side is normalised with its own configured format into one
 * canonical key, so the two compare equal exactly when they name the same message.
 */
import type { MessageIdFormat } from '../config/types.js';

export type { MessageIdFormat };

/**
 * SMPP 3.4 §5.2.23: message_id is a C-Octet String of at most 65 octets, NUL included.
 * Numeric ids longer than this are not ids; refusing them also keeps BigInt parsing
 * (super-linear in the digit count) away from a 64 KiB message_payload.
 */
export const MAX_NUMERIC_ID_LENGTH = 64;

const HEX = /^(?:0x)?([0-9a-f]+)$/i;
const DECIMAL = /^[0-9]+$/;

/** Trim whitespace and NULs (Net::SMPP and others leave a NUL at the end of TLV strings). */
function clean(raw: string): string {
  return raw.replace(/^\s+/, '').replace(/[\s\0]+$/, '');
}

/**
 * The canonical key for `raw` as written in `format`, or undefined when it does not
 * parse in that format.
 * - 'hex', 'decimal': an unsigned integer of any length (BigInt), returned as its
 *   decimal string — leading zeros and case do not matter; hex may carry '0x'.
 * - 'verbatim': the trimmed id, case kept, nothing else stripped. Leading zeros are
 *   NOT stripped: that would corrupt UUIDs and other opaque ids (Jasmin strips them
 *   globally and breaks such carriers).
 */
export function normaliseId(raw: string, format: MessageIdFormat): string | undefined {
  const s = clean(raw);
  if (s === '') return undefined;
  switch (format) {
    case 'verbatim':
      return s;
    case 'hex': {
      const digits = HEX.exec(s)?.[1];
      if (digits === undefined || digits.length > MAX_NUMERIC_ID_LENGTH) return undefined;
      return BigInt(`0x${digits}`).toString(10);
    }
    case 'decimal':
      if (!DECIMAL.test(s) || s.length > MAX_NUMERIC_ID_LENGTH) return undefined;
      return BigInt(s).toString(10);
  }
}

/**
 * The normalised ids to match a receipt by, in the order to try them: the TLV's
 * (receipted_message_id, in `formats.tlv`), then the text's (`id:`, in `formats.text`),
 * each only when it parses in its format, and the second only when it differs. When
 * neither parses, the id as written (TLV preferred), so it can still be parked and counted.
 * A carrier configured from one source only (`messageIds.receipt`) still matches by the
 * other when the first finds nothing.
 */
export function receiptMatchIds(r: { id: string; tlvId?: string; textId?: string }, formats: { tlv: MessageIdFormat; text: MessageIdFormat }): string[] {
  const out: string[] = [];
  const tlv = r.tlvId === undefined ? undefined : normaliseId(r.tlvId, formats.tlv);
  if (tlv !== undefined) out.push(tlv);
  const text = r.textId === undefined ? undefined : normaliseId(r.textId, formats.text);
  if (text !== undefined && text !== tlv) out.push(text);
  if (out.length === 0) out.push(clean(r.id));
  return out;
}

/**
 * A normalised id as the carrier writes it in submit_sm_resp, for asking about it
 * (query_sm): a `hex` carrier's id back in lower-case hex (leading zeros, which the key
 * dropped, are not restored), a `decimal` or `verbatim` one as kept.
 */
export function carrierWrittenId(normId: string, format: MessageIdFormat): string {
  if (format !== 'hex' || !DECIMAL.test(normId)) return normId;
  return BigInt(normId).toString(16);
}
