/**
 * Loads, validates and freezes the configuration: convict for the top level (strict:
 * an unknown key is an error), then the carriers (ajv schema, cross-field rules,
 * secrets). All problems are gathered and thrown together in one QasidError whose
 * message names every bad key. Called once, by the composition root or the CLI.
 *
 * Precedence, lowest first: schema defaults, the config file, QASID_* env vars,
 * `overrides`. The file is `opts.file`, else $QASID_CONFIG, else none (defaults + env).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import convict from 'convict';
import { Secret } from '../core/secret.js';
import { migrateCaps, migrateCapsEnv } from './caps.js';
import { resolveCarriers, unreadable } from './carriers.js';
import { configError, problem, type ConfigProblem } from './problems.js';
import { HOST_PORT_LIST_KEYS, configSchema, parseHostPort, schemaLeaves, type RawConfig, type SchemaLeaf, type TenantPolicy } from './schema.js';
import type { CarrierConfig, QasidConfig, RedisNode, RedisTls, RedisTopology } from './types.js';

export interface LoadConfigOptions {
  /** Config file (JSON). Relative paths inside it resolve against its directory. */
  file?: string;
  /** Environment for QASID_* overrides and passwordEnv lookups; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and env, in the file's shape (e.g. { log: { level: 'debug' } }). */
  overrides?: object;
}

/** Env var naming the config file when none is passed. */
export const CONFIG_FILE_ENV = 'QASID_CONFIG';

export function loadConfig(opts: LoadConfigOptions = {}): QasidConfig {
  const r = inspectConfig(opts);
  if (r.config === undefined) throw configError(r.problems, r.file);
  return r.config;
}

/** What inspectConfig() found: every problem, the config when there is none, and what start-up checks next. */
export interface ConfigInspection {
  /** The config file read, if any. */
  file: string | undefined;
  problems: ConfigProblem[];
  /** The frozen config; set only when `problems` is empty. */
  config: QasidConfig | undefined;
  /** Values the start-up checks beyond this module read (keyrings, route table, TLS files), even when other keys have problems. */
  startup: StartupInputs;
}

/**
 * Read defensively from whatever the file held: a value that is unusable is '' (or
 * undefined), and its own problem is already in the list.
 */
export interface StartupInputs {
  /** Keyrings as given, file paths resolved against the config file's directory. */
  privacy: QasidConfig['privacy'];
  /** routes.file resolved; '' when unset. */
  routesFile: string;
  /**
   * Each carrier's id as written, by position (undefined where it has none), the carriers
   * with problems included: a route naming one of them is not naming an unknown carrier.
   */
  carrierIds: Array<string | undefined>;
  /** The carriers that passed every check. */
  carriers: CarrierConfig[];
  redisUrl: string;
  /** redis.tls with its paths resolved. */
  redisTls: RedisTls;
  /** admin.tls resolved; both '' unless both are given. */
  adminTls: { certFile: string; keyFile: string };
  allowList: readonly string[] | undefined;
  trustedProxies: readonly string[] | undefined;
  stopKeywords: readonly string[] | undefined;
  startKeywords: readonly string[] | undefined;
}

/**
 * loadConfig() without the throw: checks every key, and returns every problem with the
 * config (only when there is none). A file that cannot be used at all (missing, not
 * JSON) still throws CONFIG_INVALID at once, since nothing in it can be judged.
 */
