/**
 * Hostile and broken carriers: the simulator's misbehaviours over real TCP against a
 * carrier link. A PDU whose framing is intact never costs the session; responses are
 * matched by sequence number and command; log lines about the carrier's faults are
 * rate-limited.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SimServer, type SimBehaviourPatch } from '../../src/sim/index.js';
import { CarrierLink, type SubmitResult } from '../../src/smpp/link.js';
import type { DeliverHandler, PduFault } from '../../src/smpp/session.js';
import { parseReceipt, type ParsedReceipt } from '../../src/dlr/receipt.js';
import { captureLogger } from '../../src/log/logger.js';
import { testCarrier, type TestCarrierOverrides } from '../helpers/carrier.js';
import { until } from '../helpers/until.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function sim(preset: string, behaviour?: SimBehaviourPatch): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset, behaviour });
  cleanups.push(() => s.close());
  return s;
}

interface Linked {
  link: CarrierLink;
  lines: Array<Record<string, unknown>>;
  faults: Array<[PduFault, string]>;
}

function link(port: number, o: TestCarrierOverrides = {}, onDeliver?: DeliverHandler, faultLogIntervalMs?: number): Linked {
  const { logger, lines } = captureLogger('debug');
  const faults: Array<[PduFault, string]> = [];
  const l = new CarrierLink({ carrier: testCarrier(port, o), logger, onDeliver, faultLogIntervalMs, observer: { onPduFault: (_s, fault, command) => faults.push([fault, command]) } });
  cleanups.push(() => l.stop());
  return { link: l, lines, faults };
}

const submitBody = (n = 0): Record<string, unknown> => ({
  source_addr: 'QASID',
  destination_addr: `92300${String(1000000 + n)}`,
  registered_delivery: 1,
  data_coding: 0,
  short_message: Buffer.from(`test ${n}`),
});

/** A frame with the given header and body; command_length is the frame's own. */
function frame(commandId: number, status: number, seq: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(16 + body.length, 0);
  h.writeUInt32BE(commandId, 4);
  h.writeUInt32BE(status, 8);
  h.writeUInt32BE(seq, 12);
  return Buffer.concat([h, body]);
}

const accepted = (r: SubmitResult): string => {
  assert.equal(r.kind, 'accepted', JSON.stringify(r));
  return (r as Extract<SubmitResult, { kind: 'accepted' }>).messageId;
};

test('ZeroLengthTlvSMSC: receipts whose message_state has length 0 are read from their text and acknowledged; the session never recycles', async () => {
  const s = await sim('ZeroLengthTlvSMSC');
  const receipts: ParsedReceipt[] = [];
  const { link: l, faults } = link(s.port, {}, async (pdu) => {
    const r = parseReceipt(pdu);
    if (r) receipts.push(r);
    return 0;
  });
  await l.start();
  await l.waitAllBound(3000);
  const ids = (await Promise.all(Array.from({ length: 50 }, (_, i) => l.submit(submitBody(i))))).map(accepted);
  await until(() => s.stats.receiptsAcked === 50, 5000, 'every receipt acknowledged');
  assert.equal(receipts.length, 50);
  assert.deepEqual(receipts.map((r) => r.id).sort(), [...ids].sort(), 'each receipt names its message');
  assert.ok(receipts.every((r) => r.state === 'delivered' && r.source === 'both' && r.tlvId === r.textId), 'the state comes from the text, the id from both');
  const h = l.health().sessions[0];
  assert.equal(h?.reconnects, 0, 'the session was never recycled');
  assert.equal(h?.faults.tlv_skipped, 50);
  assert.equal(s.stats.receiptsRedelivered, 0, 'nothing for the SMSC to deliver again');
  assert.equal(s.stats.deliverRespErrors, 0);
  assert.ok(faults.every(([f, c]) => f === 'tlv_skipped' && c === 'deliver_sm'));
});

