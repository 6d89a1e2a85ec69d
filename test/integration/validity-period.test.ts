/**
 * validity_period on the wire: submitToCarrier over a real CarrierLink to the simulator,
 * which records what each submit_sm carried and reads it as an SMSC does (SMPP 3.4
 * §7.1.1). Relative by default, absolute or none per carrier, and a message with less
 * than the carrier's minValiditySec left ends expired without a submit. The last tests
 * run the same through the whole daemon (Redis intake to the SMSC).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SimServer, type SubmitSeen } from '../../src/sim/index.js';
import { CarrierLink } from '../../src/smpp/link.js';
import { captureLogger } from '../../src/log/logger.js';
import { systemClock } from '../../src/core/clock.js';
import { CarrierPacer } from '../../src/throttle/pacer.js';
import { PacedGate } from '../../src/dispatch/gate.js';
import { submitToCarrier, type CarrierAttempt } from '../../src/dispatch/submit.js';
import { encodeMessage, type EncodedMessage } from '../../src/encoding/index.js';
import { smppAbsoluteTime } from '../../src/smpp/codec.js';
import { testCarrier, type TestCarrierOverrides } from '../helpers/carrier.js';
import { redisForFile } from '../helpers/redis.js';
import { startGateway, testConfig, type RawCarrier } from '../helpers/app.js';
import { readEvents } from '../helpers/events.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

interface Rig {
  sim: SimServer;
  seen: SubmitSeen[];
  /** Submit `text` as the dispatcher does, the message valid for `validSec` more seconds. */
  send(text: string, validSec: number): Promise<CarrierAttempt>;
}

async function rig(o: TestCarrierOverrides = {}, preset = 'HappySMSC'): Promise<Rig> {
  const seen: SubmitSeen[] = [];
  const sim = await startSimulator({ port: 0, preset, onSubmit: (s) => seen.push(s) });
  cleanups.push(() => sim.close());
  const carrier = testCarrier(sim.port, o);
  const { logger } = captureLogger('warn');
  const link = new CarrierLink({ carrier, logger });
  cleanups.push(() => link.stop());
  await link.start();
  await link.waitAllBound(3000);
  const gate = new PacedGate(new CarrierPacer({ tps: carrier.tps, clock: systemClock }));
  let n = 0;
  const send = async (text: string, validSec: number): Promise<CarrierAttempt> => {
    const enc = encodeMessage(text, { method: carrier.concat, ref: ++n, maxParts: 10 });
    if ('error' in enc) throw new Error('too long');
    const until = Date.now() + validSec * 1000;
    return submitToCarrier(
      {
        carrier,
        link,
        gate,
        recId: `r${n}`,
        e164Digits: '923001234567',
        sender: 'QASID',
        priority: 0,
        receipt: true,
        mappingTtlMs: 60_000,
        map: async () => null,
        // What the dispatcher passes (src/dispatch/dispatcher.ts).
        expired: () => Date.now() >= until,
        validity: { until, now: () => Date.now() },
      },
      enc as EncodedMessage,
    );
  };
  return { sim, seen, send };
}

test('a 300 s OTP reaches the SMSC with a relative validity_period of about 300 s (the default format)', async () => {
  const { seen, send } = await rig();
  const before = Date.now();
  const r = await send('Your code is 123456', 300);
  assert.equal(r.kind, 'accepted');
  assert.equal(seen.length, 1);
  const s = seen[0] as SubmitSeen;
  assert.match(s.validityPeriod, /^0000000004[0-9]{2}000R$|^000000000500000R$/, s.validityPeriod);
  // As the SMSC reads it: about 300 s from when it arrived (whole seconds, rounded down).
  const left = (s.validUntil as number) - s.receivedAt;
  assert.ok(left > 295_000 && left <= 300_000, `${left} ms of validity at the SMSC`);
  assert.ok((s.validUntil as number) <= before + 300_000 + 50, 'never past the message\'s own validity');
});

test('every part of a long message carries the validity left as it leaves', async () => {
  const { seen, send } = await rig();
  const r = await send('x'.repeat(400), 600);
  assert.equal(r.kind, 'accepted');
  assert.equal(seen.length, 3);
  for (const s of seen) {
    const left = (s.validUntil as number) - s.receivedAt;
    assert.ok(left > 595_000 && left <= 600_000, `${s.validityPeriod}: ${left} ms`);
  }
});

test('validityFormat absolute: the moment the validity ends, in UTC ("YYMMDDhhmmsst00+")', async () => {
  const { seen, send } = await rig({ validityFormat: 'absolute' });
  const before = Date.now();
  const r = await send('Your code is 123456', 300);
  const after = Date.now();
  assert.equal(r.kind, 'accepted');
  const s = seen[0] as SubmitSeen;
  assert.match(s.validityPeriod, /^\d{13}00\+$/, s.validityPeriod);
  // The end the message was given, to the tenth of a second.
  assert.ok((s.validUntil as number) >= before + 300_000 - 100 && (s.validUntil as number) <= after + 300_000, `${s.validityPeriod}`);
  assert.equal(s.validityPeriod.slice(0, 6), smppAbsoluteTime(before + 300_000).slice(0, 6), 'UTC date');
});

