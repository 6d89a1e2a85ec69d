/**
 * Everything `qasid run` checks before it connects anywhere, in the one function that
 * `qasid config check` calls too, so the two cannot disagree: the config (schema,
 * cross-field rules, files, secrets), both keyrings (file or env, every key, the two
 * distinct), the route table against the carriers, the contents of the TLS files, the
 * admin address lists and the keyword lists; then the gateway is built, not started,
 * which is the step of `run` that could still reject the config. Every problem found is
 * reported in one pass, each naming its config key.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { IpList } from '../admin/auth.js';
import { App } from '../app.js';
import { unreadable } from '../config/carriers.js';
import { CONFIG_FILE_ENV, inspectConfig, type LoadConfigOptions, type StartupInputs } from '../config/load.js';
import { configError, problem, type ConfigProblem } from '../config/problems.js';
import { schemaLeaves } from '../config/schema.js';
import type { CarrierConfig, QasidConfig } from '../config/types.js';
import { errorMessage, isQasidError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/registry.js';
import { DEFAULT_KEYWORDS, compileKeywords } from '../privacy/keywords.js';
import { Keyring, KEY_ID_PATTERN } from '../privacy/keyring.js';
import { Vault, loadKeyring } from '../privacy/vault.js';
import { compileRoutes } from '../routing/index.js';
import { COMMAND_STATUS } from '../smpp/codec.js';

export interface StartupOptions extends LoadConfigOptions {
  /** The gateway's logger, made once the config is accepted (run: from log.*; check: a silent one). */
  logger: (config: QasidConfig) => Logger;
  metrics?: Metrics;
}

export type Startup =
  | {
      ok: true;
      config: QasidConfig;
      logger: Logger;
      /** Built, not started: start() connects to Redis and the carriers. */
      app: App;
      /** Accepted, but worth knowing (a route table without a catch-all route). */
      warnings: string[];
    }
  | { ok: false; file: string | undefined; problems: ConfigProblem[] };

type KeyringName = 'privacy.keyring' | 'privacy.hashKeyring';

/** Checks everything start-up checks and builds the gateway; `ok: false` lists every problem. */
export function prepareStartup(opts: StartupOptions): Startup {
  const env = opts.env ?? process.env;
  let inspection;
  try {
    inspection = inspectConfig(opts);
  } catch (e) {
    // The file cannot be used at all (missing, not JSON): nothing else can be judged.
    const named = env[CONFIG_FILE_ENV];
    return { ok: false, file: opts.file ?? (named === undefined || named === '' ? undefined : named), problems: problemsOf(e, 'file') };
  }
  const { file, startup: inputs } = inspection;
  const problems = [...inspection.problems];
  const warnings: string[] = [];

  const cipher = checkKeyring('privacy.keyring', inputs.privacy.keyring, inputs.privacy.keyringFile, env, problems);
  const hash = checkKeyring('privacy.hashKeyring', inputs.privacy.hashKeyring, inputs.privacy.hashKeyringFile, env, problems);
  let vault: Vault | undefined;
  if (cipher !== undefined && hash !== undefined) {
    try {
      vault = new Vault(cipher, hash);
    } catch (e) {
      problems.push(...problemsOf(e, 'privacy.hashKeyring'));
    }
  }
  checkRoutes(inputs, problems, warnings);
  checkAddressLists(inputs, problems);
  checkKeywords(inputs, problems);
  checkTlsFiles(inputs, problems);

  const config = inspection.config;
  if (config !== undefined) checkSubmitErrors(config, problems);
  if (problems.length > 0 || config === undefined || vault === undefined) return { ok: false, file, problems };
  const logger = opts.logger(config);
  try {
    // SIGHUP and POST /carriers/reload read the carriers again, checked as here.
    const loadCarriers = (): CarrierConfig[] => {
      const again = inspectConfig({ ...opts, ...(file === undefined ? {} : { file }) });
      const found = [...again.problems];
      if (again.config !== undefined) checkSubmitErrors(again.config, found);
      if (found.length > 0 || again.config === undefined) throw configError(found, again.file);
      return [...again.config.carriers];
    };
    const app = new App({ config, logger, vault, loadCarriers, ...(opts.metrics ? { metrics: opts.metrics } : {}) });
    return { ok: true, config, logger, app, warnings };
  } catch (e) {
    return { ok: false, file, problems: problemsOf(e, 'config') };
  }
}