test('undecodable bodies in intact frames are answered by their header and never cost the session', async () => {
  const s = await sim('BlackHoleSMSC');
  const { link: l, lines } = link(s.port, { timers: { responseMs: 1500 } }, async () => 0);
  await l.start();
  await l.waitAllBound(3000);
  // The bind was sequence number 1; the two submits below are 2 and 3 (the SMSC never answers them itself).
  const first = l.submit(submitBody(1));
  const second = l.submit(submitBody(2));
  await until(() => s.stats.submits === 2, 2000, 'both submits at the SMSC');
  const noNul = Buffer.from('1000000000', 'latin1'); // message_id without its terminating NUL
  s.sendRawToAll(frame(0x80000004, 0, 2, noNul)); // OK, but the id cannot be read
  s.sendRawToAll(frame(0x80000004, 0x58, 3, noNul)); // ESME_RTHROTTLED: the status is all that matters
  // A deliver_sm whose source_addr never ends; a bind_transmitter (an SMSC has no business
  // sending one) whose system_id never ends.
  s.sendRawToAll(frame(0x00000005, 0, 900, Buffer.from('000101' + Buffer.from('9230012345').toString('hex'), 'hex')));
  s.sendRawToAll(frame(0x00000002, 0, 901, Buffer.from('qasid', 'latin1')));
  const [r1, r2] = await Promise.all([first, second]);
  assert.ok(r1.kind === 'unknown' && r1.error.code === 'SMPP_DECODE_FAILED', `an OK answer whose message_id is lost is unknown: ${JSON.stringify(r1)}`);
  assert.ok(r2.kind === 'rejected' && r2.statusName === 'ESME_RTHROTTLED' && r2.action === 'slowdown', JSON.stringify(r2));
  await until(() => s.stats.deliverResps === 1 && s.stats.genericNacks === 1, 2000, 'the answers');
  assert.equal(s.stats.deliverRespErrors, 0, 'the undecodable deliver_sm was answered ESME_ROK');
  const h = l.health().sessions[0];
  assert.equal(h?.reconnects, 0);
  assert.equal(h?.state, 'bound');
  assert.equal(h?.faults.undecodable, 4);
  assert.ok(lines.some((x) => x.event === 'session.undecodable_pdu'));
  assert.ok(!lines.some((x) => x.event === 'session.closed'), 'no connection was closed');
});

test('StrayResponseSMSC: a response of another command carrying a live sequence number is not taken as that request\'s answer', async () => {
  const s = await sim('StrayResponseSMSC');
  const { link: l, lines } = link(s.port, { timers: { responseMs: 100, enquireLinkMs: 150, inactivityMs: 2000 } });
  await l.start();
  await l.waitAllBound(3000);
  const ids = (await Promise.all(Array.from({ length: 20 }, (_, i) => l.submit(submitBody(i))))).map(accepted);
  // Each submit_sm was preceded by an enquire_link_resp with its sequence number; taken as
  // the answer, the message would have been "accepted" with no message id at all.
  for (const id of ids) assert.match(id, /^1\d{9}$/);
  // Each enquire_link was preceded by a submit_sm_resp with its sequence number.
  await until(() => s.stats.enquireLinks >= 3, 3000, 'a few enquire_links');
  assert.ok(s.stats.strayResponsesSent >= 23);
  await until(() => (l.health().sessions[0]?.faults.stray_response ?? 0) >= 23, 2000, 'every stray response seen');
  const h = l.health().sessions[0];
  assert.equal(h?.reconnects, 0);
  const stray = lines.filter((x) => x.event === 'session.unexpected_pdu' && x.reason === 'wrong_command');
  assert.ok(stray.length >= 1, 'logged as unexpected');
  assert.ok(stray.length <= 2, `rate-limited: ${stray.length} lines`);
  assert.deepEqual([stray[0]?.command, stray[0]?.request], ['enquire_link_resp', 'submit_sm']);
});

test('generic_nack stays an answer to any request', async () => {
  const s = await sim('BlackHoleSMSC');
  const { link: l } = link(s.port, { timers: { responseMs: 1500 } });
  await l.start();
  await l.waitAllBound(3000);
  const r = l.submit(submitBody());
  await until(() => s.stats.submits === 1, 2000, 'the submit');
  s.sendRawToAll(frame(0x80000000, 0x03, 2, Buffer.alloc(0))); // generic_nack ESME_RINVCMDID, sequence number of the submit
  const out = await r;
  assert.ok(out.kind === 'rejected' && out.statusName === 'ESME_RINVCMDID', JSON.stringify(out));
});

