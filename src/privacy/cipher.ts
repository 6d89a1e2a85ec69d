import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { KEY_ID_PATTERN, type Keyring } from './keyring.js';

/**
 * AES-256-GCM envelopes for values Qasid keeps in Redis:
 *
 *   v1.<keyId>.<base64url iv (12 bytes)>.<base64url ciphertext ‖ 16-byte tag>
 *
 * Only `.`, `-`, `_` and alphanumerics, so safe as a Redis value, stream field or JSON
 * string. The authenticated data is the header `v1.<keyId>` plus the caller's `aad`
 * (e.g. the record id), so an envelope copied to another record fails to open.
 * Text is UTF-8; a lone UTF-16 surrogate comes back as U+FFFD, as with any UTF-8 store.
 */

export type DecryptFailure = 'unknown_key' | 'malformed' | 'auth_failed';
export type DecryptResult = { ok: true; text: string; keyId: string } | { ok: false; reason: DecryptFailure };
export type RewrapResult =
  | { status: 'current' }
  | { status: 'moved'; envelope: string; from: string; to: string }
  | { status: 'failed'; reason: DecryptFailure };

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';
const B64URL = /^[A-Za-z0-9_-]*$/;
const ENVELOPE = /^v1\.[A-Za-z0-9_-]{1,16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$/;

/**
 * IVs are sliced from a pool of random bytes refilled in one call: randomBytes(12) costs
 * 2.4–3.6 µs a call here against ≈0.05–0.09 µs for a slice (bench/iv-pool.ts). Each
 * slice is used once, by one encrypt() that finishes (synchronously) before the pool can
 * be refilled, so an IV is never reused under a key.
 */
const IV_POOL = Buffer.allocUnsafe(IV_BYTES * 512);
let ivOffset = IV_POOL.length;

function nextIv(): Buffer {
  if (ivOffset + IV_BYTES > IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivOffset = 0;
  }
  const iv = IV_POOL.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv;
}

interface Parsed {
  keyId: string;
  iv: Buffer;
  body: Buffer; // ciphertext ‖ tag
}

function aadFor(keyId: string, aad: string | undefined): Buffer {
  // Header, NUL, caller context: the NUL keeps (header, aad) pairs unambiguous.
  return Buffer.from(`${VERSION}.${keyId}\u0000${aad ?? ''}`, 'utf8');
}

/** Encrypt `plaintext` under the keyring's current key with a fresh random 96-bit IV. */
export function encrypt(keyring: Keyring, plaintext: string, aad?: string): string {
  const keyId = keyring.currentId;
  const key = keyring.keyRef(keyId);
  if (key === undefined) throw new Error(`keyring lost its current key ${keyId}`); // cannot happen: Keyring validates
  const iv = nextIv();
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadFor(keyId, aad));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${keyId}.${iv.toString('base64url')}.${body.toString('base64url')}`;
}

/** True when `s` has the shape of an envelope (it may still fail to decrypt). */
export function isEnvelope(s: unknown): s is string {
  return typeof s === 'string' && parse(s) !== undefined;
}

/** The key id an envelope names, without decrypting; undefined when it is not an envelope. */
export function envelopeKeyId(envelope: string): string | undefined {
  return parse(envelope)?.keyId;
}

/** Open an envelope. Never throws: bad input comes back as `{ ok: false, reason }`. */
export function decrypt(keyring: Keyring, envelope: string, aad?: string): DecryptResult {
  const p = typeof envelope === 'string' ? parse(envelope) : undefined;
  if (p === undefined) return { ok: false, reason: 'malformed' };
  const key = keyring.keyRef(p.keyId);
  if (key === undefined) return { ok: false, reason: 'unknown_key' };
  try {
    const decipher = createDecipheriv(ALGORITHM, key, p.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aadFor(p.keyId, aad));
    decipher.setAuthTag(p.body.subarray(p.body.length - TAG_BYTES));
    const text = decipher.update(p.body.subarray(0, p.body.length - TAG_BYTES), undefined, 'utf8') + decipher.final('utf8');
    return { ok: true, text, keyId: p.keyId };
  } catch {
    return { ok: false, reason: 'auth_failed' };
  }
}

/**
 * Move an envelope to the current key. Envelopes already naming the current key are
 * reported `current` without being decrypted (cheap for rotation sweeps).
 */
export function rewrap(keyring: Keyring, envelope: string, aad?: string): RewrapResult {
  const p = typeof envelope === 'string' ? parse(envelope) : undefined;
  if (p === undefined) return { status: 'failed', reason: 'malformed' };
  if (p.keyId === keyring.currentId) return { status: 'current' };
  const opened = decrypt(keyring, envelope, aad);
  if (!opened.ok) return { status: 'failed', reason: opened.reason };
  return { status: 'moved', envelope: encrypt(keyring, opened.text, aad), from: p.keyId, to: keyring.currentId };
}

/**
 * A new envelope under the current key when `envelope` was under an older one;
 * undefined when it is already current — or cannot be opened (use rewrap() to tell
 * those apart).
 */
export function reencrypt(keyring: Keyring, envelope: string, aad?: string): string | undefined {
  const r = rewrap(keyring, envelope, aad);
  return r.status === 'moved' ? r.envelope : undefined;
}

function parse(s: string): Parsed | undefined {
  if (s.length > 16 * 1024 * 1024 || !ENVELOPE.test(s)) return undefined;
  const [, keyId, ivText, bodyText] = s.split('.');
  if (keyId === undefined || ivText === undefined || bodyText === undefined) return undefined;
  if (!KEY_ID_PATTERN.test(keyId) || !B64URL.test(bodyText) || bodyText.length % 4 === 1) return undefined;
  const iv = Buffer.from(ivText, 'base64url');
  const body = Buffer.from(bodyText, 'base64url');
  // Canonical encodings only, so one envelope has exactly one spelling.
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES || body.toString('base64url') !== bodyText) return undefined;
  return { keyId, iv, body };
}
