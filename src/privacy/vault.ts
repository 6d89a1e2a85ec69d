/**
 * The keys Qasid runs with: the cipher keyring (AES-256-GCM envelopes for text and
 * numbers in Redis) and the hash secrets (keyed pseudonyms for logs and subscriber
 * lookups). Loaded from config (inline JSON from env, or a file), validated at start,
 * and swappable at run time (SIGHUP) so a new write key needs no downtime.
 */
import { QasidError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import type { FieldSealer } from '../queue/sealing.js';
import { decrypt, encrypt, isEnvelope } from './cipher.js';
import { Keyring } from './keyring.js';
import { Pseudonymiser } from './pseudonym.js';

export interface KeySources {
  keyring: Secret;
  keyringFile: string;
  hashKeyring: Secret;
  hashKeyringFile: string;
}

/** Read one keyring from inline JSON or its file; a missing one is a config error naming the key. */
export function loadKeyring(inline: Secret, file: string, key: string): Keyring {
  if (file !== '') return Keyring.fromFile(file, `${key}File (${file})`);
  const json = inline.reveal();
  if (json.trim() === '') {
    throw new QasidError('CONFIG_INVALID', `${key}: required — set ${key} (env ${key === 'privacy.keyring' ? 'QASID_KEYRING' : 'QASID_HASH_KEYRING'}) or ${key}File; make one with \`qasid keys new\``, { key });
  }
  return Keyring.fromJson(json, key);
}

/** Keys for encryption and pseudonyms. Both keyrings can be replaced while running. */
export class Vault implements FieldSealer {
  #ring: Keyring;
  #pseudo: Pseudonymiser;

  constructor(cipher: Keyring, hash: Keyring) {
    Vault.checkDistinct(cipher, hash);
    this.#ring = cipher;
    this.#pseudo = new Pseudonymiser(hash);
  }

  static load(src: KeySources): Vault {
    return new Vault(loadKeyring(src.keyring, src.keyringFile, 'privacy.keyring'), loadKeyring(src.hashKeyring, src.hashKeyringFile, 'privacy.hashKeyring'));
  }

  /** A throwaway vault with fresh random keys (the demo, tests): nothing it sealed opens after it is gone. */
  static ephemeral(): Vault {
    return new Vault(Keyring.fromSource({ current: 'e1', keys: { e1: Keyring.generateKey() } }, 'ephemeral'), Keyring.fromSource({ current: 'h1', keys: { h1: Keyring.generateKey() } }, 'ephemeral'));
  }

  /** A key used both to encrypt and to hash would tie the two together: refuse it. */
  private static checkDistinct(cipher: Keyring, hash: Keyring): void {
    for (const id of cipher.ids()) {
      const a = cipher.keyRef(id);
      for (const hid of hash.ids()) {
        const b = hash.keyRef(hid);
        if (a && b && a.equals(b)) throw new QasidError('CONFIG_INVALID', `privacy.hashKeyring: secret "${hid}" is the same as cipher key "${id}"; use distinct keys`, { key: 'privacy.hashKeyring' });
      }
    }
  }

  /** Swap both keyrings (after SIGHUP). */
  replace(cipher: Keyring, hash: Keyring): void {
    Vault.checkDistinct(cipher, hash);
    this.#ring = cipher;
    this.#pseudo = new Pseudonymiser(hash);
  }

  get keyring(): Keyring {
    return this.#ring;
  }

  get pseudonyms(): Pseudonymiser {
    return this.#pseudo;
  }

  seal(plain: string, context: string): string {
    return encrypt(this.#ring, plain, context);
  }

  open(sealed: string, context: string): string | undefined {
    const r = decrypt(this.#ring, sealed, context);
    return r.ok ? r.text : undefined;
  }

  isSealed(value: string): boolean {
    return isEnvelope(value);
  }

  /** The keyed hash of a normalised E.164 number under the current secret. */
  hash(e164: string): string {
    return this.#pseudo.hash(e164);
  }

  /** Fields for a log line: masked number and keyed hash. */
  logFields(e164: string): { to: string; subscriber: string } {
    return this.#pseudo.logFields(e164);
  }

  toString(): string {
    return `[vault: ${this.#ring.toString()} ${this.#pseudo.toString()}]`;
  }
  toJSON(): string {
    return this.toString();
  }
}
