// The hand-written codec for the hot PDUs (src/smpp/fast.ts) against the `smpp` package
// path it replaces (codec.ts encodePduSlow/decodePduSlow): byte-for-byte on encode,
// field-for-field on decode, on random valid input; golden bytes from SMPP 3.4; and the
// inputs it must decline so the package handles them as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePdu, decodePduSlow, encodePdu, encodePduSlow, encodeResponse } from '../../src/smpp/codec.js';
import { decodeFast, encodeSubmitSm, FAST_TLVS, type FastTlvKind } from '../../src/smpp/fast.js';
import { isQasidError } from '../../src/core/errors.js';

const RUNS = 500;

// ---------------------------------------------------------------------------------------
// Generators

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const bytes = (maxLength: number, minLength = 0): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength, maxLength }).map((a) => Buffer.from(a));
const fromChars = (chars: string, maxLength: number, minLength = 0): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...chars.split('')), minLength, maxLength });
const DIGITS = '0123456789';
const ALNUM = `${DIGITS}ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz`;
/** Any 7-bit character but NUL (which would end a C-string early on the other side). */
const ascii = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.integer({ min: 1, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength });
const address = fc.oneof(fromChars(DIGITS, 20), fromChars(ALNUM, 11), fc.constant(''), ascii(20));
/** Relative times of 1–12 digits are padded by the package; absolute ones are 16 characters. */
const smppTime = fc.oneof(
  fc.constant(''),
  fromChars(DIGITS, 12, 1),
  fc.tuple(fromChars(DIGITS, 12, 12), fc.constantFrom('000+', '048-', '000R', '104+')).map(([a, b]) => a + b),
);
const seqArb = fc.oneof(fc.integer({ min: 0, max: 0x7fffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff));

/** An object with the generated record's keys in a random order (the package writes TLVs in key order). */
function shuffled<T extends Record<string, unknown>>(arb: fc.Arbitrary<T>): fc.Arbitrary<Record<string, unknown>> {
  return arb.chain((r) => {
    const keys = Object.keys(r).filter((k) => r[k] !== undefined);
    return fc.shuffledSubarray(keys, { minLength: keys.length, maxLength: keys.length }).map((order) => Object.fromEntries(order.map((k) => [k, r[k]])));
  });
}

const submitBody = shuffled(
  fc.record(
    {
      service_type: fc.oneof(fc.constant(''), fromChars(ALNUM, 5)),
      source_addr_ton: u8,
      source_addr_npi: u8,
      source_addr: address,
      dest_addr_ton: u8,
      dest_addr_npi: u8,
      destination_addr: address,
      esm_class: fc.oneof(fc.constantFrom(0, 0x40, 0x04), u8),
      protocol_id: u8,
      priority_flag: fc.integer({ min: 0, max: 3 }),
      schedule_delivery_time: smppTime,
      validity_period: smppTime,
      registered_delivery: fc.integer({ min: 0, max: 31 }),
      replace_if_present_flag: fc.integer({ min: 0, max: 1 }),
      data_coding: fc.oneof(fc.constantFrom(0, 8), u8),
      sm_default_msg_id: u8,
      short_message: bytes(254),
      sar_msg_ref_num: u16,
      sar_total_segments: u8,
      sar_segment_seqnum: u8,
      message_payload: bytes(600),
    },
    { requiredKeys: [] },
  ),
);

/** What submitToCarrier (src/dispatch/submit.ts) sends: always the same keys, TLVs last. */
const dispatchBody = fc
  .record({
    alpha: fc.boolean(),
    sender: fc.oneof(fromChars(DIGITS, 15, 1), fromChars(ALNUM, 11, 1)),
    dest: fromChars(DIGITS, 15, 8),
    udhi: fc.boolean(),
    priority: fc.integer({ min: 0, max: 3 }),
    receipt: fc.boolean(),
    dataCoding: fc.constantFrom(0, 8),
    sm: bytes(254),
    sar: fc.option(fc.record({ ref: u16, total: fc.integer({ min: 2, max: 255 }), seq: fc.integer({ min: 1, max: 255 }) }), { nil: undefined }),
    payload: fc.option(bytes(1000, 1), { nil: undefined }),
  })
  .map((p) => {
    const body: Record<string, unknown> = {
      source_addr_ton: p.alpha ? 5 : 1,
      source_addr_npi: p.alpha ? 0 : 1,
      source_addr: p.sender,
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      destination_addr: p.dest,
      esm_class: p.udhi ? 0x40 : 0,
      priority_flag: p.priority,
      registered_delivery: p.receipt ? 1 : 0,
      data_coding: p.dataCoding,
      short_message: p.payload ? Buffer.alloc(0) : p.sm,
    };
    if (p.sar) {
      body.sar_msg_ref_num = p.sar.ref;
      body.sar_total_segments = p.sar.total;
      body.sar_segment_seqnum = p.sar.seq;
    }
    if (p.payload) body.message_payload = p.payload;
    return body;
  });

const msgId = fc.oneof(
  fromChars('0123456789abcdef', 16, 8),
  fromChars('0123456789ABCDEF', 10, 10),
  fc.uuid(),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  fc.constant(''),
  ascii(64),
);

const receiptText = fc
  .record({ id: msgId, stat: fc.constantFrom('DELIVRD', 'UNDELIV', 'EXPIRED', 'REJECTD', 'ACCEPTD', 'UNKNOWN'), err: fromChars(DIGITS, 3, 3), text: bytes(20) })
  .map(({ id, stat, err, text }) =>
    Buffer.concat([Buffer.from(`id:${id} sub:001 dlvrd:001 submit date:2611011200 done date:2611011201 stat:${stat} err:${err} text:`, 'latin1'), text]).subarray(0, 254),
  );

/** A concatenation UDH (8- or 16-bit reference) followed by user data. */
const udhMessage = fc
  .tuple(fc.boolean(), u16, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), bytes(140))
  .map(([wide, ref, total, seq, data]) =>
    Buffer.concat([wide ? Buffer.from([6, 8, 4, ref >> 8, ref & 0xff, total, seq]) : Buffer.from([5, 0, 3, ref & 0xff, total, seq]), data]),
  );

