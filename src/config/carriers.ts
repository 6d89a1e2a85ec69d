/**
 * The `carriers` array: schema (ajv, with defaults), then the cross-field rules that a
 * JSON Schema cannot say, then secrets resolved into Secret. Every problem names its
 * exact key path. Reads the filesystem and the given env (for passwordEnv /
 * passwordFile / TLS files) but nothing else.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Secret } from '../core/secret.js';
import type { CarrierConfig, CarrierTls, SubmitErrorAction } from './types.js';
import { carrierSchemaProblems, PASSWORD_KEYS, SMPP_STRING_LIMITS, type RawCarrier } from './carrier-schema.js';
import { problem, type ConfigProblem } from './problems.js';

export interface CarrierContext {
  /** Where passwordEnv names are looked up. */
  env: NodeJS.ProcessEnv;
  /** Relative file paths (passwordFile, tls.*File) are resolved against this: the config file's directory. */
  baseDir: string;
}

export interface CarrierResult {
  carriers: CarrierConfig[];
  problems: ConfigProblem[];
}

/** Schema problems only (no filesystem, no env): what convict's format for `carriers` reports. */
export function carriersSchemaProblems(raw: unknown): ConfigProblem[] {
  if (!Array.isArray(raw)) return [problem('carriers', 'must be a JSON array of carrier objects')];
  return raw.flatMap((c, i) => carrierSchemaProblems(structuredClone(c), `carriers[${i}]`));
}

/** Validates the whole list and builds the typed carriers; `carriers` is meaningful only when `problems` is empty. */
export function resolveCarriers(raw: unknown, ctx: CarrierContext): CarrierResult {
  if (!Array.isArray(raw)) return { carriers: [], problems: [problem('carriers', 'must be a JSON array of carrier objects')] };
  const problems: ConfigProblem[] = [];
  const carriers: CarrierConfig[] = [];
  const firstIndexOfId = new Map<string, number>();

  raw.forEach((item, i) => {
    const key = `carriers[${i}]`;
    const copy: unknown = structuredClone(item);
    const schemaProblems = carrierSchemaProblems(copy, key);
    const id = (item as { id?: unknown } | null)?.id;
    if (typeof id === 'string') {
      const first = firstIndexOfId.get(id);
      if (first === undefined) firstIndexOfId.set(id, i);
      else problems.push(problem(`${key}.id`, `'${id}' is already the id of carriers[${first}]; ids must be unique`));
    }
    if (schemaProblems.length > 0) {
      problems.push(...schemaProblems);
      // The rules between fields, the files and the secret are still checked where their
      // fields are well-formed, so one pass over the file shows everything to fix.
      if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) problems.push(...partialProblems(copy as RawCarrier, key, ctx, schemaProblems));
      return;
    }
    const c = copy as RawCarrier;
    const own = [...timerProblems(c, key), ...octetProblems(c, key), ...tlsProblems(c, key, ctx.baseDir)];
    const password = resolvePassword(c, key, ctx, own);
    problems.push(...own);
    if (own.length === 0 && password !== undefined) carriers.push(toCarrierConfig(c, password, ctx.baseDir));
  });
  return { carriers, problems };
}

/**
 * The cross-field, file and secret checks of a carrier that failed its schema, on the
 * fields that are well-formed: a rule is left out when a key it reads has a schema
 * problem of its own (that one is reported already).
 */
function partialProblems(c: RawCarrier, key: string, ctx: CarrierContext, schemaProblems: readonly ConfigProblem[]): ConfigProblem[] {
  const bad = new Set(schemaProblems.map((p) => p.key));
  const isBad = (k: string): boolean => [...bad].some((b) => b === k || k.startsWith(`${b}.`) || k.startsWith(`${b}[`));
  const out: ConfigProblem[] = [];
  if (isObject(c.timers)) out.push(...timerProblems(c, key).filter((p) => !timerRuleKeys(p.key, key).some(isBad)));
  out.push(...octetProblems(c, key).filter((p) => !isBad(p.key)));
  if (isObject(c.tls) && !isBad(`${key}.tls`)) out.push(...tlsProblems(c, key, ctx.baseDir).filter((p) => !isBad(p.key)));
  if (!PASSWORD_KEYS.some((k) => isBad(`${key}.${k}`))) resolvePassword(c, key, ctx, out);
  return out;
}

