import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePdu, encodePdu, encodeResponse, pduHeader, statusName, bodyString } from '../../src/smpp/codec.js';
import { Framer } from '../../src/smpp/framer.js';
import { isQasidError } from '../../src/core/errors.js';

// Golden bytes built by hand from SMPP 3.4 §4.1.1 (bind_transmitter) and §4.4.1 (submit_sm).
const BIND_TX_HEX =
  '0000001e' + '00000002' + '00000000' + '00000001' + // header: length 30, bind_transmitter, status 0, seq 1
  '716173696400' + // system_id "qasid\0"
  '707700' + // password "pw\0"
  '00' + // system_type ""
  '34' + // interface_version 0x34
  '01' + '01' + // addr_ton, addr_npi
  '00'; // address_range ""

test('bind_transmitter encodes to the golden bytes with interface_version 0x34', () => {
  const bytes = encodePdu('bind_transmitter', 1, { system_id: 'qasid', password: 'pw', system_type: '', interface_version: 0x34, addr_ton: 1, addr_npi: 1, address_range: '' });
  assert.equal(bytes.toString('hex'), BIND_TX_HEX);
});

test('submit_sm keeps short_message as raw bytes both ways', () => {
  const text = Buffer.from([0x00, 0x1b, 0x65, 0xff]); // bytes no charset guess may alter
  const bytes = encodePdu('submit_sm', 7, { source_addr: 'QASID', destination_addr: '923001234567', data_coding: 8, short_message: text });
  assert.equal(bytes.readUInt32BE(0), bytes.length);
  const pdu = decodePdu(bytes);
  assert.equal(pdu.command, 'submit_sm');
  assert.equal(pdu.seq, 7);
  assert.deepEqual(pdu.body.short_message, text);
  assert.equal(pdu.body.data_coding, 8);
});

test('responses and generic_nack', () => {
  const req = decodePdu(encodePdu('enquire_link', 42));
  const resp = decodePdu(encodeResponse(req));
  assert.equal(resp.command, 'enquire_link_resp');
  assert.equal(resp.seq, 42);
  const thr = decodePdu(encodeResponse(decodePdu(encodePdu('submit_sm', 3, { short_message: Buffer.alloc(0) })), 0x58));
  assert.equal(thr.status, 0x58);
  assert.equal(statusName(thr.status), 'ESME_RTHROTTLED');
  assert.equal(statusName(0x0400), '0x00000400');
  const unknown = Buffer.from('0000001000abcdef0000000000000009', 'hex');
  const u = decodePdu(unknown);
  assert.equal(u.command, 'unknown');
  const nack = decodePdu(encodeResponse(u, 3));
  assert.equal(nack.command, 'generic_nack');
  assert.equal(nack.status, 3);
  assert.equal(nack.seq, 9);
});

test('receipt TLVs decode; a trailing NUL in a TLV string is trimmed', () => {
  const pdu = decodePdu(encodePdu('deliver_sm', 5, { esm_class: 4, short_message: Buffer.from('id:1'), receipted_message_id: 'abc\0', message_state: 2 }));
  assert.equal(bodyString(pdu, 'receipted_message_id'), 'abc');
  assert.equal(pdu.body.message_state, 2);
});

test('a string TLV without its NUL ends at its declared length (the TLV after it survives)', () => {
  // deliver_sm with receipted_message_id "1000" (4 bytes, no NUL) then message_state 2.
  const body = Buffer.concat([
    // service_type, src ton/npi/addr, dst ton/npi/addr, esm_class 0x04, protocol_id, priority,
    // schedule, validity, registered_delivery, replace, data_coding, sm_default_msg_id, sm_length 0
    Buffer.from('00' + '000000' + '000000' + '04' + '00' + '00' + '00' + '00' + '00' + '00' + '00' + '00' + '00', 'hex'),
    Buffer.from('001e0004', 'hex'), Buffer.from('1000'),
    Buffer.from('0427000102', 'hex'),
  ]);
  const head = Buffer.alloc(16);
  head.writeUInt32BE(16 + body.length, 0);
  head.writeUInt32BE(0x00000005, 4);
  head.writeUInt32BE(1, 12);
  const pdu = decodePdu(Buffer.concat([head, body]));
  assert.equal(pdu.body.receipted_message_id, '1000');
  assert.equal(pdu.body.message_state, 2);
});

test('a truncated body is a decode error, not a crash', () => {
  // submit_sm header claiming 20 bytes, with a service_type cstring cut short.
  const bad = Buffer.from('00000014' + '00000004' + '00000000' + '00000001' + '41424344', 'hex');
  let threw: unknown;
  try {
    decodePdu(bad);
  } catch (e) {
    threw = e;
  }
  // The package either reads what is there or throws; if it throws it must be our error.
  if (threw !== undefined) assert.ok(isQasidError(threw, 'SMPP_DECODE_FAILED'));
});

