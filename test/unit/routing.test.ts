import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isQasidError, type QasidError } from '../../src/core/errors.js';
import {
  compileRoutes,
  maskMsisdn,
  normaliseMsisdn,
  operatorOf,
  selectRoute,
  type CompiledRoutes,
  type RouteInput,
  type RoutesFile,
  type Selection,
} from '../../src/routing/index.js';

const EXAMPLE = JSON.parse(readFileSync(new URL('../../config/routes.example.json', import.meta.url), 'utf8')) as RoutesFile;
const KNOWN = ['jazz', 'zong'] as const;

/** Deterministic PRNG (mulberry32) for share tests. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function msg(e164: string, fields: Partial<RouteInput> = {}): RouteInput {
  return { e164, class: 'transactional', sender: 'QASID', ...fields };
}

function ok(s: Selection): Extract<Selection, { ok: true }> {
  assert.ok(s.ok, `expected a route, got ${JSON.stringify(s)}`);
  return s;
}

/** Compiles and expects a config error; returns it. */
function rejects(file: unknown, known: readonly string[] = ['a', 'b', 'c']): QasidError {
  try {
    compileRoutes(file, known);
  } catch (e) {
    assert.ok(isQasidError(e, 'CONFIG_INVALID'), `expected QasidError CONFIG_INVALID, got ${String(e)}`);
    return e;
  }
  assert.fail('expected compileRoutes to throw');
}

function keys(e: QasidError): string[] {
  return (e.details['problems'] as Array<{ key: string }>).map((p) => p.key);
}

function table(routes: RoutesFile['routes'], operators?: RoutesFile['operators'], known: readonly string[] = ['a', 'b', 'c', 'd', 'e', 'f']): CompiledRoutes {
  return compileRoutes({ version: 1, ...(operators === undefined ? {} : { operators }), routes }, known);
}

// ── normalisation ─────────────────────────────────────────────────────────────

test('every written form of a Pakistani mobile normalises to one E.164', () => {
  const forms = [
    '03001234567',
    '0300-1234567',
    '923001234567',
    '+92 300 1234567',
    '00923001234567',
    '0092 300 1234567',
    ' 300 1234567 ',
    '+92 (0)300 1234567',
    '(0300) 123-4567',
    '۰۳۰۰۱۲۳۴۵۶۷', // Urdu (Extended Arabic-Indic) digits
    '٠٣٠٠١٢٣٤٥٦٧', // Arabic-Indic digits
  ];
  for (const input of forms) {
    assert.deepEqual(normaliseMsisdn(input, 'PK'), { ok: true, e164: '+923001234567', country: 'PK' }, input);
  }
  assert.deepEqual(normaliseMsisdn('03551234567', 'PK'), { ok: true, e164: '+923551234567', country: 'PK' });
});

test('fixed lines, UAN and toll-free numbers are not_mobile', () => {
  for (const input of ['042 35761234', '+924235761234', '0092 42 35761234', '924235761234', '+92 42 111 128 128', '0800 12345', '+49 30 123456']) {
    assert.deepEqual(normaliseMsisdn(input, 'PK'), { ok: false, reason: 'not_mobile' }, input);
  }
});

test('garbage, short, long and decorated inputs are invalid_number; blank is empty', () => {
  for (const input of ['abc', '12', '0300123', '030012345678', '+9230012345678', '03001234567x', '0300 1234567 ext 5', '++923001234567', '92+3001234567', '-', '+', '00', 'tel:+923001234567']) {
    assert.deepEqual(normaliseMsisdn(input, 'PK'), { ok: false, reason: 'invalid_number' }, input);
  }
  for (const input of ['', '   ', '\t\n']) assert.deepEqual(normaliseMsisdn(input, 'PK'), { ok: false, reason: 'empty' }, JSON.stringify(input));
});

