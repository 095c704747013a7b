// A connector component loaded for one tenant: transpiled once by jco (cached by the component's hash), run
// on a worker thread of its own, called with a deadline per call, a request budget, and the host's retries.

import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { MessageChannel, Worker } from 'node:worker_threads';

import { Authenticator } from './auth.js';
import { REQUESTS, RETRIES, WAITED_MS, WINDOW, tenantCounters, views } from './counters.js';
import { contractVersion, grantPageOf, metadataOf, resourcePageOf } from './contract.js';
import { send } from './egress.js';
import { ConnectorError, HostError } from './errors.js';
import { fieldsRefusal, refusal } from './grants.js';
import { resolveTenant } from './tenant.js';

const NAME = 'connector';

/** Limits of a session, with this host's defaults (the same as `connector-harness`'s). */
export const DEFAULT_LIMITS = { callTimeoutMs: 300_000, maxRequests: null, maxAttempts: 6, maxRetryWaitMs: 300_000, memoryMib: 256, maxResponseMib: 64, logKib: 64, concurrency: 4 };

/**
 * What a component's thread enforces (`sandbox.js`, `memory.js`): the tenant's origins, how it authenticates
 * (`auth`: the plan's kind) and where its token endpoint is (which the component may never reach), and `limits`.
 */
function policyOf(origins, auth, limits, tokenUrl = null) {
  const { maxRequests, maxAttempts, maxRetryWaitMs } = limits;
  // `widest`: the most calls at once, which a throttled window grows back to.
  const widest = Math.max(1, Math.min(32, limits.concurrency));
  return { origins, auth, tokenUrl, maxRequests, maxAttempts, maxRetryWaitMs, widest, memoryBytes: limits.memoryMib * 1048576, maxResponseBytes: limits.maxResponseMib * 1048576, logBytes: limits.logKib * 1024 };
}


/** What jco's transpile lists of a component's exports is kept beside its output, to read its contract version. */
const EXPORTS = 'exports.json';

/** And what the component's `metadata` says: it depends on the component alone, and asking costs a thread. */
const METADATA = 'metadata.v8';

/**
 * Makes `cacheDir` if need be, and refuses it unless it is this user's alone: the code cached in it runs as the
 * component's bindings, so no one else may be able to write there (the default is under the shared tmpdir).
 */
async function ownCacheDir(cacheDir) {
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  const stat = await lstat(cacheDir);
  if (!stat.isDirectory() || stat.uid !== (process.getuid?.() ?? stat.uid) || (stat.mode & 0o022) !== 0) {
    const what = stat.isDirectory() ? `owned by uid ${stat.uid} with mode ${(stat.mode & 0o777).toString(8)}` : 'not a directory';
    throw new HostError('invalid-config', `the cache directory ${cacheDir} is ${what}; it must be this user's alone (remove it, or choose another)`);
  }
}

/** Writes `content` to `path` whole or not at all (another process may be reading the same cache). */
async function writeWhole(path, content) {
  const staging = `${path}.${process.pid}.tmp`;
  await writeFile(staging, content);
  await rename(staging, path);
}

/**
 * Transpiles `bytes` into `cacheDir/<sha256>/` unless it is there already: `{ dir, exports }`, the directory and
 * the component's exports (`[name, kind]`).
 */
async function transpiled(bytes, cacheDir) {
  await ownCacheDir(cacheDir);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const dir = join(cacheDir, sha256);
  try {
    await readFile(join(dir, `${NAME}.js`));
    return { dir, exports: JSON.parse(await readFile(join(dir, EXPORTS), 'utf8')) };
  } catch {
    // Not cached yet (or cached before the exports were kept).
  }
  // jco's transpiler is loaded only to transpile: it is a compiler, with its own components and native modules.
  // Errors stay wrapped (`payload`), as worker.js reads them.
  const { transpileBytes } = await import('@bytecodealliance/jco-transpile');
  const { files, exports } = await transpileBytes(bytes, { name: NAME, instantiation: 'async', emitTypescriptDeclarations: false, noComponentErrorWrapping: false });
  const staging = `${dir}.${process.pid}.tmp`;
  await rm(staging, { recursive: true, force: true });
  for (const [file, content] of [...Object.entries(files), [EXPORTS, JSON.stringify(exports)]]) {
    await mkdir(dirname(join(staging, file)), { recursive: true });
    await writeFile(join(staging, file), content);
  }
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir).catch(async () => rm(staging, { recursive: true, force: true }));
  return { dir, exports };
}

