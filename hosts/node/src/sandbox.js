// The one way out of a component: `wasi:http/outgoing-handler`'s `handle`, guarded. It admits only the tenant's
// origins, refuses credentials the guest sets itself and the tenant's token endpoint in any spelling, counts
// requests against the budget, adds the tenant's token to requests for its base origin (the guest never sees
// it), repeats a GET or HEAD the source throttled (429) or could not serve (503) within the tenant's retry
// budget, and withholds a response that is too large or that shows the token. The request itself is sent by
// the main thread (`exchange`, egress.js); the rest of what a component imports is wasi.js's.

import { parentPort } from 'node:worker_threads';

import { ANSWERED, REQUESTS, RETRIES, WAITED_MS, WINDOW } from './counters.js';
import { FutureIncomingResponse, MAX_REQUEST_BYTES, release, requestParts, sleep, wasiImports } from './wasi.js';

/** Headers a guest may not set: the host owns authentication. */
const FORBIDDEN = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** `scheme://host:port` of a request, with the scheme's default port. */
function originOf(scheme, authority) {
  const name = scheme?.tag === 'HTTP' ? 'http' : scheme?.tag === 'other' ? scheme.val.toLowerCase() : 'https';
  const [host, port] = (authority ?? '').split(':');
  return `${name}://${host.toLowerCase()}:${port ?? (name === 'http' ? 80 : 443)}`;
}

/** Whether this thread's instance has been stopped: it sends nothing more (wit/HOSTS.md §2). */
let stopped = false;

/** Stops the tenant: the reason goes to the main thread, which ends the session with it. */
function stop(reason, error = { tag: 'HTTP-request-denied' }) {
  stopped = true;
  parentPort.postMessage({ kind: 'stopped', reason });
  return error;
}

/** A Retry-After header's wait in ms (delay-seconds or an HTTP date), if it has one. */
function retryAfterMs(text, now = Date.now()) {
  const value = text?.trim() ?? '';
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const when = Date.parse(value);
  return Number.isNaN(when) ? undefined : Math.max(0, when - now);
}

/** A path as the segments a lenient server would route, as connector-harness reads it (`route` in
 * host-harness/src/auth.rs): percent-decoded (repeatedly), case folded, `;parameters`, empty and `.` segments
 * dropped, `..` applied. Stricter than any server, so no spelling of the token endpoint gets past. */
