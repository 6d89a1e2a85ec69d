/**
 * Interop: a carrier link against an independent SMPP implementation — Perl's Net::SMPP
 * (Debian libnet-smpp-perl) acting as the SMSC — bind, submit, receipt, unbind, and
 * query_sm / query_sm_resp; and a whole gateway taking a long MO (two parts behind a UDH)
 * from it as one MO entry.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CarrierLink } from '../../src/smpp/link.js';
import { bodyString, type Pdu } from '../../src/smpp/codec.js';
import { captureLogger } from '../../src/log/logger.js';
import { testCarrier } from '../helpers/carrier.js';
import { QasidClient, type OpenedMo } from '../../src/client/index.js';
import { redisForFile } from '../helpers/redis.js';
import { startGateway, testConfig } from '../helpers/app.js';
import { until } from '../helpers/until.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/netsmpp-smsc.pl', import.meta.url));
const redis = redisForFile();

/** Start the fixture with `args`; resolves with its port once it listens. Killed after the test. */
async function netsmpp(t: TestContext, args: string[]): Promise<{ port: number; stderr: () => string; exited: Promise<number | null> }> {
  const perl = spawn('perl', [FIXTURE, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  perl.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => perl.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (perl.exitCode === null) perl.kill('SIGTERM');
  });
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: perl.stdout });
    rl.once('line', (line) => {
      const m = /^LISTENING (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`unexpected fixture output: ${line}`));
    });
    perl.once('exit', (code) => reject(new Error(`fixture exited ${code}: ${stderr}`)));
  });
  return { port, stderr: () => stderr, exited };
}

test('Net::SMPP SMSC: bind, submit_sm, delivery receipt (TLV and text), enquire_link, unbind', async (t) => {
  const fixture = await netsmpp(t, ['--once', '--receipt-delay-ms', '50']);
  const port = fixture.port;

  const receipts: Pdu[] = [];
  const { logger } = captureLogger('debug');
  const link = new CarrierLink({
    carrier: testCarrier(port, { id: 'netsmpp', timers: { enquireLinkMs: 300, responseMs: 1000, inactivityMs: 5000 } }),
    logger,
    onDeliver: async (pdu) => {
      receipts.push(pdu);
      return 0;
    },
  });
  // Stop the link even when an assertion fails, or its reconnect loop keeps the process alive.
  t.after(() => link.stop());
  await link.start();
  await link.waitAllBound(5000);
  // The fixture logs each PDU to stderr; the pipe may lag the socket a little.
  await waitFor(() => /bind_transceiver.*0x34|interface_version=0x34/.test(fixture.stderr()), 2000);
  assert.match(fixture.stderr(), /bind_transceiver.*0x34|interface_version=0x34/);

  const r = await link.submit({ source_addr: 'QASID', destination_addr: '923001234567', registered_delivery: 1, data_coding: 0, short_message: Buffer.from('interop') });
  assert.equal(r.kind, 'accepted');
  assert.ok(r.kind === 'accepted');
  assert.match(r.messageId, /^\d+$/);

  await waitFor(() => receipts.length > 0, 3000);
  assert.equal(receipts.length, 1, 'one receipt');
  const rc = receipts[0] as Pdu;
  assert.equal(rc.body.esm_class, 4);
  assert.equal(bodyString(rc, 'receipted_message_id'), r.messageId);
  assert.equal(rc.body.message_state, 2);
  const text = (rc.body.short_message as Buffer).toString('latin1');
  assert.match(text, new RegExp(`^id:${r.messageId} .*stat:DELIVRD err:000`));

  // Let at least one enquire_link go out on the idle link.
  await new Promise((res) => setTimeout(res, 700));
  await link.stop();
  const code = await fixture.exited;
  assert.equal(code, 0, fixture.stderr());
  assert.match(fixture.stderr(), /<- enquire_link\b/);
  assert.match(fixture.stderr(), /<- unbind\b/);
  assert.match(fixture.stderr(), /deliver_sm_resp=1\b/);
});

test('Net::SMPP SMSC: a two-part long MO (UDH, 8-bit reference) reaches the MO stream as one reassembled entry', async (t) => {
  const text = 'Salaam, my parcel did not arrive today; please send it again to the same address tomorrow.';
  const fixture = await netsmpp(t, ['--mo', `923001234567:8555:${text}`, '--mo-parts', '2']);
  const cleanups = redis.cleanups;
  const config = testConfig(redis.url, [{ id: 'netsmpp', port: fixture.port }]);
  const { app, r } = await startGateway(redis.url, config, cleanups);
  const client = new QasidClient(r, { prefix: config.redis.prefix, keyring: app.vault.keyring });
  await until(async () => (await r.xlen(app.keys.mo)) >= 1, 5000, () => `the MO entry (fixture: ${fixture.stderr()})`);
  await new Promise((res) => setTimeout(res, 200));
  const mos = (await client.readMo()).map(({ mo }) => mo as OpenedMo);
  assert.equal(mos.length, 1, 'one entry, not one per part');
  const mo = mos[0] as OpenedMo;
  assert.deepEqual([mo.text, mo.parts, mo.partial, mo.from, mo.to, mo.carrier], [text, 2, undefined, '+923001234567', '8555', 'netsmpp']);
  assert.match(fixture.stderr(), /-> deliver_sm seq=\d+ MO .*part=1\/2/);
  assert.match(fixture.stderr(), /-> deliver_sm seq=\d+ MO .*part=2\/2/);
  await app.stop();
  await until(() => /mo_resp=2\b/.test(fixture.stderr()), 3000, () => `the fixture to count both MO responses: ${fixture.stderr()}`);
});

for (const [state, name] of [
  [2, 'DELIVERED'],
  [5, 'UNDELIVERABLE'],
] as const) {
  test(`Net::SMPP SMSC: query_sm about an accepted message is answered query_sm_resp message_state ${state} (${name}); an unknown id ESME_RQUERYFAIL`, async (t) => {
    const perl = await netsmpp(t, ['--once', '--query-state', String(state)]);
    const { logger } = captureLogger('warn');
    const link = new CarrierLink({ carrier: testCarrier(perl.port, { id: 'netsmpp', timers: { responseMs: 1000, enquireLinkMs: 3000, inactivityMs: 5000 } }), logger, onDeliver: async () => 0 });
    t.after(() => link.stop());
    await link.start();
    await link.waitAllBound(5000);
    const r = await link.submit({ source_addr: 'QASID', source_addr_ton: 5, source_addr_npi: 0, destination_addr: '923001234567', registered_delivery: 0, data_coding: 0, short_message: Buffer.from('interop') });
    assert.ok(r.kind === 'accepted', r.kind);
    const q = await link.query(r.messageId, { ton: 5, npi: 0, addr: 'QASID' });
    assert.ok(q.kind === 'answered', JSON.stringify(q));
    assert.equal(q.messageState, state);
    assert.equal(q.errorCode, state === 2 ? 0 : 1);
    assert.ok(q.finalDate !== undefined && q.finalDate !== '', 'final_date read');
    const unknown = await link.query('999999', { ton: 5, npi: 0, addr: 'QASID' });
    assert.deepEqual(unknown, { kind: 'failed', error: 'ESME_RQUERYFAIL' });
    await link.stop();
    assert.equal(await perl.exited, 0, perl.stderr());
    assert.match(perl.stderr(), new RegExp(`<- query_sm seq=\\d+ message_id=${r.messageId} src=QASID`));
    assert.match(perl.stderr(), /query_sm=2\b/);
  });
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
}