/** One instance of a component on its own thread. */
class Instance {
  #worker;
  #calls = new Map();
  #next = 0;
  #auth;
  #shared;
  /** The tenant's shared state: why the sandbox stopped it, if it did (one instance's breach stops all). */
  #tenant;
  /** Why the instance is gone (its thread ended), if it is: later calls fail at once with it. */
  #gone = null;
  /** Where the thread asks for a token or has a request sent (egress.js), and how requests in flight are abandoned. */
  #questions;
  #abandon = new AbortController();

  /** `counters`: the tenant's request count, shared by all its instances; `tenant`: where a stop is kept for all. */
  static async start(dir, policy, auth, counters = tenantCounters(), tenant = { stopped: null }) {
    const instance = new Instance();
    instance.#auth = auth;
    instance.#tenant = tenant;
    // `answered`: the word the thread waits on while the main thread answers it.
    instance.#shared = { answered: new SharedArrayBuffer(4), counters };
    const { port1, port2 } = new MessageChannel();
    instance.#questions = port1;
    port1.on('message', (question) => instance.#answer(question));
    // No environment, no argv, no stdin for the component's thread.
    instance.#worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { dir, name: NAME, policy, shared: instance.#shared, questions: port2 },
      transferList: [port2],
      env: {},
      argv: [],
      stdin: false,
    });
    await new Promise((resolve, reject) => {
      instance.#worker.once('error', (e) => reject(new HostError('trap', `the component could not be instantiated: ${e.message}`)));
      instance.#worker.on('message', (message) => {
        if (message.kind === 'ready') resolve();
        else instance.#message(message);
      });
    });
    instance.#worker.on('error', (e) => instance.#fail(new HostError('trap', `the component crashed: ${e.message}`)));
    instance.#worker.on('exit', () => instance.#fail(new HostError('trap', 'the component thread ended')));
    return instance;
  }

  /** Requests sent so far: the component's, and the token requests made for it. */
  get requests() {
    return Atomics.load(views(this.#shared.counters).ints, REQUESTS);
  }

  #message(message) {
    if (message.kind === 'log') {
      process.stderr.write(`${message.line}\n`);
    } else if (message.kind === 'stopped') {
      this.#tenant.stopped ??= message.reason;
    } else if (message.kind === 'answer') {
      const pending = this.#calls.get(message.id);
      this.#calls.delete(message.id);
      pending?.settle(message);
    }
  }

  /**
   * Answers what the component's thread asks while it waits (worker.js, `ask`): the tenant's token (a fresh one
   * after `stale`, `null` if there is none), or the response to a request the sandbox admitted.
   */
  async #answer({ kind, stale, request }) {
    let reply;
    let transfer = [];
    if (kind === 'token') {
      // Token requests count against the budget too.
      const before = this.#auth.requests;
      reply = await this.#auth.token(stale);
      Atomics.add(views(this.#shared.counters).ints, REQUESTS, this.#auth.requests - before);
    } else {
      reply = await send(request, this.#abandon.signal);
      if (reply.body) transfer = [reply.body.buffer];
    }
    this.#questions.postMessage(reply, transfer);
    const answered = new Int32Array(this.#shared.answered);
    Atomics.store(answered, 0, 1);
    Atomics.notify(answered, 0);
  }

  #fail(error) {
    this.#gone ??= error;
    this.#end();
    for (const pending of this.#calls.values()) pending.settle({ thrown: error });
    this.#calls.clear();
  }

  /**
   * One call into the guest, answered or abandoned after `timeoutMs` (the thread is then ended). With `render`,
   * a page comes back `rendered` (`lines.js`).
   */
  call(op, args, timeoutMs, render = false) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      if (this.#gone) {
        reject(this.#gone);
        return;
      }
      const timer = setTimeout(() => {
        const error = new HostError('timeout', `${op} ran past its ${timeoutMs / 1000} s deadline; the component was stopped`);
        this.#gone = error;
        this.#calls.delete(id);
        this.#end();
        this.#worker.terminate();
        reject(error);
      }, timeoutMs);
      this.#calls.set(id, {
        settle: (message) => {
          clearTimeout(timer);
          if (message.thrown) reject(message.thrown);
          else if (this.#tenant.stopped) reject(new HostError('egress-denied', this.#tenant.stopped));
          else if ('ok' in message) resolve(message.ok);
          else if (message.error) reject(ConnectorError.of(message.error));
          else reject(new HostError('trap', `the component trapped in ${op}: ${message.trap}`));
        },
      });
      this.#worker.postMessage({ id, op, args, render });
    });
  }

  /** Abandons the requests in flight for the thread, and takes no more. */
  #end() {
    this.#abandon.abort();
    this.#questions.close();
  }

  close() {
    this.#end();
    return this.#worker.terminate();
  }
}

