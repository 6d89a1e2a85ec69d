/**
 * `qasid config check` makes the checks `qasid run` makes before it connects anywhere
 * (one function, src/cli/startup.ts), and reports every problem in one pass: schema and
 * cross-field problems together, every bad key of a keyring, both keyrings, the route
 * table against the carriers, TLS file contents, address lists, keyword lists.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configCommand } from '../../src/cli/config.js';
import { Keyring } from '../../src/privacy/keyring.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TLS = join(ROOT, 'test/fixtures/tls');
const dir = mkdtempSync(join(tmpdir(), 'qasid-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function write(name: string, data: unknown): string {
  const path = join(dir, `${++n}-${name}`);
  writeFileSync(path, typeof data === 'string' ? data : JSON.stringify(data));
  return path;
}

function carrier(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'jazz', host: '127.0.0.1', port: 2775, systemId: 'qasid', password: 'pw1', ...fields };
}

/** Two good keyrings, as files. */
function keyrings(): { keyringFile: string; hashKeyringFile: string } {
  return { keyringFile: write('keyring.json', Keyring.newSourceJson('k1')), hashKeyringFile: write('hash.json', Keyring.newSourceJson('h1')) };
}

async function check(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string; keys: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await configCommand(argv, { out: (s) => out.push(s), err: (s) => err.push(s), env });
  const text = err.join('\n');
  // "  <key>: <message>" lines of the report.
  const keys = [...text.matchAll(/^ {2}(\S+): /gm)].map((m) => m[1] as string);
  return { code, out: out.join('\n'), err: text, keys };
}

test('every problem in one pass: schema and cross-field together, every bad key of a keyring, the missing hash keyring, the route naming an unknown carrier', async () => {
  const badRing = write('bad-keyring.json', { current: 'k9', keys: { k1: 'c2hvcnQ=', k2: 'not base64 at all' } });
  const routes = write('routes.json', { version: 1, routes: [{ id: 'all', carriers: [{ id: 'jazz' }, { id: 'mobilink' }] }] });
  const file = write('qasid.json', {
    log: { level: 'loud' },
    routes: { file: routes },
    privacy: { keyringFile: badRing, hashKeyringFile: join(dir, 'no-such-hash.json') },
    // window: a schema error; the timers: a cross-field one in the same carrier.
    carriers: [carrier({ window: 'x', timers: { responseMs: 40000 } })],
  });
  const r = await check(['check', file]);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, '');
  assert.deepEqual(r.keys, [
    'log.level',
    'carriers[0].window',
    'carriers[0].timers.enquireLinkMs',
    'privacy.keyringFile',
    'privacy.keyringFile',
    'privacy.keyringFile',
    'privacy.hashKeyringFile',
    'routes.file',
  ]);
  assert.match(r.err, /privacy\.keyringFile: key "k1" must be base64 of exactly 32 bytes/);
  assert.match(r.err, /privacy\.keyringFile: key "k2" must be base64/);
  assert.match(r.err, /privacy\.keyringFile: keyring\.current "k9" is not one of keyring\.keys/);
  assert.match(r.err, /privacy\.hashKeyringFile: cannot read '.*no-such-hash\.json': no such file/);
  // "jazz" is written in the config (with problems of its own): only "mobilink" is unknown.
  assert.match(r.err, /routes\.file: routes\[0\]\.carriers\[1\]\.id: .*mobilink/);
  assert.doesNotMatch(r.err, /carriers\[0\]\.id: /);
  assert.doesNotMatch(r.err, /not base64 at all|c2hvcnQ/, 'no key material is quoted');
});

test('keyrings: required, from env, and the two distinct', async () => {
  const none = await check(['check', write('empty.json', {})]);
  assert.equal(none.code, 2);
  assert.deepEqual(none.keys, ['privacy.keyring', 'privacy.hashKeyring']);
  assert.match(none.err, /qasid keys new --hash/);

  const same = Keyring.newSourceJson('k1');
  const shared = await check(['check', write('empty.json', {})], { QASID_KEYRING: same, QASID_HASH_KEYRING: same });
  assert.equal(shared.code, 2);
  assert.deepEqual(shared.keys, ['privacy.hashKeyring']);
  assert.match(shared.err, /is the same as cipher key "k1"; use distinct keys/);

  const badEnv = await check(['check', write('empty.json', {})], { QASID_KEYRING: '{"current":"k1","keys":{"k1":"x"}}', QASID_HASH_KEYRING: '{oops' });
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.err, /privacy\.keyring: key "k1" must be base64 .*\(from env QASID_KEYRING\)/);
  assert.match(badEnv.err, /privacy\.hashKeyring: keyring is not valid JSON \(from env QASID_HASH_KEYRING\)/);
});