test('validityFormat none: validity_period stays empty and the SMSC\'s default applies', async () => {
  const { sim, seen, send } = await rig({ validityFormat: 'none' });
  assert.equal((await send('hello', 300)).kind, 'accepted');
  assert.equal(seen[0]?.validityPeriod, '');
  assert.equal(seen[0]?.validUntil, null);
  assert.equal(sim.stats.validityPeriods, 0);
});

test('less than minValiditySec left: the message ends expired and nothing reaches the SMSC', async () => {
  const { sim, seen, send } = await rig(); // minValiditySec: the schema's default, 10
  assert.equal((await send('late OTP', 5)).kind, 'expired');
  assert.equal((await send('later OTP', 0)).kind, 'expired');
  assert.equal(sim.stats.submits, 0);
  assert.equal(seen.length, 0);
  // With more left than the minimum it goes.
  assert.equal((await send('in time', 15)).kind, 'accepted');
  assert.equal(sim.stats.submits, 1);

  const lax = await rig({ minValiditySec: 0 });
  assert.equal((await lax.send('late OTP', 5)).kind, 'accepted', 'minValiditySec 0: anything left is enough');
  const left = (lax.seen[0]?.validUntil as number) - (lax.seen[0]?.receivedAt as number);
  assert.ok(left > 3_000 && left <= 5_000, `${left} ms`);

  const strict = await rig({ minValiditySec: 120 });
  assert.equal((await strict.send('OTP', 100)).kind, 'expired');
  assert.equal(strict.sim.stats.submits, 0);
});

test('the simulator refuses a validity_period that is not a time with ESME_RINVEXPIRY', async () => {
  const { sim, seen } = await rig();
  const { logger } = captureLogger('warn');
  const link = new CarrierLink({ carrier: testCarrier(sim.port, { id: 'raw' }), logger });
  cleanups.push(() => link.stop());
  await link.start();
  await link.waitAllBound(3000);
  const body = (vp: string): Record<string, unknown> => ({ source_addr: 'QASID', destination_addr: '923001234567', validity_period: vp, short_message: Buffer.from('x') });
  const r = await link.submit(body('261399999999900+'));
  assert.ok(r.kind === 'rejected' && r.statusName === 'ESME_RINVEXPIRY', JSON.stringify(r));
  assert.equal(sim.stats.submitErrors.ESME_RINVEXPIRY, 1);
  assert.equal(seen[0]?.validUntil, undefined);
  assert.equal((await link.submit(body('000000000500000R'))).kind, 'accepted');
  assert.equal(sim.stats.validityPeriods, 2);
});

/** A daemon with one carrier on a simulator that records each submit_sm it receives. */
async function daemonWith(carrier: Omit<RawCarrier, 'id' | 'port'>): Promise<{ seen: SubmitSeen[]; sim: SimServer; send(id: string, extra: Record<string, unknown>): Promise<Record<string, unknown>> }> {
  const seen: SubmitSeen[] = [];
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC', onSubmit: (s) => seen.push(s) });
  cleanups.push(() => sim.close());
  const { app, r } = await startGateway(redis.url, testConfig(redis.url, [{ id: 'jazz', port: sim.port, ...carrier }]), cleanups, { level: 'warn' });
  const send = async (id: string, extra: Record<string, unknown>): Promise<Record<string, unknown>> => {
    await r.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `Your code is ${id}`, ...extra }));
    let final: Record<string, unknown> | undefined;
    await until(async () => {
      final = (await readEvents(r, app.keys.events)).find((e) => e.clientId === id && e.final) as Record<string, unknown> | undefined;
      return final !== undefined;
    }, 5000, `the final event of ${id}`);
    return final as Record<string, unknown>;
  };
  return { seen, sim, send };
}

test('through the daemon: a 300 s OTP from the intake stream reaches the SMSC with about 300 s left', async () => {
  const { seen, send } = await daemonWith({});
  const final = await send('otp1', { class: 'otp', validity: 300 });
  assert.equal(final.status, 'delivered');
  assert.equal(seen.length, 1);
  const s = seen[0] as SubmitSeen;
  assert.match(s.validityPeriod, /^0000000004[0-9]{2}000R$|^000000000500000R$/, s.validityPeriod);
  const left = (s.validUntil as number) - s.receivedAt;
  assert.ok(left > 290_000 && left <= 300_000, `${left} ms of validity at the SMSC`);
});

test('through the daemon: absolute per carrier, and a message with less than minValiditySec left ends expired validity_passed unsent', async () => {
  const { sim, seen, send } = await daemonWith({ validityFormat: 'absolute', minValiditySec: 60 });
  const short = await send('short', { validity: 30 });
  assert.deepEqual([short.status, short.reason], ['expired', 'validity_passed']);
  assert.equal(sim.stats.submits, 0, 'nothing reached the SMSC');
  const before = Date.now();
  const ok = await send('long', { validity: 300 });
  assert.equal(ok.status, 'delivered');
  const s = seen[0] as SubmitSeen;
  assert.match(s.validityPeriod, /^\d{13}00\+$/, s.validityPeriod);
  assert.ok(Math.abs((s.validUntil as number) - (before + 300_000)) < 5_000, s.validityPeriod);
});
