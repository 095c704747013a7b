// A full sync into memory, and its export as JSON lines: the same lines, in the same order, as
// `connector-harness export --format jsonl` writes for the same source (host-harness/src/records.rs and
// store.rs are the reference: key order, `null`s, the profile copied as the component wrote it, and what a
// resource, entitlement or grant listed twice comes to).

import { HostError } from './errors.js';
import { grantLine, rendered, resourceKey, resourceTypeLine } from './lines.js';

export { capabilityNames } from './lines.js';

/**
 * Sorts `keys` (strings) in the byte order of their UTF-8, as the harness's store sorts text. A string's UTF-16
 * order is that order unless it holds a character past U+FFFF (a surrogate pair); only then are the keys
 * compared as their UTF-8 bytes.
 */
function sortBytewise(keys) {
  if (!keys.some((k) => /[\uD800-\uDFFF]/.test(k))) return keys.sort();
  const bytes = new Map(keys.map((k) => [k, Buffer.from(k).toString('latin1')]));
  return keys.sort((a, b) => (bytes.get(a) < bytes.get(b) ? -1 : bytes.get(a) > bytes.get(b) ? 1 : 0));
}

const decoder = new TextDecoder();

/**
 * Everything one sync found, kept as the harness's store keeps it: each resource, entitlement and grant as its
 * export line, by key. The lines stay in the buffers the component's threads packed them in (`lines.js`,
 * `rendered`); a record is kept as the number of its place, where its line is (buffer, start, end).
 */
export class SyncResult {
  resourceTypes = [];
  capabilities = [];
  /** `type\0id` → the resource's place. */
  resources = new Map();
  /** id → `{ resource, at }`, its place. */
  entitlements = new Map();
  /** `entitlement\0principal type\0principal id` (`grantKey`) → the grant's place. */
  grants = new Map();
  /** The same keys → why the grant is immutable, for the few the source derives. */
  #immutable = new Map();
  /** The buffers of lines, pages' and single lines'. */
  #buffers = [];
  /** Places, three numbers each: a buffer's index, and where in it a line starts and ends. */
  #places = new Int32Array(3 << 12);
  #count = 0;

