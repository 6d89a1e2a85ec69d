#!/usr/bin/env node
// Checks (and, as root on Debian, installs) what the test suite and the demo need
// beyond npm packages: redis-server, and Perl's Net::SMPP for the interop test.
// Usage: node scripts/preflight.mjs [--quiet]
import { execFileSync, spawnSync } from 'node:child_process';

const quiet = process.argv.includes('--quiet');
const say = (s) => quiet || console.log(`[preflight] ${s}`);

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  console.error(`[preflight] Node.js >= 20 is required, this is ${process.version}`);
  process.exit(1);
}

const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const needs = [
  { what: 'redis-server', pkg: 'redis-server', ok: () => has('redis-server', ['--version']) },
  { what: 'Perl Net::SMPP (interop test SMSC)', pkg: 'libnet-smpp-perl', ok: () => has('perl', ['-MNet::SMPP', '-e', '1']) },
  { what: 'openssl', pkg: 'openssl', ok: () => has('openssl', ['version']) },
];

// Optional: promtool (Debian's prometheus package) checks the alert rules; without it
// those tests skip with a message. Installed when we can, never a reason to stop.
const isRootEarly = typeof process.getuid === 'function' && process.getuid() === 0;
if (!has('promtool', ['--version']) && isRootEarly && has('apt-get', ['--version'])) {
  say('installing prometheus (for promtool; optional)');
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'prometheus'], {
    stdio: 'ignore',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) say('could not install prometheus; the promtool checks will be skipped');
}

const missing = needs.filter((n) => !n.ok());
if (missing.length === 0) {
  say('redis-server, Net::SMPP and openssl present');
  process.exit(0);
}
const pkgs = missing.map((m) => m.pkg);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = has('apt-get', ['--version']);
if (isRoot && hasApt) {
  say(`installing ${pkgs.join(' ')} with apt-get`);
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch {
    console.error(`[preflight] apt-get install failed; install by hand: apt-get install -y ${pkgs.join(' ')}`);
    process.exit(1);
  }
  const still = missing.filter((m) => !m.ok());
  if (still.length === 0) process.exit(0);
  console.error(`[preflight] still missing after install: ${still.map((m) => m.what).join(', ')}`);
  process.exit(1);
}
console.error(`[preflight] missing: ${missing.map((m) => m.what).join(', ')}`);
console.error(`[preflight] on Debian/Ubuntu run:  sudo apt-get install -y ${pkgs.join(' ')}`);
process.exit(1);
