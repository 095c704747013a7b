// What src/wasi.js gives a component, called as jco's bindings call it: the host memory a guest can make the
// host hold is capped, as connector-harness caps it (host-harness/src/runtime/sandbox.rs).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { requestParts, wasiImports } from '../src/wasi.js';

const imports = wasiImports({ handle: () => assert.fail('no request in these tests'), output: () => {} });
const { Fields } = imports['wasi:http/types'];
const DISPOSE = Symbol.dispose ?? Symbol.for('dispose');

test('a guest holds at most 1,000 host resources at once, and one it drops is one less', () => {
  const held = Array.from({ length: 1000 }, () => new Fields());
  assert.throws(() => new Fields(), { message: "the component held more than 1000 host resources at once (the sandbox's cap)" });
  held.pop()[DISPOSE]();
  held.push(new Fields());
  for (const fields of held) fields[DISPOSE]();
});

test('a header set holds at most 64 KiB', () => {
  const fields = new Fields();
  fields.append('x-big', new Uint8Array(60 << 10).fill(97));
  assert.throws(() => fields.append('x-more', new Uint8Array(8 << 10).fill(97)), (e) => e.tag === 'forbidden');
  fields.delete('x-big');
  fields.append('x-more', new Uint8Array(8 << 10).fill(97));
  fields[DISPOSE]();
});

test('random bytes come at most 64 KiB a call', () => {
  const { getRandomBytes } = imports['wasi:random/random'];
  assert.equal(getRandomBytes(65536n).length, 65536);
  assert.throws(() => getRandomBytes(65537n), { message: 'the component asked for 65537 random bytes at once, more than the 65536 the sandbox gives' });
});

test('a poll waits for the first of its pollables to be ready, not for all of them', () => {
  const { subscribeDuration } = imports['wasi:clocks/monotonic-clock'];
  const { poll } = imports['wasi:io/poll'];
  const soon = subscribeDuration(20_000_000n);
  const late = subscribeDuration(5_000_000_000n);
  const started = Date.now();
  assert.deepEqual([...poll([late, soon])], [1]);
  assert.ok(Date.now() - started < 2_000, `waited ${Date.now() - started} ms`);
  soon[DISPOSE]();
  late[DISPOSE]();
});

test('a request body is kept up to 1 MiB, and past it only marked too large', () => {
  const { OutgoingRequest } = imports['wasi:http/types'];
  const request = new OutgoingRequest(new Fields());
  const stream = request.body().write();
  stream.write(new Uint8Array(1 << 20));
  assert.equal(requestParts(request).body().length, 1 << 20);
  stream.write(new Uint8Array(1));
  assert.equal(requestParts(request).body(), null);
});
