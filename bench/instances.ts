/**
 * Scenario: several daemons on one Redis (`qasid run`, compiled, each its own process and
 * intake consumer), one simulated carrier in this process (so every submit_sm is timed
 * where the carrier would see it), a fresh redis-server each round.
 *
 * 1. Throughput: MESSAGES entries queued up front, drained by 1 and then 2 daemons
 *    (interleaved, ROUNDS rounds each), carrier unthrottled (tps 100,000, 4 sessions ×
 *    window 100, a receipt for every message). Drain time from the first submit_sm to the
 *    last final event.
 * 2. Pacing: 3 daemons share one carrier of PACE_TPS (default 1,000) for PACE_S seconds
 *    (default 20); the submits of each whole second at the simulator against the rate —
 *    the first second and the last two (as the backlog runs out) left out.
 *
 *   npm run bench -- instances
 *   MESSAGES=20000 ROUNDS=2 PACE_TPS=500 npm run bench -- instances
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedisServer } from '../src/cli/local-redis.js';
import { startSimulator } from '../src/sim/index.js';
import { keysFor } from '../src/queue/keys.js';
import { Keyring } from '../src/privacy/keyring.js';
import { build, commitOf, startDaemon, type Daemon } from './lib/processes.js';
import { median, quantile } from './lib/figures.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MESSAGES = Number(process.env.MESSAGES ?? 30_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PACE_TPS = Number(process.env.PACE_TPS ?? 1000);
const PACE_S = Number(process.env.PACE_S ?? 20);

const log = (s: string): void => console.error(`instances: ${s}`);

interface Run {
  submits: number[];
  finals: number;
  lastFinalAt: number;
}

async function round(daemons: number, messages: number, tps: number): Promise<Run> {
  const redis = await startRedisServer();
  const submits: number[] = [];
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC', behaviour: { receipts: { spread: true } }, onSubmit: (s) => submits.push(s.receivedAt) });
  const r = new Redis(redis.url);
  const prefix = `b${Date.now().toString(36)}`;
  const keys = keysFor(prefix);
  const dir = mkdtempSync(join(tmpdir(), 'qasid-bench-instances-'));
  const keyring = Keyring.newSourceJson('k1');
  const hashKeyring = Keyring.newSourceJson('h1');
  const procs: Daemon[] = [];
  try {
    for (let i = 0; i < messages; i += 1000) {
      const p = r.pipeline();
      for (let j = i; j < Math.min(messages, i + 1000); j++) p.xadd(keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `m-${j}`, to: `0300${String(1_000_000 + (j % 30_000))}`, from: 'QASID', text: `message ${j}` }));
      await p.exec();
    }
    for (let d = 0; d < daemons; d++) {
      const file = join(dir, `d${d}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          log: { level: 'warn' },
          redis: { url: redis.url, prefix },
          intake: { consumer: `d${d}` },
          admin: { port: 0 },
          privacy: { keyring, hashKeyring },
          carriers: [{ id: 'a', host: '127.0.0.1', port: sim.port, systemId: 'a', password: 'pw', window: 100, sessions: 4, tps }],
        }),
      );
      procs.push(startDaemon(ROOT, file, []));
    }
    let finals = 0;
    let last = '-';
    let lastFinalAt = 0;
    const deadline = Date.now() + 600_000;
    while (finals < messages && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
      for (;;) {
        const rows = await r.xrange(keys.events, last === '-' ? '-' : `(${last}`, '+', 'COUNT', 5000);
        for (const [id, f] of rows) {
          last = id;
          if ((JSON.parse(f[1] as string) as { final: boolean }).final) {
            finals++;
            lastFinalAt = Number(id.split('-')[0]);
          }
        }
        if (rows.length < 5000) break;
      }
      const dead = procs.find((p) => p.exited() !== undefined);
      if (dead) throw new Error(`a daemon exited (${dead.exited()}): ${dead.lastLines().join('\n')}`);
    }
    return { submits, finals, lastFinalAt };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    r.disconnect();
    await sim.close();
    await redis.stop();
  }
}

build(ROOT);
const commit = commitOf(ROOT);
log(`commit ${commit}: throughput with 1 and 2 daemons, ${ROUNDS} rounds of ${MESSAGES.toLocaleString('en')} messages, interleaved`);
const rates: Record<'1' | '2', number[]> = { '1': [], '2': [] };
for (let k = 1; k <= ROUNDS; k++) {
  for (const n of [1, 2] as const) {
    const run = await round(n, MESSAGES, 100_000);
    const first = run.submits[0] ?? 0;
    const rate = (run.finals * 1000) / Math.max(1, run.lastFinalAt - first);
    rates[String(n) as '1' | '2'].push(rate);
    console.log(JSON.stringify({ round: k, daemons: n, commit, messages: MESSAGES, finals: run.finals, submitted: run.submits.length, 'msg/s': Math.round(rate) }));
  }
}
const m1 = median(rates['1']);
const m2 = median(rates['2']);
console.log(
  JSON.stringify({
    summary: 'throughput',
    commit,
    '1 daemon msg/s median': Math.round(m1),
    '1 daemon range': [Math.round(Math.min(...rates['1'])), Math.round(Math.max(...rates['1']))],
    '2 daemons msg/s median': Math.round(m2),
    '2 daemons range': [Math.round(Math.min(...rates['2'])), Math.round(Math.max(...rates['2']))],
    'ratio 2/1': Number((m2 / m1).toFixed(2)),
  }),
);

log(`pacing: 3 daemons, one carrier at ${PACE_TPS} tps, ${PACE_S} s`);
const pace = await round(3, PACE_TPS * PACE_S, PACE_TPS);
const s = pace.submits;
const seconds: number[] = [];
for (let t = (s[0] as number) + 1000; t + 1000 <= (s[s.length - 1] as number) - 2000; t += 1000) seconds.push(s.filter((x) => x >= t && x < t + 1000).length);
const errs = seconds.map((n) => (100 * (n - PACE_TPS)) / PACE_TPS);
console.log(
  JSON.stringify({
    summary: 'pacing, 3 daemons',
    commit,
    tps: PACE_TPS,
    'whole seconds': seconds.length,
    'per second': seconds,
    'error % median': Number(median(errs).toFixed(2)),
    'error % p10 / p90': [Number(quantile(errs, 0.1).toFixed(2)), Number(quantile(errs, 0.9).toFixed(2))],
    'error % min / max': [Number(Math.min(...errs).toFixed(2)), Number(Math.max(...errs).toFixed(2))],
    'seconds within ±2 %': seconds.filter((n) => Math.abs(n - PACE_TPS) <= PACE_TPS * 0.02).length,
    finals: pace.finals,
  }),
);
