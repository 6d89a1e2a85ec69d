/**
 * validity_period (SMPP 3.4 §7.1.1): the time formats, the value a part carries for each
 * carrier format, the bytes both submit_sm encoders write for it, and the carrier options
 * (validityFormat, minValiditySec) with their schema defaults.
 * test/integration/validity-period.test.ts checks the same over TCP against the simulator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseSmppTime, smppAbsoluteTime, smppRelativeTime, encodePdu, encodePduSlow } from '../../src/smpp/codec.js';
import { validityPeriod } from '../../src/dispatch/submit.js';
import { resolveCarriers } from '../../src/config/carriers.js';
import { CARRIER_SCHEMA_PATH } from '../../src/config/carrier-schema.js';

const DAY = 86_400;

test('relative time: "YYMMDDhhmmss000R", whole seconds rounded down, never negative', () => {
  assert.equal(smppRelativeTime(300), '000000000500000R');
  assert.equal(smppRelativeTime(299.99), '000000000459000R');
  assert.equal(smppRelativeTime(59), '000000000059000R');
  assert.equal(smppRelativeTime(DAY), '000001000000000R');
  assert.equal(smppRelativeTime(7 * DAY + 3600 + 61), '000007010101000R');
  assert.equal(smppRelativeTime(45 * DAY), '000115000000000R', 'months of 30 days');
  assert.equal(smppRelativeTime(400 * DAY), '010105000000000R', 'years of 365 days');
  assert.equal(smppRelativeTime(0), '000000000000000R');
  assert.equal(smppRelativeTime(-5), '000000000000000R');
  assert.equal(smppRelativeTime(1e12), '991129235959000R', 'capped at the largest the fields can hold');
  for (const s of [1, 59, 60, 3599, 3600, DAY - 1, DAY, 604_800, 45 * DAY, 400 * DAY]) {
    assert.equal(parseSmppTime(smppRelativeTime(s), 1_000_000), 1_000_000 + s * 1000, `round trip of ${s} s`);
  }
});

test('absolute time: "YYMMDDhhmmsst00+" in UTC, tenths of a second, read back to the same instant', () => {
  const at = Date.UTC(2026, 11, 31, 23, 59, 58, 750);
  assert.equal(smppAbsoluteTime(at), '261231235958700+');
  assert.equal(smppAbsoluteTime(Date.UTC(2027, 0, 2, 3, 4, 5, 0)), '270102030405000+');
  assert.equal(parseSmppTime('261231235958700+', 0), Date.UTC(2026, 11, 31, 23, 59, 58, 700));
  // nn quarter hours between the written local time and UTC: PKT is UTC+5 (20 quarters).
  assert.equal(parseSmppTime('270101050000020+', 0), Date.UTC(2027, 0, 1, 0, 0, 0));
  assert.equal(parseSmppTime('261231190000020-', 0), Date.UTC(2027, 0, 1, 0, 0, 0));
  for (const ms of [Date.UTC(2030, 1, 28, 12, 0, 0, 100), Date.UTC(2026, 5, 1, 0, 0, 0, 900)]) {
    assert.equal(parseSmppTime(smppAbsoluteTime(ms), 0), ms);
  }
});

test('an SMSC reads an empty field as "its default" and refuses anything that is not a time', () => {
  assert.equal(parseSmppTime('', 5), null);
  for (const bad of ['300', '000000000500', '000000000500000X', '261331000000000+', '260431000000000+', '261231240000000+', '261231235960000+', '261231235959049+', '26123123595900+', '000000000500001R']) {
    assert.equal(parseSmppTime(bad, 0), undefined, bad);
  }
});

test('the value a part carries: the remaining validity as it leaves, per carrier format', () => {
  const now = Date.UTC(2026, 11, 1, 10, 0, 0, 0);
  assert.equal(validityPeriod('relative', now + 300_000, now), '000000000500000R');
  assert.equal(validityPeriod('relative', now + 300_000, now + 2_500), '000000000457000R', 'the time spent waiting is taken off');
  assert.equal(validityPeriod('absolute', now + 300_000, now + 2_500), smppAbsoluteTime(now + 300_000), 'absolute: the same end, however late it leaves');
  assert.equal(validityPeriod('absolute', now + 300_000, now), '261201100500000+');
  assert.equal(validityPeriod('none', now + 300_000, now), '');
  // A later part of a message whose first part went must still be accepted: at least one second.
  assert.equal(validityPeriod('relative', now, now + 5_000), '000000000001000R');
  assert.equal(validityPeriod('absolute', now, now + 5_000), smppAbsoluteTime(now + 6_000));
});

test('both submit_sm encoders write validity_period as given, byte for byte alike', () => {
  const body = (vp: string): Record<string, unknown> => ({
    source_addr: 'QASID',
    destination_addr: '923001234567',
    validity_period: vp,
    registered_delivery: 1,
    data_coding: 0,
    short_message: Buffer.from('Your code is 1234'),
  });
  for (const vp of ['000000000500000R', '261231235958700+', '']) {
    const fast = encodePdu('submit_sm', 7, body(vp));
    assert.equal(fast.toString('hex'), encodePduSlow('submit_sm', 7, body(vp)).toString('hex'), vp);
    // service_type "", ton, npi, "QASID", ton, npi, destination, esm, pid, priority, schedule "", validity.
    const at = 16 + 1 + 2 + 6 + 2 + 13 + 3 + 1;
    assert.equal(fast.toString('latin1', at, at + vp.length + 1), `${vp}\0`);
  }
});

function carrier(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'jazz', host: '127.0.0.1', port: 2775, systemId: 'qasid', password: 'pw', ...extra };
}

test('carrier options: validityFormat relative and minValiditySec 10 by default; each may be set; bad values name their key', () => {
  const ctx = { env: {}, baseDir: '/' };
  const [c] = resolveCarriers([carrier()], ctx).carriers;
  assert.equal(c?.validityFormat, 'relative');
  assert.equal(c?.minValiditySec, 10);
  const [d] = resolveCarriers([carrier({ validityFormat: 'absolute', minValiditySec: 0 })], ctx).carriers;
  assert.equal(d?.validityFormat, 'absolute');
  assert.equal(d?.minValiditySec, 0);
  assert.equal(resolveCarriers([carrier({ validityFormat: 'none' })], ctx).carriers[0]?.validityFormat, 'none');
  const bad = resolveCarriers([carrier({ validityFormat: 'utc', minValiditySec: -1 }), carrier({ id: 'zong', minValiditySec: 1.5 })], ctx).problems;
  assert.deepEqual(
    bad.map((p) => p.key),
    ['carriers[0].validityFormat', 'carriers[0].minValiditySec', 'carriers[1].minValiditySec'],
    bad.map((p) => `${p.key}: ${p.message}`).join('\n'),
  );
  assert.match(bad[0]?.message ?? '', /"relative", "absolute", "none"/);
});

test('every key of config/carrier.schema.json reaches the resolved carrier (nothing declared and dropped)', () => {
  const schema = JSON.parse(readFileSync(CARRIER_SCHEMA_PATH, 'utf8')) as { properties: Record<string, unknown> };
  const [c] = resolveCarriers([carrier()], { env: {}, baseDir: '/' }).carriers;
  assert.ok(c);
  // The three password sources become the one `password` Secret.
  const declared = Object.keys(schema.properties).filter((k) => k !== 'passwordEnv' && k !== 'passwordFile');
  assert.deepEqual(declared.filter((k) => !(k in c)), []);
});

test('carrier options: failoverAfter 1 and no submitErrors by default; hex status keys are written one way; retryScheduleMs taken as given', () => {
  const ctx = { env: {}, baseDir: '/' };
  const [c] = resolveCarriers([carrier()], ctx).carriers;
  assert.equal(c?.failoverAfter, 1);
  assert.deepEqual(c?.submitErrors, {});
  assert.equal(c?.retryScheduleMs, undefined);
  const [d] = resolveCarriers([carrier({ submitErrors: { '0x45': 'failover', '0X00000401': 'retry', ESME_RSYSERR: 'fail' }, failoverAfter: 3, retryScheduleMs: [50, 500] })], ctx).carriers;
  assert.deepEqual(d?.submitErrors, { '0x00000045': 'failover', '0x00000401': 'retry', ESME_RSYSERR: 'fail' });
  assert.equal(d?.failoverAfter, 3);
  assert.deepEqual(d?.retryScheduleMs, [50, 500]);
});
