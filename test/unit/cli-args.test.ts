/**
 * The command line's rough edges: every subcommand's --help exits 0; an unknown flag gets
 * the command's own usage line and 64, never parseArgs' advice; `send` refuses a
 * destination the gateway would reject unless --force; `keys new` advises for the keyring
 * it is for and for whether one is in use.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configCommand } from '../../src/cli/config.js';
import { keysCommand } from '../../src/cli/keys.js';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/send.js';
import { sendCommand } from '../../src/cli/send.js';
import { simCommand } from '../../src/cli/sim.js';
import { tokenCommand } from '../../src/cli/token.js';
import { Keyring } from '../../src/privacy/keyring.js';

const dir = mkdtempSync(join(tmpdir(), 'qasid-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `qasid …` in-process, with what it prints through console captured. */
async function qasid(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

function capture(env: NodeJS.ProcessEnv = {}): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s) => out.push(s), err: (s) => err.push(s), env }, out, err };
}

// Commands whose --help is handled before anything else is read or connected.
const COMMANDS = [
  ['run'],
  ['demo'],
  ['send'],
  ['audit'],
  ['audit', 'verify'],
  ['keys'],
  ['keys', 'new'],
  ['keys', 'rotate'],
  ['subscriber'],
  ['subscriber', 'export'],
  ['subscriber', 'erase'],
  ['dnc'],
  ['dnc', 'import'],
  ['token'],
  ['token', 'new'],
  ['token', 'new', 'admin'],
];

test('every subcommand answers --help with its usage and exit 0', async () => {
  for (const argv of COMMANDS) {
    const r = await qasid(...argv, '--help');
    assert.equal(r.code, 0, `qasid ${argv.join(' ')} --help: ${r.err}`);
    assert.match(r.out, /Usage: qasid /, argv.join(' '));
  }
  for (const argv of [['--help'], ['check', '--help'], ['print', '--help']]) {
    const out: string[] = [];
    assert.equal(await configCommand(argv, { out: (s) => out.push(s), err: () => undefined, env: {} }), 0, `config ${argv.join(' ')}`);
    assert.match(out.join('\n'), /qasid config check/);
  }
  const sim: string[] = [];
  assert.equal(await simCommand(['--help'], { out: (s) => void sim.push(s), err: () => undefined }), 0);
  assert.equal((await qasid('help')).code, 0);
});

test('qasid token new --help prints the help (exit 0); bad token command lines exit 64 with the usage line', async () => {
  const out: string[] = [];
  const err: string[] = [];
  assert.equal(await tokenCommand(['new', '--help'], (s) => out.push(s), (s) => err.push(s)), 0);
  assert.match(out.join('\n'), /Usage: qasid token new ROLE/);
  for (const argv of [['new'], ['new', 'root'], ['old', 'admin'], ['new', 'admin', 'extra'], ['new', 'admin', '--id', 'bad id'], ['new', 'admin', '--bogus']]) {
    const e: string[] = [];
    assert.equal(await tokenCommand(argv, () => undefined, (s) => e.push(s)), 64, argv.join(' '));
    assert.match(e.join('\n'), /Usage: qasid token new ROLE/, argv.join(' '));
  }
});

test("an unknown flag shows the command's own usage line and exits 64, not parseArgs' advice", async () => {
  for (const argv of [['run'], ['send'], ['audit', 'verify'], ['keys', 'new'], ['keys', 'rotate'], ['subscriber', 'export', '03001234567'], ['dnc', 'import', 'f.csv'], ['token', 'new', 'admin'], ['token', 'revoke', 'alice'], ['breach', 'report', '--from', '1h']]) {
    const r = await qasid(...argv, '--bogus');
    const what = argv.join(' ');
    assert.equal(r.code, 64, what);
    assert.match(r.err, new RegExp(`^qasid ${argv[0] as string}: unknown option --bogus\\nUsage: qasid ${argv[0] as string}`), `${what}: ${r.err}`);
    assert.match(r.err, new RegExp(`Run qasid ${argv[0] as string} --help for every option\\.$`), what);
    assert.doesNotMatch(r.err, /positional argument|To specify/, what);
  }
  const missing = await qasid('keys', 'new', '--id');
  assert.equal(missing.code, 64);
  assert.match(missing.err, /^qasid keys: --id needs a value/);
  const config = capture();
  assert.equal(await configCommand(['check', '--bogus'], config.io), 64);
  assert.match(config.err.join('\n'), /unknown option --bogus\nUsage:/);
  assert.ok(config.err.join('\n').split('\n').length < 10, 'the usage lines, not the whole help');
});