test('foreign numbers given with + or 00 are accepted when mobile', () => {
  assert.deepEqual(normaliseMsisdn('+447400123456', 'PK'), { ok: true, e164: '+447400123456', country: 'GB' });
  assert.deepEqual(normaliseMsisdn('0044 7400 123456', 'PK'), { ok: true, e164: '+447400123456', country: 'GB' });
  assert.deepEqual(normaliseMsisdn('+86 138 1234 5678', 'PK'), { ok: true, e164: '+8613812345678', country: 'CN' });
  // NANP numbers are FIXED_LINE_OR_MOBILE: deliverable as far as the plan can tell.
  assert.deepEqual(normaliseMsisdn('+1 201 555 0123', 'PK'), { ok: true, e164: '+12015550123', country: 'US' });
  // +44 7700 900xxx is Ofcom's range reserved for drama: never assigned, so invalid.
  assert.deepEqual(normaliseMsisdn('+447700900123', 'PK'), { ok: false, reason: 'invalid_number' });
});

test('the default region decides national numbers; an unknown region is a config error', () => {
  assert.deepEqual(normaliseMsisdn('07400 123456', 'GB'), { ok: true, e164: '+447400123456', country: 'GB' });
  assert.deepEqual(normaliseMsisdn('447400123456', 'GB'), { ok: true, e164: '+447400123456', country: 'GB' });
  assert.deepEqual(normaliseMsisdn('+923001234567', 'GB'), { ok: true, e164: '+923001234567', country: 'PK' });
  assert.throws(() => normaliseMsisdn('03001234567', 'XX'), (e: unknown) => isQasidError(e, 'CONFIG_INVALID') && e.details['key'] === 'defaultRegion');
});

test('masking keeps country code + 3 and the last 3, and always hides at least 4 digits', () => {
  assert.equal(maskMsisdn('+923001234567'), '+92300****567');
  assert.equal(maskMsisdn('+447400123456'), '+44740****456');
  assert.equal(maskMsisdn('+12015550123'), '+1201****123');
  assert.equal(maskMsisdn('+8613812345678'), '+86138*****678');
  assert.equal(maskMsisdn('+4930123456'), '+4930****56');
  assert.equal(maskMsisdn('+2901234'), '+290****');
  assert.equal(maskMsisdn('03001234567'), '030*****567');
  for (const n of ['+923001234567', '+4930123456', '+2901234', '+12015550123', '+8821234567890', '+1234']) {
    const masked = maskMsisdn(n);
    assert.equal(masked.length, n.length, n);
    assert.ok((masked.match(/\*/g) ?? []).length >= Math.min(4, n.length - 2), `${n} → ${masked}`);
  }
});

// ── compiling ─────────────────────────────────────────────────────────────────

test('the example table compiles without warnings and routes Pakistani traffic as documented', () => {
  const t = compileRoutes(EXAMPLE, KNOWN);
  assert.deepEqual(t.warnings, []);
  assert.match(t.version, /^[0-9a-f]{16}$/);
  assert.deepEqual(
    t.routes.map((r) => r.id),
    ['otp-shared', 'jazz-onnet', 'zong-onnet', 'default'],
  );
  const jazz = '+923001234567';
  const jazzWarid = '+923211234567';
  const zong = '+923101234567';
  const telenor = '+923451234567';
  const scom = '+923551234567';
  assert.deepEqual(selectRoute(t, msg(jazz)), { ok: true, routeId: 'jazz-onnet', operator: 'jazz', carriers: ['jazz', 'zong'] });
  assert.deepEqual(selectRoute(t, msg(jazzWarid)), { ok: true, routeId: 'jazz-onnet', operator: 'jazz', carriers: ['jazz', 'zong'] });
  assert.deepEqual(selectRoute(t, msg(zong)), { ok: true, routeId: 'zong-onnet', operator: 'zong', carriers: ['zong', 'jazz'] });
  assert.deepEqual(selectRoute(t, msg(telenor)), { ok: true, routeId: 'default', operator: 'telenor', carriers: ['jazz', 'zong'] });
  assert.deepEqual(selectRoute(t, msg(scom)), { ok: true, routeId: 'default', operator: 'scom', carriers: ['jazz', 'zong'] });
  assert.deepEqual(selectRoute(t, msg('+447400123456')), { ok: true, routeId: 'default', carriers: ['jazz', 'zong'] });
  assert.deepEqual(selectRoute(t, msg(zong, { class: 'otp' }), () => 0.69), { ok: true, routeId: 'otp-shared', operator: 'zong', carriers: ['jazz', 'zong'] });
  assert.deepEqual(selectRoute(t, msg(jazz, { class: 'otp' }), () => 0.7), { ok: true, routeId: 'otp-shared', operator: 'jazz', carriers: ['zong', 'jazz'] });
  // A Jazz-range number ported to Zong follows its operator, not its prefix.
  assert.deepEqual(selectRoute(t, msg(jazz, { portedOperator: 'zong' })), { ok: true, routeId: 'zong-onnet', operator: 'zong', carriers: ['zong', 'jazz'] });
});

