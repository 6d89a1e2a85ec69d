/**
 * QasidClient and `qasid send` against a real redis-server, a simulator over TCP and a
 * whole gateway (App).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { App } from '../../src/app.js';
import { InvalidMessageError, QasidClient, type EventEntry, type OutgoingMessage } from '../../src/client/index.js';
import { sendCommand, type CliIo } from '../../src/cli/send.js';
import { silentLogger } from '../../src/log/logger.js';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { testConfig } from '../helpers/app.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let sim: SimServer;
let app: App;
let r: Redis;
let client: QasidClient;
let prefix: string;
const FULL_NUMBER = /\+?92\d{10}/;

before(async () => {
  redis = await startRedis();
  sim = await startSimulator({ port: 0, preset: 'HappySMSC' });
  const config = testConfig(redis.url, [{ id: 'jazz', port: sim.port }]);
  prefix = config.redis.prefix;
  app = new App({ config, logger: silentLogger() });
  await app.start();
  await Promise.all([...app.links.values()].map((l) => l.waitAllBound(5000)));
  r = new Redis(redis.url);
  client = new QasidClient(r, { prefix });
});

after(async () => {
  r?.disconnect();
  await app?.stop();
  await sim?.close();
  await redis?.stop();
});

/**
 * Events of one client id, from an iterator, until 300 ms after its final one (or the
 * timeout). The wait after the final is there because `accepted` and the receipt's final
 * are written by two handlers: under load the final can land first.
 */
async function untilFinal(it: AsyncIterable<EventEntry>, clientId: string, ac: AbortController, timeoutMs = 10_000): Promise<EventEntry[]> {
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let grace: NodeJS.Timeout | undefined;
  const got: EventEntry[] = [];
  try {
    for await (const e of it) {
      if (e.event.clientId !== clientId) continue;
      got.push(e);
      if (e.event.final) grace ??= setTimeout(() => ac.abort(), 300);
    }
  } finally {
    clearTimeout(timer);
    clearTimeout(grace);
    ac.abort();
  }
  return got;
}

function capture(env: NodeJS.ProcessEnv = {}): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s), env }, out, err };
}

test('send() then events(): accepted and delivered (the one final), for that client id, with meta echoed', async () => {
  const ac = new AbortController();
  const it = client.events({ signal: ac.signal, blockMs: 200 });
  const entryId = await client.send({ id: 'c-1', to: '0300-1234567', from: 'MyBank', text: 'hello', meta: { order: 42 } });
  assert.match(entryId, /^\d+-\d+$/);
  // Order between the two is not promised: the receipt's handler may write first.
  const evs = (await untilFinal(it, 'c-1', ac)).sort((a, b) => Number(a.event.final) - Number(b.event.final));
  assert.deepEqual(
    evs.map((e) => [e.event.status, e.event.final]),
    [
      ['accepted', false],
      ['delivered', true],
    ],
  );
  const delivered = evs[1]?.event;
  assert.equal(delivered?.carrier, 'jazz');
  assert.equal(delivered?.parts, 1);
  assert.deepEqual(delivered?.meta, { order: 42 });
});

test("events() defaults to '$': nothing written before the call is replayed", async () => {
  const ac = new AbortController();
  const it = client.events({ signal: ac.signal, blockMs: 200 });
  await client.send({ id: 'c-2', to: '923101234567', from: 'QASID', text: 'second' });
  const timer = setTimeout(() => ac.abort(), 10_000);
  let first: EventEntry | undefined;
  for await (const e of it) {
    first = e;
    break;
  }
  clearTimeout(timer);
  ac.abort();
  assert.equal(first?.event.clientId, 'c-2', 'the first event seen is about the message sent after events()');
});

test('an aborted events() iteration ends promptly, even while its XREAD blocks', async () => {
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(), 100);
  const seen: EventEntry[] = [];
  const quiet = new QasidClient(r, { prefix: 'quiet' });
  for await (const e of quiet.events({ signal: ac.signal, blockMs: 10_000 })) seen.push(e);
  assert.equal(seen.length, 0);
  assert.ok(Date.now() - started < 2000, 'abort interrupts the blocking read');
});

