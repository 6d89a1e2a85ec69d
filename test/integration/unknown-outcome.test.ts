/**
 * The unknown outcome, handled: a submit whose submit_sm_resp never came follows its
 * class's dispatch.unknownOutcome — `final` (watched, ends unknown) or `resubmit` (sent
 * again after delaySec, at most maxResubmits times, counted and logged) — against a
 * black-hole SMSC (never answers submit_sm) and a drop-after one (answers some, then
 * closes the connection on the next). And query_sm (carriers[].querySm) settling a message
 * the carrier accepted and sent no receipt for, from the simulator's answer, with the
 * fall-back when the query goes unanswered. The whole daemon, a real redis-server and the
 * simulator over TCP; the message clock is moved forward to reach the watch deadlines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SimBehaviourPatch, type SimServer } from '../../src/sim/index.js';
import { redisForFile } from '../helpers/redis.js';
import { startGateway, testConfig, type Gateway, type RawCarrier } from '../helpers/app.js';
import { readEvents, type StatusEvent } from '../helpers/events.js';
import { until } from '../helpers/until.js';

const redis = redisForFile();
const cleanups = redis.cleanups;

/** Timers short enough that an unanswered submit is `unknown` within a third of a second. */
const FAST = { timers: { responseMs: 300, enquireLinkMs: 5000, inactivityMs: 15000, reconnectMinMs: 50, reconnectMaxMs: 200, unbindMs: 300 } };

interface Rig extends Gateway {
  sim: SimServer;
  /** Move the message clock forward. */
  advance(ms: number): void;
  send(id: string, extra?: Record<string, unknown>): Promise<void>;
  final(id: string, timeoutMs?: number): Promise<StatusEvent>;
  resubmits(): Promise<number>;
  queries(state: string): Promise<number>;
}

async function rig(sim: { preset?: string; behaviour?: SimBehaviourPatch }, carrier: Omit<RawCarrier, 'id' | 'port'>, overrides: Record<string, unknown> = {}): Promise<Rig> {
  const s = await startSimulator({ port: 0, ...sim });
  cleanups.push(() => s.close());
  let offset = 0;
  const config = testConfig(redis.url, [{ id: 'jazz', port: s.port, ...FAST, ...carrier }], { messages: { receiptGraceSec: 0 }, ...overrides });
  const g = await startGateway(redis.url, config, cleanups, { now: () => Date.now() + offset });
  const metric = async (name: string, re: RegExp): Promise<number> => {
    const text = await g.app.metrics.registry.getSingleMetricAsString(name);
    return [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  };
  return {
    ...g,
    sim: s,
    advance: (ms) => void (offset += ms),
    send: async (id, extra = {}) => {
      await g.r.xadd(g.app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `Your code is ${id}`, class: 'otp', validity: 60, ...extra }));
    },
    final: async (id, timeoutMs = 10_000) => {
      let found: StatusEvent | undefined;
      await until(
        async () => (found = (await readEvents(g.r, g.app.keys.events)).find((e) => e.clientId === id && e.final)) !== undefined,
        timeoutMs,
        `the final event of ${id}`,
      );
      return found as StatusEvent;
    },
    resubmits: () => metric('qasid_resubmits_total', /^qasid_resubmits_total\{carrier="jazz",reason="unknown"\} (\d+)$/gm),
    queries: (state) => metric('qasid_receipt_queries_total', new RegExp(`^qasid_receipt_queries_total\\{carrier="jazz",state="${state}"\\} (\\d+)$`, 'gm')),
  };
}

const resubmitOtp = (maxResubmits: number, delaySec = 5): Record<string, unknown> => ({ dispatch: { pollMs: 50, unknownOutcome: { otp: { policy: 'resubmit', delaySec, maxResubmits } } } });

/** Waits until the record of `id` is on the due (resubmit pending) or watch set. */
async function onSet(g: Rig, set: 'due' | 'watch', what: string): Promise<void> {
  await until(async () => (await g.r.zcard(g.app.keys[set])) === 1, 5_000, what);
}

