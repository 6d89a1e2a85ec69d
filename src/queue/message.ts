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
  | { ok: false; reason: 'oversized' | 'not_json' | 'no_data' | 'invalid_schema' | 'unsupported_version'; detail: string; clientId?: string; tenant?: string; to?: string };

export const MESSAGE_SCHEMA_PATH = fileURLToPath(new URL('../../schema/mt-message.v1.json', import.meta.url));
const MAX_META_BYTES = 1024;

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ allErrors: false, useDefaults: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const validate = ajv.compile<MtMessage>(JSON.parse(readFileSync(MESSAGE_SCHEMA_PATH, 'utf8')) as object);

/**
 * Decode the `data` field of one intake entry. Never throws: every failure is a reason
 * the caller dead-letters with.
 */
export function decodeMessage(data: string | undefined, maxBytes: number): DecodeResult {
  if (data === undefined) return { ok: false, reason: 'no_data', detail: 'entry has no "data" field' };
  if (Buffer.byteLength(data, 'utf8') > maxBytes) return { ok: false, reason: 'oversized', detail: `entry is larger than ${maxBytes} bytes` };
  let doc: unknown;
  try {
    doc = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'not_json', detail: 'data is not JSON' };
  }
  const ids = idsOf(doc);
  if (typeof doc === 'object' && doc !== null && 'v' in doc && (doc as { v: unknown }).v !== 1) {
    return { ok: false, reason: 'unsupported_version', detail: `schema version ${String((doc as { v: unknown }).v)} is not supported (1 is)`, ...ids };
  }
  if (!validate(doc)) {
    return { ok: false, reason: 'invalid_schema', detail: describe(validate.errors?.[0]), ...ids };
  }
  if (doc.meta !== undefined && Buffer.byteLength(JSON.stringify(doc.meta), 'utf8') > MAX_META_BYTES) {
    return { ok: false, reason: 'invalid_schema', detail: `/meta: must be at most ${MAX_META_BYTES} bytes as JSON`, ...ids };
  }
  return { ok: true, message: doc };
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

/** A schema error as a path and a rule, never the offending value (it may be a number or text). */
function describe(e: ErrorObject | undefined): string {
  if (!e) return 'does not match the message schema';
  const where = e.instancePath === '' ? '(root)' : e.instancePath;
  if (e.keyword === 'additionalProperties') return `${where}: unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`;
  if (e.keyword === 'required') return `${where}: missing field "${String((e.params as { missingProperty: string }).missingProperty)}"`;
  return `${where}: ${e.message ?? e.keyword}`;
}