const deliverMandatory = fc.record({
  service_type: fc.oneof(fc.constant(''), fromChars(ALNUM, 5)),
  source_addr_ton: u8,
  source_addr_npi: u8,
  source_addr: address,
  dest_addr_ton: u8,
  dest_addr_npi: u8,
  destination_addr: address,
  protocol_id: u8,
  priority_flag: u8,
  registered_delivery: u8,
  replace_if_present_flag: u8,
  sm_default_msg_id: u8,
});

/** deliver_sm bodies as the package encodes them: receipts (TLVs and/or text), MO text, MO with UDH. */
const deliverBody = fc
  .tuple(
    deliverMandatory,
    fc.oneof(
      fc.record({
        esm_class: fc.constantFrom(0x04, 0x08, 0x24),
        data_coding: fc.constantFrom(0, 1, 3),
        short_message: fc.oneof(receiptText, fc.constant(Buffer.alloc(0))),
        tlvs: fc.record(
          {
            receipted_message_id: fc.oneof(msgId, msgId.map((s) => `${s}\0`)),
            message_state: fc.integer({ min: 0, max: 9 }),
            network_error_code: bytes(3, 3),
            user_message_reference: u16,
          },
          { requiredKeys: [] },
        ),
      }),
      fc.record({
        esm_class: fc.constantFrom(0x00, 0x80),
        data_coding: fc.oneof(fc.constantFrom(0, 8), u8),
        short_message: bytes(254),
        tlvs: fc.record({ source_port: u16, dest_port: u16, user_message_reference: u16, message_payload: bytes(400) }, { requiredKeys: [] }),
      }),
      fc.record({
        esm_class: fc.constantFrom(0x40, 0xc0),
        data_coding: fc.constantFrom(0, 8, 4),
        short_message: udhMessage,
        tlvs: fc.record({ sar_msg_ref_num: u16, sar_total_segments: u8, sar_segment_seqnum: u8 }, { requiredKeys: [] }),
      }),
    ),
  )
  .chain(([m, { tlvs, ...rest }]) => shuffled(fc.constant({ ...m, ...rest, ...tlvs })));

const TLV_SIZE: Record<FastTlvKind, number | undefined> = { u8: 1, u16: 2, u32: 4, cstring: undefined, buffer: undefined };
const FAST_TAGS = [...FAST_TLVS.keys()];