test('policy final against a black hole: one submit, watched, ends unknown at validity + grace; nothing resubmitted', async () => {
  const g = await rig({ preset: 'BlackHoleSMSC' }, {});
  await g.send('bh-final');
  await onSet(g, 'watch', 'the unanswered submit watched');
  assert.equal(g.sim.stats.submits, 1);
  g.advance(61_000);
  const e = await g.final('bh-final');
  assert.equal(e.status, 'unknown');
  assert.equal(e.reason, 'SMPP_RESPONSE_TIMEOUT');
  assert.equal(g.sim.stats.submits, 1, 'final: never sent again');
  assert.equal(await g.resubmits(), 0);
  assert.equal(g.lines.filter((l) => l.event === 'dispatch.resubmit').length, 0);
});

test('policy resubmit against a black hole: sent again after delaySec, maxResubmits times, each counted and logged; then ends unknown', async () => {
  const g = await rig({ preset: 'BlackHoleSMSC' }, {}, resubmitOtp(2));
  const planned = (n: number): Promise<void> => until(() => g.lines.filter((l) => l.event === 'dispatch.unknown' && l.plan === 'resubmit').length === n, 5_000, `resend ${n} scheduled`);
  await g.send('bh-resend');
  await planned(1);
  assert.equal(g.sim.stats.submits, 1);
  // Not before its delay.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(g.sim.stats.submits, 1, 'the resend waits out delaySec');
  g.advance(5_100);
  await until(() => g.sim.stats.submits === 2, 5_000, 'the first resend');
  await planned(2);
  g.advance(5_100);
  await until(() => g.sim.stats.submits === 3, 5_000, 'the second resend');
  await onSet(g, 'watch', 'watched once maxResubmits are spent');
  assert.equal(g.sim.stats.submits, 3);
  g.advance(61_000);
  const e = await g.final('bh-resend');
  assert.equal(e.status, 'unknown');
  assert.equal(g.sim.stats.submits, 3, 'at most maxResubmits resends');
  assert.equal(await g.resubmits(), 2, 'qasid_resubmits_total{reason="unknown"}');
  const logged = g.lines.filter((l) => l.event === 'dispatch.resubmit');
  assert.equal(logged.length, 2);
  for (const l of logged) {
    assert.equal(l.reason, 'unknown');
    assert.equal(l.carrier, 'jazz');
  }
  // Never a number or a text in the lines about it.
  const text = JSON.stringify(g.lines);
  assert.ok(!text.includes('3001234567') && !text.includes('Your code'), 'no number or text logged');
});

test('policy resubmit respects the validity: no resend that would leave with less than minValiditySec', async () => {
  const g = await rig({ preset: 'BlackHoleSMSC' }, { minValiditySec: 10 }, resubmitOtp(3, 25));
  // 30 s of validity: a resend 25 s later would leave with under 5 s, less than the minimum.
  await g.send('bh-short', { validity: 30 });
  await onSet(g, 'watch', 'watched: no time left for a resend');
  g.advance(31_000);
  const e = await g.final('bh-short');
  assert.equal(e.status, 'unknown');
  assert.equal(g.sim.stats.submits, 1);
  assert.equal(await g.resubmits(), 0);
});

// Without receipts (receipt: false), so the SMSC's PDU count is exactly bind, submit, submit.
const DROP_AT_3 = { behaviour: { dropAfterPdus: 3, receipts: { enabled: false } } };

test('a drop-after SMSC: the submit cut off with the connection is resent (policy resubmit) and accepted', async () => {
  // PDU 1 the bind, 2 the first submit (answered), 3 the second: the connection closes unanswered.
  const g = await rig(DROP_AT_3, {}, resubmitOtp(1, 2));
  await g.send('da-1', { receipt: false });
  assert.equal((await g.final('da-1')).status, 'accepted');
  await g.send('da-2', { receipt: false });
  await until(() => g.lines.some((l) => l.event === 'dispatch.unknown' && l.plan === 'resubmit'), 5_000, 'the cut-off submit scheduled for a resend');
  await g.app.links.get('jazz')?.waitAllBound(5_000);
  g.advance(2_100);
  const e = await g.final('da-2');
  assert.equal(e.status, 'accepted', 'the resend reached the carrier on the new connection');
  assert.equal(g.sim.stats.submitOk, 2);
  assert.equal(await g.resubmits(), 1);
  assert.equal(g.lines.filter((l) => l.event === 'dispatch.resubmit' && l.reason === 'unknown').length, 1);
});

