// What a component may import, and nothing more: an empty environment, no arguments, no preopened
// directories, sockets that refuse, stdout and stderr to the host's stderr, and `wasi:http` through one guarded exit
// that admits only the tenant's origins, refuses credentials the guest sets itself, counts requests against
// the budget, adds the tenant's token to requests for its base origin (the guest never sees it), and repeats
// a GET or HEAD the source throttled (429) or could not serve (503) within the tenant's retry budget.

import { cli, clocks, filesystem, http, io, random } from '@bytecodealliance/preview2-shim';
import { ANSWERED, REQUESTS, RETRIES, WAITED_MS, WINDOW } from './counters.js';
import { parentPort } from 'node:worker_threads';

const { Fields, OutgoingRequest, OutgoingBody, FutureIncomingResponse, IncomingResponse, IncomingBody } = http.types;
const { InputStream } = io.streams;
const DISPOSE = Symbol.dispose ?? Symbol.for('dispose');

/**
 * The guest's view of a response, its body and the body's stream: each stands for the shim's own object
 * (`inner`) and counts the bytes read against the response size cap, so a source cannot fill the host's
 * memory however it sends. They are made with `Object.create`, since the shim's constructors are private.
 */
function standIn(Class, inner, extra = {}) {
  return Object.assign(Object.create(Class.prototype), { inner }, extra);
}

/** Counts `count` bytes read from `stream` against its response's cap; past it, the tenant stops. */
function take(stream, count) {
  const budget = stream.budget;
  budget.read += Number(count);
  if (budget.read > budget.max) {
    throw stop(`the response to ${budget.path} was larger than the ${budget.max / 1048576} MiB the host accepts`, { tag: 'closed' });
  }
}

/**
 * Withholds a body that carries the token sent with its request (a source that echoes request headers would
 * hand the guest its credential): `bytes` are searched together with the end of the chunk before, so a token
 * split across two chunks is found too.
 */
function inspect(stream, bytes) {
  take(stream, bytes.length);
  const { credentials } = stream.budget;
  if (!credentials.length || !bytes.length) return;
  const joined = Buffer.concat([stream.budget.tail ?? Buffer.alloc(0), Buffer.from(bytes)]);
  if (credentials.some((c) => joined.includes(c))) {
    throw stop(`the response to ${stream.budget.path} carried a credential; withheld from the component`, { tag: 'closed' });
  }
  const keep = Math.max(...credentials.map((c) => c.length)) - 1;
  stream.budget.tail = joined.subarray(Math.max(0, joined.length - keep));
}

class CappedStream extends InputStream {
  read(len) {
    const bytes = this.inner.read(len);
    inspect(this, bytes);
    return bytes;
  }
  blockingRead(len) {
    const bytes = this.inner.blockingRead(len);
    inspect(this, bytes);
    return bytes;
  }
  skip(len) {
    const skipped = this.inner.skip(len);
    take(this, skipped);
    return skipped;
  }
  blockingSkip(len) {
    const skipped = this.inner.blockingSkip(len);
    take(this, skipped);
    return skipped;
  }
  subscribe() {
    return this.inner.subscribe();
  }
  [DISPOSE]() {
    this.inner[DISPOSE]?.();
  }
}

class CappedBody extends IncomingBody {
  stream() {
    return standIn(CappedStream, this.inner.stream(), { budget: this.budget });
  }
  static finish(body) {
    return IncomingBody.finish(body.inner);
  }
  [DISPOSE]() {
    this.inner[DISPOSE]?.();
  }
}

class CappedResponse extends IncomingResponse {
  status() {
    return this.inner.status();
  }
  headers() {
    return this.inner.headers();
  }
  consume() {
    return standIn(CappedBody, this.inner.consume(), { budget: this.budget });
  }
  [DISPOSE]() {
    this.inner[DISPOSE]?.();
  }
}

