#!/usr/bin/env node
// The `qasid` command. In a source checkout it runs the TypeScript sources through tsx, so
// it never runs a stale build; it runs the compiled dist/ when there are no sources (the
// Docker image) or when QASID_USE_DIST=1 (benchmarks of the build as deployed).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
const source = join(root, 'src', 'cli', 'main.ts');
let entry;
if (!existsSync(source) || process.env.QASID_USE_DIST === '1') {
  if (!existsSync(built)) {
    console.error('qasid: no build found; run `npm run build` first');
    process.exit(1);
  }
  entry = built;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = source;
}
const { main } = await import(pathToFileURL(entry).href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