/** One raw TLV with any tag we decode by name and a value of the right size (strings: any bytes, NUL or not). */
const rawTlv = fc.constantFrom(...FAST_TAGS).chain((tag) => {
  const spec = FAST_TLVS.get(tag);
  assert.ok(spec);
  const size = TLV_SIZE[spec.kind];
  return (size === undefined ? bytes(40) : bytes(size, size)).map((v) => tlv(tag, v));
});

function tlv(tag: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(tag, 0);
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value]);
}

/** `frame` with `extra` appended and command_length fixed up. */
function withTail(frame: Buffer, ...extra: Buffer[]): Buffer {
  const out = Buffer.concat([frame, ...extra]);
  out.writeUInt32BE(out.length, 0);
  return out;
}

function header(commandId: number, status: number, seq: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(16 + body.length, 0);
  h.writeUInt32BE(commandId, 4);
  h.writeUInt32BE(status, 8);
  h.writeUInt32BE(seq, 12);
  return Buffer.concat([h, body]);
}

/** decodeFast must be defined and equal to the package decode. */
function assertSameDecode(frame: Buffer): void {
  const fast = decodeFast(frame);
  assert.ok(fast, `decodeFast declined ${frame.toString('hex')}`);
  assert.deepStrictEqual(fast, decodePduSlow(frame));
  assert.deepStrictEqual(decodePdu(frame), fast);
}

const STATUSES = [0x01, 0x08, 0x0a, 0x0b, 0x14, 0x45, 0x58, 0x61, 0x62, 0xfe, 0xff, 0x400, 0xffffffff];

// ---------------------------------------------------------------------------------------
// Encode

test('encodeSubmitSm: random bodies (any subset of fields, any key order) give the package bytes', () => {
  fc.assert(
    fc.property(seqArb, submitBody, (seq, body) => {
      const fast = encodeSubmitSm(seq, body);
      assert.ok(fast, `declined ${JSON.stringify(body)}`);
      const slow = encodePduSlow('submit_sm', seq, body);
      assert.equal(fast.toString('hex'), slow.toString('hex'));
      assert.equal(fast.length, fast.readUInt32BE(0));
      assert.ok(encodePdu('submit_sm', seq, body).equals(slow));
    }),
    { numRuns: RUNS },
  );
});

test('encodeSubmitSm: the bodies the dispatcher builds give the package bytes, and decode back', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 0x7fffffff }), dispatchBody, (seq, body) => {
      const fast = encodeSubmitSm(seq, body);
      assert.ok(fast);
      assert.ok(fast.equals(encodePduSlow('submit_sm', seq, body)));
      const back = decodePdu(fast);
      assert.equal(back.command, 'submit_sm');
      assert.equal(back.seq, seq);
      assert.deepEqual(back.body.short_message, body.short_message);
    }),
    { numRuns: RUNS },
  );
});

test('TLVs are written in the order the body lists them, as the package does', () => {
  const a = { short_message: Buffer.from('x'), message_payload: Buffer.from('yz'), sar_msg_ref_num: 0x1234, sar_total_segments: 2 };
  const b = { sar_total_segments: 2, sar_msg_ref_num: 0x1234, short_message: Buffer.from('x'), message_payload: Buffer.from('yz') };
  const fa = encodeSubmitSm(1, a);
  const fb = encodeSubmitSm(1, b);
  assert.ok(fa && fb);
  assert.ok(fa.equals(encodePduSlow('submit_sm', 1, a)));
  assert.ok(fb.equals(encodePduSlow('submit_sm', 1, b)));
  assert.ok(!fa.equals(fb));
  assert.equal(fa.subarray(-17).toString('hex'), '04240002797a' + '020c00021234' + '020e000102');
  assert.equal(fb.subarray(-17).toString('hex'), '020e000102' + '020c00021234' + '04240002797a');
});

// SMPP 3.4 §4.4.1, built by hand.
const SUBMIT_GOLDEN =
  '00000046' + '00000004' + '00000000' + '00000007' + // length 70, submit_sm, status 0, seq 7
  '00' + // service_type ""
  '05' + '00' + '514153494400' + // source TON 5 (alphanumeric), NPI 0, "QASID"
  '01' + '01' + '39323330303132333435363700' + // dest TON 1, NPI 1, "923001234567"
  '40' + '00' + '01' + // esm_class UDHI, protocol_id, priority_flag
  '00' + '00' + // schedule_delivery_time, validity_period ""
  '01' + '00' + '08' + '00' + // registered_delivery, replace_if_present_flag, data_coding UCS-2, sm_default_msg_id
  '04' + '00410042' + // sm_length 4, short_message
  '020c00021234' + '020e000102' + '020f000101'; // sar_msg_ref_num 0x1234, sar_total_segments 2, sar_segment_seqnum 1

