import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isQasidError, type QasidError } from '../../src/core/errors.js';
import { formatConfig, loadConfig, maskRedisUrl } from '../../src/config/load.js';
import { configCommand } from '../../src/cli/config.js';
import { Keyring } from '../../src/privacy/keyring.js';

const dir = mkdtempSync(join(tmpdir(), 'qasid-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function writeConfig(data: unknown): string {
  const path = join(dir, `config-${++n}.json`);
  writeFileSync(path, typeof data === 'string' ? data : JSON.stringify(data));
  return path;
}

function carrier(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'jazz', host: '127.0.0.1', port: 2775, systemId: 'qasid', password: 'pw1', ...fields };
}

/** Loads and expects a config error; returns it. */
function rejects(data: unknown, env: NodeJS.ProcessEnv = {}): QasidError {
  try {
    loadConfig({ file: writeConfig(data), env });
  } catch (e) {
    assert.ok(isQasidError(e), `expected QasidError, got ${String(e)}`);
    return e;
  }
  assert.fail('config was accepted');
}

function problemKeys(e: QasidError): string[] {
  return (e.details['problems'] as Array<{ key: string }>).map((p) => p.key);
}

function capture(env: NodeJS.ProcessEnv = {}): { out: string[]; err: string[]; io: { out: (s: string) => void; err: (s: string) => void; env: NodeJS.ProcessEnv } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s) => out.push(s), err: (s) => err.push(s), env } };
}

test('config/example.json is valid: two carriers with their values and defaults', () => {
  const cfg = loadConfig({ file: 'config/example.json', env: {} });
  assert.deepEqual(
    cfg.carriers.map((c) => [c.id, c.bindMode, c.sessions, c.window, c.tps, c.port]),
    [
      ['jazz', 'trx', 2, 50, 200, 2775],
      ['zong', 'tx+rx', 1, 10, 50, 2776],
    ],
  );
  const jazz = cfg.carriers[0];
  assert.ok(jazz);
  assert.deepEqual(jazz.messageIds, { submitResp: 'hex', receipt: 'decimal', receiptTlv: 'decimal', receiptText: 'decimal' });
  assert.equal(jazz.password.reveal(), 'secret1');
  assert.equal(jazz.interfaceVersion, 0x34);
});

test('defaults apply at the top level and inside a minimal carrier', () => {
  const empty = loadConfig({ env: {} });
  assert.equal(empty.log.level, 'info');
  assert.equal(empty.log.pretty, false);
  assert.equal(empty.redis.url.reveal(), 'redis://127.0.0.1:6379');
  assert.equal(empty.redis.prefix, 'qasid');
  assert.deepEqual(empty.shutdown, { drainMs: 10000, forceExitMs: 30000 });
  assert.deepEqual(empty.carriers, []);

  const [c] = loadConfig({ file: writeConfig({ carriers: [carrier()] }), env: {} }).carriers;
  assert.ok(c);
  assert.deepEqual(c.tls, { enabled: false, rejectUnauthorized: true });
  assert.equal(c.systemType, '');
  assert.equal(c.interfaceVersion, 0x34);
  assert.equal(c.bindMode, 'trx');
  assert.equal(c.sessions, 1);
  assert.equal(c.window, 10);
  assert.equal(c.tps, 50);
  assert.deepEqual(c.timers, {
    connectMs: 10000,
    bindMs: 10000,
    responseMs: 10000,
    enquireLinkMs: 30000,
    inactivityMs: 90000,
    unbindMs: 5000,
    drainMs: 10000,
    reconnectMinMs: 1000,
    reconnectMaxMs: 60000,
  });
  assert.deepEqual(c.addressing, { sourceTon: 1, sourceNpi: 1, destTon: 1, destNpi: 1, addressRange: '', alphanumericTon: 5, alphanumericNpi: 0, shortCodeMaxDigits: 6, shortCodeTon: 3, shortCodeNpi: 0 });
  assert.deepEqual(c.messageIds, { submitResp: 'verbatim', receipt: 'verbatim', receiptTlv: 'verbatim', receiptText: 'verbatim' });
  assert.equal(c.receiptOnPart, 'last');
});

