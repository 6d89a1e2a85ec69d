/**
 * Carrier links against the simulator over real TCP, one named SMSC behaviour per test.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { Framer } from '../../src/smpp/framer.js';
import { decodePdu, encodeResponse } from '../../src/smpp/codec.js';
import { startSimulator, type SimServer, type SimBehaviourPatch } from '../../src/sim/index.js';
import { CarrierLink, type SubmitResult } from '../../src/smpp/link.js';
import type { DeliverHandler } from '../../src/smpp/session.js';
import { captureLogger } from '../../src/log/logger.js';
import { testCarrier, type TestCarrierOverrides } from '../helpers/carrier.js';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function sim(preset: string, behaviour?: SimBehaviourPatch): Promise<SimServer> {
  const s = await startSimulator({ port: 0, preset, behaviour });
  cleanups.push(() => s.close());
  return s;
}

function link(port: number, o: TestCarrierOverrides = {}, onDeliver?: DeliverHandler): { link: CarrierLink; lines: Array<Record<string, unknown>> } {
  const { logger, lines } = captureLogger('debug');
  const l = new CarrierLink({ carrier: testCarrier(port, o), logger, onDeliver });
  cleanups.push(() => l.stop());
  return { link: l, lines };
}

const submitBody = (n = 0): Record<string, unknown> => ({
  source_addr: 'QASID',
  destination_addr: `92300${String(1000000 + n)}`,
  registered_delivery: 1,
  data_coding: 0,
  short_message: Buffer.from(`test ${n}`),
});

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('HappySMSC: every session of two carriers binds (TRX pair and TX+RX pair), with interface_version 0x34', async () => {
  const a = await sim('HappySMSC');
  const b = await sim('HappySMSC');
  const { link: jazz } = link(a.port, { id: 'jazz', sessions: 2, systemId: 'jazz' });
  const { link: zong } = link(b.port, { id: 'zong', bindMode: 'tx+rx', sessions: 1, systemId: 'zong' });
  await Promise.all([jazz.start(), zong.start()]);
  await Promise.all([jazz.waitAllBound(3000), zong.waitAllBound(3000)]);
  assert.deepEqual(a.boundSessions().map((s) => s.mode).sort(), ['transceiver', 'transceiver']);
  assert.deepEqual(b.boundSessions().map((s) => s.mode).sort(), ['receiver', 'transmitter']);
  for (const s of [...a.boundSessions(), ...b.boundSessions()]) assert.equal(s.interfaceVersion, 0x34);
  const health = [jazz.health(), zong.health()];
  assert.deepEqual(health.map((h) => [h.carrier, h.sessionsBound, h.sessionsTotal, h.up]), [['jazz', 2, 2, true], ['zong', 2, 2, true]]);
  const r = await zong.submit(submitBody());
  assert.equal(r.kind, 'accepted');

  await Promise.all([jazz.stop(), zong.stop()]);
  // Stop unbinds every session politely.
  assert.equal(a.stats.unbinds + b.stats.unbinds, 4);
  for (const h of [jazz.health(), zong.health()]) for (const s of h.sessions) assert.equal(s.state, 'stopped');
});

test('HappySMSC: submit is accepted with the message id; the receipt reaches the deliver handler and is acknowledged', async () => {
  const s = await sim('HappySMSC');
  const receipts: Array<Record<string, unknown>> = [];
  const { link: l } = link(s.port, {}, async (pdu) => {
    receipts.push({ id: pdu.body.receipted_message_id, state: pdu.body.message_state, esm: pdu.body.esm_class });
    return 0;
  });
  await l.start();
  await l.waitAllBound(3000);
  const r = await l.submit(submitBody());
  assert.equal(r.kind, 'accepted');
  assert.ok(r.kind === 'accepted' && r.messageId.length > 0);
  await until(() => receipts.length === 1 && s.stats.receiptsAcked === 1, 2000, 'the receipt');
  assert.deepEqual(receipts[0], { id: (r as Extract<SubmitResult, { kind: 'accepted' }>).messageId, state: 2, esm: 4 });
});

test('a deliver handler that fails answers ESME_RX_T_APPN so the SMSC redelivers; nothing is acknowledged that was not recorded', async () => {
  const s = await sim('HappySMSC');
  let calls = 0;
  const { link: l } = link(s.port, {}, async () => {
    calls++;
    throw new Error('store down');
  });
  await l.start();
  await l.waitAllBound(3000);
  assert.equal(s.injectMo({ from: '923001234567', to: '8080', text: 'STOP' }), 1);
  await until(() => s.stats.deliverResps === 1, 2000, 'deliver_sm_resp');
  assert.equal(calls, 1);
  assert.equal(s.stats.deliverRespStatus['ESME_RX_T_APPN'], 1);
});

test('a deliver_sm that arrives while unbinding is recorded before stop() resolves (the stores are still open)', async () => {
  const s = await sim('HappySMSC');
  let recorded = 0;
  const { link: l } = link(s.port, {}, async () => {
    // A slow store: the unbind_resp comes back long before this finishes.
    await new Promise((r) => setTimeout(r, 300));
    recorded++;
    return 0;
  });
  await l.start();
  await l.waitAllBound(3000);
  const stopped = l.stop();
  // The unbind is on its way; the simulator has not read it yet, so this MO goes out first.
  assert.equal(s.injectMo({ from: '923001234567', to: '8080', text: 'STOP' }), 1);
  await stopped;
  assert.equal(s.stats.unbinds, 1, 'it unbound');
  assert.equal(recorded, 1, 'the MO taken during the unbind was recorded before stop() returned');
});

test('DropAfterSMSC: the link reconnects after the SMSC drops it; requests in flight come back as unknown or not_sent, never lost', async () => {
  const s = await sim('DropAfterSMSC', { dropAfterPdus: 4 });
  const { link: l, lines } = link(s.port);
  await l.start();
  await l.waitAllBound(3000);
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => l.submit(submitBody(i))));
  const kinds = results.map((r) => r.kind);
  // The bind plus 2 submits were answered; the 3rd submit's arrival dropped the connection.
  assert.equal(kinds.filter((k) => k === 'accepted').length, 2, kinds.join());
  assert.ok(kinds.every((k) => k === 'accepted' || k === 'unknown' || k === 'not_sent'), kinds.join());
  assert.ok(kinds.includes('unknown'), 'a submit written to a dropped socket has an unknown outcome');
  assert.ok(lines.some((x) => x.event === 'session.inflight_returned'));
  await until(() => l.health().sessions[0]?.reconnects === 1 && l.isUp(), 3000, 'reconnect');
  s.setBehaviour({ dropAfterPdus: 0 });
  s.dropAll();
  await until(() => (l.health().sessions[0]?.reconnects ?? 0) >= 2 && l.isUp(), 3000, 'second reconnect');
  assert.equal((await l.submit(submitBody())).kind, 'accepted');
  const states = lines.filter((x) => x.event === 'session.state').map((x) => x.msg);
  assert.ok(states.includes('bound -> backoff') && states.includes('backoff -> connecting'), states.join(', '));
});

test('SlowSMSC: a full window makes the next submit wait for a free slot', async () => {
  const s = await sim('SlowSMSC', { responseDelayMs: 300 });
  const { link: l } = link(s.port, { window: 2, timers: { responseMs: 2000, enquireLinkMs: 4000, inactivityMs: 8000 } });
  await l.start();
  await l.waitAllBound(3000);
  const started = Date.now();
  const p = [0, 1, 2].map((i) => l.submit(submitBody(i)).then((r) => ({ r, at: Date.now() - started })));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.stats.submits, 2, 'only a window of submits reaches the SMSC');
  assert.equal(l.health().sessions[0]?.waiting, 1);
  assert.equal(l.capacity(), 0);
  const done = await Promise.all(p);
  assert.deepEqual(done.map((d) => d.r.kind), ['accepted', 'accepted', 'accepted']);
  assert.ok((done[2]?.at ?? 0) >= 550, `third submit waited for a slot (${done[2]?.at} ms)`);
});

test('BlackHoleSMSC: an unanswered submit times out as "outcome unknown"; the session stays bound', async () => {
  const s = await sim('BlackHoleSMSC');
  const { link: l, lines } = link(s.port, { timers: { responseMs: 300 } });
  await l.start();
  await l.waitAllBound(3000);
  const t0 = Date.now();
  const r = await l.submit(submitBody());
  const took = Date.now() - t0;
  assert.equal(r.kind, 'unknown');
  assert.ok(r.kind === 'unknown' && r.error.code === 'SMPP_RESPONSE_TIMEOUT');
  assert.ok(took >= 300 && took < 1000, `timed out after ${took} ms`);
  assert.ok(lines.some((x) => x.event === 'session.request_timeout'));
  assert.ok(l.isUp());
  assert.equal(l.capacity(), 10, 'the timed-out request gave its slot back');
});

test('ThrottledSMSC: ESME_RTHROTTLED is surfaced as "slow down"', async () => {
  const s = await sim('ThrottledSMSC', { tps: 5 });
  const { link: l } = link(s.port, { window: 50 });
  await l.start();
  await l.waitAllBound(3000);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => l.submit(submitBody(i))));
  const throttled = results.filter((r) => r.kind === 'rejected');
  assert.ok(throttled.length >= 10, `${throttled.length} throttled`);
  for (const r of throttled) {
    assert.ok(r.kind === 'rejected');
    assert.equal(r.action, 'slowdown');
    assert.equal(r.statusName, 'ESME_RTHROTTLED');
  }
  assert.equal(throttled.length, s.stats.throttled);
});

test('ErrorOnSubmitSMSC: a temporary SMSC error is classified retry', async () => {
  const s = await sim('ErrorOnSubmitSMSC');
  const { link: l } = link(s.port);
  await l.start();
  await l.waitAllBound(3000);
  const r = await l.submit(submitBody());
  assert.ok(r.kind === 'rejected' && r.action === 'retry' && r.statusName === 'ESME_RSYSERR', JSON.stringify(r));
});

test('MalformedSMSC: an impossible command_length recycles the session without crashing the process; a bad body in an intact frame does not', async () => {
  const s = await sim('HappySMSC');
  const { link: l, lines } = link(s.port);
  await l.start();
  await l.waitAllBound(3000);
  // command_length 5 cannot be a PDU: the stream is unusable and must be dropped.
  s.sendRawToAll(Buffer.from('0000000500000000', 'hex'));
  await until(() => l.health().sessions[0]?.lastError?.code === 'SMPP_FRAME_INVALID', 2000, 'the frame error');
  assert.ok(lines.some((x) => x.event === 'session.closed' && x.code === 'SMPP_FRAME_INVALID'));
  await until(() => l.isUp(), 3000, 'rebind');
  assert.equal((await l.submit(submitBody())).kind, 'accepted');
  // A bad body in a frame of the right length is not: the stream is still in step. A
  // one-byte TLV (message_state) with length 0 is left out and counted; the session stays.
  s.sendRawToAll(Buffer.from('00000014800000150000000000000001' + '04270000', 'hex'));
  await until(() => l.health().sessions[0]?.faults.tlv_skipped === 1, 2000, 'the skipped TLV');
  assert.equal(l.health().sessions[0]?.reconnects, 1);
  assert.equal((await l.submit(submitBody())).kind, 'accepted');
});

test('SilentSMSC: enquire_link goes unanswered and the session is recycled', async () => {
  const s = await sim('SilentSMSC');
  const { link: l, lines } = link(s.port, { timers: { responseMs: 150, enquireLinkMs: 200, inactivityMs: 2000 } });
  await l.start();
  await l.waitAllBound(3000);
  await until(() => lines.some((x) => x.event === 'session.closed' && x.code === 'SMPP_ENQUIRE_LINK_TIMEOUT'), 2000, 'enquire_link timeout');
  assert.ok(s.stats.blackholed >= 1, 'the SMSC swallowed our enquire_link');
});

test('HappySMSC: an idle session sends enquire_link and stays bound', async () => {
  const s = await sim('HappySMSC');
  const { link: l } = link(s.port, { timers: { responseMs: 100, enquireLinkMs: 150, inactivityMs: 1000 } });
  await l.start();
  await l.waitAllBound(3000);
  await new Promise((r) => setTimeout(r, 700));
  assert.ok(s.stats.enquireLinks >= 3, `${s.stats.enquireLinks} enquire_links`);
  assert.equal(l.health().sessions[0]?.reconnects, 0);
  assert.ok(l.isUp());
});

test('reconnects are jittered from the first one: 32 sessions dropped at once come back spread over [min, 2 min], never in lockstep', async () => {
  const s = await sim('HappySMSC');
  const min = 200;
  const max = 2000;
  const { link: l, lines } = link(s.port, { sessions: 32, timers: { reconnectMinMs: min, reconnectMaxMs: max } });
  await l.start();
  await l.waitAllBound(5000);
  s.dropAll(); // an SMSC restart, as every session sees it
  await until(() => lines.filter((x) => x.event === 'session.reconnect_scheduled').length >= 32, 3000, 'every session to schedule its reconnect');
  const first = new Map<string, number>();
  for (const x of lines) if (x.event === 'session.reconnect_scheduled' && !first.has(String(x.session))) first.set(String(x.session), Number(x.delayMs));
  const delays = [...first.values()];
  assert.equal(delays.length, 32, 'one first reconnect per session');
  for (const d of delays) assert.ok(d >= min && d <= Math.min(max, 2 * min), `delay ${d} outside [${min}, ${2 * min}]`);
  // 32 draws from a 200 ms span: all but certainly more than a handful of distinct values.
  assert.ok(new Set(delays).size >= 16, `first reconnect delays: ${delays.join(', ')}`);
  assert.ok(Math.max(...delays) - Math.min(...delays) >= min / 4, `spread ${Math.max(...delays) - Math.min(...delays)} ms`);
  await until(() => l.health().sessionsBound === 32, 5000, 'every session to rebind');
});

test('UnbindOnSubmitSMSC: an unbind from the SMSC is answered and the session rebinds', async () => {
  const s = await sim('UnbindOnSubmitSMSC');
  const { link: l, lines } = link(s.port);
  await l.start();
  await l.waitAllBound(3000);
  assert.equal((await l.submit(submitBody())).kind, 'accepted');
  await until(() => lines.some((x) => x.event === 'session.peer_unbind'), 2000, 'peer unbind');
  await until(() => (l.health().sessions[0]?.reconnects ?? 0) >= 1 && l.isUp(), 3000, 'rebind');
});

test('BindFailSMSC: a rejected bind is retried with backoff and the reason is visible', async () => {
  const s = await sim('BindFailSMSC');
  const { link: l, lines } = link(s.port, { timers: { reconnectMinMs: 20, reconnectMaxMs: 100 } });
  await l.start();
  await until(() => (l.health().sessions[0]?.connects ?? 0) >= 3, 3000, 'bind retries');
  const h = l.health().sessions[0];
  assert.equal(h?.lastError?.code, 'SMPP_BIND_REJECTED');
  assert.match(h?.lastError?.message ?? '', /ESME_RBINDFAIL/);
  assert.equal(l.isUp(), false);
  const r = await l.submit(submitBody());
  assert.ok(r.kind === 'not_sent' && r.error.code === 'SMPP_NOT_BOUND');
  assert.ok(lines.some((x) => x.event === 'session.bind_failed'));
  assert.ok(s.stats.bindFailures >= 2, `${s.stats.bindFailures} bind failures at the SMSC`);
  assert.ok(!JSON.stringify(lines).includes('"secret"'), 'the password never reaches a log line');
});

test('a peer that stops reading: writes wait for drain, and a socket that never drains recycles the session', async () => {
  // A raw SMSC that answers the bind, then never reads another byte.
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    const f = new Framer();
    sock.on('data', (chunk) => {
      for (const frame of f.push(chunk).frames) {
        const pdu = decodePdu(frame);
        if (pdu.command.startsWith('bind_')) {
          sock.write(encodeResponse(pdu, 0, { system_id: 'stuck' }));
          sock.pause();
        }
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        // The paused sockets would never see our close; destroy them so close() can finish.
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  const { link: l, lines } = link(port, { window: 400, timers: { drainMs: 300, responseMs: 5000, enquireLinkMs: 8000, inactivityMs: 20000 } });
  await l.start();
  await l.waitAllBound(3000);
  const big = Buffer.alloc(60_000, 0x41); // message_payload, so each PDU is ~60 KB
  const results = await Promise.all(
    Array.from({ length: 400 }, (_, i) => l.submit({ source_addr: 'QASID', destination_addr: `92300${1000000 + i}`, message_payload: big })),
  );
  assert.equal(l.health().sessions[0]?.lastError?.code, 'SMPP_WRITE_STALLED');
  assert.ok(lines.some((x) => x.event === 'session.closed' && x.code === 'SMPP_WRITE_STALLED'));
  const kinds = new Set(results.map((r) => r.kind));
  assert.ok([...kinds].every((k) => k === 'unknown' || k === 'not_sent'), [...kinds].join());
  assert.ok(kinds.has('not_sent'), 'PDUs still queued behind the full socket were never written');
  assert.ok(kinds.has('unknown'), 'PDUs handed to the socket have an unknown outcome');
});