  /** Adds a page, whole or `rendered`. */
  addPage(page) {
    const { resources = [], entitlements = [], grants = [], immutable = [], lines, ends } = page.lines ? page : rendered(page);
    const buffer = this.#buffers.push(lines) - 1;
    let record = 0;
    const next = () => this.#place(buffer, record === 0 ? 0 : ends[record - 1], ends[record++]);
    for (const r of resources) this.resources.set(resourceKey(r.id), next());
    for (const e of entitlements) this.entitlements.set(e.id, { resource: e.resource, at: next() });
    const marks = new Map(immutable);
    grants.forEach((key, i) => {
      const at = next();
      // A grant reported twice is its last report, keeping an immutable mark either report carried (wit/HOSTS.md).
      const mark = marks.get(i);
      const kept = mark ?? this.#immutable.get(key);
      if (kept !== undefined) this.#immutable.set(key, kept);
      this.grants.set(key, kept === mark ? at : this.#marked(at, kept));
    });
  }

  #place(buffer, start, end) {
    if (this.#places.length < 3 * (this.#count + 1)) {
      const wider = new Int32Array(this.#places.length * 2);
      wider.set(this.#places);
      this.#places = wider;
    }
    const i = 3 * this.#count;
    this.#places[i] = buffer;
    this.#places[i + 1] = start;
    this.#places[i + 2] = end;
    return this.#count++;
  }

  /** The place of a line of its own: the grant at `at` with the immutable mark an earlier report of it carried. */
  #marked(at, immutable) {
    const g = JSON.parse(this.#line(at));
    const bytes = Buffer.from(`${grantLine({ entitlement: g.entitlement, id: g.id, immutable, principal: { resourceType: g.principal_type, id: g.principal_id } })}\n`);
    return this.#place(this.#buffers.push(bytes) - 1, 0, bytes.length);
  }

  /** A record's line and its `\n`, as bytes. */
  #bytes(at) {
    const places = this.#places;
    return this.#buffers[places[3 * at]].subarray(places[3 * at + 1], places[3 * at + 2]);
  }

  /** A record's line. */
  #line(at) {
    return decoder.decode(this.#bytes(at).subarray(0, -1));
  }

  /**
   * The grants that name what the sync does not hold: a principal no listing returned, or an entitlement that
   * none did (or whose resource none did). Kept as the source says them, and counted, as connector-harness does
   * (`Store::dangling_grants`): `{ grants, examples }`, the first three grant ids in export order.
   */
  dangling() {
    // A grant's key is its entitlement's id, then its principal's key as `resources` keys it (`grantKey`).
    const whole = new Map();
    const entitlementHeld = (id) => {
      if (!whole.has(id)) {
        const entitlement = this.entitlements.get(id);
        whole.set(id, entitlement !== undefined && this.resources.has(resourceKey(entitlement.resource)));
      }
      return whole.get(id);
    };
    const named = [...this.grants.keys()].filter((key) => {
      const split = key.indexOf('\u0000');
      return !this.resources.has(key.slice(split + 1)) || !entitlementHeld(key.slice(0, split));
    });
    const examples = sortBytewise(named).slice(0, 3).map((key) => JSON.parse(this.#line(this.grants.get(key))).id);
    return { grants: named.length, examples };
  }

  /** Every record's line and its `\n`, as bytes, in export order. */
  *#records() {
    const types = new Map(this.resourceTypes.map((rt) => [rt.id, rt]));
    for (const id of sortBytewise([...types.keys()])) yield Buffer.from(`${resourceTypeLine(types.get(id), this.capabilities.find((c) => c.resourceType === id))}\n`);
    for (const key of sortBytewise([...this.resources.keys()])) yield this.#bytes(this.resources.get(key));
    for (const id of sortBytewise([...this.entitlements.keys()])) yield this.#bytes(this.entitlements.get(id).at);
    for (const key of sortBytewise([...this.grants.keys()])) yield this.#bytes(this.grants.get(key));
  }

  /** The export, one JSON line per record. */
  *lines() {
    for (const bytes of this.#records()) yield decoder.decode(bytes.subarray(0, -1));
  }

  /** The export as buffers of about `size` bytes, each whole lines: to write with a system call each, not one a line. */
  *chunks(size = 1 << 20) {
    let chunk = Buffer.allocUnsafe(size);
    let at = 0;
    for (const bytes of this.#records()) {
      if (at + bytes.length > chunk.length) {
        if (at > 0) yield chunk.subarray(0, at);
        chunk = Buffer.allocUnsafe(Math.max(size, bytes.length));
        at = 0;
      }
      chunk.set(bytes, at);
      at += bytes.length;
    }
    if (at > 0) yield chunk.subarray(0, at);
  }
}

/**
 * Queues the work a step handed out in turns with the work already waiting, as the harness does
 * (`host-harness/src/driver/schedule.rs`): a listing whose pages come later does not wait behind another's hundred.
 */
export function queueInTurns(queue, more) {
  more.forEach((item, i) => queue.splice(Math.min(2 * i + 1, queue.length), 0, item));
}

/**
 * Runs `step(instance, item)` for `items` on the session's instances, several at once, and yields what each
 * step gives (`out`). A step may continue on its instance (`follow`: a next token, whose session state may be
 * needed) and add work for any instance (`more`: independent tokens).
 */
async function* onInstances(session, items, step) {
  const queue = [...items];
  const idle = [...session.instances];
  const running = new Map();
  let next = 0;
  const launch = (instance, item) => {
    const id = next++;
    running.set(id, step(instance, item).then((result) => ({ id, instance, result })));
  };
  while (queue.length || running.size) {
    // No more at once than the session's window, which narrows while the source throttles.
    while (queue.length && idle.length && running.size < session.window) launch(idle.pop(), queue.shift());
    const { id, instance, result } = await Promise.race(running.values());
    running.delete(id);
    yield* result.out;
    queueInTurns(queue, result.more);
    if (result.follow !== undefined) launch(instance, result.follow);
    else idle.push(instance);
  }
}

/**
 * Every page of a full sync on `session`, as it arrives: `{ resourceType, call, resource, page }`, where `call`
 * is `list-resources` (then `page` has `resources`, `entitlements`, `grants`, `nextToken`,
 * `independentTokens`), `list-entitlements` or `list-grants` (then `resource` is whose). Listings first,
 * following next tokens and independent tokens; then the per-resource calls for types whose pages did not
 * carry their entitlements and grants. Pages come in any order, several fetched at once on the session's
 * instances. With `render`, each page comes `rendered` (`lines.js`): its records' export lines packed in one
 * buffer.
 */
export async function* pages(session, { maxPages = 1_000_000, render = false } = {}) {
  const metadata = session.metadata;
  const types = await session.resourceTypes();
  yield { call: 'resource-types', types };
  const caps = (id) => metadata.capabilities.find((c) => c.resourceType === id);
  const declared = new Set(types.map((t) => t.id));
  const listed = new Map(types.map((t) => [t.id, new Map()]));
  const seen = new Set();
  let count = 0;
  const firstPages = types.filter((t) => caps(t.id)?.capabilities.list && caps(t.id).listedWith === undefined).map((t) => ({ type: t.id, token: null }));
  yield* onInstances(session, firstPages, async (instance, { type, token }) => {
    if (++count > maxPages) throw new HostError('budget', `more than ${maxPages} pages`);
    const page = await session.listResources(type, token, instance, render);
    const stray = page.resources.find((r) => !declared.has(r.id.resourceType));
    if (stray) throw new HostError('trap', `the component listed a resource of undeclared type \`${stray.id.resourceType}\``);
    const fresh = page.resources.filter((r) => !listed.get(r.id.resourceType).has(r.id.id)).length;
    if (page.resources.length > 0 && fresh === 0) {
      // A source that ignores where the page starts (wit/HOSTS.md §6).
      throw new HostError('trap', `listing ${type}: bad response: it repeats ${page.resources.length} resources already listed; stopping rather than looping`);
    }
    for (const r of page.resources) listed.get(r.id.resourceType).set(r.id.id, r.id);
    for (const next of [page.nextToken, ...page.independentTokens]) {
      if (next === undefined) continue;
      if (seen.has(`${type}\u0000${next}`)) throw new HostError('trap', `listing ${type}: the component returned page token \`${next}\` twice`);
      seen.add(`${type}\u0000${next}`);
    }
    return {
      out: [{ resourceType: type, call: 'list-resources', page }],
      follow: page.nextToken === undefined ? undefined : { type, token: page.nextToken },
      more: page.independentTokens.map((t) => ({ type, token: t })),
    };
  });
  const perResource = [];
  for (const type of types) {
    const c = caps(type.id);
    if (!c) continue;
    for (const [inline, call, method] of [['inlineEntitlements', 'list-entitlements', 'listEntitlements'], ['inlineGrants', 'list-grants', 'listGrants']]) {
      if (c.capabilities[inline]) continue;
      for (const resource of listed.get(type.id).values()) perResource.push({ type: type.id, call, method, resource, token: undefined });
    }
  }
  yield* onInstances(session, perResource, async (instance, item) => {
    const page = await session[item.method](item.resource, item.token, instance, render);
    return {
      out: [{ resourceType: item.type, call: item.call, resource: item.resource, page }],
      follow: page.nextToken === undefined ? undefined : { ...item, token: page.nextToken },
      more: [],
    };
  });
}

/** A full sync on `session` into a `SyncResult` (see `pages`); `onPage` hears of each page, rendered. */
export async function sync(session, { onPage = () => {}, maxPages } = {}) {
  const result = new SyncResult();
  result.capabilities = session.metadata.capabilities;
  for await (const step of pages(session, { maxPages, render: true })) {
    if (step.call === 'resource-types') {
      result.resourceTypes = step.types;
      continue;
    }
    result.addPage(step.page);
    onPage(step);
  }
  return result;
}
