// What a component may import, and nothing more: an empty environment, no arguments, no preopened
// directories, sockets that refuse, stdout and stderr to the host's stderr, and `wasi:http` through one guarded exit
// that admits only the tenant's origins, refuses credentials the guest sets itself, counts requests against
// the budget, and adds the tenant's token to requests for its base origin (the guest never sees it).

import { cli, clocks, filesystem, http, io, random } from '@bytecodealliance/preview2-shim';
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

class CappedStream extends InputStream {
  read(len) {
    const bytes = this.inner.read(len);
    take(this, bytes.length);
    return bytes;
  }
  blockingRead(len) {
    const bytes = this.inner.blockingRead(len);
    take(this, bytes.length);
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

/** Stops the tenant: the reason goes to the main thread, which ends the session with it. */
function stop(reason, error = { tag: 'HTTP-request-denied' }) {
  parentPort.postMessage({ kind: 'stopped', reason });
  return error;
}

/**
 * A future the guest waits on. It stands for the shim's own future (`inner`), so a request refused for an
 * expired token can be sent again, once, with a fresh one, without the guest knowing.
 */
class GuardedFuture extends FutureIncomingResponse {
  static of(inner, retry, budget) {
    return standIn(GuardedFuture, inner, { retry, budget, replaced: null });
  }

  subscribe() {
    return this.inner.subscribe();
  }

  [DISPOSE]() {
    this.inner[DISPOSE]?.();
    this.replaced?.[DISPOSE]?.();
  }

  get() {
    let answer = this.inner.get();
    const response = answer?.tag === 'ok' && answer.val.tag === 'ok' ? answer.val.val : null;
    if (response && response.status() === 401 && this.retry) {
      const again = this.retry();
      this.retry = null;
      if (again) {
        // The refused response is ours to drop; the first future is kept until the guest drops this one,
        // since the guest may still hold a pollable of it.
        response[DISPOSE]?.();
        const ready = again.subscribe();
        ready.block();
        ready[DISPOSE]?.();
        this.replaced = this.inner;
        this.inner = again;
        answer = again.get();
      }
    }
    if (answer?.tag === 'ok' && answer.val.tag === 'ok') {
      answer.val.val = standIn(CappedResponse, answer.val.val, { budget: this.budget });
    }
    return answer;
  }
}

export function sandboxImports({ policy, token, counters }) {
  const origins = policy.origins;
  const base = origins[0];

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
      const origin = originOf(request.scheme(), request.authority());
      if (!origins.includes(origin)) {
        throw stop(`the component asked for ${origin}, which is not one of the tenant's origins (${origins.join(', ')})`);
      }
      const own = request.headers().entries().map(([k]) => k.toLowerCase()).find((k) => FORBIDDEN.has(k));
      if (own) throw stop(`the component set its own ${own} header; the host owns authentication`);
      const sent = Atomics.add(counters, 0, 1) + 1;
      if (policy.maxRequests !== null && sent > policy.maxRequests) {
        throw stop(`the sync used up its budget of ${policy.maxRequests} requests`);
      }
      const budget = { read: 0, max: policy.maxResponseBytes, path: request.pathWithQuery()?.split('?')[0] ?? '/' };
      if (origin !== base || policy.auth === 'none') return GuardedFuture.of(send(request, options, null), null, budget);
      const current = token(false);
      if (current === null) throw { tag: 'HTTP-request-denied' };
      // An OAuth2 token refused: a GET is sent again with a fresh one; a request with a body cannot be, but its
      // 401 still retires the token, so the next request gets a fresh one. (A static bearer token has no other.)
      const repeatable = request.method().tag === 'get';
      const retry = policy.auth !== 'oauth2' ? null : () => {
        const fresh = token(true);
        if (fresh === null || !repeatable) return null;
        Atomics.add(counters, 0, 1);
        return send(copy(request), options, `Bearer ${fresh}`);
      };
      return GuardedFuture.of(send(request, options, `Bearer ${current}`), retry, budget);
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
    'wasi:cli/stdin': { getStdin: () => standIn(CappedStream, cli.stdin.getStdin(), { budget: { read: 0, max: Infinity, path: 'stdin' } }) },
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
