/**
 * Limited retention against a real redis-server: the retention sweeper trims the events,
 * MO and dead-letter streams by age (each by its own retention.*Sec, to whole macro-nodes),
 * the access log and the audit stream exactly — and the audit stream never past its newest
 * entry, so its chain and head still verify.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AuditLog } from '../../src/admin/audit.js';
import { captureLogger } from '../../src/log/logger.js';
import { RetentionSweeper } from '../../src/privacy/retention.js';
import { Vault } from '../../src/privacy/vault.js';
import { AccessStream } from '../../src/queue/access.js';
import { keysFor } from '../../src/queue/keys.js';
import { Outputs } from '../../src/queue/outputs.js';
import { redisClientForFile } from '../helpers/redis.js';

const redis = redisClientForFile();

const DAY = 86_400_000;

test('each stream is trimmed by its own age; what is younger stays; the audit chain still verifies', async () => {
  const r = redis.client;
  const keys = keysFor(`t${randomBytes(4).toString('hex')}`);
  const { logger } = captureLogger('warn');
  // One routed MO stream (mo.routes), trimmed with the default one.
  const outputs = new Outputs(r, keys, 1_000_000, Vault.ephemeral(), {}, ['acme']);
  const access = new AccessStream(r, keys.access, { maxLen: 1_000_000, logger });
  const audit = new AuditLog(r, keys.audit, { headKey: keys.auditHead });
  const now = Date.now();
  // 300 entries 40 days old and 5 from now in each output stream and the access log (ids carry the time).
  for (const key of [keys.events, keys.mo, keys.moStream('acme'), keys.dead, keys.access]) {
    const p = r.pipeline();
    for (let i = 0; i < 300; i++) p.xadd(key, `${now - 40 * DAY + i}-0`, 'data', '{}');
    for (let i = 0; i < 5; i++) p.xadd(key, `${now + i}-0`, 'data', '{}');
    await p.exec();
  }
  for (let i = 0; i < 3; i++) await audit.append({ actor: 'a', role: 'admin', action: 'carrier.pause', target: `c${i}` });
  const sweeper = new RetentionSweeper(
    { trim: (stream, age, at) => (stream === 'access' ? access.trimByAge(age, at) : outputs.trimByAge(stream, age, at)), trimAudit: (age, at) => audit.trimOlderThan(age, at) },
    // Events and MO 7 days, dead letters 60 (so theirs stay), the access log 7 days, the audit trail 1 s.
    { eventsSec: 7 * 86_400, moSec: 7 * 86_400, deadSec: 60 * 86_400, auditSec: 1, accessSec: 7 * 86_400, sweepSec: 60 },
    logger,
  );
  const removed = await sweeper.sweep(now + 60_000);
  const left = async (key: string): Promise<{ old: number; fresh: number }> => {
    const ids = (await r.xrange(key, '-', '+')).map(([id]) => Number(id.split('-')[0]));
    return { old: ids.filter((t) => t < now - DAY).length, fresh: ids.filter((t) => t >= now).length };
  };
  for (const key of [keys.events, keys.mo, keys.moStream('acme')]) {
    const l = await left(key);
    // Approximate (MINID ~): whole macro-nodes of 100 go; at most one node of old entries outlives its age.
    assert.ok(l.old < 100 && l.fresh === 5, `${key}: ${JSON.stringify(l)}`);
  }
  assert.deepEqual(await left(keys.dead), { old: 300, fresh: 5 }, 'dead letters are kept their own, longer time');
  assert.deepEqual(await left(keys.access), { old: 0, fresh: 5 }, 'the access log is trimmed exactly');
  assert.ok((removed.events ?? 0) >= 200 && (removed.mo ?? 0) >= 400 && removed.dead === 0 && removed.access === 300, JSON.stringify(removed));
  // The audit trail: every entry is older than 1 s at the sweep's time, but the newest (the head) stays.
  assert.equal(removed.audit, 2);
  assert.equal((await audit.range()).length, 1);
  const v = await audit.verify();
  assert.ok(v.ok && v.entries === 1, JSON.stringify(v));
});
