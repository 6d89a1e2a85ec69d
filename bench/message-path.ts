/**
 * Scenario: the whole message path on one machine — a fresh Redis, two simulated carriers
 * (`qasid sim`, in their own process) and the daemon (`qasid run`, compiled, in its own
 * process). MESSAGES entries are XADDed up front (a backlog) before the daemon starts;
 * the daemon drains them to both carriers (routed by operator, 2 sessions × window 100
 * each, a receipt for every message). Then a short MONITOR-ed sample drain, then a steady
 * offered load for latency.
 *
 *   npm run bench -- message-path                   3 rounds of 30,000 messages
 *   MESSAGES=5000 ROUNDS=1 npm run bench -- message-path
 *   MESSAGES=1000000 ROUNDS=1 npm run bench -- message-path    peak RSS over a 1M backlog
 *   BASELINE=/tmp/base npm run bench -- message-path
 *       /tmp/base: another checkout (`git worktree add /tmp/base <commit>`, node_modules
 *       linked in). Rounds run interleaved, base, head, base, head…, each on a fresh Redis,
 *       simulator and daemon; each checkout's dist/ is built with its own tsc and its own
 *       bin/qasid.js runs. This file and the simulator of this checkout drive both.
 *   Also: RATE (latency load, msg/s), MAX_IN_FLIGHT (dispatch.maxInFlight),
 *   NODE_HEAP_ARGS (daemon node flags, default none, as `npm start`),
 *   BENCH_PROFILE=<dir> (a --cpu-prof of each daemon).
 *   BENCH_ALLOC_PROFILE=<dir>: where the daemon allocates, over the drain window only.
 *       The daemon runs with bench/lib/heap-sampler.mjs preloaded (V8's sampling heap
 *       profiler, objects already collected by a GC included); SIGUSR2 at the window's
 *       start and end starts it and writes <dir>/round<k>-<checkout>.heapprofile.
 *       `node --import tsx bench/lib/heap-top.ts <file> --messages MESSAGES` prints the
 *       top sites in bytes per message. The profiler costs the daemon some CPU: time
 *       figures of such a run are not comparable with others'; allocation ones are.
 *
 * The drain window runs from the daemon's first read of the backlog (its consumer group's
 * last-delivered-id leaves 0-0; XINFO GROUPS polled every 5 ms) to the moment the events
 * stream holds both events (accepted and final) of every message (XLEN polled every
 * 50 ms, then the count of finals checked), so start-up is outside it. It does not start
 * at the first `accepted` event: the daemon reads and prepares up to
 * dispatch.maxInFlight (5,000) messages first, and the first event came ≈1 s after the
 * first read in a 5,000-message run; a window from that event missed ≈27 % of the drain's
 * Redis commands and about a third of its daemon CPU (`first event after window start ms`
 * shows the gap; `before window` what start-up cost). The
 * readings at each end are ≤ 5 / 50 ms late. Per-message figures divide by MESSAGES.
 * Figures, one JSON line per round:
 *
 * - submitted/s, receipts matched/s: accepted events over the span of their own `at`
 *   times; finals over first accepted → last final (the daemon's clock, 1 ms resolution).
 * - daemon µs/msg, main / other: utime+stime over the window from /proc/<pid>/stat (all
 *   threads, exited ones too) and /proc/<pid>/task/<pid>/stat (the JavaScript thread);
 *   other = the rest (GC helpers, the JIT compiler, the libuv pool). 10 ms ticks: ±20 ms
 *   over the window.
 * - sim µs/msg: the simulator's CPU the same way, to show it is not the limit.
 * - redis µs/msg: INFO used_cpu_user+used_cpu_sys (µs resolution) over the window. It
 *   includes the benchmark's own XLEN polls (≈20/s, a few µs each: noise).
 * - redis cmds/msg, client / script: INFO commandstats over the window (CONFIG RESETSTAT
 *   just before the daemon starts), less the benchmark's own commands, which it counts.
 *   Redis 7 counts commands run inside scripts in commandstats too, and nothing in INFO
 *   separates them, so the split comes from MONITOR: a sample drain of min(MESSAGES,
 *   2,000) more messages after the window (so MONITOR's own cost, which roughly doubles
 *   Redis CPU while it runs, stays out of the measured drain) gives, per command name, the
 *   share issued from Lua (`[0 lua]`) against clients; the window's count of that name is
 *   split by that share. Exact where a name comes from one side only (EVALSHA, most
 *   script-inner writes); for names used on both sides the error is the difference in mix
 *   between a 2,000-message drain and the long one. The sample's own per-message counts
 *   are printed beside it to show how close the mixes are.
 * - daemon alloc B/msg: V8 heap bytes allocated in the window, from the daemon's
 *   `--trace-gc-nvp` lines (bench/lib/gc-trace.ts: method, what is not counted — Buffer
 *   backing stores — and the error, part of one young-generation fill at each end).
 * - daemon GC main / helpers µs/msg: from the same lines, the GCs that ended in the
 *   window: pauses plus incremental marking on the JavaScript thread, and the
 *   `background.*` scopes on V8's helper threads — what part of "other" is GC. Wall
 *   time of GC work, so on a busy machine a little above its CPU time.
 * - daemon peak RSS MB: VmHWM at the end of the window (the peak since start; start-up is
 *   far smaller). With MESSAGES=1000000 this is the million-entry backlog's peak.
 * - XADD→accepted / XADD→final p50, p99 ms: 5 s of XADDs at a steady RATE, the benchmark's
 *   clock at XADD against the event's `at`. RATE defaults to half the first round's
 *   submitted/s (so every round of a run, base and head alike, sees the same load).
 *
 * Then per figure the median and range (min–max) over the rounds of each checkout and,
 * with BASELINE, head/base of the medians: as JSON lines and as a table. Progress goes to
 * stderr. Only bench/lib/ and this checkout's keys/keyring code are used from here; the
 * daemon's config holds only keys both checkouts know.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { keysFor, type Keys } from '../src/queue/keys.js';
import { Keyring } from '../src/privacy/keyring.js';
import { startRedisServer } from '../src/cli/local-redis.js';
import { processCpu, memoryKib, type CpuSample } from './lib/proc.js';
import { redisSnapshot, commandsBetween, MonitorSample, clientAddress, type RedisSnapshot, type SourceCounts } from './lib/redis-stats.js';
import { build, commitOf, startDaemon, startSim, type Daemon } from './lib/processes.js';
import { quantile, summarise, table, tidy, tidyAll, type Figures, type Round } from './lib/figures.js';

const N = Number(process.env.MESSAGES ?? 30_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const HEAD = fileURLToPath(new URL('..', import.meta.url));
const BASE = process.env.BASELINE ? resolve(process.env.BASELINE) : undefined;
const ALLOC_PROFILE = process.env.BENCH_ALLOC_PROFILE ? resolve(process.env.BENCH_ALLOC_PROFILE) : undefined;
const FILL_CHUNK = 5_000;
const SAMPLE = Math.min(N, 2_000);
const LATENCY_SECONDS = 5;
const LISTENERS = ['jazz=0:HexIdsDecimalReceiptsSMSC', 'zong=0:EarlyReceiptSMSC'];

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));
const progress = (text: string): void => void process.stderr.write(`message-path: ${text}\n`);

interface Checkout {
  label: 'head' | 'base';
  root: string;
  commit: string;
}

/** The CPU, memory and Redis readings at one end of the drain window. */
interface Reading {
  at: number;
  daemon: CpuSample;
  sim: CpuSample;
  redis: RedisSnapshot;
  daemonMemory: { rssKib: number; hwmKib: number };
}