export function inspectConfig(opts: LoadConfigOptions = {}): ConfigInspection {
  // The single-window caps of earlier versions (env vars and file) are read as lists.
  const { env, problems: capEnvProblems } = migrateCapsEnv(opts.env ?? process.env);
  const fromEnv = env[CONFIG_FILE_ENV];
  const file = opts.file ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
  const leaves = schemaLeaves();
  const problems: ConfigProblem[] = [...capEnvProblems];

  const { env: convictEnv, problems: envProblems } = checkEnv(env, leaves);
  problems.push(...envProblems);
  // args: [] — never let convict read process.argv; the CLI owns the command line.
  const conf = convict<RawConfig>(configSchema, { env: convictEnv, args: [] });

  if (file !== undefined) {
    const data = readConfigFile(file);
    problems.push(...migrateCaps(data));
    problems.push(...stripMistypedScalars(data, leaves, ''));
    conf.load(data);
  }
  const overridden = new Set<string>();
  if (opts.overrides !== undefined) {
    const data = structuredClone(opts.overrides) as Record<string, unknown>;
    problems.push(...migrateCaps(data, ' (in overrides)'));
    problems.push(...stripMistypedScalars(data, leaves, ' (in overrides)'));
    for (const [key, value] of flatten(data)) {
      conf.set(key, value);
      overridden.add(key);
    }
  }

  const invalid = new Set<string>();
  try {
    conf.validate({ allowed: 'strict', output: () => undefined });
  } catch (e) {
    const fromEnvKeys = new Map(leaves.filter((l) => l.env !== undefined && convictEnv[l.env] !== undefined && !overridden.has(l.key)).map((l) => [l.key, l.env as string]));
    for (const p of parseConvictErrors(e instanceof Error ? e.message : String(e), leaves)) {
      // The carriers are reported, key by key, by resolveCarriers below.
      if (p.key === 'carriers') continue;
      invalid.add(p.key);
      const envName = fromEnvKeys.get(p.key);
      problems.push(envName === undefined ? p : { ...p, message: `${p.message} (from env ${envName})` });
    }
  }
  for (const p of problems) invalid.add(p.key);

  // A file may have put anything anywhere (convict has reported it): read defensively.
  const raw = conf.getProperties();
  const baseDir = file === undefined ? process.cwd() : dirname(resolve(file));
  const { carriers, problems: carrierProblems } = resolveCarriers(raw.carriers, { env, baseDir });
  problems.push(...carrierProblems);

  const { drainMs, forceExitMs } = group(raw, 'shutdown') as Partial<RawConfig['shutdown']>;
  if (typeof drainMs === 'number' && typeof forceExitMs === 'number' && !(forceExitMs > drainMs)) {
    problems.push(problem('shutdown.forceExitMs', `must be greater than shutdown.drainMs (${drainMs})`));
  }

  const admin = group(raw, 'admin');
  const adminTlsFiles = adminTls(group(admin, 'tls'), baseDir, problems);
  const rawRedis = group(raw, 'redis');
  const redisTlsFiles = redisTls(rawRedis.url, rawRedis.tls, baseDir, problems);
  const topology = redisTopology(rawRedis, invalid, problems);
  const policy = group(raw, 'policy');
  const tenants = Array.isArray(policy.tenants) ? (policy.tenants as Array<Partial<TenantPolicy> | null>) : [];
  const zones: Array<readonly [string, unknown]> = [
    ['policy.quietHours.timeZone', group(policy, 'quietHours').timeZone],
    ...tenants.map((t, i) => [`policy.tenants[${i}].quietHours.timeZone`, t?.quietHours?.timeZone] as const),
  ];
  for (const [key, zone] of zones) {
    if (typeof zone === 'string' && !isTimeZone(zone)) problems.push(problem(key, `"${zone}" is not an IANA time zone this Node.js knows`));
  }
  const privacy = group(raw, 'privacy');
  for (const key of ['keyring', 'hashKeyring'] as const) {
    if (text(privacy[key]) !== '' && text(privacy[`${key}File`]) !== '') problems.push(problem(`privacy.${key}`, `set privacy.${key} or privacy.${key}File, not both`));
  }
  const path = (v: unknown): string => (text(v) === '' ? '' : resolve(baseDir, text(v)));
  const routesFile = group(raw, 'routes').file;
  const list = (key: string, v: unknown): readonly string[] | undefined => (invalid.has(key) || !Array.isArray(v) ? undefined : (v as string[]));
  const startup: StartupInputs = {
    privacy: {
      keyring: new Secret(text(privacy.keyring)),
      keyringFile: path(privacy.keyringFile),
      hashKeyring: new Secret(text(privacy.hashKeyring)),
      hashKeyringFile: path(privacy.hashKeyringFile),
    },
    routesFile: invalid.has('routes.file') ? '' : path(routesFile),
    carrierIds: Array.isArray(raw.carriers) ? raw.carriers.map((c) => idOf(c)) : [],
    carriers,
    redisUrl: text(rawRedis.url),
    redisTls: redisTlsFiles,
    adminTls: adminTlsFiles,
    allowList: list('admin.allowList', admin.allowList),
    trustedProxies: list('admin.trustedProxies', admin.trustedProxies),
    stopKeywords: list('policy.stopKeywords', policy.stopKeywords),
    startKeywords: list('policy.startKeywords', policy.startKeywords),
  };
  if (problems.length > 0) return { file, problems, config: undefined, startup };

  const config = deepFreeze<QasidConfig>({
    log: { level: raw.log.level, pretty: raw.log.pretty },
    redis: {
      url: new Secret(raw.redis.url),
      prefix: raw.redis.prefix,
      tls: redisTlsFiles,
      topology,
      sentinels: raw.redis.sentinels.map(node),
      sentinelName: raw.redis.sentinelName,
      sentinelPassword: new Secret(raw.redis.sentinelPassword),
      cluster: { nodes: raw.redis.cluster.nodes.map(node) },
      waitReplicas: raw.redis.waitReplicas >= 0 ? raw.redis.waitReplicas : topology === 'sentinel' ? 1 : 0,
      waitTimeoutMs: raw.redis.waitTimeoutMs,
    },
    shutdown: { drainMs: drainMs as number, forceExitMs: forceExitMs as number },
    intake: { ...raw.intake, consumer: raw.intake.consumer === '' ? hostname() : raw.intake.consumer },
    outputs: { ...raw.outputs },
    mo: { reassemblySec: raw.mo.reassemblySec, routes: raw.mo.routes.map((r) => ({ ...r })) },
    scale: { ...raw.scale },
    numbers: { ...raw.numbers },
    routes: { file: startup.routesFile },
    messages: { ...raw.messages },
    dispatch: { ...raw.dispatch, retryScheduleMs: [...raw.dispatch.retryScheduleMs], unknownOutcome: structuredClone(raw.dispatch.unknownOutcome) },
    admin: { ...raw.admin, tls: adminTlsFiles, tokens: raw.admin.tokens.map((t) => ({ ...t })), allowList: [...raw.admin.allowList], trustedProxies: [...raw.admin.trustedProxies], rateLimitPerMinute: { ...raw.admin.rateLimitPerMinute }, accessLog: { ...raw.admin.accessLog } },
    privacy: startup.privacy,
    policy: structuredClone(raw.policy),
    retention: { ...raw.retention },
    carriers,
  });
  return { file, problems, config, startup };
}