test('the version is a content hash: stable under formatting, key order and descriptions; changes with behaviour', () => {
  const base = compileRoutes(EXAMPLE, KNOWN).version;
  const reordered = JSON.parse(JSON.stringify(EXAMPLE, null, 4)) as RoutesFile;
  reordered.routes = reordered.routes.map((r) => ({ carriers: r.carriers, ...(r.failover ? { failover: r.failover } : {}), ...(r.match ? { match: r.match } : {}), id: r.id }));
  assert.equal(compileRoutes(reordered, KNOWN).version, base);

  const reweighted = structuredClone(EXAMPLE);
  (reweighted.routes[0]?.carriers[1] ?? assert.fail()).weight = 40;
  assert.notEqual(compileRoutes(reweighted, KNOWN).version, base);
  const swapped = structuredClone(EXAMPLE);
  swapped.routes = [swapped.routes[0], swapped.routes[2], swapped.routes[1], swapped.routes[3]] as RoutesFile['routes'];
  assert.notEqual(compileRoutes(swapped, KNOWN).version, base);
});

test('compiling neither mutates the input nor returns anything mutable', () => {
  const file = structuredClone(EXAMPLE);
  const before = JSON.stringify(file);
  const t = compileRoutes(file, KNOWN);
  assert.equal(JSON.stringify(file), before, 'input untouched (no weight defaults written in)');
  assert.equal(t.routes[1]?.carriers[0]?.weight, 1, 'weight defaults to 1 in the compiled route');
  assert.ok(Object.isFrozen(t) && Object.isFrozen(t.routes) && Object.isFrozen(t.routes[0]?.carriers) && Object.isFrozen(t.routes[0]?.match));
  assert.throws(() => selectRoute({ ...t }, msg('+923001234567')), TypeError);
});

test('schema violations are named by key path', () => {
  const route = { id: 'r', carriers: [{ id: 'a' }] };
  assert.deepEqual(keys(rejects('routes')), ['file']);
  assert.deepEqual(keys(rejects({ version: 2, routes: [route] })), ['version']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [] })), ['routes']);
  assert.deepEqual(keys(rejects({ version: 1 })), ['routes']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [route, { id: 'x' }] })), ['routes[1].carriers']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [{ ...route, matches: {} }] })), ['routes[0].matches']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [{ ...route, carriers: [{ id: 'a', weight: 0 }] }] })), ['routes[0].carriers[0].weight']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [{ ...route, id: 'Bad Id' }] })), ['routes[0].id']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [{ ...route, match: { class: ['promo'] } }] })), ['routes[0].match.class[0]']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [{ ...route, match: { tenant: [] } }] })), ['routes[0].match.tenant']);
  const unknownKey = rejects({ version: 1, routes: [{ ...route, matches: {} }] });
  assert.match(unknownKey.message, /routes\[0\]\.matches: unknown key \(allowed here: id, description, match, carriers, failover\)/);
});

test('bad prefixes are rejected where they are written', () => {
  const e = rejects({ version: 1, routes: [{ id: 'r', match: { prefix: ['92300', '+92301'] }, carriers: [{ id: 'a' }] }] });
  assert.deepEqual(keys(e), ['routes[0].match.prefix[1]']);
  assert.match(e.message, /routes\[0\]\.match\.prefix\[1\]: must be 1 to 15 digits/);
  assert.deepEqual(keys(rejects({ version: 1, operators: { jazz: ['9230', '92-32'] }, routes: [{ id: 'r', carriers: [{ id: 'a' }] }] })), ['operators.jazz[1]']);
  assert.deepEqual(keys(rejects({ version: 1, operators: { Jazz: ['9230'] }, routes: [{ id: 'r', carriers: [{ id: 'a' }] }] })), ['operators.Jazz']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [{ id: 'r', match: { prefix: ['' ] }, carriers: [{ id: 'a' }] }] })), ['routes[0].match.prefix[0]']);
});