test('messageIds.receiptTlv / receiptText default to messageIds.receipt, and each may be set on its own', () => {
  const load = (messageIds: Record<string, unknown>): unknown => loadConfig({ file: writeConfig({ carriers: [carrier({ messageIds })] }), env: {} }).carriers[0]?.messageIds;
  assert.deepEqual(load({ submitResp: 'hex', receipt: 'decimal' }), { submitResp: 'hex', receipt: 'decimal', receiptTlv: 'decimal', receiptText: 'decimal' });
  assert.deepEqual(load({ submitResp: 'hex', receiptTlv: 'hex', receiptText: 'decimal' }), { submitResp: 'hex', receipt: 'verbatim', receiptTlv: 'hex', receiptText: 'decimal' });
  const e = rejects({ carriers: [carrier({ messageIds: { receiptText: 'octal' } })] });
  assert.match(e.message, /carriers\[0\]\.messageIds\.receiptText: must be one of "hex", "decimal", "verbatim"/);
});

test('the result is deep-frozen', () => {
  const cfg = loadConfig({ file: 'config/example.json', env: {} });
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.log) && Object.isFrozen(cfg.carriers));
  assert.ok(Object.isFrozen(cfg.carriers[0]?.timers));
  assert.throws(() => {
    (cfg.log as { level: string }).level = 'trace';
  }, TypeError);
});

test('timer rules: each names the exact key path', () => {
  const cases: Array<[Record<string, number>, string]> = [
    [{ responseMs: 30000, enquireLinkMs: 30000 }, 'carriers[1].timers.enquireLinkMs'],
    [{ enquireLinkMs: 90000, inactivityMs: 90000 }, 'carriers[1].timers.inactivityMs'],
    [{ bindMs: 100000, inactivityMs: 90000 }, 'carriers[1].timers.bindMs'],
    [{ reconnectMinMs: 5000, reconnectMaxMs: 4000 }, 'carriers[1].timers.reconnectMinMs'],
  ];
  for (const [timers, key] of cases) {
    const e = rejects({ carriers: [carrier(), carrier({ id: 'zong', timers })] });
    assert.equal(e.code, 'CONFIG_INVALID');
    assert.deepEqual(problemKeys(e), [key], e.message);
    assert.match(e.message, new RegExp(`${key.replace(/[[\].]/g, '\\$&')}: must`));
    assert.equal(e.details['key'], key);
  }
  // bindMs may equal inactivityMs, reconnectMinMs may equal reconnectMaxMs.
  loadConfig({ file: writeConfig({ carriers: [carrier({ timers: { bindMs: 90000, reconnectMinMs: 5000, reconnectMaxMs: 5000 } })] }), env: {} });
});

test('shutdown.forceExitMs must exceed shutdown.drainMs', () => {
  const e = rejects({ shutdown: { drainMs: 20000, forceExitMs: 20000 } });
  assert.deepEqual(problemKeys(e), ['shutdown.forceExitMs']);
});