/** Everything a round measured; figures are what get compared. */
interface RoundResult extends Round {
  notes: Record<string, unknown>;
  /** Per message, by command name: the window's calls split by the sample's shares, and the sample's own counts. */
  commands: Record<string, { calls: number; client: number; script: number; 'µs': number; sample: SourceCounts | 'none' }>;
}

function daemonConfig(root: string, redisUrl: string, prefix: string, ports: Record<string, number>): string {
  const carrier = (id: string, port: number, extra: object): object => ({
    id, host: '127.0.0.1', port, systemId: id, password: 'pw', sessions: 2, window: 100, tps: 100_000,
    timers: { responseMs: 10_000, enquireLinkMs: 30_000, inactivityMs: 90_000 }, ...extra,
  });
  const file = join(mkdtempSync(join(tmpdir(), 'qasid-bench-')), 'qasid.json');
  writeFileSync(file, JSON.stringify({
    log: { level: 'warn' },
    redis: { url: redisUrl, prefix },
    routes: { file: join(root, 'config', 'routes.example.json') },
    admin: { port: 0 },
    privacy: { keyring: Keyring.newSourceJson('k1'), hashKeyring: Keyring.newSourceJson('h1') },
    ...(process.env.MAX_IN_FLIGHT ? { dispatch: { maxInFlight: Number(process.env.MAX_IN_FLIGHT) } } : {}),
    carriers: [
      carrier('jazz', ports.jazz as number, { messageIds: { submitResp: 'hex', receipt: 'decimal' } }),
      carrier('zong', ports.zong as number, {}),
    ],
  }));
  return file;
}