test('unknown carriers, duplicate route ids, unknown operators and repeated carriers are named by key', () => {
  const unknown = rejects(EXAMPLE, ['jazz']);
  assert.deepEqual(keys(unknown), ['routes[0].carriers[1].id', 'routes[1].failover[0]', 'routes[2].carriers[0].id', 'routes[3].failover[0]']);
  assert.match(unknown.message, /routes\[0\]\.carriers\[1\]\.id: unknown carrier 'zong' \(known: jazz\)/);
  assert.equal(unknown.details['key'], 'routes[0].carriers[1].id');

  const dup = rejects({ version: 1, routes: [{ id: 'r', match: { tenant: ['t'] }, carriers: [{ id: 'a' }] }, { id: 'r', carriers: [{ id: 'b' }] }] });
  assert.deepEqual(keys(dup), ['routes[1].id']);
  assert.match(dup.message, /already used by routes\[0\]/);

  const op = rejects({ version: 1, operators: { jazz: ['9230'] }, routes: [{ id: 'r', match: { operator: ['jazz', 'zong'] }, carriers: [{ id: 'a' }] }] });
  assert.deepEqual(keys(op), ['routes[0].match.operator[1]']);
  assert.match(op.message, /operator 'zong' is not defined under operators \(defined: jazz\)/);

  const repeated = rejects({ version: 1, routes: [{ id: 'r', carriers: [{ id: 'a' }, { id: 'b', weight: 2 }, { id: 'a', weight: 3 }], failover: ['b', 'c'] }] });
  assert.deepEqual(keys(repeated), ['routes[0].carriers[2].id', 'routes[0].failover[0]']);
  assert.deepEqual(keys(rejects({ version: 1, routes: [{ id: 'r', carriers: [{ id: 'a' }], failover: ['c', 'c'] }] })), ['routes[0].failover']);

  const shared = rejects({ version: 1, operators: { jazz: ['9230'], zong: ['9231', '9230'] }, routes: [{ id: 'r', carriers: [{ id: 'a' }] }] });
  assert.deepEqual(keys(shared), ['operators.zong[1]']);
  assert.match(shared.message, /prefix 9230 already belongs to operator 'jazz'/);
});

test('every problem is reported at once, and the file is named', () => {
  try {
    compileRoutes({ version: 1, routes: [{ id: 'r', carriers: [{ id: 'x' }], failover: ['y'] }] }, ['a'], { file: '/etc/qasid/routes.json' });
    assert.fail('expected an error');
  } catch (e) {
    assert.ok(isQasidError(e, 'CONFIG_INVALID'));
    assert.deepEqual(keys(e), ['routes[0].carriers[0].id', 'routes[0].failover[0]']);
    assert.equal(e.details['file'], '/etc/qasid/routes.json');
    assert.match(e.message, /^route table is invalid \(\/etc\/qasid\/routes\.json\):\n {2}routes\[0\]\.carriers\[0\]\.id: /);
  }
});

test('a route that an earlier one makes unreachable is rejected', () => {
  const catchAllFirst = rejects({
    version: 1,
    routes: [
      { id: 'default', carriers: [{ id: 'a' }] },
      { id: 'otp', match: { class: ['otp'] }, carriers: [{ id: 'b' }] },
      { id: 'uk', match: { prefix: ['44'] }, carriers: [{ id: 'b' }] },
    ],
  });
  assert.deepEqual(keys(catchAllFirst), ['routes[1]'], 'a prefix route still wins over an earlier catch-all');
  assert.match(catchAllFirst.message, /route 'otp' can never be selected: routes\[0\] \('default'\) comes first/);
  const samePrefixWider = rejects({
    version: 1,
    routes: [
      { id: 'wide', match: { prefix: ['92', '44'], sender: ['BANK'] }, carriers: [{ id: 'a' }] },
      { id: 'narrow', match: { prefix: ['44'], sender: ['bank'], tenant: ['t'] }, carriers: [{ id: 'b' }] },
    ],
  });
  assert.deepEqual(keys(samePrefixWider), ['routes[1]']);
  // A longer prefix is never shadowed by a shorter one, whatever the order.
  table([
    { id: 'pk', match: { prefix: ['92'] }, carriers: [{ id: 'a' }] },
    { id: 'jazz', match: { prefix: ['9230'] }, carriers: [{ id: 'b' }] },
  ]);
});

