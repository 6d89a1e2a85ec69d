/**
 * The JSON Schema of one carrier (config/carrier.schema.json), compiled once by ajv,
 * and the translation of ajv's errors into ConfigProblems keyed by exact path
 * (`carriers[1].timers.enquireLinkMs`). Pure apart from reading the schema file on
 * first use. Cross-field rules live in carriers.ts.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { BindMode, BreakerConfig, QuerySmConfig, CarrierAddressing, ConcatMethod, MessageIdFormat, ReceiptPart, SmppTimers, SubmitErrorAction, ValidityFormat } from './types.js';
import { problem, type ConfigProblem } from './problems.js';

/** Same relative place from src/config/ (tsx) and dist/config/ (built): the repo's config/. */
export const CARRIER_SCHEMA_PATH = fileURLToPath(new URL('../../config/carrier.schema.json', import.meta.url));

/** A carrier as written in the file, after ajv filled in the defaults. */
export interface RawCarrier {
  id: string;
  host: string;
  port: number;
  tls: {
    enabled: boolean;
    caFile?: string;
    servername?: string;
    rejectUnauthorized: boolean;
    certFile?: string;
    keyFile?: string;
  };
  systemId: string;
  password?: string;
  passwordEnv?: string;
  passwordFile?: string;
  systemType: string;
  interfaceVersion: number;
  bindMode: BindMode;
  sessions: number;
  window: number;
  tps: number;
  timers: SmppTimers;
  addressing: CarrierAddressing;
  messageIds: { submitResp: MessageIdFormat; receipt: MessageIdFormat; receiptTlv?: MessageIdFormat; receiptText?: MessageIdFormat };
  concat: ConcatMethod;
  receiptOnPart: ReceiptPart;
  validityFormat: ValidityFormat;
  minValiditySec: number;
  submitErrors: Record<string, SubmitErrorAction>;
  failoverAfter: number;
  retryScheduleMs?: number[];
  breaker: BreakerConfig;
  querySm: QuerySmConfig;
}

export const PASSWORD_KEYS = ['password', 'passwordEnv', 'passwordFile'] as const;

/**
 * Octet limits of the bind's C-Octet Strings (SMPP 3.4 §5.2.1, §5.2.7), without the
 * terminating NUL. An SMSC truncates or rejects a longer value, so it is an error here.
 */
export const SMPP_STRING_LIMITS: Readonly<Record<string, { octets: number; clause: string }>> = {
  systemId: { octets: 15, clause: 'SMPP 3.4 §5.2.1: system_id is a C-Octet String of at most 16 octets' },
  password: { octets: 8, clause: 'SMPP 3.4 §5.2.1: password is a C-Octet String of at most 9 octets; SMSCs truncate or reject longer ones' },
  systemType: { octets: 12, clause: 'SMPP 3.4 §5.2.1: system_type is a C-Octet String of at most 13 octets' },
  addressRange: { octets: 40, clause: 'SMPP 3.4 §5.2.7: address_range is a C-Octet String of at most 41 octets' },
};

const PATTERN_HINTS: Readonly<Record<string, string>> = {
  id: "must start with a lowercase letter or digit, then at most 31 of a-z, 0-9, '_' and '-'",
  passwordEnv: 'must be an environment variable name (letters, digits and _, not starting with a digit)',
};

let compiled: ValidateFunction | undefined;

/** The compiled validator; the schema file is read and compiled on first use only. */
export function carrierValidator(): ValidateFunction {
  if (compiled === undefined) {
    const schema = JSON.parse(readFileSync(CARRIER_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
    // verbose: errors carry parentSchema (to list allowed keys) and data (to name the
    // password keys given); neither is ever copied into a message.
    // strictRequired off: the oneOf branches name properties declared at the parent.
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictRequired: false });
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/**
 * Validates one carrier in place (ajv fills in defaults, so pass a copy) and returns
 * its problems, keyed under `prefix` (e.g. `carriers[2]`).
 */
export function carrierSchemaProblems(carrier: unknown, prefix: string): ConfigProblem[] {
  const validate = carrierValidator();
  if (validate(carrier)) return [];
  const errors = (validate.errors ?? []).filter((e) => !e.schemaPath.startsWith('#/oneOf/'));
  const seen = new Set<string>();
  const out: ConfigProblem[] = [];
  for (const e of errors) {
    // oneOf on a non-object fails because every branch passes; the type error says it all.
    if (e.keyword === 'oneOf' && (typeof e.data !== 'object' || e.data === null || Array.isArray(e.data))) continue;
    const p = translate(e, prefix);
    const id = `${p.key}\n${p.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(p);
    }
  }
  return out;
}

function pointerToKey(prefix: string, pointer: string): string {
  if (pointer === '') return prefix;
  const parts = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  // A key the operator mistyped may hold anything, even a newline: quote the odd ones.
  return parts.reduce(
    (key, part) => (/^\d+$/.test(part) ? `${key}[${part}]` : /^[A-Za-z0-9_$-]+$/.test(part) ? `${key}.${part}` : `${key}[${JSON.stringify(part)}]`),
    prefix,
  );
}

function lastSegment(key: string): string {
  const dot = key.lastIndexOf('.');
  return dot < 0 ? key : key.slice(dot + 1);
}

function translate(e: ErrorObject, prefix: string): ConfigProblem {
  const at = pointerToKey(prefix, e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return problem(`${at}.${String(params['missingProperty'])}`, 'is required');
    case 'additionalProperties': {
      const parent = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
      const allowed = Object.keys(parent?.properties ?? {}).join(', ');
      const key = pointerToKey(at, `/${String(params['additionalProperty']).replace(/~/g, '~0').replace(/\//g, '~1')}`);
      return problem(key, `unknown key (allowed here: ${allowed})`);
    }
    case 'oneOf': {
      const data = (typeof e.data === 'object' && e.data !== null ? e.data : {}) as Record<string, unknown>;
      const given = PASSWORD_KEYS.filter((k) => data[k] !== undefined);
      if (given.length === 0) return problem(`${at}.password`, 'is required: give exactly one of password, passwordEnv, passwordFile');
      return problem(`${at}.${given[0] as string}`, `give exactly one of password, passwordEnv, passwordFile, not ${given.join(' and ')}`);
    }
    case 'enum': {
      const name = lastSegment(at);
      if (name === 'interfaceVersion') return problem(at, 'must be 52 (0x34, SMPP 3.4), 51 (0x33) or 80 (0x50), written in decimal');
      const allowed = (params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return problem(at, `must be one of ${allowed}`);
    }
    case 'maxLength': {
      const limit = SMPP_STRING_LIMITS[lastSegment(at)];
      const why = limit === undefined ? '' : ` (${limit.clause})`;
      return problem(at, `must be at most ${String(params['limit'])} characters${why}`);
    }
    case 'minLength':
      return problem(at, params['limit'] === 1 ? 'must not be empty' : `must be at least ${String(params['limit'])} characters`);
    case 'pattern': {
      const hint = PATTERN_HINTS[lastSegment(at)];
      return problem(at, hint ?? `must match ${String(params['pattern'])}`);
    }
    default:
      // ajv's own messages ("must be integer", "must be <= 65535") never quote the value.
      return problem(at, e.message ?? `failed ${e.keyword}`);
  }
}
