/**
 * Interop: a carrier link against an independent SMPP implementation — Perl's Net::SMPP
 * (Debian libnet-smpp-perl) acting as the SMSC — bind, submit, receipt, unbind, and
 * query_sm / query_sm_resp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CarrierLink } from '../../src/smpp/link.js';
import { bodyString, type Pdu } from '../../src/smpp/codec.js';
import { captureLogger } from '../../src/log/logger.js';
import { testCarrier } from '../helpers/carrier.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/netsmpp-smsc.pl', import.meta.url));

test('Net::SMPP SMSC: bind, submit_sm, delivery receipt (TLV and text), enquire_link, unbind', async (t) => {
  const perl = spawn('perl', [FIXTURE, '--port', '0', '--once', '--receipt-delay-ms', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  await waitFor(() => /bind_transceiver.*0x34|interface_version=0x34/.test(stderr), 2000);
  assert.match(stderr, /bind_transceiver.*0x34|interface_version=0x34/);

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
  const code = await exited;
  assert.equal(code, 0, stderr);
  assert.match(stderr, /<- enquire_link\b/);
  assert.match(stderr, /<- unbind\b/);
  assert.match(stderr, /deliver_sm_resp=1\b/);
});

/** Start the fixture with `args`; resolves with its port, its stderr so far, and its exit. */
async function fixture(t: { after(fn: () => void): void }, args: string[]): Promise<{ port: number; stderr: () => string; exited: Promise<number | null> }> {
  const perl = spawn('perl', [FIXTURE, '--port', '0', '--once', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

for (const [state, name] of [
  [2, 'DELIVERED'],
  [5, 'UNDELIVERABLE'],
] as const) {
  test(`Net::SMPP SMSC: query_sm about an accepted message is answered query_sm_resp message_state ${state} (${name}); an unknown id ESME_RQUERYFAIL`, async (t) => {
    const perl = await fixture(t, ['--query-state', String(state)]);
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
