// A tenant's counters, in one SharedArrayBuffer shared by its instances' threads (`sandbox.js`) and the main
// thread (`connector.js`, `sync.js`), so that a budget, a source's Retry-After and a throttled window hold for
// every instance at once.

/** Int32 slots: requests sent (token requests included), retries made, ms waited for them, calls allowed at
 * once (0 until the session sets it), and requests answered since that last changed. */
export const REQUESTS = 0;
export const RETRIES = 1;
export const WAITED_MS = 2;
export const WINDOW = 3;
export const ANSWERED = 4;

export function tenantCounters() {
  return new SharedArrayBuffer(40);
}

/** The buffer's views: `ints` (the slots above); `heldUntil`, before which no request leaves, and `cutAt`, when
 * the window was last cut (both ms since the epoch). */
export function views(buffer) {
  return { ints: new Int32Array(buffer, 0, 6), heldUntil: new BigInt64Array(buffer, 24, 1), cutAt: new BigInt64Array(buffer, 32, 1) };
}