/** XADDs `count` messages (client ids `<tag>-<i>`), pipelined FILL_CHUNK at a time; half to each operator. */
async function fill(r: Redis, keys: Keys, tag: string, count: number): Promise<void> {
  for (let start = 0; start < count; start += FILL_CHUNK) {
    const pipe = r.pipeline();
    for (let i = start; i < Math.min(count, start + FILL_CHUNK); i++) {
      const to = `${i % 2 === 0 ? '0300' : '0310'}${String(1_000_000 + (i % 9_000_000)).slice(-7)}`;
      pipe.xadd(keys.intake, '*', 'data', JSON.stringify({ v: 1, id: `${tag}-${i}`, to, from: 'QASID', text: `Benchmark message number ${i}, of a typical length` }));
    }
    const failed = (await pipe.exec())?.find(([err]) => err !== null);
    if (failed) throw failed[0] as Error;
    if (count >= 200_000 && start % 100_000 === 0) progress(`  queued ${start.toLocaleString('en')} of ${count.toLocaleString('en')}`);
  }
}

/** Reads the events stream from where it left off, keeping counts and times only (bounded memory). */
class EventTally {
  accepted = 0;
  finals = 0;
  firstAcceptAt = 0;
  lastAcceptAt = 0;
  lastFinalAt = 0;
  /** `at` of the first event of any status. */
  firstEventAt = 0;
  readonly statuses: Record<string, number> = {};
  calls = 0;
  private lastId = '-';

  constructor(private readonly r: Redis, private readonly key: string) {}

  async readAll(): Promise<void> {
    for (;;) {
      this.calls++;
      const batch = await this.r.xrange(this.key, this.lastId === '-' ? '-' : `(${this.lastId}`, '+', 'COUNT', 10_000);
      for (const [id, f] of batch) {
        this.lastId = id;
        const e = JSON.parse(f[1] as string) as { final: boolean; status: string; at: string };
        const at = Date.parse(e.at);
        this.firstEventAt ||= at;
        this.statuses[e.status] = (this.statuses[e.status] ?? 0) + 1;
        if (e.status === 'accepted') {
          this.accepted++;
          this.firstAcceptAt ||= at;
          this.lastAcceptAt = at;
        }
        if (e.final) {
          this.finals++;
          this.lastFinalAt = at;
        }
      }
      if (batch.length < 10_000) return;
    }
  }
}

/**
 * Whether any consumer group has read from the intake stream yet (XINFO GROUPS: a
 * last-delivered-id past 0-0). The daemon creates its group at 0 and reads only once a
 * carrier link is up, so this is the end of its start-up.
 */
async function backlogRead(r: Redis, keys: Keys): Promise<boolean> {
  const groups = (await r.xinfo('GROUPS', keys.intake)) as unknown[][];
  return groups.some((g) => {
    const i = g.indexOf('last-delivered-id');
    return i !== -1 && g[i + 1] !== '0-0';
  });
}

async function reading(daemon: Daemon, simPid: number, probe: Redis): Promise<Reading> {
  const at = Date.now();
  return { at, daemon: processCpu(daemon.pid), sim: processCpu(simPid), daemonMemory: memoryKib(daemon.pid), redis: await redisSnapshot(probe) };
}

function alive(daemon: Daemon): void {
  const exit = daemon.exited();
  if (exit !== undefined) throw new Error(`the daemon exited (${exit}); its last lines:\n${daemon.lastLines().join('\n')}`);
}

/** Shared by the rounds of one run: the steady load of the latency phase, fixed by the first round. */
const load: { rate: number | undefined } = { rate: process.env.RATE ? Number(process.env.RATE) : undefined };