/** `parent[name]` when it is an object, else {} (a file may hold anything there). */
function group(parent: unknown, name: string): Record<string, unknown> {
  const v = typeof parent === 'object' && parent !== null ? (parent as Record<string, unknown>)[name] : undefined;
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function idOf(carrier: unknown): string | undefined {
  const id = typeof carrier === 'object' && carrier !== null ? (carrier as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? id : undefined;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Both admin TLS files or neither, readable, resolved against the config file's directory. */
function adminTls(given: Record<string, unknown>, baseDir: string, problems: ConfigProblem[]): { certFile: string; keyFile: string } {
  const t = { certFile: text(given.certFile), keyFile: text(given.keyFile) };
  if (t.certFile === '' && t.keyFile === '') return { certFile: '', keyFile: '' };
  if (t.certFile === '' || t.keyFile === '') {
    problems.push(problem(t.certFile === '' ? 'admin.tls.certFile' : 'admin.tls.keyFile', 'admin.tls.certFile and admin.tls.keyFile go together'));
    return { certFile: '', keyFile: '' };
  }
  const out = { certFile: resolve(baseDir, t.certFile), keyFile: resolve(baseDir, t.keyFile) };
  for (const [key, path] of [['admin.tls.certFile', out.certFile], ['admin.tls.keyFile', out.keyFile]] as const) {
    try {
      readFileSync(path);
    } catch {
      problems.push(problem(key, `cannot read ${path}`));
    }
  }
  return out;
}

/**
 * redis.tls: certFile with keyFile, every file readable, resolved against the config
 * file's directory; and only with a rediss:// URL, since a plain connection would
 * silently ignore them.
 */
function redisTls(url: unknown, given: unknown, baseDir: string, problems: ConfigProblem[]): RedisTls {
  // A file may have put anything here (convict has reported it): read defensively.
  const g = (typeof given === 'object' && given !== null ? given : {}) as Partial<Record<keyof RedisTls, unknown>>;
  const t: RedisTls = { caFile: text(g.caFile), certFile: text(g.certFile), keyFile: text(g.keyFile), servername: text(g.servername), rejectUnauthorized: g.rejectUnauthorized !== false };
  const out: RedisTls = { ...t };
  if (t.certFile !== '' && t.keyFile === '') problems.push(problem('redis.tls.keyFile', 'is required when redis.tls.certFile is set (a client certificate needs its key)'));
  if (t.keyFile !== '' && t.certFile === '') problems.push(problem('redis.tls.certFile', 'is required when redis.tls.keyFile is set (a client certificate needs its key)'));
  for (const name of ['caFile', 'certFile', 'keyFile'] as const) {
    if (t[name] === '') continue;
    out[name] = resolve(baseDir, t[name]);
    const why = unreadable(out[name]);
    if (why !== undefined) problems.push(problem(`redis.tls.${name}`, why));
  }
  let plain = false;
  try {
    plain = typeof url === 'string' && new URL(url).protocol === 'redis:';
  } catch {
    // An unusable URL is reported by its own format check.
  }
  const set: string[] = [...(['caFile', 'certFile', 'keyFile', 'servername'] as const).filter((k) => t[k] !== ''), ...(t.rejectUnauthorized ? [] : ['rejectUnauthorized'])];
  if (plain && set[0] !== undefined) problems.push(problem(`redis.tls.${set[0]}`, 'only applies to TLS: redis.url uses redis://; write rediss:// to connect over TLS'));
  return out;
}

/**
 * Which topology the redis keys name, and the rules between them: sentinels or cluster
 * nodes, not both; a master name with sentinels, and sentinel keys only with them; db 0
 * in redis.url for a cluster (it has no other). Keys already reported are not judged.
 */
function redisTopology(given: Record<string, unknown>, invalid: ReadonlySet<string>, problems: ConfigProblem[]): RedisTopology {
  const listed = (key: string, v: unknown): boolean => !invalid.has(key) && Array.isArray(v) && v.length > 0;
  const sentinels = listed('redis.sentinels', given.sentinels);
  const cluster = listed('redis.cluster.nodes', group(given, 'cluster').nodes);
  if (sentinels && cluster) {
    problems.push(problem('redis.cluster.nodes', 'set redis.sentinels (Redis Sentinel) or redis.cluster.nodes (Redis Cluster), not both'));
    return 'standalone';
  }
  const name = text(given.sentinelName);
  if (sentinels && name === '' && !invalid.has('redis.sentinelName')) problems.push(problem('redis.sentinelName', 'is required with redis.sentinels: the master name the sentinels monitor'));
  if (!sentinels) {
    for (const key of ['sentinelName', 'sentinelPassword'] as const) {
      if (text(given[key]) !== '' && !invalid.has('redis.sentinels')) problems.push(problem(`redis.${key}`, 'only applies with redis.sentinels (Redis Sentinel)'));
    }
  }
  if (cluster) {
    let db = '';
    try {
      db = new URL(text(given.url)).pathname.replace(/^\//, '');
    } catch {
      // An unusable URL is reported by its own format check.
    }
    if (db !== '' && db !== '0') problems.push(problem('redis.url', `names db ${db}, but a Redis Cluster has only db 0 (with redis.cluster.nodes)`));
    if (typeof given.waitReplicas === 'number' && given.waitReplicas > 0) problems.push(problem('redis.waitReplicas', 'is not available with redis.cluster.nodes: WAIT counts the replicas of one node, and a batch of writes spans several'));
  }
  return sentinels ? 'sentinel' : cluster ? 'cluster' : 'standalone';
}

/** A host:port the schema has already checked. */
function node(s: string): RedisNode {
  return parseHostPort(s) as RedisNode;
}

/** `host:port` again, as the config file writes it (`[addr]:port` for IPv6). */
function hostPort(n: RedisNode): string {
  return `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`;
}

/**
 * The effective config as pretty JSON, safe to print: every Secret shows `[secret]`
 * (carrier passwords and redis.sentinelPassword included), redis.url keeps its host but
 * not its credentials, and Redis nodes read host:port as in the file.
 */
export function formatConfig(cfg: QasidConfig): string {
  const r = cfg.redis;
  const view = { ...cfg, redis: { ...r, url: maskRedisUrl(r.url.reveal()), sentinels: r.sentinels.map(hostPort), cluster: { nodes: r.cluster.nodes.map(hostPort) } } };
  return JSON.stringify(view, null, 2);
}

/** `rediss://user:pw@host:6380/0?password=x` → `rediss://[secret]@host:6380/0?password=[secret]`. */
export function maskRedisUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '[secret]';
  }
  const auth = u.username !== '' || u.password !== '' ? '[secret]@' : '';
  const params = [...u.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${/pass|auth|secret|token|key/i.test(k) ? '[secret]' : encodeURIComponent(v)}`);
  const search = params.length > 0 ? `?${params.join('&')}` : '';
  return `${u.protocol}//${auth}${u.host}${u.pathname}${search}`;
}

/** Reads and parses the config file; a file that cannot be used at all fails at once. */
export function readConfigFile(file: string): Record<string, unknown> {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
    throw configError([problem('file', `cannot read config file '${path}': ${why}`)], file);
  }
  text = text.replace(/^\uFEFF/, '');
  if (text.trim() === '') throw configError([problem('file', `config file '${path}' is empty (write {} to take every default)`)], file);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw configError([problem('file', `config file '${path}' is not valid JSON: ${jsonErrorText(e, text)}`)], file);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw configError([problem('file', `config file '${path}' must hold a JSON object at the top level`)], file);
  }
  return data as Record<string, unknown>;
}

/** V8's JSON errors may quote a stretch of the input (which may hold a password): keep only the reason and the place. */
function jsonErrorText(e: unknown, text: string): string {
  const message = e instanceof Error ? e.message : String(e);
  const at = /at position (\d+)/.exec(message);
  const reason = message
    .replace(/, ".*" is not valid JSON$/s, '')
    .replace(/ in JSON at position \d+.*$/s, '')
    .replace(/ at position \d+.*$/s, '');
  if (at?.[1] === undefined) return reason;
  const before = text.slice(0, Number(at[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${reason} at line ${line}, column ${column}`;
}

/**
 * Checks QASID_* values convict would coerce loosely ("0" → true, "12abc" → 12, bad
 * JSON → a throw) and returns the env convict should see: only the schema's vars,
 * booleans normalised, bad values dropped and reported.
 */
function checkEnv(env: NodeJS.ProcessEnv, leaves: readonly SchemaLeaf[]): { env: Record<string, string>; problems: ConfigProblem[] } {
  const out: Record<string, string> = {};
  const problems: ConfigProblem[] = [];
  for (const leaf of leaves) {
    if (leaf.env === undefined) continue;
    const value = env[leaf.env];
    if (value === undefined) continue;
    const bad = (why: string): void => {
      problems.push(problem(leaf.key, `${why} (from env ${leaf.env as string})`));
    };
    if (leaf.kind === 'boolean') {
      if (/^(true|1|yes|on)$/i.test(value)) out[leaf.env] = 'true';
      else if (/^(false|0|no|off)$/i.test(value)) out[leaf.env] = 'false';
      else bad('must be true or false');
    } else if (leaf.kind === 'number') {
      if (/^-?\d+(\.\d+)?$/.test(value.trim())) out[leaf.env] = value.trim();
      else bad('must be a number');
    } else if (leaf.kind === 'array' && HOST_PORT_LIST_KEYS.has(leaf.key) && !value.trim().startsWith('[')) {
      // `10.0.0.1:26379,10.0.0.2:26379`: the addresses, commas between, spaces ignored.
      out[leaf.env] = JSON.stringify(value.split(',').map((a) => a.trim()).filter((a) => a !== ''));
    } else if (leaf.kind === 'array') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        parsed = undefined;
      }
      if (Array.isArray(parsed)) out[leaf.env] = value;
      else bad('must be a JSON array');
    } else {
      out[leaf.env] = value;
    }
  }
  return { env: out, problems };
}

/**
 * convict turns a string into a number, boolean or array when the key expects one
 * ("10s" → 10), and merges an object into an array default. Reject those values
 * instead, and remove them so convict keeps the default.
 */
function stripMistypedScalars(data: Record<string, unknown>, leaves: readonly SchemaLeaf[], where: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const leaf of leaves) {
    if (leaf.kind === 'string') continue;
    const path = leaf.key.split('.');
    const name = path.pop() as string;
    let parent: unknown = data;
    for (const part of path) parent = typeof parent === 'object' && parent !== null ? (parent as Record<string, unknown>)[part] : undefined;
    if (typeof parent !== 'object' || parent === null || Array.isArray(parent)) continue;
    const holder = parent as Record<string, unknown>;
    const value = holder[name];
    if (value === undefined) continue;
    // An object where an array belongs would be merged into the default [] and vanish.
    if (leaf.kind === 'array' && !Array.isArray(value)) {
      problems.push(problem(leaf.key, `must be a JSON array, not ${value === null ? 'null' : typeof value}${where}`));
      delete holder[name];
    } else if (typeof value === 'string') {
      problems.push(problem(leaf.key, `must be ${leaf.kind === 'boolean' ? 'true or false' : 'a number'}, not a string${where}`));
      delete holder[name];
    }
  }
  return problems;
}

/** [dotted key, value] for every leaf of a plain object; arrays are leaves. */
function flatten(data: Record<string, unknown>, prefix = ''): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(data)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(...flatten(v as Record<string, unknown>, key));
    else out.push([key, v]);
  }
  return out;
}

/**
 * convict reports every problem as one line of one Error:
 *   `<key>: <why>[: value was <json>]` (the value is left out for sensitive keys),
 *   `configuration param '<key>' not declared in the schema`,
 *   `configuration param '<key>' missing from config, did you override its parent?`
 */
export function parseConvictErrors(message: string, leaves: readonly SchemaLeaf[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const groups = new Set<string>();
  for (const line of message.split('\n')) {
    if (line.trim() === '') continue;
    const undeclared = /^configuration param '(.*)' not declared in the schema$/.exec(line);
    if (undeclared?.[1] !== undefined) {
      const key = undeclared[1];
      const children = childNames(key, leaves);
      if (children.length > 0) {
        // A known group given a non-object value (`"log": null`): one problem, not one per child.
        groups.add(key);
        out.push(problem(key, `must be an object (keys: ${children.join(', ')})`));
      } else {
        out.push(problem(key, `unknown key (${knownKeysNear(key, leaves)})`));
      }
      continue;
    }
    const missing = /^configuration param '(.*)' missing from config/.exec(line);
    if (missing?.[1] !== undefined) {
      out.push(problem(missing[1], 'is missing: its parent was given a value that is not an object'));
      continue;
    }
    const invalid = /^([^\s:]+): (.*)$/s.exec(line);
    if (invalid?.[1] !== undefined && invalid[2] !== undefined) out.push(problem(invalid[1], invalid[2].trim()));
    else out.push(problem('config', line));
  }
  return out.filter((p) => ![...groups].some((g) => p.key.startsWith(`${g}.`)));
}

/** Names directly under a group key (`redis` → url, prefix); empty when it is not a group. */
function childNames(parent: string, leaves: readonly SchemaLeaf[]): string[] {
  return [...new Set(leaves.filter((l) => l.key.startsWith(`${parent}.`)).map((l) => l.key.slice(parent.length + 1).split('.')[0] as string))];
}

/** "known under redis: url, prefix", or the top-level keys when the parent is unknown too. */
function knownKeysNear(key: string, leaves: readonly SchemaLeaf[]): string {
  const parts = key.split('.');
  for (let depth = parts.length - 1; depth > 0; depth--) {
    const parent = parts.slice(0, depth).join('.');
    const names = childNames(parent, leaves);
    if (names.length > 0) return `known under ${parent}: ${names.join(', ')}`;
  }
  const top = new Set(leaves.map((l) => l.key.split('.')[0]));
  return `known top-level keys: ${[...top].join(', ')}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
