/**
 * Building blocks of the chaos run: a redis-server child (optionally with AOF, killable
 * with SIGKILL and restartable on the same port), `qasid run` children, an SMPP tap that
 * counts the submit_sm sent per message text, and readers of the events and dead streams.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

export const BIN = fileURLToPath(new URL('../../bin/qasid.js', import.meta.url));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every child and socket a scenario started; `killAll` ends them all (SIGKILL). */
export class Cleanup {
  private readonly fns: Array<() => unknown> = [];
  add(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.reverse()) {
      try {
        await fn();
      } catch {
        /* best effort */
      }
    }
    this.fns.length = 0;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** A redis-server child on a fixed loopback port; `kill9()` then `start()` restarts it there (same dir, so AOF survives). */
export class RedisChild {
  child: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'qasid-chaos-redis-'));
  constructor(
    readonly port: number,
    readonly aof: boolean,
  ) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    const persist = this.aof ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no'];
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persist, '--dir', this.dir, '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(t);
          resolve();
        }
      });
      child.stderr.resume();
      child.once('exit', () => reject(new Error(`redis-server exited: ${out}`)));
    });
    child.stdout.resume();
  }
  async kill9(): Promise<void> {
    const c = this.child;
    if (c === null) return;
    c.kill('SIGKILL');
    await waitExit(c, 5000);
    this.child = null;
  }
}

export interface CarrierOpts {
  tps: number;
  window?: number;
}

/** Writes a `qasid run` config file; returns its path and the admin port. */
export function writeConfig(opts: {
  redisUrl: string;
  prefix: string;
  smscPort: number;
  adminPort: number;
  carrier: CarrierOpts;
  consumer?: string;
  intake?: Record<string, unknown>;
  /** `messages.*` settings (validity, receipt grace). */
  messages?: Record<string, unknown>;
  /** The keyrings (Keyring.newSourceJson): every daemon of a scenario shares them, or a restarted one cannot open what the first sealed. */
  keyrings: { keyring: string; hashKeyring: string };
}): string {
  const dir = mkdtempSync(join(tmpdir(), 'qasid-chaos-'));
  const file = join(dir, 'qasid.json');
  writeFileSync(
    file,
    JSON.stringify({
      log: { level: 'warn' },
      redis: { url: opts.redisUrl, prefix: opts.prefix },
      shutdown: { drainMs: 1000, forceExitMs: 10000 },
      intake: { blockMs: 100, ...(opts.consumer !== undefined ? { consumer: opts.consumer } : {}), ...opts.intake },
      admin: { port: opts.adminPort },
      privacy: opts.keyrings,
      dispatch: { pollMs: 50, maxInFlight: 500 },
      ...(opts.messages !== undefined ? { messages: opts.messages } : {}),
      carriers: [
        {
          id: 'jazz',
          host: '127.0.0.1',
          port: opts.smscPort,
          systemId: 'jazz',
          password: 'pw',
          window: opts.carrier.window ?? 20,
          tps: opts.carrier.tps,
          timers: { reconnectMinMs: 50, reconnectMaxMs: 500 },
        },
      ],
    }),
  );
  return file;
}

/** One `qasid run` child. `expectedExit` is set by whoever signals it, so an unasked non-zero exit counts as a crash. */
export class Daemon {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Log lines (JSON), kept in full only for the events the harness counts; the tail of the rest for reports. */
  resubmits = 0;
  private tail: string[] = [];
  private signalled: NodeJS.Signals | null = null;