async function round(index: number, checkout: Checkout): Promise<RoundResult> {
  progress(`round ${index + 1}: ${checkout.label} (${checkout.commit}, ${checkout.root})`);
  const redis = await startRedisServer();
  const probe = new Redis(redis.url);
  let daemon: Daemon | undefined;
  let configFile: string | undefined;
  const sims = await startSim(HEAD, LISTENERS).catch(async (e: unknown) => {
    probe.disconnect();
    await redis.stop();
    throw e;
  });
  try {
    const prefix = `bench${Date.now().toString(36)}`;
    const keys = keysFor(prefix);
    configFile = daemonConfig(checkout.root, redis.url, prefix, sims.ports);
    progress(`  queueing ${N.toLocaleString('en')} messages`);
    await fill(probe, keys, 'b', N);
    await probe.config('RESETSTAT');
    const nodeArgs = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
    nodeArgs.push(...(process.env.NODE_HEAP_ARGS ?? '').split(' ').filter(Boolean));
    let heapProfile: string | undefined;
    const env: Record<string, string> = {};
    if (ALLOC_PROFILE !== undefined) {
      mkdirSync(ALLOC_PROFILE, { recursive: true });
      heapProfile = join(ALLOC_PROFILE, `round${index + 1}-${checkout.label}.heapprofile`);
      rmSync(heapProfile, { force: true });
      nodeArgs.push('--import', pathToFileURL(join(HEAD, 'bench', 'lib', 'heap-sampler.mjs')).href);
      Object.assign(env, { QASID_HEAP_PROFILE: heapProfile, QASID_HEAP_PROFILE_SIGNAL: '1' });
    }
    daemon = startDaemon(checkout.root, configFile, nodeArgs, env);
    const deadline = Date.now() + 120_000 + N;

    // Start of the window: the daemon's first read of the backlog.
    while (!(await backlogRead(probe, keys))) {
      alive(daemon);
      if (Date.now() > deadline) throw new Error('the daemon read nothing before the deadline');
      await sleep(5);
    }
    const a = await reading(daemon, sims.pid, probe);
    // The sampler (preloaded: its listener is in place) starts.
    if (heapProfile !== undefined) process.kill(daemon.pid, 'SIGUSR2');
    // The benchmark's own commands between the two snapshots (the first INFO counts after it ran).
    const own = new Map<string, number>([['info', 1]]);
    const bump = (name: string, by = 1): void => void own.set(name, (own.get(name) ?? 0) + by);

    // End of the window: both events of every message are on the stream. The reading is
    // taken first and the finals counted after it, outside the window. Should some message
    // have more events, or the stream stop short (no growth for 3 s), the stream is read
    // as it grows and the reading taken once every final is in (`end read late`).
    const tally = new EventTally(probe, keys.events);
    let b: Reading | undefined;
    let length = 0;
    let grewAt = Date.now();
    let endLate = false;
    while (b === undefined) {
      await sleep(50);
      alive(daemon);
      if (Date.now() > deadline) throw new Error(`drain not done before the deadline (${tally.finals} finals read)`);
      const now = await probe.xlen(keys.events);
      bump('xlen');
      if (now > length) [length, grewAt] = [now, Date.now()];
      if (now < 2 * N && Date.now() - grewAt < 3_000) continue;
      const candidate = endLate ? undefined : await reading(daemon, sims.pid, probe);
      const calls = tally.calls;
      await tally.readAll();
      if (endLate) bump('xrange', tally.calls - calls);
      if (tally.finals >= N) {
        b = candidate ?? (await reading(daemon, sims.pid, probe));
      } else {
        if (!endLate) {
          // The candidate's INFO and these reads fell inside the window after all.
          bump('info');
          bump('xrange', tally.calls - calls);
        }
        endLate = true;
        grewAt = Date.now();
      }
    }
    if (tally.accepted === 0) throw new Error('no accepted events');
    if (heapProfile !== undefined) {
      // The sampler stops and writes its file (a few hundred ms, synchronously, in the daemon).
      process.kill(daemon.pid, 'SIGUSR2');
      const until = Date.now() + 30_000;
      while (!existsSync(heapProfile) && Date.now() < until) await sleep(50);
      progress(`  allocation profile of the drain window: ${heapProfile} (${N} messages)`);
    }

    const drained = commandsBetween(a.redis, b.redis, own);
    const submitted = tally.accepted / Math.max(0.001, (tally.lastAcceptAt - tally.firstAcceptAt) / 1000);
    load.rate ??= Math.max(1, Math.round(submitted / 2));

    // The MONITOR sample, after the window.
    progress(`  MONITOR sample of ${SAMPLE} messages`);
    const monitor = await MonitorSample.start(redis.url, [await clientAddress(probe)]);
    const before = await probe.xlen(keys.events);
    await fill(probe, keys, 's', SAMPLE);
    const sampleDeadline = Date.now() + 30_000;
    while ((await probe.xlen(keys.events)) < before + 2 * SAMPLE && Date.now() < sampleDeadline) await sleep(20);
    const sampled = await monitor.stop((marker) => probe.echo(marker));

    progress(`  steady load ${load.rate} msg/s for ${LATENCY_SECONDS} s`);
    const latency = await latencyRun(probe, keys, load.rate);
    const alloc = daemon.gc.allocatedBetween(a.at, b.at);

    const commands = splitCommands(drained, sampled);
    const per = (x: number): number => x / N;
    const figures: Figures = {
      'submitted/s': submitted,
      'receipts matched/s': tally.finals / Math.max(0.001, (tally.lastFinalAt - tally.firstAcceptAt) / 1000),
      'drain s': (b.at - a.at) / 1000,
      'daemon µs/msg': per(b.daemon.totalUs - a.daemon.totalUs),
      'daemon main µs/msg': per(b.daemon.mainUs - a.daemon.mainUs),
      'daemon other µs/msg': per(b.daemon.totalUs - b.daemon.mainUs - (a.daemon.totalUs - a.daemon.mainUs)),
      'redis µs/msg': per(b.redis.cpuUs - a.redis.cpuUs),
      'redis cmds/msg': Object.values(commands).reduce((s, c) => s + c.calls, 0),
      'redis client cmds/msg': Object.values(commands).reduce((s, c) => s + c.client, 0),
      'redis script cmds/msg': Object.values(commands).reduce((s, c) => s + c.script, 0),
      'daemon alloc B/msg': per(alloc.bytes),
      'daemon GC main µs/msg': per(alloc.mainMs * 1000),
      'daemon GC helpers µs/msg': per(alloc.backgroundMs * 1000),
      'daemon peak RSS MB': b.daemonMemory.hwmKib / 1024,
      'sim µs/msg': per(b.sim.totalUs - a.sim.totalUs),
      'latency load msg/s': load.rate,
      'XADD→accepted p50 ms': quantile(latency.accepted, 0.5),
      'XADD→accepted p99 ms': quantile(latency.accepted, 0.99),
      'XADD→final p50 ms': quantile(latency.final, 0.5),
      'XADD→final p99 ms': quantile(latency.final, 0.99),
    };
    const sampleTotals = [...sampled.values()].reduce((s, c) => ({ client: s.client + c.client, script: s.script + c.script }), { client: 0, script: 0 });
    const notes = {
      statuses: tally.statuses,
      finals: tally.finals,
      'end read late': endLate,
      // How long the daemon read and prepared before its first event (inside the window).
      'first event after window start ms': tally.firstEventAt - a.at,
      // Start-up, outside the window.
      'before window': {
        'daemon cpu s': tidy(a.daemon.totalUs / 1e6),
        // Less the benchmark's RESETSTAT and XINFO polls.
        'redis cmds': [...a.redis.commands].reduce((sum, [name, c]) => sum + (/^(config|xinfo)\|/.test(name) ? 0 : c.calls), 0),
        evalsha: a.redis.commands.get('evalsha')?.calls ?? 0,
      },
      'GCs in window': alloc.gcs,
      'alloc window closed': alloc.closed,
      'daemon RSS at end MB': Math.round(b.daemonMemory.rssKib / 1024),
      'monitor sample': { messages: SAMPLE, 'client cmds/msg': tidy(sampleTotals.client / SAMPLE), 'script cmds/msg': tidy(sampleTotals.script / SAMPLE) },
      'latency run': { sent: latency.sent, settled: latency.final.length },
      ...(heapProfile !== undefined ? { 'allocation profile': heapProfile } : {}),
    };
    return { checkout: checkout.label, figures, notes, commands };
  } finally {
    await daemon?.stop();
    probe.disconnect();
    await sims.stop();
    await redis.stop();
    // The config holds throw-away keyrings; nothing else is in its directory.
    if (configFile !== undefined) rmSync(dirname(configFile), { recursive: true, force: true });
  }
}