test('submit_sm golden bytes', () => {
  const body = {
    source_addr_ton: 5,
    source_addr_npi: 0,
    source_addr: 'QASID',
    dest_addr_ton: 1,
    dest_addr_npi: 1,
    destination_addr: '923001234567',
    esm_class: 0x40,
    priority_flag: 1,
    registered_delivery: 1,
    data_coding: 8,
    short_message: Buffer.from('00410042', 'hex'),
    sar_msg_ref_num: 0x1234,
    sar_total_segments: 2,
    sar_segment_seqnum: 1,
  };
  assert.equal(encodeSubmitSm(7, body)?.toString('hex'), SUBMIT_GOLDEN);
  assert.equal(encodePduSlow('submit_sm', 7, body).toString('hex'), SUBMIT_GOLDEN);
  // Defaults: an empty body is all zero octets and empty strings.
  assert.equal(encodeSubmitSm(1, {})?.toString('hex'), '00000021' + '00000004' + '00000000' + '00000001' + '00'.repeat(17));
  // A relative time of up to 12 digits is padded and given "000R", as the package's time filter does.
  assert.equal(encodeSubmitSm(1, { validity_period: '1000' })?.toString('hex'), encodePduSlow('submit_sm', 1, { validity_period: '1000' }).toString('hex'));
  assert.ok(encodeSubmitSm(1, { validity_period: '1000' })?.includes(Buffer.from('0000000010000' + '00R\0')));
});

test('encodeSubmitSm declines what it does not reproduce exactly; encodePdu still gives the package result', () => {
  const ok = { source_addr: 'A', destination_addr: '1', short_message: Buffer.from('hi') };
  const cases: [string, number, Record<string, unknown>][] = [
    ['unknown key', 1, { ...ok, callback_num: Buffer.from('x') }],
    ['a TLV we do not write', 1, { ...ok, user_message_reference: 5 }],
    ['header key in the body', 1, { ...ok, sequence_number: 9 }],
    ['string short_message', 1, { ...ok, short_message: 'hi' }],
    ['Uint8Array short_message', 1, { ...ok, short_message: new Uint8Array([1, 2]) }],
    ['short_message over 255 octets', 1, { ...ok, short_message: Buffer.alloc(256) }],
    ['non-ASCII address', 1, { ...ok, source_addr: 'Qäsid' }],
    ['Buffer address', 1, { ...ok, source_addr: Buffer.from('A') }],
    ['number address', 1, { ...ok, destination_addr: 923001234567 }],
    ['TON out of range', 1, { ...ok, source_addr_ton: 256 }],
    ['negative esm_class', 1, { ...ok, esm_class: -1 }],
    ['fractional data_coding', 1, { ...ok, data_coding: 1.5 }],
    ['null data_coding', 1, { ...ok, data_coding: null }],
    ['undefined field', 1, { ...ok, priority_flag: undefined }],
    ['string number', 1, { ...ok, registered_delivery: '1' }],
    ['sar_msg_ref_num over 16 bits', 1, { ...ok, sar_msg_ref_num: 0x10000 }],
    ['sar_total_segments over 8 bits', 1, { ...ok, sar_total_segments: 256 }],
    ['string message_payload', 1, { ...ok, message_payload: 'x' }],
    ['Date schedule', 1, { ...ok, schedule_delivery_time: new Date(0) }],
    ['negative seq', -1, ok],
    ['seq over 32 bits', 2 ** 32, ok],
    ['fractional seq', 1.5, ok],
  ];
  for (const [name, seq, body] of cases) {
    assert.equal(encodeSubmitSm(seq, body), undefined, name);
    let slow: Buffer | Error;
    try {
      slow = encodePduSlow('submit_sm', seq, body);
    } catch (e) {
      slow = e as Error;
    }
    let viaCodec: Buffer | Error;
    try {
      viaCodec = encodePdu('submit_sm', seq, body);
    } catch (e) {
      viaCodec = e as Error;
    }
    if (Buffer.isBuffer(slow)) assert.ok(Buffer.isBuffer(viaCodec) && viaCodec.equals(slow), name);
    else assert.ok(viaCodec instanceof Error && viaCodec.message === slow.message, name);
  }
  // Inherited keys are not the caller's fields (the package sees `{...body}`).
  const proto = Object.create({ callback_num: 'x' }) as Record<string, unknown>;
  proto.source_addr = 'A';
  assert.ok(encodeSubmitSm(1, proto)?.equals(encodePduSlow('submit_sm', 1, proto)));
  // A non-zero status goes to the package (header only).
  assert.equal(encodePdu('submit_sm', 1, ok, 0x58).length, 16);
});

