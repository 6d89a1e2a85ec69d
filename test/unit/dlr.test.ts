import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePdu, encodePdu } from '../../src/smpp/codec.js';
import type { Pdu } from '../../src/smpp/codec.js';
import { normaliseId, receiptMatchIds } from '../../src/dlr/ids.js';
import { isReceipt, parseReceipt, parseReceiptText } from '../../src/dlr/receipt.js';

/** A deliver_sm through the real codec, the way a carrier's bytes would arrive. */
function deliverSm(body: Record<string, unknown>): Pdu {
  return decodePdu(
    encodePdu('deliver_sm', 9, { source_addr: '923001234567', destination_addr: 'QASID', esm_class: 4, data_coding: 0, short_message: Buffer.alloc(0), ...body }),
  );
}
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

// Golden receipt texts as real SMSCs write them.
const KANNEL = 'id:1234567890 sub:001 dlvrd:001 submit date:2311221530 done date:2311221531 stat:DELIVRD err:000 text:Hello';
const JASMIN = 'id:4d7a8e3c-0b1f-4a55-9a34-0c9f1e2d7b6a sub:001 dlvrd:001 submit date:2311221530 done date:2311221531 stat:UNDELIV err:034 text:Your code is 1234';
const LOWER = 'id:0A1B2C3D sub:001 dlvrd:000 submit_date:231122153012 done_date:231122153512 stat:expired err:000 text:';

// ---------- ids ----------

test('ids: hex in submit_sm_resp and decimal in the receipt compare equal', () => {
  assert.equal(normaliseId('1a2b', 'hex'), '6699');
  assert.equal(normaliseId('6699', 'decimal'), '6699');
  assert.equal(normaliseId('1A2B', 'hex'), normaliseId('0006699', 'decimal'));
  assert.equal(normaliseId('0x1a2b', 'hex'), '6699');
  assert.equal(normaliseId('0X001A2B', 'hex'), '6699');
  // Beyond 2^53 and 2^64: BigInt, no precision lost.
  assert.equal(normaliseId('ffffffffffffffffff', 'hex'), (2n ** 72n - 1n).toString());
  assert.equal(normaliseId('123456789012345678901234567890', 'decimal'), '123456789012345678901234567890');
});

test('ids: whitespace and trailing NULs are trimmed; leading zeros ignored for numbers', () => {
  assert.equal(normaliseId('  00042\0\0', 'decimal'), '42');
  assert.equal(normaliseId('\t0x0a \0', 'hex'), '10');
  assert.equal(normaliseId('000', 'decimal'), '0');
  assert.equal(normaliseId('abc-123\0', 'verbatim'), 'abc-123');
});

test('ids: what does not parse in its format is undefined', () => {
  assert.equal(normaliseId('12ab', 'decimal'), undefined);
  assert.equal(normaliseId('xyz', 'hex'), undefined);
  assert.equal(normaliseId('0x', 'hex'), undefined);
  assert.equal(normaliseId('-5', 'decimal'), undefined);
  assert.equal(normaliseId('1 2', 'decimal'), undefined);
  assert.equal(normaliseId('', 'verbatim'), undefined);
  assert.equal(normaliseId(' \0', 'hex'), undefined);
  assert.equal(normaliseId('9'.repeat(65), 'decimal'), undefined, 'longer than any SMPP message_id');
});

test('ids: verbatim keeps UUIDs and leading zeros intact, case kept', () => {
  const uuid = '0a1b2c3d-0000-4e5f-8a9b-00000000abcd';
  assert.equal(normaliseId(uuid, 'verbatim'), uuid);
  assert.equal(normaliseId(' 000123 ', 'verbatim'), '000123');
  assert.notEqual(normaliseId('AbC', 'verbatim'), normaliseId('abc', 'verbatim'));
});

test('ids property: any number written in hex and in decimal normalises to the same key', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 128n }), fc.nat({ max: 5 }), (n, zeros) => {
      const pad = '0'.repeat(zeros);
      assert.equal(normaliseId(pad + n.toString(16).toUpperCase(), 'hex'), normaliseId(pad + n.toString(10), 'decimal'));
    }),
  );
});

// ---------- esm_class ----------

test('isReceipt: SMPP 3.4 §5.2.12 message type bits', () => {
  assert.equal(isReceipt(0x00), false, 'MO');
  assert.equal(isReceipt(0x04), true, 'MC delivery receipt');
  assert.equal(isReceipt(0x44), true, 'receipt with UDHI');
  assert.equal(isReceipt(0x84), true, 'reply path bit does not matter');
  assert.equal(isReceipt(0x20), true, 'intermediate notification');
  assert.equal(isReceipt(0x08), false, 'SME delivery acknowledgement');
  assert.equal(isReceipt(0x10), false, 'SME manual/user acknowledgement');
  assert.equal(isReceipt(0x40), false, 'MO with UDH');
  assert.equal(isReceipt(0x03), false, 'messaging-mode bits only');
});