test('a drop-after SMSC with policy final: the submit cut off with the connection ends unknown, sent once', async () => {
  const g = await rig(DROP_AT_3, {});
  await g.send('df-1', { class: 'transactional', receipt: false });
  assert.equal((await g.final('df-1')).status, 'accepted');
  await g.send('df-2', { class: 'transactional', receipt: false });
  await onSet(g, 'watch', 'the cut-off submit watched');
  g.advance(61_000);
  const e = await g.final('df-2');
  assert.equal(e.status, 'unknown');
  assert.equal(e.reason, 'SMPP_CONNECTION_CLOSED');
  assert.equal(await g.resubmits(), 0);
  // The simulator counts the submits it handled: the one the drop cut off is not among them, and none came after.
  assert.equal(g.sim.stats.submits, 1);
  assert.equal(g.sim.stats.submitOk, 1);
});

test('query_sm settles an accepted message without a receipt as delivered, at the watch deadline', async () => {
  const g = await rig({ preset: 'NoReceiptSMSC' }, { querySm: { enabled: true } });
  await g.send('q-dlv');
  await onSet(g, 'watch', 'accepted and watched');
  assert.equal(g.sim.stats.queries, 0, 'not asked before the deadline (delaySec 0)');
  g.advance(61_000);
  const e = await g.final('q-dlv');
  assert.equal(e.status, 'delivered');
  assert.equal(e.carrier, 'jazz');
  assert.equal(g.sim.stats.queriesAnswered, 1);
  assert.equal(await g.queries('delivered'), 1);
  assert.equal(g.lines.filter((l) => l.event === 'receipt.queried').length, 1);
  await until(async () => (await g.r.zcard(g.app.keys.watch)) === 0, 2_000, 'off the watch set');
});

test('query_sm settles it as undeliverable, with the error code the SMSC gave', async () => {
  const g = await rig({ preset: 'NoReceiptSMSC', behaviour: { receipts: { stat: 'UNDELIV' } } }, { querySm: { enabled: true } });
  await g.send('q-und');
  await onSet(g, 'watch', 'accepted and watched');
  g.advance(61_000);
  const e = await g.final('q-und');
  assert.equal(e.status, 'undeliverable');
  assert.equal(e.error, '001');
  assert.equal(await g.queries('undeliverable'), 1);
});

test('query_sm asked early (delaySec) gets ENROUTE, waits, and a bounded second question settles it', async () => {
  // The simulator says ENROUTE until its receipt would be due (1.5 s of real time).
  const g = await rig({ preset: 'NoReceiptSMSC', behaviour: { receipts: { delayMs: 1500 } } }, { querySm: { enabled: true, delaySec: 1, retrySec: 2, maxQueries: 3 } });
  await g.send('q-wait');
  await onSet(g, 'watch', 'accepted and watched');
  g.advance(1_100);
  await until(() => g.sim.stats.queries === 1, 5_000, 'the early question');
  // ENROUTE before the deadline: watched until the deadline, then asked again.
  g.advance(61_000);
  const e = await g.final('q-wait');
  assert.equal(e.status, 'delivered');
  assert.ok(g.sim.stats.queries >= 2 && g.sim.stats.queries <= 3, `queries: ${g.sim.stats.queries}`);
  assert.ok((await g.queries('enroute')) >= 1);
});

test('query_sm that gets no answer falls back to today\'s ending: expired no_receipt', async () => {
  const g = await rig({ preset: 'NoQuerySMSC' }, { querySm: { enabled: true, maxQueries: 1 } });
  await g.send('q-none');
  await onSet(g, 'watch', 'accepted and watched');
  g.advance(61_000);
  const e = await g.final('q-none');
  assert.equal(e.status, 'expired');
  assert.equal(e.reason, 'no_receipt');
  assert.equal(g.sim.stats.queries, 1);
  assert.equal(await g.queries('failed'), 1);
  assert.equal(g.lines.filter((l) => l.event === 'receipt.query_failed').length, 1);
});

test('without querySm, an accepted message without a receipt is never asked about', async () => {
  const g = await rig({ preset: 'NoReceiptSMSC' }, {});
  await g.send('q-off');
  await onSet(g, 'watch', 'accepted and watched');
  g.advance(61_000);
  const e = await g.final('q-off');
  assert.equal(e.status, 'expired');
  assert.equal(g.sim.stats.queries, 0);
});
