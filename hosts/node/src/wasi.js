// The WASI 0.2 interfaces a connector component imports, as this host gives them: an empty environment, no
// arguments, no preopened directories, sockets that refuse, stdout and stderr to the host's stderr, clocks,
// randomness, and `wasi:http`, whose requests leave only through the `handle` the sandbox gives (sandbox.js).
//
// Everything here runs on the component's thread and is synchronous: a request is answered whole (the main
// thread sends it, egress.js) before the guest reads a byte of it, so a stream or a response is always ready
// and only a clock's pollable ever waits. (preview2-shim, which does the same asynchronously, starts an I/O
// thread of its own for each component thread, and crosses to it for every read.)

import { randomBytes } from 'node:crypto';
import { validateHeaderName, validateHeaderValue } from 'node:http';

/** Blocks this thread for `ms`. */
export function sleep(ms) {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const now = () => process.hrtime.bigint();

const DISPOSE = Symbol.dispose ?? Symbol.for('dispose');

/** Host objects a guest may hold at once, as connector-harness allows (host-harness/src/runtime/sandbox.rs): each
 * is host memory that the guest's memory cap does not count. */
const MAX_HELD = 1000;
/** The largest random buffer a guest may ask for in one call (connector-harness's too). */
const MAX_RANDOM_BYTES = 64 << 10;
/** The largest header set, in bytes of names and values (connector-harness's too). */
const MAX_FIELDS_BYTES = 64 << 10;

const counted = new WeakSet();
let held = 0;

/**
 * A resource the host hands a guest, counted against `MAX_HELD` from its making until the guest drops it (jco
 * calls its dispose) or gives it back to the host (`release`). So every one is made only as it is handed over.
 */
class Held {
  constructor() {
    if (held >= MAX_HELD) throw new Error(`the component held more than ${MAX_HELD} host resources at once (the sandbox's cap)`);
    held++;
    counted.add(this);
  }
  [DISPOSE]() {
    release(this);
  }
}

/** A resource no longer the guest's: dropped, or taken by the host (a request given to `handle`, a finished body). */
export function release(resource) {
  if (counted.delete(resource)) held--;
}

// wasi:io

class IoError {
  #message;
  constructor(message) {
    this.#message = message;
  }
  toDebugString() {
    return this.#message;
  }
}

/** Ready now, or at `deadline` (monotonic ns). */
class Pollable extends Held {
  #deadline;
  constructor(deadline = 0n) {
    super();
    this.#deadline = deadline;
  }
  ready() {
    return now() >= this.#deadline;
  }
  block() {
    sleep(Math.ceil(Number(this.#deadline - now()) / 1e6));
  }
  /** The indices of `pollables` that are ready, after waiting for the first of them to be. */
  static poll(pollables) {
    const first = pollables.reduce((soonest, p) => (p.#deadline < soonest.#deadline ? p : soonest));
    first.block();
    return new Uint32Array(pollables.flatMap((p, i) => (p.ready() || p === first ? [i] : [])));
  }
}

/** A stream of bytes held whole: a response body, or an empty stdin. */
class InputStream extends Held {
  #bytes;
  #at = 0;
  constructor(bytes = new Uint8Array(0)) {
    super();
    this.#bytes = bytes;
  }
  read(len) {
    const n = Number(len);
    if (n > 0 && this.#at >= this.#bytes.length) throw { tag: 'closed' };
    const chunk = this.#bytes.subarray(this.#at, this.#at + n);
    this.#at += chunk.length;
    return chunk;
  }
  blockingRead(len) {
    return this.read(len);
  }
  skip(len) {
    return BigInt(this.read(len).length);
  }
  blockingSkip(len) {
    return this.skip(len);
  }
  subscribe() {
    return new Pollable();
  }
}

/** Bytes written go to `sink`; it never makes a writer wait. */
class OutputStream extends Held {
  static #PERMIT = 1n << 20n;
  #sink;
  constructor(sink) {
    super();
    this.#sink = sink;
  }
  checkWrite() {
    return OutputStream.#PERMIT;
  }
  write(bytes) {
    this.#sink(Uint8Array.from(bytes));
  }
  blockingWriteAndFlush(bytes) {
    this.write(bytes);
  }
  flush() {}
  blockingFlush() {}
  writeZeroes(len) {
    this.#sink(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len) {
    this.writeZeroes(len);
  }
  splice(source, len) {
    const bytes = source.read(len);
    this.write(bytes);
    return BigInt(bytes.length);
  }
  blockingSplice(source, len) {
    return this.splice(source, len);
  }
  subscribe() {
    return new Pollable();
  }
}

// wasi:http/types

/** Fields that may no longer change: a request's once it is made, a response's. */
const locked = new WeakSet();

class Fields extends Held {
  #entries = [];
  #bytes = 0;
  static fromList(entries) {
    const fields = new Fields();
    for (const [name, value] of entries) fields.append(name, value);
    return fields;
  }
  static #check(fields, name, values) {
    if (locked.has(fields)) throw { tag: 'immutable' };
    if (fields.#bytes + values.reduce((sum, v) => sum + name.length + v.length, 0) > MAX_FIELDS_BYTES) throw { tag: 'forbidden' };
    try {
      validateHeaderName(name);
      for (const value of values) validateHeaderValue(name, Buffer.from(value).toString('latin1'));
    } catch {
      throw { tag: 'invalid-syntax' };
    }
  }
  get(name) {
    const key = name.toLowerCase();
    return this.#entries.filter(([k]) => k.toLowerCase() === key).map(([, v]) => v);
  }
  has(name) {
    return this.get(name).length > 0;
  }
  set(name, values) {
    Fields.#check(this, name, values);
    this.delete(name);
    for (const value of values) this.#add(name, value);
  }
  #add(name, value) {
    this.#entries.push([name, Uint8Array.from(value)]);
    this.#bytes += name.length + value.length;
  }
  delete(name) {
    if (locked.has(this)) throw { tag: 'immutable' };
    const key = name.toLowerCase();
    this.#entries = this.#entries.filter(([k]) => k.toLowerCase() !== key);
    this.#bytes = this.#entries.reduce((sum, [k, v]) => sum + k.length + v.length, 0);
  }
  append(name, value) {
    Fields.#check(this, name, [value]);
    this.#add(name, value);
  }
  entries() {
    return this.#entries.map(([k, v]) => [k, v]);
  }
  clone() {
    return Fields.fromList(this.#entries);
  }
}

/** `fields`, locked. */
function lockedFields(entries) {
  const fields = Fields.fromList(entries);
  locked.add(fields);
  return fields;
}

/** The largest request body a guest may send, as connector-harness allows (host-harness/src/egress.rs). */
export const MAX_REQUEST_BYTES = 1 << 20;

/** What the guest wrote into a request's body: kept up to the cap, and no further (`null` past it). */
class OutgoingBody extends Held {
  #chunks = [];
  #size = 0;
  #stream = null;
  write() {
    if (this.#stream) throw undefined;
    this.#stream = new OutputStream((bytes) => {
      this.#size += bytes.length;
      if (this.#size <= MAX_REQUEST_BYTES) this.#chunks.push(bytes);
      else this.#chunks = null;
    });
    return this.#stream;
  }
  static finish(body, trailers) {
    release(body);
    release(trailers);
  }
  /** The body's bytes as written, or `null` if they passed the cap. */
  static bytes(body) {
    return body.#chunks && Buffer.concat(body.#chunks);
  }
}

class OutgoingRequest extends Held {
  #headers;
  #method = { tag: 'get' };
  #scheme;
  #authority;
  #pathWithQuery;
  #body = null;
  constructor(headers) {
    super();
    // The headers are the request's now, no longer the guest's to drop.
    release(headers);
    this.#headers = headers;
    locked.add(headers);
  }
  body() {
    if (this.#body) throw undefined;
    this.#body = new OutgoingBody();
    return this.#body;
  }
  method() {
    return this.#method;
  }
  setMethod(method) {
    if (method.tag === 'other' && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(method.val)) throw undefined;
    this.#method = method;
  }
  pathWithQuery() {
    return this.#pathWithQuery;
  }
  setPathWithQuery(path) {
    this.#pathWithQuery = path;
  }
  scheme() {
    return this.#scheme;
  }
  setScheme(scheme) {
    this.#scheme = scheme;
  }
  authority() {
    return this.#authority;
  }
  setAuthority(authority) {
    this.#authority = authority;
  }
  headers() {
    return this.#headers;
  }
  /** The bytes of its body (empty without one), or `null` if the guest wrote more than `MAX_REQUEST_BYTES`. */
  static bodyOf(request) {
    return request.#body ? OutgoingBody.bytes(request.#body) : new Uint8Array(0);
  }
}

class RequestOptions extends Held {
  #timeouts = { connect: undefined, firstByte: undefined, betweenBytes: undefined };
  connectTimeout() {
    return this.#timeouts.connect;
  }
  setConnectTimeout(duration) {
    this.#timeouts.connect = duration;
  }
  firstByteTimeout() {
    return this.#timeouts.firstByte;
  }
  setFirstByteTimeout(duration) {
    this.#timeouts.firstByte = duration;
  }
  betweenBytesTimeout() {
    return this.#timeouts.betweenBytes;
  }
  setBetweenBytesTimeout(duration) {
    this.#timeouts.betweenBytes = duration;
  }
}

class IncomingBody extends Held {
  #bytes;
  constructor(bytes) {
    super();
    this.#bytes = bytes;
  }
  stream() {
    if (this.#bytes === null) throw undefined;
    const stream = new InputStream(this.#bytes);
    this.#bytes = null;
    return stream;
  }
  static finish(body) {
    release(body);
    return new FutureTrailers();
  }
}

class FutureTrailers extends Held {
  subscribe() {
    return new Pollable();
  }
  get() {
    return { tag: 'ok', val: { tag: 'ok', val: undefined } };
  }
}

class IncomingResponse extends Held {
  #status;
  #headers;
  #body;
  constructor({ status, headers, body }) {
    super();
    this.#status = status;
    this.#headers = headers;
    this.#body = body;
  }
  status() {
    return this.#status;
  }
  headers() {
    return lockedFields(this.#headers);
  }
  consume() {
    if (this.#body === null) throw undefined;
    const body = new IncomingBody(this.#body);
    this.#body = null;
    return body;
  }
}

/**
 * A response to come: `answer()` sends the request when the guest first waits for it (its body written by then),
 * and gives `{ tag: 'ok', val: { status, headers, body } }` or `{ tag: 'err', val: error-code }`.
 */
export class FutureIncomingResponse extends Held {
  #answer;
  #result;
  #taken = false;
  constructor(answer) {
    super();
    this.#answer = answer;
  }
  #settle() {
    this.#result ??= this.#answer();
  }
  subscribe() {
    this.#settle();
    return new Pollable();
  }
  get() {
    this.#settle();
    if (this.#taken) return { tag: 'err', val: undefined };
    this.#taken = true;
    const result = this.#result;
    return { tag: 'ok', val: result.tag === 'ok' ? { tag: 'ok', val: new IncomingResponse(result.val) } : result };
  }
}

const http = { Fields, OutgoingRequest, OutgoingBody, RequestOptions, FutureIncomingResponse, IncomingResponse, IncomingBody, FutureTrailers };

/** The parts of a request that `handle` checks and sends. */
export function requestParts(request) {
  return {
    method: request.method(),
    scheme: request.scheme(),
    authority: request.authority(),
    pathWithQuery: request.pathWithQuery() ?? '/',
    headers: request.headers().entries(),
    body: () => OutgoingRequest.bodyOf(request),
  };
}

/**
 * The imports of a connector component, `handle` its one way out (`wasi:http/outgoing-handler`), `output` where
 * its stdout and stderr go.
 */
export function wasiImports({ handle, output }) {
  const denied = () => {
    throw new Error('this host gives components no such access');
  };
  const refuse = (code) => () => {
    throw code;
  };
  class Network {}
  class TerminalInput {}
  class TerminalOutput {}
  const seed = () => randomBytes(8).readBigUInt64LE();
  const bytes = (len) => {
    if (len > MAX_RANDOM_BYTES) throw new Error(`the component asked for ${len} random bytes at once, more than the ${MAX_RANDOM_BYTES} the sandbox gives`);
    return new Uint8Array(randomBytes(Number(len)));
  };
  return {
    'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    'wasi:cli/exit': { exit: denied, exitWithCode: denied },
    'wasi:cli/stdin': { getStdin: () => new InputStream() },
    'wasi:cli/stdout': { getStdout: () => new OutputStream(output) },
    'wasi:cli/stderr': { getStderr: () => new OutputStream(output) },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:clocks/monotonic-clock': {
      now,
      resolution: () => 1n,
      subscribeInstant: (when) => new Pollable(when),
      subscribeDuration: (duration) => new Pollable(now() + duration),
    },
    'wasi:clocks/wall-clock': {
      now: () => {
        const ms = Date.now();
        return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1e6 };
      },
      resolution: () => ({ seconds: 0n, nanoseconds: 1e6 }),
    },
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    'wasi:filesystem/types': { Descriptor: class Descriptor {}, DirectoryEntryStream: class DirectoryEntryStream {}, filesystemErrorCode: () => undefined },
    'wasi:http/outgoing-handler': { handle },
    'wasi:http/types': { ...http, httpErrorCode: () => undefined },
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll: Pollable.poll },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:random/insecure-seed': { insecureSeed: () => [seed(), seed()] },
    'wasi:random/insecure': { getInsecureRandomBytes: bytes, getInsecureRandomU64: seed },
    'wasi:random/random': { getRandomBytes: bytes, getRandomU64: seed },
    // Sockets exist only to be refused, as `access-denied` (name lookups as a resolver failure).
    'wasi:sockets/network': { Network },
    'wasi:sockets/instance-network': { instanceNetwork: () => new Network() },
    'wasi:sockets/ip-name-lookup': { ResolveAddressStream: class ResolveAddressStream {}, resolveAddresses: refuse('permanent-resolver-failure') },
    'wasi:sockets/tcp': { TcpSocket: class TcpSocket {} },
    'wasi:sockets/tcp-create-socket': { createTcpSocket: refuse('access-denied') },
    'wasi:sockets/udp': { UdpSocket: class UdpSocket {}, IncomingDatagramStream: class IncomingDatagramStream {}, OutgoingDatagramStream: class OutgoingDatagramStream {} },
    'wasi:sockets/udp-create-socket': { createUdpSocket: refuse('access-denied') },
  };
}