// ---------- text ----------

test('text: the golden Kannel-style receipt', () => {
  assert.deepEqual(parseReceiptText(KANNEL), {
    id: '1234567890',
    sub: '001',
    dlvrd: '001',
    submitDate: '2311221530',
    doneDate: '2311221531',
    stat: 'DELIVRD',
    err: '000',
    text: 'Hello',
  });
});

test('text: lowercase keys, submit_date, seconds, empty text', () => {
  const f = parseReceiptText(LOWER);
  assert.equal(f.id, '0A1B2C3D');
  assert.equal(f.submitDate, '231122153012');
  assert.equal(f.doneDate, '231122153512');
  assert.equal(f.stat, 'expired');
  assert.equal(f.text, '');
  const upper = parseReceiptText('ID:77 SUB:001 DLVRD:001 SUBMIT DATE:2311221530 DONE DATE:2311221531 STAT:DELIVRD ERR:0 TEXT:x');
  assert.equal(upper.id, '77');
  assert.equal(upper.doneDate, '2311221531');
  assert.equal(upper.err, '0');
});

test('text: fields in any order, missing fields, extra spaces', () => {
  const f = parseReceiptText('  stat:UNDELIV   err:  007  id:  A-77-b   done date:2311221531 ');
  assert.deepEqual(f, { stat: 'UNDELIV', err: '007', id: 'A-77-b', doneDate: '2311221531' });
  assert.deepEqual(parseReceiptText('id:5 stat:'), { id: '5' }, 'empty value left out');
  assert.deepEqual(parseReceiptText('hello, are you there?'), {});
});

test("text: a 'stat:' inside the text field does not override the real one", () => {
  const f = parseReceiptText('id:99 sub:001 dlvrd:000 submit date:2311221530 done date:2311221531 stat:UNDELIV err:001 text:reply stat:DELIVRD id:1');
  assert.equal(f.stat, 'UNDELIV');
  assert.equal(f.id, '99');
  assert.equal(f.text, 'reply stat:DELIVRD id:1');
});

/** The parser as it was written first (match list, trim, split): what the one-pass parser must equal. */
function parseReceiptTextReference(text: string): Record<string, string> {
  const KEY = /(?<![a-z0-9_])(id|sub|dlvrd|submit[ _\x11]?date|done[ _\x11]?date|stat|err|text)\s*:/gi;
  const names: Record<string, string> = { id: 'id', sub: 'sub', dlvrd: 'dlvrd', stat: 'stat', err: 'err', text: 'text' };
  const nameOf = (key: string): string | undefined => {
    const k = key.toLowerCase();
    return k.startsWith('submit') ? 'submitDate' : k.startsWith('done') ? 'doneDate' : names[k];
  };
  const out: Record<string, string> = {};
  const keys = [...text.matchAll(KEY)];
  for (let i = 0; i < keys.length; i++) {
    const m = keys[i] as RegExpMatchArray & { index: number };
    const name = nameOf(m[1] as string);
    if (name === undefined) continue;
    const start = m.index + m[0].length;
    if (name === 'text') {
      out.text = text.slice(start).replace(/^ /, '');
      break;
    }
    const end = keys[i + 1]?.index ?? text.length;
    const value = text.slice(start, end).trim().split(/\s+/)[0];
    if (value !== undefined && value !== '' && out[name] === undefined) out[name] = value;
  }
  return out;
}

test('text property: the parser gives what the match-list, trim and split parser gave, for any text', () => {
  const pieces = ['id', 'ID', 'sub', 'dlvrd', 'submit date', 'submit_date', 'submitdate', 'submit\x11date', 'done date', 'Done_Date', 'stat', 'STAT', 'err', 'text', 'xid', '_id', ':', ' ', '  ', '\t', '\n', '\u00a0', '\u2003', '\u3000', '\ufeff', '\u0085', 'DELIVRD', '007', 'A-77-b', '\u00e9', '\ud83d\ude00', '0'];
  const receiptish = fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((a) => a.join(''));
  fc.assert(
    fc.property(fc.oneof(receiptish, fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 })), (text) => {
      assert.deepEqual({ ...parseReceiptText(text) }, parseReceiptTextReference(text));
    }),
    { numRuns: 3000 },
  );
  // A call that stopped at `text:` leaves nothing behind for the next.
  parseReceiptText('id:1 text:x stat:DELIVRD');
  assert.deepEqual(parseReceiptText('id:2 stat:UNDELIV'), { id: '2', stat: 'UNDELIV' });
});