  constructor(
    configFile: string,
    readonly adminPort: number,
  ) {
    this.child = spawn(process.execPath, [BIN, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    const onData = (d: Buffer): void => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"event":"dispatch.resubmit"')) this.resubmits++;
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
      }
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }
  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  /** VmRSS in MiB, or NaN once it is gone. */
  rssMiB(): number {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m === null ? NaN : Number(m[1]) / 1024;
    } catch {
      return NaN;
    }
  }
  kill(sig: NodeJS.Signals): void {
    this.signalled = sig;
    this.child.kill(sig);
  }
  /** SIGTERM and wait (SIGKILL after `ms`). */
  async stop(ms = 15_000): Promise<void> {
    if (!this.alive()) return;
    this.kill('SIGTERM');
    if (!(await waitExit(this.child, ms))) this.kill('SIGKILL');
    await this.exited;
  }
  /** true when it exited on its own (or on our SIGTERM) with a non-zero code, or died of a signal we did not send. */
  async crashed(): Promise<boolean> {
    if (this.alive()) return false;
    const { code, signal } = await this.exited;
    if (this.signalled === 'SIGKILL') return false;
    if (signal !== null) return signal !== this.signalled;
    return code !== 0;
  }
  log(): string {
    return this.tail.join('\n');
  }
  /** `qasid_resubmits_total` summed over its labels, from /metrics. */
  async resubmitsMetric(): Promise<number> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.adminPort}/metrics`, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      let sum = 0;
      for (const line of body.split('\n')) if (line.startsWith('qasid_resubmits_total')) sum += Number(line.split(' ').pop());
      return sum;
    } catch {
      return NaN;
    }
  }
}

/**
 * A TCP pass-through between the daemon and the simulator that reads the SMPP frames both
 * ways and counts, per short_message text, the submit_sm that may have reached a handset:
 * every one passed on, less those the SMSC refused with an error status. (The simulator
 * only counts submits in total.)
 */
export class SmppTap {
  readonly sent = new Map<string, number>();
  /** submit_sm whose connection closed before their answer came: sent, outcome unknown to the daemon. */
  orphaned = 0;
  readonly port: number;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(server: net.Server) {
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  static async start(upstreamPort: number): Promise<SmppTap> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const tap = new SmppTap(server);
    server.on('connection', (client) => tap.relay(client, upstreamPort));
    return tap;
  }

  /** Messages sent more than once, summed as (times sent − 1). */
  extraSends(): number {
    let n = 0;
    for (const c of this.sent.values()) if (c > 1) n += c - 1;
    return n;
  }

  private relay(client: net.Socket, upstreamPort: number): void {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    const bySeq = new Map<number, string>();
    const end = (): void => {
      this.orphaned += bySeq.size;
      bySeq.clear();
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    // Counted when the submit_sm passes, taken back when the SMSC refuses it: a submit whose
    // answer never came (the daemon was killed, the connection dropped) may well have
    // reached the handset, so it counts as sent.
    const bump = (text: string, by: number): void => void this.sent.set(text, (this.sent.get(text) ?? 0) + by);
    frames(client, (cmd, seq, body) => {
      if (cmd !== 0x00000004) return;
      const text = submitText(body);
      bySeq.set(seq, text);
      bump(text, 1);
    });
    frames(upstream, (cmd, seq, _body, status) => {
      if (cmd !== 0x80000004) return;
      const text = bySeq.get(seq);
      bySeq.delete(seq);
      if (text !== undefined && status !== 0) bump(text, -1);
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function frames(sock: net.Socket, onFrame: (cmd: number, seq: number, body: Buffer, status: number) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    while (buf.length >= 16) {
      const len = buf.readUInt32BE(0);
      if (len < 16 || buf.length < len) break;
      onFrame(buf.readUInt32BE(4), buf.readUInt32BE(12), buf.subarray(16, len), buf.readUInt32BE(8));
      buf = buf.subarray(len);
    }
    if (buf.length > 0) buf = Buffer.from(buf);
  });
}

/** short_message of a submit_sm body (SMPP 3.4 §4.4.1), as latin1 (our texts are ASCII). */
function submitText(body: Buffer): string {
  let i = 0;
  const skipCString = (): void => {
    while (i < body.length && body[i] !== 0) i++;
    i++;
  };
  skipCString(); // service_type
  i += 2; // source ton, npi
  skipCString(); // source_addr
  i += 2; // dest ton, npi
  skipCString(); // destination_addr
  i += 3; // esm_class, protocol_id, priority_flag
  skipCString(); // schedule_delivery_time
  skipCString(); // validity_period
  i += 4; // registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
  const len = body[i] ?? 0;
  return body.subarray(i + 1, i + 1 + len).toString('latin1');
}

export interface EventTally {
  /** clientId → number of final events. */
  finals: Map<string, number>;
  /** "status reason" of each final event → how many. */
  statuses: Map<string, number>;
  rejected: number;
  total: number;
}

/** Reads `<prefix>:events` from the start (or from `since`), in pages. */
export async function tallyEvents(r: Redis, stream: string, tally: EventTally = { finals: new Map(), statuses: new Map(), rejected: 0, total: 0 }, state = { last: '-' }): Promise<EventTally> {
  for (;;) {
    const start = state.last === '-' ? '-' : `(${state.last}`;
    const page = await r.xrange(stream, start, '+', 'COUNT', 5000);
    if (page.length === 0) return tally;
    for (const [id, fields] of page) {
      state.last = id;
      tally.total++;
      const i = fields.indexOf('data');
      if (i < 0) continue;
      try {
        const e = JSON.parse(fields[i + 1] ?? '') as { final?: boolean; clientId?: string; status?: string; reason?: string };
        if (e.status === 'rejected') tally.rejected++;
        if (e.final === true) {
          const s = `${e.status ?? '?'}${e.reason !== undefined ? ` ${e.reason}` : ''}`;
          tally.statuses.set(s, (tally.statuses.get(s) ?? 0) + 1);
          const k = e.clientId ?? `(no id ${id})`;
          tally.finals.set(k, (tally.finals.get(k) ?? 0) + 1);
        }
      } catch {
        /* not ours to judge */
      }
    }
  }
}

export function duplicateFinals(t: EventTally): number {
  let n = 0;
  for (const c of t.finals.values()) if (c > 1) n++;
  return n;
}