/** The window's commands per message, each name split into client and script calls by the MONITOR sample's shares. */
function splitCommands(drained: Map<string, { calls: number; usec: number }>, sampled: Map<string, SourceCounts>): RoundResult['commands'] {
  const out: RoundResult['commands'] = {};
  const rows = [...drained].sort((x, y) => y[1].calls - x[1].calls);
  for (const [name, c] of rows) {
    // commandstats names a subcommand `xinfo|groups`; MONITOR prints its first word.
    const s = sampled.get(name.split('|')[0] as string);
    const share = s === undefined || s.client + s.script === 0 ? 0 : s.script / (s.client + s.script);
    out[name] = {
      calls: fine(c.calls / N),
      client: fine((c.calls * (1 - share)) / N),
      script: fine((c.calls * share) / N),
      'µs': tidy(c.usec / N),
      sample: s === undefined ? 'none' : { client: fine(s.client / SAMPLE), script: fine(s.script / SAMPLE) },
    };
  }
  return out;
}

/** Three decimals: a command a batch (XACK, XREADGROUP) is a few thousandths per message. */
function fine(x: number): number {
  return Number(x.toFixed(3));
}

/** Latency under a steady offered load (not a backlog): XADD at `rate` for a few seconds. */
async function latencyRun(r: Redis, keys: Keys, rate: number): Promise<{ sent: number; accepted: number[]; final: number[] }> {
  const last = await r.xrevrange(keys.events, '+', '-', 'COUNT', 1);
  let lastId = last[0]?.[0] ?? '0-0';
  const sentAt = new Map<string, number>();
  let i = 0;
  const start = Date.now();
  while (Date.now() - start < LATENCY_SECONDS * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * rate);
    const pipe = r.pipeline();
    for (; i < due; i++) {
      const id = `l-${i}`;
      sentAt.set(id, Date.now());
      pipe.xadd(keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to: `0300${String(1_000_000 + i).slice(-7)}`, from: 'QASID', text: `Latency probe ${i}` }));
    }
    await pipe.exec();
    await sleep(5);
  }
  const accepted: number[] = [];
  const final: number[] = [];
  const deadline = Date.now() + 30_000;
  while (final.length < i && Date.now() < deadline) {
    const batch = await r.xrange(keys.events, `(${lastId}`, '+', 'COUNT', 5000);
    for (const [id, f] of batch) {
      lastId = id;
      const e = JSON.parse(f[1] as string) as { final: boolean; status: string; at: string; clientId: string };
      const t = sentAt.get(e.clientId);
      if (t === undefined) continue;
      if (e.status === 'accepted') accepted.push(Date.parse(e.at) - t);
      if (e.final) final.push(Date.parse(e.at) - t);
    }
    if (batch.length === 0) await sleep(20);
  }
  return { sent: i, accepted, final };
}

