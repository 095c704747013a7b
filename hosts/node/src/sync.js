// A full sync into memory, and its export as JSON lines: the same lines, in the same order, as
// `connector-harness export --format jsonl` writes for the same source (host-harness/src/records.rs and
// store.rs are the reference: key order, `null`s, the profile copied as the component wrote it, and what a
// resource, entitlement or grant listed twice comes to).

import { HostError } from './errors.js';

const CAPABILITY_NAMES = ['list', 'get', 'inline-entitlements', 'inline-grants', 'create', 'update', 'delete', 'grant', 'revoke'];

/** A capability flags object (jco's camelCase booleans) as the contract's names, in the contract's order. */
export function capabilityNames(flags) {
  return CAPABILITY_NAMES.filter((name) => flags[name.replace(/-([a-z])/g, (_, c) => c.toUpperCase())]);
}

const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Everything one sync found, kept as the harness's store keeps it. */
export class SyncResult {
  resourceTypes = [];
  capabilities = [];
  resources = new Map();
  entitlements = new Map();
  grants = new Map();

  addPage({ resources = [], entitlements = [], grants = [] }) {
    for (const r of resources) this.resources.set(`${r.id.resourceType}\u0000${r.id.id}`, r);
    for (const e of entitlements) this.entitlements.set(e.id, e);
    for (const g of grants) {
      const key = `${g.entitlement}\u0000${g.principal.resourceType}\u0000${g.principal.id}`;
      // A grant reported twice keeps an immutable mark either report carried (wit/HOSTS.md).
      const before = this.grants.get(key);
      this.grants.set(key, { ...g, immutable: g.immutable ?? before?.immutable });
    }
  }

  /**
   * The grants that name what the sync does not hold: a principal no listing returned, or an entitlement that
   * none did (or whose resource none did). Kept as the source says them, and counted, as connector-harness does
   * (`Store::dangling_grants`): `{ grants, examples }`, the first three grant ids in export order.
   */
  dangling() {
    const held = (id) => this.resources.has(`${id.resourceType}\u0000${id.id}`);
    const named = [...this.grants.values()].filter((g) => {
      const entitlement = this.entitlements.get(g.entitlement);
      return !held(g.principal) || !entitlement || !held(entitlement.resource);
    });
    named.sort((a, b) => byteOrder(a.entitlement, b.entitlement) || byteOrder(a.principal.resourceType, b.principal.resourceType) || byteOrder(a.principal.id, b.principal.id));
    return { grants: named.length, examples: named.slice(0, 3).map((g) => g.id) };
  }

  /** The export, one JSON line per record. */
  *lines() {
    for (const rt of [...this.resourceTypes].sort((a, b) => byteOrder(a.id, b.id))) yield resourceTypeLine(rt, this.capabilities.find((c) => c.resourceType === rt.id));
    const resources = [...this.resources.values()].sort((a, b) => byteOrder(a.id.resourceType, b.id.resourceType) || byteOrder(a.id.id, b.id.id));
    for (const r of resources) yield resourceLine(r);
    for (const e of [...this.entitlements.values()].sort((a, b) => byteOrder(a.id, b.id))) yield entitlementLine(e);
    const grants = [...this.grants.values()].sort(
      (a, b) => byteOrder(a.entitlement, b.entitlement) || byteOrder(a.principal.resourceType, b.principal.resourceType) || byteOrder(a.principal.id, b.principal.id),
    );
    for (const g of grants) yield grantLine(g);
  }
}

const opt = (value) => (value === undefined ? null : value);
const num = (value) => (value === undefined ? null : Number(value));

function resourceTypeLine(rt, capabilities) {
  // serde_json's maps sort their keys.
  return JSON.stringify({
    capabilities: capabilities ? capabilityNames(capabilities.capabilities) : [],
    description: opt(rt.description),
    display_name: rt.displayName,
    id: rt.id,
    kind: 'resource_type',
    listed_with: opt(capabilities?.listedWith),
    traits: rt.traits,
  });
}

/** Kept as JSON when it is JSON (copied as written), as text when it is not. */
function profileText(profile) {
  try {
    JSON.parse(profile);
    return profile.trim();
  } catch {
    return JSON.stringify(profile);
  }
}

function resourceLine(r) {
  const head = {
    kind: 'resource',
    resource_type: r.id.resourceType,
    id: r.id.id,
    display_name: r.displayName,
    parent: r.parent ? { resource_type: r.parent.resourceType, id: r.parent.id } : null,
    status: r.status.kind,
  };
  if (r.status.detail !== undefined) head.status_detail = r.status.detail;
  const u = r.user;
  if (u) {
    head.user = {
      emails: u.emails.map((e) => ({ address: e.address, primary: e.primary })),
      login: opt(u.login),
      manager_id: opt(u.managerId),
      login_aliases: u.loginAliases,
      employee_ids: u.employeeIds,
      name: u.name
        ? { given_name: u.name.givenName, family_name: u.name.familyName, middle_names: u.name.middleNames, prefix: opt(u.name.prefix), suffix: opt(u.name.suffix) }
        : null,
      account_type: u.accountType,
      title: opt(u.title),
      department_ids: u.departmentIds,
      location_ids: u.locationIds,
      start_date: opt(u.startDate),
      time_zone: opt(u.timeZone),
      locale: opt(u.locale),
      nickname: opt(u.nickname),
      phone_numbers: u.phoneNumbers,
      photo_url: opt(u.photoUrl),
    };
  }
  if (r.group) head.group = { source_kind: opt(r.group.sourceKind), member_count: num(r.group.memberCount) };
  const tail = { description: opt(r.description), created_at: opt(r.createdAt), updated_at: opt(r.updatedAt) };
  return `${JSON.stringify(head).slice(0, -1)},"profile":${profileText(r.profile)},${JSON.stringify(tail).slice(1)}`;
}

function entitlementLine(e) {
  return JSON.stringify({
    description: opt(e.description),
    display_name: e.displayName,
    grantable_to: e.grantableTo,
    id: e.id,
    kind: 'entitlement',
    purpose: e.purpose,
    resource_id: e.resource.id,
    resource_type: e.resource.resourceType,
    slug: e.slug,
  });
}

function grantLine(g) {
  const line = { entitlement: g.entitlement, id: g.id };
  if (g.immutable !== undefined) line.immutable = g.immutable;
  Object.assign(line, { kind: 'grant', principal_id: g.principal.id, principal_type: g.principal.resourceType });
  return JSON.stringify(line);
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
    queue.push(...result.more);
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
 * instances.
 */
export async function* pages(session, { maxPages = 1_000_000 } = {}) {
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
    const page = await session.listResources(type, token, instance);
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
    const page = await session[item.method](item.resource, item.token, instance);
    return {
      out: [{ resourceType: item.type, call: item.call, resource: item.resource, page }],
      follow: page.nextToken === undefined ? undefined : { ...item, token: page.nextToken },
      more: [],
    };
  });
}

/** A full sync on `session` into a `SyncResult` (see `pages`); `onPage` hears of each page. */
export async function sync(session, { onPage = () => {}, maxPages } = {}) {
  const result = new SyncResult();
  result.capabilities = session.metadata.capabilities;
  for await (const step of pages(session, { maxPages })) {
    if (step.call === 'resource-types') {
      result.resourceTypes = step.types;
      continue;
    }
    result.addPage(step.page);
    onPage(step);
  }
  return result;
}
