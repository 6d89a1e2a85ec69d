/**
 * Scenario: how fast is the SMSC simulator? A raw pipelined client (window 100, one
 * transceiver bind, every receipt acknowledged) against a simulator in a child process
 * (so client and simulator each get a core), for ~5 s. Prints submit/s, receipts/s and
 * the simulator's CPU per message. No assertions.
 *
 *   node --import tsx bench/sim-throughput.ts [--seconds 5] [--window 100] [--preset HappySMSC] [--binds 1] [--in-process]
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startSimulator, type SimStats } from '../src/sim/index.js';
import { encodePdu } from '../src/smpp/codec.js';
import { Framer } from '../src/smpp/framer.js';

const CHILD_ENV = 'QASID_BENCH_SIM_CHILD';

interface SimSide {
  port: number;
  /** Simulator stats and CPU microseconds (user + system) used so far. */
  sample(): Promise<{ stats: SimStats; cpuMicros: number }>;
  stop(): Promise<void>;
}

async function runChild(): Promise<void> {
  const sim = await startSimulator({ port: 0, preset: process.env.QASID_BENCH_PRESET ?? 'HappySMSC' });
  process.on('message', (msg) => {
    if (msg === 'sample') {
      const cpu = process.cpuUsage();
      process.send?.({ stats: sim.stats, cpuMicros: cpu.user + cpu.system });
    }
  });
  process.on('disconnect', () => void sim.close().then(() => process.exit(0)));
  process.send?.({ port: sim.port });
}

async function childSim(preset: string): Promise<SimSide> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, [CHILD_ENV]: '1', QASID_BENCH_PRESET: preset },
  });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { port: number }).port)));
  return {
    port,
    sample: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as { stats: SimStats; cpuMicros: number }));
        child.send('sample');
      }),
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      await exited;
    },
  };
}

async function inProcessSim(preset: string): Promise<SimSide> {
  const sim = await startSimulator({ port: 0, preset });
  return {
    port: sim.port,
    sample: async () => {
      const cpu = process.cpuUsage();
      return { stats: structuredClone(sim.stats), cpuMicros: cpu.user + cpu.system };
    },
    stop: () => sim.close(),
  };
}

/** One pipelined transceiver: keeps `window` submit_sm in flight and acknowledges every deliver_sm. */
class Pipeline {
  ok = 0;
  errors = 0;
  receipts = 0;
  sending = true;
  private inflight = 0;
  private seq = 1;
  private readonly framer = new Framer();
  private readonly template = encodePdu('submit_sm', 0, {
    source_addr: 'QASID',
    destination_addr: '923001234567',
    registered_delivery: 1,
    data_coding: 0,
    short_message: Buffer.from('benchmark message of a typical length, 60 characters long..'),
  });

  constructor(
    private readonly socket: net.Socket,
    private readonly window: number,
  ) {}

  static async open(port: number, window: number): Promise<Pipeline> {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const p = new Pipeline(socket, window);
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write(encodePdu('bind_transceiver', 1, { system_id: 'bench', password: 'bench', interface_version: 0x34 }));
    });
    socket.on('data', (chunk: Buffer) => p.onData(chunk));
    return p;
  }

  start(): void {
    this.socket.write(this.submits(this.window));
  }

  close(): void {
    this.socket.destroy();
  }

  private submits(n: number): Buffer {
    const t = this.template;
    const out = Buffer.allocUnsafe(t.length * n);
    for (let i = 0; i < n; i++) {
      t.copy(out, i * t.length);
      out.writeUInt32BE(++this.seq, i * t.length + 12);
    }
    this.inflight += n;
    return out;
  }

  private onData(chunk: Buffer): void {
    const acks: number[] = [];
    for (const f of this.framer.push(chunk).frames) {
      const id = f.readUInt32BE(4);
      if (id === 0x80000004) {
        this.inflight--;
        if (f.readUInt32BE(8) === 0) this.ok++;
        else this.errors++;
      } else if (id === 0x00000005) {
        this.receipts++;
        acks.push(f.readUInt32BE(12));
      }
    }
    const refill = this.sending ? this.window - this.inflight : 0;
    if (acks.length === 0 && refill <= 0) return;
    // deliver_sm_resp: header + empty message_id (SMPP 3.4 §4.6.2).
    const ackBytes = Buffer.alloc(acks.length * 17);
    acks.forEach((seq, i) => {
      ackBytes.writeUInt32BE(17, i * 17);
      ackBytes.writeUInt32BE(0x80000005, i * 17 + 4);
      ackBytes.writeUInt32BE(seq, i * 17 + 12);
    });
    this.socket.write(refill > 0 ? Buffer.concat([ackBytes, this.submits(refill)]) : ackBytes);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      window: { type: 'string', default: '100' },
      preset: { type: 'string', default: 'HappySMSC' },
      binds: { type: 'string', default: '1' },
      'in-process': { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const window = Number(values.window);
  const sim = values['in-process'] ? await inProcessSim(values.preset) : await childSim(values.preset);
  const pipes = await Promise.all(Array.from({ length: Number(values.binds) }, () => Pipeline.open(sim.port, window)));
  // Warm up for a second so the JIT has compiled the hot paths, then measure.
  for (const p of pipes) p.start();
  await new Promise((r) => setTimeout(r, 1000));
  const sum = (f: (p: Pipeline) => number): number => pipes.reduce((a, p) => a + f(p), 0);
  const before = { ok: sum((p) => p.ok), receipts: sum((p) => p.receipts), sim: await sim.sample(), client: process.cpuUsage(), t: performance.now() };
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const after = { ok: sum((p) => p.ok), receipts: sum((p) => p.receipts), sim: await sim.sample(), client: process.cpuUsage(before.client), t: performance.now() };
  for (const p of pipes) p.sending = false;
  const secs = (after.t - before.t) / 1000;
  const submits = after.ok - before.ok;
  const receipts = after.receipts - before.receipts;
  const simCpu = after.sim.cpuMicros - before.sim.cpuMicros;
  console.log(
    JSON.stringify(
      {
        scenario: 'sim-throughput',
        preset: values.preset,
        simulator: values['in-process'] ? 'in-process' : 'child process',
        binds: pipes.length,
        window,
        seconds: Number(secs.toFixed(2)),
        submitPerSec: Math.round(submits / secs),
        receiptsPerSec: Math.round(receipts / secs),
        submitErrors: sum((p) => p.errors),
        simCpuMicrosPerSubmit: submits ? Number((simCpu / submits).toFixed(2)) : null,
        clientCpuMicrosPerSubmit: submits ? Number(((after.client.user + after.client.system) / submits).toFixed(2)) : null,
        node: process.version,
        cpu: cpus()[0]?.model,
        cores: cpus().length,
      },
      null,
      2,
    ),
  );
  for (const p of pipes) p.close();
  await sim.stop();
}

if (process.env[CHILD_ENV] === '1') void runChild();
else await main();