// ---------------------------------------------------------------------------------------
// Decode

test('decodeFast: random deliver_sm (receipts with TLVs and/or text, MO, UDH) equal the package decode', () => {
  fc.assert(
    fc.property(seqArb, deliverBody, (seq, body) => {
      assertSameDecode(encodePduSlow('deliver_sm', seq, body));
    }),
    { numRuns: RUNS },
  );
});

test('decodeFast: raw TLVs of every tag it knows (strings with or without NUL, repeats, 1–3 stray octets) equal the package decode', () => {
  fc.assert(
    fc.property(
      seqArb,
      deliverMandatory,
      bytes(160),
      fc.array(rawTlv, { maxLength: 8 }),
      fc.oneof(fc.constant(Buffer.alloc(0)), bytes(3, 1)),
      (seq, m, sm, tlvs, stray) => {
        const base = encodePduSlow('deliver_sm', seq, { ...m, short_message: sm });
        assertSameDecode(withTail(base, ...tlvs, stray));
      },
    ),
    { numRuns: RUNS },
  );
  // Every tag at least once, deterministically.
  const base = encodePduSlow('deliver_sm', 1, { esm_class: 4 });
  for (const [tag, spec] of FAST_TLVS) {
    const size = TLV_SIZE[spec.kind];
    const value = size === undefined ? Buffer.from('ab\u00e9\0z', 'latin1') : Buffer.from([0x81, 0x02, 0x03, 0x04]).subarray(0, size);
    const frame = withTail(base, tlv(tag, value));
    assertSameDecode(frame);
    assert.ok(spec.name in (decodeFast(frame)?.body ?? {}), spec.name);
  }
});

test('decodeFast: random submit_sm_resp (ids of various formats, error statuses, TLVs) equal the package decode', () => {
  fc.assert(
    fc.property(
      seqArb,
      fc.oneof(
        msgId.map((message_id) => ({ status: 0, message_id })),
        fc.constantFrom(...STATUSES).map((status) => ({ status, message_id: undefined })),
        fc.tuple(fc.constantFrom(...STATUSES), msgId).map(([status, message_id]) => ({ status, message_id })),
      ),
      fc.array(rawTlv, { maxLength: 3 }),
      (seq, { status, message_id }, tlvs) => {
        if (message_id === undefined) {
          // An error answer without a body: the package returns no message_id at all.
          const frame = encodePduSlow('submit_sm_resp', seq, {}, status);
          assert.equal(frame.length, 16);
          assertSameDecode(frame);
          assert.deepEqual(decodeFast(frame)?.body, {});
          return;
        }
        const idBytes = Buffer.from(`${message_id}\0`, 'latin1');
        assertSameDecode(header(0x80000004, status, seq, idBytes));
        assertSameDecode(withTail(header(0x80000004, status, seq, idBytes), ...tlvs));
        if (status === 0) assertSameDecode(encodePduSlow('submit_sm_resp', seq, { message_id }));
      },
    ),
    { numRuns: RUNS },
  );
});

test('decodeFast: deliver_sm_resp, enquire_link, enquire_link_resp, generic_nack equal the package decode', () => {
  fc.assert(
    fc.property(seqArb, fc.oneof(fc.constant(0), fc.constantFrom(...STATUSES)), fc.array(rawTlv, { maxLength: 2 }), (seq, status, tlvs) => {
      assertSameDecode(encodePduSlow('deliver_sm_resp', seq, { message_id: '' }));
      assertSameDecode(header(0x80000005, status, seq));
      assertSameDecode(encodePduSlow('enquire_link', seq));
      assertSameDecode(encodePduSlow('enquire_link_resp', seq));
      assertSameDecode(header(0x80000000, status, seq));
      // The package reads TLVs after any body, even of a body-less command.
      assertSameDecode(withTail(header(0x00000015, 0, seq), ...tlvs));
    }),
    { numRuns: RUNS },
  );
});