// ---------- whole PDUs ----------

test('pdu: text-only receipt (Kannel golden)', () => {
  const r = parseReceipt(deliverSm({ short_message: ascii(KANNEL) }));
  assert.deepEqual(r, {
    id: '1234567890',
    state: 'delivered',
    final: true,
    stat: 'DELIVRD',
    err: '000',
    submitDate: '2311221530',
    doneDate: '2311221531',
    source: 'text',
    textId: '1234567890',
  });
});

test('pdu: TLV-only receipt, with network_error_code', () => {
  const r = parseReceipt(
    deliverSm({ receipted_message_id: '1A2B', message_state: 5, network_error_code: Buffer.from([0x03, 0x00, 0x22]) }),
  );
  assert.deepEqual(r, { id: '1A2B', state: 'undeliverable', final: true, source: 'tlv', networkErrorCode: { type: 3, code: 34 }, tlvId: '1A2B' });
});

test('pdu: every message_state value (SMPP 3.4 §5.2.28)', () => {
  const expected = ['enroute', 'delivered', 'expired', 'deleted', 'undeliverable', 'accepted', 'unknown', 'rejected'];
  expected.forEach((state, i) => {
    const r = parseReceipt(deliverSm({ receipted_message_id: 'x', message_state: i + 1 }));
    assert.equal(r?.state, state);
    assert.equal(r?.final, state !== 'enroute' && state !== 'accepted');
  });
  assert.equal(parseReceipt(deliverSm({ receipted_message_id: 'x', message_state: 0 })), undefined, 'no usable state');
});

test('pdu: both — the TLV wins on id and state; the text adds dates and err', () => {
  const r = parseReceipt(
    deliverSm({ short_message: ascii('id:6699 sub:001 dlvrd:001 submit date:2311221530 done date:2311221531 stat:UNDELIV err:000 text:'), receipted_message_id: '1a2b\0', message_state: 2 }),
  );
  assert.equal(r?.id, '1a2b');
  assert.equal(r?.state, 'delivered');
  assert.equal(r?.stat, 'UNDELIV', 'the text word is still reported as written');
  assert.equal(r?.source, 'both');
  assert.equal(r?.doneDate, '2311221531');
  // And the id written in hex in the TLV matches the submit_sm_resp id in decimal.
  assert.equal(normaliseId(r?.id ?? '', 'hex'), normaliseId('6699', 'decimal'));
});

test('pdu: TLV id with the state only in the text is "both"', () => {
  const r = parseReceipt(deliverSm({ short_message: ascii('id:1 stat:REJECTD err:069'), receipted_message_id: '0001' }));
  assert.deepEqual(r, { id: '0001', state: 'rejected', final: true, stat: 'REJECTD', err: '069', source: 'both', tlvId: '0001', textId: '1' });
});

test('pdu: Jasmin-style UUID id stays intact; lowercase stat words', () => {
  const r = parseReceipt(deliverSm({ short_message: ascii(JASMIN) }));
  assert.equal(r?.id, '4d7a8e3c-0b1f-4a55-9a34-0c9f1e2d7b6a');
  assert.equal(r?.state, 'undeliverable');
  assert.equal(normaliseId(r?.id ?? '', 'verbatim'), '4d7a8e3c-0b1f-4a55-9a34-0c9f1e2d7b6a');
  const low = parseReceipt(deliverSm({ short_message: ascii(LOWER) }));
  assert.equal(low?.state, 'expired');
  assert.equal(low?.stat, 'expired');
  assert.equal(normaliseId(low?.id ?? '', 'hex'), String(0x0a1b2c3d));
});

test('pdu: ACCEPTD and ENROUTE are not final; unknown words are final "unknown"', () => {
  assert.deepEqual(
    [parseReceipt(deliverSm({ short_message: ascii('id:1 stat:ACCEPTD') })), parseReceipt(deliverSm({ short_message: ascii('id:1 stat:enroute') }))].map((r) => [r?.state, r?.final]),
    [
      ['accepted', false],
      ['enroute', false],
    ],
  );
  const odd = parseReceipt(deliverSm({ short_message: ascii('id:1 stat:BLOCKED err:999') }));
  assert.equal(odd?.state, 'unknown');
  assert.equal(odd?.final, true);
  assert.equal(odd?.stat, 'BLOCKED');
});