test('qasid breach report: --help exits 0; a missing or bad window, key id or tenant exits 64 before Redis is reached', async () => {
  const help = capture();
  const { breachCommand } = await import('../../src/cli/breach.js');
  assert.equal(await breachCommand(['report', '--help'], help.io), 0);
  assert.match(help.out.join('\n'), /^Usage: qasid breach report --from T/);
  for (const [argv, why] of [
    [['report'], /--from is required/],
    [['report', '--from', 'yesterday'], /--from "yesterday" is neither a duration/],
    [['report', '--from', '1h', '--to', '2h'], /--to is before --from/],
    [['report', '--from', '2999-01-01T00:00:00Z'], /--to is before --from|--from is in the future/],
    [['report', '--from', '1h', '--key-id', 'a.b'], /--key-id must match/],
    [['report', '--from', '1h', '--tenant', 'a b'], /--tenant must be/],
    [['list'], /unknown subcommand "list"/],
  ] as const) {
    const c = capture();
    assert.equal(await breachCommand([...argv, '--config', '/nonexistent.json'], c.io), 64, argv.join(' '));
    assert.match(c.err.join('\n'), why, argv.join(' '));
  }
});

test('qasid send refuses a destination the gateway would reject (64, with the reason) unless --force', async () => {
  // Port 1: nothing listens, so getting as far as Redis shows up as "cannot reach Redis".
  const redis = ['--redis', 'redis://127.0.0.1:1', '--from', 'SHOP', '--text', 'hello'];
  const refused = capture();
  assert.equal(await sendCommand(['--to', '123', ...redis], refused.io), 64);
  const text = refused.err.join('\n');
  assert.match(text, /not a mobile number the gateway can send to \(invalid_number, region PK\)/);
  assert.match(text, /Nothing was queued; --force queues it anyway/);
  assert.doesNotMatch(text, /cannot reach Redis/, 'refused before connecting');
  assert.deepEqual(refused.out, []);

  const landline = capture();
  assert.equal(await sendCommand(['--to', '02135555555', ...redis], landline.io), 64);
  assert.match(landline.err.join('\n'), /\(not_mobile, region PK\)/);

  const forced = capture();
  assert.equal(await sendCommand(['--to', '123', ...redis, '--force'], forced.io), 1);
  assert.match(forced.err.join('\n'), /cannot reach Redis/);
});

function keysNew(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; key: Keyring | undefined; advice: string }> {
  const c = capture(env);
  return keysCommand(['new', ...argv], c.io).then((code) => ({
    code,
    key: c.out[0] === undefined ? undefined : Keyring.fromJson(c.out[0], 'printed'),
    advice: c.err.join('\n'),
  }));
}

test('keys new: advice for a first install, for rotating the cipher keyring, for rotating the hash keyring; an id in use is refused', async () => {
  const first = await keysNew([]);
  assert.equal(first.code, 0);
  assert.equal(first.key?.currentId, 'k1');
  assert.match(first.advice, /first privacy\.keyring .*privacy\.keyringFile \(env QASID_KEYRING_FILE\)/);
  assert.match(first.advice, /needs privacy\.hashKeyring as well.*qasid keys new --hash/);
  assert.doesNotMatch(first.advice, /rotate/);

  const firstHash = await keysNew(['--hash']);
  assert.equal(firstHash.key?.currentId, 'h1');
  assert.match(firstHash.advice, /first privacy\.hashKeyring .*QASID_HASH_KEYRING_FILE/);
  assert.doesNotMatch(firstHash.advice, /rotate/);

  // The config names the files, and they are not written yet.
  const cfg = join(dir, 'qasid.json');
  const ringFile = join(dir, 'keyring.json');
  const hashFile = join(dir, 'hash-keyring.json');
  writeFileSync(cfg, JSON.stringify({ privacy: { keyringFile: ringFile, hashKeyringFile: hashFile } }));
  const named = await keysNew(['--hash', '--config', cfg]);
  assert.match(named.advice, new RegExp(`save it as ${hashFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, which privacy\\.hashKeyringFile names`));

  writeFileSync(ringFile, Keyring.newSourceJson('k1'));
  writeFileSync(hashFile, Keyring.newSourceJson('h1'));
  const cipher = await keysNew(['--config', cfg]);
  assert.equal(cipher.code, 0);
  assert.equal(cipher.key?.currentId, 'k2', 'the first id the keyring does not hold');
  assert.match(cipher.advice, /to rotate privacy\.keyring \(holds k1; current k1\): add key "k2".*"current": "k2"/);
  assert.match(cipher.advice, /qasid keys rotate/);

  const hash = await keysNew(['--hash', '--config', cfg]);
  assert.equal(hash.key?.currentId, 'h2');
  assert.match(hash.advice, /to rotate privacy\.hashKeyring \(holds h1; current h1\): add secret "h2"/);
  assert.match(hash.advice, /keep the old secrets/);
  assert.match(hash.advice, /re-import the DNC list/);
  assert.match(hash.advice, /Nothing is re-encrypted: `qasid keys rotate` is for privacy\.keyring/);

  const taken = await keysNew(['--id', 'k1'], { QASID_CONFIG: cfg });
  assert.equal(taken.code, 64);
  assert.equal(taken.key, undefined, 'no key printed');
  assert.match(taken.advice, /already holds a key "k1".*another --id \(e\.g\. k2\)/);
});