/** Headers a guest may not set: the host owns authentication. */
const FORBIDDEN = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** `scheme://host:port` of a request, with the scheme's default port. */
export function originOf(scheme, authority) {
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

/** Blocks this (the component's) thread for `ms`. */
function sleep(ms) {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A Retry-After header's wait in ms (delay-seconds or an HTTP date), if it has one. */
export function retryAfterMs(text, now = Date.now()) {
  const value = text?.trim() ?? '';
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const when = Date.parse(value);
  return Number.isNaN(when) ? undefined : Math.max(0, when - now);
}

/**
 * Waits for `again` and makes it `future`'s answer, dropping `response` (ours to drop). (A function, not a
 * private method: the stand-ins are made with `Object.create`, which private members refuse.)
 */
function replace(future, response, again) {
  response[DISPOSE]?.();
  const ready = again.subscribe();
  ready.block();
  ready[DISPOSE]?.();
  // The first future is kept until the guest drops this one, since the guest may still hold a pollable of it.
  future.replaced.push(future.inner);
  future.inner = again;
  return again.get();
}

/**
 * A future the guest waits on. It stands for the shim's own future (`inner`), so that a request can be sent
 * again without the guest knowing: once with a fresh token after a 401 (`retry`), and while the source throttles
 * (`repeat`, given the response and the attempt it answered).
 */
class GuardedFuture extends FutureIncomingResponse {
  static of(inner, retry, budget, repeat = null) {
    return standIn(GuardedFuture, inner, { retry, repeat, budget, replaced: [] });
  }

  subscribe() {
    return this.inner.subscribe();
  }

  [DISPOSE]() {
    this.inner[DISPOSE]?.();
    for (const old of this.replaced) old[DISPOSE]?.();
  }

  get() {
    let answer = this.inner.get();
    const responseOf = (a) => (a?.tag === 'ok' && a.val.tag === 'ok' ? a.val.val : null);
    let response = responseOf(answer);
    if (response) this.budget.observe(response.status());
    if (response && response.status() === 401 && this.retry) {
      const again = this.retry();
      this.retry = null;
      if (again) answer = replace(this, response, again);
    }
    for (let attempt = 1; this.repeat && (response = responseOf(answer)) && [429, 503].includes(response.status()); attempt++) {
      const again = this.repeat(response, attempt);
      if (!again) break;
      answer = replace(this, response, again);
      const repeated = responseOf(answer);
      if (repeated) this.budget.observe(repeated.status());
    }
    if (answer?.tag === 'ok' && answer.val.tag === 'ok') {
      const headers = answer.val.val.headers().entries();
      if (headers.some(([, value]) => this.budget.credentials.some((c) => Buffer.from(value).includes(c)))) {
        stop(`the response to ${this.budget.path} carried a credential in a header; withheld from the component`);
        return { tag: 'ok', val: { tag: 'err', val: { tag: 'internal-error', val: 'response withheld by the host' } } };
      }
      answer.val.val = standIn(CappedResponse, answer.val.val, { budget: this.budget });
    }
    return answer;
  }
}

/** A path as the segments a lenient server would route, as connector-harness reads it (`route` in
 * host-harness/src/auth.rs): percent-decoded (repeatedly), case folded, `;parameters`, empty and `.` segments
 * dropped, `..` applied. Stricter than any server, so no spelling of the token endpoint gets past. */
export function route(path) {
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

/** `counters`: the tenant's, as `counters.js` views them. */
export function sandboxImports({ policy, token, counters: { ints: counters, heldUntil, cutAt } }) {
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
   * Before repeating `request`, which the source answered with `response` (429 or 503) at `attempt`: waits as
   * its Retry-After says (or backs off), within the tenant's attempts and retry budget, holding back every
   * instance on a 429; then sends it again. `null` to give the guest the response as it is.
   */
  function repeater(request, options, authorized, budget) {
    return (response, attempt) => {
      if (attempt >= policy.maxAttempts) return null;
      const header = response.headers().get('retry-after')[0];
      const asked = header === undefined ? undefined : retryAfterMs(new TextDecoder().decode(header));
      const wait = asked ?? Math.min(30_000, 500 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      if (Atomics.load(counters, WAITED_MS) + wait > policy.maxRetryWaitMs) return null;
      Atomics.add(counters, WAITED_MS, Math.ceil(wait));
      Atomics.add(counters, RETRIES, 1);
      if (response.status() === 429) {
        const until = BigInt(Math.ceil(Date.now() + wait));
        if (Atomics.load(heldUntil, 0) < until) Atomics.store(heldUntil, 0, until);
      }
      sleep(wait);
      if (!admit()) return null;
      const authorization = authorized ? token(false) : null;
      if (authorized && authorization === null) return null;
      if (authorization) budget.credentials.push(Buffer.from(authorization));
      budget.sentAt = Date.now();
      return send(copy(request), options, authorization && `Bearer ${authorization}`);
    };
  }

  /** Sends `request` with `authorization` added (if any), through the shim. */
  function send(request, options, authorization) {
    if (authorization) {
      const headers = request.headers();
      const entries = headers.entries();
      // The guest's headers are locked; the shim reads them through `entries()` when it sends.
      headers.entries = () => [...entries, ['authorization', new TextEncoder().encode(authorization)]];
    }
    return http.outgoingHandler.handle(request, options);
  }

  /** The same bodiless request again, for a repeat after a refused token. */
  function copy(request) {
    const fresh = new OutgoingRequest(Fields.fromList(request.headers().entries().filter(([k]) => k.toLowerCase() !== 'authorization')));
    fresh.setMethod(request.method());
    fresh.setScheme(request.scheme());
    fresh.setAuthority(request.authority());
    fresh.setPathWithQuery(request.pathWithQuery());
    OutgoingBody.finish(fresh.body(), undefined);
    return fresh;
  }

  const outgoingHandler = {
    handle(request, options) {
      if (stopped) throw { tag: 'HTTP-request-denied' };
      const origin = originOf(request.scheme(), request.authority());
      if (!origins.includes(origin)) {
        throw stop(`the component asked for ${origin}, which is not one of the tenant's origins (${origins.join(', ')})`);
      }
      const path = request.pathWithQuery()?.split('?')[0] ?? '/';
      if (tokenEndpoint && origin === tokenEndpoint.origin && route(path) === tokenEndpoint.route) {
        throw stop(`egress refused: the component tried to call the token endpoint ${path} itself (authentication is the host's)`);
      }
      const own = request.headers().entries().map(([k]) => k.toLowerCase()).find((k) => FORBIDDEN.has(k));
      if (own) throw stop(`the component set its own ${own} header; the host owns authentication`);
      // A source's Retry-After holds back every instance of the tenant.
      sleep(Number(Atomics.load(heldUntil, 0)) - Date.now());
      if (!admit()) throw { tag: 'HTTP-request-denied' };
      // `credentials`: what the response must not show the guest (the token sent with the request).
      const what = `${request.method().tag.toUpperCase()} ${path}`;
      const budget = {
        read: 0, max: policy.maxResponseBytes, path, credentials: [], sentAt: Date.now(),
        // Each answer the request gets, a repeat's too, narrows or widens the tenant's window.
        observe: (status) => (status === 429 ? throttled(budget.sentAt, `${what}: HTTP 429`) : answered()),
      };
      const repeatable = ['get', 'head'].includes(request.method().tag);
      const authorized = origin === base && policy.auth !== 'none';
      const repeat = repeatable ? repeater(request, options, authorized, budget) : null;
      if (!authorized) return GuardedFuture.of(send(request, options, null), null, budget, repeat);
      const current = token(false);
      if (current === null) throw { tag: 'HTTP-request-denied' };
      budget.credentials.push(Buffer.from(current));
      // An OAuth2 token refused: a GET is sent again with a fresh one; a request with a body cannot be, but its
      // 401 still retires the token, so the next request gets a fresh one. (A static bearer token has no other.)
      const retry = policy.auth !== 'oauth2' ? null : () => {
        const fresh = token(true);
        if (fresh === null || !repeatable) return null;
        budget.credentials.push(Buffer.from(fresh));
        Atomics.add(counters, REQUESTS, 1);
        return send(copy(request), options, `Bearer ${fresh}`);
      };
      return GuardedFuture.of(send(request, options, `Bearer ${current}`), retry, budget, repeat);
    },
  };

  const denied = () => {
    throw new Error('this host gives components no such access');
  };
  // Sockets exist only to be refused, as `access-denied` (name lookups as a resolver failure).
  class Network {}
  const refuse = (code) => () => {
    throw code;
  };
  return {
    'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    'wasi:cli/exit': { exit: () => denied(), exitWithCode: () => denied() },
    'wasi:cli/stdin': { getStdin: () => standIn(CappedStream, cli.stdin.getStdin(), { budget: { read: 0, max: Infinity, path: 'stdin', credentials: [] } }) },
    'wasi:cli/stdout': { getStdout: () => cli.stderr.getStderr() },
    'wasi:cli/stderr': cli.stderr,
    'wasi:cli/terminal-input': cli.terminalInput,
    'wasi:cli/terminal-output': cli.terminalOutput,
    'wasi:cli/terminal-stdin': cli.terminalStdin,
    'wasi:cli/terminal-stdout': cli.terminalStdout,
    'wasi:cli/terminal-stderr': cli.terminalStderr,
    'wasi:clocks/monotonic-clock': clocks.monotonicClock,
    'wasi:clocks/wall-clock': clocks.wallClock,
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    'wasi:filesystem/types': filesystem.types,
    'wasi:http/outgoing-handler': outgoingHandler,
    'wasi:http/types': { ...http.types, FutureIncomingResponse: GuardedFuture, IncomingResponse: CappedResponse, IncomingBody: CappedBody },
    'wasi:io/error': io.error,
    'wasi:io/poll': io.poll,
    'wasi:io/streams': { ...io.streams, InputStream: CappedStream },
    'wasi:random/insecure-seed': random.insecureSeed,
    'wasi:random/insecure': random.insecure,
    'wasi:random/random': random.random,
    'wasi:sockets/network': { Network },
    'wasi:sockets/instance-network': { instanceNetwork: () => new Network() },
    'wasi:sockets/ip-name-lookup': { ResolveAddressStream: class ResolveAddressStream {}, resolveAddresses: refuse('permanent-resolver-failure') },
    'wasi:sockets/tcp': { TcpSocket: class TcpSocket {} },
    'wasi:sockets/tcp-create-socket': { createTcpSocket: refuse('access-denied') },
    'wasi:sockets/udp': { UdpSocket: class UdpSocket {}, IncomingDatagramStream: class IncomingDatagramStream {}, OutgoingDatagramStream: class OutgoingDatagramStream {} },
    'wasi:sockets/udp-create-socket': { createUdpSocket: refuse('access-denied') },
  };
}
