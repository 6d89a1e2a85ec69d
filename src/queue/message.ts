/**
 * Decoding an intake entry into a message: size check, JSON parse, schema validation
 * (schema/mt-message.v1.json, compiled once). Pure: no Redis.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

export type MessageClass = 'transactional' | 'otp' | 'marketing';

/** A validated intake message (schema version 1), defaults applied. */
export interface MtMessage {
  v: 1;
  id: string;
  to: string;
  from: string;
  text: string;
  class: MessageClass;
  tenant?: string;
  priority: number;
  validity?: number;
  sendAt?: string;
  receipt: boolean;
  /** Reference to recorded consent (marketing). */
  consent?: string;
  meta?: Record<string, unknown>;
}

export type DecodeResult =
  | { ok: true; message: MtMessage }
  /** `clientId` when the entry got far enough to have one, so the event can name it. */
  /** `to` when the entry had one, so erasure can find its dead letter (by keyed hash). */
  | { ok: false; reason: DecodeFailure; detail: string; clientId?: string; tenant?: string; to?: string };

/** Why an intake entry could not be used (the `reason` of its dead letter and rejected event). */
export type DecodeFailure = 'oversized' | 'not_json' | 'no_data' | 'invalid_schema' | 'unsupported_version' | 'too_deep' | 'schedule_too_far';

/** Bounds that depend on config and time. */
export interface DecodeLimits {
  /** Furthest ahead `sendAt` may be, in ms. */
  maxScheduleMs: number;
  /** Now, ms since epoch (the message clock). */
  now: number;
}

/**
 * Deepest nesting of objects and arrays an entry may have. The schema's own fields are
 * at depth 1 and `meta` is small; a document nested thousands deep overflows the stack
 * of the JSON parser and the validator, so it is refused before either runs.
 */
export const MAX_DEPTH = 32;

export const MESSAGE_SCHEMA_PATH = fileURLToPath(new URL('../../schema/mt-message.v1.json', import.meta.url));
const MAX_META_BYTES = 1024;

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ allErrors: false, useDefaults: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const validate = ajv.compile<MtMessage>(JSON.parse(readFileSync(MESSAGE_SCHEMA_PATH, 'utf8')) as object);

/**
 * Decode the `data` field of one intake entry. Never throws: every failure is a reason
 * the caller dead-letters with, and its detail says what is wrong, never what the entry
 * held (a value, or a field name, may be a number or text).
 */
export function decodeMessage(data: string | undefined, maxBytes: number, limits?: DecodeLimits, opts: DescribeOptions = {}): DecodeResult {
  try {
    return decode(data, maxBytes, limits, opts);
  } catch {
    // Nothing above should throw; if something does, the entry still gets a reason.
    return { ok: false, reason: 'invalid_schema', detail: 'the entry could not be checked against the message schema' };
  }
}

/** How a refusal is described. */
export interface DescribeOptions {
  /**
   * Name an unknown field and keep every path segment. Only for the writer's own process
   * (the client checking a message before it sends it): never for what is stored or logged.
   */
  nameFields?: boolean;
}

function decode(data: string | undefined, maxBytes: number, limits: DecodeLimits | undefined, opts: DescribeOptions): DecodeResult {
  if (data === undefined) return { ok: false, reason: 'no_data', detail: 'entry has no "data" field' };
  const size = Buffer.byteLength(data, 'utf8');
  if (size > maxBytes) return { ok: false, reason: 'oversized', detail: `entry is ${size} bytes, larger than ${maxBytes} bytes (intake.maxEntryBytes)` };
  if (nestingDepth(data) > MAX_DEPTH) return { ok: false, reason: 'too_deep', detail: `objects and arrays nested more than ${MAX_DEPTH} deep` };
  let doc: unknown;
  try {
    doc = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'not_json', detail: 'data is not JSON' };
  }
  const ids = idsOf(doc);
  if (typeof doc === 'object' && doc !== null && 'v' in doc && (doc as { v: unknown }).v !== 1) {
    return { ok: false, reason: 'unsupported_version', detail: 'schema version is not supported (1 is)', ...ids };
  }
  if (!validate(doc)) {
    return { ok: false, reason: 'invalid_schema', detail: describe(validate.errors?.[0], opts.nameFields === true), ...ids };
  }
  if (doc.meta !== undefined && Buffer.byteLength(JSON.stringify(doc.meta), 'utf8') > MAX_META_BYTES) {
    return { ok: false, reason: 'invalid_schema', detail: `/meta: must be at most ${MAX_META_BYTES} bytes as JSON`, ...ids };
  }
  if (doc.sendAt !== undefined && limits !== undefined && Date.parse(doc.sendAt) - limits.now > limits.maxScheduleMs) {
    return { ok: false, reason: 'schedule_too_far', detail: `/sendAt: more than messages.maxScheduleSec (${Math.round(limits.maxScheduleMs / 1000)} s) ahead`, ...ids };
  }
  return { ok: true, message: doc };
}

/** Deepest nesting of [ and { outside strings (a linear scan; no parse). */
export function nestingDepth(json: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

function idsOf(doc: unknown): { clientId?: string; tenant?: string; to?: string } {
  if (typeof doc !== 'object' || doc === null) return {};
  const d = doc as Record<string, unknown>;
  const out: { clientId?: string; tenant?: string; to?: string } = {};
  if (typeof d.to === 'string' && d.to.length <= 32) out.to = d.to;
  if (typeof d.id === 'string' && d.id.length <= 128) out.clientId = d.id;
  if (typeof d.tenant === 'string' && d.tenant.length <= 64) out.tenant = d.tenant;
  return out;
}

const SCHEMA_FIELDS: ReadonlySet<string> = new Set(Object.keys((JSON.parse(readFileSync(MESSAGE_SCHEMA_PATH, 'utf8')) as { properties: object }).properties));

/**
 * A schema error as a path and a rule, never the offending value nor an unknown field's
 * name (either may be a number or text). Path segments that are not the schema's own
 * field names are written `*`.
 */
function describe(e: ErrorObject | undefined, nameFields: boolean): string {
  if (!e) return 'does not match the message schema';
  const where = e.instancePath === '' ? '(root)' : nameFields ? e.instancePath : e.instancePath.split('/').map((seg, i) => (i === 0 || (i === 1 && SCHEMA_FIELDS.has(seg)) ? seg : '*')).join('/');
  if (e.keyword === 'additionalProperties') {
    if (nameFields) return `${where}: unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`;
    return `${where}: a field the schema does not define (allowed: ${[...SCHEMA_FIELDS].join(', ')})`;
  }
  if (e.keyword === 'required') return `${where}: missing field "${String((e.params as { missingProperty: string }).missingProperty)}"`;
  return `${where}: ${e.message ?? e.keyword}`;
}
