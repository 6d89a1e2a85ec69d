/**
 * `qasid demo`: the first thing a newcomer runs. Starts two simulated carriers (one
 * answering hex ids with decimal receipts, one sending receipts before the response),
 * binds to both with the carriers of config/example.json, pushes traffic, prints what
 * happened, unbinds and exits 0.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { App } from '../app.js';
import { loadConfig } from '../config/load.js';
import type { QasidConfig } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import { createLogger } from '../log/logger.js';
import { startSimulator, type SimServer } from '../sim/index.js';
import type { SubmitResult } from '../smpp/link.js';

const EXAMPLE = fileURLToPath(new URL('../../config/example.json', import.meta.url));
const PRESET_FOR: Readonly<Record<string, string>> = { jazz: 'HexIdsDecimalReceiptsSMSC', zong: 'EarlyReceiptSMSC' };

interface Tally {
  submitted: number;
  accepted: number;
  rejected: number;
  unknown: number;
  notSent: number;
  receipts: number;
  latencies: number[];
}

export async function demoCommand(argv: string[]): Promise<number> {
  let perCarrier: number;
  try {
    const { values } = parseArgs({ args: argv, options: { messages: { type: 'string', short: 'n', default: '500' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      console.log('Usage: qasid demo [--messages N]\nStarts two simulated carriers, binds, submits N messages to each, prints results, exits 0.');
      return 0;
    }
    perCarrier = Number(values.messages);
    if (!Number.isInteger(perCarrier) || perCarrier < 1) throw new Error('--messages must be a positive integer');
  } catch (e) {
    console.error(`qasid demo: ${errorMessage(e)}`);
    return 64;
  }

  const base = loadConfig({ file: EXAMPLE, env: {} });
  const sims = new Map<string, SimServer>();
  let app: App | undefined;
  try {
    for (const c of base.carriers) {
      sims.set(c.id, await startSimulator({ port: 0, name: c.id, preset: PRESET_FOR[c.id] ?? 'HappySMSC' }));
    }
    // Same carriers as the example file, pointed at the simulators' random ports.
    const config: QasidConfig = { ...base, carriers: base.carriers.map((c) => ({ ...c, port: (sims.get(c.id) as SimServer).port })) };
    const tallies = new Map<string, Tally>(config.carriers.map((c) => [c.id, { submitted: 0, accepted: 0, rejected: 0, unknown: 0, notSent: 0, receipts: 0, latencies: [] }]));
    app = new App({
      config,
      logger: createLogger({ level: 'warn' }),
      onDeliver: async (pdu, session) => {
        if (((pdu.body.esm_class as number) & 0x3c) === 0x04) (tallies.get(session.carrier) as Tally).receipts++;
        return 0;
      },
    });
    console.log(`Qasid demo — ${config.carriers.length} simulated carriers, ${perCarrier} messages each\n`);
    await app.start();
    await Promise.all([...app.links.values()].map((l) => l.waitAllBound(10_000)));
    for (const h of app.health()) console.log(`  bound  ${h.carrier.padEnd(6)} ${h.sessionsBound}/${h.sessionsTotal} sessions  (simulator: ${PRESET_FOR[h.carrier] ?? 'HappySMSC'})`);

    const started = Date.now();
    await Promise.all(
      [...app.links.values()].map(async (link) => {
        const t = tallies.get(link.carrierId) as Tally;
        const sends: Array<Promise<void>> = [];
        for (let i = 0; i < perCarrier; i++) {
          t.submitted++;
          sends.push(link.submit(demoBody(i)).then((r) => record(t, r)));
        }
        await Promise.all(sends);
      }),
    );
    const elapsed = Date.now() - started;
    // Receipts trail the responses by a few milliseconds.
    const deadline = Date.now() + 5000;
    while ([...tallies.values()].some((t) => t.receipts < t.accepted) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    console.log('\n  carrier  submitted  accepted  rejected  unknown  not_sent  receipts  p50 ms  p99 ms');
    for (const [id, t] of tallies) {
      const [p50, p99] = [quantile(t.latencies, 0.5), quantile(t.latencies, 0.99)];
      console.log(
        `  ${id.padEnd(7)}  ${pad(t.submitted, 9)}  ${pad(t.accepted, 8)}  ${pad(t.rejected, 8)}  ${pad(t.unknown, 7)}  ${pad(t.notSent, 8)}  ${pad(t.receipts, 8)}  ${pad(p50, 6)}  ${pad(p99, 6)}`,
      );
    }
    const total = [...tallies.values()].reduce((n, t) => n + t.submitted, 0);
    console.log(`\n  ${total} submits in ${elapsed} ms (${Math.round((total * 1000) / Math.max(1, elapsed))}/s over loopback)`);
    console.log('  (carrier tps pacing arrives with the message path; this demo submits as fast as the windows allow)');
    await app.stop();
    const unbinds = [...sims.values()].reduce((n, s) => n + s.stats.unbinds, 0);
    console.log(`  stopped: ${unbinds} sessions unbound politely\n`);
    console.log('Next: `qasid sim --help` for simulator behaviours, `qasid config print config/example.json` for the effective config.');
    const lost = [...tallies.values()].some((t) => t.accepted + t.rejected + t.unknown + t.notSent !== t.submitted);
    return lost ? 1 : 0;
  } catch (e) {
    console.error(`qasid demo failed: ${errorMessage(e)}`);
    return 1;
  } finally {
    await app?.stop();
    await Promise.all([...sims.values()].map((s) => s.close()));
  }
}

function record(t: Tally, r: SubmitResult): void {
  switch (r.kind) {
    case 'accepted':
      t.accepted++;
      t.latencies.push(r.latencyMs);
      break;
    case 'rejected':
      t.rejected++;
      break;
    case 'unknown':
      t.unknown++;
      break;
    case 'not_sent':
      t.notSent++;
      break;
  }
}

function demoBody(i: number): Record<string, unknown> {
  return {
    source_addr: 'QASID',
    source_addr_ton: 5,
    destination_addr: `92300${String(1_000_000 + i)}`,
    registered_delivery: 1,
    data_coding: 0,
    short_message: Buffer.from(`Qasid demo message ${i}`),
  };
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w);
}
