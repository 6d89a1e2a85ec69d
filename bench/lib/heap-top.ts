/**
 * Where a process allocated: a summary of a sampling heap profile (.heapprofile, as
 * bench/lib/heap-sampler.mjs or Chrome DevTools writes it).
 *
 *   node --import tsx bench/lib/heap-top.ts <file.heapprofile> [--messages N] [--top K]
 *
 * A profile is a tree of call stacks; each node's selfSize estimates the bytes allocated
 * with that stack on top (V8 scales its samples, so the sum is an unbiased estimate of
 * the bytes allocated while sampling, and with the collected objects included it is what
 * was allocated, not what is left). V8 names functions, not lines: a site is a function,
 * shown at the file:line where it is defined. Compiled dist/*.js locations are mapped back
 * to src/*.ts through the source maps next to them now — so summarise a profile before
 * dist/ is rebuilt from other sources (function names stay right; lines would not).
 *
 * Printed, in bytes per message with --messages (else bytes), the top K of:
 * - functions by self size (allocated in the function itself: its objects, closures,
 *   arrays, strings, and what the functions the optimising compiler inlined into it
 *   allocate; a built-in such as JSON.stringify or Array.prototype.map is listed as
 *   `built-in ← its JavaScript caller`);
 * - functions by inclusive size (itself and everything it called; a function on a stack
 *   twice is counted once);
 * - our functions (src/) charged with everything below them, each sample charged to the
 *   innermost src/ frame of its stack, with the module that allocated it — what a change
 *   in our code can reach;
 * - modules by self size: a package of node_modules, each of our src/ files, node's own
 *   JavaScript (node:…) — a built-in counted with the module that called it — and
 *   allocations with no JavaScript on the stack at all.
 *
 * Inlining blurs sites (V8 records the outermost function of an optimised frame); a run
 * with NODE_HEAP_ARGS=--no-turbo-inlining separates them, at the cost of allocations
 * that escape analysis would have removed.
 */
import { readFileSync, existsSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: ProfileNode[];
}

/** A frame as printed: where (file:line, after source maps), and its module. */
interface Frame {
  key: string;
  module: string;
  ours: boolean;
  /** No script: a V8 built-in (JSON.stringify, Array.prototype.map, a RegExp, an await's resumption …) or the root. */
  builtin?: boolean;
}

const NO_SCRIPT = '(no JavaScript on the stack: V8 or native)';

const maps = new Map<string, SourceMap | undefined>();

function sourceMapOf(path: string): SourceMap | undefined {
  if (!maps.has(path)) {
    const file = `${path}.map`;
    maps.set(path, existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8'))) : undefined);
  }
  return maps.get(path);
}

/** A script's URL as a path on disk, with its line (1-based) mapped through its source map. */
function located(cf: CallFrame): { path: string; line: number } {
  let path = cf.url.startsWith('file://') ? fileURLToPath(cf.url) : cf.url;
  let line = cf.lineNumber + 1;
  if (path.endsWith('.js') && path.includes('/dist/')) {
    const entry = sourceMapOf(path)?.findEntry(cf.lineNumber, cf.columnNumber);
    if (entry !== undefined && 'originalSource' in entry) {
      const src = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : entry.originalSource;
      path = src;
      line = entry.originalLine + 1;
    }
  }
  return { path, line };
}

const frames = new Map<string, Frame>();

function frameOf(cf: CallFrame): Frame {
  const id = `${cf.url}\0${cf.lineNumber}\0${cf.columnNumber}\0${cf.functionName}`;
  let f = frames.get(id);
  if (f !== undefined) return f;
  const name = cf.functionName || '(anonymous)';
  if (cf.url === '') {
    f = { key: name, module: NO_SCRIPT, ours: false, builtin: true };
  } else if (cf.url.startsWith('node:')) {
    f = { key: `${name} ${cf.url}:${cf.lineNumber + 1}`, module: 'node internals', ours: false };
  } else {
    const { path, line } = located(cf);
    const nm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path);
    const mine = /\/(src|bench|bin)\/(.*)$/.exec(path);
    if (nm !== null) f = { key: `${name} ${nm[1]}/${nm[2]}:${line}`, module: nm[1] as string, ours: false };
    else if (mine !== null) f = { key: `${name} ${mine[1]}/${mine[2]}:${line}`, module: `${mine[1]}/${mine[2]}`, ours: mine[1] === 'src' };
    else f = { key: `${name} ${path}:${line}`, module: path, ours: false };
  }
  frames.set(id, f);
  return f;
}

