// The contract versions this host runs (as connector-harness does: host-harness/src/runtime/versions.rs). The
// version is read from the component's export name (`identity:connector/connector@0.1.0`); what an older
// version lacks is filled in here, once, so the rest of the host speaks 0.5 (wit/README.md, "Versions").

import { HostError } from './errors.js';

/** The versions this host runs, newest first. */
export const SUPPORTED = ['0.5.0', '0.4.0', '0.3.0', '0.2.0', '0.1.0'];

const INTERFACE = 'identity:connector/connector@';

/** The contract version of a component, from its exports as jco lists them (`[name, kind]`). */
export function contractVersion(exports) {
  const names = exports.map(([name]) => name).sort();
  const exported = names.find((name) => name.startsWith(INTERFACE));
  if (exported === undefined) {
    throw new HostError('unsupported', `it does not export identity:connector/connector (it exports: ${names.length ? names.join(', ') : 'nothing'})`);
  }
  const version = exported.slice(INTERFACE.length);
  if (!SUPPORTED.includes(version)) {
    throw new HostError('unsupported', `it exports identity:connector@${version}, which this host does not support (it runs ${SUPPORTED.join(', ')})`);
  }
  return version;
}

/**
 * Metadata as 0.5 has it: a 0.1 token path is a 0.2 token URL starting with `/`; before 0.2 no extra origins;
 * before 0.4 no choices and no credentials-in field; before 0.5 no write schemas.
 */
export function metadataOf(raw) {
  const auth = raw.auth.tag !== 'oauth2-client-credentials' ? raw.auth : { tag: raw.auth.tag, val: { ...raw.auth.val, tokenUrl: raw.auth.val.tokenUrl ?? raw.auth.val.tokenPath } };
  return {
    ...raw,
    configSchema: raw.configSchema.map((field) => ({ ...field, choices: field.choices ?? [] })),
    extraOriginFields: raw.extraOriginFields ?? [],
    auth,
    writeSchemas: raw.writeSchemas ?? [],
  };
}

/** A resource page as 0.4 has it: before 0.3 no independent tokens. */
export function resourcePageOf(page) {
  return { ...page, independentTokens: page.independentTokens ?? [] };
}

/** A grant page as 0.4 has it: before 0.4 no entitlements of its own. */
export function grantPageOf(page) {
  return { ...page, entitlements: page.entitlements ?? [] };
}
