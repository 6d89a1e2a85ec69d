/** Reading the events stream in tests: every entry's JSON, oldest first. */
import type { Redis } from 'ioredis';
import type { StatusEvent } from '../../src/queue/outputs.js';
import { until } from './until.js';

export type { StatusEvent };

export async function readEvents(r: Redis, key: string): Promise<StatusEvent[]> {
  return (await r.xrange(key, '-', '+')).map(([, f]) => JSON.parse(f[1] as string) as StatusEvent);
}

/** Waits (failing with `what` after `timeoutMs`) until the stream holds `want` final events; returns every event. */
export async function untilFinals(r: Redis, key: string, want: number, timeoutMs: number, what: string): Promise<StatusEvent[]> {
  let events: StatusEvent[] = [];
  await until(
    async () => {
      events = await readEvents(r, key);
      return events.filter((e) => e.final).length >= want;
    },
    timeoutMs,
    what,
  );
  return events;
}
