import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePdu, encodePdu, encodeResponse, statusName, bodyString } from '../../src/smpp/codec.js';
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