test('decodeFast: mutated and truncated frames either decode as the package does or are declined', () => {
  const frames = fc.oneof(
    fc.tuple(seqArb, deliverBody).map(([seq, body]) => encodePduSlow('deliver_sm', seq, body)),
    fc.tuple(seqArb, msgId).map(([seq, message_id]) => encodePduSlow('submit_sm_resp', seq, { message_id })),
  );
  fc.assert(
    fc.property(frames, fc.array(fc.tuple(fc.nat(), u8), { maxLength: 4 }), fc.nat(), fc.boolean(), (frame, flips, cut, truncate) => {
      let f: Buffer = Buffer.from(frame);
      for (const [at, v] of flips) f[16 + (at % Math.max(1, f.length - 16))] = v;
      if (truncate) f = withTail(f.subarray(0, 16 + (cut % (f.length - 15))));
      if (f.length < 16) return;
      const fast = decodeFast(f);
      let slow: unknown;
      try {
        slow = decodePduSlow(f);
      } catch (e) {
        assert.ok(isQasidError(e, 'SMPP_DECODE_FAILED'));
        assert.equal(fast, undefined, `fast decoded what the package rejects: ${f.toString('hex')}`);
        return;
      }
      if (fast !== undefined) assert.deepStrictEqual(fast, slow);
    }),
    { numRuns: 2000 },
  );
});

// A receipt as an SMSC sends it (SMPP 3.4 §4.6.1, Appendix B), built by hand.
const RECEIPT_GOLDEN =
  '00000059' + '00000005' + '00000000' + '0000002a' + // length 89, deliver_sm, status 0, seq 42
  '00' + // service_type ""
  '01' + '01' + '39323330303132333435363700' + // source: the handset
  '05' + '00' + '514153494400' + // destination: the sender "QASID"
  '04' + '00' + '00' + // esm_class: SMSC delivery receipt
  '00' + '00' + // schedule_delivery_time, validity_period ""
  '00' + '00' + '00' + '00' + // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
  '13' + Buffer.from('id:abc stat:DELIVRD').toString('hex') + // sm_length 19, short_message
  '001e0004' + '61626300' + // receipted_message_id "abc"
  '0427000102' + // message_state DELIVERED
  '04230003030000'; // network_error_code GSM 0

test('deliver_sm and submit_sm_resp golden bytes decode to the expected fields', () => {
  const frame = Buffer.from(RECEIPT_GOLDEN, 'hex');
  assert.equal(frame.readUInt32BE(0), frame.length);
  const expected = {
    command: 'deliver_sm',
    commandId: 5,
    status: 0,
    seq: 42,
    body: {
      service_type: '',
      source_addr_ton: 1,
      source_addr_npi: 1,
      source_addr: '923001234567',
      dest_addr_ton: 5,
      dest_addr_npi: 0,
      destination_addr: 'QASID',
      esm_class: 4,
      protocol_id: 0,
      priority_flag: 0,
      schedule_delivery_time: '',
      validity_period: '',
      registered_delivery: 0,
      replace_if_present_flag: 0,
      data_coding: 0,
      sm_default_msg_id: 0,
      short_message: Buffer.from('id:abc stat:DELIVRD'),
      receipted_message_id: 'abc',
      message_state: 2,
      network_error_code: Buffer.from([3, 0, 0]),
    },
  };
  assert.deepStrictEqual(decodeFast(frame), expected);
  assert.deepStrictEqual(decodePduSlow(frame), expected);
  // receipted_message_id without its NUL ends at its declared length; the TLV after it survives.
  const noNul = Buffer.from(RECEIPT_GOLDEN.replace('001e000461626300', '001e0003616263'), 'hex');
  noNul.writeUInt32BE(noNul.length, 0);
  assert.equal(decodeFast(noNul)?.body.receipted_message_id, 'abc');
  assert.equal(decodeFast(noNul)?.body.message_state, 2);
  assertSameDecode(noNul);

  const resp = Buffer.from('00000017' + '80000004' + '00000000' + '00000003' + '61626364656600', 'hex');
  assert.deepStrictEqual(decodeFast(resp), { command: 'submit_sm_resp', commandId: 0x80000004, status: 0, seq: 3, body: { message_id: 'abcdef' } });
  const throttled = Buffer.from('00000010' + '80000004' + '00000058' + '00000004', 'hex');
  assert.deepStrictEqual(decodeFast(throttled), { command: 'submit_sm_resp', commandId: 0x80000004, status: 0x58, seq: 4, body: {} });
  assertSameDecode(resp);
  assertSameDecode(throttled);
});

