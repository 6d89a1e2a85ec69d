/**
 * Progress of a long command (`keys rotate`, `dnc import`, `subscriber export|erase`), on
 * standard error so standard output stays the command's result:
 *
 * - on a terminal, one line redrawn in place: count, total and percentage when the total
 *   is known, rate, and ETA;
 * - anywhere else (pipes, CI, log collectors), one JSON line every `intervalMs` and one
 *   at the end: {"event":"progress","op":"dnc.import","done":n,"total":m,"ratePerSec":r,
 *   "etaSec":e,"elapsedSec":s,"final":false} — total and etaSec are null while unknown.
 *
 * A command reports counts to a Progress; how they are drawn is a ProgressRenderer (the
 * terminal's is cli-progress), so tests and other front ends can draw their own.
 */
import cliProgress from 'cli-progress';

// A CommonJS module: its classes come off the default export.
const { Format, SingleBar } = cliProgress;

/** Where progress goes: process.stderr, or a test's capture. */
export interface ProgressOutput {
  write(chunk: string): void;
  /** A terminal: redraw one line. Otherwise: JSON lines. */
  isTTY?: boolean;
  /** Terminal width, to keep the line from wrapping. */
  columns?: number;
}

/** What a renderer is shown. */
export interface ProgressState {
  /** Which operation: 'keys.rotate', 'dnc.import', 'subscriber.export', 'subscriber.erase'. */
  op: string;
  /** What the count counts ('values', 'lines', 'entries'), for people. */
  unit: string;
  done: number;
  /** undefined while not known. */
  total: number | undefined;
  elapsedMs: number;
  /** done per second since the start. */
  ratePerSec: number;
  /** Seconds left at that rate; undefined without a total or a rate. */
  etaSec: number | undefined;
  /** The last state, shown once when the operation ends (or fails). */
  final: boolean;
}

/** Draws progress. render() is called at most once per interval, and once with final: true. */
export interface ProgressRenderer {
  /** How often render() is called while nothing ends, in ms. */
  readonly intervalMs: number;
  render(state: ProgressState): void;
}

export interface ProgressOptions {
  op: string;
  unit?: string;
  total?: number;
  /** Default: a terminal line when output.isTTY, else JSON lines. */
  renderer?: ProgressRenderer;
  output?: ProgressOutput;
  /** JSON line interval (ms, default 2000); the terminal line is redrawn more often. */
  intervalMs?: number;
  now?: () => number;
}

export const DEFAULT_PROGRESS_INTERVAL_MS = 2000;
const TTY_INTERVAL_MS = 200;

/** Counts of one operation. Call finish() when it ends, also when it fails. */
export class Progress {
  readonly #op: string;
  readonly #unit: string;
  readonly #renderer: ProgressRenderer | undefined;
  readonly #now: () => number;
  readonly #started: number;
  #done = 0;
  #total: number | undefined;
  #lastRender: number;
  #timer: NodeJS.Timeout | undefined;
  #finished = false;

  constructor(opts: ProgressOptions) {
    this.#op = opts.op;
    this.#unit = opts.unit ?? 'items';
    this.#total = opts.total;
    this.#now = opts.now ?? Date.now;
    this.#started = this.#now();
    this.#lastRender = this.#started;
    this.#renderer = opts.renderer ?? (opts.output === undefined ? undefined : defaultRenderer(opts.output, opts.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS));
    if (this.#renderer !== undefined) {
      // A heartbeat while the count stands still (a slow Redis); never keeps the process alive.
      this.#timer = setInterval(() => this.#tick(), this.#renderer.intervalMs);
      this.#timer.unref();
    }
  }

  /** A Progress that shows nothing (progress turned off, or nowhere to show it). */
  static none(op: string): Progress {
    return new Progress({ op });
  }

  /** Set the count so far. */
  update(done: number): void {
    this.#done = done;
    this.#tick();
  }

