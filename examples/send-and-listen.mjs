// Send one OTP through Qasid and print its status events until the final one.
//   QASID_REDIS_URL=redis://127.0.0.1:6379 QASID_KEYRING_FILE=/etc/qasid/keyring.json node send-and-listen.mjs
import { Redis } from 'ioredis';
import { Keyring, QasidClient } from '@qasid/client';

// The gateway's cipher keyring: the entry is written sealed, never in clear.
const keyring = Keyring.fromFile(process.env.QASID_KEYRING_FILE);
const redis = new Redis(process.env.QASID_REDIS_URL ?? 'redis://127.0.0.1:6379');
const qasid = new QasidClient(redis, { prefix: process.env.QASID_REDIS_PREFIX ?? 'qasid', keyring });

const id = 'order-8812-otp';
// Open the events stream before sending, so none of this message's events is missed.
const events = qasid.events({ signal: AbortSignal.timeout(60_000) });
await qasid.send({ id, to: '03001234567', from: 'MyBank', text: 'Your code is 4821', class: 'otp' });
let final;
for await (const { event } of events) {
  if (event.clientId !== id) continue;
  console.log(`${id}: ${event.status}${event.final ? ' (final)' : ''}${event.reason ? ` ${event.reason}` : ''}`);
  if (event.final) {
    final = event;
    break;
  }
}
redis.disconnect();
if (final === undefined) {
  console.error(`${id}: no final event within a minute`);
  process.exitCode = 1;
}
