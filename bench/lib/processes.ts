/**
 * The processes of a message-path round: a checkout's build, the SMSC simulator and the
 * daemon (`qasid run` from a checkout's compiled dist/), each a child of the benchmark.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { GcTrace } from './gc-trace.js';
import { stopChild } from '../../src/cli/local-redis.js';

/** Compiles a checkout's src/ to dist/ with its own tsc and tsconfig.json. */
export function build(root: string): void {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error(`build of ${root} failed`);
}

/** The short commit a checkout is at (read only). */
export function commitOf(root: string): string {
  return spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
}

export interface Child {
  readonly pid: number;
  /** Ends the process with SIGTERM (SIGKILL after 10 s) and waits until it has exited. */
  stop(): Promise<void>;
}

/** Stops a round's process: SIGTERM, SIGKILL after 10 s. */
function stopper(child: ChildProcess): () => Promise<void> {
  return () => stopChild(child, 10_000);
}

/** `qasid sim` with the named listeners (`name=port:Preset`); resolves with each one's port. */
export async function startSim(root: string, listeners: readonly string[]): Promise<Child & { ports: Record<string, number> }> {
  const args = [join(root, 'bin', 'qasid.js'), 'sim', ...listeners.flatMap((l) => ['--listen', l])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports: Record<string, number> = {};
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      const m = /"event":"sim.listening".*"sim":"(\w+)".*"port":(\d+)/.exec(line);
      if (m) ports[m[1] as string] = Number(m[2]);
      if (Object.keys(ports).length === listeners.length) resolve();
    });
    child.once('exit', (code) => reject(new Error(`simulator exited ${code}`)));
  });
  return { pid: child.pid as number, ports, stop: stopper(child) };
}

export interface Daemon extends Child {
  /** Its GCs, from `--trace-gc-nvp` on its stdout. */
  readonly gc: GcTrace;
  /** Set once it has exited (with the code or signal). */
  exited(): string | undefined;
  /** Its last lines of output other than GC lines (log lines at the configured level). */
  lastLines(): string[];
}

/**
 * `node <nodeArgs> <root>/bin/qasid.js run --config <file>` on the compiled dist/, the way
 * `npm start` and the image run it, with `--trace-gc-nvp` so its allocation can be counted.
 * `env` is added to this process's environment for it.
 */
export function startDaemon(root: string, configFile: string, nodeArgs: readonly string[], env: Record<string, string> = {}): Daemon {
  const child = spawn(process.execPath, [...nodeArgs, '--trace-gc-nvp', join(root, 'bin', 'qasid.js'), 'run', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env, QASID_USE_DIST: '1' },
  });
  const gc = new GcTrace();
  const last: string[] = [];
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = signal ?? String(code);
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (gc.line(line, Date.now())) return;
    last.push(line);
    if (last.length > 10) last.shift();
  });
  return { pid: child.pid as number, gc, exited: () => exit, lastLines: () => [...last], stop: stopper(child) };
}
