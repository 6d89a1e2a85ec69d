/**
 * The JSON Schema of the route table (config/routes.schema.json), compiled once by ajv,
 * and the translation of ajv's errors into problems keyed by exact path
 * (`routes[2].carriers[0].id`). The schema file is read on first use only — the one
 * piece of I/O in routing/, done once per process, never per message.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

/** Same relative place from src/routing/ (tsx) and dist/routing/ (built): the repo's config/. */
export const ROUTES_SCHEMA_PATH = fileURLToPath(new URL('../../config/routes.schema.json', import.meta.url));

/** One thing wrong with a route table, named by its key path in the file. */
export interface RouteProblem {
  /** `routes[2].carriers[0].id`, `operators.jazz[1]`; `file` for the document itself. */
  key: string;
  /** Why, in words an operator can act on. */
  message: string;
}

const ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,31}$';
const PREFIX_PATTERN = '^[0-9]{1,15}$';

const PATTERN_HINTS: Readonly<Record<string, string>> = {
  [ID_PATTERN]: "must start with a lowercase letter or digit, then at most 31 of a-z, 0-9, '_' and '-'",
  [PREFIX_PATTERN]: "must be 1 to 15 digits: an E.164 prefix without '+' (e.g. 92300)",
};

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled === undefined) {
    const schema = JSON.parse(readFileSync(ROUTES_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
    // No useDefaults: the caller's object is never mutated; compile() applies defaults.
    // verbose: errors carry parentSchema, to list the keys allowed where one is unknown.
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true });
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** Schema problems of a route table; empty when it conforms. */
export function schemaProblems(file: unknown): RouteProblem[] {
  const validate = validator();
  if (validate(file)) return [];
  const seen = new Set<string>();
  const out: RouteProblem[] = [];
  for (const e of validate.errors ?? []) {
    // A bad operator name fails twice: inside propertyNames (at the object, naming no
    // key) and as propertyNames itself (naming it); keep the one that names it.
    if (e.propertyName !== undefined) continue;
    const p = translate(e);
    const id = `${p.key}\n${p.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(p);
    }
  }
  return out;
}

/** Appends one JSON Pointer segment (or array index) to a key path. */
export function childKey(key: string, part: string | number): string {
  if (typeof part === 'number' || /^\d+$/.test(part)) return `${key}[${part}]`;
  // A key the operator mistyped may hold anything, even a newline: quote the odd ones.
  const name = /^[A-Za-z0-9_$-]+$/.test(part) ? part : JSON.stringify(part);
  if (name !== part) return `${key}[${name}]`;
  return key === '' ? part : `${key}.${part}`;
}

function pointerToKey(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<string>((key, part) => childKey(key, part), '');
}

function orFile(key: string): string {
  return key === '' ? 'file' : key;
}

function translate(e: ErrorObject): RouteProblem {
  const at = pointerToKey(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { key: childKey(at, String(params['missingProperty'])), message: 'is required' };
    case 'additionalProperties': {
      const parent = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
      const allowed = Object.keys(parent?.properties ?? {}).join(', ');
      return { key: childKey(at, String(params['additionalProperty'])), message: `unknown key (allowed here: ${allowed})` };
    }
    case 'propertyNames':
      return {
        key: childKey(at, String(params['propertyName'])),
        message: `is not a valid operator id: ${PATTERN_HINTS[ID_PATTERN] ?? ''}`,
      };
    case 'const':
      return { key: orFile(at), message: `must be ${JSON.stringify(params['allowedValue'])}` };
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { key: orFile(at), message: `must be one of ${allowed}` };
    }
    case 'pattern': {
      const pattern = String(params['pattern']);
      return { key: orFile(at), message: PATTERN_HINTS[pattern] ?? `must match ${pattern}` };
    }
    case 'minItems':
      return { key: orFile(at), message: params['limit'] === 1 ? 'must not be empty' : `must have at least ${String(params['limit'])} entries` };
    case 'minLength':
      return { key: orFile(at), message: params['limit'] === 1 ? 'must not be empty' : `must be at least ${String(params['limit'])} characters` };
    case 'uniqueItems':
      return {
        key: orFile(at),
        message: `must not repeat an entry (entries ${String(params['j'])} and ${String(params['i'])} are the same)`,
      };
    default:
      // ajv's own messages ("must be array", "must be > 0") never quote the value.
      return { key: orFile(at), message: e.message ?? `failed ${e.keyword}` };
  }
}
