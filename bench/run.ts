/**
 * Runs benchmark scenarios, one process each (bench/<name>.ts), one after another.
 *   npm run bench                      every scenario
 *   npm run bench -- link-throughput   one scenario
 * Results are printed; record them in bench/RESULTS.md with the commit and machine.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const all = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.replace(/\.ts$/, ''));
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all;
const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
console.log(`# commit ${commit || 'unknown'} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · node ${process.version}`);
let failed = 0;
for (const name of chosen) {
  if (!all.includes(name)) {
    console.error(`unknown scenario "${name}" (have: ${all.join(', ')})`);
    failed++;
    continue;
  }
  console.log(`\n## ${name}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${name}.ts`], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
