/**
 * Splits a TCP byte stream into whole SMPP PDUs (SMPP 3.4 §3.2: a 4-octet
 * command_length, itself included). Pure: no sockets. After an impossible length the
 * stream cannot be resynced, so the caller must drop the connection.
 */
import { QasidError } from '../core/errors.js';
import { HEADER_LENGTH, MAX_PDU_LENGTH } from './codec.js';

export class Framer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxLength: number = MAX_PDU_LENGTH) {}

  /**
   * Feed bytes; returns every complete frame now available, in order. When a length is
   * impossible, the frames before it are still returned, with the error beside them: the
   * caller handles those, then drops the connection.
   */
  push(chunk: Buffer): { frames: Buffer[]; error?: QasidError } {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    while (this.buffered >= 4) {
      const head = this.peek4();
      const length = head.readUInt32BE(0);
      if (length < HEADER_LENGTH || length > this.maxLength) {
        return { frames, error: new QasidError('SMPP_FRAME_INVALID', `PDU command_length ${length} outside ${HEADER_LENGTH}..${this.maxLength}`, { length }) };
      }
      if (this.buffered < length) break;
      frames.push(this.take(length));
    }
    return { frames };
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  private peek4(): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= 4) return first;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] as Buffer;
  }

  private take(n: number): Buffer {
    let first = this.chunks[0] as Buffer;
    if (first.length < n) {
      this.chunks = [Buffer.concat(this.chunks)];
      first = this.chunks[0] as Buffer;
    }
    const frame = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return frame;
  }
}
