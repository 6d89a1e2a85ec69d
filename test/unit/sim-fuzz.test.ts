/** The simulator's hostile PDUs (src/sim/fuzz.ts): always intact framing, seeded, every kind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer } from '../../src/smpp/framer.js';
import { HOSTILE_KINDS, HostilePdus, STRAY_SEQ_BASE } from '../../src/sim/fuzz.js';

function run(seed: number, n: number): Array<{ kind: string; bytes: Buffer }> {
  const g = new HostilePdus(seed);
  let seq = 0;
  return Array.from({ length: n }, () => g.next(() => ++seq));
}

test('10,000 hostile PDUs: each one frame of its own length, every kind, never unbind or outbind', () => {
  const pdus = run(7, 10_000);
  const framer = new Framer();
  const { frames, error } = framer.push(Buffer.concat(pdus.map((p) => p.bytes)));
  assert.equal(error, undefined);
  assert.equal(frames.length, pdus.length);
  assert.equal(framer.pendingBytes, 0);
  assert.deepEqual(new Set(pdus.map((p) => p.kind)), new Set(HOSTILE_KINDS));
  for (const { kind, bytes } of pdus) {
    const id = bytes.readUInt32BE(4);
    assert.ok(id !== 0x00000006 && id !== 0x0000000b, `${kind}: unbind/outbind`);
    if (kind === 'stray_response') {
      assert.ok((id & 0x80000000) !== 0);
      assert.ok(bytes.readUInt32BE(12) >= STRAY_SEQ_BASE, 'stray responses never collide with an ESME sequence number');
    } else assert.ok((id & 0x80000000) === 0, `${kind} is a request`);
  }
});

test('the same seed sends the same PDUs; another seed others', () => {
  const a = run(42, 500).map((p) => p.bytes.toString('hex'));
  assert.deepEqual(run(42, 500).map((p) => p.bytes.toString('hex')), a);
  assert.notDeepEqual(run(43, 500).map((p) => p.bytes.toString('hex')), a);
});