test('a table without a catch-all compiles with a warning, and unmatched messages get no_route', () => {
  const t = table([{ id: 'pk', match: { prefix: ['92'] }, carriers: [{ id: 'a' }] }]);
  assert.deepEqual(
    t.warnings.map((w) => w.key),
    ['routes'],
  );
  assert.deepEqual(selectRoute(t, msg('+447400123456')), { ok: false, reason: 'no_route' });
  assert.deepEqual(selectRoute(t, msg('+9')), { ok: false, reason: 'no_route' });
  assert.equal(ok(selectRoute(t, msg('+923001234567'))).routeId, 'pk');
});

// ── selecting ─────────────────────────────────────────────────────────────────

test('the longest matching prefix wins over an earlier, shorter one; equal lengths go to the first listed', () => {
  const t = table([
    { id: 'any', carriers: [{ id: 'a' }] },
    { id: 'pk', match: { prefix: ['92'] }, carriers: [{ id: 'a' }] },
    { id: 'pk-mobile', match: { prefix: ['923'] }, carriers: [{ id: 'b' }] },
    { id: 'jazz-1', match: { prefix: ['9230', '4420'], tenant: ['t'] }, carriers: [{ id: 'c' }] },
    { id: 'jazz-2', match: { prefix: ['9230'], tenant: ['t', 'u'] }, carriers: [{ id: 'd' }] },
    { id: 'uk', match: { prefix: ['4420'] }, carriers: [{ id: 'e' }] },
    { id: 'zong', match: { prefix: ['9231', '92310'] }, carriers: [{ id: 'f' }] },
  ]);
  const route = (e164: string, fields: Partial<RouteInput> = {}): string => ok(selectRoute(t, msg(e164, fields))).routeId;
  assert.equal(route('+923001234567', { tenant: 't' }), 'jazz-1', 'tie on length: the first listed wins');
  assert.equal(route('+923001234567', { tenant: 'u' }), 'jazz-2');
  assert.equal(route('+923001234567'), 'pk-mobile', 'the longest prefix of the routes that match');
  assert.equal(route('+442071234567', { tenant: 't' }), 'jazz-1', 'tie with a later route of the same prefix');
  assert.equal(route('+442071234567'), 'uk');
  assert.equal(route('+923451234567'), 'pk-mobile');
  assert.equal(route('+924235761234'), 'pk');
  assert.equal(route('+12015550123'), 'any');
  assert.equal(route('+923101234567'), 'zong');
  assert.equal(route('923001234567', { tenant: 't' }), 'jazz-1', 'the leading + is optional');
});

test('a route with a longer prefix but an unmet criterion falls back to the next best', () => {
  const t = table([
    { id: 'jazz-bank', match: { prefix: ['9230'], sender: ['BANK'] }, carriers: [{ id: 'a' }] },
    { id: 'pk-bank', match: { prefix: ['92'], sender: ['BANK'] }, carriers: [{ id: 'b' }] },
    { id: 'jazz', match: { prefix: ['9230'] }, carriers: [{ id: 'c' }] },
  ]);
  assert.equal(ok(selectRoute(t, msg('+923001234567', { sender: 'bank' }))).routeId, 'jazz-bank');
  assert.equal(ok(selectRoute(t, msg('+923001234567', { sender: 'SHOP' }))).routeId, 'jazz');
  assert.equal(ok(selectRoute(t, msg('+923451234567', { sender: 'Bank' }))).routeId, 'pk-bank');
  assert.deepEqual(selectRoute(t, msg('+923451234567', { sender: 'SHOP' })), { ok: false, reason: 'no_route' });
});

