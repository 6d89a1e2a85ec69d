/** TLS binds: verification is on by default; a trusted CA passes, an unknown one fails. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../../src/sim/index.js';
import { CarrierLink } from '../../src/smpp/link.js';
import { captureLogger } from '../../src/log/logger.js';
import { testCarrier } from '../helpers/carrier.js';

const tlsDir = (f: string): string => fileURLToPath(new URL(`../fixtures/tls/${f}`, import.meta.url));
const stops: Array<() => Promise<void>> = [];
after(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
});

async function tlsSim(certName: 'server' | 'untrusted'): Promise<number> {
  const s = await startSimulator({ port: 0, preset: 'HappySMSC', tls: { key: readFileSync(tlsDir(`${certName}.key`)), cert: readFileSync(tlsDir(`${certName}.pem`)) } });
  stops.push(() => s.close());
  return s.port;
}

function tlsLink(port: number, host = '127.0.0.1'): CarrierLink {
  const { logger } = captureLogger('info');
  const l = new CarrierLink({ carrier: testCarrier(port, { host, tls: { enabled: true, caFile: tlsDir('ca.pem') } }), logger });
  stops.push(() => l.stop());
  return l;
}

test('a TLS bind succeeds against a certificate signed by the trusted test CA (by IP and by name)', async () => {
  const port = await tlsSim('server');
  for (const host of ['127.0.0.1', 'localhost']) {
    const l = tlsLink(port, host);
    await l.start();
    await l.waitAllBound(3000);
    const r = await l.submit({ source_addr: 'QASID', destination_addr: '923001234567', short_message: Buffer.from('tls') });
    assert.equal(r.kind, 'accepted');
    await l.stop();
  }
});

test('a TLS bind fails against an untrusted certificate, and keeps failing', async () => {
  const port = await tlsSim('untrusted');
  const l = tlsLink(port);
  await l.start();
  const deadline = Date.now() + 3000;
  while ((l.health().sessions[0]?.connects ?? 0) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const h = l.health().sessions[0];
  assert.ok((h?.connects ?? 0) >= 2, 'it retried');
  assert.equal(l.isUp(), false);
  assert.match(h?.lastError?.message ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|self.signed|certificate/i);
});

test('verification is on unless a carrier turns it off explicitly', async () => {
  const port = await tlsSim('untrusted');
  const { logger } = captureLogger('info');
  const l = new CarrierLink({ carrier: testCarrier(port, { tls: { enabled: true, rejectUnauthorized: false } }), logger });
  stops.push(() => l.stop());
  await l.start();
  await l.waitAllBound(3000);
  assert.ok(l.isUp());
});
