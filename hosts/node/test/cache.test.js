// The transpile cache (src/connector.js): code in it runs as a component's bindings, so a directory another user
// could write to is refused; what a component's `metadata` says is kept there, so a second load asks no thread.

import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deserialize, serialize } from 'node:v8';

import { Connector } from '../src/connector.js';

const component = process.env.CONNECTOR_COMPONENT;

test('a cache directory others may write to is refused before anything is read from it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'connector-node-cache-test-'));
  try {
    await chmod(dir, 0o777);
    await assert.rejects(Connector.load(new URL('../package.json', import.meta.url).pathname, { cacheDir: dir }), {
      kind: 'invalid-config',
      message: `the cache directory ${dir} is owned by uid ${process.getuid()} with mode 777; it must be this user's alone (remove it, or choose another)`,
    });
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a component loaded twice is asked for its metadata once', { skip: component === undefined && 'CONNECTOR_COMPONENT is not set' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'connector-node-cache-test-'));
  try {
    const first = await Connector.load(component, { cacheDir: dir });
    // What the second load finds kept is marked, so that its metadata shows where it came from.
    const [hash] = await readdir(dir);
    const kept = join(dir, hash, 'metadata.v8');
    await writeFile(kept, serialize({ ...deserialize(await readFile(kept)), description: 'kept' }));
    const second = await Connector.load(component, { cacheDir: dir });
    assert.deepEqual(second.metadata(), { ...first.metadata(), description: 'kept' });
    assert.equal(second.contract, first.contract);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
