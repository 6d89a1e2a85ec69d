/**
 * Errors with stable codes. A code is never reused for a different meaning.
 * `action` tells the caller what to do: retry later, fail for good, or slow down.
 */
export type ErrorAction = 'retry' | 'fail' | 'slowdown';

export const ERROR_CODES = {
  CONFIG_INVALID: { action: 'fail', text: 'configuration is invalid' },
  REDIS_UNAVAILABLE: { action: 'retry', text: 'Redis cannot be reached' },
  CONFIG_SECRET_MISSING: { action: 'fail', text: 'a secret could not be read from env or file' },
  SMPP_FRAME_INVALID: { action: 'retry', text: 'peer sent a PDU with an impossible length' },
  SMPP_DECODE_FAILED: { action: 'retry', text: 'peer sent a PDU that could not be decoded' },
  SMPP_BIND_REJECTED: { action: 'retry', text: 'SMSC answered bind with an error status' },
  SMPP_BIND_TIMEOUT: { action: 'retry', text: 'SMSC did not answer bind in time' },
  SMPP_NOT_BOUND: { action: 'retry', text: 'session is not bound' },
  SMPP_RESPONSE_TIMEOUT: { action: 'retry', text: 'no response before the deadline' },
  SMPP_CONNECTION_CLOSED: { action: 'retry', text: 'connection closed' },
  SMPP_WRITE_STALLED: { action: 'retry', text: 'socket did not drain before the deadline' },
  SMPP_ENQUIRE_LINK_TIMEOUT: { action: 'retry', text: 'enquire_link went unanswered' },
  SMPP_INACTIVITY: { action: 'retry', text: 'nothing received within the inactivity timeout' },
  SMPP_PEER_UNBOUND: { action: 'retry', text: 'SMSC unbound the session' },
  SMPP_STOPPING: { action: 'retry', text: 'link is stopping' },
  SMPP_ENCODE_FAILED: { action: 'fail', text: 'a request could not be encoded as a PDU' },
  SMPP_WINDOW_WAIT_ABORTED: { action: 'retry', text: 'gave up waiting for a window slot' },
  INTAKE_CONSUMER_IN_USE: { action: 'fail', text: 'the intake consumer name is held by another live instance' },
} as const satisfies Record<string, { action: ErrorAction; text: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class QasidError extends Error {
  readonly code: ErrorCode;
  readonly action: ErrorAction;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message?: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code].text, options);
    this.name = 'QasidError';
    this.code = code;
    this.action = ERROR_CODES[code].action;
    this.details = Object.freeze({ ...details });
  }
}

export function isQasidError(e: unknown, code?: ErrorCode): e is QasidError {
  return e instanceof QasidError && (code === undefined || e.code === code);
}

/** Turn anything thrown into a message suitable for a log field. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