/** A thrown error as problems: a config error's own list, else one problem under `key`. */
function problemsOf(e: unknown, key: string): ConfigProblem[] {
  if (isQasidError(e)) {
    const listed = e.details['problems'];
    if (Array.isArray(listed) && listed.length > 0) return listed as ConfigProblem[];
    const at = typeof e.details['key'] === 'string' ? e.details['key'] : key;
    return [problem(at, withoutPrefix(e.message, at))];
  }
  return [problem(key, errorMessage(e))];
}

/** "privacy.hashKeyring: secret … " under key privacy.hashKeyring → "secret …". */
function withoutPrefix(message: string, key: string): string {
  return message.startsWith(`${key}: `) ? message.slice(key.length + 2) : message;
}

/** " (from env X)" when `key`'s value came from its environment variable. */
function fromEnv(key: string, env: NodeJS.ProcessEnv): string {
  const name = schemaLeaves().find((l) => l.key === key)?.env;
  return name !== undefined && env[name] !== undefined && env[name] !== '' ? ` (from env ${name})` : '';
}

function envName(key: string): string {
  return schemaLeaves().find((l) => l.key === key)?.env ?? '?';
}

/**
 * One keyring, every problem in it: the file (or the inline JSON), then each key, then
 * `current`. When none is found, the keyring is loaded by the loader the daemon uses
 * (and its SIGHUP reload), whose verdict stands.
 */
function checkKeyring(key: KeyringName, inline: Secret, file: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): Keyring | undefined {
  // Both given: that problem is listed already, and which one counts is the operator's call.
  if (inline.reveal() !== '' && file !== '') return undefined;
  const where = file === '' ? key : `${key}File`;
  const origin = fromEnv(where, env);
  let json: string;
  if (file !== '') {
    const why = unreadable(file);
    if (why !== undefined) {
      problems.push(problem(where, `${why}${origin}`, 'CONFIG_SECRET_MISSING'));
      return undefined;
    }
    json = readFileSync(file, 'utf8');
    if (json.trim() === '') {
      problems.push(problem(where, `'${file}' is empty${origin}`, 'CONFIG_SECRET_MISSING'));
      return undefined;
    }
  } else {
    json = inline.reveal();
    if (json.trim() === '') {
      const flag = key === 'privacy.hashKeyring' ? ' --hash --id h1' : ' --id k1';
      problems.push(
        problem(key, `required: set ${key} (env ${envName(key)}) or ${key}File (env ${envName(`${key}File`)}); make one with \`qasid keys new${flag}\``, 'CONFIG_SECRET_MISSING'),
      );
      return undefined;
    }
  }
  const inFile = file === '' ? origin : ` (in ${file})${origin}`;
  const found = keyringProblems(json);
  if (found.length > 0) {
    for (const why of found) problems.push(problem(where, `${why}${inFile}`));
    return undefined;
  }
  try {
    return loadKeyring(inline, file, key);
  } catch (e) {
    problems.push(problem(where, `${errorMessage(e)}${origin}`));
    return undefined;
  }
}

/** What is wrong with a keyring's JSON, each key on its own; never quotes a key. */
function keyringProblems(json: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    // The parser's message quotes the input, which holds key material.
    return ['keyring is not valid JSON'];
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return ['keyring must be an object {current, keys}'];
  const { current, keys } = parsed as { current?: unknown; keys?: unknown };
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) return ['keyring.keys must be an object of id → base64 key'];
  const ids = Object.keys(keys);
  if (ids.length === 0) return ['keyring.keys is empty'];
  const out: string[] = [];
  for (const id of ids) {
    // Each key through the keyring's own rules, alone, so every bad one is named.
    try {
      Keyring.fromSource({ current: id, keys: { [id]: (keys as Record<string, unknown>)[id] } }, 'keyring');
    } catch (e) {
      out.push(withoutPrefix(errorMessage(e), 'keyring'));
    }
  }
  if (typeof current !== 'string' || !KEY_ID_PATTERN.test(current)) out.push('keyring.current must name one of keyring.keys');
  else if (!ids.includes(current)) out.push(`keyring.current "${current}" is not one of keyring.keys`);
  return out;
}

/** routes.file: readable, JSON, and valid against the carriers as written. */
function checkRoutes(inputs: StartupInputs, problems: ConfigProblem[], warnings: string[]): void {
  const path = inputs.routesFile;
  if (path === '') return;
  const why = unreadable(path);
  if (why !== undefined) {
    problems.push(problem('routes.file', why));
    return;
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    problems.push(problem('routes.file', `'${path}' is not valid JSON: ${errorMessage(e)}`));
    return;
  }
  const known = inputs.carrierIds.filter((id): id is string => id !== undefined);
  try {
    const table = compileRoutes(json, known, { file: path });
    for (const w of table.warnings) warnings.push(`routes.file: ${w.key}: ${w.message}`);
  } catch (e) {
    const listed = isQasidError(e) ? e.details['problems'] : undefined;
    if (!Array.isArray(listed)) {
      problems.push(problem('routes.file', errorMessage(e)));
      return;
    }
    for (const p of listed as ConfigProblem[]) problems.push(problem('routes.file', `${p.key}: ${p.message}`));
  }
}

