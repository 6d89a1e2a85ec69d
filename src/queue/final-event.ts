/**
 * The final event of a message survives a crash. Each path that ends a message makes the
 * record terminal first (one script) and writes the event second; the piece of work it
 * came from — the intake entry, the due or watch member — is released only after that.
 * A crash between the two leaves that piece of work behind, and whoever meets it again
 * (the entry read again, the lease run out, the receipt delivered again) finds the record
 * terminal and writes the event from the record. No write is spent on the happy path:
 * the record already holds what the event says (the dispatcher's own endings keep the
 * event's fields in `ev`, set in the same script as `term`; receipts keep `rErr` and
 * `tAt`). Every message gets its final event at least once, and exactly once unless the
 * process died between writing the event and releasing its work.
 */
import type { Logger } from '../log/logger.js';
import { EVENT_VERSION, eventIds, type Outputs, type StatusEvent } from './outputs.js';
import { isFinal, type RecordFields } from './record.js';

/**
 * A receipt delivered again finds its record terminal and still watched. Younger than
 * this, its first copy's handler is most likely writing the event right now; older, that
 * handler was cut off.
 */
export const OWED_AFTER_MS = 60_000;

/** The fields kept in `ev`: everything but what the record already holds (status, ids). */
export type PendingEvent = Omit<StatusEvent, 'v' | 'status' | 'final' | 'clientId' | 'gatewayId' | 'tenant' | 'meta'>;

export function pendingFields(e: StatusEvent): string {
  const { v: _v, status: _s, final: _f, clientId: _c, gatewayId: _g, tenant: _t, meta: _m, ...own } = e;
  return JSON.stringify(own);
}

/**
 * The final event of a terminal record, rebuilt from it: from `ev` when the dispatcher
 * ended it, else from what a receipt left (carrier, parts, `rErr`). Undefined while the
 * record is not terminal.
 */
export function owedEvent(rec: Partial<RecordFields>, now: number): StatusEvent | undefined {
  if (!isFinal(rec)) return undefined;
  let own: PendingEvent | undefined;
  if (rec.ev !== undefined) {
    try {
      own = JSON.parse(rec.ev) as PendingEvent;
    } catch {
      own = undefined;
    }
  }
  if (own === undefined) {
    own = { at: new Date(now).toISOString() };
    if (rec.car !== undefined) own.carrier = rec.car;
    if (rec.parts !== undefined) own.parts = Number(rec.parts);
    if (rec.rErr !== undefined && rec.term !== 'delivered') own.error = rec.rErr;
    const parts = partStatus(rec.pS, Number(rec.parts ?? 1));
    if (parts !== undefined) own.partStatus = parts;
  }
  return { v: EVENT_VERSION, status: rec.term as StatusEvent['status'], final: true, ...eventIds(rec), ...own };
}

/** Write the final event a crash cut off, from its terminal record. True when one was written. */
export async function writeOwedEvent(outputs: Outputs, log: Logger, rec: Partial<RecordFields>, now: number): Promise<boolean> {
  const e = owedEvent(rec, now);
  if (e === undefined) return false;
  log.warn({ event: 'dispatch.event_recovered', gatewayId: rec.gw, status: e.status }, 'final event written after a crash cut it off');
  await outputs.event(e, rec.eid);
  return true;
}

/**
 * A long message's part states as its final event gives them (part number from 1 →
 * receipt state), from the record's `pS` ("<part, 0-based>:<state>,…"); undefined for a
 * message of one part or without any.
 */
export function partStatus(pS: string | undefined, parts: number): Record<string, string> | undefined {
  if (pS === undefined || pS === '' || !(parts > 1)) return undefined;
  const out: Record<string, string> = {};
  for (const item of pS.split(',')) {
    const at = item.indexOf(':');
    const part = Number(item.slice(0, at));
    if (at > 0 && Number.isInteger(part)) out[String(part + 1)] = item.slice(at + 1);
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
