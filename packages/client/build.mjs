// `npm pack` / `npm publish` of @qasid/client run this (prepack): compile the client from
// the repository's src/ (one source for daemon and client) and copy the message schema
// that src/queue/message.ts reads at import. Needs the repository's dev dependencies.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(join(here, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });
cpSync(join(here, '..', '..', 'schema', 'mt-message.v1.json'), join(here, 'dist', 'schema', 'mt-message.v1.json'));
