/**
 * Long MO parts and MO routing, the pure halves: reading the part numbering of a
 * deliver_sm (UDH 8/16-bit, SAR), joining parts, the routing rules and their validation
 * at boot, and the simulator's --mo flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinParts, moPayload } from '../../src/dlr/mo-parts.js';
import { compileMoRoutes, firstWord } from '../../src/dlr/mo-routes.js';
import { decodeText } from '../../src/encoding/index.js';
import { loadConfig } from '../../src/config/load.js';
import { moInjections, parseMoSpec, simCommand } from '../../src/cli/sim.js';
import { moBodies } from '../../src/sim/index.js';
import { decodePdu, encodePdu } from '../../src/smpp/codec.js';
import { isQasidError } from '../../src/core/errors.js';

const deliver = (body: Record<string, unknown>): ReturnType<typeof decodePdu> => decodePdu(encodePdu('deliver_sm', 1, { source_addr: '923001234567', destination_addr: '8555', ...body }));

test('moPayload reads UDH IE 0x00 (8-bit ref), IE 0x08 (16-bit ref) and the SAR TLVs, and leaves the UDH out of the payload', () => {
  const u8 = moPayload(deliver({ esm_class: 0x40, short_message: Buffer.concat([Buffer.from('050003a70302', 'hex'), Buffer.from('Hello')]) }));
  assert.deepEqual(u8.part, { ref: 0xa7, total: 3, seq: 2, via: 'udh8' });
  assert.equal(u8.payload.toString(), 'Hello');
  // Another IE before the concatenation IE (a port address, IE 0x05) is stepped over.
  const u16 = moPayload(deliver({ esm_class: 0x40, short_message: Buffer.concat([Buffer.from('0c050400000000' + '080412340201', 'hex'), Buffer.from('Hi')]) }));
  assert.deepEqual(u16.part, { ref: 0x1234, total: 2, seq: 1, via: 'udh16' });
  assert.equal(u16.payload.toString(), 'Hi');
  const sar = moPayload(deliver({ short_message: Buffer.from('Part'), sar_msg_ref_num: 4242, sar_total_segments: 4, sar_segment_seqnum: 4 }));
  assert.deepEqual(sar.part, { ref: 4242, total: 4, seq: 4, via: 'sar' });
  assert.equal(sar.payload.toString(), 'Part');
});

test('moPayload: a plain MO, a UDH without concatenation, and senseless numbering are messages of their own', () => {
  assert.deepEqual(moPayload(deliver({ short_message: Buffer.from('STOP') })), { payload: Buffer.from('STOP') });
  assert.deepEqual(moPayload(deliver({ esm_class: 0x40, short_message: Buffer.from('0405040000ffHey', 'hex').subarray(0, 6) })).part, undefined);
  for (const udh of ['050003010101', '050003010300', '050003010204', '050003010000']) {
    const r = moPayload(deliver({ esm_class: 0x40, short_message: Buffer.concat([Buffer.from(udh, 'hex'), Buffer.from('x')]) }));
    assert.equal(r.part, undefined, udh);
    assert.equal(r.payload.toString(), 'x', `${udh}: the UDH still leaves the text`);
  }
  // A UDH length past the data: the bytes as they came.
  assert.equal(moPayload(deliver({ esm_class: 0x40, short_message: Buffer.from('09000301', 'hex') })).payload.toString('hex'), '09000301');
});

test('joinParts joins raw payloads in part order before decoding: a UCS-2 character split between parts reads whole', () => {
  const bytes = Buffer.from('شکریہ', 'utf16le').swap16();
  const parts = [
    { seq: 2, payload: bytes.subarray(3), dataCoding: 8 },
    { seq: 1, payload: bytes.subarray(0, 3), dataCoding: 8 },
  ];
  assert.deepEqual(joinParts(parts, 2, decodeText), { text: 'شکریہ', dataCoding: 8, received: [1, 2], complete: true });
  // GSM 7-bit unpacked: an escape (0x1b) at the end of part 1 and its character at the start of part 2 make one '€'.
  const gsm = [
    { seq: 1, payload: Buffer.from([0x41, 0x1b]), dataCoding: 0 },
    { seq: 2, payload: Buffer.from([0x65, 0x42]), dataCoding: 0 },
  ];
  assert.equal(joinParts(gsm, 2, decodeText).text, 'A€B');
  // Part 2 of 3 missing: the runs either side are decoded apart.
  const partial = joinParts([parts[1] as (typeof parts)[number], { seq: 3, payload: Buffer.from('0041', 'hex'), dataCoding: 8 }], 3, decodeText);
  assert.deepEqual([partial.received, partial.complete, partial.text.endsWith('A')], [[1, 3], false, true]);
});

test('MO routing: rules in order, exact and prefix destinations, the first word as keyword, the default otherwise', () => {
  const router = compileMoRoutes([
    { to: '8555', keyword: 'JOIN', stream: 'acme-join' },
    { to: '8555', stream: 'acme' },
    { keyword: 'Win', stream: 'contest' },
    { to: '+9230*', stream: 'longnum' },
  ]);
  assert.deepEqual(router.streams, ['acme-join', 'acme', 'contest', 'longnum']);
  assert.equal(router.streamOf('8555', 'join'), 'acme-join');
  assert.equal(router.streamOf('8555', '  Join! me'), 'acme-join');
  assert.equal(router.streamOf('8555', 'joining'), 'acme', 'a keyword is a whole word');
  assert.equal(router.streamOf('85550', 'join'), undefined, 'an exact destination is exact');
  assert.equal(router.streamOf('9000', 'WIN a prize'), 'contest');
  assert.equal(router.streamOf('+923001112233', 'hello'), 'longnum');
  assert.equal(router.streamOf('923001112233', 'hello'), 'longnum', 'a leading + does not count');
  assert.equal(router.streamOf('9000', 'hello'), undefined);
  assert.equal(compileMoRoutes([]).streamOf('8555', 'join'), undefined);
  assert.equal(firstWord('  «Stop», please'), 'stop');
});

test('mo.routes: a bad rule is refused at boot, naming the key and the rule', () => {
  const bad: Array<[unknown, RegExp]> = [
    [[{ to: '8555', stream: 'Acme!' }], /mo\.routes.*\[0\]\.stream must be/],
    [[{ to: '8555', stream: 'ok' }, { stream: 'x' }], /mo\.routes.*\[1\] needs to, keyword or both/],
    [[{ to: '85-55', stream: 'ok' }], /mo\.routes.*\[0\]\.to must be/],
    [[{ keyword: 'two words', stream: 'ok' }], /mo\.routes.*\[0\]\.keyword must be one word/],
    [[{ to: '8555', stream: 'ok', tenant: 'acme' }], /mo\.routes.*\[0\] has unknown key tenant/],
    [{ to: '8555' }, /mo\.routes: must be a JSON array/],
  ];
  for (const [routes, why] of bad) {
    assert.throws(
      () => loadConfig({ env: {}, overrides: { mo: { routes } } }),
      (e: unknown) => isQasidError(e) && e.code === 'CONFIG_INVALID' && why.test(e.message),
      JSON.stringify(routes),
    );
  }
  const ok = loadConfig({ env: {}, overrides: { mo: { reassemblySec: 30, routes: [{ to: '8555*', keyword: 'join', stream: 'acme_1' }] } } });
  assert.deepEqual(ok.mo, { reassemblySec: 30, routes: [{ to: '8555*', keyword: 'join', stream: 'acme_1' }] });
  assert.deepEqual(loadConfig({ env: {} }).mo, { reassemblySec: 60, routes: [] }, 'defaults');
  assert.deepEqual(loadConfig({ env: { QASID_MO_ROUTES: '[{"keyword":"JOIN","stream":"acme"}]' } }).mo.routes, [{ keyword: 'JOIN', stream: 'acme' }], 'from env, as JSON');
  assert.throws(() => loadConfig({ env: {}, overrides: { mo: { reassemblySec: 0 } } }), /mo\.reassemblySec/);
});

test('qasid sim --mo: FROM:TO:TEXT (the text may hold colons), --mo-long and --mo-part-octets; mistakes are usage errors', async () => {
  assert.deepEqual(parseMoSpec('923001234567:8555:Time: 10:30'), { from: '923001234567', to: '8555', text: 'Time: 10:30' });
  assert.deepEqual(parseMoSpec('923001234567:8555:'), { from: '923001234567', to: '8555', text: '' });
  assert.throws(() => parseMoSpec('923001234567-8555'), /--mo needs FROM:TO:TEXT/);
  assert.deepEqual(moInjections({ mo: ['1:2:a', '3:4:b'] }), [
    { from: '1', to: '2', text: 'a' },
    { from: '3', to: '4', text: 'b' },
  ]);
  assert.deepEqual(moInjections({ mo: ['1:2:a'], 'mo-long': 'sar', 'mo-part-octets': '50' }), [{ from: '1', to: '2', text: 'a', long: 'sar', partOctets: 50 }]);
  assert.deepEqual(moInjections({}), []);
  assert.throws(() => moInjections({ 'mo-long': 'udh8' }), /--mo-long needs --mo/);
  assert.throws(() => moInjections({ mo: ['1:2:a'], 'mo-long': 'udh32' }), /--mo-long needs udh8\|udh16\|sar/);
  assert.throws(() => moInjections({ mo: ['1:2:a'], 'mo-part-octets': '50' }), /--mo-part-octets needs --mo-long/);
  assert.throws(() => moInjections({ mo: ['1:2:a'], 'mo-long': 'udh8', 'mo-part-octets': '300' }), /partOctets must be an integer from 1 to 248/);
  const errors: string[] = [];
  assert.equal(await simCommand(['--mo', 'nonsense'], { err: (t) => void errors.push(t) }), 64);
  assert.equal(await simCommand(['--mo-delay', '10'], { err: (t) => void errors.push(t) }), 64);
  assert.match(errors.join(''), /--mo needs FROM:TO:TEXT[\s\S]*--mo-delay needs --mo/);
});

test('the simulator splits a long MO into parts of the size asked, whole UCS-2 characters by default', () => {
  const urdu = moBodies({ from: '1', to: '2', text: 'ب'.repeat(100), long: 'udh8' }, 9);
  assert.equal(urdu.length, 2);
  assert.equal((urdu[0]?.short_message as Buffer).length, 6 + 134);
  const odd = moBodies({ from: '1', to: '2', text: 'ب'.repeat(100), long: 'udh16', partOctets: 67 }, 9);
  assert.equal(odd.length, 3);
  assert.throws(() => moBodies({ from: '1', to: '2', text: 'x', long: 'sar', order: [2] }, 1), /order names part 2 of 1/);
});
