/**
 * Scenario: one carrier link (Qasid's session layer) submitting as fast as its windows
 * allow to the simulator running in a separate process, with delivery receipts flowing
 * back. Prints submits/s, receipts/s, submit→resp latency p50/p99, and CPU per message.
 *
 *   npm run bench -- link-throughput          (defaults below)
 *   BENCH_SECONDS=10 WINDOW=100 SESSIONS=1 RECEIPTS=0 node --import tsx bench/link-throughput.ts
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CarrierLink } from '../src/smpp/link.js';
import { silentLogger } from '../src/log/logger.js';
import { testCarrier } from '../test/helpers/carrier.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const window = Number(process.env.WINDOW ?? 100);
const sessions = Number(process.env.SESSIONS ?? 1);
const receipts = (process.env.RECEIPTS ?? '1') !== '0';

async function run(): Promise<Record<string, number | string>> {
  const bin = fileURLToPath(new URL('../bin/qasid.js', import.meta.url));
  const sim = spawn(process.execPath, [bin, 'sim', '--port', '0', '--log-level', 'info', ...(receipts ? [] : ['--no-receipts'])], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const rl = createInterface({ input: sim.stdout });
      rl.on('line', (line) => {
        const m = /"event":"sim.listening".*"port":(\d+)/.exec(line);
        if (m) resolve(Number(m[1]));
      });
      sim.once('exit', (code) => reject(new Error(`simulator exited ${code}`)));
    });
    let receiptCount = 0;
    const link = new CarrierLink({
      carrier: testCarrier(port, { window, sessions, timers: { responseMs: 10_000, enquireLinkMs: 30_000, inactivityMs: 90_000 } }),
      logger: silentLogger(),
      onDeliver: async () => {
        receiptCount++;
        return 0;
      },
    });
    await link.start();
    await link.waitAllBound(5000);

    const body = { source_addr: 'QASID', destination_addr: '923001234567', registered_delivery: receipts ? 1 : 0, data_coding: 0, short_message: Buffer.from('benchmark message of a typical length, about sixty chars') };
    const latencies: number[] = [];
    let accepted = 0;
    let other = 0;
    const deadline = Date.now() + seconds * 1000;
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    // One worker per window slot: each submits again as soon as its answer lands.
    const workers = Array.from({ length: window * sessions }, async () => {
      while (Date.now() < deadline) {
        const r = await link.submit(body);
        if (r.kind === 'accepted') {
          accepted++;
          if (accepted % 16 === 0) latencies.push(r.latencyMs);
        } else other++;
      }
    });
    await Promise.all(workers);
    const elapsed = (Date.now() - t0) / 1000;
    const receiptsAtEnd = receiptCount;
    const cpu = process.cpuUsage(cpu0);
    await link.stop();
    latencies.sort((a, b) => a - b);
    const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
    return {
      scenario: `link window=${window} sessions=${sessions} receipts=${receipts}`,
      'submit/s': Math.round(accepted / elapsed),
      'receipts/s': Math.round(receiptsAtEnd / elapsed),
      'p50 ms': q(0.5),
      'p99 ms': q(0.99),
      'cpu µs/msg (gateway)': Math.round(((cpu.user + cpu.system) / Math.max(1, accepted)) * 10) / 10,
      'not accepted': other,
    };
  } finally {
    sim.kill('SIGTERM');
  }
}

const result = await run();
console.log(JSON.stringify({ ...result, node: process.version, at: new Date().toISOString() }));
