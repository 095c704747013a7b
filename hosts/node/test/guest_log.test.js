// A guest's output as the host shows it (src/guest_log.js): whole lines, prefixed and escaped, up to the cap.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GuestLog } from '../src/guest_log.js';

test('lines are prefixed and escaped, a character split across writes stays whole, and the cap holds', () => {
  const lines = [];
  const log = new GuestLog(32, (line) => lines.push(line));
  const bytes = Buffer.from('é\u001b[2J forged\nsecond');
  log.write(bytes.subarray(0, 1)); // half of the é
  log.write(bytes.subarray(1));
  assert.deepEqual(lines, ['[component] é\\u{1b}[2J forged']);
  log.flush();
  assert.deepEqual(lines.slice(1), ['[component] second']);
  log.write(Buffer.from('x'.repeat(40)));
  log.flush();
  // 32 bytes in all: 20 kept before, 12 now, 28 dropped.
  assert.deepEqual(lines.slice(2), ['[component] xxxxxxxxxxxx', '[component] [28 more bytes dropped: the guest log is capped at 0 KiB]']);
});
