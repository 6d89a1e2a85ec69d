/**
 * deploy/kubernetes/, the kustomize base: rendered with `kubectl kustomize` when kubectl is on
 * PATH, else read file by file with the ConfigMap built as its generator would. The
 * references hold (resources, probe ports, selectors, ServiceMonitor → Service → pods, every
 * ConfigMap and Secret generated here or made by a documented command with the keys used), no
 * volume hides the image's own files, and the config passes `qasid config check` with the
 * environment and files a pod gets.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configCommand } from '../../src/cli/config.js';
import { CONFIG_FILE_ENV } from '../../src/config/load.js';
import { schemaLeaves } from '../../src/config/schema.js';
import { Keyring } from '../../src/privacy/keyring.js';
import { loadAlertRules, parseYamlSubset } from '../helpers/deploy-metrics.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, 'deploy/kubernetes');

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** `o.a.b.c`, or undefined when a step is missing. */
function at(o: unknown, path: string): unknown {
  let v = o;
  for (const k of path.split('.')) v = isObj(v) ? v[k] : undefined;
  return v;
}
const objAt = (o: unknown, path: string): Obj => {
  const v = at(o, path);
  return isObj(v) ? v : {};
};
const listAt = (o: unknown, path: string): Obj[] => {
  const v = at(o, path);
  return Array.isArray(v) ? v.filter(isObj) : [];
};
const strAt = (o: unknown, path: string): string | undefined => {
  const v = at(o, path);
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
};

interface Kustomization {
  resources: string[];
  generators: Array<{ name: string; files: string[] }>;
  images: Obj[];
}

function readKustomization(): Kustomization {
  const k = parseYamlSubset(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as Obj;
  assert.equal(k['kind'], 'Kustomization');
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  return {
    resources: strings(k['resources']),
    generators: listAt(k, 'configMapGenerator').map((g) => ({ name: String(g['name']), files: strings(g['files']) })),
    images: listAt(k, 'images'),
  };
}

/** `kubectl kustomize`'s output as documents, or undefined without kubectl. */
function renderWithKubectl(): Obj[] | undefined {
  const r = spawnSync('kubectl', ['kustomize', DIR], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  assert.equal(r.status, 0, `kubectl kustomize ${DIR}:\n${r.stderr}`);
  return r.stdout.split(/^---$/m).map((d) => parseYamlSubset(d) as Obj);
}

/** The resources as written, plus each generated ConfigMap (without kustomize's hash suffix). */
function renderByHand(k: Kustomization): Obj[] {
  const docs = k.resources.map((f) => parseYamlSubset(readFileSync(join(DIR, f), 'utf8')) as Obj);
  for (const g of k.generators) {
    const data: Obj = {};
    for (const f of g.files) {
      const [key, file] = f.includes('=') ? (f.split('=') as [string, string]) : [posix.basename(f), f];
      data[key] = readFileSync(join(DIR, file), 'utf8');
    }
    docs.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data });
  }
  return docs;
}

const kustomization = readKustomization();
const kubectlDocs = renderWithKubectl();
const docs = kubectlDocs ?? renderByHand(kustomization);
const only = (kind: string): Obj => {
  const found = docs.filter((d) => d['kind'] === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0] as Obj;
};
const deployment = only('Deployment');
const podSpec = objAt(deployment, 'spec.template.spec');
const podLabels = objAt(deployment, 'spec.template.metadata.labels');
const containers = listAt(podSpec, 'containers');
const gateway = containers.find((c) => c['name'] === 'qasid') as Obj;
const volumes = listAt(podSpec, 'volumes');
const configMaps = docs.filter((d) => d['kind'] === 'ConfigMap');
const configMap = (name: string): Obj | undefined => configMaps.find((c) => strAt(c, 'metadata.name') === name);

/** A selector's labels all on `labels` (and the selector not empty). */
function selects(selector: Obj, labels: Obj): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** `kubectl create secret generic NAME --from-file=KEY=… --from-literal=KEY=…` in the README: name → keys. */
function documentedSecrets(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const m of readFileSync(join(DIR, 'README.md'), 'utf8').matchAll(/create secret generic (\S+)((?:\s+--from-(?:file|literal)=[^=\s]+=\S+)+)/g)) {
    const keys = out.get(m[1] as string) ?? new Set<string>();
    for (const k of (m[2] as string).matchAll(/--from-(?:file|literal)=([^=\s]+)=/g)) keys.add(k[1] as string);
    out.set(m[1] as string, keys);
  }
  return out;
}

