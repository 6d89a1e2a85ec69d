/**
 * System test: 10,000 messages through two simulated carriers — one answering hex ids
 * with decimal receipts, one sending receipts before its responses — routed by operator
 * with config/routes.example.json. Every entry must end in exactly one terminal event, and
 * the terminal counts must match what the simulators did.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../../src/sim/index.js';
import { startRedis } from '../helpers/redis.js';
import { startGateway, testConfig } from '../helpers/app.js';

const ROUTES = fileURLToPath(new URL('../../config/routes.example.json', import.meta.url));
const N = 10_000;
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

test(`${N} messages through two carriers: exactly one terminal event each, counts match the simulators`, async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const jazzSim = await startSimulator({ port: 0, preset: 'HexIdsDecimalReceiptsSMSC', behaviour: { receipts: { undeliverableEvery: 50 } } });
  const zongSim = await startSimulator({ port: 0, preset: 'EarlyReceiptSMSC' });
  cleanups.push(() => jazzSim.close(), () => zongSim.close());
  const config = testConfig(
    redis.url,
    [
      { id: 'jazz', port: jazzSim.port, sessions: 2, window: 100, messageIds: { submitResp: 'hex', receipt: 'decimal' } },
      { id: 'zong', port: zongSim.port, bindMode: 'tx+rx', sessions: 1, window: 100 },
    ],
    { routes: { file: ROUTES } },
  );
  const { app, r, lines } = await startGateway(redis.url, config, cleanups, { level: 'warn' });
  const t0 = Date.now();
  for (let start = 0; start < N; start += 1000) {
    const pipe = r.pipeline();
    for (let i = start; i < start + 1000; i++) {
      // Even: a Jazz number (0300…), odd: a Zong number (0310…), in different written forms.
      const to = i % 2 === 0 ? `0300${String(1_000_000 + i).slice(-7)}` : `+92310${String(1_000_000 + i).slice(-7)}`;
      pipe.xadd(app.keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `sys-${i}`, to, from: 'QASID', text: `System test message ${i}` }));
    }
    await pipe.exec();
  }

  const finals = new Map<string, string[]>();
  let lastId = '-';
  const deadline = Date.now() + 120_000;
  let finalCount = 0;
  while (finalCount < N && Date.now() < deadline) {
    const batch = await r.xrange(app.keys.events, lastId === '-' ? '-' : `(${lastId}`, '+', 'COUNT', 5000);
    for (const [id, f] of batch) {
      lastId = id;
      const e = JSON.parse(f[1] as string) as { final: boolean; status: string; clientId: string; carrier: string };
      if (!e.final) continue;
      finalCount++;
      const list = finals.get(e.clientId) ?? [];
      list.push(`${e.status}/${e.carrier}`);
      finals.set(e.clientId, list);
    }
    if (batch.length === 0) await new Promise((res) => setTimeout(res, 50));
  }
  const elapsed = Date.now() - t0;
  // Give a duplicate final event, if there were one, time to show up.
  await new Promise((res) => setTimeout(res, 300));
  const extra = await r.xrange(app.keys.events, `(${lastId}`, '+');
  assert.equal(extra.filter(([, f]) => (JSON.parse(f[1] as string) as { final: boolean }).final).length, 0, 'no second final event');

  assert.equal(finals.size, N, `every entry has a final event (${finals.size} of ${N} after ${elapsed} ms)`);
  for (const [id, list] of finals) assert.equal(list.length, 1, `${id}: ${list.join(', ')}`);
  const count = (s: string): number => [...finals.values()].filter((l) => l[0] === s).length;
  const undeliverable = Math.floor(jazzSim.stats.receiptsSent / 50);
  assert.equal(count('undeliverable/jazz'), undeliverable);
  assert.equal(count('delivered/jazz'), jazzSim.stats.receiptsSent - undeliverable);
  assert.equal(count('delivered/zong'), zongSim.stats.receiptsSent);
  assert.equal(jazzSim.stats.submitOk + zongSim.stats.submitOk, N, 'each message submitted once');
  assert.equal(count('delivered/jazz') + count('undeliverable/jazz') + count('delivered/zong'), N);
  assert.equal(jazzSim.stats.submitOk, N / 2);
  assert.equal(await r.xlen(app.keys.intake), 0, 'intake emptied');
  const pending = (await r.xpending(app.keys.intake, config.intake.group)) as [number];
  assert.equal(Number(pending[0]), 0, 'nothing pending');
  assert.equal(lines.filter((l) => l.level === 'error').length, 0, JSON.stringify(lines.find((l) => l.level === 'error')));
  console.log(`# ${N} messages settled in ${elapsed} ms (${Math.round((N * 1000) / elapsed)}/s, receipts included)`);
});
