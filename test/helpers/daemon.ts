/** `qasid run` as a child process (the real binary), for tests that stop it with a signal. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/qasid.js', import.meta.url));

export interface Daemon {
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  /** What it logged so far (stdout and stderr), for failure messages. */
  output(): string;
}

/** Start `qasid run --config <configFile>`; a SIGKILL of whatever still runs is registered in `cleanups`. */
export function runDaemon(configFile: string, cleanups: Array<() => Promise<void>>): Daemon {
  const child = spawn(process.execPath, [BIN, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { exited, kill: (s) => child.kill(s), output: () => out };
}
