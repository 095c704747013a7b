// Which calls a session may make (wit/HOSTS.md §5): one the component declares for the resource type and, for a
// write, in a session opened for writing, with fields the type's write schema accepts. Checked before the guest is called, in the words connector-harness
// uses (host-harness/src/grants.rs); `wit/conformance/` holds the cases both hosts answer alike.

import { capabilityNames } from './lines.js';

/** The writes, by the names a grant uses. */
const WRITES = ['create', 'update', 'delete', 'grant', 'revoke'];

/**
 * Why `call` on `resourceType` (needing `capability`, a contract name such as `revoke`) may not be made, or
 * `null`: `declared` is the metadata's `capabilities`, `provisioning` whether the session may write.
 */
export function refusal(declared, provisioning, call, resourceType, capability) {
  const found = declared.find((c) => c.resourceType === resourceType);
  if (found === undefined) return `unknown resource type \`${resourceType}\``;
  const names = capabilityNames(found.capabilities);
  if (!names.includes(capability)) {
    return `the connector does not declare \`${capability}\` for \`${resourceType}\`, so ${call} is not called (it declares: ${names.join(', ')})`;
  }
  if (WRITES.includes(capability) && !provisioning) {
    return `${call} writes to the source, and \`${resourceType}:${capability}\` was not granted: pass --provisioning, or grant it in the tenant's \`provisioning\` list`;
  }
  return null;
}

/**
 * Why a write (`call`, `write` being 'create' or 'update') of `resourceType` may not carry `fields` (`[name,
 * value]` pairs), or `null`: the type's write schema in `writeSchemas` (the metadata's, contract 0.5 on) must
 * declare every name, let this write set it, take one value unless multi-valued, and on a create find every
 * required field present and not blank. A type without a schema is not checked.
 */
export function fieldsRefusal(writeSchemas, call, resourceType, write, fields) {
  const schema = writeSchemas.find((s) => s.resourceType === resourceType);
  if (schema === undefined) return null;
  const writable = (field) => field.writes === 'create-and-update' || field.writes === (write === 'create' ? 'create-only' : 'update-only');
  const seen = [];
  for (const [rawKey, rawValue] of fields) {
    const key = rawKey.trim();
    const field = schema.fields.find((f) => f.name === key);
    if (field === undefined) {
      return `${call}: unknown field \`${key}\` (known: ${schema.fields.filter(writable).map((f) => f.name).join(', ')})`;
    }
    if (!writable(field)) return `${call}: \`${key}\` can be set only by ${write === 'create' ? 'an update' : 'a create'}`;
    if (!field.multiValued && seen.some(([k]) => k === key)) return `${call}: \`${key}\` takes one value`;
    seen.push([key, rawValue.trim()]);
  }
  if (write === 'create') {
    const missing = schema.fields.find((f) => f.requiredOnCreate && !seen.some(([k, v]) => k === f.name && v !== ''));
    if (missing !== undefined) return `${call} needs \`${missing.name}\``;
  }
  return null;
}