/** The pod's config file, as its env and mounts give it. */
function podConfig(): { admin: { host: string; port: number }; shutdown: { forceExitMs: number }; carriers: Array<{ passwordEnv?: string }>; intake?: { consumer?: string } } {
  const path = strAt(listAt(gateway, 'env').find((e) => e['name'] === CONFIG_FILE_ENV), 'value');
  assert.ok(path, `${CONFIG_FILE_ENV} is set`);
  const mount = listAt(gateway, 'volumeMounts').find((m) => path.startsWith(`${strAt(m, 'mountPath') ?? ''}/`)) as Obj;
  const cm = configMap(strAt(volumes.find((v) => v['name'] === mount['name']), 'configMap.name') ?? '');
  const text = objAt(cm, 'data')[posix.relative(String(mount['mountPath']), path)];
  assert.ok(typeof text === 'string', `${path} is a key of a mounted ConfigMap`);
  return JSON.parse(text) as ReturnType<typeof podConfig>;
}

test('every resource and generated file the kustomization names exists, and every manifest is in it', (t) => {
  t.diagnostic(kubectlDocs === undefined ? 'kubectl not on PATH: files read one by one' : 'rendered with kubectl kustomize');
  for (const f of kustomization.resources) assert.ok(existsSync(join(DIR, f)), `resource ${f}`);
  for (const g of kustomization.generators) for (const f of g.files) assert.ok(existsSync(join(DIR, f.split('=').pop() as string)), `${g.name}: ${f}`);
  const manifests = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
  assert.deepEqual(manifests.sort(), [...kustomization.resources].sort(), 'each manifest here is listed in kustomization.yaml');
  for (const d of docs) assert.ok(typeof d['apiVersion'] === 'string' && typeof d['kind'] === 'string' && strAt(d, 'metadata.name'), `a named resource: ${JSON.stringify(d).slice(0, 80)}`);
  assert.ok(kustomization.images.some((i) => i['name'] === 'qasid'), 'the image can be set from kustomization.yaml');
  if (kubectlDocs !== undefined) {
    // The hand rendering (used without kubectl) has the same resources.
    const names = (ds: Obj[]): string[] => ds.map((d) => `${String(d['kind'])}/${(strAt(d, 'metadata.name') ?? '').replace(/-[a-z0-9]{10}$/, '')}`).sort();
    assert.deepEqual(names(renderByHand(kustomization)), names(kubectlDocs));
  }
});