test('tenant, class and sender criteria: exact membership, sender ignoring case', () => {
  const t = table([
    { id: 'acme-otp', match: { tenant: ['acme', 'globex'], class: ['otp'] }, carriers: [{ id: 'a' }] },
    { id: 'acme', match: { tenant: ['acme'] }, carriers: [{ id: 'b' }] },
    { id: 'promo', match: { class: ['marketing'], sender: ['Daraz', 'ÜBERPAY'] }, carriers: [{ id: 'c' }] },
    { id: 'default', carriers: [{ id: 'd' }] },
  ]);
  const route = (fields: Partial<RouteInput>): string => ok(selectRoute(t, msg('+923001234567', fields))).routeId;
  assert.equal(route({ tenant: 'acme', class: 'otp' }), 'acme-otp');
  assert.equal(route({ tenant: 'globex', class: 'otp' }), 'acme-otp');
  assert.equal(route({ tenant: 'acme', class: 'transactional' }), 'acme');
  assert.equal(route({ tenant: 'ACME', class: 'transactional' }), 'default', 'tenant is case-sensitive');
  assert.equal(route({ class: 'otp' }), 'default', 'no tenant never matches a tenant criterion');
  assert.equal(route({ class: 'marketing', sender: 'DARAZ' }), 'promo');
  assert.equal(route({ class: 'marketing', sender: 'daraz' }), 'promo');
  assert.equal(route({ class: 'marketing', sender: 'überpay' }), 'promo', 'non-ASCII senders fold too');
  assert.equal(route({ class: 'marketing', sender: 'Darazz' }), 'default');
  assert.equal(route({ class: 'marketing', sender: 'Daraq' }), 'default');
  assert.equal(route({ class: 'transactional', sender: 'Daraz' }), 'default');
});

test('operators: longest operator prefix, and a ported operator overrides the prefix', () => {
  const operators = { jazz: ['9230', '9232'], zong: ['9231'], telenor: ['9234'], special: ['923009'] };
  const t = table(
    [
      { id: 'to-jazz', match: { operator: ['jazz'] }, carriers: [{ id: 'a' }] },
      { id: 'to-zong', match: { operator: ['zong', 'telenor'] }, carriers: [{ id: 'b' }] },
      { id: 'jazz-range', match: { prefix: ['9230'] }, carriers: [{ id: 'c' }] },
      { id: 'default', carriers: [{ id: 'd' }] },
    ],
    operators,
  );
  assert.equal(operatorOf(t, '+923001234567'), 'jazz');
  assert.equal(operatorOf(t, '+923009234567'), 'special');
  assert.equal(operatorOf(t, '+923211234567'), 'jazz');
  assert.equal(operatorOf(t, '+923101234567'), 'zong');
  assert.equal(operatorOf(t, '+923451234567'), 'telenor');
  assert.equal(operatorOf(t, '+923331234567'), undefined);
  assert.equal(operatorOf(t, '+92'), undefined);
  assert.equal(operatorOf(t, '+923001234567', 'zong'), 'zong');
  assert.equal(operatorOf(t, '+923001234567', ''), 'jazz', 'an empty ported operator is no answer');

  // Operator routes follow the ported operator; prefix routes keep the range.
  assert.deepEqual(selectRoute(t, msg('+923211234567')), { ok: true, routeId: 'to-jazz', operator: 'jazz', carriers: ['a'] });
  assert.deepEqual(selectRoute(t, msg('+923211234567', { portedOperator: 'zong' })), { ok: true, routeId: 'to-zong', operator: 'zong', carriers: ['b'] });
  assert.deepEqual(selectRoute(t, msg('+923331234567', { portedOperator: 'telenor' })), { ok: true, routeId: 'to-zong', operator: 'telenor', carriers: ['b'] });
  assert.deepEqual(selectRoute(t, msg('+923331234567', { portedOperator: 'ufone' })), { ok: true, routeId: 'default', operator: 'ufone', carriers: ['d'] });
  assert.deepEqual(selectRoute(t, msg('+923101234567', { portedOperator: 'jazz' })), { ok: true, routeId: 'to-jazz', operator: 'jazz', carriers: ['a'] });
  assert.equal(ok(selectRoute(t, msg('+923001234567', { portedOperator: 'zong' }))).routeId, 'jazz-range', 'the 9230 prefix outranks operator routes');
  assert.deepEqual(selectRoute(t, msg('+923451234567')), { ok: true, routeId: 'to-zong', operator: 'telenor', carriers: ['b'] });
  assert.deepEqual(selectRoute(t, msg('+923331234567')), { ok: true, routeId: 'default', carriers: ['d'] });
});

