/**
 * Durable across a failover: Redis replicates asynchronously, so a write the master
 * acknowledged can vanish when a replica is promoted. Before Qasid acknowledges what it
 * was handed (a receipt's deliver_sm_resp, an intake entry's XACK), it asks the master to
 * WAIT until `replicas` replicas have every write of this connection so far. Callers in
 * one turn of the event loop share one WAIT, sent after all of their writes were
 * answered (a caller asks only then), so it covers each of them.
 *
 * It asks for no more replicas than the master has connected (INFO replication, read
 * every second): right after a failover the promoted master has none, and a WAIT for one
 * would only add its timeout to every acknowledgement. Past `timeoutMs` with fewer
 * replicas (one far behind) the acknowledgement goes anyway and `redis.replica_lag` is
 * logged (at most one line per 10 s): the daemon stays available, and the window a
 * failover can lose stays what Redis itself allows.
 */
import type { Redis } from 'ioredis';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { ThrottledLog } from '../log/throttled.js';

export class ReplicaWait {
  private next: Promise<void> | undefined;
  private readonly log: ThrottledLog;
  /** Replicas the master had connected when last asked (until then: as many as wanted). */
  private connected: number;
  private checkedAt = 0;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly replicas: number,
    private readonly timeoutMs: number,
    logger: Logger,
  ) {
    this.connected = replicas;
    this.log = new ThrottledLog(logger);
  }

  get enabled(): boolean {
    return this.replicas > 0;
  }

  /** Resolves once this connection's writes so far are on `replicas` replicas (or the WAIT timed out). */
  wait(): Promise<void> {
    if (this.replicas <= 0) return Promise.resolve();
    if (Date.now() - this.checkedAt >= 1000) this.check();
    const want = Math.min(this.replicas, this.connected);
    if (want <= 0) return Promise.resolve();
    this.next ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.next = undefined;
        this.redis
          .call('WAIT', String(want), String(this.timeoutMs))
          .then((n) => {
            if (Number(n) < want) this.lag(`${String(n)} of ${want} replicas within ${this.timeoutMs} ms`);
          })
          .catch((e: unknown) => this.lag(errorMessage(e)))
          .finally(resolve);
      }),
    );
    return this.next;
  }

  /** How many replicas the master has connected now (it changes with a failover). */
  private check(): void {
    this.checkedAt = Date.now();
    this.checking ??= this.redis
      .info('replication')
      .then((info) => {
        const m = /connected_slaves:(\d+)/.exec(info);
        const n = m ? Number(m[1]) : 0;
        if (n < this.replicas && this.connected >= this.replicas) this.lag(`the master has ${n} replicas connected, fewer than redis.waitReplicas ${this.replicas}`);
        this.connected = n;
      })
      .catch(() => undefined)
      .finally(() => (this.checking = undefined));
  }

  private lag(why: string): void {
    this.log.log('warn', { event: 'redis.replica_lag', why }, 'writes not confirmed on the replicas in time; acknowledging anyway (a failover now could lose them)');
  }
}