test('log lines about a carrier\'s faults: at most one per event code per interval, and the counts add up', async () => {
  const s = await sim('HappySMSC');
  const { link: l, lines } = link(s.port, { timers: { enquireLinkMs: 4000, inactivityMs: 10_000 } }, async () => 0, 200);
  await l.start();
  await l.waitAllBound(3000);
  s.setBehaviour({ fuzz: { perSecond: 5000, limit: 5000, seed: 3 } });
  await until(() => s.stats.fuzzSent === 5000, 5000, 'the fuzzer to finish');
  await until(() => s.stats.responsesReceived >= s.stats.fuzzRequestsSent, 5000, 'every hostile request answered');
  // Past the interval and a tick: every held line is written.
  await new Promise((r) => setTimeout(r, 500));
  const h = l.health().sessions[0];
  assert.equal(h?.reconnects, 0);
  const of = (event: string): Array<Record<string, unknown>> => lines.filter((x) => x.event === event);
  const undecodable = of('session.undecodable_pdu');
  const total = undecodable.length + undecodable.reduce((n, x) => n + Number(x.suppressed ?? 0), 0);
  assert.equal(total, h?.faults.undecodable, 'written lines plus suppressed counts add up to the undecodable PDUs');
  assert.ok((h?.faults.undecodable ?? 0) > 100, `${h?.faults.undecodable} undecodable`);
  assert.ok(undecodable.some((x) => Number(x.suppressed) > 0), 'later lines say how many were not written');
  // About one second of fuzzing at a 200 ms interval: a handful of lines per code, not thousands.
  for (const event of ['session.undecodable_pdu', 'session.tlv_skipped', 'session.unexpected_pdu', 'session.generic_nack']) {
    assert.ok(of(event).length <= 25, `${event}: ${of(event).length} lines`);
  }
  assert.ok(lines.length < 200, `${lines.length} lines for 5,000 hostile PDUs`);
});

test('a chaos run of 100,000 hostile PDUs: the session never recycles, every hostile request is answered, submits keep flowing', async () => {
  const s = await sim('FuzzSMSC', { fuzz: { perSecond: 40_000, limit: 100_000, seed: 7 } });
  const { link: l, lines } = link(s.port, { window: 20, timers: { responseMs: 3000, enquireLinkMs: 4000, inactivityMs: 10_000 } }, async (pdu) => {
    parseReceipt(pdu);
    return 0;
  });
  await l.start();
  await l.waitAllBound(3000);
  const results: SubmitResult[] = [];
  let n = 0;
  while (s.stats.fuzzSent < 100_000) {
    results.push(...(await Promise.all(Array.from({ length: 20 }, () => l.submit(submitBody(n++))))));
  }
  await until(() => s.stats.responsesReceived >= s.stats.fuzzRequestsSent + s.stats.receiptsSent, 10_000, 'every hostile request and receipt answered');
  assert.equal(s.stats.fuzzSent, 100_000);
  const kinds = new Set(results.map((r) => r.kind));
  assert.deepEqual([...kinds], ['accepted'], 'every submit accepted while the fuzzer ran');
  const h = l.health().sessions[0];
  assert.equal(h?.reconnects, 0, 'never recycled');
  assert.equal(h?.state, 'bound');
  assert.equal(s.stats.protocolErrors, 0, 'nothing we sent back was invalid');
  assert.ok((h?.faults.undecodable ?? 0) > 1000 && (h?.faults.tlv_skipped ?? 0) > 1000 && (h?.faults.stray_response ?? 0) > 1000 && (h?.faults.unexpected ?? 0) > 1000, JSON.stringify(h?.faults));
  assert.ok(lines.length < 100, `${lines.length} log lines for 100,000 hostile PDUs`);
});