test('the weighted pick follows the weights at the boundaries of injected random values', () => {
  const t = table([{ id: 'r', carriers: [{ id: 'a', weight: 70 }, { id: 'b', weight: 30 }] }]);
  const first = (r: number): string | undefined => ok(selectRoute(t, msg('+923001234567'), () => r)).carriers[0];
  assert.equal(first(0), 'a');
  assert.equal(first(0.6999), 'a');
  assert.equal(first(0.7), 'b');
  assert.equal(first(0.9999), 'b');
});

test('over 10k picks the shares are within ±3% of 70/30', () => {
  const t = compileRoutes(EXAMPLE, KNOWN);
  const random = seeded(42);
  let jazz = 0;
  const n = 10_000;
  for (let i = 0; i < n; i++) {
    const s = ok(selectRoute(t, msg('+923451234567', { class: 'otp' }), random));
    if (s.carriers[0] === 'jazz') jazz++;
    assert.equal(s.carriers.length, 2);
  }
  assert.ok(Math.abs(jazz / n - 0.7) <= 0.03, `jazz share ${jazz / n}`);
});

test('candidates: the pick, then the rest by weight (ties in listed order), then failover; no duplicates', () => {
  const t = table([
    {
      id: 'r',
      carriers: [
        { id: 'a', weight: 1 },
        { id: 'b', weight: 3 },
        { id: 'c', weight: 2 },
        { id: 'd', weight: 3 },
      ],
      failover: ['f', 'e'],
    },
  ]);
  // Cumulative weights 1, 4, 6, 9 of 9.
  const carriers = (r: number): string[] => ok(selectRoute(t, msg('+923001234567'), () => r)).carriers;
  assert.deepEqual(carriers(0), ['a', 'b', 'd', 'c', 'f', 'e']);
  assert.deepEqual(carriers(2 / 9), ['b', 'd', 'c', 'a', 'f', 'e']);
  assert.deepEqual(carriers(5 / 9), ['c', 'b', 'd', 'a', 'f', 'e']);
  assert.deepEqual(carriers(8 / 9), ['d', 'b', 'c', 'a', 'f', 'e']);
  for (let i = 0; i < 50; i++) {
    const c = carriers(i / 50);
    assert.equal(new Set(c).size, c.length);
    assert.deepEqual([...c].sort(), ['a', 'b', 'c', 'd', 'e', 'f']);
  }
});

test('a route with one carrier does not consume a random number', () => {
  const t = table([{ id: 'r', carriers: [{ id: 'a' }], failover: ['b'] }]);
  let calls = 0;
  assert.deepEqual(ok(selectRoute(t, msg('+923001234567'), () => (calls++, 0.5))).carriers, ['a', 'b']);
  assert.equal(calls, 0);
});

test('the number memo stays exact past its bound: 120,000 distinct numbers, then the first ones again', () => {
  const n = (i: number): string => `0300${String(1_000_000 + i).slice(-7)}`;
  for (let i = 0; i < 120_000; i++) assert.equal((normaliseMsisdn(n(i), 'PK') as { e164: string }).e164, `+92300${String(1_000_000 + i).slice(-7)}`);
  for (let i = 0; i < 100; i++) assert.equal((normaliseMsisdn(n(i), 'PK') as { e164: string }).e164, `+92300${String(1_000_000 + i).slice(-7)}`);
  assert.deepEqual(normaliseMsisdn('021 111 111 111', 'PK'), { ok: false, reason: 'not_mobile' });
});