async function main(): Promise<void> {
  const head: Checkout = { label: 'head', root: HEAD, commit: commitOf(HEAD) };
  const checkouts: Checkout[] = [head];
  if (BASE !== undefined) {
    for (const f of ['bin/qasid.js', 'tsconfig.json', 'node_modules/typescript/bin/tsc']) {
      if (!existsSync(join(BASE, f))) throw new Error(`BASELINE=${BASE} has no ${f} (a checkout with node_modules linked in?)`);
    }
    checkouts.unshift({ label: 'base', root: BASE, commit: commitOf(BASE) });
  }
  for (const c of checkouts) {
    progress(`building ${c.label} (${c.root})`);
    build(c.root);
  }
  console.log(JSON.stringify({
    scenario: `message path, ${N} queued messages, 2 carriers × 2 sessions × window 100 (hex ids/decimal receipts; early receipts), receipts on; Redis, simulator and daemon in their own processes`,
    rounds: ROUNDS,
    checkouts: Object.fromEntries(checkouts.map((c) => [c.label, c.commit])),
    node: process.version,
  }));
  const results: RoundResult[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Interleaved (base, head, base, head…) so both see the same machine over time.
    for (const c of checkouts) {
      const r = await round(results.length, c);
      results.push(r);
      console.log(JSON.stringify({ round: results.length, checkout: c.label, commit: c.commit, messages: N, ...tidyAll(r.figures), ...r.notes }));
      console.log(JSON.stringify({ round: results.length, checkout: c.label, 'redis commands per message (drain)': r.commands }));
    }
  }
  const labels = checkouts.map((c) => c.label).reverse();
  const rows = summarise(results, labels);
  for (const row of rows) console.log(JSON.stringify(row));
  console.log(`\n${table(rows, labels)}`);
  console.log(`\nbench peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
}

await main();
