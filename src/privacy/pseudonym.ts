import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import { maskMsisdn } from '../routing/msisdn.js';
import { Keyring, type KeyringSource } from './keyring.js';

/**
 * Keyed, versioned hashes of MSISDNs: `<keyId>:<22 base64url chars>` (132 bits of
 * HMAC-SHA256). Used in logs so one subscriber's trail can be followed without the
 * number, and as the lookup key for opt-out, erasure and flood caps. Secrets use the
 * keyring format (base64 of 32 bytes per id) and must be distinct from cipher keys.
 * Input is hashed exactly as given: pass normalised E.164.
 */
export class Pseudonymiser {
  readonly #ring: Keyring;

  constructor(secrets: KeyringSource | Keyring, origin = 'pseudonym secrets') {
    this.#ring = secrets instanceof Keyring ? secrets : Keyring.fromSource(secrets, origin);
  }

  get currentId(): string {
    return this.#ring.currentId;
  }

  /** The hash under the current secret. */
  hash(e164: string): string {
    return this.#hashWith(this.#ring.currentId, e164);
  }

  /** The hash under every secret version, current first: look all of them up during a rotation. */
  hashes(e164: string): string[] {
    const current = this.#ring.currentId;
    return [current, ...this.#ring.ids().filter((id) => id !== current)].map((id) => this.#hashWith(id, e164));
  }

  /** Fields for a log line: masked number and keyed hash, never the number itself. */
  logFields(e164: string): { to: string; subscriber: string } {
    return { to: maskMsisdn(e164), subscriber: this.hash(e164) };
  }

  #hashWith(id: string, e164: string): string {
    const key = this.#ring.keyRef(id);
    if (key === undefined) throw new Error(`pseudonym secret ${id} missing`); // cannot happen: ids come from the ring
    return `${id}:${createHmac('sha256', key).update(e164, 'utf8').digest('base64url').slice(0, 22)}`;
  }

  toString(): string {
    return `[pseudonymiser: ids ${this.#ring.ids().join(',')}; current ${this.#ring.currentId}]`;
  }
  toJSON(): string {
    return this.toString();
  }
  [inspect.custom](): string {
    return this.toString();
  }
}
