/**
 * The SMSC simulator over real TCP, driven by a tiny raw SMPP client written here
 * (net socket + Framer + codec) so the simulator is checked independently of the
 * gateway's session code.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { FLAGS, simCommand, simUsage } from '../../src/cli/sim.js';
import { PRESETS, resolvePreset, startSimulator, type SimListenerOptions, type SimServer } from '../../src/sim/index.js';
import { bodyBuffer, bodyNumber, bodyString, decodePdu, encodePdu, type Pdu } from '../../src/smpp/codec.js';
import { Framer } from '../../src/smpp/framer.js';

const SENDER = 'QASID';
const HANDSET = '923001234567';

class RawClient {
  readonly pdus: Pdu[] = [];
  frameError = false;
  /** Answer every deliver_sm with deliver_sm_resp, as a well-behaved ESME does. */
  autoAck = true;
  readonly closed: Promise<void>;
  private readonly framer = new Framer();
  private seq = 0;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const { frames, error } = this.framer.push(chunk);
      if (error) {
        this.frameError = true;
        socket.destroy();
      }
      for (const f of frames) {
        const pdu = decodePdu(f);
        this.pdus.push(pdu);
        if (this.autoAck && pdu.command === 'deliver_sm') this.socket.write(encodePdu('deliver_sm_resp', pdu.seq, { message_id: '' }));
      }
      for (const l of this.listeners) l();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Resolves when the connection closes; rejects if it is still open after timeoutMs. */
  closedWithin(timeoutMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([this.closed, timeout]).finally(() => clearTimeout(timer));
  }

  static async connect(t: TestContext, port: number, secure = false): Promise<RawClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = secure ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(s)) : net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new RawClient(socket);
    t.after(() => socket.destroy());
    return c;
  }

  send(command: string, body: Record<string, unknown> = {}): number {
    const seq = ++this.seq;
    this.socket.write(encodePdu(command, seq, body));
    return seq;
  }

  submit(body: Record<string, unknown> = {}): number {
    return this.send('submit_sm', { source_addr: SENDER, destination_addr: HANDSET, registered_delivery: 1, short_message: Buffer.from('hello from qasid tests'), ...body });
  }

  async bind(mode: 'transmitter' | 'receiver' | 'transceiver' = 'transceiver', systemId = 'qasid', password = 'secret'): Promise<Pdu> {
    const seq = this.send(`bind_${mode}`, { system_id: systemId, password, interface_version: 0x34 });
    return this.response(seq, `bind_${mode}_resp`);
  }

  /** The first PDU (whole history) matching pred, waiting up to timeoutMs for it. */
  waitFor(pred: (p: Pdu) => boolean, timeoutMs = 2000, what = 'PDU'): Promise<Pdu> {
    const found = this.pdus.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const check = (): void => {
        const p = this.pdus.find(pred);
        if (!p) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(p);
      };
      this.listeners.add(check);
    });
  }

  response(seq: number, command: string, timeoutMs = 2000): Promise<Pdu> {
    return this.waitFor((p) => p.seq === seq && p.command === command, timeoutMs, `${command} seq ${seq}`);
  }

  count(command: string): number {
    return this.pdus.filter((p) => p.command === command).length;
  }
}

