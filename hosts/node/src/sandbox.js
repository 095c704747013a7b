// What a component may import, and nothing more: an empty environment, no arguments, no preopened
// directories, sockets that refuse, stdout and stderr to the host's stderr, and `wasi:http` through one guarded exit
// that admits only the tenant's origins, refuses credentials the guest sets itself, counts requests against
// the budget, and adds the tenant's token to requests for its base origin (the guest never sees it).

import { cli, clocks, filesystem, http, io, random } from '@bytecodealliance/preview2-shim';
import { parentPort } from 'node:worker_threads';

const { Fields, OutgoingRequest, OutgoingBody, FutureIncomingResponse } = http.types;

/** Headers a guest may not set: the host owns authentication. */
const FORBIDDEN = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** `scheme://host:port` of a request, with the scheme's default port. */
export function originOf(scheme, authority) {
  const name = scheme?.tag === 'HTTP' ? 'http' : scheme?.tag === 'other' ? scheme.val.toLowerCase() : 'https';
  const [host, port] = (authority ?? '').split(':');
  return `${name}://${host.toLowerCase()}:${port ?? (name === 'http' ? 80 : 443)}`;
}

/** Stops the tenant: the reason goes to the main thread, which ends the session with it. */
function stop(reason) {
  parentPort.postMessage({ kind: 'stopped', reason });
  return { tag: 'HTTP-request-denied' };
}

/**
 * A future the guest waits on. It stands for the shim's own future (`inner`), so a request refused for an
 * expired token can be sent again, once, with a fresh one, without the guest knowing.
 */
class GuardedFuture extends FutureIncomingResponse {
  static of(inner, retry) {
    const future = Object.create(GuardedFuture.prototype);
    future.inner = inner;
    future.retry = retry;
    return future;
  }

  subscribe() {
    return this.inner.subscribe();
  }

  [Symbol.dispose ?? Symbol.for('dispose')]() {
    this.inner[Symbol.dispose ?? Symbol.for('dispose')]?.();
  }

  get() {
    const answer = this.inner.get();
    const response = answer?.tag === 'ok' && answer.val.tag === 'ok' ? answer.val.val : null;
    if (response && response.status() === 401 && this.retry) {
      const again = this.retry();
      this.retry = null;
      if (again) {
        again.subscribe().block();
        this.inner = again;
        return again.get();
      }
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
      if (origin !== base || policy.auth === 'none') return GuardedFuture.of(send(request, options, null), null);
      const current = token(false);
      if (current === null) throw { tag: 'HTTP-request-denied' };
      const repeatable = request.method().tag === 'get';
      const retry = repeatable
        ? () => {
            const fresh = token(true);
            if (fresh === null) return null;
            Atomics.add(counters, 0, 1);
            return send(copy(request), options, `Bearer ${fresh}`);
          }
        : null;
      return GuardedFuture.of(send(request, options, `Bearer ${current}`), retry);
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
    'wasi:cli/stdin': cli.stdin,
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
    'wasi:http/types': { ...http.types, FutureIncomingResponse: GuardedFuture },
    'wasi:io/error': io.error,
    'wasi:io/poll': io.poll,
    'wasi:io/streams': io.streams,
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
