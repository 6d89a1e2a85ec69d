/**
 * The Docker image, without a container engine. The Dockerfile is read as data: its build
 * stage is reproduced in a temporary directory (its COPY lines, then its RUN lines), its
 * runtime stage is assembled from its own COPY lines (`--from=build` included) with the
 * production dependencies installed from the npm cache, and then, from that directory alone
 * (no src/, no tsx, no checkout's node_modules above it), the image's ENTRYPOINT runs:
 * `--help`, `config check` of the compose config, and every docker-compose.yml service built
 * from this Dockerfile with its own command, environment and mounts — the simulator and the
 * gateway against a real redis-server — until two messages come back delivered, the health
 * checks pass, and SIGTERM stops each with exit 0.
 *
 * A container path (/app/...) is that path under the stage's directory; compose service
 * names (redis, sim) become loopback addresses, and fixed ports become free ones.
 * QASID_IMAGE_TEST_DOCKERFILE=<file> runs the same against another Dockerfile.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { keysFor } from '../../src/queue/keys.js';
import { parseYamlSubset } from '../helpers/deploy-metrics.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { readEvents } from '../helpers/events.js';
import { within } from '../helpers/until.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCKERFILE = process.env.QASID_IMAGE_TEST_DOCKERFILE ?? join(ROOT, 'Dockerfile');
const COMPOSE = join(ROOT, 'docker-compose.yml');
const PROMETHEUS = join(ROOT, 'deploy/prometheus/prometheus.yml');

// --- Reading the Dockerfile ------------------------------------------------------------------

interface Instruction {
  line: number;
  op: string;
  args: string;
}
interface Stage {
  name: string;
  instructions: Instruction[];
}

/** Stages and their instructions; continuation lines joined, comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let l = lines[i] as string;
    if (/^\s*(#.*)?$/.test(l)) continue;
    while (l.endsWith('\\') && i + 1 < lines.length) {
      i++;
      const next = lines[i] as string;
      l = l.slice(0, -1) + (/^\s*#/.test(next) ? '' : ` ${next.trim()}`);
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot read "${l}"`);
    const op = (m[1] as string).toUpperCase();
    const args = (m[2] as string).trim();
    if (op === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`Dockerfile line ${start}: cannot read FROM ${args}`);
      stages.push({ name: from[2] ?? String(stages.length), instructions: [] });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (stage === undefined) throw new Error(`Dockerfile line ${start}: ${op} before FROM`);
    stage.instructions.push({ line: start, op, args });
  }
  return stages;
}

/** An exec-form array (["node", "x"]). Shell form is refused: sh as PID 1 does not pass SIGTERM on. */
function execForm(ins: Instruction, args = ins.args): string[] {
  const parsed: unknown = args.startsWith('[') ? JSON.parse(args) : undefined;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`Dockerfile line ${ins.line}: ${ins.op} must use the exec form ["node", …] so that signals reach node`);
  }
  return parsed as string[];
}

/** `ENV A=1 B="two"` or `ENV A 1`. */
function envPairs(args: string): Array<[string, string]> {
  if (!args.includes('=')) {
    const [k, ...v] = args.split(/\s+/);
    return [[k as string, v.join(' ')]];
  }
  const out: Array<[string, string]> = [];
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const v = m[2] as string;
    out.push([m[1] as string, v.startsWith('"') ? (JSON.parse(v) as string) : v]);
  }
  return out;
}

/** .dockerignore patterns as a predicate on context-relative paths (`*`, `?`, `**`; no `!`). */
function dockerIgnore(text: string): (rel: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((p) => {
      if (p.startsWith('!')) throw new Error(`.dockerignore: exceptions (${p}) are not understood by this test`);
      const glob = p.replace(/^\/+|\/+$/g, '');
      const re = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\/?/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*');
      return new RegExp(`^${re}(/.*)?$`);
    });
  return (rel) => patterns.some((re) => re.test(rel));
}

// --- Building it -----------------------------------------------------------------------------

