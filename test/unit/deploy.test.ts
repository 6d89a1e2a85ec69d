/**
 * The shipped operations files (deploy/): the Grafana dashboard and the Prometheus rules use only
 * metrics the daemon defines (src/metrics/catalogue.ts), with labels those metrics have; the
 * dashboard is well formed; the alert rules are complete and, where promtool is installed, valid
 * and unit-tested (deploy/prometheus/qasid-alerts.test.yml).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { METRICS } from '../../src/metrics/catalogue.js';
import {
  DEFAULT_PROCESS_METRICS,
  DEPLOY_FILES,
  PROMETHEUS_SYNTHETIC_METRICS,
  allPanels,
  alertExpressions,
  catalogueName,
  catalogueNames,
  dashboardExpressions,
  loadAlertRules,
  loadDashboard,
  metricNamesInPromQL,
  metricNamesUsed,
  metricReferences,
  parseYamlSubset,
  promqlInVariableQuery,
} from '../helpers/deploy-metrics.js';

const repoRoot = resolve(dirname(DEPLOY_FILES.dashboard), '../..');

// --- (a) metric names ----------------------------------------------------------------------------

test('PromQL name extraction reads the shapes the deploy files use', () => {
  const expr =
    'histogram_quantile(0.99, sum by (carrier, le) (rate(qasid_submit_duration_seconds_bucket{carrier=~"$carrier", status!="ESME_ROK"}[$__rate_interval])))';
  assert.deepEqual(metricNamesInPromQL(expr), ['qasid_submit_duration_seconds_bucket']);
  assert.deepEqual(
    metricNamesInPromQL('(sum(rate(a_total[10m])) or vector(0)) == 0 and on() (max(b) + max(c{x="y"})) > bool 1e3 offset 5m'),
    ['a_total', 'b', 'c'],
  );
  assert.deepEqual(metricNamesInPromQL('sum(x) by (carrier) / ignoring(session) group_left count without (le) (y)'), ['x', 'y']);
  assert.deepEqual(metricNamesInPromQL('max(deriv(lag[10m:1m])) > 0 and lag > 1000'), ['lag']);
  assert.equal(promqlInVariableQuery('label_values(qasid_session_up, carrier)'), 'qasid_session_up');
  assert.equal(promqlInVariableQuery('label_values(qasid_session_up{carrier="a,b"}, session)'), 'qasid_session_up{carrier="a,b"}');
  assert.equal(promqlInVariableQuery('label_values(carrier)'), undefined);
  assert.equal(catalogueName('qasid_submit_duration_seconds_bucket'), 'qasid_submit_duration_seconds');
  assert.equal(catalogueName('qasid_submits_total'), 'qasid_submits_total');
  assert.equal(catalogueName('qasid_intake_lag_count'), 'qasid_intake_lag_count'); // not a histogram
});

test('every metric the dashboard and alert rules use is in the catalogue (or a prom-client default)', () => {
  const refs = metricReferences();
  assert.ok(refs.length > 40, `only ${refs.length} metric references found: is the extraction broken?`);
  const known = catalogueNames();
  const allowed = new Set([...DEFAULT_PROCESS_METRICS, ...PROMETHEUS_SYNTHETIC_METRICS]);
  const histograms = new Set<string>(Object.values(METRICS).filter((m) => m.type === 'histogram').map((m) => m.name));
  const problems: string[] = [];
  for (const { name, where } of refs) {
    if (histograms.has(name)) problems.push(`${where}: ${name} is a histogram: select ${name}_bucket, _sum or _count`);
    else if (!known.has(catalogueName(name)) && !allowed.has(name)) problems.push(`${where}: ${name} is not in src/metrics/catalogue.ts`);
  }
  assert.deepEqual(problems, []);
});

test('metric names mentioned in alert annotations exist too', () => {
  const known = new Set([...catalogueNames(), ...DEFAULT_PROCESS_METRICS]);
  const problems: string[] = [];
  for (const g of loadAlertRules()) {
    for (const r of g.rules) {
      for (const text of Object.values(r.annotations)) {
        for (const [name] of text.matchAll(/\bqasid_[a-z0-9_]+/g)) if (!known.has(catalogueName(name))) problems.push(`alert ${r.alert}: ${name}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('label matchers only name labels the metric has', () => {
  const byName = new Map<string, readonly string[]>(Object.values(METRICS).map((m) => [m.name, m.labels]));
  // Labels Prometheus adds to every series of a target.
  const targetLabels = ['instance', 'job'];
  const problems: string[] = [];
  for (const { where, expr } of [...dashboardExpressions(), ...alertExpressions()]) {
    for (const [, name, body] of expr.matchAll(/([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}/g)) {
      const base = catalogueName(name!);
      const labels = byName.get(base);
      if (labels === undefined && !DEFAULT_PROCESS_METRICS.includes(base) && !PROMETHEUS_SYNTHETIC_METRICS.includes(base)) continue; // reported above
      const allowed = new Set([...(labels ?? []), ...targetLabels, ...(name!.endsWith('_bucket') && base !== name ? ['le'] : [])]);
      const matcherLabels = [...body!.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
      for (const l of matcherLabels) if (!allowed.has(l)) problems.push(`${where}: ${name} has no label "${l}"`);
    }
  }
  assert.deepEqual(problems, []);
});

test('the dashboard shows every metric in the catalogue', () => {
  const used = new Set(dashboardExpressions().flatMap(({ expr }) => metricNamesInPromQL(expr).map(catalogueName)));
  const missing = [...catalogueNames()].filter((n) => !used.has(n));
  assert.deepEqual(missing, [], 'add a panel for these metrics to deploy/grafana/qasid-dashboard.json');
});

test('metricNamesUsed() lists the series the daemon must expose, as exposed', () => {
  const names = metricNamesUsed();
  assert.deepEqual(names, [...names].sort());
  assert.ok(names.includes('qasid_submit_duration_seconds_bucket'));
  assert.ok(names.includes('qasid_session_up'));
  assert.ok(!names.includes('up'), 'up is made by Prometheus, not exposed by the daemon');
  for (const n of names) assert.match(n, /^qasid_[a-z0-9_]+$/);
});

// --- (b) alert rules -----------------------------------------------------------------------------

test('alert rules: group qasid, each alert with severity, summary and a runbook-style description', () => {
  const groups = loadAlertRules();
  assert.deepEqual(
    groups.map((g) => g.name),
    ['qasid'],
  );
  const rules = groups[0]!.rules;
  const names = rules.map((r) => r.alert);
  assert.equal(new Set(names).size, names.length, 'alert names are unique');
  for (const required of [
    'QasidCarrierDown',
    'QasidReceiptMatchRatioLow',
    'QasidIntakeLagGrowing',
    'QasidThrottleStorm',
    'QasidDeadLetters',
    'QasidUnknownOutcomesRising',
    'QasidReconnectLoop',
  ]) {
    assert.ok(names.includes(required), `missing alert ${required}`);
  }
  for (const r of rules) {
    assert.match(r.alert, /^Qasid[A-Z][A-Za-z]+$/);
    assert.ok(['critical', 'warning', 'info'].includes(r.labels['severity'] ?? ''), `${r.alert}: severity label`);
    assert.ok((r.annotations['summary'] ?? '').length > 10, `${r.alert}: summary annotation`);
    assert.match(r.annotations['description'] ?? '', /First check:/, `${r.alert}: description says what to check first`);
    assert.ok(r.expr.trim().length > 0, `${r.alert}: expr`);
    if (r.for !== undefined) assert.match(r.for, /^\d+[smh]$/, `${r.alert}: for`);
  }
  const carrierDown = rules.find((r) => r.alert === 'QasidCarrierDown')!;
  assert.equal(carrierDown.expr.trim(), 'sum by (carrier) (qasid_session_up) == 0');
  assert.equal(carrierDown.for, '2m');
});

test('the YAML reader refuses what it does not understand', () => {
  assert.deepEqual(parseYamlSubset('a:\n  - b: "x: y"\n    c: |-\n      one\n      two\n  - z\n'), { a: [{ b: 'x: y', c: 'one\ntwo' }, 'z'] });
  assert.deepEqual(parseYamlSubset('d: >-\n  one\n  two\n\n  three\ne: { k: v, n: "1" }\n'), { d: 'one two\nthree', e: { k: 'v', n: '1' } });
  assert.throws(() => parseYamlSubset('a: &anchor 1\n'), /unsupported/);
  assert.throws(() => parseYamlSubset('a: [1, 2]\n'), /unsupported/);
  assert.throws(() => parseYamlSubset('a: one\n  two\n'), /multi-line/);
  assert.throws(() => parseYamlSubset('a: 1\na: 2\n'), /duplicate/);
});

function findPromtool(): string | undefined {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.error === undefined && r.status === 0 ? 'promtool' : undefined;
}
const promtool = findPromtool();
const noPromtool = promtool === undefined ? 'promtool not on PATH (Debian/Ubuntu: apt-get install prometheus)' : false;

function runPromtool(args: string[]): string {
  const r = spawnSync(promtool!, args, { encoding: 'utf8', timeout: 60_000 });
  const output = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `promtool ${args.join(' ')} failed:\n${output}`);
  return output;
}

test('promtool check rules deploy/prometheus/qasid-alerts.yml', { skip: noPromtool }, () => {
  const out = runPromtool(['check', 'rules', DEPLOY_FILES.alerts]);
  assert.match(out, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: every alert fires when it should and only then', { skip: noPromtool }, () => {
  const out = runPromtool(['test', 'rules', DEPLOY_FILES.alertTests]);
  assert.match(out, /SUCCESS/);
  const tested = new Set([...readFileSync(DEPLOY_FILES.alertTests, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
  const untested = loadAlertRules()[0]!.rules.map((r) => r.alert).filter((a) => !tested.has(a));
  assert.deepEqual(untested, [], 'add a case for these alerts to deploy/prometheus/qasid-alerts.test.yml');
});

test('promtool check config deploy/prometheus/prometheus.yml', { skip: noPromtool }, () => {
  runPromtool(['check', 'config', DEPLOY_FILES.prometheus]);
});

const dir = mkdtempSync(join(tmpdir(), 'qasid-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('every dashboard query is valid PromQL (promtool, Grafana variables substituted)', { skip: noPromtool }, () => {
  // A rule file (JSON is YAML) with one recording rule per query: promtool parses each expression.
  const rules = dashboardExpressions().map(({ expr }, i) => ({
    record: `qasid_dashboard:query_${i}`,
    expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$__interval', '1m'),
  }));
  const file = join(dir, 'dashboard-queries.json');
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
  const out = runPromtool(['check', 'rules', file]);
  assert.match(out, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

// --- (c) dashboard -------------------------------------------------------------------------------

test('dashboard: parses, templated Prometheus datasource, carrier variable', () => {
  const d = loadDashboard();
  assert.ok(d.schemaVersion >= 38, `schemaVersion ${d.schemaVersion}`);
  assert.equal(d.uid, 'qasid-overview');
  const vars = d.templating?.list ?? [];
  const ds = vars.find((v) => v.name === 'datasource');
  assert.ok(ds, 'a `datasource` variable');
  assert.equal(ds.type, 'datasource');
  assert.equal(ds.query, 'prometheus');
  const carrier = vars.find((v) => v.name === 'carrier');
  assert.ok(carrier, 'a `carrier` variable');
  assert.equal(carrier.type, 'query');
  assert.equal(carrier.definition, 'label_values(qasid_session_up, carrier)');
  assert.deepEqual(carrier.datasource, { type: 'prometheus', uid: '${datasource}' });
});

test('dashboard: every panel has a datasource, a description and queries', () => {
  const d = loadDashboard();
  const panels = allPanels(d).filter((p) => p.type !== 'row');
  assert.ok(panels.length >= 25, `${panels.length} panels`);
  const problems: string[] = [];
  for (const p of panels) {
    const name = `panel ${p.id} "${p.title ?? ''}"`;
    if (JSON.stringify(p.datasource) !== JSON.stringify({ type: 'prometheus', uid: '${datasource}' })) problems.push(`${name}: datasource ${JSON.stringify(p.datasource)}`);
    if (typeof p.description !== 'string' || p.description.trim().length < 40) problems.push(`${name}: needs a description for an SRE`);
    if (!p.title) problems.push(`${name}: title`);
    if (!p.targets?.length) problems.push(`${name}: no queries`);
    for (const t of p.targets ?? []) {
      if (typeof t.expr !== 'string' || t.expr.trim() === '') problems.push(`${name} target ${t.refId}: no expr`);
      if (t.datasource !== undefined && JSON.stringify(t.datasource) !== JSON.stringify(p.datasource)) problems.push(`${name} target ${t.refId}: datasource differs from its panel's`);
    }
  }
  assert.deepEqual(problems, []);
});

test('dashboard: unique panel ids, panels inside the 24-column grid and not overlapping', () => {
  const panels = allPanels(loadDashboard()) as Array<{ id?: number; title?: string; gridPos?: { x: number; y: number; w: number; h: number } }>;
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const boxes = panels.map((p) => {
    assert.ok(p.gridPos, `panel ${p.id} has a gridPos`);
    const g = p.gridPos;
    assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `panel ${p.id} "${p.title}" gridPos ${JSON.stringify(g)}`);
    return { ...g, id: p.id };
  });
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) {
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      assert.ok(!overlap, `panels ${a.id} and ${b.id} overlap`);
    }
  }
});

// --- compose and provisioning --------------------------------------------------------------------

test('docker-compose.yml and Grafana provisioning mount files that exist', () => {
  const compose = readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8');
  const sources = [...compose.matchAll(/^\s*- (\.\/[^:\s]+):/gm)].map((m) => m[1]!);
  assert.ok(sources.length >= 5, `found only ${sources.length} bind mounts`);
  for (const s of sources) assert.ok(existsSync(join(repoRoot, s)), `docker-compose.yml mounts ${s}, which does not exist`);
  assert.match(compose, /deploy\/grafana\/qasid-dashboard\.json:\/var\/lib\/grafana\/dashboards\/qasid\/qasid-dashboard\.json/);
  const provider = readFileSync(join(repoRoot, 'deploy/grafana/provisioning/dashboards/qasid.yml'), 'utf8');
  assert.match(provider, /path: \/var\/lib\/grafana\/dashboards\/qasid\n/);
  const prometheus = readFileSync(DEPLOY_FILES.prometheus, 'utf8');
  assert.match(prometheus, /targets: \['qasid:9464'\]/);
  assert.match(prometheus, /- qasid-alerts\.yml/);
});
