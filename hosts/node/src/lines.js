// The export's JSON lines, exactly as `connector-harness export --format jsonl` writes them
// (host-harness/src/records.rs is the reference: key order, `null`s, the profile copied as the component wrote
// it). Used on the component's threads, which render each page's records before they cross to the main thread
// (`rendered`), and by `SyncResult` for pages given to it whole.

const CAPABILITY_NAMES = ['list', 'get', 'inline-entitlements', 'inline-grants', 'create', 'update', 'delete', 'grant', 'revoke'];

/** A capability flags object (jco's camelCase booleans) as the contract's names, in the contract's order. */
export function capabilityNames(flags) {
  return CAPABILITY_NAMES.filter((name) => flags[name.replace(/-([a-z])/g, (_, c) => c.toUpperCase())]);
}

const opt = (value) => (value === undefined ? null : value);
const num = (value) => (value === undefined ? null : Number(value));

export function resourceTypeLine(rt, capabilities) {
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

export function grantLine(g) {
  const line = { entitlement: g.entitlement, id: g.id };
  if (g.immutable !== undefined) line.immutable = g.immutable;
  Object.assign(line, { kind: 'grant', principal_id: g.principal.id, principal_type: g.principal.resourceType });
  return JSON.stringify(line);
}

/** A resource's key in a sync: its type and id. */
export function resourceKey(id) {
  return `${id.resourceType}\u0000${id.id}`;
}

/** A grant's key in a sync, what makes it the same grant when it is reported twice: its entitlement's id, then
 * its principal's `resourceKey`. */
function grantKey(g) {
  return `${g.entitlement}\u0000${resourceKey(g.principal)}`;
}

/**
 * A page as a component's thread hands it to the main thread: its records' export lines packed into one buffer
 * (`lines`, each line ending in `\n`; `ends`, where each record's line ends, resources first, then entitlements,
 * then grants), both transferred rather than copied; beside them, what the sync needs to key and check each
 * record: a resource's id, an entitlement's id and resource, a grant's key (`grantKey`), and `immutable`, the
 * grants that carry that mark, as `[index, mark]`. The main thread keeps the bytes, never the records' fields.
 */
export function rendered(page) {
  const out = { ...page };
  const lines = [];
  if (page.resources) {
    out.resources = page.resources.map((r) => ({ id: r.id }));
    for (const r of page.resources) lines.push(resourceLine(r));
  }
  if (page.entitlements) {
    out.entitlements = page.entitlements.map((e) => ({ id: e.id, resource: e.resource }));
    for (const e of page.entitlements) lines.push(entitlementLine(e));
  }
  if (page.grants) {
    out.grants = page.grants.map(grantKey);
    out.immutable = page.grants.flatMap((g, i) => (g.immutable === undefined ? [] : [[i, g.immutable]]));
    for (const g of page.grants) lines.push(grantLine(g));
  }
  let size = 0;
  for (const line of lines) size += Buffer.byteLength(line) + 1;
  // A buffer of its own (not a slice of Node's pool), so that it can be transferred.
  out.lines = Buffer.allocUnsafeSlow(size);
  out.ends = new Uint32Array(lines.length);
  let at = 0;
  lines.forEach((line, i) => {
    at += out.lines.write(line, at);
    out.lines[at++] = 10;
    out.ends[i] = at;
  });
  return out;
}
