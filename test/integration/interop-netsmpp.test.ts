/**
 * Interop: a carrier link against an independent SMPP implementation — Perl's Net::SMPP
 * (Debian libnet-smpp-perl) acting as the SMSC — bind, submit, receipt, unbind.
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

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
}
