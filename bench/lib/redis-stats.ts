/**
 * What Redis did for a benchmark: its CPU time and its commands (INFO cpu, INFO
 * commandstats), and a MONITOR sample that tells commands sent by clients from commands
 * run inside Lua scripts.
 *
 * Redis 7 counts a script's inner `redis.call()`s in commandstats and in
 * total_commands_processed alike, and no INFO field or CLIENT LIST column tells them apart
 * (checked on 7.0.15: an EVAL with three calls plus one SET count 5 in both). MONITOR does:
 * each line names its source, `[0 127.0.0.1:54321]` for a client, `[0 lua]` inside a script.
 */
import net from 'node:net';
import type { Redis } from 'ioredis';

export interface CommandCount {
  calls: number;
  /** Time Redis spent executing the command (µs); a script's includes its inner commands'. */
  usec: number;
}

export interface RedisSnapshot {
  /** used_cpu_user + used_cpu_sys (getrusage of the whole server), in µs. */
  cpuUs: number;
  /** commandstats by name as Redis spells it (`evalsha`, `config|resetstat`, …). */
  commands: Map<string, CommandCount>;
}

export async function redisSnapshot(r: Redis): Promise<RedisSnapshot> {
  const info = await r.info('cpu', 'commandstats');
  const num = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  const commands = new Map<string, CommandCount>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    commands.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return { cpuUs: (num('used_cpu_user') + num('used_cpu_sys')) * 1e6, commands };
}

/** Commands run between two snapshots, less `own` (calls the benchmark itself made, by name). */
export function commandsBetween(a: RedisSnapshot, b: RedisSnapshot, own: ReadonlyMap<string, number>): Map<string, CommandCount> {
  const out = new Map<string, CommandCount>();
  for (const [name, end] of b.commands) {
    const start = a.commands.get(name) ?? { calls: 0, usec: 0 };
    const calls = end.calls - start.calls - (own.get(name) ?? 0);
    if (calls > 0) out.set(name, { calls, usec: end.usec - start.usec });
  }
  return out;
}

/** Counts per command name (lower case, as MONITOR prints it) and source. */
export interface SourceCounts {
  client: number;
  script: number;
}

/**
 * MONITOR on its own socket, counting commands by name and source; commands from the
 * addresses in `exclude` (the benchmark's own connections) are left out. Only the head of
 * each line is read, so a busy server's stream is cheap to follow.
 */
export class MonitorSample {
  readonly counts = new Map<string, SourceCounts>();
  private rest = Buffer.alloc(0);
  private endMarker = '';
  private onEnd: (() => void) | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly exclude: ReadonlySet<string>,
  ) {
    socket.on('data', (chunk: Buffer) => this.take(chunk));
  }

  static async start(url: string, exclude: readonly string[]): Promise<MonitorSample> {
    const u = new URL(url);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const sample = new MonitorSample(socket, new Set(exclude));
    await new Promise<void>((resolve) => {
      sample.onEnd = resolve;
      sample.endMarker = '+OK';
      socket.write('MONITOR\r\n');
    });
    return sample;
  }

  /**
   * Stops once the stream has caught up: `mark` is called to send `ECHO <marker>` on another
   * connection, and counting ends when that ECHO shows up (every earlier command has then
   * been counted).
   */
  async stop(mark: (marker: string) => Promise<unknown>): Promise<Map<string, SourceCounts>> {
    const marker = `qasid-bench-monitor-end-${process.pid}-${Date.now()}`;
    const seen = new Promise<void>((resolve) => {
      this.onEnd = resolve;
      this.endMarker = `"echo" "${marker}"`;
    });
    await mark(marker);
    await seen;
    this.socket.destroy();
    return this.counts;
  }

  private take(chunk: Buffer): void {
    let buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let at = 0;
    for (let nl = buf.indexOf('\r\n', at); nl !== -1; nl = buf.indexOf('\r\n', at)) {
      this.count(buf.toString('latin1', at, Math.min(nl, at + 160)));
      at = nl + 2;
    }
    buf = buf.subarray(at);
    this.rest = Buffer.from(buf);
  }

  /** One line's head: `+1796164426.287846 [0 lua] "set" "a" …` or `+OK`. */
  private count(head: string): void {
    if (this.endMarker !== '' && head.includes(this.endMarker)) {
      this.endMarker = '';
      this.onEnd?.();
      return;
    }
    const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(head);
    if (m === null || this.exclude.has(m[1] as string)) return;
    const name = (m[2] as string).toLowerCase();
    const c = this.counts.get(name) ?? { client: 0, script: 0 };
    if (m[1] === 'lua') c.script++;
    else c.client++;
    this.counts.set(name, c);
  }
}

/** This connection's address as the server sees it (`127.0.0.1:54321`), from CLIENT INFO. */
export async function clientAddress(r: Redis): Promise<string> {
  const info = await r.client('INFO');
  const addr = /\baddr=(\S+)/.exec(info)?.[1];
  if (addr === undefined) throw new Error(`CLIENT INFO gave no addr: ${info}`);
  return addr;
}