function route(path) {
  let text = path;
  for (let i = 0; i < 4; i++) {
    const decoded = text.replace(/%([0-9a-fA-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
    if (decoded === text) break;
    text = decoded;
  }
  const segments = [];
  for (const segment of text.toLowerCase().split(/[/\\]/)) {
    const name = segment.split(';')[0];
    if (name === '' || name === '.') continue;
    if (name === '..') segments.pop();
    else segments.push(name);
  }
  return segments.join('/');
}

/** The header's values in `headers` (`[name, bytes]` pairs), as text. */
function valuesOf(headers, name) {
  return headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => Buffer.from(v).toString('latin1'));
}

/**
 * What a component imports, its HTTP exit guarded. `token(stale)` asks the main thread for the tenant's token (a
 * fresh one after `stale`); `exchange(request)` has the main thread send a request and answers it whole;
 * `output(bytes)` takes what the guest prints; `counters`: the tenant's, as `counters.js` views them.
 */
export function sandboxImports({ policy, token, exchange, output, counters: { ints: counters, heldUntil, cutAt } }) {
  const origins = policy.origins;
  const base = origins[0];

  /**
   * The source throttled a request sent at `sentAt` (`what` names it): half as many calls at once for the
   * tenant, unless the window was cut after that request left (one burst of 429s cuts it once).
   */
  function throttled(sentAt, what) {
    const before = Atomics.load(counters, WINDOW);
    if (before <= 1 || sentAt < Number(Atomics.load(cutAt, 0))) return;
    const after = Math.max(1, Math.floor(before / 2));
    if (Atomics.compareExchange(counters, WINDOW, before, after) !== before) return;
    Atomics.store(cutAt, 0, BigInt(Date.now()));
    Atomics.store(counters, ANSWERED, 0);
    parentPort.postMessage({ kind: 'log', line: `${what}: slowing down from ${before} to ${after} calls at once` });
  }

  /** A request answered without throttling: after a window's worth of them, one more call at once. */
  function answered() {
    const window = Atomics.load(counters, WINDOW);
    if (window >= policy.widest) return;
    if (Atomics.add(counters, ANSWERED, 1) + 1 >= window) {
      Atomics.store(counters, ANSWERED, 0);
      Atomics.compareExchange(counters, WINDOW, window, window + 1);
    }
  }
  const tokenEndpoint = policy.tokenUrl === null ? null : (() => {
    const url = new URL(policy.tokenUrl);
    return { origin: originOf({ tag: url.protocol === 'http:' ? 'HTTP' : 'HTTPS' }, url.port ? `${url.hostname}:${url.port}` : url.hostname), route: route(url.pathname) };
  })();

  /** Counts a request against the budget; false (and the tenant stopped) past it. */
  function admit() {
    const sent = Atomics.add(counters, REQUESTS, 1) + 1;
    if (policy.maxRequests !== null && sent > policy.maxRequests) {
      stop(`the sync used up its budget of ${policy.maxRequests} requests`);
      return false;
    }
    return true;
  }

  /**
   * How long to wait before repeating a request the source answered with `response` (429 or 503) at `attempt`:
   * as its Retry-After says (or backing off), within the tenant's attempts and retry budget, holding back every
   * instance on a 429. `null` to give the guest the response as it is.
   */
  function repeatWait(response, attempt) {
    if (attempt >= policy.maxAttempts) return null;
    const header = valuesOf(response.headers, 'retry-after')[0];
    const wait = retryAfterMs(header) ?? Math.min(30_000, 500 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    if (Atomics.load(counters, WAITED_MS) + wait > policy.maxRetryWaitMs) return null;
    Atomics.add(counters, WAITED_MS, Math.ceil(wait));
    Atomics.add(counters, RETRIES, 1);
    if (response.status === 429) {
      const until = BigInt(Math.ceil(Date.now() + wait));
      if (Atomics.load(heldUntil, 0) < until) Atomics.store(heldUntil, 0, until);
    }
    return wait;
  }

  /**
   * The answer to an admitted request (`parts`, as `requestParts` gives them), sent with `current` (the token,
   * for the base origin): `{ tag: 'ok', val: { status, headers, body } }` or `{ tag: 'err', val: error-code }`.
   */
  function answer(parts, options, path, current) {
    const what = `${parts.method.tag.toUpperCase()} ${path}`;
    // What the response must not show the guest: every token sent with the request.
    const credentials = current === null ? [] : [Buffer.from(current)];
    const repeatable = ['get', 'head'].includes(parts.method.tag);
    const request = {
      method: parts.method.tag === 'other' ? parts.method.val : parts.method.tag.toUpperCase(),
      url: `${originOf(parts.scheme, parts.authority)}${parts.pathWithQuery}`,
      body: parts.body(),
      // What the guest asked for, in ns; the main thread keeps them within the host's (egress.js).
      timeouts: { connect: options?.connectTimeout(), firstByte: options?.firstByteTimeout(), betweenBytes: options?.betweenBytesTimeout() },
      maxBytes: policy.maxResponseBytes,
    };
    if (request.body === null) return { tag: 'err', val: { tag: 'HTTP-request-body-size', val: BigInt(MAX_REQUEST_BYTES) } };
    let sentAt = Date.now();
    const send = (authorization) => {
      sentAt = Date.now();
      const headers = authorization === null ? parts.headers : [...parts.headers, ['authorization', Buffer.from(`Bearer ${authorization}`)]];
      // A copy each time: the request's bytes move to the main thread.
      const response = exchange({ ...request, headers, body: new Uint8Array(request.body) });
      // Each answer the request gets, a repeat's too, narrows or widens the tenant's window.
      if (response.status !== undefined) (response.status === 429 ? throttled(sentAt, `${what}: HTTP 429`) : answered());
      return response;
    };
    let response = send(current);
    // An OAuth2 token refused: a GET is sent again with a fresh one; a request with a body cannot be, but its
    // 401 still retires the token, so the next request gets a fresh one. (A static bearer token has no other.)
    if (response.status === 401 && current !== null && policy.auth === 'oauth2') {
      const fresh = token(true);
      if (fresh !== null && repeatable) {
        credentials.push(Buffer.from(fresh));
        Atomics.add(counters, REQUESTS, 1);
        response = send(fresh);
      }
    }
    for (let attempt = 1; repeatable && [429, 503].includes(response.status); attempt++) {
      const wait = repeatWait(response, attempt);
      if (wait === null) break;
      sleep(wait);
      if (!admit()) break;
      const again = current === null ? null : token(false);
      if (current !== null && again === null) break;
      if (again !== null) credentials.push(Buffer.from(again));
      response = send(again);
    }
    if (response.error) return { tag: 'err', val: response.error };
    if (response.tooLarge) {
      stop(`the response to ${path} was larger than the ${policy.maxResponseBytes / 1048576} MiB the host accepts`);
      return { tag: 'err', val: { tag: 'HTTP-response-body-size', val: BigInt(policy.maxResponseBytes) } };
    }
    // (A view of the bytes, not a copy: a body may be megabytes.)
    const shows = (bytes) => credentials.some((c) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(c));
    const withheld = { tag: 'err', val: { tag: 'internal-error', val: 'response withheld by the host' } };
    if (response.headers.some(([, value]) => shows(value))) {
      stop(`the response to ${path} carried a credential in a header; withheld from the component`);
      return withheld;
    }
    if (shows(response.body)) {
      stop(`the response to ${path} carried a credential; withheld from the component`);
      return withheld;
    }
    return { tag: 'ok', val: response };
  }

  function handle(request, options) {
    // Both are the host's now, whatever it answers.
    release(request);
    release(options);
    if (stopped) throw { tag: 'HTTP-request-denied' };
    const parts = requestParts(request);
    const origin = originOf(parts.scheme, parts.authority);
    if (!origins.includes(origin)) {
      throw stop(`the component asked for ${origin}, which is not one of the tenant's origins (${origins.join(', ')})`);
    }
    const path = parts.pathWithQuery.split('?')[0];
    if (tokenEndpoint && origin === tokenEndpoint.origin && route(path) === tokenEndpoint.route) {
      throw stop(`egress refused: the component tried to call the token endpoint ${path} itself (authentication is the host's)`);
    }
    const own = parts.headers.map(([k]) => k.toLowerCase()).find((k) => FORBIDDEN.has(k));
    if (own) throw stop(`the component set its own ${own} header; the host owns authentication`);
    // A source's Retry-After holds back every instance of the tenant.
    sleep(Number(Atomics.load(heldUntil, 0)) - Date.now());
    if (!admit()) throw { tag: 'HTTP-request-denied' };
    const authorized = origin === base && policy.auth !== 'none';
    const current = authorized ? token(false) : null;
    if (authorized && current === null) throw { tag: 'HTTP-request-denied' };
    // Sent when the guest first waits for the response: its body is written by then.
    return new FutureIncomingResponse(() => answer(parts, options, path, current));
  }

  return wasiImports({ handle, output });
}
