/**
 * Bytes a Node process allocated on its V8 heap, read from its `--trace-gc-nvp` output.
 *
 * Node has no cumulative allocation counter. Each GC line of `--trace-gc-nvp` (one per
 * scavenge or mark-compact, on stdout) carries `allocated=<bytes>`: in V8's GCTracer this
 * is the object size at the start of this GC minus the object size at the end of the
 * previous one, i.e. what the program allocated between the two. Checked on Node 20:
 * 100,000 × `new Array(1000).fill(0)` (8,048 bytes each, 805 MB) summed to 810 MB.
 *
 * Counted: every V8 heap object (new and old space, large objects, code). Not counted:
 * off-heap memory — the backing stores of Buffers and ArrayBuffers (socket reads, crypto
 * output), which is allocated with malloc outside the V8 heap.
 *
 * Between two GCs the allocation is spread evenly over time, so the bytes between two
 * instants are interpolated inside the GC intervals that hold them. The error is a part of
 * one interval's allocation at each end (at most one young-generation fill: 16 MiB by default, 64 MiB with
 * `--max-semi-space-size=64`, usually a few MB as the rate around each end is steady).
 */

interface GcEvent {
  /** Milliseconds since the isolate started, as the line prints them. */
  ms: number;
  /** Bytes allocated from the isolate's start up to this GC. */
  cumulative: number;
  /** GC work on the JavaScript thread: the pause, plus incremental marking steps (`incremental`), ms. */
  mainMs: number;
  /** GC work on V8's helper threads: the sum of the `background.*` scopes, ms (their run time, summed over threads). */
  backgroundMs: number;
}

/** `[<pid>:0x<isolate>]     1234 ms: pause=… gc=s … allocated=4074336 …` */
const LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+([\d.]+) ms: .*\ballocated=(\d+)/;

export interface Allocation {
  bytes: number;
  /** GCs that ended inside the window. */
  gcs: number;
  /** Their time on the JavaScript thread and on helper threads, ms (wall time of GC work; ≈ CPU on an idle machine). */
  mainMs: number;
  backgroundMs: number;
  /** false when no GC came after the window's end, so the bytes since the last GC are missing. */
  closed: boolean;
}

export class GcTrace {
  /** Per isolate (a worker thread has its own), its GCs in order. */
  private readonly isolates = new Map<string, GcEvent[]>();
  /**
   * This process's Date.now() at isolate time 0: the least (arrival − printed time) over
   * all lines, since a line cannot arrive before it was printed (a few ms late at most;
   * V8 flushes each line).
   */
  private origin = Infinity;

  /** Feed one line of the traced process's stdout; false when it is not a GC line. */
  line(text: string, arrivedAt: number): boolean {
    const m = LINE.exec(text);
    if (m === null) return false;
    const ms = Number(m[2]);
    const events = this.isolates.get(m[1] as string) ?? [];
    this.isolates.set(m[1] as string, events);
    const field = (name: string): number => Number(new RegExp(` ${name}=([\\d.]+)`).exec(text)?.[1] ?? 0);
    let backgroundMs = 0;
    for (const b of text.matchAll(/ background\.[\w.]+=([\d.]+)/g)) backgroundMs += Number(b[1]);
    events.push({ ms, cumulative: (events.at(-1)?.cumulative ?? 0) + Number(m[3]), mainMs: field('pause') + field('incremental'), backgroundMs });
    this.origin = Math.min(this.origin, arrivedAt - ms);
    return true;
  }

  /** Bytes allocated, and the GCs that ran, between two instants given as this process's Date.now(). */
  allocatedBetween(from: number, to: number): Allocation {
    const out: Allocation = { bytes: 0, gcs: 0, mainMs: 0, backgroundMs: 0, closed: true };
    for (const events of this.isolates.values()) {
      const a = cumulativeAt(events, from - this.origin);
      const b = cumulativeAt(events, to - this.origin);
      out.bytes += b.bytes - a.bytes;
      out.closed &&= b.closed;
      for (const e of events.filter((x) => x.ms > from - this.origin && x.ms <= to - this.origin)) {
        out.gcs++;
        out.mainMs += e.mainMs;
        out.backgroundMs += e.backgroundMs;
      }
    }
    return out;
  }
}

/** Cumulative allocation at isolate time `t`, interpolated inside the GC interval holding it. */
function cumulativeAt(events: readonly GcEvent[], t: number): { bytes: number; closed: boolean } {
  let prev: Pick<GcEvent, 'ms' | 'cumulative'> = { ms: 0, cumulative: 0 };
  for (const e of events) {
    if (t <= e.ms) {
      const span = e.ms - prev.ms;
      return { bytes: prev.cumulative + (span > 0 ? ((e.cumulative - prev.cumulative) * (t - prev.ms)) / span : 0), closed: true };
    }
    prev = e;
  }
  return { bytes: prev.cumulative, closed: false };
}