test('decodeFast declines what it does not reproduce exactly; decodePdu still gives the package result', () => {
  const receipt = Buffer.from(RECEIPT_GOLDEN, 'hex');
  const deliver = encodePduSlow('deliver_sm', 1, { source_addr: '1', destination_addr: '2', short_message: Buffer.from('hi') });
  const withTime = (field: 'schedule_delivery_time' | 'validity_period'): Buffer =>
    encodePduSlow('deliver_sm', 1, { source_addr: '1', [field]: '261101120000000+', short_message: Buffer.from('hi') });
  const cases: [string, Buffer][] = [
    ['submit_sm (not decoded here)', encodePduSlow('submit_sm', 1, { short_message: Buffer.from('hi') })],
    ['bind_transceiver_resp', encodePduSlow('bind_transceiver_resp', 1, { system_id: 'smsc' })],
    ['unbind', encodePduSlow('unbind', 1)],
    ['unknown command', Buffer.from('0000001000abcdef0000000000000009', 'hex')],
    ['unknown TLV tag', withTail(receipt, tlv(0x1400, Buffer.from('vendor')))],
    ['multi-valued TLV', withTail(receipt, tlv(0x0302, Buffer.from([1])))],
    ['filtered TLV', withTail(receipt, tlv(0x0381, Buffer.from([0, 1, 1, 0x31])))],
    ['number TLV of the wrong length', withTail(deliver, tlv(0x0427, Buffer.from([0, 2])))],
    ['TLV running past the end', withTail(deliver, Buffer.from('001e0010616263', 'hex'))],
    ['truncated number TLV', withTail(deliver, Buffer.from('020c000201', 'hex'))],
    ['non-empty schedule_delivery_time', withTime('schedule_delivery_time')],
    ['non-empty validity_period', withTime('validity_period')],
    ['truncated source_addr', withTail(Buffer.from('0000000000000005000000000000000100' + '0101' + '3932', 'hex'))],
    ['deliver_sm header only', header(5, 0, 1)],
    ['deliver_sm without short_message', withTail(deliver.subarray(0, deliver.length - 3))],
    ['short_message past the end', withTail(deliver.subarray(0, deliver.length - 1))],
    ['message_id without NUL', header(0x80000004, 0, 1, Buffer.from('abc'))],
    ['command_length not the frame length', Buffer.concat([encodePduSlow('enquire_link', 1), Buffer.from([0])])],
  ];
  for (const [name, frame] of cases) {
    assert.equal(decodeFast(frame), undefined, name);
    let slow: unknown;
    try {
      slow = decodePduSlow(frame);
    } catch (e) {
      slow = e;
    }
    let viaCodec: unknown;
    try {
      viaCodec = decodePdu(frame);
    } catch (e) {
      viaCodec = e;
    }
    if (slow instanceof Error) assert.ok(isQasidError(viaCodec, 'SMPP_DECODE_FAILED'), name);
    else if (name.startsWith('non-empty')) assert.ok((viaCodec as { body: Record<string, unknown> }).body.source_addr === '1', name);
    else assert.deepStrictEqual(viaCodec, slow, name);
  }
  // Above the configured maximum the package throws; decodeFast leaves that to it.
  assert.equal(decodeFast(encodePduSlow('enquire_link', 1), 15), undefined);
});

test('deliver_sm_resp and enquire_link_resp built without the package are the bytes it writes', () => {
  for (const command of ['deliver_sm', 'enquire_link'] as const) {
    for (const status of [0, 0x64, 0x08]) {
      for (const seq of [1, 77, 0x7fffffff]) {
        const req = { command, commandId: command === 'deliver_sm' ? 5 : 0x15, status: 0, seq, body: {} };
        assert.equal(encodeResponse(req, status).toString('hex'), encodePduSlow(`${command}_resp`, seq, {}, status).toString('hex'), `${command} ${status} ${seq}`);
      }
    }
  }
});
