/**
 * A preload for a benchmarked process (`node --import <this file> …`): V8's sampling heap
 * profiler, counting every sampled allocation whether or not a GC collected it since
 * (includeObjectsCollectedByMinorGC / MajorGC), so a profile's self sizes estimate the
 * bytes each site allocated while it ran, not what is still live. Written as a
 * .heapprofile (Chrome DevTools › Memory loads it; bench/lib/heap-top.ts summarises it).
 * Plain JavaScript, so the process needs no TypeScript loader for it.
 *
 * It does nothing unless QASID_HEAP_PROFILE names the file to write:
 *   QASID_HEAP_PROFILE=<file>            where the profile goes
 *   QASID_HEAP_PROFILE_INTERVAL=<bytes>  mean bytes between samples (default 4096)
 *   QASID_HEAP_PROFILE_SIGNAL=1          sampling starts at the first SIGUSR2 and stops
 *                                        (the file written) at the second — how
 *                                        bench/message-path.ts profiles its drain window;
 *                                        else it starts at once
 *   QASID_HEAP_PROFILE_SECONDS=<s>       stop and write after this long (from the start)
 * Otherwise it stops and writes at process exit (after SIGTERM, once the process has
 * stopped). A SIGUSR2 listener exists only with QASID_HEAP_PROFILE_SIGNAL=1.
 */
import { Session } from 'node:inspector';
import { renameSync, writeFileSync } from 'node:fs';

const file = process.env.QASID_HEAP_PROFILE;

if (file) {
  const interval = Number(process.env.QASID_HEAP_PROFILE_INTERVAL ?? 4096);
  const seconds = Number(process.env.QASID_HEAP_PROFILE_SECONDS ?? 0);
  const session = new Session();
  session.connect();
  // An in-thread session answers synchronously: each callback has run when post returns.
  const post = (method, params) => {
    let out;
    session.post(method, params ?? {}, (err, result) => {
      if (err) throw new Error(`${method}: ${err.message}`);
      out = result;
    });
    return out;
  };
  let state = 'idle';
  let startedAt = 0;
  const start = () => {
    if (state !== 'idle') return;
    post('HeapProfiler.enable');
    post('HeapProfiler.startSampling', { samplingInterval: interval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    state = 'sampling';
    startedAt = Date.now();
    if (seconds > 0) setTimeout(stop, seconds * 1000).unref();
  };
  const stop = () => {
    if (state !== 'sampling') return;
    state = 'done';
    const { profile } = post('HeapProfiler.stopSampling');
    post('HeapProfiler.disable');
    // Whole or not at all: whoever waits for the file never sees half of it.
    writeFileSync(`${file}.part`, JSON.stringify(profile));
    renameSync(`${file}.part`, file);
    process.stderr.write(`heap-sampler: ${file} (${((Date.now() - startedAt) / 1000).toFixed(1)} s sampled, every ${interval} B on average)\n`);
  };
  if (process.env.QASID_HEAP_PROFILE_SIGNAL === '1') process.on('SIGUSR2', () => (state === 'idle' ? start() : stop()));
  else start();
  process.on('exit', stop);
}