test('pdu: intermediate notification (esm_class 0x20) is parsed but never final', () => {
  const r = parseReceipt(deliverSm({ esm_class: 0x20, short_message: ascii('id:5 stat:UNDELIV err:001') }));
  assert.equal(r?.state, 'undeliverable');
  assert.equal(r?.final, false);
});

test('pdu: trailing NUL in short_message and in the TLV id', () => {
  const r = parseReceipt(deliverSm({ short_message: ascii(`${KANNEL}\0`) }));
  assert.equal(r?.id, '1234567890');
  const t = parseReceipt(deliverSm({ receipted_message_id: '777\0', message_state: 2 }));
  assert.equal(t?.id, '777');
});

test('pdu: text in message_payload; UCS-2 (data_coding 8) text', () => {
  const p = parseReceipt(deliverSm({ message_payload: ascii(KANNEL) }));
  assert.equal(p?.id, '1234567890');
  assert.equal(p?.state, 'delivered');
  const ucs2 = Buffer.from(KANNEL, 'utf16le').swap16();
  const u = parseReceipt(deliverSm({ data_coding: 8, short_message: ucs2 }));
  assert.equal(u?.id, '1234567890');
  assert.equal(u?.doneDate, '2311221531');
});

test('pdu: not receipts, or nothing usable → undefined', () => {
  assert.equal(parseReceipt(deliverSm({ esm_class: 0, short_message: ascii(KANNEL) })), undefined, 'MO that looks like a receipt');
  assert.equal(parseReceipt(deliverSm({ esm_class: 0x08, short_message: ascii(KANNEL) })), undefined, 'SME ack');
  assert.equal(parseReceipt(deliverSm({ short_message: ascii('thank you for your message') })), undefined, 'malformed text');
  assert.equal(parseReceipt(deliverSm({ short_message: ascii('stat:DELIVRD err:000') })), undefined, 'no id');
  assert.equal(parseReceipt(deliverSm({ short_message: ascii('id:123 sub:001') })), undefined, 'no state');
  assert.equal(parseReceipt(deliverSm({})), undefined, 'empty');
  assert.equal(parseReceipt(decodePdu(encodePdu('submit_sm', 1, { esm_class: 4, short_message: ascii(KANNEL) }))), undefined, 'not deliver_sm');
});

test('pdu: network_error_code of the wrong length is ignored', () => {
  const r = parseReceipt(deliverSm({ receipted_message_id: '1', message_state: 5, network_error_code: Buffer.from([3, 0]) }));
  assert.equal(r?.networkErrorCode, undefined);
  assert.equal(r?.state, 'undeliverable');
});

test('pdu: a receipt with UDHI skips the UDH; data_sm receipts are parsed too', () => {
  const udh = Buffer.from([0x05, 0x00, 0x03, 0x2a, 0x01, 0x01]);
  const r = parseReceipt(deliverSm({ esm_class: 0x44, short_message: Buffer.concat([udh, ascii('id:42 stat:DELIVRD')]) }));
  assert.equal(r?.id, '42');
  const d = parseReceipt(decodePdu(encodePdu('data_sm', 3, { esm_class: 4, receipted_message_id: 'ab', message_state: 3 })));
  assert.deepEqual(d, { id: 'ab', state: 'expired', final: true, source: 'tlv', tlvId: 'ab' });
});

test('receiptMatchIds: the TLV id in its format, then the text id in its own; unparseable ones are not tried', () => {
  const hexTlvDecimalText = { id: '3b9aca00', tlvId: '3b9aca00', textId: '1000000000' };
  assert.deepEqual(receiptMatchIds(hexTlvDecimalText, { tlv: 'hex', text: 'decimal' }), ['1000000000'], 'both name the same message: tried once');
  assert.deepEqual(receiptMatchIds(hexTlvDecimalText, { tlv: 'decimal', text: 'decimal' }), ['1000000000'], 'configured from the text: the hex TLV does not parse as decimal');
  assert.deepEqual(receiptMatchIds(hexTlvDecimalText, { tlv: 'verbatim', text: 'verbatim' }), ['3b9aca00', '1000000000'], 'both parse, differently: TLV first');
  assert.deepEqual(receiptMatchIds({ id: '12345678', tlvId: '12345678', textId: '305419896' }, { tlv: 'decimal', text: 'decimal' }), ['12345678', '305419896'], 'an all-digit hex id parses as the wrong number: the text id is the fallback');
  assert.deepEqual(receiptMatchIds({ id: 'zz', tlvId: 'zz' }, { tlv: 'hex', text: 'hex' }), ['zz'], 'nothing parses: the id as written');
  assert.deepEqual(receiptMatchIds({ id: '42', textId: '42' }, { tlv: 'hex', text: 'decimal' }), ['42']);
});