  /** Add to the count. */
  add(n: number): void {
    this.update(this.#done + n);
  }

  setTotal(total: number | undefined): void {
    this.#total = total;
  }

  get done(): number {
    return this.#done;
  }

  /** Whether anything is shown (false for Progress.none()): work done only for the display can be skipped. */
  get visible(): boolean {
    return this.#renderer !== undefined;
  }

  /** Show the final state; later calls do nothing. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearInterval(this.#timer);
    this.#renderer?.render(this.state(true));
  }

  state(final = false): ProgressState {
    const elapsedMs = Math.max(0, this.#now() - this.#started);
    const ratePerSec = elapsedMs > 0 ? (this.#done * 1000) / elapsedMs : 0;
    // The count may pass an estimated total (a stream that grew meanwhile): the total follows it.
    const total = this.#total === undefined ? undefined : Math.max(this.#total, this.#done);
    const left = total === undefined ? undefined : total - this.#done;
    const etaSec = left === undefined ? undefined : left === 0 ? 0 : ratePerSec > 0 ? left / ratePerSec : undefined;
    return { op: this.#op, unit: this.#unit, done: this.#done, total, elapsedMs, ratePerSec, etaSec, final };
  }

  #tick(): void {
    if (this.#finished || this.#renderer === undefined) return;
    const now = this.#now();
    if (now - this.#lastRender < this.#renderer.intervalMs) return;
    this.#lastRender = now;
    this.#renderer.render(this.state());
  }
}

export function defaultRenderer(output: ProgressOutput, intervalMs: number): ProgressRenderer {
  return output.isTTY === true ? terminalLine(output) : jsonLines(output, intervalMs);
}

/** One JSON line per render, for machines: stable keys, null for what is not known. */
export function jsonLines(output: ProgressOutput, intervalMs = DEFAULT_PROGRESS_INTERVAL_MS): ProgressRenderer {
  return {
    intervalMs,
    render(s) {
      const line = {
        event: 'progress',
        op: s.op,
        done: s.done,
        total: s.total ?? null,
        ratePerSec: Math.round(s.ratePerSec * 10) / 10,
        etaSec: s.etaSec === undefined ? null : Math.ceil(s.etaSec),
        elapsedSec: Math.round(s.elapsedMs / 100) / 10,
        final: s.final,
      };
      output.write(`${JSON.stringify(line)}\n`);
    },
  };
}

/**
 * One line redrawn in place, for people: cli-progress draws it (cursor, clearing, the
 * terminal's width) — a bar when the total is known, then describe()'s text; the final
 * render leaves it on its own line.
 */
export function terminalLine(output: ProgressOutput): ProgressRenderer {
  let bar: cliProgress.SingleBar | undefined;
  let total: number | undefined;
  const line = (s: ProgressState): { line: string } => ({ line: describe(s) });
  return {
    intervalMs: TTY_INTERVAL_MS,
    render(s) {
      if (bar === undefined) {
        total = s.total;
        bar = new SingleBar({
          stream: output as unknown as NodeJS.WritableStream,
          format: (opts, params, payload: { line: string }) => (total === undefined ? payload.line : `${Format.BarFormat(params.progress, opts)} ${payload.line}`),
          barsize: 20,
          hideCursor: false,
          clearOnComplete: false,
          linewrap: false,
          gracefulExit: false,
          synchronousUpdate: true,
          // Redrawn when render() is called, at most every TTY_INTERVAL_MS, not on a timer of its own.
          fps: 1000 / TTY_INTERVAL_MS,
          forceRedraw: true,
        });
        bar.start(s.total ?? 0, s.done, line(s));
      } else {
        if (s.total !== total && s.total !== undefined) bar.setTotal(s.total);
        total = s.total;
        bar.update(s.done, line(s));
      }
      if (s.final) bar.stop();
    },
  };
}

/** "dnc.import  12,000 / 50,000 lines  24%  4,100/s  ETA 9s". */
export function describe(s: ProgressState): string {
  const count = s.total === undefined ? `${fmt(s.done)} ${s.unit}` : `${fmt(s.done)} / ${fmt(s.total)} ${s.unit}  ${s.total === 0 ? 100 : Math.floor((s.done * 100) / s.total)}%`;
  const parts = [s.op, count, `${fmt(Math.round(s.ratePerSec))}/s`];
  if (s.final) parts.push(`done in ${duration(s.elapsedMs / 1000)}`);
  else if (s.etaSec !== undefined) parts.push(`ETA ${duration(s.etaSec)}`);
  return parts.join('  ');
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function duration(sec: number): string {
  const s = Math.ceil(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The command-line options of a command that shows progress (parseArgs shapes). */
export const PROGRESS_OPTIONS = {
  'no-progress': { type: 'boolean' },
  'progress-interval': { type: 'string' },
} as const;

export const PROGRESS_USAGE = `  --progress-interval MS  how often a progress line is written when standard error is
                         not a terminal (JSON lines; default ${DEFAULT_PROGRESS_INTERVAL_MS}); on a terminal the
                         line is redrawn in place
  --no-progress          write no progress`;

/** The milliseconds of --progress-interval; throws a usage error when it is not 10 to 3600000. */
export function progressInterval(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms < 10 || ms > 3_600_000) throw new Error('--progress-interval must be a whole number of milliseconds from 10 to 3600000');
  return ms;
}

/** A command's Progress: shown on `output` unless turned off (--no-progress) or there is no output. */
export function commandProgress(
  output: ProgressOutput | undefined,
  flags: { 'no-progress'?: boolean; 'progress-interval'?: string },
  opts: { op: string; unit: string; total?: number },
): Progress {
  if (output === undefined || flags['no-progress'] === true) return Progress.none(opts.op);
  const intervalMs = progressInterval(flags['progress-interval']);
  return new Progress({ ...opts, output, ...(intervalMs === undefined ? {} : { intervalMs }) });
}