/** Asks the component in `dir` for its metadata, on a thread of its own, and keeps the answer beside it. */
async function probed(dir) {
  // `metadata` needs no network: no origin, no request.
  const policy = policyOf([], 'none', { ...DEFAULT_LIMITS, maxRequests: 0, maxResponseMib: 0 });
  const probe = await Instance.start(dir, policy, new Authenticator({ kind: 'none' }));
  try {
    const raw = await probe.call('metadata', [], DEFAULT_LIMITS.callTimeoutMs);
    await writeWhole(join(dir, METADATA), serialize(raw));
    return raw;
  } finally {
    await probe.close();
  }
}

/**
 * A connector component. `Connector.load(path)` reads and transpiles it; `metadata()` says what it is and
 * needs; `open(tenant)` checks a tenant's config and credentials against that and returns a session.
 */
export class Connector {
  #dir;
  #metadata;

  /** The contract version the component exports (`0.5.0`). */
  contract;

  static async load(path, { cacheDir = join(tmpdir(), 'connector-node-cache') } = {}) {
    const connector = new Connector();
    const { dir, exports } = await transpiled(await readFile(path), cacheDir);
    try {
      connector.contract = contractVersion(exports);
    } catch (e) {
      throw new HostError(e.kind, `${path} is not usable: ${e.message}`);
    }
    connector.#dir = dir;
    const kept = await readFile(join(dir, METADATA)).then(deserialize).catch(() => null);
    connector.#metadata = metadataOf(kept ?? (await probed(dir)));
    return connector;
  }

  metadata() {
    return this.#metadata;
  }

