/**
 * The audit chain's head, written to the log at a fixed interval: the anchor outside
 * Redis. Every append moves the head key in Redis (audit.ts); whoever can rewrite the
 * stream can rewrite that key too, but not the log lines already shipped elsewhere. Each
 * `audit.head` line names the newest entry's id and hash; `qasid audit verify --head
 * <id>:<hash>` checks that the stream still holds that entry, so a cut made after the
 * line was written is found even when the head key was rewritten with it.
 *
 * A line is written at start, and then each interval in which the head moved (an idle
 * trail adds no lines). A stream written only by a version before heads has no head key:
 * at start its newest entry is adopted as the head (`audit.head` with `adopted: true`,
 * at warn, since a head deleted on purpose would be adopted too).
 */
import { errorMessage } from '../core/errors.js';
import type { Lifecycle } from '../core/lifecycle.js';
import type { Logger } from '../log/logger.js';
import type { AuditHead, AuditLog } from './audit.js';

export interface HeadLogOptions {
  audit: Pick<AuditLog, 'head' | 'adoptHead'>;
  logger: Logger;
  /** How often the head is looked at, in ms; a line only when it moved. */
  intervalMs: number;
}

export class AuditHeadLog implements Lifecycle {
  readonly name = 'audit-head';
  #timer: NodeJS.Timeout | undefined;
  #logged: string | undefined;
  #running: Promise<void> | undefined;

  constructor(private readonly o: HeadLogOptions) {}

  async start(): Promise<void> {
    try {
      const adopted = await this.o.audit.adoptHead();
      if (adopted !== undefined) {
        this.#logged = adopted.hash;
        this.o.logger.warn({ event: 'audit.head', id: adopted.id, hash: adopted.hash, adopted: true }, 'the audit stream had no head: its newest entry is the head from now on');
      }
    } catch (e) {
      this.o.logger.warn({ event: 'audit.head_failed', err: errorMessage(e) }, 'the audit head could not be read; the next interval retries');
    }
    await this.tick();
    this.#timer = setInterval(() => {
      this.#running ??= this.tick()
        .then(() => undefined)
        .finally(() => (this.#running = undefined));
    }, this.o.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Log the head if it moved since the last line; never throws. Returns the head read. */
  async tick(): Promise<AuditHead | undefined> {
    let head: AuditHead | undefined;
    try {
      head = await this.o.audit.head();
    } catch (e) {
      this.o.logger.warn({ event: 'audit.head_failed', err: errorMessage(e) }, 'the audit head could not be read; the next interval retries');
      return undefined;
    }
    if (head !== undefined && head.hash !== this.#logged) {
      this.#logged = head.hash;
      this.o.logger.info({ event: 'audit.head', id: head.id, hash: head.hash }, 'audit chain head');
    }
    return head;
  }
}