/** One stage's file system: container path /x/y is `${root}/x/y`. */
interface Built {
  root: string;
  workdir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[] | undefined;
  stopSignal: NodeJS.Signals;
}

/** Set when the runtime stage's install fell back to the checkout's node_modules. */
let linkedRuntimeModules = false;

const onHost = (b: Pick<Built, 'root'>, containerPath: string): string => join(b.root, containerPath);

/** Follows each instruction of `stage` in `root`; COPY --from reads the stages built before it. */
function buildStage(stage: Stage, root: string, built: Map<string, Built>, log: string[]): Built {
  const ignored = dockerIgnore(existsSync(join(ROOT, '.dockerignore')) ? readFileSync(join(ROOT, '.dockerignore'), 'utf8') : '');
  const b: Built = { root, workdir: '/', env: {}, entrypoint: [], cmd: [], healthcheck: undefined, stopSignal: 'SIGTERM' };
  mkdirSync(root, { recursive: true });
  for (const ins of stage.instructions) {
    const where = `Dockerfile line ${ins.line}`;
    switch (ins.op) {
      case 'WORKDIR':
        b.workdir = posix.resolve(b.workdir, ins.args);
        mkdirSync(onHost(b, b.workdir), { recursive: true });
        break;
      case 'ENV':
        for (const [k, v] of envPairs(ins.args)) b.env[k] = v;
        break;
      case 'COPY': {
        const words = ins.args.split(/\s+/);
        const flags = words.filter((w) => w.startsWith('--'));
        const paths = words.filter((w) => !w.startsWith('--'));
        const fromFlag = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
        const from = fromFlag === undefined ? undefined : built.get(fromFlag);
        if (fromFlag !== undefined && from === undefined) throw new Error(`${where}: COPY --from=${fromFlag} names no earlier stage`);
        const rawDest = paths.pop() as string;
        const dest = posix.resolve(b.workdir, rawDest);
        const destIsDir = rawDest.endsWith('/') || rawDest === '.' || paths.length > 1;
        for (const src of paths) {
          if (/[*?[]/.test(src)) throw new Error(`${where}: wildcards in COPY are not understood by this test`);
          const hostSrc = from === undefined ? join(ROOT, src) : onHost(from, posix.resolve(from.workdir, src));
          const rel = from === undefined ? relative(ROOT, hostSrc) : '';
          if (!existsSync(hostSrc) || (from === undefined && ignored(rel))) throw new Error(`${where}: COPY ${src}: not in the ${from === undefined ? 'build context' : `stage ${fromFlag}`}`);
          const dir = statSync(hostSrc).isDirectory();
          const target = onHost(b, dir || !destIsDir ? dest : posix.join(dest, basename(src)));
          mkdirSync(dir ? target : dirname(target), { recursive: true });
          cpSync(hostSrc, target, { recursive: true, filter: (p) => from !== undefined || !ignored(relative(ROOT, p)) });
        }
        log.push(`${stage.name}: COPY ${ins.args}`);
        break;
      }
      case 'RUN':
        for (const command of ins.args.split('&&').map((c) => c.trim())) run(b, command, where, log);
        break;
      case 'ENTRYPOINT':
        b.entrypoint = execForm(ins);
        break;
      case 'CMD':
        b.cmd = execForm(ins);
        break;
      case 'HEALTHCHECK': {
        const m = /\bCMD\s+(\[.*\])\s*$/.exec(ins.args);
        if (!m) throw new Error(`${where}: HEALTHCHECK must be CMD ["…"]`);
        b.healthcheck = execForm(ins, m[1]);
        break;
      }
      case 'STOPSIGNAL':
        b.stopSignal = ins.args as NodeJS.Signals;
        break;
      case 'USER':
      case 'EXPOSE':
      case 'LABEL':
      case 'VOLUME':
        break;
      default:
        throw new Error(`${where}: ${ins.op} is not understood by this test; teach it (test/packaging/image.test.ts)`);
    }
  }
  return b;
}

/** The RUN commands the Dockerfile uses, reproduced on this machine. */
function run(b: Built, command: string, where: string, log: string[]): void {
  const cwd = onHost(b, b.workdir);
  // A docker build sees none of this checkout's npm settings; `npm test` hands them to its
  // children as npm_config_* (allow-scripts from .npmrc makes a project install fail).
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_config_'))), ...b.env };
  const started = Date.now();
  if (/^npm ci(\s|$)/.test(command)) {
    const flags = command.split(/\s+/).slice(2);
    if (!flags.includes('--omit=dev')) {
      // The build stage's full install only feeds the compiler: reuse the checkout's.
      symlinkSync(join(ROOT, 'node_modules'), join(cwd, 'node_modules'), 'dir');
      log.push(`${command}: node_modules linked to the checkout's (build stage only)`);
      return;
    }
    const r = spawnSync('npm', ['ci', ...flags, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) {
      // No cache to install from (npm ci has not run on this machine): the checkout's packages,
      // dev dependencies included, so this run proves less about the image's own install.
      symlinkSync(join(ROOT, 'node_modules'), join(cwd, 'node_modules'), 'dir');
      linkedRuntimeModules = true;
      log.push(`${command}: offline install failed (${(r.stderr || r.error?.message || '').trim().split('\n')[0]}); linked the checkout's node_modules instead`);
      return;
    }
    log.push(`${command}: installed from the npm cache in ${Date.now() - started} ms`);
    return;
  }
  if (/^npm cache clean(\s|$)/.test(command)) return; // only makes the image smaller; here it would empty this machine's cache
  const script = /^npm run (\S+)$/.exec(command);
  if (script) {
    const r = spawnSync('npm', ['run', '--silent', script[1] as string], { cwd, env, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`${where}: ${command} failed:\n${r.stdout}${r.stderr}`);
    log.push(`${command}: ${Date.now() - started} ms`);
    return;
  }
  throw new Error(`${where}: RUN ${command} is not understood by this test; teach it (test/packaging/image.test.ts)`);
}

// --- Reading docker-compose.yml --------------------------------------------------------------

/**
 * Rewrites the two YAML forms compose files use beyond parseYamlSubset's — `&anchor` / `*alias`
 * on a mapping value and one-line flow sequences of strings — into block form.
 */
function composeToBlockYaml(text: string): string {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const anchors = new Map<string, string[]>();
  const indentOf = (l: string): number => l.length - l.trimStart().length;
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*[\w.-]+):\s+&([\w-]+)\s*$/.exec(lines[i] as string);
    if (!m) continue;
    const base = indentOf(lines[i] as string);
    const body: string[] = [];
    for (let j = i + 1; j < lines.length && (/^\s*(#.*)?$/.test(lines[j] as string) || indentOf(lines[j] as string) > base); j++) body.push((lines[j] as string).slice(base));
    anchors.set(m[2] as string, body);
    lines[i] = `${m[1] as string}:`;
  }
  const out: string[] = [];
  for (const l of lines) {
    const alias = /^(\s*)([\w.-]+):\s+\*([\w-]+)\s*$/.exec(l);
    const flow = /^(\s*)(- )?([\w.-]+):\s+(\[.*\])\s*(#.*)?$/.exec(l);
    if (alias) {
      const body = anchors.get(alias[3] as string);
      if (body === undefined) throw new Error(`compose: alias *${alias[3] as string} has no anchor`);
      out.push(`${alias[1] as string}${alias[2] as string}:`, ...body.map((b) => `${alias[1] as string}${b}`));
    } else if (flow) {
      const indent = (flow[1] as string) + ' '.repeat((flow[2] ?? '').length);
      out.push(`${flow[1] as string}${flow[2] ?? ''}${flow[3] as string}:`, ...flowItems(flow[4] as string).map((s) => `${indent}  - ${JSON.stringify(s)}`));
    } else out.push(l);
  }
  return out.join('\n');
}

/** `["a", "b"]` (JSON) or `['a', 'b']` (simple single-quoted items). */
function flowItems(s: string): string[] {
  try {
    const v: unknown = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // not JSON: single-quoted items below
  }
  const inner = s.slice(1, -1).trim();
  if (inner === '') return [];
  return inner.split(',').map((x) => {
    const t = x.trim();
    if (!/^'[^']*'$/.test(t) && /['"]/.test(t)) throw new Error(`YAML flow item not understood: ${t}`);
    return t.replace(/^'|'$/g, '');
  });
}

interface ComposeService {
  name: string;
  build?: unknown;
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  volumes: string[];
  healthcheck?: string[];
  dependsOn: string[];
  ports: string[];
  stopGraceSec?: number;
}

function loadCompose(): ComposeService[] {
  const doc = parseYamlSubset(composeToBlockYaml(readFileSync(COMPOSE, 'utf8'))) as { services: Record<string, Record<string, unknown>> };
  const list = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : Object.keys(v as object));
  return Object.entries(doc.services).map(([name, s]) => {
    const env = s['environment'];
    const environment: Record<string, string> = {};
    if (Array.isArray(env)) for (const kv of env as string[]) environment[kv.split('=')[0] as string] = kv.slice(kv.indexOf('=') + 1);
    else if (env) Object.assign(environment, env);
    const commandOf = (k: string): string[] | undefined => {
      const v = s[k];
      if (v === undefined) return undefined;
      if (!Array.isArray(v)) throw new Error(`compose: services.${name}.${k} must be a list (exec form)`);
      return v.map(String);
    };
    const hc = (s['healthcheck'] as { test?: unknown } | undefined)?.test;
    const grace = /^(\d+)s$/.exec(String(s['stop_grace_period'] ?? ''));
    return {
      name,
      build: s['build'],
      image: s['image'] as string | undefined,
      command: commandOf('command'),
      entrypoint: commandOf('entrypoint'),
      environment,
      volumes: list(s['volumes']),
      healthcheck: Array.isArray(hc) ? hc.map(String) : undefined,
      dependsOn: list(s['depends_on']),
      ports: list(s['ports']),
      stopGraceSec: grace ? Number(grace[1]) : undefined,
    };
  });
}

// --- Running a container ---------------------------------------------------------------------

interface Container {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  output(): string;
  lines(): string[];
}

const children: ChildProcess[] = [];

/** A container path in an argument or env value (`/app/x`, `--config=/app/x`) on the host. */
function mapPaths(image: Built, value: string): string {
  return value.replace(/(^|=)(\/[^\s:=]*)/g, (all, lead: string, p: string) => (p === image.workdir || p.startsWith(`${image.workdir}/`) ? `${lead}${onHost(image, p)}` : all));
}

function containerEnv(image: Built, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: onHost(image, '/tmp') };
  for (const [k, v] of Object.entries({ ...image.env, ...extra })) env[k] = mapPaths(image, v);
  return env;
}

/** argv as the container runs it: `node` is this Node; cwd is the WORKDIR. */
function startContainer(image: Built, name: string, argv: string[], extraEnv: Record<string, string>): Container {
  const [exe, ...args] = argv;
  assert.equal(exe, 'node', `${name}: the image runs node directly (got ${exe})`);
  const child = spawn(process.execPath, args.map((a) => mapPaths(image, a)), { cwd: onHost(image, image.workdir), env: containerEnv(image, extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, exited, output: () => out, lines: () => out.split('\n').slice(0, -1) };
}

async function runToEnd(c: Container, ms: number): Promise<number | null> {
  return within(c.exited, ms, () => `${c.name} did not exit within ${ms} ms:\n${c.output().slice(-3000)}`);
}

/** Polls `probe` until it gives a value; fails after `ms`, or at once when `c` has exited. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>, c: Container): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (c.child.exitCode !== null) assert.fail(`${what}: ${c.name} exited with ${c.child.exitCode}:\n${c.output().slice(-3000)}`);
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms:\n${c.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

// --- The tests -------------------------------------------------------------------------------

let tmp = '';
let image: Built;
const buildLog: string[] = [];
let redis: TestRedis | undefined;

before(
  async () => {
    tmp = mkdtempSync(join(tmpdir(), 'qasid-image-'));
    const stages = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
    assert.ok(stages.length >= 2, 'a multi-stage Dockerfile');
    const built = new Map<string, Built>();
    const started = Date.now();
    for (const [i, stage] of stages.entries()) built.set(stage.name, buildStage(stage, join(tmp, `stage-${i}-${stage.name}`), built, buildLog));
    image = built.get((stages[stages.length - 1] as Stage).name) as Built;
    buildLog.push(`assembled in ${Date.now() - started} ms`);
  },
  { timeout: 150_000 },
);

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis?.stop();
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
});

test('the runtime stage holds only what it ships, and every file the compiled code reads', (t) => {
  t.diagnostic(buildLog.join('\n'));
  const app = onHost(image, image.workdir);
  assert.ok(!existsSync(join(app, 'src')), 'no TypeScript sources (bin/qasid.js then runs dist/)');
  assert.ok(existsSync(join(app, 'dist/cli/main.js')), 'the compiled CLI');
  // Nothing above the image's directory can lend it packages.
  for (let d = dirname(realpathSync(app)); d !== dirname(d); d = dirname(d)) assert.ok(!existsSync(join(d, 'node_modules')), `${d}/node_modules would leak into the image's module resolution`);
  if (!linkedRuntimeModules) assert.ok(!existsSync(join(app, 'node_modules/tsx')), 'production dependencies only');
  // new URL('../../schema/x.json', import.meta.url) and the like, in every compiled module.
  const missing: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.js')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g)) {
          const target = join(dirname(p), m[1] as string);
          if (!existsSync(target)) missing.push(`${relative(app, p)} reads ${relative(app, target)}`);
        }
      }
    }
  };
  walk(join(app, 'dist'));
  assert.deepEqual(missing, [], 'files the compiled code reads relative to itself are in the image');
});

test('`qasid --help` and `qasid version` run from the image', async () => {
  const help = startContainer(image, 'qasid --help', [...image.entrypoint, '--help'], {});
  assert.equal(await runToEnd(help, 15_000), 0, help.output());
  assert.match(help.output(), /^qasid — SMPP gateway/m);
  const version = startContainer(image, 'qasid version', [...image.entrypoint, 'version'], {});
  assert.equal(await runToEnd(version, 15_000), 0, version.output());
  assert.equal(version.output().trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

/** A compose service's bind mounts (`./host:/container[:ro]`), copied into the image's tree. */
function mount(service: ComposeService): void {
  for (const v of service.volumes) {
    const [src, dst] = v.split(':') as [string, string | undefined];
    if (!src.startsWith('.') || dst === undefined) continue; // named volumes
    const target = onHost(image, dst);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(join(ROOT, src), target, { recursive: true });
  }
}

const gateway = (services: ComposeService[]): ComposeService => {
  const g = services.find((s) => s.build !== undefined && (s.command ?? image.cmd)[0] === 'run');
  assert.ok(g, 'a compose service runs the gateway');
  return g;
};

test('`qasid config check` accepts the compose config, with the environment compose gives it', async () => {
  const services = loadCompose();
  const g = gateway(services);
  mount(g);
  const check = startContainer(image, 'qasid config check', [...(g.entrypoint ?? image.entrypoint), 'config', 'check'], g.environment);
  assert.equal(await runToEnd(check, 15_000), 0, check.output());
  const config = JSON.parse(readFileSync(onHost(image, g.environment['QASID_CONFIG'] ?? image.env['QASID_CONFIG'] ?? ''), 'utf8')) as { carriers: unknown[]; admin: { port: number } };
  assert.match(check.output(), new RegExp(`^ok: ${config.carriers.length} carriers`, 'm'));

  // The admin port is written in three places that must agree: the config, the published port, Prometheus' target.
  assert.ok(g.ports.some((p) => p.endsWith(`:${config.admin.port}`)), `compose publishes admin.port ${config.admin.port}: ${g.ports.join(', ')}`);
  assert.match(readFileSync(PROMETHEUS, 'utf8'), new RegExp(`targets:\\s*\\[\\s*'${g.name}:${config.admin.port}'\\s*\\]`), `prometheus.yml scrapes ${g.name}:${config.admin.port}`);
});

test('every compose service of this image runs its command: sim and gateway deliver, pass their health checks, stop on SIGTERM with exit 0', async (t) => {
  const services = loadCompose();
  const ours = services.filter((s) => s.build !== undefined);
  assert.ok(ours.length >= 2, 'compose runs the simulator and the gateway from this image');
  for (const s of services) {
    if (s.build !== undefined) continue;
    const usedByOurs = ours.some((o) => o.dependsOn.includes(s.name));
    assert.ok(!usedByOurs || /^redis(:|$)/.test(s.image ?? ''), `${s.name}: the test stands in only for redis among the services the gateway needs`);
  }
  redis = await startRedis();
  const redisUrl = new URL(redis.url);
  // Where each compose host:port is on this machine.
  const address = new Map<string, { host: string; port: number }>();
  for (const s of services) if (/^redis(:|$)/.test(s.image ?? '')) address.set(`${s.name}:6379`, { host: redisUrl.hostname, port: Number(redisUrl.port) });

  // Start in depends_on order, each one healthy before those that need it.
  const order: ComposeService[] = [];
  const visit = (s: ComposeService): void => {
    if (order.includes(s) || s.build === undefined) return;
    for (const d of s.dependsOn) {
      const dep = services.find((x) => x.name === d);
      if (dep) visit(dep);
    }
    order.push(s);
  };
  ours.forEach(visit);
  const running: Array<{ service: ComposeService; container: Container }> = [];
  let adminPort = 0;
  let prefix = 'qasid';
  for (const s of order) {
    mount(s);
    let argv = [...(s.entrypoint ?? image.entrypoint), ...(s.command ?? image.cmd)];
    const env = { ...s.environment };
    const portMap = new Map<number, number>();
    if (argv.includes('sim')) {
      // Free ports instead of the fixed ones; loopback instead of every interface.
      const listens: number[] = [];
      argv = argv.map((a, i) => {
        if (argv[i - 1] === '--listen') {
          const m = /^((?:[^=]+=)?)(\d+)(:.*)?$/.exec(a);
          assert.ok(m, `--listen ${a}`);
          listens.push(Number(m[2]));
          return `${m[1] as string}0${m[3] ?? ''}`;
        }
        return argv[i - 1] === '--host' && a === '0.0.0.0' ? '127.0.0.1' : a;
      });
      const c = startContainer(image, s.name, argv, env);
      running.push({ service: s, container: c });
      const ports = await until(
        `${s.name} listening on ${listens.length} ports`,
        15_000,
        async () => {
          const seen = c.lines().flatMap((l) => (l.includes('"sim.listening"') ? [(JSON.parse(l) as { port: number }).port] : []));
          return seen.length === listens.length ? seen : undefined;
        },
        c,
      );
      listens.forEach((p, i) => {
        portMap.set(p, ports[i] as number);
        address.set(`${s.name}:${p}`, { host: '127.0.0.1', port: ports[i] as number });
      });
    } else {
      // The gateway: its mounted config with compose's host names resolved to this machine.
      const configPath = onHost(image, env['QASID_CONFIG'] ?? image.env['QASID_CONFIG'] ?? '');
      const config = JSON.parse(readFileSync(configPath, 'utf8')) as {
        redis: { url: string; prefix?: string };
        admin: { host: string; port: number };
        carriers: Array<{ host: string; port: number }>;
      };
      const url = new URL(config.redis.url);
      const r = address.get(`${url.hostname}:${url.port || 6379}`);
      assert.ok(r, `redis.url ${config.redis.url} names a compose service`);
      url.hostname = r.host;
      url.port = String(r.port);
      config.redis.url = url.toString();
      prefix = config.redis.prefix ?? prefix;
      for (const carrier of config.carriers) {
        const a = address.get(`${carrier.host}:${carrier.port}`);
        assert.ok(a, `carrier at ${carrier.host}:${carrier.port} is a compose service's listener`);
        Object.assign(carrier, a);
      }
      if (config.admin.host === '0.0.0.0') config.admin.host = '127.0.0.1';
      writeFileSync(configPath, JSON.stringify(config));
      adminPort = await freePort();
      portMap.set(config.admin.port, adminPort);
      env['QASID_ADMIN_PORT'] = String(adminPort);
      running.push({ service: s, container: startContainer(image, s.name, argv, env) });
    }
    // Its health check (compose's own, else the image's HEALTHCHECK), on the ports it really has.
    const hc = s.healthcheck ?? (image.healthcheck === undefined ? undefined : ['CMD', ...image.healthcheck]);
    if (hc !== undefined) {
      assert.equal(hc[0], 'CMD', `${s.name}: exec-form health check`);
      const argvHc = hc.slice(1).map((a) => a.replace(/\b\d{4,5}\b/g, (p) => String(portMap.get(Number(p)) ?? p)));
      const c = running[running.length - 1]?.container as Container;
      await until(
        `${s.name} healthy`,
        20_000,
        async () => {
          const probe = startContainer(image, `${s.name} health check`, argvHc, env);
          return (await runToEnd(probe, 10_000)) === 0 ? true : undefined;
        },
        c,
      );
    }
  }

  const daemon = running.find((x) => x.container.name === gateway(services).name)?.container as Container;
  const readyz = await until(
    'the gateway ready',
    15_000,
    async () => {
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined);
      return res?.status === 200 ? res.status : undefined;
    },
    daemon,
  );
  assert.equal(readyz, 200);

  // Two messages, one for each carrier of the example routes (Jazz 0300…, Zong 0310…).
  const r = new Redis(redis.url);
  try {
    const keys = keysFor(prefix);
    const sent = { 'image-jazz': '03001234567', 'image-zong': '03101234567' };
    for (const [id, to] of Object.entries(sent)) await r.xadd(keys.intake, '*', 'data', JSON.stringify({ v: 1, id, to, from: 'Qasid', text: 'hello from the image' }));
    const finals = await until(
      'both messages final',
      20_000,
      async () => {
        const done = (await readEvents(r, keys.events)).filter((e) => e.final);
        return done.length >= 2 ? done : undefined;
      },
      daemon,
    );
    assert.deepEqual(
      finals.map((e) => `${e.clientId} ${e.status} ${e.carrier}`).sort(),
      ['image-jazz delivered jazz', 'image-zong delivered zong'],
    );

    // The send command the compose file's header documents (`docker compose exec SERVICE node …`),
    // in the gateway's environment as `exec` gives it; --wait exits 0 only once it is delivered.
    const documented = /^#.*docker compose exec (\S+) (node .*\S)\s*$/m.exec(readFileSync(COMPOSE, 'utf8'));
    assert.ok(documented, 'docker-compose.yml shows how to send a message');
    const target = services.find((s) => s.name === documented[1]);
    assert.ok(target?.build !== undefined, `${documented[1] as string} is a service of this image`);
    const argv = (documented[2] as string).split(/\s+/);
    const waitAt = argv.indexOf('--wait');
    if (waitAt >= 0 && !/^\d+$/.test(argv[waitAt + 1] ?? '')) argv.splice(waitAt + 1, 0, '15');
    const send = startContainer(image, 'qasid send (compose exec)', argv, { ...target.environment, QASID_ADMIN_PORT: String(adminPort) });
    assert.equal(await runToEnd(send, 20_000), 0, `${argv.join(' ')}:\n${send.output()}\n${daemon.output().slice(-2000)}`);
  } finally {
    r.disconnect();
  }

  // SIGTERM (or the image's STOPSIGNAL) as `docker compose stop` sends it, in reverse start order.
  for (const { service, container } of running.reverse()) {
    const grace = Math.min(20, service.stopGraceSec ?? 10) * 1000;
    container.child.kill(image.stopSignal);
    assert.equal(await runToEnd(container, grace), 0, `${service.name} exits 0 on ${image.stopSignal}:\n${container.output().slice(-3000)}`);
  }
  t.diagnostic(`services run: ${order.map((s) => s.name).join(', ')}`);
});
