/**
 * One TCP or TLS connection carrying SMPP PDUs: connect with a deadline, TCP_NODELAY,
 * frame the byte stream, and write PDUs in batches (one socket.write per tick) while
 * respecting backpressure: when write() returns false we stop writing until 'drain',
 * and a socket that does not drain within drainMs is destroyed.
 * It knows nothing of binds or windows; the session owns those.
 */
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { QasidError } from '../core/errors.js';
import type { CarrierTls } from '../config/types.js';
import { decodePdu, pduHeader, type Pdu } from './codec.js';
import { Framer } from './framer.js';

export interface ConnectionTarget {
  host: string;
  port: number;
  tls: CarrierTls;
  connectMs: number;
  drainMs: number;
}

export interface ConnectionHandlers {
  onPdu(pdu: Pdu): void;
  /**
   * A whole frame whose body could not be decoded: `head` is its header (empty body). The
   * framing is intact, so the stream stays usable and the connection stays open.
   */
  onUndecodable(head: Pdu, error: QasidError): void;
  /** Called once, when the socket is gone. `error` says why when it was not a clean close. */
  onClose(error: QasidError | undefined): void;
}

/** Largest single socket.write(); PDUs of one tick are coalesced up to this size. */
const MAX_WRITE_BYTES = 64 * 1024;

interface Queued {
  bytes: Buffer;
  onWritten: (() => void) | undefined;
}

export class Connection {
  private readonly framer = new Framer();
  private queue: Queued[] = [];
  private flushScheduled = false;
  private blocked = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private closeError: QasidError | undefined;
  /** Time of the last byte received (ms since epoch). */
  lastReceivedAt = Date.now();
  /** Time of the last PDU written (ms since epoch). */
  lastSentAt = Date.now();

  private constructor(
    private readonly socket: net.Socket,
    private readonly target: ConnectionTarget,
    private handlers: ConnectionHandlers,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.closeError ??= new QasidError('SMPP_CONNECTION_CLOSED', `socket error: ${e.code ?? e.message}`, { code: e.code }, { cause: e });
    });
    socket.on('close', () => this.onSocketClose());
  }

  /** Open a connection; rejects with a QasidError on refusal, timeout or TLS verification failure. */
  static open(target: ConnectionTarget, handlers: ConnectionHandlers): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let socket: net.Socket;
      const readyEvent = target.tls.enabled ? 'secureConnect' : 'connect';
      try {
        socket = target.tls.enabled
          ? tls.connect({
              host: target.host,
              port: target.port,
              servername: target.tls.servername ?? (net.isIP(target.host) ? undefined : target.host),
              ca: target.tls.caFile ? readFileSync(target.tls.caFile) : undefined,
              cert: target.tls.certFile ? readFileSync(target.tls.certFile) : undefined,
              key: target.tls.keyFile ? readFileSync(target.tls.keyFile) : undefined,
              // The smpp package defaults this to false; we never do.
              rejectUnauthorized: target.tls.rejectUnauthorized,
            })
          : net.connect({ host: target.host, port: target.port });
      } catch (e) {
        reject(new QasidError('SMPP_CONNECTION_CLOSED', `cannot open connection: ${(e as Error).message}`, {}, { cause: e }));
        return;
      }
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      const timer = setTimeout(() => {
        socket.destroy();
        fail(new QasidError('SMPP_CONNECTION_CLOSED', `connect timeout after ${target.connectMs} ms`));
      }, target.connectMs);
      const onError = (e: NodeJS.ErrnoException): void => {
        fail(new QasidError('SMPP_CONNECTION_CLOSED', `connect failed: ${e.code ?? e.message}`, { code: e.code }, { cause: e }));
      };
      function fail(err: QasidError): void {
        clearTimeout(timer);
        socket.removeListener(readyEvent, onReady);
        socket.destroy();
        reject(err);
      }
      const onReady = (): void => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        resolve(new Connection(socket, target, handlers));
      };
      socket.once('error', onError);
      socket.once(readyEvent, onReady);
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Bytes queued and not yet handed to the socket, plus the socket's own buffer. */
  get bufferedBytes(): number {
    let n = this.socket.writableLength;
    for (const q of this.queue) n += q.bytes.length;
    return n;
  }

  get isBlocked(): boolean {
    return this.blocked;
  }

  /**
   * Queue one encoded PDU. It goes out with the rest of this tick's PDUs in one write.
   * `onWritten` runs when the bytes are handed to the socket (from then on the peer may see them).
   * Returns false when the connection is closed (nothing was queued).
   */
  send(bytes: Buffer, onWritten?: () => void): boolean {
    if (this.closed) return false;
    this.queue.push({ bytes, onWritten });
    if (!this.flushScheduled && !this.blocked) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Close after flushing what is queued (graceful). */
  end(): void {
    if (this.closed) return;
    this.flush();
    this.socket.end();
    // A peer that never closes its side must not keep us waiting forever.
    setTimeout(() => this.socket.destroy(), this.target.drainMs).unref();
  }

  /** Close now, with the reason. Queued PDUs are not written. */
  destroy(error?: QasidError): void {
    if (this.closed) return;
    this.closeError ??= error;
    this.socket.destroy();
  }

  private flush(): void {
    this.flushScheduled = false;
    // Hand the socket at most MAX_WRITE_BYTES at a time and stop at the first `false`:
    // what stays in our queue is certainly not sent, so a close can hand it back as
    // `not_sent` rather than `unknown`.
    while (!this.closed && !this.blocked && this.queue.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.queue.length && (n === 0 || bytes + (this.queue[n] as Queued).bytes.length <= MAX_WRITE_BYTES)) {
        bytes += (this.queue[n] as Queued).bytes.length;
        n++;
      }
      const batch = this.queue.splice(0, n);
      const ok = this.socket.write(n === 1 ? (batch[0] as Queued).bytes : Buffer.concat(batch.map((q) => q.bytes), bytes));
      this.lastSentAt = Date.now();
      for (const q of batch) q.onWritten?.();
      if (!ok) {
        this.blocked = true;
        this.drainTimer = setTimeout(() => {
          this.destroy(new QasidError('SMPP_WRITE_STALLED', `socket did not drain within ${this.target.drainMs} ms`, { bufferedBytes: this.bufferedBytes }));
        }, this.target.drainMs);
      }
    }
  }

  private onDrain(): void {
    this.blocked = false;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (this.queue.length > 0) this.flush();
  }

  private onData(chunk: Buffer): void {
    this.lastReceivedAt = Date.now();
    const { frames, error } = this.framer.push(chunk);
    for (const frame of frames) {
      if (this.closed || this.socket.destroyed) return;
      let pdu: Pdu;
      try {
        pdu = decodePdu(frame);
      } catch (e) {
        // The frame's length was right, so the next frame starts where this one ends: the
        // stream is still in step. Only the body is lost; the session answers by the header.
        this.handlers.onUndecodable(pduHeader(frame), e instanceof QasidError ? e : new QasidError('SMPP_DECODE_FAILED', undefined, {}, { cause: e }));
        continue;
      }
      this.handlers.onPdu(pdu);
    }
    // An impossible command_length: where the next PDU starts is unknown, so the stream
    // cannot be trusted any more and the connection is recycled.
    if (error) this.destroy(error);
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.queue = [];
    const handlers = this.handlers;
    this.handlers = { onPdu: () => undefined, onUndecodable: () => undefined, onClose: () => undefined };
    handlers.onClose(this.closeError);
  }
}