async function sim(t: TestContext, opts: SimListenerOptions = {}): Promise<SimServer> {
  const s = await startSimulator(opts);
  t.after(() => s.close());
  return s;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function eventually(check: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function receiptText(p: Pdu): string {
  return (bodyBuffer(p, 'short_message') ?? Buffer.alloc(0)).toString('latin1');
}

describe('SMSC simulator: session basics', { timeout: 10_000 }, () => {
  test('bind, enquire_link, unbind', async (t) => {
    const s = await sim(t);
    const c = await RawClient.connect(t, s.port);
    const bind = await c.bind('transceiver', 'acme');
    assert.equal(bind.status, 0);
    assert.equal(bodyString(bind, 'system_id'), 'qasid-sim');
    assert.deepEqual(s.boundSessions(), [{ systemId: 'acme', mode: 'transceiver', interfaceVersion: 0x34 }]);
    const el = await c.response(c.send('enquire_link'), 'enquire_link_resp');
    assert.equal(el.status, 0);
    const ub = await c.response(c.send('unbind'), 'unbind_resp');
    assert.equal(ub.status, 0);
    await c.closedWithin();
    assert.equal(s.stats.enquireLinks, 1);
    assert.equal(s.stats.unbinds, 1);
    await eventually(() => s.connections() === 0, 1000, 'connection gone');
  });

  test('submit_sm before bind and on a receiver gets ESME_RINVBNDSTS', async (t) => {
    const s = await sim(t);
    const c = await RawClient.connect(t, s.port);
    assert.equal((await c.response(c.submit(), 'submit_sm_resp')).status, 0x04);
    await c.bind('receiver');
    assert.equal((await c.response(c.submit(), 'submit_sm_resp')).status, 0x04);
    assert.equal(s.stats.submitErrors.ESME_RINVBNDSTS, 2);
  });

  test('a second bind on the same connection gets ESME_RALYBND', async (t) => {
    const s = await sim(t);
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    assert.equal((await c.bind()).status, 0x05);
  });

  test('unknown command gets generic_nack ESME_RINVCMDID', async (t) => {
    const s = await sim(t);
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const raw = Buffer.alloc(16);
    raw.writeUInt32BE(16, 0);
    raw.writeUInt32BE(0x00000777, 4);
    raw.writeUInt32BE(99, 12);
    c.socket.write(raw);
    const nack = await c.response(99, 'generic_nack');
    assert.equal(nack.status, 0x03);
    assert.equal(s.stats.genericNacksSent, 1);
  });

  test('a client frame with an impossible length closes the connection', async (t) => {
    const s = await sim(t);
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    c.socket.write(Buffer.from('0000000500000004', 'hex'));
    await c.closedWithin();
    assert.equal(s.stats.protocolErrors, 1);
  });

  test('bind fail and credentials', async (t) => {
    const s = await sim(t, { preset: 'BindFailSMSC' });
    const c = await RawClient.connect(t, s.port);
    assert.equal((await c.bind()).status, 0x0d);
    s.setBehaviour({ bindFail: null, credentials: { systemId: 'acme', password: 'right' } });
    assert.equal((await c.bind('transceiver', 'acme', 'wrong')).status, 0x0e);
    assert.equal((await c.bind('transceiver', 'other', 'right')).status, 0x0e);
    assert.equal((await c.bind('transceiver', 'acme', 'right')).status, 0);
    assert.equal(s.stats.bindFailures, 3);
    assert.equal(s.stats.binds, 1);
  });
});

describe('SMSC simulator: submit and receipts', { timeout: 10_000 }, () => {
  test('message_id in each format', async (t) => {
    const s = await sim(t, { behaviour: { receipts: { enabled: false } } });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const decimal = bodyString(await c.response(c.submit(), 'submit_sm_resp'), 'message_id') ?? '';
    assert.match(decimal, /^[0-9]+$/);
    s.setBehaviour({ messageIdFormat: 'hex' });
    const hex = bodyString(await c.response(c.submit(), 'submit_sm_resp'), 'message_id') ?? '';
    assert.match(hex, /^[0-9a-f]*[a-f][0-9a-f]*$/);
    assert.equal(parseInt(hex, 16), Number(decimal) + 1);
    s.setBehaviour({ messageIdFormat: 'uuid' });
    const uuid = bodyString(await c.response(c.submit(), 'submit_sm_resp'), 'message_id') ?? '';
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(s.stats.submitOk, 3);
  });

  test('HappySMSC receipt carries TLVs and text with the same id, addresses swapped', async (t) => {
    const s = await sim(t, { preset: 'happy' });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const resp = await c.response(c.submit(), 'submit_sm_resp');
    const id = bodyString(resp, 'message_id');
    const dlr = await c.waitFor((p) => p.command === 'deliver_sm', 2000, 'receipt');
    assert.equal(bodyNumber(dlr, 'esm_class'), 0x04);
    assert.equal(bodyString(dlr, 'receipted_message_id'), id);
    assert.equal(bodyNumber(dlr, 'message_state'), 2);
    assert.equal(bodyString(dlr, 'source_addr'), HANDSET);
    assert.equal(bodyString(dlr, 'destination_addr'), SENDER);
    assert.match(receiptText(dlr), new RegExp(`^id:${id} sub:001 dlvrd:001 submit date:\\d{10} done date:\\d{10} stat:DELIVRD err:000 text:hello from qasid tes$`));
    assert.ok(c.pdus.indexOf(dlr) > c.pdus.indexOf(resp), 'receipt after response');
    await eventually(() => s.stats.receiptsAcked === 1, 1000, 'receipt acked');
    assert.equal(s.stats.receiptsSent, 1);
  });

  test('no receipt unless registered_delivery asks for one', async (t) => {
    const s = await sim(t, { behaviour: { receipts: { delayMs: 0 } } });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    await c.response(c.submit({ registered_delivery: 0 }), 'submit_sm_resp');
    await sleep(50);
    assert.equal(c.count('deliver_sm'), 0);
    await c.response(c.submit({ registered_delivery: 2 }), 'submit_sm_resp');
    await c.waitFor((p) => p.command === 'deliver_sm', 1000, 'receipt for registered_delivery 2');
  });

  test('hex ids in the response, the same number in decimal in the receipt', async (t) => {
    const s = await sim(t, { preset: 'HexIdsDecimalReceiptsSMSC' });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const hex = bodyString(await c.response(c.submit(), 'submit_sm_resp'), 'message_id') ?? '';
    assert.match(hex, /[a-f]/);
    const dlr = await c.waitFor((p) => p.command === 'deliver_sm');
    const decimal = String(parseInt(hex, 16));
    assert.equal(bodyString(dlr, 'receipted_message_id'), decimal);
    assert.match(receiptText(dlr), new RegExp(`^id:${decimal} `));
  });

  test('text-only and TLV-only receipts, undeliverable every Nth', async (t) => {
    const s = await sim(t, { behaviour: { receipts: { format: 'text', delayMs: 0, undeliverableEvery: 2 } } });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    c.submit();
    c.submit();
    await eventually(() => c.count('deliver_sm') === 2, 1000, 'two receipts');
    const [first, second] = c.pdus.filter((p) => p.command === 'deliver_sm') as [Pdu, Pdu];
    assert.equal(first.body.receipted_message_id, undefined);
    assert.match(receiptText(first), /stat:DELIVRD err:000/);
    assert.match(receiptText(second), /dlvrd:000 .* stat:UNDELIV err:001/);
    s.setBehaviour({ receipts: { format: 'tlv', undeliverableEvery: 0, stat: 'EXPIRED' } });
    c.submit();
    await eventually(() => c.count('deliver_sm') === 3, 1000, 'third receipt');
    const third = c.pdus.filter((p) => p.command === 'deliver_sm')[2] as Pdu;
    assert.equal(bodyNumber(third, 'message_state'), 3);
    assert.equal(bodyBuffer(third, 'short_message')?.length ?? 0, 0);
  });

  test('early receipt arrives before the submit_sm_resp', async (t) => {
    const s = await sim(t, { preset: 'EarlyReceiptSMSC' });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const resp = await c.response(c.submit(), 'submit_sm_resp');
    const dlr = await c.waitFor((p) => p.command === 'deliver_sm');
    assert.equal(bodyString(dlr, 'receipted_message_id'), bodyString(resp, 'message_id'));
    assert.ok(c.pdus.indexOf(dlr) < c.pdus.indexOf(resp), 'receipt before response');
  });

  test('TX+RX pair: the receipt goes to the receiver of the same system_id, held until one binds', async (t) => {
    const s = await sim(t, { behaviour: { receipts: { delayMs: 0 } } });
    const tx = await RawClient.connect(t, s.port);
    await tx.bind('transmitter', 'acme');
    const other = await RawClient.connect(t, s.port);
    await other.bind('receiver', 'someone-else');
    const id = bodyString(await tx.response(tx.submit(), 'submit_sm_resp'), 'message_id');
    await eventually(() => s.stats.receiptsHeld === 1, 1000, 'receipt held');
    const rx = await RawClient.connect(t, s.port);
    await rx.bind('receiver', 'acme');
    const dlr = await rx.waitFor((p) => p.command === 'deliver_sm');
    assert.equal(bodyString(dlr, 'receipted_message_id'), id);
    assert.equal(s.stats.receiptsHeld, 0);
    const id2 = bodyString(await tx.response(tx.submit(), 'submit_sm_resp'), 'message_id');
    await rx.waitFor((p) => p.command === 'deliver_sm' && bodyString(p, 'receipted_message_id') === id2);
    assert.equal(tx.count('deliver_sm') + other.count('deliver_sm'), 0);
  });

  test('a receipt never acknowledged is delivered again once its connection closes; an acknowledged one is not', async (t) => {
    const s = await sim(t, { behaviour: { receipts: { delayMs: 0 } } });
    const first = await RawClient.connect(t, s.port);
    first.autoAck = false;
    await first.bind('transceiver', 'acme');
    const id = bodyString(await first.response(first.submit(), 'submit_sm_resp'), 'message_id');
    await first.waitFor((p) => p.command === 'deliver_sm', 1000, 'the first copy');
    first.autoAck = true;
    const id2 = bodyString(await first.response(first.submit(), 'submit_sm_resp'), 'message_id');
    await eventually(() => s.stats.receiptsAcked === 1, 1000, 'the second receipt acked');
    first.socket.destroy();
    await eventually(() => s.stats.receiptsHeld === 1, 1000, 'the unacknowledged receipt held again');
    assert.equal(s.stats.receiptsRedelivered, 1);
    const next = await RawClient.connect(t, s.port);
    await next.bind('receiver', 'acme');
    const again = await next.waitFor((p) => p.command === 'deliver_sm', 1000, 'the copy on the next bind');
    assert.equal(bodyString(again, 'receipted_message_id'), id);
    await sleep(50);
    assert.equal(next.count('deliver_sm'), 1, `the acknowledged receipt (${id2}) is not sent again`);
  });

  test('held receipts beyond the limit are dropped and counted', async (t) => {
    const s = await sim(t, { behaviour: { heldReceiptLimit: 1, receipts: { delayMs: 0 } } });
    const tx = await RawClient.connect(t, s.port);
    await tx.bind('transmitter');
    tx.submit();
    await tx.response(tx.submit(), 'submit_sm_resp');
    await eventually(() => s.stats.receiptsDropped === 1, 1000, 'one dropped');
    assert.equal(s.stats.receiptsHeld, 1);
  });
});

describe('SMSC simulator: misbehaviour', { timeout: 10_000 }, () => {
  test('ThrottledSMSC answers ESME_RTHROTTLED over the cap', async (t) => {
    const s = await sim(t, { preset: 'ThrottledSMSC', behaviour: { receipts: { enabled: false } } });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const seqs = Array.from({ length: 100 }, () => c.submit());
    await c.response(seqs[99] as number, 'submit_sm_resp');
    const resps = c.pdus.filter((p) => p.command === 'submit_sm_resp');
    const ok = resps.filter((p) => p.status === 0).length;
    const throttled = resps.filter((p) => p.status === 0x58).length;
    assert.equal(ok + throttled, 100);
    assert.ok(ok >= 50 && ok <= 55, `ok ${ok}`);
    assert.equal(s.stats.throttled, throttled);
    assert.equal(s.stats.submitErrors.ESME_RTHROTTLED, throttled);
  });

  test('ErrorOnSubmitSMSC answers ESME_RSYSERR; every N', async (t) => {
    const s = await sim(t, { preset: 'ErrorOnSubmitSMSC' });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    assert.equal((await c.response(c.submit(), 'submit_sm_resp')).status, 0x08);
    s.setBehaviour({ submitError: { status: 0x14, every: 2 } });
    const a = await c.response(c.submit(), 'submit_sm_resp');
    const b = await c.response(c.submit(), 'submit_sm_resp');
    assert.deepEqual([a.status, b.status].sort(), [0, 0x14]);
    assert.equal(s.stats.submitErrors.ESME_RSYSERR, 1);
    assert.equal(s.stats.submitErrors.ESME_RMSGQFUL, 1);
  });

  test('BlackHoleSMSC never answers submit_sm but answers enquire_link', async (t) => {
    const s = await sim(t, { preset: 'BlackHoleSMSC' });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const seq = c.submit();
    await c.response(c.send('enquire_link'), 'enquire_link_resp');
    await assert.rejects(c.response(seq, 'submit_sm_resp', 200));
    assert.equal(c.count('deliver_sm'), 0);
    assert.equal(s.stats.blackholed, 1);
  });

  test('SilentSMSC answers the bind and nothing after', async (t) => {
    const s = await sim(t, { preset: 'silent' });
    const c = await RawClient.connect(t, s.port);
    assert.equal((await c.bind()).status, 0);
    await assert.rejects(c.response(c.send('enquire_link'), 'enquire_link_resp', 200));
    assert.equal(s.stats.blackholed, 1);
  });

  test('DropAfterSMSC closes the connection on the Nth PDU; what came before is still answered', async (t) => {
    const s = await sim(t, { preset: 'DropAfterSMSC', behaviour: { dropAfterPdus: 3, receipts: { enabled: false } } });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const seqs = [c.submit(), c.submit(), c.submit(), c.submit()];
    await c.closedWithin();
    assert.deepEqual(
      c.pdus.filter((p) => p.command === 'submit_sm_resp').map((p) => p.seq),
      seqs.slice(0, 1),
    );
  });

  test('MalformedSMSC writes a frame no client can parse', async (t) => {
    const s = await sim(t, { preset: 'MalformedSMSC', behaviour: { receipts: { enabled: false } } });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    c.submit();
    c.submit();
    await c.closedWithin();
    assert.equal(c.frameError, true);
    // Both submits were answered before the bad frame (the client's Framer may drop them with the bad chunk).
    assert.equal(s.stats.submitOk, 2);
  });

  test('sendRawToAll reaches every connection', async (t) => {
    const s = await sim(t);
    const a = await RawClient.connect(t, s.port);
    const b = await RawClient.connect(t, s.port);
    await eventually(() => s.connections() === 2, 1000, 'two connections');
    s.sendRawToAll(Buffer.from('0000000500000000', 'hex'));
    await Promise.all([a.closedWithin(), b.closedWithin()]);
    assert.equal(a.frameError && b.frameError, true);
  });

  test('UnbindOnSubmitSMSC answers the submit then unbinds; unbind_resp closes', async (t) => {
    const s = await sim(t, { preset: 'UnbindOnSubmitSMSC', behaviour: { receipts: { enabled: false } } });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    assert.equal((await c.response(c.submit(), 'submit_sm_resp')).status, 0);
    const unbind = await c.waitFor((p) => p.command === 'unbind');
    assert.deepEqual(s.boundSessions(), []);
    assert.equal((await c.response(c.submit(), 'submit_sm_resp')).status, 0x04);
    c.socket.write(encodePdu('unbind_resp', unbind.seq));
    await c.closedWithin();
    assert.equal(s.stats.unbindsSent, 1);
  });

  test('SlowSMSC delays the response', async (t) => {
    const s = await sim(t, { preset: 'SlowSMSC', behaviour: { responseDelayMs: 150 } });
    const c = await RawClient.connect(t, s.port);
    await c.bind();
    const started = Date.now();
    const resp = await c.response(c.submit(), 'submit_sm_resp');
    assert.ok(Date.now() - started >= 140, `answered after ${Date.now() - started} ms`);
    const dlr = await c.waitFor((p) => p.command === 'deliver_sm');
    assert.ok(c.pdus.indexOf(dlr) > c.pdus.indexOf(resp), 'receipt after the delayed response');
  });

  test('dropAll closes every connection; close() is idempotent', async (t) => {
    const s = await sim(t);
    const a = await RawClient.connect(t, s.port);
    await a.bind();
    s.dropAll();
    await a.closedWithin();
    await eventually(() => s.connections() === 0, 1000, 'no connections');
    await Promise.all([s.close(), s.close()]);
    await assert.rejects(RawClient.connect(t, s.port));
  });
});

describe('SMSC simulator: MO, TLS, presets, CLI', { timeout: 10_000 }, () => {
  test('injectMo delivers each MO once, on a bound receiver or transceiver, never a transmitter', async (t) => {
    const s = await sim(t);
    assert.equal(s.injectMo({ from: HANDSET, to: '8080', text: 'STOP' }), 0, 'nothing bound: nothing sent');
    const rx = await RawClient.connect(t, s.port);
    await rx.bind('receiver');
    const trx = await RawClient.connect(t, s.port);
    await trx.bind('transceiver', 'other');
    const tx = await RawClient.connect(t, s.port);
    await tx.bind('transmitter');
    assert.equal(s.injectMo({ from: HANDSET, to: '8080', text: 'STOP' }), 1);
    const first = await Promise.race([rx, trx].map((c) => c.waitFor((p) => p.command === 'deliver_sm').then((mo) => ({ c, mo }))));
    const mo = first.mo;
    assert.equal(bodyNumber(mo, 'esm_class'), 0);
    assert.equal(bodyString(mo, 'source_addr'), HANDSET);
    assert.equal(bodyString(mo, 'destination_addr'), '8080');
    assert.equal(bodyNumber(mo, 'data_coding'), 0x01);
    assert.equal(bodyBuffer(mo, 'short_message')?.toString('latin1'), 'STOP');
    // The next MO goes to the other receiving session (round robin), again once.
    const other = first.c === rx ? trx : rx;
    s.injectMo({ from: HANDSET, to: '8080', text: 'بند' });
    const urdu = await other.waitFor((p) => p.command === 'deliver_sm' && bodyNumber(p, 'data_coding') === 0x08);
    // UCS-2 big-endian: ب U+0628, ن U+0646, د U+062F
    assert.equal(bodyBuffer(urdu, 'short_message')?.toString('hex'), '06280646062f');
    await eventually(() => s.stats.deliverResps === 2, 1000, 'MO acked');
    assert.equal(s.stats.moSent, 2);
    assert.equal(rx.count('deliver_sm') + trx.count('deliver_sm'), 2, 'each MO once');
    assert.equal(s.stats.receiptsAcked, 0);
    assert.equal(tx.count('deliver_sm'), 0);
  });

  test('injectMo sends a long MO in parts: UDH with 8- and 16-bit references, SAR TLVs, in the order asked', async (t) => {
    const s = await sim(t);
    const rx = await RawClient.connect(t, s.port);
    await rx.bind('receiver');
    const text = 'x'.repeat(200);
    assert.equal(s.injectMo({ from: HANDSET, to: '8080', text, long: 'udh8', ref: 0x1ab }), 2);
    assert.equal(s.injectMo({ from: HANDSET, to: '8080', text, long: 'udh16', ref: 0x1234, order: [2, 1, 1] }), 3);
    assert.equal(s.injectMo({ from: HANDSET, to: '8080', text, long: 'sar', ref: 7, partOctets: 100 }), 2);
    await eventually(() => rx.count('deliver_sm') === 7, 1000, 'seven parts');
    const parts = rx.pdus.filter((p) => p.command === 'deliver_sm');
    const sm = (i: number): Buffer => bodyBuffer(parts[i] as Pdu, 'short_message') as Buffer;
    // 8-bit: 05 00 03 <ref & 0xff> <total> <seq>, then 134 octets of text.
    assert.equal(bodyNumber(parts[0] as Pdu, 'esm_class'), 0x40);
    assert.equal(sm(0).subarray(0, 6).toString('hex'), '050003ab0201');
    assert.equal(sm(0).length, 6 + 134);
    assert.equal(sm(1).subarray(0, 6).toString('hex'), '050003ab0202');
    // 16-bit, parts 2, 1, 1: 06 08 04 <ref hi> <ref lo> <total> <seq>.
    assert.deepEqual([2, 3, 4].map((i) => sm(i).subarray(0, 7).toString('hex')), ['060804123402' + '02', '060804123402' + '01', '060804123402' + '01']);
    // SAR: no UDH, the numbering in TLVs.
    assert.equal(bodyNumber(parts[5] as Pdu, 'esm_class') ?? 0, 0);
    assert.equal(sm(5).length, 100);
    assert.deepEqual([5, 6].map((i) => [bodyNumber(parts[i] as Pdu, 'sar_msg_ref_num'), bodyNumber(parts[i] as Pdu, 'sar_total_segments'), bodyNumber(parts[i] as Pdu, 'sar_segment_seqnum')]), [
      [7, 2, 1],
      [7, 2, 2],
    ]);
  });

  test('TLS listener', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'qasid-sim-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    } catch {
      t.skip('openssl not available');
      return;
    }
    const s = await sim(t, { tls: { key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) } });
    const c = await RawClient.connect(t, s.port, true);
    assert.equal((await c.bind()).status, 0);
    assert.equal((await c.response(c.submit(), 'submit_sm_resp')).status, 0);
    await c.waitFor((p) => p.command === 'deliver_sm');
  });

  test('preset names are case-insensitive with an optional SMSC suffix', () => {
    assert.equal(resolvePreset('happy').name, 'HappySMSC');
    assert.equal(resolvePreset('HAPPYSMSC').name, 'HappySMSC');
    assert.equal(resolvePreset('hex-ids-decimal-receipts').name, 'HexIdsDecimalReceiptsSMSC');
    assert.throws(() => resolvePreset('nope'), /unknown simulator preset/);
  });

  test('qasid sim --help documents every preset and every behaviour option', () => {
    const usage = simUsage();
    for (const name of Object.keys(PRESETS)) assert.ok(usage.includes(name), `preset ${name} missing from --help`);
    for (const [option, flag] of Object.entries(FLAGS)) assert.ok(usage.includes(`--${flag}`), `${option} (--${flag}) missing from --help`);
  });

  test('qasid sim runs several listeners, prints stats lines, stops on abort', async () => {
    const lines: string[] = [];
    const ac = new AbortController();
    const run = simCommand(['--listen', 'alpha=0:happy', '--listen', 'beta=0:ThrottledSMSC', '--tps', '7', '--stats-interval', '20', '--log-level', 'silent'], {
      signal: ac.signal,
      out: (text) => lines.push(text),
    });
    await eventually(() => lines.length >= 4, 2000, 'stats lines');
    ac.abort();
    assert.equal(await run, 0);
    const stats = lines.map((l) => JSON.parse(l) as { sim: string; port: number; stats: { submits: number } });
    assert.deepEqual([...new Set(stats.map((x) => x.sim))].sort(), ['alpha', 'beta']);
    assert.ok(stats.every((x) => x.port > 0 && x.stats.submits === 0));
  });

  test('qasid sim --mo delivers each MO once when a receiver binds, --mo-long in parts', async (t) => {
    const ac = new AbortController();
    const lines: string[] = [];
    const text = 'A reply from a handset that is long enough to need two parts. '.repeat(3);
    const run = simCommand(['--port', '0', '--stats-interval', '20', '--log-level', 'silent', '--mo', `${HANDSET}:8555:${text}`, '--mo', `${HANDSET}:8555:STOP`, '--mo-long', 'udh16', '--mo-delay', '50'], {
      signal: ac.signal,
      out: (line) => lines.push(line),
    });
    t.after(() => ac.abort());
    await eventually(() => lines.length > 0, 2000, 'a stats line');
    const { port } = JSON.parse(lines[0] as string) as { port: number };
    const rx = await RawClient.connect(t, port);
    await rx.bind('receiver');
    const trx = await RawClient.connect(t, port);
    await trx.bind('transceiver');
    await eventually(() => rx.count('deliver_sm') + trx.count('deliver_sm') === 3, 2000, 'two parts and one');
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(rx.count('deliver_sm') + trx.count('deliver_sm'), 3, 'each MO once, not once per session');
    const parts = [...rx.pdus, ...trx.pdus].filter((p) => p.command === 'deliver_sm');
    const joined = parts
      .filter((p) => (bodyBuffer(p, 'short_message') as Buffer)[1] === 0x08 && (bodyBuffer(p, 'short_message') as Buffer)[5] === 2)
      .sort((a, b) => (bodyBuffer(a, 'short_message') as Buffer)[6]! - (bodyBuffer(b, 'short_message') as Buffer)[6]!)
      .map((p) => (bodyBuffer(p, 'short_message') as Buffer).subarray(7).toString('latin1'))
      .join('');
    assert.equal(joined, text);
    ac.abort();
    assert.equal(await run, 0);
  });

  test('qasid sim rejects bad flags (64) and bad values (2)', async () => {
    const errors: string[] = [];
    const err = (text: string): void => void errors.push(text);
    assert.equal(await simCommand(['--bogus'], { err }), 64);
    assert.equal(await simCommand(['--tps', 'fast'], { err }), 64);
    assert.equal(await simCommand(['--preset', 'NoSuchSMSC'], { err }), 2);
    assert.equal(await simCommand(['--receipt-format', 'xml'], { err }), 2);
    assert.equal(errors.length, 4);
  });
});