test('the probes, the Service, the ServiceMonitor and the PDB meet the pods and ports they mean', () => {
  assert.ok(selects(objAt(deployment, 'spec.selector.matchLabels'), podLabels), 'the Deployment selects its own pods');
  assert.ok(gateway, 'a container named qasid');
  const ports = listAt(gateway, 'ports');
  const config = podConfig();
  const admin = ports.find((p) => strAt(p, 'containerPort') === String(config.admin.port));
  assert.ok(admin?.['name'], `a named container port for admin.port ${config.admin.port}`);
  assert.notEqual(config.admin.host, '127.0.0.1', 'the admin server listens beyond loopback, where the kubelet probes it');
  for (const [probe, path] of [['livenessProbe', '/livez'], ['readinessProbe', '/readyz']] as const) {
    assert.equal(strAt(gateway, `${probe}.httpGet.path`), path, probe);
    assert.equal(strAt(gateway, `${probe}.httpGet.port`), admin['name'], `${probe} asks the admin port by name`);
  }

  const service = only('Service');
  assert.ok(selects(objAt(service, 'spec.selector'), podLabels), 'the Service selects the pods');
  const servicePorts = listAt(service, 'spec.ports');
  for (const p of servicePorts) {
    const target = strAt(p, 'targetPort') ?? strAt(p, 'port');
    assert.ok(ports.some((c) => c['name'] === target || strAt(c, 'containerPort') === target), `Service port ${String(p['name'])} → container port ${target}`);
  }
  // Prometheus Operator names the job after the Service; the alert rules select that job.
  const jobs = new Set(loadAlertRules().flatMap((g) => g.rules.flatMap((r) => [...r.expr.matchAll(/job="([^"]+)"/g)].map((m) => m[1]))));
  for (const job of jobs) assert.equal(strAt(service, 'metadata.name'), job, `the alert rules' job="${job}" is the Service's name`);

  const monitor = only('ServiceMonitor');
  assert.ok(selects(objAt(monitor, 'spec.selector.matchLabels'), objAt(service, 'metadata.labels')), 'the ServiceMonitor selects the Service');
  const endpoints = listAt(monitor, 'spec.endpoints');
  assert.ok(endpoints.length > 0);
  for (const e of endpoints) {
    assert.ok(servicePorts.some((p) => p['name'] === e['port']), `ServiceMonitor port ${String(e['port'])} is a Service port name`);
    assert.equal(strAt(e, 'path'), '/metrics');
  }

  const pdb = only('PodDisruptionBudget');
  assert.ok(selects(objAt(pdb, 'spec.selector.matchLabels'), podLabels), 'the PDB selects the pods');
});

test('every ConfigMap and Secret the pods use is generated here or made by a documented command, with the keys used', () => {
  const documented = documentedSecrets();
  const needs: Array<{ kind: 'ConfigMap' | 'Secret'; name: string; key?: string; where: string }> = [];
  for (const v of volumes) {
    if (isObj(v['configMap'])) needs.push({ kind: 'ConfigMap', name: strAt(v, 'configMap.name') ?? '', where: `volume ${String(v['name'])}` });
    if (isObj(v['secret'])) needs.push({ kind: 'Secret', name: strAt(v, 'secret.secretName') ?? '', where: `volume ${String(v['name'])}` });
  }
  for (const c of containers) {
    for (const e of listAt(c, 'env')) {
      const cm = objAt(e, 'valueFrom.configMapKeyRef');
      const sk = objAt(e, 'valueFrom.secretKeyRef');
      if (cm['name'] !== undefined) needs.push({ kind: 'ConfigMap', name: String(cm['name']), key: String(cm['key']), where: `env ${String(e['name'])}` });
      if (sk['name'] !== undefined) needs.push({ kind: 'Secret', name: String(sk['name']), key: String(sk['key']), where: `env ${String(e['name'])}` });
    }
    for (const e of listAt(c, 'envFrom')) {
      if (isObj(e['configMapRef'])) needs.push({ kind: 'ConfigMap', name: strAt(e, 'configMapRef.name') ?? '', where: 'envFrom' });
      if (isObj(e['secretRef'])) needs.push({ kind: 'Secret', name: strAt(e, 'secretRef.name') ?? '', where: 'envFrom' });
    }
  }
  // Files the env points at inside a mounted Secret are keys that Secret must have too.
  for (const e of listAt(gateway, 'env')) {
    const value = strAt(e, 'value') ?? '';
    for (const m of listAt(gateway, 'volumeMounts')) {
      const secret = strAt(volumes.find((v) => v['name'] === m['name']), 'secret.secretName');
      const dir = strAt(m, 'mountPath') ?? '';
      if (secret !== undefined && value.startsWith(`${dir}/`)) needs.push({ kind: 'Secret', name: secret, key: posix.relative(dir, value), where: `env ${String(e['name'])}` });
    }
  }
  assert.ok(needs.length > 0);
  for (const n of needs) {
    if (n.kind === 'ConfigMap') {
      const cm = configMap(n.name);
      assert.ok(cm, `${n.where}: ConfigMap ${n.name} is generated by kustomization.yaml`);
      if (n.key !== undefined) assert.ok(objAt(cm, 'data')[n.key] !== undefined, `${n.where}: ConfigMap ${n.name} has key ${n.key}`);
      continue;
    }
    const defined = docs.find((d) => d['kind'] === 'Secret' && strAt(d, 'metadata.name') === n.name);
    if (defined !== undefined) {
      if (n.key !== undefined) assert.ok(objAt(defined, 'data')[n.key] !== undefined || objAt(defined, 'stringData')[n.key] !== undefined, `${n.where}: Secret ${n.name} has key ${n.key}`);
      continue;
    }
    const keys = documented.get(n.name);
    assert.ok(keys, `${n.where}: Secret ${n.name} is neither defined here nor created by a command in deploy/kubernetes/README.md`);
    if (n.key !== undefined) assert.ok(keys.has(n.key), `${n.where}: the README's command for Secret ${n.name} creates key ${n.key} (it creates ${[...keys].join(', ')})`);
  }
  assert.ok(!docs.some((d) => d['kind'] === 'Secret'), 'no Secret values committed');
});

test('the pod keeps the image intact and outlives the daemon\'s shutdown; only known QASID_* variables', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const workdirs = [...dockerfile.matchAll(/^WORKDIR\s+(\S+)/gm)].map((m) => m[1] as string);
  const workdir = workdirs[workdirs.length - 1] as string;
  assert.ok(workdir, 'the Dockerfile names its WORKDIR');
  for (const m of listAt(gateway, 'volumeMounts')) {
    const p = strAt(m, 'mountPath') ?? '';
    assert.ok(!(p === workdir || p.startsWith(`${workdir}/`) || workdir.startsWith(`${p}/`)), `volume at ${p} would hide the image's ${workdir}`);
    assert.ok(volumes.some((v) => v['name'] === m['name']), `volumeMount ${String(m['name'])} names a volume`);
  }
  const config = podConfig();
  const grace = Number(strAt(podSpec, 'terminationGracePeriodSeconds') ?? 30);
  assert.ok(grace * 1000 > config.shutdown.forceExitMs, `terminationGracePeriodSeconds ${grace} s outlasts shutdown.forceExitMs ${config.shutdown.forceExitMs} ms`);
  for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) assert.ok(strAt(gateway, `resources.${kind}.${r}`), `resources.${kind}.${r}`);
  assert.equal(config.intake?.consumer ?? '', '', 'intake.consumer unset: each pod is named after itself (its host name)');
  const image = kustomization.images.find((i) => i['name'] === 'qasid');
  const expected = kubectlDocs === undefined ? 'qasid' : `${String(image?.['newName'] ?? 'qasid')}:${String(image?.['newTag'] ?? 'latest')}`;
  assert.equal(gateway['image'], expected, 'the container runs the image kustomization.yaml sets');

  const known = new Set([CONFIG_FILE_ENV, ...schemaLeaves().flatMap((l) => (l.env === undefined ? [] : [l.env])), ...config.carriers.flatMap((c) => (c.passwordEnv === undefined ? [] : [c.passwordEnv]))]);
  for (const e of listAt(gateway, 'env')) assert.ok(known.has(String(e['name'])), `env ${String(e['name'])} is read by the daemon`);
});

const scratch: string[] = [];
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** Stand-in values for what the operator's Secrets hold, by the config key they set. */
const SECRET_SAMPLES: Record<string, string> = {
  'redis.url': 'redis://:sample@redis.qasid.svc:6379/0',
  'admin.tokens': '[]',
};

/**
 * The pod's file system under a scratch root: each mounted ConfigMap's keys, each mounted
 * Secret's documented keys (keyrings made fresh, anything else a stand-in), and its env with
 * paths under a mount moved below the root and secret values stood in for.
 */
function podEnvironment(withOptional: boolean): NodeJS.ProcessEnv {
  const root = mkdtempSync(join(tmpdir(), 'qasid-k8s-'));
  scratch.push(root);
  const mounts = listAt(gateway, 'volumeMounts').map((m) => String(m['mountPath']));
  const onRoot = (p: string): string => (mounts.some((m) => p === m || p.startsWith(`${m}/`)) ? join(root, p) : p);
  const leafByEnv = new Map(schemaLeaves().flatMap((l) => (l.env === undefined ? [] : [[l.env, l.key] as const])));
  const envEntries = listAt(gateway, 'env');
  const keyringFor = (file: string): string | undefined => {
    const e = envEntries.find((x) => strAt(x, 'value') === file);
    const key = e === undefined ? undefined : leafByEnv.get(String(e['name']));
    return key === 'privacy.keyringFile' ? Keyring.newSourceJson('k1') : key === 'privacy.hashKeyringFile' ? Keyring.newSourceJson('h1') : undefined;
  };
  const documented = documentedSecrets();
  for (const m of listAt(gateway, 'volumeMounts')) {
    const dir = String(m['mountPath']);
    const v = volumes.find((x) => x['name'] === m['name']) as Obj;
    mkdirSync(join(root, dir), { recursive: true });
    if (isObj(v['configMap'])) for (const [k, text] of Object.entries(objAt(configMap(strAt(v, 'configMap.name') ?? ''), 'data'))) writeFileSync(join(root, dir, k), String(text));
    if (isObj(v['secret'])) for (const k of documented.get(strAt(v, 'secret.secretName') ?? '') ?? []) writeFileSync(join(root, dir, k), keyringFor(posix.join(dir, k)) ?? 'sample');
  }
  const env: NodeJS.ProcessEnv = {};
  for (const e of envEntries) {
    const name = String(e['name']);
    const value = strAt(e, 'value');
    if (value !== undefined) env[name] = onRoot(value);
    const ref = objAt(e, 'valueFrom.secretKeyRef');
    if (ref['name'] === undefined) continue;
    if (ref['optional'] === true || ref['optional'] === 'true') {
      if (!withOptional) continue;
    }
    const key = leafByEnv.get(name);
    const sample = key === undefined ? 'secret1' : SECRET_SAMPLES[key];
    assert.ok(sample !== undefined, `a stand-in value for ${name} (${key ?? ''}) in SECRET_SAMPLES`);
    env[name] = sample;
  }
  return env;
}

test('the ConfigMap\'s config passes `qasid config check` with the environment and files a pod gets', async () => {
  const config = podConfig();
  for (const withOptional of [false, true]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await configCommand(['check'], { out: (s) => out.push(s), err: (s) => err.push(s), env: podEnvironment(withOptional) });
    assert.equal(code, 0, `${withOptional ? 'with' : 'without'} the optional Secrets:\n${err.join('\n')}`);
    assert.match(out.join('\n'), new RegExp(`^ok: ${config.carriers.length} carriers`));
  }
});
