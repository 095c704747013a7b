// Which calls a session may make (wit/HOSTS.md §5): one the component declares for the resource type and, for a
// write, in a session opened for writing. Checked before the guest is called, in the words connector-harness
// uses (host-harness/src/grants.rs); `wit/conformance/` holds the cases both hosts answer alike.

import { capabilityNames } from './sync.js';

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