  /**
   * A session with one tenant: `config` its non-secret values, `secrets` the secret ones (kept here, never
   * given to the component), `provisioning` whether writes are allowed, `limits` over `DEFAULT_LIMITS`.
   */
  async open({ config = {}, secrets = {}, provisioning = false, limits = {} } = {}) {
    const tenant = resolveTenant(this.#metadata, config, secrets);
    const auth = new Authenticator(tenant.auth);
    const settings = { ...DEFAULT_LIMITS, ...limits };
    const policy = policyOf(tenant.origins, tenant.auth.kind, settings, tenant.auth.tokenUrl ?? null);
    // Instances past the first share the tenant's token, request count and stops, and let `pages` fetch
    // independent pages and per-resource calls several at once. Writes use the first.
    const counters = tenantCounters();
    const shared = { stopped: null };
    const count = provisioning ? 1 : Math.max(1, Math.min(32, settings.concurrency));
    Atomics.store(views(counters).ints, WINDOW, count);
    const instances = await Promise.all(Array.from({ length: count }, () => Instance.start(this.#dir, policy, auth, counters, shared)));
    const session = new Session(instances, auth, settings, this.#metadata, counters, provisioning);
    try {
      for (const instance of instances) await session.call('open', [tenant.guestConfig, provisioning], instance);
    } catch (e) {
      await session.close();
      throw e;
    }
    return session;
  }
}

export class Session {
  #instances;
  #auth;
  #limits;
  /** The tenant's counters (`tenantCounters`): retries and the wait spent on them, shared with the egress. */
  #counters;
  /** Whether the session was opened for writes. */
  #provisioning;
  /** The resource type with the user trait, once a create has asked. */
  #accountType;

  constructor(instances, auth, limits, metadata, counters, provisioning) {
    this.#instances = instances;
    this.#auth = auth;
    this.#limits = limits;
    this.metadata = metadata;
    this.#counters = views(counters).ints;
    this.#provisioning = provisioning;
  }

  /** Refuses, before the component is called, a call it does not declare for the type, or a write not granted. */
  #permit(call, resourceType, capability) {
    const reason = refusal(this.metadata.capabilities, this.#provisioning, call, resourceType, capability);
    if (reason !== null) throw new HostError('refused', reason);
  }

  /** `#permit`, and refuses fields the type's write schema does not accept (`write`: 'create' or 'update'). */
  #permitWrite(call, resourceType, capability, write, fields) {
    this.#permit(call, resourceType, capability);
    const reason = fieldsRefusal(this.metadata.writeSchemas, call, resourceType, write, fields);
    if (reason !== null) throw new HostError('refused', reason);
  }

  /** Retries made: of single requests by the egress, and of whole calls. */
  get retries() {
    return Atomics.load(this.#counters, RETRIES);
  }

  /** How many calls may run at once now: fewer while the source throttles (`sandbox.js`). */
  get window() {
    return Math.max(1, Atomics.load(this.#counters, WINDOW));
  }

  /** The session's instances of the component (the first takes single calls). */
  get instances() {
    return this.#instances;
  }

  /** Requests sent: the component's and the token endpoint's, over all instances. */
  get requests() {
    return this.#instances[0].requests;
  }

  /**
   * Calls the component, retrying `rate-limited` and `unavailable` with exponential backoff that honours
   * the source's Retry-After, bounded in attempts and in total wait. An authentication failure is reported
   * as the token endpoint's reason, not as what the component made of the refusal.
   */
  async call(op, args = [], instance = this.#instances[0], render = false) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await instance.call(op, args, this.#limits.callTimeoutMs, render);
      } catch (e) {
        if (e instanceof HostError && e.kind === 'egress-denied') throw e;
        const failure = this.#auth.failure;
        if (failure) throw new HostError(failure.kind, `${failure.kind === 'unavailable' ? 'source unavailable' : 'authentication failed'}: ${failure.message}`);
        if (!(e instanceof ConnectorError) || !e.retryable || attempt >= this.#limits.maxAttempts) throw e;
        const backoff = Math.min(30_000, 250 * 2 ** (attempt - 1));
        const wait = Math.max(backoff, e.retryAfterMs ?? 0);
        if (Atomics.load(this.#counters, WAITED_MS) + wait > this.#limits.maxRetryWaitMs) throw e;
        Atomics.add(this.#counters, WAITED_MS, wait);
        Atomics.add(this.#counters, RETRIES, 1);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  validate() {
    return this.call('validate');
  }

  resourceTypes() {
    return this.call('resourceTypes');
  }

  /** A page of a listing; with `render`, its records come as their export lines (`lines.js`, `rendered`). */
  async listResources(resourceType, token, instance, render = false) {
    return resourcePageOf(await this.call('listResources', [resourceType, undefined, token ?? undefined], instance, render));
  }

  listEntitlements(resource, token, instance, render = false) {
    return this.call('listEntitlements', [resource, token ?? undefined], instance, render);
  }

  async listGrants(resource, token, instance, render = false) {
    return grantPageOf(await this.call('listGrants', [resource, token ?? undefined], instance, render));
  }

  async getResource(id) {
    this.#permit('get', id.resourceType, 'get');
    return this.call('getResource', [id]);
  }

  async grant(principal, entitlement) {
    this.#permit('grant', entitlement.split(':')[0], 'grant');
    return this.call('grant', [principal, entitlement]);
  }

  async revoke(grant) {
    this.#permit('revoke', grant.entitlement.split(':')[0], 'revoke');
    return this.call('revoke', [grant]);
  }

  /** Creates an account: a resource of the type with the user trait (`accountType`, if the caller knows it). */
  async createAccount(fields, accountType = undefined) {
    // The session's resource types do not change: asked once, not on every create.
    this.#accountType ??= (await this.resourceTypes()).find((t) => t.traits.includes('user'))?.id ?? '';
    const type = accountType ?? this.#accountType;
    this.#permitWrite('create-account', type, 'create', 'create', fields);
    return this.call('createAccount', [fields]);
  }

  async updateResource(id, fields) {
    this.#permitWrite('update-resource', id.resourceType, 'update', 'update', fields);
    return this.call('updateResource', [id, fields]);
  }

  async createResource(resourceType, fields) {
    this.#permitWrite('create-resource', resourceType, 'create', 'create', fields);
    return this.call('createResource', [resourceType, fields]);
  }

  async deleteResource(id) {
    this.#permit('delete-resource', id.resourceType, 'delete');
    return this.call('deleteResource', [id]);
  }

  close() {
    return Promise.all(this.#instances.map((i) => i.close()));
  }
}