/** carriers[].submitErrors: every status name is one SMPP knows (a typo would silently never match). */
function checkSubmitErrors(config: QasidConfig, problems: ConfigProblem[]): void {
  config.carriers.forEach((c, i) => {
    for (const key of Object.keys(c.submitErrors ?? {})) {
      if (!key.startsWith('0x') && COMMAND_STATUS[key] === undefined) problems.push(problem(`carriers[${i}].submitErrors.${key}`, 'is not an SMPP 3.4 command_status name; give its hex value instead (0x…)'));
    }
  });
}

/** admin.allowList and admin.trustedProxies, entry by entry, as the admin server parses them. */
function checkAddressLists(inputs: StartupInputs, problems: ConfigProblem[]): void {
  for (const [key, list] of [
    ['admin.allowList', inputs.allowList],
    ['admin.trustedProxies', inputs.trustedProxies],
  ] as const) {
    list?.forEach((entry, i) => {
      try {
        new IpList([entry]);
      } catch (e) {
        problems.push(problem(`${key}[${i}]`, errorMessage(e)));
      }
    });
  }
}

/** policy.stopKeywords / startKeywords as the receipt handler compiles them (an empty list means the built-in one). */
function checkKeywords(inputs: StartupInputs, problems: ConfigProblem[]): void {
  const { stopKeywords: stop, startKeywords: start } = inputs;
  if (stop === undefined || start === undefined) return;
  try {
    compileKeywords({ stop: stop.length > 0 ? stop : DEFAULT_KEYWORDS.stop, start: start.length > 0 ? start : DEFAULT_KEYWORDS.start });
  } catch (e) {
    const list = isQasidError(e) ? e.details['list'] : undefined;
    const index = isQasidError(e) ? e.details['index'] : undefined;
    const key = list === 'start' ? 'policy.startKeywords' : 'policy.stopKeywords';
    problems.push(problem(typeof index === 'number' ? `${key}[${index}]` : key, errorMessage(e)));
  }
}

interface TlsFiles {
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/**
 * The contents of every TLS file: a CA and a certificate must hold a PEM certificate, a
 * key a usable private key that belongs to the certificate. Unreadable files are
 * reported by the config already and skipped here.
 */
function checkTlsFiles(inputs: StartupInputs, problems: ConfigProblem[]): void {
  for (const c of inputs.carriers) {
    const i = inputs.carrierIds.indexOf(c.id);
    problems.push(...pemProblems(`carriers[${i}].tls`, c.tls));
  }
  let tlsUrl = false;
  try {
    tlsUrl = new URL(inputs.redisUrl).protocol === 'rediss:';
  } catch {
    // An unusable URL is reported by its own check.
  }
  if (tlsUrl) problems.push(...pemProblems('redis.tls', inputs.redisTls));
  if (inputs.adminTls.certFile !== '') problems.push(...pemProblems('admin.tls', inputs.adminTls));
}

function pemProblems(prefix: string, files: TlsFiles): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const read = (name: keyof TlsFiles): Buffer | undefined => {
    const path = files[name];
    if (path === undefined || path === '' || unreadable(path) !== undefined) return undefined;
    return readFileSync(path);
  };
  const ca = read('caFile');
  if (ca !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (e) {
      out.push(problem(`${prefix}.caFile`, `'${files.caFile ?? ''}' holds no PEM certificate (${errorMessage(e)})`));
    }
  }
  const cert = read('certFile');
  const key = read('keyFile');
  if (cert === undefined || key === undefined) return out;
  let usable = true;
  try {
    new X509Certificate(cert);
  } catch (e) {
    usable = false;
    out.push(problem(`${prefix}.certFile`, `'${files.certFile ?? ''}' holds no PEM certificate (${errorMessage(e)})`));
  }
  try {
    createPrivateKey(key);
  } catch (e) {
    usable = false;
    out.push(problem(`${prefix}.keyFile`, `'${files.keyFile ?? ''}' holds no usable private key (${errorMessage(e)})`));
  }
  if (usable) {
    try {
      createSecureContext({ cert, key });
    } catch (e) {
      out.push(problem(`${prefix}.keyFile`, `is not the key of ${prefix}.certFile (${errorMessage(e)})`));
    }
  }
  return out;
}
