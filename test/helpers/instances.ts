/**
 * Several `qasid run` processes on one Redis (standalone, Sentinel or Cluster: the
 * `redis` config section decides), one simulator carrier, and what a carrier would
 * check: submits per second, binds at once, each message once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { startSimulator, type SimServer } from '../../src/sim/index.js';
import { keysFor, recordId, type Keys } from '../../src/queue/keys.js';
import { Keyring } from '../../src/privacy/keyring.js';
import { runDaemon, type Daemon } from './daemon.js';

export interface InstancesRun {
  r: Redis;
  sim: SimServer;
  keys: ReturnType<typeof keysFor>;
  /** receivedAt of every submit_sm the simulator read. */
  submits: number[];
  /** Start `qasid run` as intake consumer `name`. */
  start(name: string): Daemon;
}

export interface InstancesOptions {
  /** The config's `redis` section (url and topology); the prefix is added. */
  redis: Record<string, unknown>;
  /** A client for the test's own reads and writes, on the same topology. */
  client: Redis;
  prefix: string;
  tps: number;
  sessions: number;
  leaseMs: number;
  cleanups: Array<() => Promise<void>>;
  /** More config sections, merged over the defaults (e.g. messages). */
  extra?: Record<string, unknown>;
  /** intake.shards (default 1). */
  shards?: number;
}

export async function startInstances(o: InstancesOptions): Promise<InstancesRun> {
  const submits: number[] = [];
  // Receipts over every receiving session: most reach an instance that did not submit.
  const sim = await startSimulator({ port: 0, preset: 'HappySMSC', behaviour: { receipts: { spread: true } }, onSubmit: (s) => submits.push(s.receivedAt) });
  o.cleanups.push(() => sim.close());
  const dir = mkdtempSync(join(tmpdir(), 'qasid-instances-'));
  const keyring = Keyring.newSourceJson('k1');
  const hashKeyring = Keyring.newSourceJson('h1');
  const start = (name: string): Daemon => {
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        log: { level: 'info' },
        redis: { ...o.redis, prefix: o.prefix },
        shutdown: { drainMs: 1000, forceExitMs: 10000 },
        intake: { blockMs: 100, consumer: name, leaseMs: o.leaseMs, shards: o.shards ?? 1 },
        scale: { bindLeaseMs: o.leaseMs },
        admin: { port: 0 },
        privacy: { keyring, hashKeyring },
        dispatch: { pollMs: 50, maxInFlight: 500 },
        carriers: [{ id: 'a', host: '127.0.0.1', port: sim.port, systemId: 'a', password: 'pw', window: 50, sessions: o.sessions, tps: o.tps, timers: { reconnectMinMs: 50, reconnectMaxMs: 500 } }],
        ...o.extra,
      }),
    );
    return runDaemon(file, o.cleanups);
  };
  return { r: o.client, sim, keys: keysFor(o.prefix, o.shards ?? 1), submits, start };
}

/** XADD n entries `<tag>-<i>` (batched: one command each, sent together). */
/** XADD `<tag>-0 … <tag>-(n−1)` to one stream, or, given the keys, each to the shard of its client id (as QasidClient does). */
export async function pushMessages(r: Redis, to: string | Keys, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    const adds: Array<Promise<unknown>> = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const id = `${tag}-${j}`;
      const stream = typeof to === 'string' ? to : (to.intakeStreams[to.shardOf(recordId(undefined, id))] as string);
      adds.push(r.xadd(stream, '*', 'data', JSON.stringify({ v: 1, id, to: '03001234567', from: 'QASID', text: `message ${j}` })));
    }
    await Promise.all(adds);
  }
}

/**
 * Final events per client id, read incrementally (only what came since the last call):
 * the test process also runs the simulator, whose timestamps a long parse would skew.
 */
export class FinalsReader {
  readonly finals = new Map<string, number>();
  private last = '-';

  constructor(
    private readonly r: Redis,
    private readonly events: string,
  ) {}

  async read(): Promise<Map<string, number>> {
    for (;;) {
      const rows = await this.r.xrange(this.events, this.last === '-' ? '-' : `(${this.last}`, '+', 'COUNT', 2000);
      for (const [id, f] of rows) {
        this.last = id;
        const e = JSON.parse(f[1] as string) as { final: boolean; clientId?: string };
        if (!e.final) continue;
        const c = e.clientId ?? '';
        this.finals.set(c, (this.finals.get(c) ?? 0) + 1);
      }
      if (rows.length < 2000) return this.finals;
    }
  }
}

/** Submits per whole second, from `from` on, for the whole seconds before `to` (ms since the epoch). */
export function perSecond(submits: number[], from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = from; t + 1000 <= to; t += 1000) out.push(submits.filter((x) => x >= t && x < t + 1000).length);
  return out;
}

