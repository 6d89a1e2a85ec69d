#!/usr/bin/env node
// The `qasid` command. Runs the compiled build when there is one (npm run build),
// else the TypeScript sources through tsx (a development install).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
let entry;
if (existsSync(built) && !process.env.QASID_FROM_SOURCE) {
  entry = built;
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = join(root, 'src', 'cli', 'main.ts');
}
const { main } = await import(pathToFileURL(entry).href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