/** The timer keys a timerProblems() rule reads, from the key it reports. */
function timerRuleKeys(reported: string, key: string): string[] {
  const k = `${key}.timers`;
  const reads: Record<string, string[]> = {
    [`${k}.enquireLinkMs`]: ['responseMs', 'enquireLinkMs'],
    [`${k}.inactivityMs`]: ['enquireLinkMs', 'inactivityMs'],
    [`${k}.bindMs`]: ['bindMs', 'inactivityMs'],
    [`${k}.reconnectMinMs`]: ['reconnectMinMs', 'reconnectMaxMs'],
  };
  return (reads[reported] ?? []).map((name) => `${k}.${name}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Timer ordering. An enquire_link must time out before the next is due; a quiet but
 * healthy link must be probed before inactivity drops it; a bind must be allowed to
 * finish before the inactivity timer could fire.
 */
function timerProblems(c: RawCarrier, key: string): ConfigProblem[] {
  const t = c.timers;
  const k = `${key}.timers`;
  const out: ConfigProblem[] = [];
  if (!(t.responseMs < t.enquireLinkMs)) {
    out.push(problem(`${k}.enquireLinkMs`, `must be greater than timers.responseMs (${t.responseMs}): each enquire_link must time out before the next is due`));
  }
  if (!(t.enquireLinkMs < t.inactivityMs)) {
    out.push(problem(`${k}.inactivityMs`, `must be greater than timers.enquireLinkMs (${t.enquireLinkMs}): a quiet link must be probed before it is dropped`));
  }
  if (!(t.bindMs <= t.inactivityMs)) {
    out.push(problem(`${k}.bindMs`, `must not exceed timers.inactivityMs (${t.inactivityMs})`));
  }
  if (!(t.reconnectMinMs <= t.reconnectMaxMs)) {
    out.push(problem(`${k}.reconnectMinMs`, `must not exceed timers.reconnectMaxMs (${t.reconnectMaxMs})`));
  }
  return out;
}

/** ajv counts characters; SMPP counts octets, and a non-ASCII character takes 2 to 4. */
function octetProblems(c: RawCarrier, key: string): ConfigProblem[] {
  const values: Array<[string, string, string | undefined]> = [
    ['systemId', 'systemId', c.systemId],
    ['systemType', 'systemType', c.systemType],
    ['addressRange', 'addressing.addressRange', isObject(c.addressing) ? c.addressing.addressRange : undefined],
    ['password', 'password', c.password],
  ];
  const out: ConfigProblem[] = [];
  for (const [name, path, value] of values) {
    const limit = SMPP_STRING_LIMITS[name];
    if (typeof value === 'string' && limit !== undefined && Buffer.byteLength(value, 'utf8') > limit.octets) {
      out.push(problem(`${key}.${path}`, `must be at most ${limit.octets} octets in UTF-8 (${limit.clause})`));
    }
  }
  return out;
}

function tlsProblems(c: RawCarrier, key: string, baseDir: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const { certFile, keyFile } = c.tls;
  if (certFile !== undefined && keyFile === undefined) out.push(problem(`${key}.tls.keyFile`, 'is required when tls.certFile is set (mutual TLS needs both)'));
  if (keyFile !== undefined && certFile === undefined) out.push(problem(`${key}.tls.certFile`, 'is required when tls.keyFile is set (mutual TLS needs both)'));
  for (const name of ['caFile', 'certFile', 'keyFile'] as const) {
    const path = c.tls[name];
    if (typeof path !== 'string') continue;
    const why = unreadable(resolve(baseDir, path));
    if (why !== undefined) out.push(problem(`${key}.tls.${name}`, why));
  }
  return out;
}

/** Reads the password from where the carrier says; pushes a problem and returns undefined when it cannot. */
function resolvePassword(c: RawCarrier, key: string, ctx: CarrierContext, out: ConfigProblem[]): string | undefined {
  const limit = SMPP_STRING_LIMITS['password']?.octets ?? 8;
  const tooLong = (where: string): ConfigProblem =>
    problem(`${key}.${where}`, `holds a password longer than ${limit} octets (SMPP 3.4 §5.2.1); SMSCs truncate or reject it`);

  if (c.password !== undefined) return c.password;
  if (c.passwordEnv !== undefined) {
    const value = ctx.env[c.passwordEnv];
    if (value === undefined || value === '') {
      out.push(problem(`${key}.passwordEnv`, `environment variable ${c.passwordEnv} is ${value === undefined ? 'not set' : 'empty'}`, 'CONFIG_SECRET_MISSING'));
      return undefined;
    }
    if (Buffer.byteLength(value, 'utf8') > limit) {
      out.push(tooLong('passwordEnv'));
      return undefined;
    }
    return value;
  }
  if (c.passwordFile !== undefined) {
    const path = resolve(ctx.baseDir, c.passwordFile);
    const why = unreadable(path);
    if (why !== undefined) {
      out.push(problem(`${key}.passwordFile`, why, 'CONFIG_SECRET_MISSING'));
      return undefined;
    }
    // One line, as written by `echo secret > file` or a secrets mount: drop the line end.
    const value = readFileSync(path, 'utf8').replace(/(\r?\n)+$/, '');
    if (value === '') {
      out.push(problem(`${key}.passwordFile`, `'${path}' is empty`, 'CONFIG_SECRET_MISSING'));
      return undefined;
    }
    if (Buffer.byteLength(value, 'utf8') > limit) {
      out.push(tooLong('passwordFile'));
      return undefined;
    }
    return value;
  }
  return undefined;
}

/** Why a path cannot be read as a regular file, or undefined when it can. */
export function unreadable(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return `'${path}' is not a regular file`;
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR' ? 'a parent is not a directory' : (code ?? 'unreadable');
    return `cannot read '${path}': ${reason}`;
  }
}

function toCarrierConfig(c: RawCarrier, password: string, baseDir: string): CarrierConfig {
  const tls: CarrierTls = { enabled: c.tls.enabled, rejectUnauthorized: c.tls.rejectUnauthorized };
  if (c.tls.caFile !== undefined) tls.caFile = resolve(baseDir, c.tls.caFile);
  if (c.tls.servername !== undefined) tls.servername = c.tls.servername;
  if (c.tls.certFile !== undefined) tls.certFile = resolve(baseDir, c.tls.certFile);
  if (c.tls.keyFile !== undefined) tls.keyFile = resolve(baseDir, c.tls.keyFile);
  return {
    id: c.id,
    host: c.host,
    port: c.port,
    tls,
    systemId: c.systemId,
    password: new Secret(password),
    systemType: c.systemType,
    interfaceVersion: c.interfaceVersion,
    bindMode: c.bindMode,
    sessions: c.sessions,
    window: c.window,
    tps: c.tps,
    // Spelled out so the printed config lists them in one order, whatever the file's.
    timers: {
      connectMs: c.timers.connectMs,
      bindMs: c.timers.bindMs,
      responseMs: c.timers.responseMs,
      enquireLinkMs: c.timers.enquireLinkMs,
      inactivityMs: c.timers.inactivityMs,
      unbindMs: c.timers.unbindMs,
      drainMs: c.timers.drainMs,
      reconnectMinMs: c.timers.reconnectMinMs,
      reconnectMaxMs: c.timers.reconnectMaxMs,
    },
    addressing: {
      sourceTon: c.addressing.sourceTon,
      sourceNpi: c.addressing.sourceNpi,
      destTon: c.addressing.destTon,
      destNpi: c.addressing.destNpi,
      addressRange: c.addressing.addressRange,
      alphanumericTon: c.addressing.alphanumericTon,
      alphanumericNpi: c.addressing.alphanumericNpi,
      shortCodeMaxDigits: c.addressing.shortCodeMaxDigits,
      shortCodeTon: c.addressing.shortCodeTon,
      shortCodeNpi: c.addressing.shortCodeNpi,
    },
    messageIds: {
      submitResp: c.messageIds.submitResp,
      receipt: c.messageIds.receipt,
      receiptTlv: c.messageIds.receiptTlv ?? c.messageIds.receipt,
      receiptText: c.messageIds.receiptText ?? c.messageIds.receipt,
    },
    concat: c.concat,
    receiptOnPart: c.receiptOnPart,
    validityFormat: c.validityFormat,
    minValiditySec: c.minValiditySec,
    submitErrors: canonicalSubmitErrors(c.submitErrors),
    failoverAfter: c.failoverAfter,
    retryScheduleMs: c.retryScheduleMs,
    breaker: {
      enabled: c.breaker.enabled,
      windowSec: c.breaker.windowSec,
      minSubmits: c.breaker.minSubmits,
      errorShare: c.breaker.errorShare,
      coolDownSec: c.breaker.coolDownSec,
      probes: c.breaker.probes,
    },
    querySm: { enabled: c.querySm.enabled, delaySec: c.querySm.delaySec, retrySec: c.querySm.retrySec, maxQueries: c.querySm.maxQueries },
  };
}

/**
 * `submitErrors` with hex keys written one way (0x45 → 0x00000045), so a status is looked
 * up by its name or its hex value (dispatch/outcome.ts). Names are checked against the
 * SMPP command_status table at start-up (cli/startup.ts).
 */
function canonicalSubmitErrors(raw: Readonly<Record<string, SubmitErrorAction>> | undefined): Record<string, SubmitErrorAction> {
  const out: Record<string, SubmitErrorAction> = {};
  for (const [k, v] of Object.entries(raw ?? {})) out[/^0x/i.test(k) ? `0x${parseInt(k, 16).toString(16).padStart(8, '0')}` : k] = v;
  return out;
}