test('sendMany() pipelines a batch and returns the entry ids in order', async () => {
  const ac = new AbortController();
  const it = client.events({ signal: ac.signal, blockMs: 200 });
  const msgs: OutgoingMessage[] = [0, 1, 2].map((i) => ({ id: `many-${i}`, to: `+92300765432${i}`, from: 'QASID', text: `batch ${i}`, class: 'otp' }));
  const ids = await client.sendMany(msgs);
  assert.equal(ids.length, 3);
  assert.deepEqual([...ids].sort(), ids, 'in order');
  const finals = new Set<string>();
  const timer = setTimeout(() => ac.abort(), 10_000);
  for await (const { event } of it) {
    if (event.final && event.status === 'delivered' && event.clientId?.startsWith('many-')) finals.add(event.clientId);
    if (finals.size === 3) break;
  }
  clearTimeout(timer);
  ac.abort();
  assert.equal(finals.size, 3);
  assert.deepEqual(await client.sendMany([]), []);
});

test('an invalid message throws before anything is written, naming the field', async () => {
  // A client on a prefix no gateway reads, so what reached the stream can be counted.
  const offline = new QasidClient(r, { prefix: 'offline' });
  const base = { id: 'bad', to: '03001234567', from: 'QASID', text: 'x' };
  const cases: Array<[unknown, string, RegExp]> = [
    [{ ...base, to: '12' }, 'to', /field "to" must NOT have fewer than 3 characters/],
    [{ id: 'bad', to: '03001234567', from: 'QASID' }, 'text', /missing required field "text"/],
    [{ ...base, class: 'promo' }, 'class', /field "class" must be equal to one of the allowed values/],
    [{ ...base, from: 'A sender id that is far too long' }, 'from', /field "from"/],
    [{ ...base, id: 'has space' }, 'id', /field "id"/],
    [{ ...base, colour: 'red' }, 'colour', /unknown field "colour"/],
    [{ ...base, validity: 5 }, 'validity', /field "validity" must be >= 30/],
    [{ ...base, sendAt: 'tomorrow' }, 'sendAt', /field "sendAt" must match format "date-time"/],
    [{ ...base, text: 'x'.repeat(20_000) }, '(root)', /larger than 16384 bytes/],
  ];
  for (const [msg, field, message] of cases) {
    await assert.rejects(
      offline.send(msg as OutgoingMessage),
      (e: unknown) => {
        assert.ok(e instanceof InvalidMessageError, `an InvalidMessageError for ${field}`);
        assert.equal(e.field, field);
        assert.match(e.message, message);
        assert.doesNotMatch(e.message, /03001234567/, 'the value is never in the message');
        return true;
      },
    );
  }
  await assert.rejects(offline.sendMany([base, { ...base, id: 'b2', to: '1' }]), (e: unknown) => e instanceof InvalidMessageError && e.index === 1 && e.field === 'to' && /#1/.test(e.message));
  assert.equal(await r.exists(offline.keys.intake), 0, 'nothing was written');
});

test('readEvents() reads what the events stream holds, from a given id', async () => {
  const all = await client.readEvents();
  assert.ok(all.some((e) => e.event.clientId === 'c-1' && e.event.status === 'delivered'));
  const second = all[1];
  assert.ok(second);
  const from = await client.readEvents(second.id, 2);
  assert.equal(from.length, 2);
  assert.equal(from[0]?.id, second.id);
});

test('qasid send --wait: queues, prints every event of the message, exits 0 on delivered', async () => {
  const { io, out, err } = capture();
  const code = await sendCommand(['--to', '0300-1234567', '--from', 'MyBank', '--text', 'Your code is 1234', '--class', 'otp', '--id', 'cli-1', '--redis', redis.url, '--prefix', prefix, '--wait', '10'], io);
  const text = out.join('\n');
  assert.equal(code, 0, `${text}\n${err.join('\n')}`);
  assert.match(text, /^queued {2}entry \d+-\d+ {2}id cli-1 {2}to \+92300\*+567/m);
  assert.match(text, /accepted .*carrier=jazz/);
  assert.match(text, /delivered +final carrier=jazz parts=1/);
  assert.match(text, /final: delivered/);
  assert.doesNotMatch(text, FULL_NUMBER);
  assert.doesNotMatch(text, /03001234567|0300-1234567|code is/);
});

test('qasid send: Redis and prefix from the environment; --no-receipt ends accepted (final), exit 0', async () => {
  const { io, out } = capture({ QASID_REDIS_URL: redis.url, QASID_REDIS_PREFIX: prefix });
  const code = await sendCommand(['--to', '+923001234567', '--from', 'QASID', '--text', 'no receipt', '--no-receipt', '--wait'], io);
  assert.equal(code, 0, out.join('\n'));
  assert.match(out.join('\n'), /accepted +final carrier=jazz/);
  assert.match(out.join('\n'), /id [0-9a-f-]{36}/, 'a random UUID when --id is not given');
});

test('qasid send with the gateway keyring in its config writes the entry sealed; the gateway delivers it', async () => {
  const keyring = app.config.privacy.keyring.reveal();
  // A prefix no gateway reads: the entry stays in the stream to be looked at.
  const { io, out } = capture({ QASID_REDIS_URL: redis.url, QASID_KEYRING: keyring });
  assert.equal(await sendCommand(['--to', '03001234567', '--from', 'QASID', '--text', 'sealed hello', '--prefix', 'idle'], io), 0, out.join('\n'));
  const [entry] = await r.xrange('idle:mt', '-', '+');
  assert.equal(entry?.[1][0], 'sealed');
  assert.doesNotMatch(JSON.stringify(entry), /3001234567|sealed hello/);
  // And with the gateway's prefix it goes through like any other.
  const sent = capture({ QASID_REDIS_URL: redis.url, QASID_KEYRING: keyring });
  assert.equal(await sendCommand(['--to', '03001234567', '--from', 'QASID', '--text', 'sealed hello', '--prefix', prefix, '--wait', '10'], sent.io), 0, sent.out.join('\n'));
  assert.match(sent.out.join('\n'), /final: delivered/);
});

test('qasid send --wait exits 1 when the message is not delivered, and names why', async () => {
  const { io, out } = capture();
  // --force: without it, send refuses a number the gateway would reject (test/unit/cli-args.test.ts).
  const code = await sendCommand(['--to', '042 35761234', '--from', 'QASID', '--text', 'landline', '--force', '--redis', redis.url, '--prefix', prefix, '--wait', '10'], io);
  assert.equal(code, 1);
  assert.match(out.join('\n'), /rejected +final reason=not_mobile/);
  assert.match(out.join('\n'), /not delivered/);
});

test('qasid send: usage errors, an invalid message and an unreachable Redis', async () => {
  const help = capture();
  assert.equal(await sendCommand(['--help'], help.io), 0);
  assert.match(help.out.join('\n'), /--wait \[SECONDS\]/);

  const missing = capture();
  assert.equal(await sendCommand(['--to', '03001234567', '--from', 'QASID'], missing.io), 64);
  assert.match(missing.err.join('\n'), /missing --text/);

  const invalid = capture();
  assert.equal(await sendCommand(['--to', '12', '--from', 'QASID', '--text', 'x', '--force', '--redis', redis.url, '--prefix', 'offline'], invalid.io), 64);
  assert.match(invalid.err.join('\n'), /field "to"/);

  const badWait = capture();
  assert.equal(await sendCommand(['--to', '03001234567', '--from', 'Q', '--text', 'x', '--wait=soon'], badWait.io), 64);

  const down = capture();
  assert.equal(await sendCommand(['--to', '03001234567', '--from', 'QASID', '--text', 'x', '--redis', 'redis://:pw@127.0.0.1:1'], down.io), 1);
  assert.match(down.err.join('\n'), /cannot reach Redis at redis:\/\/\[secret\]@127\.0\.0\.1:1/);
  assert.doesNotMatch(down.err.join('\n'), /pw/);
});
