import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { QasidError } from '../core/errors.js';

/**
 * Versioned 256-bit keys: `current` names the write key, every key in `keys` stays
 * readable. Values are base64 (or base64url) of exactly 32 random bytes — make one with
 * `Keyring.generateKey()` / `qasid`'s key tooling. The JSON usually comes from an env
 * variable (fromJson) or a file (fromFile).
 */
export interface KeyringSource {
  current: string;
  keys: Record<string, string /* base64 of 32 bytes */>;
}

export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,16}$/;
export const KEY_BYTES = 32;

// 32 bytes → 43 significant base64 chars; the last one carries 4 bits, so only
// these characters can end a canonical encoding.
const KEY_TEXT = /^[A-Za-z0-9+/_-]{42}[AEIMQUYcgkosw048](=)?$/;

/**
 * Holds key material in Buffers it never lets out by printing: JSON, template strings
 * and util.inspect all show `[keyring: ids k1,k2; current k2]`.
 */
export class Keyring {
  readonly #keys: ReadonlyMap<string, Buffer>;
  readonly #current: string;

  private constructor(keys: ReadonlyMap<string, Buffer>, current: string) {
    this.#keys = keys;
    this.#current = current;
  }

  /** Parse and validate `{"current":"k2","keys":{"k1":"…","k2":"…"}}`. `origin` names where it came from in errors. */
  static fromJson(json: string, origin: string): Keyring {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      // The parser's own message quotes the input, which holds key material: never pass it on.
      throw new QasidError('CONFIG_INVALID', `${origin}: keyring is not valid JSON`, { origin });
    }
    return Keyring.fromSource(parsed, origin);
  }

  /**
   * Read and validate a keyring file — what `qasid keys new` writes and QASID_KEYRING_FILE
   * names. `origin` names the file in errors (default `keyring file <path>`). No path, an
   * unreadable or an empty file is CONFIG_SECRET_MISSING; bad contents are CONFIG_INVALID,
   * and no error quotes the file's contents.
   */
  static fromFile(path: string | undefined, origin = `keyring file ${path ?? ''}`): Keyring {
    if (path === undefined || path === '') {
      throw new QasidError('CONFIG_SECRET_MISSING', 'keyring file: no path given (is QASID_KEYRING_FILE set?)');
    }
    let json: string;
    try {
      json = readFileSync(path, 'utf8');
    } catch (e) {
      throw new QasidError('CONFIG_SECRET_MISSING', `${origin}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`, { origin });
    }
    if (json.trim() === '') throw new QasidError('CONFIG_SECRET_MISSING', `${origin}: the file is empty`, { origin });
    return Keyring.fromJson(json, origin);
  }

  /** Validate an already-parsed source (e.g. from config). */
  static fromSource(source: unknown, origin: string): Keyring {
    const fail = (what: string, details: Record<string, unknown> = {}): never => {
      throw new QasidError('CONFIG_INVALID', `${origin}: ${what}`, { origin, ...details });
    };
    if (typeof source !== 'object' || source === null || Array.isArray(source)) fail('keyring must be an object {current, keys}');
    const { current, keys } = source as { current?: unknown; keys?: unknown };
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) return fail('keyring.keys must be an object of id → base64 key');
    const map = new Map<string, Buffer>();
    for (const [id, value] of Object.entries(keys as Record<string, unknown>)) {
      if (!KEY_ID_PATTERN.test(id)) fail(`key id ${JSON.stringify(id.slice(0, 32))} must match ${KEY_ID_PATTERN.source}`, { keyId: id.slice(0, 32) });
      if (typeof value !== 'string' || !KEY_TEXT.test(value)) {
        fail(`key "${id}" must be base64 of exactly ${KEY_BYTES} bytes`, { keyId: id });
      }
      // Node's base64 decoder reads both alphabets.
      const bytes = Buffer.from(value as string, 'base64');
      if (bytes.length !== KEY_BYTES) fail(`key "${id}" must be base64 of exactly ${KEY_BYTES} bytes`, { keyId: id });
      map.set(id, bytes);
    }
    if (map.size === 0) fail('keyring.keys is empty');
    if (typeof current !== 'string' || !map.has(current)) {
      fail(
        typeof current === 'string' && KEY_ID_PATTERN.test(current)
          ? `keyring.current "${current}" is not one of keyring.keys`
          : 'keyring.current must name one of keyring.keys',
        { keyId: typeof current === 'string' ? current.slice(0, 32) : undefined },
      );
    }
    return new Keyring(map, current as string);
  }

  /** A fresh key, base64 of 32 random bytes, for putting in a keyring source. */
  static generateKey(): string {
    return randomBytes(KEY_BYTES).toString('base64');
  }

  /** A new one-key keyring as JSON (what `qasid keys new` prints). */
  static newSourceJson(id = 'k1'): string {
    return JSON.stringify({ current: id, keys: { [id]: Keyring.generateKey() } });
  }

  /** The key new envelopes and hashes are written under. */
  get currentId(): string {
    return this.#current;
  }

  /** A copy of the key bytes for `id`, or undefined when the keyring does not hold it. */
  key(id: string): Buffer | undefined {
    const k = this.#keys.get(id);
    return k === undefined ? undefined : Buffer.from(k);
  }

  /** Same as key() but without the defensive copy, for this folder's hot paths. @internal */
  keyRef(id: string): Buffer | undefined {
    return this.#keys.get(id);
  }

  has(id: string): boolean {
    return this.#keys.has(id);
  }

  /** Key ids in source order. */
  ids(): string[] {
    return [...this.#keys.keys()];
  }

  toString(): string {
    return `[keyring: ids ${this.ids().join(',')}; current ${this.#current}]`;
  }
  toJSON(): string {
    return this.toString();
  }
  [inspect.custom](): string {
    return this.toString();
  }
}
