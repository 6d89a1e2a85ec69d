/**
 * What the shipped Grafana dashboard and Prometheus alert rules (deploy/) ask of the daemon's
 * /metrics: the PromQL they hold and the metric names in it. test/unit/deploy.test.ts checks the
 * names against src/metrics/catalogue.ts; a test that scrapes a running daemon can import
 * metricNamesUsed() and check them against the real exposition.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { METRICS } from '../../src/metrics/catalogue.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
export const DEPLOY_FILES = {
  dashboard: `${root}deploy/grafana/qasid-dashboard.json`,
  alerts: `${root}deploy/prometheus/qasid-alerts.yml`,
  alertTests: `${root}deploy/prometheus/qasid-alerts.test.yml`,
  prometheus: `${root}deploy/prometheus/prometheus.yml`,
} as const;

/**
 * prom-client default metrics (collectDefaultMetrics with prefix `qasid_`) that the dashboard
 * uses. They are not in the catalogue because prom-client defines them.
 */
export const DEFAULT_PROCESS_METRICS: readonly string[] = [
  'qasid_process_cpu_seconds_total',
  'qasid_process_resident_memory_bytes',
  'qasid_nodejs_heap_size_used_bytes',
  'qasid_nodejs_eventloop_lag_p99_seconds',
];

/** Series Prometheus makes itself for every scrape target: never in the daemon's /metrics. */
export const PROMETHEUS_SYNTHETIC_METRICS: readonly string[] = ['up'];

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** The catalogue's name for a series name: `x_bucket` / `x_sum` / `x_count` of histogram `x` is `x`. */
export function catalogueName(series: string): string {
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (!series.endsWith(suffix)) continue;
    const base = series.slice(0, -suffix.length);
    if (Object.values(METRICS).some((m) => m.name === base && m.type === 'histogram')) return base;
  }
  return series;
}

/** Every name the catalogue defines. */
export function catalogueNames(): Set<string> {
  return new Set(Object.values(METRICS).map((m) => m.name));
}

// --- PromQL --------------------------------------------------------------------------------------

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2', 'start', 'end']);

/**
 * The metric names a PromQL expression selects. Not a parser, but enough for the queries we
 * write: strings, label matchers, range/subquery brackets, grouping clauses and Grafana
 * variables are removed; what is left that is neither a number, a keyword nor a function call
 * is a metric name.
 */