test('unknown keys are rejected, at the top level and inside a carrier', () => {
  const e = rejects({ log: { level: 'info', colour: true }, intake: { stream: 'x' }, carriers: [carrier({ pasword: 'x', timers: { pingMs: 1 } })] });
  assert.deepEqual(problemKeys(e).sort(), ['carriers[0].pasword', 'carriers[0].timers.pingMs', 'intake.stream', 'log.colour']);
  assert.match(e.message, /log\.colour: unknown key \(known under log: level, pretty\)/);
  assert.match(e.message, /carriers\[0\]\.pasword: unknown key \(allowed here: id, host/);
});

test('duplicate carrier ids are rejected', () => {
  const e = rejects({ carriers: [carrier(), carrier({ id: 'zong' }), carrier()] });
  assert.deepEqual(problemKeys(e), ['carriers[2].id']);
  assert.match(e.message, /carriers\[2\]\.id: 'jazz' is already the id of carriers\[0\]/);
});

test('schema errors name the key and never quote a password', () => {
  const e = rejects({
    log: { level: 'verbose' },
    redis: { prefix: 'qa sid' },
    carriers: [carrier({ id: 'Jazz!', port: 70000, password: 'toolong99', systemId: 'a-system-id-of-20ch', interfaceVersion: 0x35, bindMode: 'rx' })],
  });
  assert.deepEqual(problemKeys(e).sort(), [
    'carriers[0].bindMode',
    'carriers[0].id',
    'carriers[0].interfaceVersion',
    'carriers[0].password',
    'carriers[0].port',
    'carriers[0].systemId',
    'log.level',
    'redis.prefix',
  ]);
  assert.match(e.message, /carriers\[0\]\.password: must be at most 8 characters \(SMPP 3\.4 §5\.2\.1/);
  assert.match(e.message, /carriers\[0\]\.systemId: must be at most 15 characters/);
  assert.ok(!e.message.includes('toolong99'));
  assert.ok(!JSON.stringify(e.details).includes('toolong99'));
});

test('a password of 8 characters but more than 8 octets is rejected', () => {
  const e = rejects({ carriers: [carrier({ password: 'پاسورڈ12' })] });
  assert.deepEqual(problemKeys(e), ['carriers[0].password']);
  assert.match(e.message, /at most 8 octets/);
});

test('exactly one of password, passwordEnv, passwordFile', () => {
  const none = carrier();
  delete none['password'];
  assert.deepEqual(problemKeys(rejects({ carriers: [none] })), ['carriers[0].password']);
  const two = rejects({ carriers: [carrier({ passwordEnv: 'X' })] });
  assert.deepEqual(problemKeys(two), ['carriers[0].password']);
  assert.match(two.message, /not password and passwordEnv/);
});

test('passwordEnv: resolved from env; a missing variable names the key', () => {
  const data = { carriers: [carrier({ password: undefined, passwordEnv: 'JAZZ_SMPP_PASSWORD' })] };
  const e = rejects(data, {});
  assert.equal(e.code, 'CONFIG_SECRET_MISSING');
  assert.deepEqual(problemKeys(e), ['carriers[0].passwordEnv']);
  assert.match(e.message, /carriers\[0\]\.passwordEnv: environment variable JAZZ_SMPP_PASSWORD is not set/);

  const cfg = loadConfig({ file: writeConfig(data), env: { JAZZ_SMPP_PASSWORD: 'fromenv' } });
  assert.equal(cfg.carriers[0]?.password.reveal(), 'fromenv');

  const long = rejects(data, { JAZZ_SMPP_PASSWORD: 'nine-char' });
  assert.deepEqual(problemKeys(long), ['carriers[0].passwordEnv']);
  assert.ok(!long.message.includes('nine-char'));
});

test('passwordFile: read, trailing newline trimmed, relative to the config file', () => {
  writeFileSync(join(dir, 'jazz.pw'), 'filepw\n');
  writeFileSync(join(dir, 'zong.pw'), 'crlfpw\r\n');
  const cfg = loadConfig({
    file: writeConfig({ carriers: [carrier({ password: undefined, passwordFile: 'jazz.pw' }), carrier({ id: 'zong', password: undefined, passwordFile: join(dir, 'zong.pw') })] }),
    env: {},
  });
  assert.deepEqual(
    cfg.carriers.map((c) => c.password.reveal()),
    ['filepw', 'crlfpw'],
  );

  const missing = rejects({ carriers: [carrier({ password: undefined, passwordFile: 'nope.pw' })] });
  assert.equal(missing.code, 'CONFIG_SECRET_MISSING');
  assert.deepEqual(problemKeys(missing), ['carriers[0].passwordFile']);
  assert.match(missing.message, /no such file/);
});

test('tls: certFile and keyFile together; every file must be readable', () => {
  const cert = join(dir, 'client.pem');
  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\n');
  const alone = rejects({ carriers: [carrier({ tls: { enabled: true, certFile: cert } })] });
  assert.deepEqual(problemKeys(alone), ['carriers[0].tls.keyFile']);
  assert.match(alone.message, /is required when tls.certFile is set/);

  const unreadable = rejects({ carriers: [carrier({ tls: { enabled: true, caFile: join(dir, 'missing-ca.pem'), certFile: cert, keyFile: dir } })] });
  assert.deepEqual(problemKeys(unreadable).sort(), ['carriers[0].tls.caFile', 'carriers[0].tls.keyFile']);
  assert.match(unreadable.message, /tls\.keyFile: '.*' is not a regular file/);

  const ok = loadConfig({ file: writeConfig({ carriers: [carrier({ tls: { enabled: true, caFile: 'client.pem', certFile: cert, keyFile: cert, servername: 'smsc.example' } })] }), env: {} });
  assert.deepEqual(ok.carriers[0]?.tls, { enabled: true, rejectUnauthorized: true, caFile: cert, certFile: cert, keyFile: cert, servername: 'smsc.example' });
});

test('unreadable (permission) secret file is reported', { skip: process.getuid?.() === 0 ? 'root reads anything' : false }, () => {
  const pw = join(dir, 'locked.pw');
  writeFileSync(pw, 'x\n');
  chmodSync(pw, 0o000);
  const e = rejects({ carriers: [carrier({ password: undefined, passwordFile: pw })] });
  assert.match(e.message, /permission denied/);
});

test('every problem is reported in one error', () => {
  const e = rejects({ log: { level: 'loud' }, carriers: [carrier({ port: 0 }), carrier({ id: 'zong', timers: { reconnectMinMs: 9, reconnectMaxMs: 1 } })] });
  assert.deepEqual(problemKeys(e).sort(), ['carriers[0].port', 'carriers[1].timers.reconnectMinMs', 'log.level']);
});

test('strings are not coerced into numbers or booleans', () => {
  const e = rejects({ log: { pretty: 'yes' }, shutdown: { drainMs: '10s' }, carriers: [carrier({ port: '2775' })] });
  assert.deepEqual(problemKeys(e).sort(), ['carriers[0].port', 'log.pretty', 'shutdown.drainMs']);
});

test('a group or the carriers given the wrong type is one clear problem', () => {
  const e = rejects({ log: null, carriers: { jazz: carrier() } });
  assert.deepEqual(problemKeys(e).sort(), ['carriers', 'log']);
  assert.match(e.message, /log: must be an object \(keys: level, pretty\)/);
  assert.match(e.message, /carriers: must be a JSON array, not object/);
  const item = rejects({ carriers: [5] });
  assert.deepEqual(problemKeys(item), ['carriers[0]']);
});

test('env overrides the file; QASID_CONFIG names the file; overrides win over env', () => {
  const file = writeConfig({ log: { level: 'warn' }, redis: { prefix: 'fromfile' }, carriers: [carrier()] });
  const env = { QASID_LOG_LEVEL: 'debug', QASID_LOG_PRETTY: 'true', QASID_REDIS_URL: 'rediss://:hunter2@redis.example:6380/1', QASID_SHUTDOWN_DRAIN_MS: '2500' };
  const cfg = loadConfig({ file, env });
  assert.equal(cfg.log.level, 'debug');
  assert.equal(cfg.log.pretty, true);
  assert.equal(cfg.redis.url.reveal(), 'rediss://:hunter2@redis.example:6380/1');
  assert.equal(cfg.redis.prefix, 'fromfile');
  assert.equal(cfg.shutdown.drainMs, 2500);

  const viaEnv = loadConfig({ env: { QASID_CONFIG: file } });
  assert.equal(viaEnv.log.level, 'warn');
  assert.equal(viaEnv.carriers.length, 1);

  const over = loadConfig({ file, env, overrides: { log: { level: 'error' } } });
  assert.equal(over.log.level, 'error');
});

test('a bad env value names the key and the variable', () => {
  const e = rejects({}, { QASID_LOG_PRETTY: 'maybe', QASID_SHUTDOWN_DRAIN_MS: '10s', QASID_LOG_LEVEL: 'loud', QASID_REDIS_URL: 'http://x' });
  assert.deepEqual(problemKeys(e).sort(), ['log.level', 'log.pretty', 'redis.url', 'shutdown.drainMs']);
  assert.match(e.message, /log\.pretty: must be true or false \(from env QASID_LOG_PRETTY\)/);
  assert.match(e.message, /log\.level: .*\(from env QASID_LOG_LEVEL\)/);
  assert.match(e.message, /redis\.url: must use the redis:\/\/ or rediss:\/\/ \(TLS\) scheme/);
});

test('QASID_CARRIERS supplies the carriers as JSON', () => {
  const cfg = loadConfig({ env: { QASID_CARRIERS: JSON.stringify([carrier({ id: 'ufone' })]) } });
  assert.deepEqual(
    cfg.carriers.map((c) => c.id),
    ['ufone'],
  );
  const e = rejects({}, { QASID_CARRIERS: '[{"password": "leakme"' });
  assert.deepEqual(problemKeys(e), ['carriers']);
  assert.ok(!e.message.includes('leakme'));
});

test('formatConfig masks every secret, including carrier passwords and the redis password', () => {
  writeFileSync(join(dir, 'print.pw'), 'filesec\n');
  const file = writeConfig({
    redis: { url: 'redis://ruser7:redispw9@cache.internal:6379/2?password=qp-secret&db=2' },
    carriers: [carrier({ password: 'inline7' }), carrier({ id: 'zong', password: undefined, passwordFile: 'print.pw' })],
  });
  const text = formatConfig(loadConfig({ file, env: {} }));
  for (const secret of ['inline7', 'filesec', 'redispw9', 'ruser7', 'qp-secret']) assert.ok(!text.includes(secret), `printed ${secret}`);
  const printed = JSON.parse(text) as { redis: { url: string }; carriers: Array<{ password: string }> };
  assert.equal(printed.redis.url, 'redis://[secret]@cache.internal:6379/2?password=[secret]&db=2');
  assert.deepEqual(
    printed.carriers.map((c) => c.password),
    ['[secret]', '[secret]'],
  );
  assert.equal(maskRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
});

/** The keyrings `qasid run` (and so `config check`) needs, from env. */
function keyringEnv(): NodeJS.ProcessEnv {
  return { QASID_KEYRING: Keyring.newSourceJson('k1'), QASID_HASH_KEYRING: Keyring.newSourceJson('h1') };
}

test('qasid config check: ok on a good file, exit 2 naming the bad key on a bad one', async () => {
  const good = capture(keyringEnv());
  assert.equal(await configCommand(['check', 'config/example.json'], good.io), 0, good.err.join('\n'));
  assert.deepEqual(good.out, ['ok: 2 carriers']);

  const bad = capture();
  const file = writeConfig({ carriers: [carrier({ timers: { responseMs: 40000 } })] });
  assert.equal(await configCommand(['check', file], bad.io), 2);
  assert.match(bad.err.join('\n'), /carriers\[0\]\.timers\.enquireLinkMs/);
  assert.deepEqual(bad.out, []);
});

test('qasid config check: missing file, not JSON, no FILE', async () => {
  const missing = capture();
  assert.equal(await configCommand(['check', join(dir, 'absent.json')], missing.io), 2);
  assert.match(missing.err.join('\n'), /file: cannot read config file '.*absent\.json': no such file/);

  const notJson = capture();
  assert.equal(await configCommand(['check', writeConfig('{\n  "carriers": [{"password": "sekrit9" x}]\n}')], notJson.io), 2);
  assert.match(notJson.err.join('\n'), /is not valid JSON: .*line 2/);
  assert.ok(!notJson.err.join('\n').includes('sekrit9'));

  const empty = capture();
  assert.equal(await configCommand(['check', writeConfig('')], empty.io), 2);
  assert.match(empty.err.join('\n'), /is empty/);

  // No FILE: defaults and environment, as `qasid run` would run — which needs keyrings.
  const noFile = capture();
  assert.equal(await configCommand(['check'], noFile.io), 2);
  assert.match(noFile.err.join('\n'), /privacy\.keyring: required/);

  const fromEnv = capture({ QASID_CONFIG: 'config/example.json', ...keyringEnv() });
  assert.equal(await configCommand(['check'], fromEnv.io), 0);
  assert.deepEqual(fromEnv.out, ['ok: 2 carriers']);
});

test('qasid config print: effective config with secrets masked; --help', async () => {
  const env = { QASID_REDIS_URL: 'redis://:pr1ntpw@10.0.0.5:6379' };
  const c = capture(env);
  assert.equal(await configCommand(['print', 'config/example.json'], c.io), 0);
  const text = c.out.join('\n');
  assert.ok(!text.includes('secret1') && !text.includes('secret2') && !text.includes('pr1ntpw'));
  assert.match(text, /"password": "\[secret\]"/);
  assert.match(text, /"url": "redis:\/\/\[secret\]@10\.0\.0\.5:6379"/);

  const defaults = capture();
  assert.equal(await configCommand(['print'], defaults.io), 0);
  assert.equal((JSON.parse(defaults.out.join('\n')) as { carriers: unknown[] }).carriers.length, 0);

  const help = capture();
  assert.equal(await configCommand(['--help'], help.io), 0);
  assert.match(help.out.join('\n'), /qasid config check \[FILE\]/);
  const envList = capture();
  assert.equal(await configCommand(['--env'], envList.io), 0);
  assert.match(envList.out.join('\n'), /QASID_REDIS_URL/);

  const unknown = capture();
  assert.equal(await configCommand(['lint', 'x.json'], unknown.io), 64);
  assert.match(unknown.err.join('\n'), /unknown config command 'lint'/);
});

test('admin TLS: certificate and key go together and must be readable', () => {
  assert.deepEqual(problemKeys(rejects({ admin: { tls: { certFile: 'cert.pem' } } })), ['admin.tls.keyFile']);
  assert.deepEqual(problemKeys(rejects({ admin: { tls: { certFile: 'missing.pem', keyFile: 'missing.key' } } })).sort(), ['admin.tls.certFile', 'admin.tls.keyFile']);
  writeFileSync(join(dir, 'a.pem'), 'x');
  writeFileSync(join(dir, 'a.key'), 'y');
  const cfg = loadConfig({ file: writeConfig({ admin: { tls: { certFile: 'a.pem', keyFile: 'a.key' } } }), env: {} });
  assert.equal(cfg.admin.tls.certFile, join(dir, 'a.pem'));
});

test('redis TLS: defaults; certificate with key, readable files, only with rediss://; env overrides; paths resolved', () => {
  const none = loadConfig({ env: {} });
  assert.deepEqual(none.redis.tls, { caFile: '', certFile: '', keyFile: '', servername: '', rejectUnauthorized: true });
  const tlsUrl = 'rediss://redis.internal:6380';
  for (const f of ['r-ca.pem', 'r-client.pem', 'r-client.key']) writeFileSync(join(dir, f), 'pem');
  assert.deepEqual(problemKeys(rejects({ redis: { url: tlsUrl, tls: { certFile: 'r-client.pem' } } })), ['redis.tls.keyFile']);
  assert.deepEqual(problemKeys(rejects({ redis: { url: tlsUrl, tls: { keyFile: 'r-client.key' } } })), ['redis.tls.certFile']);
  const unreadable = rejects({ redis: { url: tlsUrl, tls: { caFile: 'no-such-ca.pem' } } });
  assert.deepEqual(problemKeys(unreadable), ['redis.tls.caFile']);
  assert.match(unreadable.message, /no-such-ca\.pem': no such file/);
  // With redis:// they would be ignored: refused, naming the key.
  const plain = rejects({ redis: { url: 'redis://redis.internal:6379', tls: { caFile: 'r-ca.pem' } } });
  assert.deepEqual(problemKeys(plain), ['redis.tls.caFile']);
  assert.match(plain.message, /only applies to TLS: redis.url uses redis:\/\//);
  assert.deepEqual(problemKeys(rejects({}, { QASID_REDIS_TLS_REJECT_UNAUTHORIZED: 'false' })), ['redis.tls.rejectUnauthorized']);
  assert.deepEqual(problemKeys(rejects({ redis: { tls: null } })), ['redis.tls']);
  assert.deepEqual(problemKeys(rejects({ redis: { url: tlsUrl } }, { QASID_REDIS_TLS_REJECT_UNAUTHORIZED: 'maybe' })), ['redis.tls.rejectUnauthorized']);

  const cfg = loadConfig({ file: writeConfig({ redis: { url: tlsUrl, tls: { caFile: 'r-ca.pem', certFile: 'r-client.pem', keyFile: 'r-client.key' } } }), env: { QASID_REDIS_TLS_SERVERNAME: 'redis.example', QASID_REDIS_TLS_REJECT_UNAUTHORIZED: 'false' } });
  assert.deepEqual(cfg.redis.tls, { caFile: join(dir, 'r-ca.pem'), certFile: join(dir, 'r-client.pem'), keyFile: join(dir, 'r-client.key'), servername: 'redis.example', rejectUnauthorized: false });
  assert.match(formatConfig(cfg), /"caFile": ".*r-ca\.pem"/);
});