test('TLS files must hold what they are for; address lists and keyword lists are parsed as the gateway parses them', async () => {
  const garbage = write('garbage.pem', 'not a certificate');
  const file = write('qasid.json', {
    privacy: keyrings(),
    carriers: [carrier({ tls: { enabled: true, caFile: garbage } })],
    // A certificate with somebody else's key.
    admin: { tls: { certFile: join(TLS, 'server.pem'), keyFile: join(TLS, 'client.key') }, allowList: ['127.0.0.1/32', '10.0.0.0/33'] },
    policy: { stopKeywords: ['STOP', '!!!'] },
  });
  const r = await check(['check', file]);
  assert.equal(r.code, 2, r.err);
  assert.deepEqual(r.keys, ['admin.allowList[1]', 'policy.stopKeywords[1]', 'carriers[0].tls.caFile', 'admin.tls.keyFile']);
  assert.match(r.err, /carriers\[0\]\.tls\.caFile: '.*garbage\.pem' holds no PEM certificate/);
  assert.match(r.err, /admin\.tls\.keyFile: is not the key of admin\.tls\.certFile/);

  const good = write('qasid.json', {
    privacy: keyrings(),
    routes: { file: join(ROOT, 'config/routes.example.json') },
    carriers: [carrier(), carrier({ id: 'zong', port: 2776, tls: { enabled: true, caFile: join(TLS, 'ca.pem'), certFile: join(TLS, 'client.pem'), keyFile: join(TLS, 'client.key') } })],
    admin: { tls: { certFile: join(TLS, 'server.pem'), keyFile: join(TLS, 'server.key') } },
  });
  const ok = await check(['check', good]);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, 'ok: 2 carriers');

  // With MO routing rules, it says which streams an MO consumer reads.
  const routed = write('qasid.json', { privacy: keyrings(), redis: { prefix: 'gw' }, mo: { routes: [{ to: '8555', keyword: 'JOIN', stream: 'acme' }, { to: '9000', stream: 'beta' }, { keyword: 'win', stream: 'acme' }] } });
  const mo = await check(['check', routed]);
  assert.equal(mo.code, 0, mo.err);
  assert.equal(mo.out, 'ok: 0 carriers\nMO consumers read gw:mo:acme, gw:mo:beta (mo.routes) and gw:mo (every MO no rule matches)');
  const bad = await check(['check', write('qasid.json', { privacy: keyrings(), mo: { routes: [{ to: '8555', stream: 'no spaces' }] } })]);
  assert.equal(bad.code, 2);
  assert.deepEqual(bad.keys, ['mo.routes']);
  assert.match(bad.err, /mo\.routes: \[0\]\.stream must be/);
});

test('no FILE checks defaults and environment, as `qasid run` would run; no environment list unless asked', async () => {
  const bare = await check(['check']);
  assert.equal(bare.code, 2);
  assert.match(bare.err, /no config file: defaults and environment/);
  assert.doesNotMatch(bare.err, /QASID_REDIS_URL/);
  assert.ok(bare.err.split('\n').length < 6, bare.err);

  const env = { QASID_KEYRING: Keyring.newSourceJson('k1'), QASID_HASH_KEYRING: Keyring.newSourceJson('h1') };
  const ok = await check(['check'], env);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, 'ok: 0 carriers (no config file: defaults and environment)');
  const withEnv = await check(['check', '--env'], env);
  assert.equal(withEnv.code, 0);
  assert.match(withEnv.err, /QASID_KEYRING +privacy\.keyring/);
  assert.doesNotMatch(withEnv.err, /QASID_REDIS_URL|"current"/, 'only the variables set, and never their values');

  const help = await check(['--help']);
  assert.equal(help.code, 0);
  assert.doesNotMatch(help.out, /QASID_REDIS_URL/);
  const list = await check(['--env']);
  assert.equal(list.code, 0);
  assert.match(list.out, /QASID_REDIS_URL +redis\.url/);
});

test('`qasid run` rejects the same config with exit 2, naming the same keys (one code path)', { timeout: 60_000 }, () => {
  const file = write('qasid.json', {
    shutdown: { drainMs: 5000, forceExitMs: 1000 },
    privacy: { keyringFile: write('bad-keyring.json', { current: 'k1', keys: { k1: 'short' } }), hashKeyringFile: join(dir, 'absent.json') },
    routes: { file: write('routes.json', { version: 1, routes: [{ id: 'all', carriers: [{ id: 'nope' }] }] }) },
  });
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/qasid.js'), 'run', '--config', file], { encoding: 'utf8', timeout: 50_000, env: { PATH: process.env.PATH ?? '' } });
  assert.equal(run.status, 2, run.stderr);
  const line = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { event?: string; details?: { problems?: Array<{ key: string }> } };
  assert.equal(line.event, 'config.invalid');
  const runKeys = (line.details?.problems ?? []).map((p) => p.key);
  assert.deepEqual(runKeys, ['shutdown.forceExitMs', 'privacy.keyringFile', 'privacy.hashKeyringFile', 'routes.file']);
  return check(['check', file]).then((r) => {
    assert.equal(r.code, 2);
    assert.deepEqual(r.keys, runKeys);
  });
});

test('carriers[].submitErrors: an unknown status name is a problem of its key (a typo would never match); names and hex values read', async () => {
  const file = write('qasid.json', {
    privacy: keyrings(),
    carriers: [carrier({ submitErrors: { ESME_RSYSERR: 'failover', ESME_RSYSERRR: 'fail', '0x401': 'retry' }, failoverAfter: 2, retryScheduleMs: [100, 1000] })],
  });
  const r = await check(['check', file]);
  assert.equal(r.code, 2, r.err);
  assert.deepEqual(r.keys, ['carriers[0].submitErrors.ESME_RSYSERRR']);
  assert.match(r.err, /is not an SMPP 3\.4 command_status name; give its hex value instead/);
  const fine = write('qasid.json', { privacy: keyrings(), carriers: [carrier({ submitErrors: { ESME_RSYSERR: 'failover', '0x401': 'retry' } })] });
  assert.equal((await check(['check', fine])).code, 0);
  const bad = write('qasid.json', { privacy: keyrings(), carriers: [carrier({ submitErrors: { ESME_RSYSERR: 'later', nonsense: 'fail' }, failoverAfter: 0, retryScheduleMs: [] })] });
  const b = await check(['check', bad]);
  assert.equal(b.code, 2);
  assert.deepEqual([...new Set(b.keys)].sort(), ['carriers[0].failoverAfter', 'carriers[0].retryScheduleMs', 'carriers[0].submitErrors', 'carriers[0].submitErrors.ESME_RSYSERR'], b.err);
  assert.match(b.err, /submitErrors\.ESME_RSYSERR: must be one of "retry", "failover", "slowdown", "fail"/);
});
