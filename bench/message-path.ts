/**
 * Scenario: the whole message path on one machine — Redis, two simulated carriers (in
 * their own process), and the gateway. N messages are XADDed up front (a backlog), then
 * the gateway drains it. Prints messages/s submitted, receipts/s matched, and p50/p99
 * latency from XADD to submit_sm_resp (the `accepted` event) and to the final event.
 *
 *   npm run bench -- message-path
 *   MESSAGES=50000 node --import tsx bench/message-path.ts
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { keysFor, type Keys } from '../src/queue/keys.js';
import { startRedis } from '../test/helpers/redis.js';
import { Keyring } from '../src/privacy/keyring.js';

const N = Number(process.env.MESSAGES ?? 30_000);
const ROUTES = fileURLToPath(new URL('../config/routes.example.json', import.meta.url));

async function simProcess(): Promise<{ ports: Record<string, number>; stop: () => void }> {
  const bin = fileURLToPath(new URL('../bin/qasid.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'sim', '--listen', 'jazz=0:HexIdsDecimalReceiptsSMSC', '--listen', 'zong=0:EarlyReceiptSMSC'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports: Record<string, number> = {};
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      const m = /"event":"sim.listening".*"sim":"(\w+)".*"port":(\d+)/.exec(line);
      if (m) ports[m[1] as string] = Number(m[2]);
      if (Object.keys(ports).length === 2) resolve();
    });
    child.once('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
  return { ports, stop: () => child.kill('SIGTERM') };
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const sims = await simProcess();
  const prefix = `bench${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'qasid-bench-'));
  const configFile = join(dir, 'qasid.json');
  const carrier = (id: string, port: number, extra: object): object => ({
    id, host: '127.0.0.1', port, systemId: id, password: 'pw', sessions: 2, window: 100, tps: 100_000,
    timers: { responseMs: 10_000, enquireLinkMs: 30_000, inactivityMs: 90_000 }, ...extra,
  });
  writeFileSync(configFile, JSON.stringify({
    log: { level: 'warn' },
    redis: { url: redis.url, prefix },
    routes: { file: ROUTES },
    admin: { port: 0 },
    privacy: { keyring: Keyring.newSourceJson('k1'), hashKeyring: Keyring.newSourceJson('h1') },
    ...(process.env.MAX_IN_FLIGHT ? { dispatch: { maxInFlight: Number(process.env.MAX_IN_FLIGHT) } } : {}),
    carriers: [
      carrier('jazz', sims.ports.jazz as number, { messageIds: { submitResp: 'hex', receipt: 'decimal' } }),
      carrier('zong', sims.ports.zong as number, {}),
    ],
  }));
  const keys = keysFor(prefix);
  const r = new Redis(redis.url);
  let daemon: ChildProcess | undefined;
  try {
    // Fill the backlog before the gateway starts, so the run measures the gateway alone.
    for (let start = 0; start < N; start += 2000) {
      const pipe = r.pipeline();
      for (let i = start; i < Math.min(N, start + 2000); i++) {
        const to = i % 2 === 0 ? `0300${String(1_000_000 + (i % 9_000_000)).slice(-7)}` : `0310${String(1_000_000 + (i % 9_000_000)).slice(-7)}`;
        pipe.xadd(keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `b-${i}`, to, from: 'QASID', text: `Benchmark message number ${i}, of a typical length` }));
      }
      await pipe.exec();
    }
    const bin = fileURLToPath(new URL('../bin/qasid.js', import.meta.url));
    // Run the daemon as deployed: compiled JavaScript (bin/qasid.js prefers dist/).
    const tsc = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', fileURLToPath(new URL('../tsconfig.json', import.meta.url))], { stdio: 'inherit' });
    if (tsc.status !== 0) throw new Error('build failed');
    const t0 = Date.now();
    const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
    // The daemon runs the way `npm start` and the Docker image run it.
    profile.push(...(process.env.NODE_HEAP_ARGS ?? '--max-semi-space-size=64').split(' ').filter(Boolean));
    daemon = spawn(process.execPath, [...profile, bin, 'run', '--config', configFile], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, QASID_USE_DIST: '1' } });
    const pid = daemon.pid as number;
    let finals = 0;
    let accepted = 0;
    let lastId = '-';
    let firstAcceptAt = 0;
    let lastAcceptAt = 0;
    let lastFinalAt = 0;
    let cpuAtEnd = 0;
    while (finals < N && Date.now() - t0 < 300_000) {
      const batch = await r.xrange(keys.events, lastId === '-' ? '-' : `(${lastId}`, '+', 'COUNT', 10_000);
      for (const [id, f] of batch) {
        lastId = id;
        const e = JSON.parse(f[1] as string) as { final: boolean; status: string; at: string };
        const at = Date.parse(e.at);
        if (e.status === 'accepted') {
          accepted++;
          firstAcceptAt ||= at;
          lastAcceptAt = at;
        }
        if (e.final) {
          finals++;
          lastFinalAt = at;
        }
      }
      if (finals >= N) cpuAtEnd = cpuSeconds(pid);
      await new Promise((res) => setTimeout(res, 200));
    }
    const acceptSpan = (lastAcceptAt - firstAcceptAt) / 1000;
    const finalSpan = (lastFinalAt - firstAcceptAt) / 1000;
    console.log(
      JSON.stringify({
        scenario: `message path, ${N} queued messages, 2 carriers (hex ids/decimal receipts; early receipts), receipts on; daemon in its own process`,
        'submitted/s': Math.round(accepted / Math.max(0.001, acceptSpan)),
        'receipts matched/s': Math.round(finals / Math.max(0.001, finalSpan)),
        finals,
        'daemon cpu µs/msg (incl. start-up)': Math.round((cpuAtEnd / Math.max(1, finals)) * 1e7) / 10,
        node: process.version,
      }),
    );
    if (process.env.BENCH_COMMANDS) {
      const stats = (await r.info('commandstats')).split('\n').filter((l) => l.startsWith('cmdstat_'));
      const per = stats
        .map((l) => {
          const m = /^cmdstat_(\w+(?:\|\w+)?):calls=(\d+),usec=(\d+)/.exec(l);
          return m ? `${m[1]}=${(Number(m[2]) / N).toFixed(2)} (${(Number(m[3]) / N).toFixed(1)} µs)` : '';
        })
        .filter(Boolean);
      console.log(`redis commands per message: ${per.join(' ')}`);
    }
    await latencyRun(keys, r);
  } finally {
    daemon?.kill('SIGTERM');
    r.disconnect();
    sims.stop();
    await redis.stop();
  }
}

/** Latency under a steady offered load (not a backlog): XADD at a fixed rate for a few seconds. */
async function latencyRun(keys: Keys, r: Redis): Promise<void> {
  const rate = Number(process.env.RATE ?? 3000);
  const seconds = 5;
  const sentAt = new Map<string, number>();
  let i = 0;
  const start = Date.now();
  while (Date.now() - start < seconds * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * rate);
    const pipe = r.pipeline();
    for (; i < due; i++) {
      const id = `l-${i}`;
      sentAt.set(id, Date.now());
      pipe.xadd(keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to: `0300${String(1_000_000 + i).slice(-7)}`, from: 'QASID', text: `Latency probe ${i}` }));
    }
    await pipe.exec();
    await new Promise((res) => setTimeout(res, 5));
  }
  const acc: number[] = [];
  const fin: number[] = [];
  const deadline = Date.now() + 30_000;
  let lastId = '-';
  while (fin.length < i && Date.now() < deadline) {
    const batch = await r.xrange(keys.events, lastId === '-' ? '-' : `(${lastId}`, '+', 'COUNT', 5000);
    for (const [id, f] of batch) {
      lastId = id;
      const e = JSON.parse(f[1] as string) as { final: boolean; status: string; at: string; clientId: string };
      const t = sentAt.get(e.clientId);
      if (t === undefined) continue;
      if (e.status === 'accepted') acc.push(Date.parse(e.at) - t);
      if (e.final) fin.push(Date.parse(e.at) - t);
    }
    if (batch.length === 0) await new Promise((res) => setTimeout(res, 20));
  }
  const q = (xs: number[], p: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
  };
  console.log(
    JSON.stringify({
      scenario: `steady load ${rate} msg/s for ${seconds} s`,
      messages: i,
      'XADD→accepted p50 ms': q(acc, 0.5),
      'XADD→accepted p99 ms': q(acc, 0.99),
      'XADD→final p50 ms': q(fin, 0.5),
      'XADD→final p99 ms': q(fin, 0.99),
      settled: fin.length,
    }),
  );
}

await main();
