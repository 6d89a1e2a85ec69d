/**
 * The final event of a message survives a crash. The script that makes a record terminal
 * also stores the event's own fields in the record (`ev`); the event is then written to
 * the events stream and `ev` cleared. A crash between the two leaves `ev` behind, and
 * whoever next meets the terminal record for a crashed piece of work — the intake entry
 * read again, a due or watch lease run out, the SMSC delivering the receipt again —
 * writes the event from it. So every message gets its final event at least once, and
 * exactly once unless the process died between writing the event and clearing `ev`.
 */
import type { Logger } from '../log/logger.js';
import type { Outputs, StatusEvent } from './outputs.js';
import type { MessageStore, RecordFields } from './store.js';

/**
 * A receipt delivered again finds its record terminal with the event still owed. Younger
 * than this, another handler is most likely writing it right now; older, it was cut off.
 */
export const OWED_AFTER_MS = 60_000;

/** The fields kept in `ev`: everything but what the record already holds (status, ids). */
export type PendingEvent = Omit<StatusEvent, 'v' | 'status' | 'final' | 'clientId' | 'gatewayId' | 'tenant' | 'meta'>;

export function pendingFields(e: StatusEvent): string {
  const { v: _v, status: _s, final: _f, clientId: _c, gatewayId: _g, tenant: _t, meta: _m, ...own } = e;
  return JSON.stringify(own);
}

/** The final event a terminal record still owes, or undefined when it owes none. */
export function owedEvent(rec: Partial<RecordFields>): StatusEvent | undefined {
  if (rec.term === undefined || rec.ev === undefined) return undefined;
  let own: PendingEvent;
  try {
    own = JSON.parse(rec.ev) as PendingEvent;
  } catch {
    own = { at: new Date().toISOString() };
  }
  const e = { v: 1, status: rec.term, final: true } as StatusEvent;
  if (rec.cid !== undefined) e.clientId = rec.cid;
  if (rec.gw !== undefined) e.gatewayId = rec.gw;
  if (rec.ten !== undefined) e.tenant = rec.ten;
  if (rec.meta !== undefined) e.meta = JSON.parse(rec.meta) as unknown;
  return { ...e, ...own };
}

/** Writes final events and clears what the record kept for them. */
export class FinalEvents {
  constructor(
    private readonly store: MessageStore,
    private readonly outputs: Outputs,
    private readonly log: Logger,
  ) {}

  /** Write the final event of a record this caller just made terminal. */
  async publish(recId: string, e: StatusEvent): Promise<void> {
    await this.outputs.event(e);
    // Not awaited: if this is lost, the worst outcome is the event written a second time.
    this.store.clearOwedEvent(recId).catch((err: unknown) => this.log.warn({ event: 'redis.error', err: String(err) }, 'could not clear a written final event from its record'));
  }

  /** A terminal record met again by crashed work: write the event it still owes, if any. True when one was written. */
  async recover(recId: string, rec: Partial<RecordFields>): Promise<boolean> {
    const e = owedEvent(rec);
    if (e === undefined) return false;
    this.log.warn({ event: 'dispatch.event_recovered', gatewayId: rec.gw, status: e.status }, 'final event written after a crash interrupted it');
    await this.publish(recId, e);
    return true;
  }
}