test('framer splits coalesced and fragmented PDUs', () => {
  const a = encodePdu('enquire_link', 1);
  const b = encodePdu('submit_sm', 2, { short_message: Buffer.from('hi') });
  const all = Buffer.concat([a, b, a]);
  const f = new Framer();
  const frames: Buffer[] = [];
  for (let i = 0; i < all.length; i += 3) frames.push(...f.push(all.subarray(i, i + 3)).frames);
  assert.equal(frames.length, 3);
  assert.deepEqual(frames[1], b);
  assert.equal(f.pendingBytes, 0);
  assert.deepEqual(new Framer().push(all).frames.map((x) => x.length), [a.length, b.length, a.length]);
});

test('framer rejects impossible lengths, still returning the good frames before them', () => {
  const good = encodePdu('enquire_link_resp', 4);
  for (const len of [0, 5, 15, 65_537, 0xffffffff]) {
    const head = Buffer.alloc(16);
    head.writeUInt32BE(len, 0);
    const r = new Framer().push(Buffer.concat([good, head]));
    assert.deepEqual(r.frames, [good], `length ${len}`);
    assert.ok(isQasidError(r.error, 'SMPP_FRAME_INVALID'), `length ${len}`);
  }
});

// ---------- TLVs read tolerantly (SMPP 3.4 §5.3.2: a number TLV's length is its size) ----------

/** A receipt deliver_sm (text and receipted_message_id) with `tlvs` appended; command_length fixed up. */
function receiptWith(...tlvs: string[]): Buffer {
  const base = encodePdu('deliver_sm', 7, { esm_class: 4, short_message: Buffer.from('id:77 stat:DELIVRD err:000') });
  const out = Buffer.concat([base, Buffer.from('001e0003' + '373700', 'hex'), ...tlvs.map((t) => Buffer.from(t, 'hex'))]);
  out.writeUInt32BE(out.length, 0);
  return out;
}

test('a number TLV of length 0, at the end or in the middle, is left out and counted; the rest of the PDU is kept', () => {
  const atEnd = decodePdu(receiptWith('04270000'));
  assert.equal(atEnd.malformedTlvs, 1);
  assert.equal(atEnd.body.message_state, undefined);
  assert.equal(atEnd.body.receipted_message_id, '77');
  assert.equal(bodyString(atEnd, 'short_message'), 'id:77 stat:DELIVRD err:000');
  // In the middle, the package read the next TLV's first octet as its value.
  const inMiddle = decodePdu(receiptWith('04270000', '020c00020102'));
  assert.equal(inMiddle.malformedTlvs, 1);
  assert.equal(inMiddle.body.message_state, undefined);
  assert.equal(inMiddle.body.sar_msg_ref_num, 0x0102, 'the TLV after it survives');
});

test('number TLVs of the wrong length, values past the end and values their filter cannot read are all left out', () => {
  const p = decodePdu(receiptWith('0427000202' + '02', '0425000101', '03810000', '001e00ff4142'));
  // message_state with 2 octets, callback_num (filtered) with none, a receipted_message_id
  // claiming 255 octets of the 2 left; delivery_failure_reason (length 1) is fine.
  assert.equal(p.malformedTlvs, 3);
  assert.equal(p.body.message_state, undefined);
  assert.equal(p.body.callback_num, undefined);
  assert.equal(p.body.delivery_failure_reason, 1);
  assert.equal(p.body.receipted_message_id, undefined, 'the unreadable repeat of a tag leaves it out (the text still has the id)');
  assert.equal(decodePdu(receiptWith('04270001' + '02')).malformedTlvs, undefined, 'a good PDU carries no count');
});

test('a mandatory C-Octet String without its NUL makes the body undecodable; the header is still readable', () => {
  const resp = Buffer.from('00000013' + '80000004' + '00000000' + '00000009' + '313233', 'hex'); // message_id "123" without NUL
  assert.throws(() => decodePdu(resp), (e) => isQasidError(e, 'SMPP_DECODE_FAILED'));
  assert.deepEqual(pduHeader(resp), { command: 'submit_sm_resp', commandId: 0x80000004, status: 0, seq: 9, body: {} });
  assert.equal(pduHeader(Buffer.from('00000010' + '0000abcd' + '00000000' + '00000001', 'hex')).command, 'unknown');
  // A time field the package's filter cannot read ("xR": relative, too short) stays a
  // string rather than fail the PDU.
  const sm = Buffer.from('id:1 stat:DELIVRD');
  const body = Buffer.concat([Buffer.from('00' + '0101' + '3100' + '0500' + '5100' + '040000' + '00' + Buffer.from('xR').toString('hex') + '00' + '00000000', 'hex'), Buffer.from([sm.length]), sm]);
  const odd = Buffer.concat([Buffer.from('00000000' + '00000005' + '00000000' + '00000003', 'hex'), body]);
  odd.writeUInt32BE(odd.length, 0);
  const p = decodePdu(odd);
  assert.equal(p.body.validity_period, 'xR');
  assert.equal(bodyString(p, 'short_message'), 'id:1 stat:DELIVRD');
});
