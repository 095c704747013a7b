// The order in which work handed out during a sync is queued (src/sync.js), as the harness orders it.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { queueInTurns } from '../src/sync.js';

test('work handed out goes in turns with the work waiting', () => {
  const queue = ['u2', 'u3', 'u4'];
  queueInTurns(queue, ['g2', 'g3', 'g4', 'g5']);
  assert.deepEqual(queue, ['u2', 'g2', 'u3', 'g3', 'u4', 'g4', 'g5']);
  const empty = [];
  queueInTurns(empty, ['a', 'b']);
  assert.deepEqual(empty, ['a', 'b']);
});
