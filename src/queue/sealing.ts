/**
 * What the queue needs from encryption, without depending on how it is done: the
 * composition root hands in src/privacy's vault. `context` is bound into the ciphertext
 * (a record id, 'mo', 'dead', 'mt'), so a value copied elsewhere does not open.
 */
export interface FieldSealer {
  seal(plain: string, context: string): string;
  /** The plaintext, or undefined when the value cannot be opened (unknown key, tampered, not sealed). */
  open(sealed: string, context: string): string | undefined;
  /** True when `value` looks like a sealed value (it may still fail to open). */
  isSealed(value: string): boolean;
}