function add(m: Map<string, number>, k: string, v: number): void {
  m.set(k, (m.get(k) ?? 0) + v);
}

function main(argv: string[]): void {
  const file = argv.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
  const opt = (name: string): number | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : Number(argv[i + 1]);
  };
  if (file === undefined) {
    console.error('usage: heap-top.ts <file.heapprofile> [--messages N] [--top K]');
    process.exitCode = 2;
    return;
  }
  const messages = opt('messages');
  const top = opt('top') ?? 25;
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode } | { profile: { head: ProfileNode } };
  const head = 'head' in raw ? raw.head : raw.profile.head;

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const modules = new Map<string, number>();
  const charged = new Map<string, number>();
  const chargedBy = new Map<string, Map<string, number>>();
  let total = 0;
  const onStack = new Map<string, number>();
  const ourStack: Frame[] = [];

  const walk = (n: ProfileNode, caller: Frame | undefined): void => {
    const f = frameOf(n.callFrame);
    const root = n === head;
    // A built-in is charged, as a site and to a module, to the script frame that called it.
    const site = f.builtin && caller !== undefined ? { ...f, key: `${f.key} ← ${caller.key}`, module: caller.module } : f;
    const scripted = f.builtin ? caller : f;
    if (!root) {
      onStack.set(f.key, (onStack.get(f.key) ?? 0) + 1);
      if (f.ours) ourStack.push(f);
    }
    if (n.selfSize > 0) {
      total += n.selfSize;
      add(self, site.key, n.selfSize);
      add(modules, site.module, n.selfSize);
      for (const k of onStack.keys()) add(inclusive, k, n.selfSize);
      const mine = ourStack.at(-1);
      const to = mine === undefined ? '(no src/ frame on the stack)' : mine.key;
      add(charged, to, n.selfSize);
      const by = chargedBy.get(to) ?? new Map<string, number>();
      chargedBy.set(to, by);
      add(by, site.module, n.selfSize);
    }
    for (const c of n.children) walk(c, scripted);
    if (!root) {
      const left = (onStack.get(f.key) as number) - 1;
      if (left === 0) onStack.delete(f.key);
      else onStack.set(f.key, left);
      if (f.ours) ourStack.pop();
    }
  };
  walk(head, undefined);

  const unit = messages ? 'B/msg' : 'bytes';
  const fmt = (v: number): string => Math.round(messages ? v / messages : v).toLocaleString('en');
  const share = (v: number): string => `${((100 * v) / total).toFixed(1)} %`;
  const print = (title: string, m: Map<string, number>, detail?: (k: string) => string): void => {
    console.log(`\n${title}`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${fmt(v).padStart(10)} ${share(v).padStart(7)}  ${k}${detail ? detail(k) : ''}`);
    }
  };
  console.log(`${file}: ${fmt(total)} ${unit} sampled in all${messages ? ` (${Math.round(total).toLocaleString('en')} bytes over ${messages.toLocaleString('en')} messages)` : ''}`);
  print(`functions by self size (${unit})`, self);
  print(`functions by inclusive size (${unit})`, inclusive);
  print(`our functions (src/), charged with what they and their callees below any other src/ frame allocated (${unit})`, charged, (k) => {
    const by = [...(chargedBy.get(k) ?? [])].sort((a, b) => b[1] - a[1]).slice(0, 3);
    return `  [${by.map(([m, v]) => `${m} ${fmt(v)}`).join(', ')}]`;
  });
  print(`modules by self size (${unit})`, modules);
  // The same, our files together: what is ours, the packages', node's, V8's.
  const groups = new Map<string, number>();
  for (const [m, v] of modules) add(groups, m.startsWith('src/') ? 'src/ (ours, every file)' : m, v);
  print(`groups by self size (${unit})`, groups);
}

main(process.argv.slice(2));
