/**
 * The steps submitToCarrier takes around the wire, over a real CarrierLink to the
 * simulator: the record is marked `submitting` before the first part leaves (never
 * before a token, never after the SMSC saw it), and once the last part is accepted the
 * record is accepted (and watched) before that part's mapping is written — a receipt can
 * match only through the mapping, so it can never find the message unaccepted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SubmitSeen } from '../../src/sim/index.js';
import { CarrierLink } from '../../src/smpp/link.js';
import { captureLogger } from '../../src/log/logger.js';
import { systemClock } from '../../src/core/clock.js';
import { CarrierPacer } from '../../src/throttle/pacer.js';
import { PacedGate } from '../../src/dispatch/gate.js';
import { submitToCarrier } from '../../src/dispatch/submit.js';
import { encodeMessage, type EncodedMessage } from '../../src/encoding/index.js';
import { testCarrier } from '../helpers/carrier.js';

const cleanups: Array<() => Promise<void>> = [];
test.after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

test('marked submitting before the first part leaves; accepted before the last mapping; the other mappings as their parts are accepted', async () => {
  const steps: string[] = [];
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC', onSubmit: (_s: SubmitSeen) => void steps.push('smsc') });
  cleanups.push(() => sim.close());
  const carrier = testCarrier(sim.port);
  const link = new CarrierLink({ carrier, logger: captureLogger('warn').logger });
  cleanups.push(() => link.stop());
  await link.start();
  await link.waitAllBound(3000);
  const gate = new PacedGate(new CarrierPacer({ tps: carrier.tps, clock: systemClock }));
  for (const [text, parts] of [
    ['One part', 1],
    ['Three parts, each of them full of words. '.repeat(9), 3],
  ] as const) {
    steps.length = 0;
    const enc = encodeMessage(text, { method: carrier.concat, ref: 7, maxParts: 10 }) as EncodedMessage;
    assert.equal(enc.parts.length, parts);
    const r = await submitToCarrier(
      {
        carrier,
        link,
        gate,
        recId: 'r1',
        e164Digits: '923001234567',
        sender: 'QASID',
        priority: 0,
        receipt: true,
        mappingTtlMs: 60_000,
        submitting: async () => void steps.push('submitting'),
        accepted: async (ids) => void steps.push(`accepted:${ids.length}`),
        map: async (_c, _id, value) => {
          steps.push(`map:${value.split(':')[1] as string}`);
          return null;
        },
      },
      enc,
    );
    assert.equal(r.kind, 'accepted');
    const want = ['submitting'];
    for (let i = 0; i < parts; i++) {
      want.push('smsc');
      if (i === parts - 1) want.push(`accepted:${parts}`);
      want.push(`map:${i}`);
    }
    assert.deepEqual(
      steps,
      want,
      `${parts} part(s)`,
    );
  }
});
