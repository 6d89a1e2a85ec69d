import { inspect } from 'node:util';

/**
 * A secret value (SMPP password, HMAC key, token) that never prints: JSON, template
 * strings and util.inspect all show `[secret]`. Call reveal() at the point of use only.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[secret]';
  }
  toJSON(): string {
    return '[secret]';
  }
  [inspect.custom](): string {
    return '[secret]';
  }
}