/** Who holds each of the carrier's bind slots, from the lease hash. */
export async function slotHolders(r: Redis, key: string): Promise<string[]> {
  const h = await r.hgetall(key);
  return Object.entries(h)
    .filter(([f]) => f.startsWith('s:'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, v]) => v.split('|')[0] as string);
}

/**
 * The whole seconds of a drain, judged as a carrier would: none above +5 %; below means a
 * stall of this busy machine (that time is not owed later), so the low side is judged on
 * the mean (±3 %) and each second within −10 %. Returns a failure message, or undefined.
 */
export function judgeRate(submits: number[], tps: number, o: { overOnly?: boolean } = {}): string | undefined {
  // From the second after the first submit to two before the last: as the backlog runs
  // out, instances finish their last entries unevenly.
  const seconds = perSecond(submits, (submits[0] as number) + 1000, (submits[submits.length - 1] as number) - 2000);
  if (seconds.length < 4) return `too few whole seconds to judge (${JSON.stringify(seconds)})`;
  const mean = seconds.reduce((a, b) => a + b, 0) / seconds.length;
  if (seconds.some((n) => n > tps * 1.05)) return `submits per second ${JSON.stringify(seconds)}: a second above ${tps} + 5 %`;
  if (o.overOnly) return undefined;
  if (Math.abs(mean - tps) > tps * 0.03 || seconds.some((n) => n < tps * 0.9)) return `submits per second ${JSON.stringify(seconds)}: mean ${mean.toFixed(1)}, want ${tps} ± 3 %, each second ≥ −10 %`;
  return undefined;
}

/**
 * Start instances i1…iN, wait until every one of `n` messages has a final event (with
 * `during` run once traffic flows), stop them, and return what a failure message needs.
 */
export async function drain(
  run: InstancesRun,
  n: number,
  o: { instances: number; timeoutMs: number; tag: string; during?: () => Promise<void>; everyTick?: () => Promise<void> },
): Promise<{ finals: Map<string, number>; log: () => string; output: () => string }> {
  const daemons = Array.from({ length: o.instances }, (_, i) => run.start(`i${i + 1}`));
  // The first warnings and errors of each (they name the cause), then its last lines.
  const log = (): string =>
    daemons
      .map((d) => {
        const lines = d.output().split('\n');
        return [...lines.filter((l) => /"level":"(warn|error|fatal)"/.test(l)).slice(0, 8), '…', ...lines.slice(-8)].join('\n');
      })
      .join('\n---\n');
  const deadline = Date.now() + o.timeoutMs;
  const reader = new FinalsReader(run.r, run.keys.events);
  let finals = new Map<string, number>();
  let during = o.during;
  while (finals.size < n && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    if (during && run.sim.stats.submitOk > n / 4) {
      const d = during;
      during = undefined;
      await d();
    }
    finals = await reader.read();
    await o.everyTick?.();
  }
  for (const d of daemons) d.kill('SIGTERM');
  await Promise.all(daemons.map((d) => d.exited));
  if (finals.size < n) {
    let watch = 0;
    let due = 0;
    for (let shard = 0; shard < run.keys.shards; shard++) {
      watch += await run.r.zcard(run.keys.zset('watch', shard));
      due += await run.r.zcard(run.keys.zset('due', shard));
    }
    const st = run.sim.stats;
    throw new Error(`${finals.size} of ${n} final after ${o.timeoutMs} ms; watch ${watch}, due ${due}; missing:\n${await missingFinals(run, finals, n, o.tag)}\nsim submitted ${st.submitOk}, receipts sent ${st.receiptsSent} acked ${st.receiptsAcked} redelivered ${st.receiptsRedelivered} held ${st.receiptsHeld}; logs:\n${log()}`);
  }
  return { finals, log, output: () => daemons.map((d) => d.output()).join('\n') };
}

/**
 * For a failure message: the client ids `<tag>-0 … <tag>-(n−1)` without a final event,
 * with their record's state fields (the sealed `d` and `i` left out) and whether they
 * are in the due or watch set — where each one got stuck.
 */
export async function missingFinals(run: InstancesRun, finals: Map<string, number>, n: number, tag: string): Promise<string> {
  const out: string[] = [];
  for (let i = 0; i < n && out.length < 10; i++) {
    const id = `${tag}-${i}`;
    if (finals.has(id)) continue;
    const rec = recordId(undefined, id);
    const shard = run.keys.shardOf(rec);
    const [h, due, watch] = await Promise.all([run.r.hgetall(run.keys.record(rec)), run.r.zscore(run.keys.zset('due', shard), rec), run.r.zscore(run.keys.zset('watch', shard), rec)]);
    const { d: _d, i: _i, ...state } = h;
    out.push(`${id} (${rec}): ${JSON.stringify(state)} due=${due} watch=${watch}`);
  }
  const pending = await Promise.all(run.keys.intakeStreams.map((s) => run.r.xpending(s, 'qasid')));
  return `${out.join('\n')}\nintake pending ${JSON.stringify(pending)}`;
}