export function metricNamesInPromQL(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^{}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  const names = new Set<string>();
  // A number (1, 0.95, 1e3, 0x1f, 5m) is consumed whole so its letters are not read as names.
  for (const m of stripped.matchAll(/(\d[\w.]*)|([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const [, num, ident, call] = m;
    if (num !== undefined || ident === undefined || call !== undefined) continue;
    if (KEYWORDS.has(ident.toLowerCase())) continue;
    names.add(ident);
  }
  return [...names];
}

/**
 * The PromQL inside a Grafana variable query: `label_values(selector, label)` yields the selector,
 * `query_result(expr)` the expression, `label_values(label)` and `metrics(re)` nothing.
 */
export function promqlInVariableQuery(query: string): string | undefined {
  const lv = /^\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*$/.exec(query);
  if (lv) return lv[1];
  const qr = /^\s*query_result\(\s*(.+)\s*\)\s*$/.exec(query);
  if (qr) return qr[1];
  return undefined;
}

// --- Dashboard -----------------------------------------------------------------------------------

export interface DashboardTarget {
  refId?: string;
  expr?: string;
  datasource?: unknown;
}

export interface DashboardPanel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  datasource?: unknown;
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}

export interface Dashboard {
  schemaVersion: number;
  uid?: string;
  title?: string;
  panels: DashboardPanel[];
  templating?: { list: Array<{ name: string; type: string; datasource?: unknown; query?: unknown; definition?: string }> };
}

export function loadDashboard(path: string = DEPLOY_FILES.dashboard): Dashboard {
  return JSON.parse(readFileSync(path, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels (collapsed rows keep theirs inside) included, rows too. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  const out: DashboardPanel[] = [];
  const walk = (list: DashboardPanel[] | undefined): void => {
    for (const p of list ?? []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

/** A PromQL expression and where it is, for messages. */
export interface Located {
  where: string;
  expr: string;
}

export function dashboardExpressions(dashboard: Dashboard = loadDashboard()): Located[] {
  const out: Located[] = [];
  for (const p of allPanels(dashboard)) {
    for (const t of p.targets ?? []) {
      if (typeof t.expr === 'string') out.push({ where: `dashboard panel "${p.title ?? p.id}" target ${t.refId ?? '?'}`, expr: t.expr });
    }
  }
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : ((v.query as { query?: string } | undefined)?.query ?? v.definition ?? '');
    const expr = promqlInVariableQuery(q);
    if (expr !== undefined) out.push({ where: `dashboard variable $${v.name}`, expr });
  }
  return out;
}

// --- Alert rules ---------------------------------------------------------------------------------

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** Reads a Prometheus rule file (see parseYamlSubset for the YAML it understands). */
export function parseRuleFile(text: string): RuleGroup[] {
  const doc = parseYamlSubset(text) as { groups?: Array<{ name: string; rules?: Array<Record<string, unknown>> }> } | null;
  return (doc?.groups ?? []).map((g) => ({
    name: g.name,
    rules: (g.rules ?? []).map((r) => ({
      alert: String(r['alert'] ?? r['record']),
      expr: String(r['expr']),
      for: r['for'] === undefined ? undefined : String(r['for']),
      labels: (r['labels'] ?? {}) as Record<string, string>,
      annotations: (r['annotations'] ?? {}) as Record<string, string>,
    })),
  }));
}

export function loadAlertRules(path: string = DEPLOY_FILES.alerts): RuleGroup[] {
  return parseRuleFile(readFileSync(path, 'utf8'));
}

export function alertExpressions(groups: RuleGroup[] = loadAlertRules()): Located[] {
  return groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })));
}

// --- Together ------------------------------------------------------------------------------------

/** Every metric name the dashboard and the alert rules select, as written, with where. */
export function metricReferences(): Array<{ name: string; where: string }> {
  const out: Array<{ name: string; where: string }> = [];
  for (const { where, expr } of [...dashboardExpressions(), ...alertExpressions()]) {
    for (const name of metricNamesInPromQL(expr)) out.push({ name, where });
  }
  return out;
}

/**
 * Sorted series names the dashboard and alert rules need in the daemon's /metrics, as they
 * appear there (histograms as `x_bucket`), Prometheus' own `up` left out.
 */
export function metricNamesUsed(): string[] {
  const names = new Set(metricReferences().map((r) => r.name));
  for (const s of PROMETHEUS_SYNTHETIC_METRICS) names.delete(s);
  return [...names].sort();
}

// --- A small YAML reader -------------------------------------------------------------------------

interface Line {
  n: number;
  indent: number;
  text: string;
}

/**
 * A strict reader for the YAML subset the rule files are written in: block mappings, block
 * sequences, plain / 'single' / "double" quoted scalars (all read as strings), `|` and `>` block
 * scalars with `-` chomping, comments and the one-line `{ k: v }` flow mapping of plain scalars.
 * Anything else (anchors, tags, multi-line plain scalars, documents) throws, so a rule file that
 * outgrows it fails loudly instead of being misread. promtool checks the real thing.
 */
export function parseYamlSubset(text: string): unknown {
  const raw = text.replace(/\r\n/g, '\n').split('\n');
  const lines: Array<Line | null> = raw.map((l, i) => {
    if (/^\s*(#.*)?$/.test(l)) return null;
    if (l.includes('\t') && /^\s*\t/.test(l)) throw new Error(`YAML line ${i + 1}: tab indentation`);
    const indent = l.length - l.trimStart().length;
    return { n: i + 1, indent, text: l.trim() };
  });
  let i = 0;
  const peek = (): Line | undefined => {
    while (i < lines.length && lines[i] === null) i++;
    return lines[i] ?? undefined;
  };
  const fail = (l: Line | undefined, msg: string): never => {
    throw new Error(`YAML line ${l?.n ?? raw.length}: ${msg}`);
  };

  const scalar = (s: string, l: Line): string => {
    if (s.startsWith('"')) {
      const m = /^"((?:[^"\\]|\\.)*)"\s*(#.*)?$/.exec(s);
      if (!m) fail(l, 'unterminated or trailing text after a double-quoted scalar');
      return JSON.parse(`"${m![1]}"`) as string;
    }
    if (s.startsWith("'")) {
      const m = /^'((?:[^']|'')*)'\s*(#.*)?$/.exec(s);
      if (!m) fail(l, 'unterminated or trailing text after a single-quoted scalar');
      return m![1]!.replace(/''/g, "'");
    }
    if (/^[[{&*!%@`]/.test(s)) fail(l, `unsupported YAML construct: ${s}`);
    return s.replace(/\s+#.*$/, '').trim();
  };

  const flowMapping = (s: string, l: Line): Record<string, string> => {
    const m = /^\{(.*)\}\s*(#.*)?$/.exec(s);
    if (!m) fail(l, `unsupported flow collection: ${s}`);
    const out: Record<string, string> = {};
    const body = m![1]!.trim();
    if (body === '') return out;
    for (const part of body.split(',')) {
      const kv = /^\s*([\w.-]+)\s*:\s*(.*?)\s*$/.exec(part);
      if (!kv) fail(l, `unsupported flow mapping entry: ${part}`);
      out[kv![1]!] = scalar(kv![2]!, l);
    }
    return out;
  };

  const blockScalar = (indicator: string, parentIndent: number, l: Line): string => {
    if (!/^[|>][-+]?$/.test(indicator)) fail(l, `unsupported block scalar header ${indicator}`);
    i++;
    const body: string[] = [];
    let blockIndent = -1;
    while (i < raw.length) {
      const text = raw[i]!;
      if (text.trim() === '') {
        body.push('');
        i++;
        continue;
      }
      const ind = text.length - text.trimStart().length;
      if (ind <= parentIndent) break;
      if (blockIndent < 0) blockIndent = ind;
      if (ind < blockIndent) fail({ n: i + 1, indent: ind, text }, 'block scalar line indented less than its first line');
      body.push(text.slice(blockIndent));
      i++;
    }
    while (body.length > 0 && body[body.length - 1] === '') body.pop();
    let value: string;
    if (indicator.startsWith('|')) value = body.join('\n');
    else {
      // Folded: lines join with a space; each empty line stands for one newline.
      value = '';
      let pendingBreaks = 0;
      for (const [k, line] of body.entries()) {
        if (line === '') {
          pendingBreaks++;
          continue;
        }
        if (k > 0) value += pendingBreaks > 0 ? '\n'.repeat(pendingBreaks) : ' ';
        pendingBreaks = 0;
        value += line;
      }
    }
    if (indicator.endsWith('-')) return value;
    return `${value}\n`;
  };

  const node = (indent: number): unknown => {
    const l = peek();
    if (!l || l.indent < indent) return null;
    return l.text === '-' || l.text.startsWith('- ') ? sequence(l.indent) : mapping(l.indent);
  };

  const sequence = (indent: number): unknown[] => {
    const out: unknown[] = [];
    for (let l = peek(); l && l.indent === indent && (l.text === '-' || l.text.startsWith('- ')); l = peek()) {
      const rest = l.text.slice(1).trimStart();
      if (rest === '') {
        i++;
        const next = peek();
        out.push(next && next.indent > indent ? node(next.indent) : null);
      } else if (/^[^'"{[][^:]*:(\s|$)/.test(rest) || /^["'][^"']*["']:(\s|$)/.test(rest)) {
        // `- key: value` opens a mapping whose keys sit where `key` does.
        lines[i] = { n: l.n, indent: indent + (l.text.length - rest.length), text: rest };
        out.push(mapping(indent + (l.text.length - rest.length)));
      } else {
        out.push(rest.startsWith('{') ? flowMapping(rest, l) : scalar(rest, l));
        i++;
      }
    }
    const l = peek();
    if (l && l.indent > indent) fail(l, 'unexpected indentation');
    return out;
  };

  const mapping = (indent: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (let l = peek(); l && l.indent === indent; l = peek()) {
      if (l.text.startsWith('- ')) fail(l, 'a sequence item where a mapping key was expected');
      const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^'"#{[][^:#]*?):(?:\s+(.*))?$/.exec(l.text);
      if (!m) fail(l, `expected "key: value", got: ${l.text}`);
      const key = scalar(m![1]!, l);
      if (Object.hasOwn(out, key)) fail(l, `duplicate key ${key}`);
      const rest = (m![2] ?? '').trim();
      if (rest === '' || rest.startsWith('#')) {
        i++;
        const next = peek();
        out[key] = next && next.indent > indent ? node(next.indent) : next && next.indent === indent && next.text.startsWith('- ') ? sequence(indent) : null;
      } else if (rest.startsWith('|') || rest.startsWith('>')) {
        out[key] = blockScalar(rest.replace(/\s+#.*$/, ''), indent, l);
      } else {
        out[key] = rest.startsWith('{') ? flowMapping(rest, l) : scalar(rest, l);
        i++;
        const next = peek();
        if (next && next.indent > indent) fail(next, 'unsupported multi-line plain scalar, or a value after a scalar');
      }
    }
    return out;
  };

  const first = peek();
  if (!first) return null;
  if (first.text === '---' || first.text.startsWith('%')) fail(first, 'YAML directives and document markers are not supported');
  const doc = node(first.indent);
  const left = peek();
  if (left) fail(left, 'unexpected content');
  return doc;
}
